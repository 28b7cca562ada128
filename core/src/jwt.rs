//! Access tokens: short-lived JWTs signed with Ed25519 (`alg: EdDSA`).
//!
//! Verification accepts exactly one algorithm, requires a `kid` naming a key
//! of this server, and checks signature, issuer, audience and expiry before
//! any claim is trusted. Keys live in the database so that every instance
//! signs with the same key and publishes the same JWKS.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{
    cache::ReadCache,
    store::{SigningKeyRow, Store, StoreError},
    token::TokenHash,
};

/// Claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The login (token family) this token belongs to; revoking the family
    /// rejects its access tokens at once.
    pub sid: String,
    /// Space-separated granted scopes.
    pub scope: String,
}

impl AccessClaims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_ascii_whitespace().any(|granted| granted == scope)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not generate a signing key")]
    Generate,
    #[error("stored signing key {kid} is damaged")]
    Damaged { kid: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not sign the token: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

/// Reason a presented access token was rejected. The variants are for logs;
/// clients only learn that the token is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("missing or unknown key id")]
    UnknownKey,
    #[error("token rejected: {0}")]
    Rejected(String),
}

#[derive(Clone)]
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
}

#[derive(Clone)]
struct PublishedKey {
    kid: String,
    public_key: Vec<u8>,
    decoding: DecodingKey,
}

#[derive(Default)]
struct Keys {
    signing: Option<SigningKey>,
    published: HashMap<String, PublishedKey>,
    loaded_at: Option<std::time::Instant>,
}

/// The signing keys of this deployment and the access-token settings.
#[derive(Clone)]
pub struct KeyRing {
    store: Store,
    issuer: String,
    audience: String,
    ttl: Duration,
    keys: Arc<RwLock<Keys>>,
    /// Claims of tokens whose signature was checked, by token hash, for the
    /// store's read cache lifetime. Verification depends only on the token
    /// and the published keys, so a hit repeats the time check alone.
    verified: Arc<ReadCache<TokenHash, AccessClaims>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// Shortest time between two reloads caused by an unknown `kid`, so that
/// tokens with made-up key ids cannot turn into a database load.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Clock skew allowed when checking `exp`.
const LEEWAY_SECONDS: u64 = 5;

impl KeyRing {
    /// Loads the keys, generating the first one if the database has none.
    pub async fn load(store: Store, issuer: String, audience: String, ttl: Duration) -> Result<Self, KeyError> {
        let verified = Arc::new(ReadCache::new(store.read_cache_ttl()));
        let ring = Self {
            store,
            issuer,
            audience,
            ttl,
            keys: Arc::default(),
            verified,
        };
        if ring
            .store
            .signing_keys()
            .await?
            .iter()
            .all(|key| key.retired_at.is_some())
        {
            ring.rotate().await?;
        }
        ring.reload().await?;
        Ok(ring)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Adds a new signing key and retires the current one. Tokens signed by
    /// retired keys stay valid until they expire; the keys stay published
    /// that long.
    pub async fn rotate(&self) -> Result<String, KeyError> {
        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyError::Generate)?;
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).map_err(|_| KeyError::Generate)?;
        let public_key = pair.public_key().as_ref().to_vec();
        let kid = key_id(&public_key);
        self.store
            .insert_signing_key(&kid, document.as_ref(), &public_key, OffsetDateTime::now_utc())
            .await?;
        self.reload().await?;
        tracing::info!(kid = %kid, "new signing key in use");
        Ok(kid)
    }

    /// Reads the keys from the database: the newest unretired one signs, and
    /// retired ones stay published while tokens they signed may be valid.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let now = OffsetDateTime::now_utc();
        let rows = self.store.signing_keys().await?;
        let keep_until = |row: &SigningKeyRow| {
            row.retired_at
                .map(|retired| retired + self.ttl + Duration::from_secs(60))
        };

