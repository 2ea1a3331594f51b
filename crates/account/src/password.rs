//! Password hashing with argon2id (OWASP's first choice), off the async threads and a few at a
//! time, so a flood of sign-ins cannot take every core.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use tokio::sync::Semaphore;

/// Hashes and checks passwords, at most two at once.
#[derive(Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
    /// A hash of nothing anyone knows: checked when a login has no account, so that answer takes
    /// as long as a wrong password.
    decoy: Arc<String>,
}

/// Hashes `password` with a random salt (argon2id, the crate's default cost).
pub fn hash(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

/// Whether `hash` is a PHC string argon2 can check against.
pub fn is_hash(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok()
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        let mut decoy = [0u8; 24];
        getrandom::fill(&mut decoy).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(Self { slots: Arc::new(Semaphore::new(2)), decoy: Arc::new(hash(&format!("{decoy:?}"))?) })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _slot = self.slots.acquire().await?;
        tokio::task::spawn_blocking(move || hash(&password)).await?
    }

    /// Checks `password` against `hash`, or against the decoy when there is no account, so the
    /// work done is the same either way. Constant-time comparison is argon2's.
    pub async fn check(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let _slot = self.slots.acquire().await?;
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.as_str().to_owned());
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await?;
        Ok(exists && matches)
    }
}
