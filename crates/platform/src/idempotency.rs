//! `Idempotency-Key` for POST endpoints: a retry with the same key gets the original status and
//! body and changes nothing; the same key with another request is a 422.
//!
//! The first request with a key claims it (a row in `idempotency_keys`), runs, and stores its
//! answer. Only final answers are stored: a 5xx frees the key so the client may try again. A key
//! still being processed answers 409; one left in flight by a crash is taken over after
//! [`IN_FLIGHT_TIMEOUT_MS`]. Keys are kept for the configured retention (24 h by default).

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::db::{Db, Migration};
use crate::http::{ApiError, MAX_BODY_BYTES};

/// The key table; add it to the migrations of a service that uses [`guard`].
pub const MIGRATION: Migration = Migration {
    version: 9002,
    name: "idempotency keys",
    sql: "CREATE TABLE idempotency_keys (idem_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
            status BIGINT, body TEXT, content_type TEXT, created_ms BIGINT NOT NULL)",
};

/// A claim older than this with no answer is taken to be abandoned (its process died).
pub const IN_FLIGHT_TIMEOUT_MS: i64 = 60_000;

/// Header set on replayed answers.
pub const REPLAYED: &str = "idempotent-replayed";

/// Middleware state: where keys live.
#[derive(Clone)]
pub struct Keys {
    db: Db,
}

impl Keys {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes keys older than `retention_ms`; returns how many went.
    pub async fn expire(&self, now_ms: i64, retention_ms: i64) -> anyhow::Result<u64> {
        let gone = sqlx::query("DELETE FROM idempotency_keys WHERE created_ms < $1")
            .bind(now_ms - retention_ms)
            .execute(self.db.pool())
            .await?;
        Ok(gone.rows_affected())
    }

    /// Claims `key` for `fingerprint`, or reports what the key already holds.
    async fn claim(&self, key: &str, fingerprint: &str, now_ms: i64) -> anyhow::Result<Claim> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, created_ms) VALUES ($1, $2, $3)
             ON CONFLICT (idem_key) DO NOTHING",
        )
        .bind(key)
        .bind(fingerprint)
        .bind(now_ms)
        .execute(self.db.pool())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Mine);
        }
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT fingerprint, status, body, content_type, created_ms FROM idempotency_keys WHERE idem_key = $1",
        )
        .bind(key)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((stored, status, body, content_type, created_ms)) = row else { return Ok(Claim::Busy) };
        if stored != fingerprint {
            return Ok(Claim::Mismatch);
        }
        match (status, body) {
            (Some(status), Some(body)) => Ok(Claim::Done { status, body, content_type }),
            _ if now_ms - created_ms > IN_FLIGHT_TIMEOUT_MS => self.take_over(key, created_ms, now_ms).await,
            _ => Ok(Claim::Busy),
        }
    }

    async fn take_over(&self, key: &str, created_ms: i64, now_ms: i64) -> anyhow::Result<Claim> {
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET created_ms = $1 WHERE idem_key = $2 AND created_ms = $3 AND status IS NULL",
        )
        .bind(now_ms)
        .bind(key)
        .bind(created_ms)
        .execute(self.db.pool())
        .await?;
        Ok(if taken.rows_affected() == 1 { Claim::Mine } else { Claim::Busy })
    }

    async fn finish(
        &self,
        key: &str,
        status: StatusCode,
        body: &[u8],
        content_type: Option<&str>,
    ) -> anyhow::Result<()> {
        if status.is_server_error() {
            sqlx::query("DELETE FROM idempotency_keys WHERE idem_key = $1").bind(key).execute(self.db.pool()).await?;
        } else {
            sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2, content_type = $3 WHERE idem_key = $4")
                .bind(i64::from(status.as_u16()))
                .bind(String::from_utf8_lossy(body).into_owned())
                .bind(content_type)
                .bind(key)
                .execute(self.db.pool())
                .await?;
        }
        Ok(())
    }
}

/// fingerprint, status, body, content type, created (ms).
type KeyRow = (String, Option<i64>, Option<String>, Option<String>, i64);

enum Claim {
    Mine,
    Busy,
    Mismatch,
    Done { status: i64, body: String, content_type: Option<String> },
}

