//! `Idempotency-Key` for POST endpoints that create or change something (ADR 10).
//!
//! A key maps to one outcome for as long as it is kept: a retry replays the first request's
//! answer, or resumes the first request where it stopped; it never starts a second one.
//!
//! - **Claim.** The first request with a key inserts it with a short lease (`locked_until`) that
//!   its worker renews while it runs. A retry while the lease is live waits for the answer (up to
//!   a few seconds, then 409 with `Retry-After`). A lease that ran out means its worker died (the
//!   process was killed): the retry takes the key over.
//! - **Recovery point.** A handler records what it created or acts on ([`Idempotent::bind`]) in
//!   the same transaction that does the work, so "the reservation exists" and "the key knows its
//!   reservation" are one fact. A request that takes a key over gets that id
//!   ([`Idempotent::resumed`]) and continues from there instead of starting again.
//! - **Outcome.** A success is stored and replayed (status, body, `Content-Type`, `Location`, and
//!   `Idempotent-Replayed: true`). A refusal before any work (nothing bound: validation, 404,
//!   409) is not kept at all, so junk requests leave nothing behind. A refusal after work started
//!   (a declined payment) is stored. A server error after work started releases the lease and
//!   keeps the recovery point, so the retry resumes; before any work it forgets the key.
//! - **Whose key?** Keys are scoped by the caller (the token's subject), so one customer's key
//!   can never replay another's answer.
//! - **Same request?** A fingerprint (SHA-256 of method, path and the body as canonical JSON) is
//!   kept, never the body; the same key with another request is a 422.
//!
//! Keys are kept for the configured retention (24 h by default), counted from the first request.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use crate::db::{Db, Migration, Tx};
use crate::http::{ApiError, MAX_BODY_BYTES};

/// The key table; add it (and [`RECOVERY_MIGRATION`]) to a service that uses [`guard`].
pub const MIGRATION: Migration = Migration {
    version: 9002,
    name: "idempotency keys",
    sql: "CREATE TABLE idempotency_keys (idem_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
            status BIGINT, body TEXT, content_type TEXT, created_ms BIGINT NOT NULL)",
};

/// Recovery points, leases and the `Location` of stored answers.
pub const RECOVERY_MIGRATION: Migration = Migration {
    version: 9005,
    name: "idempotency recovery points",
    sql: "ALTER TABLE idempotency_keys ADD COLUMN resource_id BIGINT;
          ALTER TABLE idempotency_keys ADD COLUMN locked_until BIGINT;
          ALTER TABLE idempotency_keys ADD COLUMN location TEXT",
};

/// How long a claim lasts without renewal: a worker that died lets go of its key this fast.
pub const LEASE: Duration = Duration::from_secs(3);

/// How long a retry waits for a request with its key that is still running.
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Header set on replayed answers.
pub const REPLAYED: &str = "idempotent-replayed";

/// Where keys live (the service's own database).
#[derive(Clone)]
pub struct Keys {
    db: Db,
    /// The service named on the replay counter.
    service: &'static str,
}

/// A stored final answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    status: i64,
    body: String,
    content_type: Option<String>,
    location: Option<String>,
}

/// What a key holds when a request arrives with it.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    /// This request owns the key now; `resume` is what an earlier owner had bound.
    Mine {
        resume: Option<i64>,
    },
    /// Another request with the key is still running.
    Busy,
    /// The key was used with a different request.
    Mismatch,
    Done(Stored),
}

/// The key's row: fingerprint, recovery point, lease, answer.
type KeyRow = (String, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<String>, Option<String>);

impl Keys {
    pub fn new(db: Db) -> Self {
        Self { db, service: "unnamed" }
    }

    /// The same store, its replays counted for `service` ([`crate::metrics::IDEMPOTENT_REPLAYS`]).
    pub fn replays_counted_as(self, service: &'static str) -> Self {
        Self { service, ..self }
    }

    /// Deletes keys older than `retention_ms`; returns how many went.
    pub async fn expire(&self, now_ms: i64, retention_ms: i64) -> anyhow::Result<u64> {
        let gone = sqlx::query("DELETE FROM idempotency_keys WHERE created_ms < $1")
            .bind(now_ms - retention_ms)
            .execute(self.db.writer())
            .await?;
        Ok(gone.rows_affected())
    }

