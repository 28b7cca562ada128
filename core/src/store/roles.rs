use super::{from_unix_seconds, Store, StoreError, User, UserId};
use crate::roles::Role;

impl Store {
    /// Returns a user with their roles, in one query or from the cache.
    pub async fn user_with_roles(&self, user_id: &UserId) -> Result<Option<(User, Vec<Role>)>, StoreError> {
        if let Some(profile) = self.cache.profiles.get(user_id) {
            return Ok(Some(profile));
        }
        let ticket = self.cache.profiles.ticket();
        let row: Option<(String, String, String, Option<i64>, i64, Option<String>)> = sqlx::query_as(
            "SELECT u.id, u.email, u.display_name, u.email_verified_at, u.created_at, string_agg(r.role, ' ')
             FROM users u LEFT JOIN user_roles r ON r.user_id = u.id
             WHERE u.id = $1 GROUP BY u.id",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, email, display_name, verified_at, created_at, roles)) = row else {
            return Ok(None);
        };

        let mut roles = roles
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(|name| Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown role {name:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        roles.sort();
        let user = User {
            id: UserId(id),
            email,
            display_name,
            email_verified_at: verified_at.map(from_unix_seconds).transpose()?,
            created_at: from_unix_seconds(created_at)?,
        };
        self.cache
            .profiles
            .fill(ticket, user.id.clone(), (user.clone(), roles.clone()));
        Ok(Some((user, roles)))
    }

    pub async fn user_roles(&self, user_id: &UserId) -> Result<Vec<Role>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = $1")
            .bind(user_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        let mut roles = names
            .iter()
            .map(|name| Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown role {name:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        roles.sort();
        Ok(roles)
    }

    /// Replaces the user's roles; a role listed twice is stored once.
    /// Returns `false` when the user does not exist.
    pub async fn set_user_roles(&self, user_id: &UserId, roles: &[Role]) -> Result<bool, StoreError> {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        // The delete comes first, so that the transaction takes the write
        // lock at once rather than failing when a read is overtaken.
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        for role in &roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                .bind(user_id.as_str())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.forget_user(user_id);
        Ok(true)
    }
}
