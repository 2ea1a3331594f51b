//! Read models answered from memory: the serialized answer kept until the model changes, with an
//! `ETag` and `304 Not Modified` for a client that already has it (`If-None-Match`,
//! RFC 9110 §13.1.2).
//!
//! [`Answers`] is a store of finished answers (status 200, headers, body bytes, tag) by request
//! path and query. The first GET of a path after a change runs the handler (a query and a
//! serialization) and keeps what it answered; every later GET of it is a lookup and a copy of a
//! reference-counted buffer, until the model's writer calls [`Answers::changed`] after its
//! commit. Several instances sharing one PostgreSQL database tell each other through
//! [`crate::db::Db::notify`] / [`crate::db::Db::on_notify`].
//!
//! An answer computed while a change committed is never kept under the newer generation: the
//! generation is read before the handler runs and the answer is kept only if it still holds.
//! The tag is a digest of the answer's bytes, so it changes exactly when the answer does, on any
//! instance. HEAD requests pass through and are tagged, not kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

/// Answers larger than this go out untagged and unkept (they are not buffered).
const MAX_KEPT_BYTES: usize = 4 * 1024 * 1024;
/// Distinct paths and queries kept at once, and their bytes in all; past either, everything kept
/// is dropped and refilled, so a client asking many distinct (or large) queries costs queries,
/// never memory.
const MAX_KEPT: usize = 512;
const MAX_KEPT_TOTAL_BYTES: usize = 16 * 1024 * 1024;

/// The finished answers of one read model; clones share them.
#[derive(Clone, Default)]
pub struct Answers {
    inner: Arc<Inner>,
}

type Vary = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
struct Inner {
    generation: AtomicU64,
    kept: RwLock<KeptAll>,
    /// What, besides path and query, an answer depends on (e.g. today's date).
    vary: Option<Vary>,
}

/// The kept answers and their bytes in all.
#[derive(Default)]
struct KeptAll {
    answers: HashMap<String, Kept>,
    bytes: usize,
}

#[derive(Clone)]
struct Kept {
    generation: u64,
    headers: HeaderMap,
    body: Bytes,
}

impl Answers {
    /// Answers that depend only on the request's path and query, and the model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers that also depend on `vary()` (say, today's date for a default date range).
    pub fn varying_with(vary: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self { inner: Arc::new(Inner { vary: Some(Arc::new(vary)), ..Inner::default() }) }
    }

    /// The model changed (call after the commit): every kept answer is dropped.
    pub fn changed(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        *self.inner.kept.write().unwrap_or_else(std::sync::PoisonError::into_inner) = KeptAll::default();
    }

    /// How many answers are kept now.
    pub fn len(&self) -> usize {
        self.inner.kept.read().unwrap_or_else(std::sync::PoisonError::into_inner).answers.len()
    }

    /// The bytes of every answer kept now.
    pub fn bytes(&self) -> usize {
        self.inner.kept.read().unwrap_or_else(std::sync::PoisonError::into_inner).bytes
    }

    /// Whether nothing is kept now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn key(&self, request: &Request) -> String {
        let uri = request.uri();
        let vary = self.inner.vary.as_ref().map(|v| v()).unwrap_or_default();
        format!("{}?{}#{vary}", uri.path(), uri.query().unwrap_or(""))
    }

    fn find(&self, key: &str) -> Option<Kept> {
        let now = self.inner.generation.load(Ordering::SeqCst);
        let kept = self.inner.kept.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.answers.get(key).filter(|k| k.generation == now).cloned()
    }

    fn keep(&self, key: String, kept: Kept) {
        let mut all = self.inner.kept.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Computed before a change committed: not for the newer generation.
        if kept.generation != self.inner.generation.load(Ordering::SeqCst) {
            return;
        }
        let size = kept.body.len();
        if size > MAX_KEPT_TOTAL_BYTES {
            return;
        }
        if all.answers.len() >= MAX_KEPT || all.bytes + size > MAX_KEPT_TOTAL_BYTES {
            *all = KeptAll::default();
        }
        if let Some(replaced) = all.answers.insert(key, kept) {
            all.bytes -= replaced.body.len();
        }
        all.bytes += size;
    }
}

