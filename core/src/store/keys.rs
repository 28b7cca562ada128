use time::OffsetDateTime;

use super::{from_unix_seconds, unix_seconds, Store, StoreError};

/// A stored Ed25519 key. `Debug` leaves the private key out.
pub struct SigningKeyRow {
    pub kid: String,
    /// PKCS#8 document.
    pub private_key: Vec<u8>,
    /// The raw 32-byte public key.
    pub public_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Returns all signing keys, the active one first and then the retired
    /// ones, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<SigningKeyRow>, StoreError> {
        let rows: Vec<(String, Vec<u8>, Vec<u8>, i64, Option<i64>)> = sqlx::query_as(
            "SELECT kid, private_key, public_key, created_at, retired_at FROM signing_keys
             ORDER BY retired_at IS NOT NULL, created_at DESC, kid DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(kid, private_key, public_key, created_at, retired_at)| {
                Ok(SigningKeyRow {
                    kid,
                    private_key,
                    public_key,
                    created_at: from_unix_seconds(created_at)?,
                    retired_at: retired_at.map(from_unix_seconds).transpose()?,
                })
            })
            .collect()
    }

    /// Stores a new signing key and retires every other one, atomically.
    pub async fn insert_signing_key(
        &self,
        kid: &str,
        private_key: &[u8],
        public_key: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(unix_seconds(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO signing_keys (kid, private_key, public_key, created_at) VALUES ($1, $2, $3, $4)")
            .bind(kid)
            .bind(private_key)
            .bind(public_key)
            .bind(unix_seconds(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes keys retired before `cutoff`.
    pub async fn delete_retired_signing_keys(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(unix_seconds(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}
