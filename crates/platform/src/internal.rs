//! Calls only Skycamp's own services may make (the payment charge; and the payment reads and
//! refunds the reservation service makes for customers), proven by a signature.
//!
//! The caller signs the request with a key every service shares (`SKYCAMP_INTERNAL_KEY`, from a
//! Secret; `skycamp up` makes one per start) and sends `Skycamp-Signature: t=<unix ms>,v1=<hex
//! HMAC-SHA256 of "t.METHOD path?query.body">`, as Stripe signs webhooks. The callee recomputes
//! it and compares in constant time. The signature covers the method, the target and the body, so
//! one captured from the wire cannot charge another reservation, amount or phone, or read or
//! refund another payment; the timestamp bounds how long it can be replayed (and a replay of a
//! charge or refund is answered from the first one anyway). The gateway never routes the charge,
//! so outside callers do not even reach it.

use std::fmt;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit as _, Mac as _};

use crate::http::{ApiError, MAX_BODY_BYTES};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "skycamp-signature";

/// How far a signature's time may be from the callee's clock.
const TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The key services sign internal calls with. Never printed.
#[derive(Clone)]
pub struct InternalKey(Arc<[u8]>);

impl fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalKey(***)")
    }
}

/// Why a signed call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("this endpoint is internal: the call carries no Skycamp-Signature")]
    Missing,
    #[error("the Skycamp-Signature is malformed")]
    Malformed,
    #[error("the Skycamp-Signature is too old or from the future")]
    Stale,
    #[error("the Skycamp-Signature does not match the request")]
    Mismatch,
}

impl InternalKey {
    /// A key from its secret text (at least [`MIN_KEY_BYTES`] bytes).
    pub fn parse(secret: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_KEY_BYTES,
            "the key must be at least {MIN_KEY_BYTES} bytes long (e.g. `openssl rand -hex 32`)"
        );
        Ok(Self(secret.as_bytes().into()))
    }

    /// A fresh random key, for a platform whose services all start from one process.
    pub fn random() -> Self {
        let text = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
        Self(text.as_bytes().into())
    }

    /// The secret as text, to hand to child processes through their environment.
    pub fn expose(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    fn mac(&self, at_ms: i64, target: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(at_ms.to_string().as_bytes());
        mac.update(b".");
        mac.update(target.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The signature header value for a request to `target` (`METHOD path?query`) with `body`,
    /// sent at `at_ms`.
    pub fn sign(&self, at_ms: i64, target: &str, body: &[u8]) -> String {
        format!("t={at_ms},v1={}", hex::encode(self.mac(at_ms, target, body).finalize().into_bytes()))
    }

    /// Checks a signature header value against `target` and `body`, at `now_ms`.
    pub fn verify(&self, header: Option<&str>, target: &str, body: &[u8], now_ms: i64) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut at = None;
        let mut tag = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => at = v.parse::<i64>().ok(),
                Some(("v1", v)) => tag = hex::decode(v).ok(),
                _ => {}
            }
        }
        let (Some(at), Some(tag)) = (at, tag) else { return Err(SignatureError::Malformed) };
        if (now_ms - at).abs() > TOLERANCE_MS {
            return Err(SignatureError::Stale);
        }
        self.mac(at, target, body).verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
    }
}

/// What a signature covers besides the body: `METHOD path?query`.
pub fn target(method: &axum::http::Method, uri: &axum::http::Uri) -> String {
    format!("{method} {}", uri.path_and_query().map_or("/", |pq| pq.as_str()))
}

/// Whether the request (head and body) carries a good signature.
fn check(key: &InternalKey, parts: &axum::http::request::Parts, body: &[u8]) -> Result<(), SignatureError> {
    let header = parts.headers.get(SIGNATURE_HEADER).and_then(|v: &HeaderValue| v.to_str().ok());
    key.verify(header, &target(&parts.method, &parts.uri), body, crate::time::now_millis())
}

/// Axum middleware: only requests signed with `key` get through; others get 403.
pub async fn require_signature(State(key): State<InternalKey>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    if let Err(e) = check(&key, &parts, &bytes) {
        tracing::warn!(path = %parts.uri.path(), error = %e, "unsigned or badly signed internal call refused");
        return ApiError::new(StatusCode::FORBIDDEN, e.to_string()).into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Axum middleware for what an admin may do and Skycamp's own services do for customers (payment
/// reads and refunds): an admin's token, or a good signature. Anyone else gets 401 or 403.
pub async fn admin_or_signed(
    State(key): State<InternalKey>,
    caller: crate::auth::Caller,
    request: Request,
    next: Next,
) -> Response {
    let Err(refused) = caller.admin() else { return next.run(request).await };
    if !request.headers().contains_key(SIGNATURE_HEADER) {
        return refused.into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    match check(&key, &parts, &bytes) {
        Ok(()) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(e) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> InternalKey {
        InternalKey::parse("0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn a_signature_proves_the_exact_body() {
        let body = br#"{"reservationId":1,"amount":300000,"phone":"01012345678"}"#;
        let signed = key().sign(1_000, "POST /payments", body);
        assert_eq!(key().verify(Some(&signed), "POST /payments", body, 1_500), Ok(()));
        let other = br#"{"reservationId":1,"amount":10000000,"phone":"01012345678"}"#;
        assert_eq!(key().verify(Some(&signed), "POST /payments", other, 1_500), Err(SignatureError::Mismatch));
        let stranger = InternalKey::parse(&"x".repeat(32)).unwrap();
        assert_eq!(stranger.verify(Some(&signed), "POST /payments", body, 1_500), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_signature_proves_the_method_and_target() {
        let signed = key().sign(1_000, "GET /payments?reservationId=1", b"");
        assert_eq!(key().verify(Some(&signed), "GET /payments?reservationId=1", b"", 1_500), Ok(()));
        for other in ["GET /payments?reservationId=2", "GET /payments", "POST /payments/1/refund"] {
            assert_eq!(key().verify(Some(&signed), other, b"", 1_500), Err(SignatureError::Mismatch), "{other}");
        }
    }

    #[test]
    fn missing_malformed_and_stale_signatures_are_refused() {
        assert_eq!(key().verify(None, "POST /payments", b"{}", 0), Err(SignatureError::Missing));
        assert_eq!(key().verify(Some("v1=zz"), "POST /payments", b"{}", 0), Err(SignatureError::Malformed));
        let old = key().sign(0, "POST /payments", b"{}");
        assert_eq!(key().verify(Some(&old), "POST /payments", b"{}", TOLERANCE_MS + 1), Err(SignatureError::Stale));
    }

    #[test]
    fn short_keys_are_refused_and_keys_never_print() {
        assert!(InternalKey::parse("short").is_err());
        assert_eq!(format!("{:?}", InternalKey::random()), "InternalKey(***)");
        assert!(InternalKey::random().expose().len() >= MIN_KEY_BYTES);
    }
}
