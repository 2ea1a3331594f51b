//! The keys Skycamp signs its own tokens with: Ed25519, from a Secret, rotated by listing.
//!
//! `SKYCAMP_TOKEN_KEYS` holds one or more keys separated by commas, each the base64url of a
//! 32-byte Ed25519 seed (`skycamp token-key` prints a new one). The first key signs; every key
//! listed is published at `/.well-known/jwks.json`, so rotation is: put a new key first, keep the
//! old one until the tokens it signed have expired, then drop it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest as _, Sha256};

/// One signing key and its id.
#[derive(Clone)]
struct Key {
    kid: String,
    public: [u8; 32],
    encoding: EncodingKey,
}

/// The signing keys, newest (the one that signs) first.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<Key>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("SigningKeys").field("kids", &kids).finish()
    }
}

impl SigningKeys {
    /// Parses `SKYCAMP_TOKEN_KEYS`: base64url seeds separated by commas, the signing one first.
    pub fn parse(secret: &SecretString) -> anyhow::Result<Self> {
        let mut keys = Vec::new();
        for (n, part) in secret.expose_secret().split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
            let seed: [u8; 32] = URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow::anyhow!("key {} is not the base64url of 32 bytes", n + 1))?;
            keys.push(Self::key(&seed)?);
        }
        anyhow::ensure!(!keys.is_empty(), "no key given");
        Ok(Self { keys })
    }

    /// A new random key, as `SKYCAMP_TOKEN_KEYS` would hold it.
    pub fn generate() -> anyhow::Result<SecretString> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        Ok(SecretString::from(URL_SAFE_NO_PAD.encode(seed)))
    }

    fn key(seed: &[u8; 32]) -> anyhow::Result<Key> {
        let signing = SigningKey::from_bytes(seed);
        let der = signing.to_pkcs8_der().map_err(|e| anyhow::anyhow!("encoding the key: {e}"))?;
        let public = signing.verifying_key().to_bytes();
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
        Ok(Key { kid, public, encoding: EncodingKey::from_ed_der(der.as_bytes()) })
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &impl serde::Serialize) -> anyhow::Result<String> {
        let key = &self.keys[0];
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// Every key's public half, as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": k.kid, "x": URL_SAFE_NO_PAD.encode(k.public),
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_key_is_published_and_the_first_signs() {
        let (a, b) = (SigningKeys::generate().unwrap(), SigningKeys::generate().unwrap());
        let both = SecretString::from(format!("{},{}", a.expose_secret(), b.expose_secret()));
        let keys = SigningKeys::parse(&both).unwrap();
        let jwks = keys.jwks();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
        let token = keys.sign(&serde_json::json!({"sub": "x"})).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), jwks["keys"][0]["kid"].as_str());
        assert_eq!(header.alg, Algorithm::EdDSA);
    }

    #[test]
    fn a_bad_key_is_refused_with_its_position() {
        let bad = SecretString::from("c2hvcnQ".to_owned());
        assert_eq!(SigningKeys::parse(&bad).unwrap_err().to_string(), "key 1 is not the base64url of 32 bytes");
    }
}