    /// How many keys are kept (for tests and operators).
    pub async fn count(&self) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM idempotency_keys").fetch_one(self.db.pool()).await?)
    }

    async fn claim(&self, key: &str, fingerprint: &str, now_ms: i64) -> anyhow::Result<Claim> {
        let lease_until = now_ms + LEASE.as_millis() as i64;
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, locked_until, created_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (idem_key) DO NOTHING",
        )
        .bind(key)
        .bind(fingerprint)
        .bind(lease_until)
        .bind(now_ms)
        .execute(self.db.writer())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Mine { resume: None });
        }
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT fingerprint, resource_id, locked_until, status, body, content_type, location
             FROM idempotency_keys WHERE idem_key = $1",
        )
        .bind(key)
        .fetch_optional(self.db.pool())
        .await?;
        // Forgotten between our insert and our read: the next attempt inserts it.
        let Some((stored, resource, locked_until, status, body, content_type, location)) = row else {
            return Ok(Claim::Busy);
        };
        if stored != fingerprint {
            return Ok(Claim::Mismatch);
        }
        if let (Some(status), Some(body)) = (status, body) {
            return Ok(Claim::Done(Stored { status, body, content_type, location }));
        }
        if locked_until.is_some_and(|until| until > now_ms) {
            return Ok(Claim::Busy);
        }
        let taken = sqlx::query(
            "UPDATE idempotency_keys SET locked_until = $1
             WHERE idem_key = $2 AND status IS NULL AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(lease_until)
        .bind(key)
        .bind(now_ms)
        .execute(self.db.writer())
        .await?;
        Ok(if taken.rows_affected() == 1 { Claim::Mine { resume: resource } } else { Claim::Busy })
    }

    /// Claims `key`, waiting while another request with it runs (up to [`MAX_WAIT`]).
    async fn claim_waiting(&self, key: &str, fingerprint: &str) -> anyhow::Result<Claim> {
        let give_up = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            let claim = self.claim(key, fingerprint, crate::time::now_millis()).await?;
            if claim != Claim::Busy || tokio::time::Instant::now() >= give_up {
                return Ok(claim);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Renews the lease of a running request, until dropped.
    async fn keep_leased(&self, key: &str) {
        loop {
            tokio::time::sleep(LEASE / 3).await;
            let until = crate::time::now_millis() + LEASE.as_millis() as i64;
            let renewed =
                sqlx::query("UPDATE idempotency_keys SET locked_until = $1 WHERE idem_key = $2 AND status IS NULL")
                    .bind(until)
                    .bind(key)
                    .execute(self.db.writer())
                    .await;
            if let Err(e) = renewed {
                tracing::warn!(error = %e, "could not renew an idempotency lease");
            }
        }
    }

    /// Records how the request with `key` ended; see the module docs for what is kept.
    async fn finish(&self, key: &str, status: StatusCode, answer: &Stored) -> anyhow::Result<()> {
        if !status.is_success() {
            let forgotten = sqlx::query("DELETE FROM idempotency_keys WHERE idem_key = $1 AND resource_id IS NULL")
                .bind(key)
                .execute(self.db.writer())
                .await?;
            if forgotten.rows_affected() == 1 {
                return Ok(());
            }
        }
        if status.is_server_error() {
            sqlx::query("UPDATE idempotency_keys SET locked_until = NULL WHERE idem_key = $1")
                .bind(key)
                .execute(self.db.writer())
                .await?;
            return Ok(());
        }
        sqlx::query(
            "UPDATE idempotency_keys SET status = $1, body = $2, content_type = $3, location = $4, locked_until = NULL
             WHERE idem_key = $5",
        )
        .bind(answer.status)
        .bind(&answer.body)
        .bind(&answer.content_type)
        .bind(&answer.location)
        .bind(key)
        .execute(self.db.writer())
        .await?;
        Ok(())
    }
}

/// Deletes keys older than `retention`, hourly, until `shutdown`.
pub async fn expire_hourly(keys: Keys, retention: Duration, shutdown: tokio_util::sync::CancellationToken) {
    crate::time::hourly("idempotency keys expired", shutdown, || {
        keys.expire(crate::time::now_millis(), retention.as_millis() as i64)
    })
    .await;
}

/// The key of the request being handled, for its handler: what an earlier attempt got to, and
/// where to record what this one creates.
#[derive(Clone)]
pub struct Idempotent {
    key: String,
    resume: Option<i64>,
    db: Db,
}

impl Idempotent {
    /// The id an earlier attempt with this key bound (the request resumes from it), if any.
    pub fn resumed(&self) -> Option<i64> {
        self.resume
    }

    /// Records, inside `tx` (the transaction that does the work), what this request created or
    /// acts on.
    pub async fn bind(&self, tx: &mut Tx, resource_id: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE idempotency_keys SET resource_id = $1 WHERE idem_key = $2")
            .bind(resource_id)
            .bind(&self.key)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Records what this request acts on, on its own (before a call to another service).
    pub async fn bind_now(&self, resource_id: i64) -> anyhow::Result<()> {
        let mut tx = self.db.begin().await?;
        self.bind(&mut tx, resource_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Extractor: the request's claimed key, if it came with one.
pub struct Key(pub Option<Idempotent>);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<Idempotent>().cloned()))
    }
}

/// What makes two requests "the same": method, path and the body as canonical JSON (key order and
/// white space do not matter; a body that is not JSON counts byte for byte), hashed.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{method} {path}\n").as_bytes());
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => hash.update(v.to_string().as_bytes()),
        Err(_) => hash.update(body),
    }
    hex::encode(hash.finalize())
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn key_of(request: &Request) -> Option<&HeaderValue> {
    (request.method() == Method::POST).then(|| request.headers().get("idempotency-key")).flatten()
}

