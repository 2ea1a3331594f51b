//! Every list that can grow is read a page at a time, the same way everywhere:
//!
//! - `?limit=N`: how many items (at least 1; each list has a default and a maximum, and a larger
//!   limit is cut to the maximum);
//! - `?cursor=…`: where the page starts, taken from the previous page;
//! - the answer is the same JSON array as before, with `Link: <…>; rel="next"` (RFC 8288) when
//!   there may be more: follow it until a page comes without one.
//!
//! Cursors are opaque to clients; each list makes its own from the key it is ordered by.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::{ApiError, clip};

/// One page's request: `DEFAULT` items unless the client asks for a `limit` (cut to `MAX`).
#[derive(Debug, Clone)]
pub struct Page<const DEFAULT: i64 = 100, const MAX: i64 = 1000> {
    /// Items on this page.
    pub limit: i64,
    /// Where it starts, as the previous page said; None for the first page.
    pub cursor: Option<String>,
    uri: Uri,
}

impl<const DEFAULT: i64, const MAX: i64, S: Send + Sync> FromRequestParts<S> for Page<DEFAULT, MAX> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut limit = DEFAULT;
        let mut cursor = None;
        for (name, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "limit" => {
                    let n: i64 = value.trim().parse().map_err(|_| {
                        ApiError::bad_request(format!("limit must be a whole number, not {:?}", clip(&value, 20)))
                    })?;
                    if n < 1 {
                        return Err(ApiError::unprocessable("limit must be at least 1"));
                    }
                    limit = n.min(MAX);
                }
                "cursor" if !value.is_empty() => cursor = Some(value.into_owned()),
                _ => {}
            }
        }
        Ok(Self { limit, cursor, uri: parts.uri.clone() })
    }
}

impl<const DEFAULT: i64, const MAX: i64> Page<DEFAULT, MAX> {
    /// How many rows to fetch: one more than the page holds, to learn whether there is more.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// The cursor as an id; a cursor that is not one is a 400.
    pub fn cursor_id(&self) -> Result<Option<i64>, ApiError> {
        self.cursor.as_deref().map(|c| c.parse::<i64>().map_err(|_| bad_cursor(c))).transpose()
    }

    /// The answer: the first `limit` of `rows` (fetched with [`Self::fetch`]) as a JSON array,
    /// with a `Link` to the next page when there is one; `cursor_of` makes the next page's cursor
    /// from this page's last item.
    pub fn answer<T: Serialize>(&self, mut rows: Vec<T>, cursor_of: impl Fn(&T) -> String) -> Response {
        let next = self.cut(&mut rows, cursor_of);
        self.answer_with(rows, next)
    }

    /// Cuts `rows` (fetched with [`Self::fetch`]) to the page; the next page's cursor, if any.
    pub fn cut<T>(&self, rows: &mut Vec<T>, cursor_of: impl Fn(&T) -> String) -> Option<String> {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        rows.last().filter(|_| more).map(cursor_of)
    }

    /// `body` as JSON, with a `Link` to the page at `next` when there is one.
    pub fn answer_with<B: Serialize>(&self, body: B, next: Option<String>) -> Response {
        let mut response = axum::Json(body).into_response();
        if let Some(link) = next.and_then(|c| HeaderValue::from_str(&self.link(&c)).ok()) {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }

    fn link(&self, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(self.uri.query().unwrap_or("").as_bytes()) {
            if name != "cursor" && name != "limit" {
                query.append_pair(&name, &value);
            }
        }
        query.append_pair("limit", &self.limit.to_string());
        query.append_pair("cursor", cursor);
        format!("<{}?{}>; rel=\"next\"", self.uri.path(), query.finish())
    }
}

/// The answer to a cursor this list did not make.
pub fn bad_cursor(cursor: &str) -> ApiError {
    ApiError::bad_request(format!(
        "cursor {:?} is not one this list made; take it from a Link header",
        clip(cursor, 40)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn page(uri: &str) -> Result<Page<2, 3>, ApiError> {
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).unwrap().into_parts();
        Page::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn a_full_page_links_to_the_next_and_keeps_the_other_parameters() {
        let p = page("/things?phone=010&limit=2").await.unwrap();
        let r = p.answer(vec![1, 2, 3], |n| n.to_string());
        let link = r.headers()[header::LINK].to_str().unwrap();
        assert_eq!(link, "</things?phone=010&limit=2&cursor=2>; rel=\"next\"");
        let last = page("/things?cursor=2").await.unwrap().answer(vec![3], |n| n.to_string());
        assert!(last.headers().get(header::LINK).is_none(), "the last page has no next");
    }

    #[tokio::test]
    async fn limits_have_a_default_and_a_maximum_and_nonsense_is_refused() {
        assert_eq!(page("/t").await.unwrap().limit, 2);
        assert_eq!(page("/t?limit=99").await.unwrap().limit, 3);
        assert_eq!(page("/t?limit=0").await.unwrap_err().status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(page("/t?limit=lots").await.unwrap_err().status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(page("/t?cursor=x").await.unwrap().cursor_id().unwrap_err().status, 400);
    }
}
