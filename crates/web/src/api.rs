//! The public API, called in process through the gateway as the visitor: the same routes, the
//! same checks and the same answers as for any other client.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use crate::Web;
use crate::page::ErrorPage;
use crate::session::Visit;

/// A refusal or failure of the API: its status and its problem document's `detail`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
}

impl Problem {
    /// A refusal the visitor can fix in the form they sent.
    pub fn is_form_error(&self) -> bool {
        matches!(self.status.as_u16(), 400 | 409 | 413 | 422 | 429)
    }

    /// The page for a problem that no form can show: sign-in for 401, else an error page.
    pub fn page(self, visit: &Visit) -> Response {
        if self.status == StatusCode::UNAUTHORIZED {
            return visit.to_sign_in();
        }
        ErrorPage::shown_to(visit, self.status, &self.detail)
    }
}

pub struct Api<'a> {
    web: &'a Web,
    visit: &'a Visit,
}

impl<'a> Api<'a> {
    pub fn new(web: &'a Web, visit: &'a Visit) -> Self {
        Self { web, visit }
    }

    /// `GET path` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, Problem> {
        self.send(Method::GET, path, None, None).await
    }

    /// A request with a JSON body and, for anything that books, pays or refunds, an idempotency key.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<Value, Problem> {
        self.request(method, path, body, key).await.map(|(json, _)| json)
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<(Value, HeaderMap), Problem> {
        let mut request = Request::builder().method(method).uri(path).header(header::ACCEPT, "application/json");
        if let Some(token) = &self.visit.token
            && let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}"))
        {
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let Ok(mut request) = request.body(body) else {
            return Err(Problem { status: StatusCode::BAD_REQUEST, detail: format!("{path} is not a valid path") });
        };
        // The gateway's checks see the visitor as they are: who (already verified) and from where
        // (the sign-in rate limit is per client address).
        request.extensions_mut().insert(self.visit.caller.clone());
        if let Some(peer) = self.visit.peer {
            request.extensions_mut().insert(peer);
        }
        answer(self.web.backend.call(request).await).await
    }
}

async fn answer(response: Response) -> Result<(Value, HeaderMap), Problem> {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok((json, parts.headers));
    }
    let detail =
        json["detail"].as_str().map_or_else(|| status.canonical_reason().unwrap_or("").to_owned(), str::to_owned);
    Err(Problem { status, detail })
}

/// A number of an answer (0 when missing).
pub fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// A value of an answer as text ("" when missing).
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The items of a list answer (none when it is not a list).
pub fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// `s` as one path segment or query value.
pub fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A fresh idempotency key for a form: 128 random bits.
pub fn new_key() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(bytes)
}

/// A key a form sent back: kept when it looks like one of ours, else a fresh one (the API
/// would refuse an odd one, and the visitor could not fix that).
pub fn form_key(sent: Option<&str>) -> String {
    match sent {
        Some(k) if k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()) => k.to_owned(),
        _ => new_key(),
    }
}

/// The audit reads the API in process, as the signed-in admin.
#[async_trait::async_trait]
impl crate::audit::Pages for Api<'_> {
    async fn page(&self, path: &str) -> anyhow::Result<(Vec<Value>, Option<String>)> {
        let (json, headers) = self
            .request(Method::GET, path, None, None)
            .await
            .map_err(|p| anyhow::anyhow!("GET {path}: {} {}", p.status, p.detail))?;
        let link = headers.get(header::LINK).and_then(|v| v.to_str().ok());
        // A next link may be absolute; in process only its path and query are wanted.
        let next = crate::audit::next_page(link).map(|l| match l.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or_else(|| "/".to_owned(), |i| rest[i..].to_owned()),
            None => l,
        });
        Ok((serde_json::from_value(json)?, next))
    }
}
