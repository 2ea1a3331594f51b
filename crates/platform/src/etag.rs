//! Conditional reads: `ETag` on the read models' answers and `304 Not Modified` for a client that
//! already has them (`If-None-Match`, RFC 9110 §13.1.2).
//!
//! The tag is a digest of the answer's bytes, so it changes exactly when the answer does, on any
//! instance, with nothing to invalidate. An API client that polls and sends the tag back gets an
//! empty 304 instead of the list again (the web sites read the API in process and do not). The
//! server still reads and serializes the answer to know its tag (serving it from memory is issue
//! 15's next step).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::Digest as _;

/// Answers larger than this go out untagged (they are not buffered to be hashed).
const MAX_TAGGED_BYTES: usize = 4 * 1024 * 1024;

/// Axum middleware for GET routes: tags a 200 answer and turns it into a 304 when the request's
/// `If-None-Match` names its tag.
pub async fn conditional(request: Request, next: Next) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return next.run(request).await;
    }
    let asked = request.headers().get(header::IF_NONE_MATCH).cloned();
    let response = next.run(request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_TAGGED_BYTES).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "answer too large to tag").into_response();
    };
    let digest = sha2::Sha256::digest(&bytes);
    let tag = format!("\"{}\"", hex::encode(&digest[..16]));
    let tag = HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    // Stored, but asked again every time: the seats left change at any moment.
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    parts.headers.insert(header::ETAG, tag.clone());
    if asked.as_ref().is_some_and(|a| matches(a, &tag)) {
        let mut not_modified = Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        copy(&parts.headers, not_modified.headers_mut());
        return not_modified;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The headers a 304 repeats (RFC 9110 §15.4.5).
fn copy(from: &HeaderMap, to: &mut HeaderMap) {
    for name in [header::ETAG, header::CACHE_CONTROL, header::VARY, header::LINK] {
        if let Some(v) = from.get(&name) {
            to.insert(name, v.clone());
        }
    }
}

/// Weak comparison of an `If-None-Match` list with `tag`: `*`, or any listed tag equal to it once
/// `W/` is ignored.
fn matches(asked: &HeaderValue, tag: &HeaderValue) -> bool {
    let (Ok(asked), Ok(tag)) = (asked.to_str(), tag.to_str()) else { return false };
    asked.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn get_with(app: &Router, if_none_match: Option<&str>) -> (StatusCode, Option<String>, usize) {
        let mut r = Request::builder().uri("/list");
        if let Some(v) = if_none_match {
            r = r.header(header::IF_NONE_MATCH, v);
        }
        let answer = app.clone().oneshot(r.body(Body::empty()).unwrap()).await.unwrap();
        let tag = answer.headers().get(header::ETAG).map(|v| v.to_str().unwrap().to_owned());
        let status = answer.status();
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.unwrap();
        (status, tag, body.len())
    }

    #[tokio::test]
    async fn an_unchanged_answer_is_a_304_and_a_changed_one_a_200_with_a_new_tag() {
        let seats = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(10));
        let left = seats.clone();
        let app = Router::new()
            .route(
                "/list",
                get(
                    move || async move { format!("[{{\"seat\":{}}}]", left.load(std::sync::atomic::Ordering::SeqCst)) },
                ),
            )
            .layer(axum::middleware::from_fn(conditional));
        let (status, tag, len) = get_with(&app, None).await;
        let tag = tag.unwrap();
        assert_eq!((status, len > 0), (StatusCode::OK, true));
        assert_eq!(get_with(&app, Some(&tag)).await, (StatusCode::NOT_MODIFIED, Some(tag.clone()), 0));
        assert_eq!(get_with(&app, Some(&format!("W/{tag}, \"other\""))).await.0, StatusCode::NOT_MODIFIED);
        assert_eq!(get_with(&app, Some("*")).await.0, StatusCode::NOT_MODIFIED);
        assert_eq!(get_with(&app, Some("\"stale\"")).await.0, StatusCode::OK);
        seats.store(9, std::sync::atomic::Ordering::SeqCst);
        let (status, changed, _) = get_with(&app, Some(&tag)).await;
        assert_eq!(status, StatusCode::OK, "the seats changed: the whole answer again");
        assert_ne!(changed.unwrap(), tag);
    }
}