/// What makes two requests "the same": method, path and the body as canonical JSON (key order
/// and white space do not matter; a body that is not JSON counts byte for byte).
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    format!("{method} {path}\n{canonical}")
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// Axum middleware: applies `Idempotency-Key` to POST requests that carry one.
pub async fn guard(State(keys): State<Keys>, request: Request, next: Next) -> Response {
    let Some(key) = request.headers().get("idempotency-key").cloned() else { return next.run(request).await };
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    match guarded(keys, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn guarded(keys: Keys, key: HeaderValue, request: Request, next: Next) -> Result<Response, Response> {
    let key = key.to_str().ok().filter(|k| valid_key(k)).ok_or_else(|| {
        ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters").into_response()
    })?;
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response())?;
    let print = fingerprint(&parts.method, parts.uri.path(), &bytes);
    let now = crate::time::now_millis();
    match keys.claim(key, &print, now).await.map_err(|e| ApiError::internal(&e).into_response())? {
        Claim::Mismatch => {
            Err(ApiError::unprocessable("Idempotency-Key was already used with a different request").into_response())
        }
        Claim::Busy => Err(ApiError {
            retry_after_secs: Some(1),
            ..ApiError::conflict("a request with this Idempotency-Key is still being processed")
        }
        .into_response()),
        Claim::Done { status, body, content_type } => Ok(replay(status, body, content_type)),
        Claim::Mine => {
            let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
            let (parts, body) = response.into_parts();
            let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
            let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if let Err(e) = keys.finish(key, parts.status, &body, content_type).await {
                tracing::warn!(error = %format!("{e:#}"), "could not store an idempotent answer");
            }
            Ok(Response::from_parts(parts, Body::from(body)))
        }
    }
}

fn replay(status: i64, body: String, content_type: Option<String>) -> Response {
    let status = u16::try_from(status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn keys() -> (tempfile::TempDir, Keys) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite_in(dir.path(), "k.db").await.unwrap();
        db.migrate(&[MIGRATION]).await.unwrap();
        (dir, Keys::new(db))
    }

    #[test]
    fn key_order_and_white_space_do_not_change_a_request() {
        let a = fingerprint(&Method::POST, "/r", br#"{"a":1,"b":2}"#);
        let b = fingerprint(&Method::POST, "/r", b"{ \"b\": 2,\n \"a\": 1 }");
        assert_eq!(a, b);
        assert_ne!(a, fingerprint(&Method::POST, "/r", br#"{"a":1,"b":3}"#));
        assert_ne!(a, fingerprint(&Method::POST, "/other", br#"{"a":1,"b":2}"#));
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(valid_key("order-7f3a"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"k".repeat(256)));
    }

    #[tokio::test]
    async fn a_claim_is_answered_once_then_replayed_and_a_mismatch_is_refused() {
        let (_dir, keys) = keys().await;
        assert!(matches!(keys.claim("k", "A", 0).await.unwrap(), Claim::Mine));
        assert!(matches!(keys.claim("k", "A", 1).await.unwrap(), Claim::Busy));
        keys.finish("k", StatusCode::CREATED, b"{}", Some("application/json")).await.unwrap();
        assert!(matches!(keys.claim("k", "A", 2).await.unwrap(), Claim::Done { status: 201, .. }));
        assert!(matches!(keys.claim("k", "B", 3).await.unwrap(), Claim::Mismatch));
    }

    #[tokio::test]
    async fn a_server_error_frees_the_key_and_an_abandoned_claim_is_taken_over() {
        let (_dir, keys) = keys().await;
        assert!(matches!(keys.claim("k", "A", 0).await.unwrap(), Claim::Mine));
        keys.finish("k", StatusCode::SERVICE_UNAVAILABLE, b"{}", None).await.unwrap();
        assert!(matches!(keys.claim("k", "A", 1).await.unwrap(), Claim::Mine), "retry after a 5xx runs again");
        assert!(
            matches!(keys.claim("k", "A", IN_FLIGHT_TIMEOUT_MS + 2).await.unwrap(), Claim::Mine),
            "abandoned claim taken over"
        );
    }

    #[tokio::test]
    async fn keys_are_kept_for_the_retention_and_then_expire() {
        let (_dir, keys) = keys().await;
        let day = 86_400_000;
        keys.claim("old", "A", 0).await.unwrap();
        keys.claim("new", "A", day).await.unwrap();
        assert_eq!(keys.expire(day + 1, day).await.unwrap(), 1);
        assert!(
            matches!(keys.claim("new", "B", day + 2).await.unwrap(), Claim::Mismatch),
            "the newer key is still kept"
        );
    }
}
