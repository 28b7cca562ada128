use sqlx::FromRow;
use time::OffsetDateTime;

use super::{from_unix_seconds, is_unique_violation, queue_in, unix_seconds, MailedLink, Store, StoreError};
use crate::{mail::Mail, roles::Role};

/// Opaque account id (a UUID v4 in text form).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(pub String);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub display_name: String,
    pub email_verified_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl User {
    pub fn is_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }
}

/// A user with the stored password hash. `Debug` leaves the hash out.
pub struct StoredCredentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    email: String,
    display_name: String,
    password_hash: String,
    email_verified_at: Option<i64>,
    created_at: i64,
}

impl UserRow {
    fn into_credentials(self) -> Result<StoredCredentials, StoreError> {
        let user = User {
            id: UserId(self.id),
            email: self.email,
            display_name: self.display_name,
            email_verified_at: self.email_verified_at.map(from_unix_seconds).transpose()?,
            created_at: from_unix_seconds(self.created_at)?,
        };
        Ok(StoredCredentials {
            user,
            password_hash: self.password_hash,
        })
    }
}

const USER_COLUMNS: &str = "id, email, display_name, password_hash, email_verified_at, created_at";

impl Store {
    /// Inserts a user with the `viewer` role, their verification link and
    /// its mail, in one transaction. Returns `Ok(None)` when the email
    /// already has an account; nothing is stored then.
    pub async fn insert_user(
        &self,
        new: &NewUser<'_>,
        verification: &MailedLink<'_>,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        let id = UserId::generate();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, email, display_name, password_hash, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str())
        .bind(new.email)
        .bind(new.display_name)
        .bind(new.password_hash)
        .bind(unix_seconds(now))
        .bind(unix_seconds(now))
        .execute(&mut *tx)
        .await;

        match inserted {
            Ok(_) => {
                sqlx::query("INSERT INTO user_roles (user_id, role) VALUES ($1, $2)")
                    .bind(id.as_str())
                    .bind(Role::Viewer.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO email_verification_tokens (token_hash, user_id, created_at, expires_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(verification.hash.as_bytes())
                .bind(id.as_str())
                .bind(unix_seconds(now))
                .bind(unix_seconds(verification.expires_at))
                .execute(&mut *tx)
                .await?;
                queue_in(&mut tx, verification.mail, Some(&id), now).await?;
                tx.commit().await?;
                Ok(Some(User {
                    id,
                    email: new.email.to_owned(),
                    display_name: new.display_name.to_owned(),
                    email_verified_at: None,
                    created_at: from_unix_seconds(unix_seconds(now))?,
                }))
            }
            Err(error) if is_unique_violation(&error) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Finds an account by its canonical email.
    pub async fn find_credentials_by_email(&self, email: &str) -> Result<Option<StoredCredentials>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row: Option<UserRow> = sqlx::query_as(&sql).bind(email).fetch_optional(&self.pool).await?;
        row.map(UserRow::into_credentials).transpose()
    }

    pub async fn find_user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(UserRow::into_credentials)
            .transpose()?
            .map(|credentials| credentials.user))
    }

    /// Replaces a password hash, e.g. after a login rehashed it with current
    /// parameters. Only replaces `expected_old`, so a concurrent password
    /// change is never overwritten by a rehash of the old password.
    pub async fn replace_password_hash(
        &self,
        id: &UserId,
        expected_old: &str,
        new_hash: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND password_hash = $4")
                .bind(new_hash)
                .bind(unix_seconds(now))
                .bind(id.as_str())
                .bind(expected_old)
                .execute(&self.pool)
                .await?;
        self.forget_user(id);
        Ok(result.rows_affected() == 1)
    }

    /// Deletes the account. Its logins, tokens, roles, contacts and audit
    /// events go with it (foreign keys with `ON DELETE CASCADE`). Returns
    /// whether it existed.
    /// Deletes a user, and every row of theirs through the foreign keys,
    /// and queues `confirmation` in the same transaction. Returns `false`,
    /// with nothing queued, when the user does not exist.
    pub async fn delete_user(&self, id: &UserId, confirmation: &Mail, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = result.rows_affected() == 1;
        if deleted {
            queue_in(&mut tx, confirmation, Some(id), now).await?;
        }
        tx.commit().await?;

        self.forget_user(id);
        self.cache.families.forget_where(|_, family| family.user_id == *id);
        Ok(deleted)
    }

    pub async fn update_display_name(
        &self,
        id: &UserId,
        display_name: &str,
        now: OffsetDateTime,
    ) -> Result<Option<User>, StoreError> {
        sqlx::query("UPDATE users SET display_name = $1, updated_at = $2 WHERE id = $3")
            .bind(display_name)
            .bind(unix_seconds(now))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        self.forget_user(id);
        self.find_user(id).await
    }
}
