//! Who is calling, and what they may do (`docs/SECURITY.md`, ADR 14).
//!
//! Every service runs [`identify`] in front of its routes: a bearer token is verified here, in
//! each process, against the issuer's published keys (JWKS); nothing is trusted because of where
//! the request came from. The result is a [`Caller`] in the request's extensions, which handlers
//! take as an extractor and ask: [`Caller::admin`] for operator endpoints, [`Caller::act_for`]
//! for a customer's own things. A token that fails verification is answered 401 before any
//! handler runs.
//!
//! The same verifier serves both sources of tokens: Skycamp's own account service (its JWKS URL
//! is given directly) and any OpenID Connect provider (its JWKS URL comes from the issuer's
//! discovery document). Keys are cached by `kid`; an unknown `kid` refetches the set (at most
//! every [`REFETCH_AFTER`]), so a provider's key rotation is picked up without a restart. Only
//! asymmetric algorithms are accepted, and a key is only ever used with its own family: `alg:
//! none` does not parse, and a public key can never be used as an HMAC secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use skycamp_contracts::customer::Phone;

use crate::http::ApiError;

/// The shortest time between two fetches of the key set.
pub const REFETCH_AFTER: Duration = Duration::from_secs(10);

/// How long a fetched key set is used before it is fetched again.
const KEYS_TTL: Duration = Duration::from_secs(300);

/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;

/// The caller of one request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Authentication is off (`SKYCAMP_AUTH=off`): everyone may do everything, as in the seeds.
    Open,
    /// No token was sent.
    Anonymous,
    /// A verified token.
    User(User),
}

/// What a verified token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The token's `sub`.
    pub subject: String,
    /// The verified phone number (normalized), when the token carries one.
    pub phone: Option<String>,
    /// Whether the roles claim names the admin role.
    pub admin: bool,
}

impl Caller {
    /// Ok for an admin (or when authentication is off); 401 without a token, 403 otherwise.
    pub fn admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Open => Ok(()),
            Self::User(u) if u.admin => Ok(()),
            Self::Anonymous => Err(unauthenticated()),
            Self::User(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "only an admin may do this")),
        }
    }

    /// Ok when the caller may act for the customer with `phone` (normalized): that customer
    /// themselves, or an admin. 401 without a token; 403 for anyone else, and for a customer
    /// whose token carries no verified phone number.
    pub fn act_for(&self, phone: &str) -> Result<(), ApiError> {
        match self {
            Self::Open => Ok(()),
            Self::User(u) if u.admin => Ok(()),
            Self::User(User { phone: Some(own), .. }) if own == phone => Ok(()),
            Self::Anonymous => Err(unauthenticated()),
            Self::User(User { phone: None, .. }) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "your account has no verified phone number; a customer is known by their phone",
            )),
            Self::User(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "this belongs to another customer")),
        }
    }

    /// The signed-in customer's own verified phone: what a request that names no customer is
    /// about. 401 without a token; 403 when the token carries no verified phone.
    pub fn customer_phone(&self) -> Result<&str, ApiError> {
        match self {
            Self::User(User { phone: Some(p), .. }) => Ok(p),
            Self::Anonymous => Err(unauthenticated()),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "name the customer: this account has no verified phone number of its own",
            )),
        }
    }

    /// Whose things a request is about. A phone the request names must be the caller's own, unless
    /// the caller is an admin (one that does not parse is passed on as it is, for the handler's own
    /// validation to refuse with the rest of the request); a request that names nobody is about
    /// the signed-in customer; None when an admin (or anyone, with authentication off) names
    /// nobody. 401 without a token; 403 for another customer's phone, or for a customer whose
    /// token carries no verified phone and names nobody.
    pub fn whose(&self, named: Option<String>) -> Result<Option<String>, ApiError> {
        self.signed_in()?;
        match named {
            Some(named) => {
                if let Ok(phone) = Phone::parse(&named) {
                    self.act_for(phone.as_str())?;
                }
                Ok(Some(named))
            }
            None if self.sees_all() => Ok(None),
            None => self.customer_phone().map(|p| Some(p.to_owned())),
        }
    }

    /// Ok for anyone who sent a good token (or when authentication is off); 401 otherwise.
    pub fn signed_in(&self) -> Result<(), ApiError> {
        match self {
            Self::Anonymous => Err(unauthenticated()),
            _ => Ok(()),
        }
    }

    /// The customer's own phone when the caller is a signed-in customer (not an admin): what a
    /// request that names no customer is about.
    pub fn own_phone(&self) -> Option<&str> {
        match self {
            Self::User(User { phone: Some(p), admin: false, .. }) => Some(p),
            _ => None,
        }
    }

    /// True when the caller may see everyone's things (an admin, or authentication off).
    pub fn sees_all(&self) -> bool {
        matches!(self, Self::Open) || matches!(self, Self::User(u) if u.admin)
    }

    /// What `Idempotency-Key`s are scoped by: one caller's key never replays another's answer.
    pub fn scope(&self) -> &str {
        match self {
            Self::Open | Self::Anonymous => "",
            Self::User(u) => &u.subject,
        }
    }
}

