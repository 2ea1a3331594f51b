//! Who is visiting: the language, and the signed-in person.
//!
//! Signing in asks the account service for a token (`POST /accounts/token`, the same as any
//! client) and keeps it in the `token` cookie: `HttpOnly` (no script reads it), `SameSite=Lax`
//! (no other site's form sends it), `Secure` behind HTTPS, and as long-lived as the token. Every
//! request verifies it again (the same verifier as the API's); one that no longer verifies is
//! treated as signed out. With authentication off (`SKYCAMP_AUTH=off`, the seeds' mode) there is
//! nobody to sign in: the visitor names the customer to act as, kept in the `phone` cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use skycamp_contracts::customer::Phone;
use skycamp_platform::auth::Caller;

use crate::api::Api;
use crate::forms::{Field, FormPage};
use crate::{Lang, State, Web};

/// The value of cookie `name`, if the request carries it.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// One visit: who, in which language, from where.
#[derive(Clone)]
pub struct Visit {
    pub lang: Lang,
    pub caller: Caller,
    pub token: Option<String>,
    /// The customer this visit acts for: the token's verified phone, or with authentication off
    /// the one the visitor named.
    pub phone: Option<String>,
    /// The path and query of this page (where a sign-in comes back to).
    pub path: String,
    pub peer: Option<ConnectInfo<SocketAddr>>,
    /// Whether the site is served over HTTPS (cookies are then `Secure`).
    pub https: bool,
}

impl Visit {
    pub fn auth_off(&self) -> bool {
        matches!(self.caller, Caller::Open)
    }

    pub fn signed_in(&self) -> bool {
        !matches!(self.caller, Caller::Anonymous)
    }

    /// An admin, or anyone with authentication off.
    pub fn admin(&self) -> bool {
        self.caller.sees_all()
    }

    /// What the header says about who is signed in.
    pub fn who(&self) -> String {
        match &self.caller {
            Caller::User(u) if u.admin => "admin".to_owned(),
            _ => self.phone.clone().unwrap_or_default(),
        }
    }

    /// A `Set-Cookie` value for this site.
    pub fn set_cookie(&self, name: &str, value: &str, max_age_secs: u64) -> HeaderValue {
        let secure = if self.https { "; Secure" } else { "" };
        let v = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}");
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
    }

    /// Sends the visitor to sign in, coming back here afterwards.
    pub fn to_sign_in(&self) -> Response {
        let next = form_urlencoded::byte_serialize(self.path.as_bytes()).collect::<String>();
        Redirect::to(&format!("/signin?next={next}")).into_response()
    }
}

impl FromRequestParts<Arc<Web>> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let lang = Lang::negotiate(headers);
        let token = cookie(headers, "token").filter(|t| !t.is_empty());
        let bearer = token.as_ref().and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok());
        let caller = match web.auth.caller(bearer.as_ref()).await {
            Ok(caller) => caller,
            // Expired, revoked by a key rotation, or not a token at all: signed out.
            Err(_) => Caller::Anonymous,
        };
        let token = token.filter(|_| matches!(caller, Caller::User(_)));
        let phone = match &caller {
            Caller::User(u) => u.phone.clone(),
            Caller::Open => cookie(headers, "phone").and_then(|p| Phone::parse(&p).ok()).map(|p| p.as_str().to_owned()),
            Caller::Anonymous => None,
        };
        let path = parts.uri.path_and_query().map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let forwarded = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok());
        Ok(Self {
            lang,
            caller,
            token,
            phone,
            path,
            peer: parts.extensions.get::<ConnectInfo<SocketAddr>>().cloned(),
            https: forwarded == Some("https") || parts.uri.scheme_str() == Some("https"),
        })
    }
}

