//! The account service: Skycamp's own sign-in, for the local default and small deployments (the
//! way Grafana or Argo CD keep a local admin beside single sign-on).
//!
//! - Customers sign up with their phone number and a password, and sign in with them.
//! - One built-in admin (`admin`) whose password, or its argon2 hash, comes from a Secret.
//! - A sign-in returns a short-lived token signed with Ed25519 ([`keys`]); every service verifies
//!   it itself against the keys published at `/.well-known/jwks.json`
//!   ([`skycamp_platform::auth`]).
//! - Failed sign-ins lock the login with a doubling backoff; passwords are hashed with argon2id
//!   and compared in constant time; no answer tells whether an account exists.
//!
//! With an OpenID Connect provider (`SKYCAMP_AUTH=oidc`) the provider signs customers in
//! instead, and this service only answers `/accounts/me`.
#![forbid(unsafe_code)]

pub mod domain;
pub mod http;
pub mod keys;
pub mod password;
pub mod store;

use std::time::Duration;

use axum::Router;
use skycamp_platform::clock::Clock;
use skycamp_platform::service::Context;

use crate::keys::SigningKeys;
use crate::store::AccountStore;

/// Settings of the account service.
#[derive(Debug, Clone)]
pub struct Config {
    pub keys: SigningKeys,
    /// The `iss` of the tokens issued here.
    pub issuer: String,
    /// The `aud` of the tokens issued here.
    pub audience: String,
    /// How long a token is good for.
    pub token_ttl: Duration,
    /// The admin's argon2 hash (PHC string); without one nobody can sign in as admin.
    pub admin_password_hash: Option<String>,
    pub clock: Clock,
}

/// Migrates the database and returns the HTTP routes.
pub async fn start(ctx: &Context, config: Config) -> anyhow::Result<Router> {
    ctx.db.migrate(store::MIGRATIONS).await?;
    if config.admin_password_hash.is_none() {
        tracing::warn!("no SKYCAMP_ADMIN_PASSWORD or SKYCAMP_ADMIN_PASSWORD_HASH: nobody can sign in as admin");
    }
    for reason in ["wrong_password", "unknown_login", "locked"] {
        metrics::counter!(skycamp_platform::metrics::LOGIN_FAILURES, "reason" => reason).absolute(0);
    }
    let store = AccountStore::new(ctx.db.clone());
    let (pruned, clock) = (store.clone(), config.clock.clone());
    ctx.spawn_worker(
        "sign-in failure expiry",
        skycamp_platform::time::hourly("stale sign-in failures forgotten", ctx.shutdown.clone(), move || {
            let (store, now) = (pruned.clone(), clock.now_millis());
            async move { store.forget_old_failures(now).await }
        }),
    );
    http::router(store, config).await
}