/// 401 with `WWW-Authenticate: Bearer`.
pub fn unauthenticated() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "sign in first: this needs a bearer token")
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    /// The caller [`identify`] found; anonymous when it did not run (fail closed).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned().unwrap_or(Caller::Anonymous))
    }
}

/// Axum middleware for operator endpoints: only an admin gets through (401 without a token, 403
/// for a customer).
pub async fn admin_only(caller: Caller, request: Request, next: Next) -> Response {
    match caller.admin() {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Where a verifier gets the issuer's public keys.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// JWKS URLs, one per instance of Skycamp's account service: the first that answers is used.
    Jwks(Vec<String>),
    /// `{issuer}/.well-known/openid-configuration`, whose `jwks_uri` names the key set.
    Discovery,
}

/// What a token must say to be accepted, and how roles are read from it.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The exact `iss` expected (for OIDC, also where discovery starts).
    pub issuer: String,
    /// An `aud` the token must name.
    pub audience: String,
    /// The claim holding the roles: a dotted path (`realm_access.roles`), whose value is an
    /// array of strings or one space-separated string.
    pub roles_claim: String,
    /// The role that makes a caller an admin.
    pub admin_role: String,
    pub keys: KeySource,
}

/// How a request is authenticated: not at all, or by verifying bearer tokens.
#[derive(Clone)]
pub struct Auth(Option<Arc<Verifier>>);

impl Auth {
    /// Authentication off: every caller is [`Caller::Open`].
    pub fn off() -> Self {
        Self(None)
    }

    /// Bearer tokens verified against `rules`.
    pub fn verifying(rules: Rules) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        Ok(Self(Some(Arc::new(Verifier {
            rules,
            http,
            cache: Mutex::new(Cache::default()),
            fetch: Default::default(),
        }))))
    }

    pub fn is_off(&self) -> bool {
        self.0.is_none()
    }

    /// The caller a request's `Authorization` header makes.
    pub async fn caller(&self, authorization: Option<&HeaderValue>) -> Result<Caller, Refusal> {
        let Some(verifier) = &self.0 else { return Ok(Caller::Open) };
        let Some(value) = authorization else { return Ok(Caller::Anonymous) };
        let value = value.to_str().map_err(|_| Refusal::Invalid("the Authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::Invalid("the Authorization header must be `Bearer <token>`"))?;
        verifier.verify(token).await.map(Caller::User)
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 401: the token is not one we accept (the reason is safe to tell).
    #[error("{0}")]
    Invalid(&'static str),
    /// 503: the issuer's keys cannot be fetched right now.
    #[error("the token issuer's keys cannot be fetched right now")]
    KeysUnavailable,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(why) => ApiError::new(StatusCode::UNAUTHORIZED, format!("invalid token: {why}")),
            Refusal::KeysUnavailable => ApiError::unavailable(r.to_string(), 5),
        }
    }
}

/// Axum middleware: puts the request's [`Caller`] in its extensions, or answers 401 (problem+json,
/// `WWW-Authenticate: Bearer`) for a token that does not verify.
pub async fn identify(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    match auth.caller(request.headers().get(header::AUTHORIZATION)).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(refusal) => ApiError::from(refusal).into_response(),
    }
}