/// A path on this site to go back to; anything else (another site, `//evil`) becomes `/`.
pub fn local(path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains(['\\', '\r', '\n']) => p.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
pub struct Switch {
    to: Option<String>,
    back: Option<String>,
}

/// `GET /lang?to=en&back=/my/reservations`: remembers the language for a year.
pub async fn switch_language(visit: Visit, Query(q): Query<Switch>) -> Response {
    let lang = q.to.as_deref().and_then(Lang::parse).unwrap_or(visit.lang.other());
    let mut r = Redirect::to(&local(q.back.as_deref())).into_response();
    r.headers_mut().insert(header::SET_COOKIE, visit.set_cookie("lang", lang.code(), 365 * 24 * 3600));
    r
}

#[derive(Deserialize, Default)]
pub struct SignInForm {
    username: Option<String>,
    password: Option<String>,
    phone: Option<String>,
    next: Option<String>,
    signed_up: Option<String>,
}

fn sign_in_page(web: &Web, visit: &Visit, form: &SignInForm, error: Option<(String, String)>) -> FormPage {
    let t = visit.lang;
    let mut page = FormPage::new(visit, t.s("sign_in"), "/signin", t.s("sign_in"));
    if web.oidc.is_some() {
        // Passwords are the provider's: the page only sends the visitor there.
        let next = crate::api::encode(&local(form.next.as_deref()));
        page.provider = Some(format!("/signin/oidc?next={next}"));
        return page;
    }
    if visit.auth_off() {
        page.notice = Some(t.s("act_as_hint").to_owned());
        page.fields.push(Field::text("phone", t.s("phone"), form.phone.clone()).kind("tel").autocomplete("tel"));
    } else {
        page.fields
            .push(Field::text("username", t.s("username"), form.username.clone()).autocomplete("username").required());
        page.fields.push(
            Field::text("password", t.s("password"), None).kind("password").autocomplete("current-password").required(),
        );
        page.aside = Some(("/signup", t.s("sign_up")));
    }
    if form.signed_up.is_some() {
        page.notice = Some(t.s("signed_up").to_owned());
    }
    page.hidden.push(("next", local(form.next.as_deref())));
    if let Some((field, detail)) = error {
        page.attach(&field, detail);
    }
    page
}

/// `GET /signin`.
pub async fn sign_in_form(state: State, visit: Visit, Query(form): Query<SignInForm>) -> Response {
    sign_in_page(&state.0, &visit, &form, None).into_response()
}

/// `POST /signin`: a token from the account service in a cookie, then back where the visitor was.
pub async fn sign_in(state: State, visit: Visit, axum::Form(form): axum::Form<SignInForm>) -> Response {
    let web = &state.0;
    let next = local(form.next.as_deref());
    if visit.auth_off() {
        return match Phone::parse(form.phone.as_deref().unwrap_or("")) {
            Ok(phone) => {
                let mut r = Redirect::to(&next).into_response();
                r.headers_mut().insert(header::SET_COOKIE, visit.set_cookie("phone", phone.as_str(), 30 * 24 * 3600));
                r
            }
            Err(e) => refused(sign_in_page(web, &visit, &form, Some(("phone".into(), e.to_string())))),
        };
    }
    let body = serde_json::json!({ "username": form.username, "password": form.password });
    match Api::new(web, &visit).send(Method::POST, "/accounts/token", Some(body), None).await {
        Ok(answer) => {
            let token = answer["access_token"].as_str().unwrap_or_default();
            let ttl = answer["expires_in"].as_u64().unwrap_or(900);
            let bearer = HeaderValue::from_str(&format!("Bearer {token}")).ok();
            let admin = matches!(web.auth.caller(bearer.as_ref()).await, Ok(Caller::User(u)) if u.admin);
            let to = if admin && next == "/" { "/admin".to_owned() } else { next };
            let mut r = Redirect::to(&to).into_response();
            r.headers_mut().insert(header::SET_COOKIE, visit.set_cookie("token", token, ttl));
            r
        }
        Err(p) if p.is_form_error() || p.status == StatusCode::UNAUTHORIZED => {
            refused(sign_in_page(web, &visit, &form, Some(("password".into(), p.detail))))
        }
        Err(p) => p.page(&visit),
    }
}

/// A form shown again with its errors: 422.
fn refused(page: FormPage) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
}

#[derive(Deserialize, Default)]
pub struct SignUpForm {
    phone: Option<String>,
    password: Option<String>,
}

fn sign_up_page(visit: &Visit, form: &SignUpForm, error: Option<(String, String)>) -> FormPage {
    let t = visit.lang;
    let mut page = FormPage::new(visit, t.s("sign_up"), "/signup", t.s("sign_up"));
    page.fields.push(Field::text("phone", t.s("phone"), form.phone.clone()).kind("tel").autocomplete("tel").required());
    page.fields.push(
        Field::text("password", t.s("password"), None)
            .kind("password")
            .autocomplete("new-password")
            .hint(t.s("password_hint"))
            .attrs("minlength=\"8\" maxlength=\"128\"")
            .required(),
    );
    if let Some((field, detail)) = error {
        page.attach(&field, detail);
    }
    page
}

/// `GET /signup`.
pub async fn sign_up_form(state: State, visit: Visit) -> Response {
    if visit.auth_off() || state.0.oidc.is_some() {
        return Redirect::to("/signin").into_response();
    }
    sign_up_page(&visit, &SignUpForm::default(), None).into_response()
}

/// `POST /signup`: the account service answers the same for a new and a taken phone.
pub async fn sign_up(state: State, visit: Visit, axum::Form(form): axum::Form<SignUpForm>) -> Response {
    let body = serde_json::json!({ "phone": form.phone, "password": form.password });
    match Api::new(&state.0, &visit).send(Method::POST, "/accounts", Some(body), None).await {
        Ok(_) => Redirect::to("/signin?signed_up=1").into_response(),
        Err(p) if p.is_form_error() => refused(sign_up_page(&visit, &form, Some(("phone".into(), p.detail)))),
        Err(p) => p.page(&visit),
    }
}

/// `POST /signout`: forgets the token (and, with authentication off, the customer).
pub async fn sign_out(visit: Visit) -> Response {
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(header::SET_COOKIE, visit.set_cookie("token", "", 0));
    r.headers_mut().append(header::SET_COOKIE, visit.set_cookie("phone", "", 0));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_followed_after_sign_in() {
        assert_eq!(local(Some("/my/reservations?x=1")), "/my/reservations?x=1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", "evil", "/a\r\nSet-Cookie: x"] {
            assert_eq!(local(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local(None), "/");
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("xtoken=1; token=abc; lang=en"));
        assert_eq!(cookie(&h, "token").as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "phone"), None);
    }
}
