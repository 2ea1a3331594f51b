//! Signing in through an OpenID Connect provider (`SKYCAMP_AUTH=oidc` with
//! `SKYCAMP_AUTH_CLIENT_ID`): the authorization code flow with PKCE (RFC 7636).
//!
//! `GET /signin/oidc` sends the browser to the provider's `authorization_endpoint` (found by
//! discovery) with a fresh `state` and code challenge, kept with the page to come back to in a
//! short-lived `HttpOnly` cookie. The provider sends the browser back to `/signin/callback` with
//! a code; the state must match the cookie's, and the code is exchanged at the `token_endpoint`
//! (with the verifier, and the client's secret when it has one) for an access token. That token
//! is verified like any other (issuer, audience, keys from the JWKS) before it becomes the
//! session: a token the API would refuse never signs anyone in.

use std::sync::Arc;

use axum::extract::Query;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use sha2::Digest as _;
use skycamp_platform::auth::Caller;

use crate::page::ErrorPage;
use crate::session::{Visit, cookie, local};
use crate::{State, Web};

/// The web sites' client at an OpenID provider.
#[derive(Debug, Clone)]
pub struct OidcClient {
    /// The provider's issuer URL (discovery is at `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<secrecy::SecretString>,
    /// The scopes asked for (`openid`, and whatever the provider needs to put the API's
    /// audience in the access token).
    pub scope: String,
}

/// The client with what discovery found, fetched once.
pub struct Oidc {
    client: OidcClient,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<Endpoints>,
}

#[derive(Debug, Clone, Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

impl Oidc {
    pub fn new(client: OidcClient) -> Arc<Self> {
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default();
        Arc::new(Self { client, http, endpoints: tokio::sync::OnceCell::new() })
    }

    async fn endpoints(&self) -> anyhow::Result<&Endpoints> {
        self.endpoints
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.client.issuer.trim_end_matches('/'));
                let found: Endpoints = self.http.get(&url).send().await?.error_for_status()?.json().await?;
                Ok(found)
            })
            .await
    }
}

/// Where the provider sends the browser back: this site's own origin, as the browser reached it.
fn callback(visit: &Visit, headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = if visit.https { "https" } else { "http" };
    format!("{scheme}://{host}/signin/callback")
}

fn random(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 code challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

#[derive(Deserialize)]
pub struct Start {
    next: Option<String>,
}

/// `GET /signin/oidc?next=/my/reservations`: off to the provider.
pub async fn start(state: State, visit: Visit, headers: axum::http::HeaderMap, Query(q): Query<Start>) -> Response {
    let Some(oidc) = state.0.oidc.as_ref() else {
        return ErrorPage::shown_to(&visit, StatusCode::NOT_FOUND, "sign-in with an OpenID provider is not configured");
    };
    let endpoints = match oidc.endpoints().await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "OpenID discovery failed");
            return ErrorPage::shown_to(
                &visit,
                StatusCode::SERVICE_UNAVAILABLE,
                "the sign-in provider cannot be reached",
            );
        }
    };
    let (state_value, verifier) = (random(24), random(32));
    let next = local(q.next.as_deref());
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &oidc.client.client_id)
        .append_pair("redirect_uri", &callback(&visit, &headers))
        .append_pair("scope", &oidc.client.scope)
        .append_pair("state", &state_value)
        .append_pair("code_challenge", &challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let separator = if endpoints.authorization_endpoint.contains('?') { '&' } else { '?' };
    let mut r = Redirect::to(&format!("{}{separator}{query}", endpoints.authorization_endpoint)).into_response();
    let kept = format!("{state_value}.{verifier}.{}", URL_SAFE_NO_PAD.encode(next));
    r.headers_mut().insert(header::SET_COOKIE, visit.set_cookie("oidc", &kept, 600));
    r
}

#[derive(Deserialize)]
pub struct Back {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    expires_in: Option<u64>,
}

/// `GET /signin/callback?code=…&state=…`: the code for a token, the token for a session.
pub async fn finish(state: State, visit: Visit, headers: axum::http::HeaderMap, Query(q): Query<Back>) -> Response {
    let web: &Web = &state.0;
    let refuse = |why: &str| ErrorPage::shown_to(&visit, StatusCode::BAD_REQUEST, why);
    let Some(oidc) = web.oidc.as_ref() else { return refuse("sign-in with an OpenID provider is not configured") };
    if let Some(error) = q.error {
        return refuse(&format!("the provider did not sign you in: {}", skycamp_platform::http::clip(&error, 100)));
    }
    let kept = cookie(&headers, "oidc").unwrap_or_default();
    let mut parts = kept.splitn(3, '.');
    let (Some(expected), Some(verifier), Some(next)) = (parts.next(), parts.next(), parts.next()) else {
        return refuse("this sign-in was not started here, or took too long: start again");
    };
    let (Some(code), Some(returned)) = (q.code, q.state) else { return refuse("the provider's answer has no code") };
    if returned != expected {
        return refuse("this sign-in was not started here: start again");
    }
    let next = URL_SAFE_NO_PAD.decode(next).ok().and_then(|n| String::from_utf8(n).ok());
    let tokens = match exchange(oidc, &code, verifier, &callback(&visit, &headers)).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "OpenID code exchange failed");
            return ErrorPage::shown_to(
                &visit,
                StatusCode::BAD_GATEWAY,
                "the provider refused the sign-in: start again",
            );
        }
    };
    let bearer = HeaderValue::from_str(&format!("Bearer {}", tokens.access_token)).ok();
    let admin = match web.auth.caller(bearer.as_ref()).await {
        Ok(Caller::User(u)) => u.admin,
        _ => return refuse("the provider's token is not one this platform accepts"),
    };
    let next = local(next.as_deref());
    let to = if admin && next == "/" { "/admin".to_owned() } else { next };
    let mut r = Redirect::to(&to).into_response();
    let ttl = tokens.expires_in.unwrap_or(300);
    r.headers_mut().append(header::SET_COOKIE, visit.set_cookie("token", &tokens.access_token, ttl));
    r.headers_mut().append(header::SET_COOKIE, visit.set_cookie("oidc", "", 0));
    r
}

async fn exchange(oidc: &Oidc, code: &str, verifier: &str, redirect_uri: &str) -> anyhow::Result<Tokens> {
    let endpoints = oidc.endpoints().await?;
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier)
        .append_pair("client_id", &oidc.client.client_id)
        .finish();
    let mut request = oidc
        .http
        .post(&endpoints.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(secret) = &oidc.client.client_secret {
        request = request.basic_auth(&oidc.client.client_id, Some(secret.expose_secret()));
    }
    Ok(request.send().await?.error_for_status()?.json().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
