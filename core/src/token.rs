//! Random secrets handed to users (verification links, later refresh tokens)
//! and the hashes under which they are stored.
//!
//! Only the SHA-256 hash of a token reaches the database, so a leaked table
//! cannot be replayed. A fast hash is enough because each token carries at
//! least 128 random bits: there is nothing to guess, unlike a password.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Random bytes in a token: 256 bits, twice the 128 bits required of a
/// single-use link, so the same function serves long-lived tokens.
pub const TOKEN_BYTES: usize = 32;

/// A secret token as sent to its owner. `Debug` hides the value so that a
/// token never lands in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// Draws a new token from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Returns the URL-safe text of the token.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretToken(..)")
    }
}

/// The stored form of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes token text as presented by a client. Any string is accepted:
    /// a malformed token simply matches no stored hash.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_has_256_bits_url_safe() {
        let token = SecretToken::generate();
        let decoded = URL_SAFE_NO_PAD.decode(token.expose()).unwrap();
        assert_eq!(decoded.len(), 32);
        assert!(token
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(SecretToken::generate(), SecretToken::generate());
    }

    #[test]
    fn hash_is_deterministic_and_not_the_token() {
        let token = SecretToken::generate();
        assert_eq!(token.hash(), TokenHash::of(token.expose()));
        assert_ne!(token.hash().as_bytes(), token.expose().as_bytes());
        assert_ne!(token.hash(), TokenHash::of(&format!("{}x", token.expose())));
    }

    #[test]
    fn debug_hides_the_value() {
        let token = SecretToken::generate();
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