/// Verifies tokens against one issuer's keys.
struct Verifier {
    rules: Rules,
    http: reqwest::Client,
    cache: Mutex<Cache>,
    /// Held while the key set is fetched, so concurrent misses fetch it once.
    fetch: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

/// The claims read from a token (the rest are ignored).
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    phone_number: Option<String>,
    phone_number_verified: Option<serde_json::Value>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Verifier {
    async fn verify(&self, token: &str) -> Result<User, Refusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal::Invalid("malformed token"))?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(Refusal::Invalid("only asymmetric signatures are accepted"));
        }
        let kid = header.kid.unwrap_or_default();
        let (key, alg) =
            self.key(&kid).await?.ok_or(Refusal::Invalid("signed with a key the issuer does not publish"))?;
        if alg != header.alg {
            return Err(Refusal::Invalid("the token's algorithm does not match its key"));
        }
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.rules.issuer]);
        validation.set_audience(&[&self.rules.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                Refusal::Invalid(match e.kind() {
                    K::ExpiredSignature => "expired",
                    K::ImmatureSignature => "not valid yet",
                    K::InvalidIssuer => "wrong issuer",
                    K::InvalidAudience => "wrong audience",
                    K::InvalidSignature => "bad signature",
                    K::MissingRequiredClaim(_) => "a required claim is missing",
                    _ => "it could not be verified",
                })
            })?
            .claims;
        Ok(self.user(claims))
    }

    fn user(&self, claims: Claims) -> User {
        let verified = matches!(claims.phone_number_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&claims.phone_number_verified, Some(serde_json::Value::String(s)) if s == "true");
        let phone =
            claims.phone_number.filter(|_| verified).and_then(|p| Phone::parse(&p).ok()).map(|p| p.as_str().to_owned());
        let admin = roles(&claims.rest, &self.rules.roles_claim).iter().any(|r| r == &self.rules.admin_role);
        User { subject: claims.sub, phone, admin }
    }

    /// The key for `kid` (any key when the token names none and the set has one), fetching the
    /// set when it is stale or the key is unknown.
    async fn key(&self, kid: &str) -> Result<Option<(DecodingKey, Algorithm)>, Refusal> {
        let (found, stale, may_refetch) = self.lookup(kid);
        if found.is_some() && !stale {
            return Ok(found);
        }
        if found.is_none() && !may_refetch && !stale {
            return Ok(None);
        }
        let _one = self.fetch.lock().await;
        let (again, still_stale, _) = self.lookup(kid);
        if again.is_some() && !still_stale {
            return Ok(again);
        }
        match self.fetch_keys().await {
            Ok(keys) => {
                let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.keys = keys;
                cache.fetched = Some(Instant::now());
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "fetching the token issuer's keys failed");
                self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).fetched = Some(Instant::now());
                // Keys we had keep working while the issuer is unreachable.
                return if again.is_some() { Ok(again) } else { Err(Refusal::KeysUnavailable) };
            }
        }
        Ok(self.lookup(kid).0)
    }

    /// (the key, whether the set is past its TTL, whether a refetch is allowed now)
    fn lookup(&self, kid: &str) -> (Option<(DecodingKey, Algorithm)>, bool, bool) {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = match cache.keys.get(kid) {
            Some(k) => Some(k.clone()),
            None if kid.is_empty() && cache.keys.len() == 1 => cache.keys.values().next().cloned(),
            None => None,
        };
        let age = cache.fetched.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a > KEYS_TTL);
        let may_refetch = age.is_none_or(|a| a > REFETCH_AFTER);
        (found, stale, may_refetch)
    }

    async fn fetch_keys(&self) -> anyhow::Result<HashMap<String, (DecodingKey, Algorithm)>> {
        let jwks_uris = match &self.rules.keys {
            KeySource::Jwks(urls) => urls.clone(),
            KeySource::Discovery => {
                #[derive(Deserialize)]
                struct Discovery {
                    issuer: String,
                    jwks_uri: String,
                }
                let url = format!("{}/.well-known/openid-configuration", self.rules.issuer.trim_end_matches('/'));
                let doc: Discovery = self.http.get(&url).send().await?.error_for_status()?.json().await?;
                anyhow::ensure!(doc.issuer == self.rules.issuer, "discovery names issuer {}, not ours", doc.issuer);
                vec![doc.jwks_uri]
            }
        };
        let mut last = anyhow::anyhow!("no JWKS URL configured");
        for uri in &jwks_uris {
            match self.fetch_set(uri).await {
                Ok(set) => return Ok(usable_keys(&set)),
                Err(e) => last = e.context(format!("GET {uri}")),
            }
        }
        Err(last)
    }

    async fn fetch_set(&self, uri: &str) -> anyhow::Result<JwkSet> {
        Ok(self.http.get(uri).send().await?.error_for_status()?.json().await?)
    }
}

/// The asymmetric signing keys of a set, by `kid`, each with the one algorithm it is used with.
pub fn usable_keys(set: &JwkSet) -> HashMap<String, (DecodingKey, Algorithm)> {
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature) {
            continue;
        }
        let declared = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
        let alg = match (&jwk.algorithm, declared) {
            (AlgorithmParameters::OctetKey(_), _) | (AlgorithmParameters::Other(_), _) => continue,
            (_, Some(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)) => continue,
            (_, Some(alg)) => alg,
            (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(p), None) => match p.curve {
                jsonwebtoken::jwk::EllipticCurve::P384 => Algorithm::ES384,
                _ => Algorithm::ES256,
            },
            (AlgorithmParameters::OctetKeyPair(_), None) => Algorithm::EdDSA,
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(jwk.common.key_id.clone().unwrap_or_default(), (key, alg));
        }
    }
    keys
}