        let mut keys = Keys {
            loaded_at: Some(std::time::Instant::now()),
            ..Keys::default()
        };
        for row in rows {
            if keep_until(&row).is_some_and(|until| until < now) {
                continue;
            }
            if row.retired_at.is_none() {
                // Rows come newest first, so the first unretired one signs.
                if keys.signing.is_none() {
                    keys.signing = Some(SigningKey {
                        kid: row.kid.clone(),
                        encoding: EncodingKey::from_ed_der(&row.private_key),
                    });
                }
            }
            if row.public_key.len() != 32 {
                return Err(KeyError::Damaged { kid: row.kid });
            }
            keys.published.insert(
                row.kid.clone(),
                PublishedKey {
                    kid: row.kid,
                    decoding: DecodingKey::from_ed_der(&row.public_key),
                    public_key: row.public_key,
                },
            );
        }
        *self.keys.write().expect("key lock poisoned") = keys;
        Ok(())
    }

    /// Signs an access token for `user_id` in the login `sid`.
    pub fn issue(&self, user_id: &str, sid: &str, scope: &str) -> Result<(String, AccessClaims), KeyError> {
        let signing = self.keys.read().expect("key lock poisoned").signing.clone();
        let signing = signing.ok_or(KeyError::Generate)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id.to_owned(),
            aud: self.audience.clone(),
            exp: now + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX),
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            sid: sid.to_owned(),
            scope: scope.to_owned(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signing.kid);
        header.typ = Some("at+jwt".to_owned());
        let token = encode(&header, &claims, &signing.encoding).map_err(KeyError::Sign)?;
        Ok((token, claims))
    }

    /// Checks a token's algorithm, key, signature, issuer, audience and
    /// expiry, and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, InvalidToken> {
        let hash = TokenHash::of(token);
        if let Some(claims) = self.verified.get(&hash) {
            let now = OffsetDateTime::now_utc().unix_timestamp();
            if claims.exp.saturating_add(LEEWAY_SECONDS as i64) <= now {
                return Err(InvalidToken::Rejected("ExpiredSignature".to_owned()));
            }
            return Ok(claims);
        }

        let ticket = self.verified.ticket();
        let header = decode_header(token).map_err(|_| InvalidToken::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(InvalidToken::Algorithm);
        }
        let kid = header.kid.ok_or(InvalidToken::UnknownKey)?;
        let key = match self.published_key(&kid) {
            Some(key) => key,
            None => {
                self.reload_for_unknown_key().await;
                self.published_key(&kid).ok_or(InvalidToken::UnknownKey)?
            }
        };

        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        let data = decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|error| InvalidToken::Rejected(error.to_string()))?;
        self.verified.fill(ticket, hash, data.claims.clone());
        Ok(data.claims)
    }

    fn published_key(&self, kid: &str) -> Option<PublishedKey> {
        self.keys.read().expect("key lock poisoned").published.get(kid).cloned()
    }

    async fn reload_for_unknown_key(&self) {
        let recently = self
            .keys
            .read()
            .expect("key lock poisoned")
            .loaded_at
            .is_some_and(|loaded| loaded.elapsed() < MIN_RELOAD_INTERVAL);
        if !recently {
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, "reloading signing keys failed");
            }
        }
    }

    /// Returns the public keys as a JSON Web Key Set (RFC 7517, RFC 8037).
    pub fn jwks(&self) -> serde_json::Value {
        let keys = self.keys.read().expect("key lock poisoned");
        let mut published: Vec<&PublishedKey> = keys.published.values().collect();
        published.sort_by(|a, b| a.kid.cmp(&b.kid));
        let keys: Vec<serde_json::Value> = published
            .into_iter()
            .map(|key| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(&key.public_key),
                    "kid": key.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Derives a key id from the public key: the first 16 bytes of its SHA-256,
/// base64url-encoded.
fn key_id(public_key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(public_key)[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ring() -> (KeyRing, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::connect(&url)
            .await
            .unwrap()
            .with_read_cache_ttl(Duration::from_secs(60));
        let ring = KeyRing::load(
            store,
            "http://127.0.0.1".to_owned(),
            "latchkey-api".to_owned(),
            Duration::from_secs(900),
        )
        .await
        .unwrap();
        (ring, dir)
    }

    #[tokio::test]
    async fn verify_rejects_expired_cached_token() {
        let (ring, _dir) = ring().await;
        let (token, claims) = ring.issue("user", "family", "contacts.read").unwrap();
        assert_eq!(ring.verify(&token).await.unwrap(), claims);
        assert_eq!(ring.verify(&token).await.unwrap(), claims);

        let expired = AccessClaims {
            exp: OffsetDateTime::now_utc().unix_timestamp() - 10,
            ..claims
        };
        ring.verified.forget(&TokenHash::of(&token));
        ring.verified
            .fill(ring.verified.ticket(), TokenHash::of(&token), expired);
        assert!(matches!(ring.verify(&token).await, Err(InvalidToken::Rejected(_))));
    }

    #[tokio::test]
    async fn verify_rejects_altered_copy_of_cached_token() {
        let (ring, _dir) = ring().await;
        let (token, _) = ring.issue("user", "family", "contacts.read").unwrap();
        ring.verify(&token).await.unwrap();

        let payload = token.find('.').unwrap() + 10;
        let mut altered = token.clone();
        let replacement = if &token[payload..=payload] == "A" { "B" } else { "A" };
        altered.replace_range(payload..=payload, replacement);
        assert!(ring.verify(&altered).await.is_err());
    }
}
