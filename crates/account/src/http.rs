//! `POST /accounts` (sign up), `POST /accounts/token` (sign in), `GET /accounts/me`, and the
//! public keys at `GET /.well-known/jwks.json`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use skycamp_contracts::customer::Phone;
use skycamp_platform::auth::Caller;
use skycamp_platform::http::{ApiError, Json};

use crate::Config;
use crate::domain::{self, Login};
use crate::password::Passwords;
use crate::store::AccountStore;

#[derive(Clone)]
struct AppState {
    store: AccountStore,
    config: Config,
    passwords: Passwords,
}

/// The account API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(sign_up, sign_in, me, jwks))]
pub struct Api;

/// Who a token says its holder is (`GET /accounts/me`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The token's `sub`; null when authentication is off.
    subject: Option<String>,
    /// The verified phone number, if any.
    phone: Option<String>,
    admin: bool,
}

/// The answer to a sign-up.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    status: &'static str,
    detail: &'static str,
}

/// The account routes.
pub async fn router(store: AccountStore, config: Config) -> anyhow::Result<Router> {
    let state = AppState { store, config, passwords: Passwords::new()? };
    Ok(Router::new()
        .route("/accounts", post(sign_up))
        .route("/accounts/token", post(sign_in))
        .route("/accounts/me", get(me))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignUp {
    phone: Option<String>,
    password: Option<String>,
}

#[utoipa::path(post, path = "/accounts", tag = "account", request_body = SignUp,
    responses((status = 202, description = "The same for a new and a taken phone", body = Accepted)),
    security((), ("bearer" = [])))]
/// `POST /accounts`: 202 whether or not the phone already had an account, so the answer tells
/// nobody which phones are registered; an existing account is left as it was.
async fn sign_up(State(s): State<AppState>, Json(body): Json<SignUp>) -> Result<Response, ApiError> {
    let required = |f: &str| ApiError::unprocessable(format!("{f} is required"));
    let phone = Phone::parse(&body.phone.ok_or_else(|| required("phone"))?)
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let password = body.password.ok_or_else(|| required("password"))?;
    domain::check_password(&password)?;
    let hash = s.passwords.hash(password).await?;
    s.store.create(phone.as_str(), &hash, s.config.clock.now_millis()).await?;
    let answer = Accepted {
        status: "accepted",
        detail: "if this phone had no account, it has one now: sign in at /accounts/token",
    };
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignIn {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// The claims of a token issued here.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
    roles: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone_number_verified: Option<bool>,
}

#[utoipa::path(post, path = "/accounts/token", tag = "account", request_body = SignIn,
    responses((status = 200, body = TokenAnswer)),
    security((), ("bearer" = [])))]
/// `POST /accounts/token`: a token for the right user name (`admin` or a phone) and password.
/// Wrong and unknown user names get the same 401 after the same work; a login (known or not)
/// with too many failures in a row is locked and gets 429 with `Retry-After`.
async fn sign_in(State(s): State<AppState>, Json(body): Json<SignIn>) -> Result<Response, ApiError> {
    let (Some(username), Some(password)) = (body.username, body.password) else {
        return Err(ApiError::unprocessable("username and password are required"));
    };
    let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password");
    let login = Login::parse(username.trim());
    let key = login.as_ref().map_or_else(|| skycamp_platform::http::clip(username.trim(), 64), |l| l.key().to_owned());
    let now = s.config.clock.now_millis();
    let locked_until = s.store.locked_until(&key).await?;
    if locked_until > now {
        failure("locked");
        let secs = ((locked_until - now) as u64).div_ceil(1000).max(1);
        return Err(ApiError {
            retry_after_secs: Some(secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too many failed sign-ins: wait before trying again")
        });
    }
    let hash = match &login {
        Some(Login::Admin) => s.config.admin_password_hash.clone(),
        Some(Login::Customer(phone)) => s.store.password_hash(phone.as_str()).await?,
        None => None,
    };
    let known = hash.is_some();
    if !s.passwords.check(password, hash).await? {
        failure(if known { "wrong_password" } else { "unknown_login" });
        s.store.failed(&key, now, |n| domain::lock_after(n).as_millis() as i64).await?;
        return Err(wrong());
    }
    s.store.succeeded(&key).await?;
    let login = login.ok_or_else(wrong)?;
    let token = issue(&s.config, &login)?;
    Ok(axum::Json(TokenAnswer { access_token: token, token_type: "Bearer", expires_in: s.config.token_ttl.as_secs() })
        .into_response())
}

/// Counts a failed sign-in by why it failed.
fn failure(reason: &'static str) {
    metrics::counter!(skycamp_platform::metrics::LOGIN_FAILURES, "reason" => reason).increment(1);
}

fn issue(config: &Config, login: &Login) -> anyhow::Result<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let (sub, roles, phone) = match login {
        Login::Admin => (domain::ADMIN.to_owned(), ["admin"], None),
        Login::Customer(p) => (format!("customer:{}", p.as_str()), ["customer"], Some(p.as_str())),
    };
    let claims = Claims {
        iss: &config.issuer,
        aud: &config.audience,
        sub,
        iat: now,
        nbf: now,
        exp: now + config.token_ttl.as_secs(),
        jti: uuid::Uuid::new_v4().to_string(),
        roles,
        phone_number: phone,
        phone_number_verified: phone.map(|_| true),
    };
    config.keys.sign(&claims)
}

#[utoipa::path(get, path = "/accounts/me", tag = "account",
    responses((status = 200, body = Me)),
    security(("bearer" = ["customer", "admin"])))]
/// `GET /accounts/me`: who the token says the caller is.
async fn me(caller: Caller) -> Result<Response, ApiError> {
    match caller {
        Caller::User(u) => {
            Ok(axum::Json(Me { subject: Some(u.subject), phone: u.phone, admin: u.admin }).into_response())
        }
        Caller::Open => Ok(axum::Json(Me { subject: None, phone: None, admin: true }).into_response()),
        Caller::Anonymous => Err(skycamp_platform::auth::unauthenticated()),
    }
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "account",
    responses((status = 200, description = "A JWK Set", body = Object)),
    security((), ("bearer" = [])))]
/// `GET /.well-known/jwks.json`: the public keys tokens are verified with.
async fn jwks(State(s): State<AppState>) -> Response {
    let mut r = axum::Json(s.config.keys.jwks()).into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("max-age=60"));
    r
}