/// Axum middleware for endpoints that honour `Idempotency-Key` on POST.
pub async fn guard(State(keys): State<Keys>, request: Request, next: Next) -> Response {
    let Some(key) = key_of(&request).cloned() else { return next.run(request).await };
    match guarded(keys, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

/// Axum middleware for POST endpoints where a key means nothing (operator actions that are
/// idempotent by nature): a request with one is refused with 400 rather than silently ignored.
pub async fn refuse(request: Request, next: Next) -> Response {
    if key_of(&request).is_some() {
        return ApiError::bad_request("this endpoint does not take an Idempotency-Key; it is safe to repeat as it is")
            .into_response();
    }
    next.run(request).await
}

async fn guarded(keys: Keys, key: HeaderValue, request: Request, next: Next) -> Result<Response, Response> {
    let key = key.to_str().ok().filter(|k| valid_key(k)).map(str::to_owned).ok_or_else(|| {
        ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters").into_response()
    })?;
    // One caller's key never meets another's: keys are scoped by who sent them.
    let key = match request.extensions().get::<crate::auth::Caller>().map(crate::auth::Caller::scope) {
        Some(scope) if !scope.is_empty() => format!("{scope}\u{1f}{key}"),
        _ => key,
    };
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|e| {
        let err: &(dyn std::error::Error + 'static) = &e;
        if crate::server::is_body_timeout(err) {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time").into_response()
        } else {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is over {MAX_BODY_BYTES} bytes"))
                .into_response()
        }
    })?;
    let print = fingerprint(&parts.method, parts.uri.path(), &bytes);
    let claim = keys.claim_waiting(&key, &print).await.map_err(|e| ApiError::internal(&e).into_response())?;
    let resume = match claim {
        Claim::Mismatch => {
            return Err(
                ApiError::unprocessable("Idempotency-Key was already used with a different request").into_response()
            );
        }
        Claim::Busy => {
            return Err(ApiError {
                retry_after_secs: Some(1),
                ..ApiError::conflict("a request with this Idempotency-Key is still being processed")
            }
            .into_response());
        }
        Claim::Done(stored) => {
            metrics::counter!(crate::metrics::IDEMPOTENT_REPLAYS, "service" => keys.service).increment(1);
            return Ok(replay(stored));
        }
        Claim::Mine { resume } => resume,
    };
    parts.extensions.insert(Idempotent { key: key.clone(), resume, db: keys.db.clone() });
    let run = next.run(Request::from_parts(parts, Body::from(bytes)));
    let response = tokio::select! {
        response = run => response,
        () = keys.keep_leased(&key) => unreachable!("the lease keeper never returns"),
    };
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let header = |name| parts.headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
    let answer = Stored {
        status: i64::from(parts.status.as_u16()),
        body: String::from_utf8_lossy(&body).into_owned(),
        content_type: header(header::CONTENT_TYPE),
        location: header(header::LOCATION),
    };
    if let Err(e) = keys.finish(&key, parts.status, &answer).await {
        tracing::warn!(error = %format!("{e:#}"), "could not record how an idempotent request ended");
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn replay(stored: Stored) -> Response {
    let status = u16::try_from(stored.status).ok().and_then(|s| StatusCode::from_u16(s).ok()).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(stored.body)).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = stored.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(location) = stored.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
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
        db.migrate(&[MIGRATION, RECOVERY_MIGRATION]).await.unwrap();
        (dir, Keys::new(db))
    }

    fn answer(status: i64) -> Stored {
        Stored { status, body: "{}".into(), content_type: Some("application/json".into()), location: None }
    }

    async fn bind(keys: &Keys, key: &str, id: i64) {
        let k = Idempotent { key: key.into(), resume: None, db: keys.db.clone() };
        k.bind_now(id).await.unwrap();
    }

    const LEASE_MS: i64 = LEASE.as_millis() as i64;

    #[test]
    fn key_order_and_white_space_do_not_change_a_request_and_only_a_hash_is_kept() {
        let a = fingerprint(&Method::POST, "/r", br#"{"a":1,"b":2}"#);
        let b = fingerprint(&Method::POST, "/r", b"{ \"b\": 2,\n \"a\": 1 }");
        assert_eq!(a, b);
        assert_eq!(a.len(), 64, "a SHA-256 in hex, whatever the body's size");
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
        assert_eq!(keys.claim("k", "A", 0).await.unwrap(), Claim::Mine { resume: None });
        assert_eq!(keys.claim("k", "A", 1).await.unwrap(), Claim::Busy);
        bind(&keys, "k", 7).await;
        keys.finish("k", StatusCode::CREATED, &answer(201)).await.unwrap();
        assert_eq!(keys.claim("k", "A", 2).await.unwrap(), Claim::Done(answer(201)));
        assert_eq!(keys.claim("k", "B", 3).await.unwrap(), Claim::Mismatch);
    }

    #[tokio::test]
    async fn a_refusal_before_any_work_forgets_the_key_and_one_after_work_is_kept() {
        let (_dir, keys) = keys().await;
        keys.claim("junk", "A", 0).await.unwrap();
        keys.finish("junk", StatusCode::UNPROCESSABLE_ENTITY, &answer(422)).await.unwrap();
        assert_eq!(keys.count().await.unwrap(), 0, "nothing kept for a request refused up front");

        keys.claim("declined", "A", 0).await.unwrap();
        bind(&keys, "declined", 9).await;
        keys.finish("declined", StatusCode::PAYMENT_REQUIRED, &answer(402)).await.unwrap();
        assert_eq!(keys.claim("declined", "A", 1).await.unwrap(), Claim::Done(answer(402)));
    }

    #[tokio::test]
    async fn a_server_error_after_work_started_lets_the_retry_resume_from_the_recovery_point() {
        let (_dir, keys) = keys().await;
        keys.claim("k", "A", 0).await.unwrap();
        bind(&keys, "k", 42).await;
        keys.finish("k", StatusCode::SERVICE_UNAVAILABLE, &answer(503)).await.unwrap();
        assert_eq!(keys.claim("k", "A", 1).await.unwrap(), Claim::Mine { resume: Some(42) }, "at once, no lease left");

        keys.claim("early", "A", 0).await.unwrap();
        keys.finish("early", StatusCode::SERVICE_UNAVAILABLE, &answer(503)).await.unwrap();
        assert_eq!(keys.claim("early", "A", 1).await.unwrap(), Claim::Mine { resume: None }, "nothing started: afresh");
    }

    #[tokio::test]
    async fn a_claim_whose_worker_died_is_taken_over_once_its_lease_runs_out() {
        let (_dir, keys) = keys().await;
        keys.claim("k", "A", 0).await.unwrap();
        bind(&keys, "k", 5).await;
        assert_eq!(keys.claim("k", "A", LEASE_MS - 1).await.unwrap(), Claim::Busy, "the lease still holds");
        assert_eq!(keys.claim("k", "A", LEASE_MS + 1).await.unwrap(), Claim::Mine { resume: Some(5) });
        assert_eq!(keys.claim("k", "A", LEASE_MS + 2).await.unwrap(), Claim::Busy, "taken over once, not twice");
    }

    #[tokio::test]
    async fn keys_are_kept_for_the_retention_and_then_expire() {
        let (_dir, keys) = keys().await;
        let day = 86_400_000;
        keys.claim("old", "A", 0).await.unwrap();
        keys.claim("new", "A", day).await.unwrap();
        assert_eq!(keys.expire(day + 1, day).await.unwrap(), 1);
        assert_eq!(keys.claim("new", "B", day + 2).await.unwrap(), Claim::Mismatch, "the newer key is still kept");
    }
}