/// Axum middleware (`from_fn_with_state`) for a read model's GET routes: answers from memory
/// when it can, else runs the route and keeps its 200 answer; either way tagged, and a 304 for
/// a client whose `If-None-Match` names the tag.
pub async fn serve(State(answers): State<Answers>, request: Request, next: Next) -> Response {
    if request.method() != Method::GET {
        return conditional(request, next).await;
    }
    let asked = request.headers().get(header::IF_NONE_MATCH).cloned();
    let key = answers.key(&request);
    if let Some(kept) = answers.find(&key) {
        return respond(kept.headers, kept.body, asked.as_ref());
    }
    let generation = answers.inner.generation.load(Ordering::SeqCst);
    let (headers, body) = match tagged(next.run(request).await).await {
        Ok(tagged) => tagged,
        Err(response) => return response,
    };
    answers.keep(key, Kept { generation, headers: headers.clone(), body: body.clone() });
    respond(headers, body, asked.as_ref())
}

/// A request other than GET (HEAD, whose body is dropped): tagged and turned into a 304 when
/// `If-None-Match` names its tag, but not kept.
async fn conditional(request: Request, next: Next) -> Response {
    if request.method() != Method::HEAD {
        return next.run(request).await;
    }
    let asked = request.headers().get(header::IF_NONE_MATCH).cloned();
    match tagged(next.run(request).await).await {
        Ok((headers, body)) => respond(headers, body, asked.as_ref()),
        Err(response) => response,
    }
}

/// A 200 answer's headers with its tag, and its bytes; any other answer back as it was (`Err`).
async fn tagged(response: Response) -> Result<(HeaderMap, Bytes), Response> {
    if response.status() != StatusCode::OK {
        return Err(response);
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_KEPT_BYTES).await else {
        return Err((StatusCode::INTERNAL_SERVER_ERROR, "answer too large to tag").into_response());
    };
    let digest = sha2::Sha256::digest(&bytes);
    let tag = format!("\"{}\"", hex::encode(&digest[..16]));
    let tag = HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    // Stored, but asked again every time: the seats left change at any moment.
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    parts.headers.insert(header::ETAG, tag);
    Ok((parts.headers, bytes))
}

/// The answer, or an empty 304 with the headers RFC 9110 §15.4.5 asks a 304 to repeat.
fn respond(headers: HeaderMap, body: Bytes, asked: Option<&HeaderValue>) -> Response {
    let tag = headers.get(header::ETAG);
    if let (Some(asked), Some(tag)) = (asked, tag)
        && matches(asked, tag)
    {
        let mut not_modified = Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [header::ETAG, header::CACHE_CONTROL, header::VARY, header::LINK] {
            if let Some(v) = headers.get(&name) {
                not_modified.headers_mut().insert(name, v.clone());
            }
        }
        return not_modified;
    }
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = headers;
    response
}

