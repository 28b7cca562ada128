use super::{Store, StoreError, UserId};
use crate::roles::Role;

impl Store {
    pub async fn user_roles(&self, user_id: &UserId) -> Result<Vec<Role>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar("SELECT role FROM user_roles WHERE user_id = ?")
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

    /// Replaces the user's roles. Returns `false` when the user does not exist.
    pub async fn set_user_roles(&self, user_id: &UserId, roles: &[Role]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = ?")
            .bind(user_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM user_roles WHERE user_id = ?").bind(user_id.as_str()).execute(&mut *tx).await?;
        for role in roles {
            sqlx::query("INSERT INTO user_roles (user_id, role) VALUES (?, ?)")
                .bind(user_id.as_str())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