/// The strings at a dotted claim path: an array of strings, or one space-separated string.
fn roles(claims: &serde_json::Map<String, serde_json::Value>, path: &str) -> Vec<String> {
    let mut parts = path.split('.');
    let Some(first) = parts.next() else { return Vec::new() };
    let mut value = claims.get(first);
    for part in parts {
        value = value.and_then(|v| v.get(part));
    }
    match value {
        Some(serde_json::Value::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(json: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        json.as_object().unwrap().clone()
    }

    #[test]
    fn roles_come_from_a_dotted_claim_as_an_array_or_a_string() {
        let c = claims(serde_json::json!({"realm_access": {"roles": ["admin", "x"]}, "scope": "a b"}));
        assert_eq!(roles(&c, "realm_access.roles"), ["admin", "x"]);
        assert_eq!(roles(&c, "scope"), ["a", "b"]);
        assert!(roles(&c, "missing.path").is_empty());
    }

    #[test]
    fn only_an_admin_or_the_customer_may_act_for_a_phone() {
        let a = Caller::User(User { subject: "a".into(), phone: Some("01011112222".into()), admin: false });
        let admin = Caller::User(User { subject: "root".into(), phone: None, admin: true });
        let nophone = Caller::User(User { subject: "n".into(), phone: None, admin: false });
        assert!(a.act_for("01011112222").is_ok());
        assert_eq!(a.act_for("01033334444").unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(nophone.act_for("01011112222").unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(Caller::Anonymous.act_for("01011112222").unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert!(admin.act_for("01033334444").is_ok() && admin.admin().is_ok());
        assert_eq!(a.admin().unwrap_err().status, StatusCode::FORBIDDEN);
        assert!(Caller::Open.admin().is_ok() && Caller::Open.act_for("x").is_ok());
    }

    #[tokio::test]
    async fn keys_come_from_the_first_account_instance_that_answers() {
        use base64::Engine as _;
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes());
        let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "k1", "x": x}]});
        let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { axum::Json(jwks) }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });

        let rules = Rules {
            issuer: "skycamp".into(),
            audience: "skycamp".into(),
            roles_claim: "roles".into(),
            admin_role: "admin".into(),
            // The first instance is down (nothing listens on the discard port).
            keys: KeySource::Jwks(vec!["http://127.0.0.1:9/jwks".into(), up]),
        };
        let auth = Auth::verifying(rules).unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let key = jsonwebtoken::EncodingKey::from_ed_der(signing.to_pkcs8_der().unwrap().as_bytes());
        let claims = serde_json::json!({"iss": "skycamp", "aud": "skycamp", "sub": "admin", "exp": 4_000_000_000u64, "roles": ["admin"]});
        let token = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        match auth.caller(Some(&value)).await {
            Ok(Caller::User(u)) => assert!(u.admin && u.subject == "admin"),
            other => panic!("expected the admin, got {other:?}"),
        }
    }

    #[test]
    fn a_request_is_about_the_named_customer_or_the_callers_own() {
        let a = Caller::User(User { subject: "a".into(), phone: Some("01011112222".into()), admin: false });
        let admin = Caller::User(User { subject: "root".into(), phone: None, admin: true });
        let nophone = Caller::User(User { subject: "n".into(), phone: None, admin: false });
        assert_eq!(a.whose(None).unwrap().as_deref(), Some("01011112222"));
        assert_eq!(a.whose(Some("010-1111-2222".into())).unwrap().as_deref(), Some("010-1111-2222"));
        assert_eq!(a.whose(Some("01033334444".into())).unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(a.whose(Some("not a phone".into())).unwrap().as_deref(), Some("not a phone"));
        assert_eq!(admin.whose(None).unwrap(), None);
        assert_eq!(admin.whose(Some("01033334444".into())).unwrap().as_deref(), Some("01033334444"));
        assert_eq!(nophone.whose(None).unwrap_err().status, StatusCode::FORBIDDEN);
        assert_eq!(Caller::Anonymous.whose(None).unwrap_err().status, StatusCode::UNAUTHORIZED);
        assert_eq!(Caller::Open.whose(None).unwrap(), None);
    }

    #[test]
    fn hmac_keys_in_a_key_set_are_never_used() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "e", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
        ]}))
        .unwrap();
        let keys = usable_keys(&set);
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["e"]);
        assert_eq!(keys["e"].1, Algorithm::EdDSA);
    }
}