/// Weak comparison of an `If-None-Match` list with `tag`: `*`, or any listed tag equal to it once
/// `W/` is ignored.
fn matches(asked: &HeaderValue, tag: &HeaderValue) -> bool {
    let (Ok(asked), Ok(tag)) = (asked.to_str(), tag.to_str()) else { return false };
    asked.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;

    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn get_with(app: &Router, uri: &str, if_none_match: Option<&str>) -> (StatusCode, Option<String>, String) {
        let mut r = Request::builder().uri(uri);
        if let Some(v) = if_none_match {
            r = r.header(header::IF_NONE_MATCH, v);
        }
        let answer = app.clone().oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
        let tag = answer.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
        (status, tag, String::from_utf8(body.to_vec()).unwrap())
    }

    /// A read model of one seat count; counts how often its handler runs.
    fn model(answers: &Answers) -> (Router, Arc<AtomicI64>, Arc<AtomicI64>) {
        let seats = Arc::new(AtomicI64::new(10));
        let runs = Arc::new(AtomicI64::new(0));
        let (left, ran) = (seats.clone(), runs.clone());
        let app = Router::new()
            .route(
                "/list",
                get(move || async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                    format!("[{{\"seat\":{}}}]", left.load(Ordering::SeqCst))
                }),
            )
            .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
            .layer(axum::middleware::from_fn_with_state(answers.clone(), serve));
        (app, seats, runs)
    }

    #[tokio::test]
    async fn an_answer_is_computed_once_per_change_and_a_client_with_it_gets_304() {
        let answers = Answers::new();
        let (app, seats, runs) = model(&answers);
        let (status, tag, body) = get_with(&app, "/list", None).await;
        let tag = tag.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "[{\"seat\":10}]"));
        assert_eq!(get_with(&app, "/list", None).await, (StatusCode::OK, Some(tag.clone()), body.clone()));
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the second read came from memory");
        assert_eq!(get_with(&app, "/list", Some(&tag)).await, (StatusCode::NOT_MODIFIED, Some(tag.clone()), "".into()));
        assert_eq!(get_with(&app, "/list", Some(&format!("W/{tag}, \"other\""))).await.0, StatusCode::NOT_MODIFIED);
        assert_eq!(get_with(&app, "/list", Some("*")).await.0, StatusCode::NOT_MODIFIED);
        assert_eq!(get_with(&app, "/list", Some("\"stale\"")).await.0, StatusCode::OK);
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        // Without `changed`, memory still answers the old count: the writer must say so.
        seats.store(9, Ordering::SeqCst);
        assert_eq!(get_with(&app, "/list", None).await.2, "[{\"seat\":10}]");
        answers.changed();
        let (status, changed, body) = get_with(&app, "/list", Some(&tag)).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "[{\"seat\":9}]"), "changed: the whole answer again");
        assert_ne!(changed.unwrap(), tag);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn queries_are_kept_apart_and_failures_are_not_kept() {
        let answers = Answers::new();
        let (app, _, runs) = model(&answers);
        get_with(&app, "/list?limit=1", None).await;
        get_with(&app, "/list?limit=2", None).await;
        get_with(&app, "/list?limit=1", None).await;
        assert_eq!((runs.load(Ordering::SeqCst), answers.len()), (2, 2));
        assert_eq!(get_with(&app, "/missing", None).await, (StatusCode::NOT_FOUND, None, "".into()));
        assert_eq!(answers.len(), 2);
        answers.changed();
        assert!(answers.is_empty());
    }

    #[tokio::test]
    async fn an_answer_computed_across_a_change_is_not_kept() {
        let answers = Answers::new();
        let generation = answers.inner.generation.load(Ordering::SeqCst);
        answers.changed();
        let stale = Kept { generation, headers: HeaderMap::new(), body: Bytes::from_static(b"old") };
        answers.keep("k".into(), stale);
        assert!(answers.find("k").is_none());
        assert!(answers.is_empty());
    }

    #[tokio::test]
    async fn a_varying_answer_is_kept_per_value() {
        let day = Arc::new(AtomicI64::new(1));
        let today = day.clone();
        let answers = Answers::varying_with(move || today.load(Ordering::SeqCst).to_string());
        let (app, _, runs) = model(&answers);
        get_with(&app, "/list", None).await;
        day.store(2, Ordering::SeqCst);
        get_with(&app, "/list", None).await;
        get_with(&app, "/list", None).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2, "a new day, a new answer; then memory");
    }

    #[tokio::test]
    async fn many_distinct_queries_cost_queries_not_memory() {
        let answers = Answers::new();
        let (app, _, _) = model(&answers);
        for n in 0..(MAX_KEPT + 10) {
            get_with(&app, &format!("/list?n={n}"), None).await;
        }
        assert!(answers.len() <= MAX_KEPT);
    }

    #[tokio::test]
    async fn large_answers_are_kept_within_a_byte_budget() {
        let answers = Answers::new();
        let app = Router::new()
            .route("/big", get(|| async { "x".repeat(1024 * 1024) }))
            .layer(axum::middleware::from_fn_with_state(answers.clone(), serve));
        for n in 0..40 {
            assert_eq!(get_with(&app, &format!("/big?n={n}"), None).await.0, StatusCode::OK);
            assert!(answers.bytes() <= MAX_KEPT_TOTAL_BYTES, "{} bytes kept", answers.bytes());
        }
        assert!(!answers.is_empty());
        assert_eq!(answers.bytes(), answers.len() * 1024 * 1024);
    }
}
