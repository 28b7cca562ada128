//! Whether the database can serve requests, for the readiness probe.

use super::Store;

/// Reason the database cannot serve requests.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database does not answer: {0}")]
    Unreachable(#[from] sqlx::Error),
    #[error("migration {0} is not applied")]
    MigrationMissing(i64),
}

impl Store {
    /// Checks that the database runs a query and that every migration of
    /// this build has been applied successfully.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await?;
        match self
            .backend
            .migrator()
            .iter()
            .map(|migration| migration.version)
            .find(|version| !applied.contains(version))
        {
            Some(missing) => Err(NotReady::MigrationMissing(missing)),
            None => Ok(()),
        }
    }
}

impl Store {
    /// Checks whether the database runs a trivial query within `limit`, to
    /// tell a request that failed because the database is unreachable from
    /// other failures.
    pub async fn answers_within(&self, limit: std::time::Duration) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(tokio::time::timeout(limit, query).await, Ok(Ok(_)))
    }
}
