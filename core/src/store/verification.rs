use time::OffsetDateTime;

use super::{unix_seconds, LinkTokens, MailedLink, Store, StoreError, User, UserId};
use crate::token::TokenHash;

/// State of a presented verification token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// The token was valid and is now spent; the account is verified.
    Consumed(User),
    Expired {
        user_id: UserId,
    },
    AlreadyUsed,
    Unknown,
}

impl Store {
    /// Stores a new verification link for `user_id` and queues its mail,
    /// replacing any unused earlier links so that only the newest works.
    pub async fn replace_verification_token(
        &self,
        user_id: &UserId,
        link: &MailedLink<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.replace_link_token(LinkTokens::Verification, user_id, link, now)
            .await
    }

    /// Spends a verification token and marks its account verified, in one
    /// transaction. The conditional update makes the token single-use even
    /// when two requests present it at once.
    pub async fn consume_verification_token(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<TokenState, StoreError> {
        let mut tx = self.pool.begin().await?;
        let spent: Option<(String,)> = sqlx::query_as(
            "UPDATE email_verification_tokens SET used_at = $1
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3
             RETURNING user_id",
        )
        .bind(unix_seconds(now))
        .bind(hash.as_bytes())
        .bind(unix_seconds(now))
        .fetch_optional(&mut *tx)
        .await?;

        let Some((user_id,)) = spent else {
            tx.rollback().await?;
            return self.classify_unusable_token(hash).await;
        };

        sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), updated_at = $2
             WHERE id = $3",
        )
        .bind(unix_seconds(now))
        .bind(unix_seconds(now))
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;

        let user_id = UserId(user_id);
        self.forget_user(&user_id);
        let user = self
            .find_user(&user_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("token names missing user {user_id}")))?;
        Ok(TokenState::Consumed(user))
    }

    async fn classify_unusable_token(&self, hash: &TokenHash) -> Result<TokenState, StoreError> {
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT user_id, used_at FROM email_verification_tokens WHERE token_hash = $1")
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            None => TokenState::Unknown,
            Some((_, Some(_))) => TokenState::AlreadyUsed,
            Some((user_id, None)) => TokenState::Expired {
                user_id: UserId(user_id),
            },
        })
    }

    /// Deletes tokens that expired before `cutoff`, used or not.
    pub async fn delete_expired_verification_tokens(&self, cutoff: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM email_verification_tokens WHERE expires_at < $1")
            .bind(unix_seconds(cutoff))
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected())
    }
}

impl Store {
    /// Returns the account a verification token was issued to, whatever the
    /// token's state.
    pub async fn verification_token_owner(&self, hash: &TokenHash) -> Result<Option<UserId>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT user_id FROM email_verification_tokens WHERE token_hash = $1")
                .bind(hash.as_bytes())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(user_id,)| UserId(user_id)))
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::{
        store::{testing, NewUser},
        token::SecretToken,
    };

    async fn store_with_user() -> (Store, User, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::connect(&url).await.unwrap();
        let new_user = NewUser {
            email: "ann@example.com",
            display_name: "Ann",
            password_hash: "$argon2id$stub",
        };
        let user = store
            .insert_user(
                &new_user,
                &testing::link(&SecretToken::generate().hash(), OffsetDateTime::now_utc()),
                OffsetDateTime::now_utc(),
            )
            .await
            .unwrap()
            .unwrap();
        (store, user, dir)
    }

    #[tokio::test]
    async fn token_is_consumed_once() {
        let (store, user, _dir) = store_with_user().await;
        let now = OffsetDateTime::now_utc();
        let token = SecretToken::generate();
        store
            .replace_verification_token(&user.id, &testing::link(&token.hash(), now + Duration::hours(1)), now)
            .await
            .unwrap();

        let TokenState::Consumed(verified) = store.consume_verification_token(&token.hash(), now).await.unwrap() else {
            panic!("the first use consumes the token");
        };
        assert_eq!(verified.id, user.id);
        assert!(verified.is_verified());
        assert_eq!(
            store.consume_verification_token(&token.hash(), now).await.unwrap(),
            TokenState::AlreadyUsed
        );
    }

    #[tokio::test]
    async fn token_expires_at_its_deadline() {
        let (store, user, _dir) = store_with_user().await;
        let issued = OffsetDateTime::now_utc();
        let token = SecretToken::generate();
        store
            .replace_verification_token(
                &user.id,
                &testing::link(&token.hash(), issued + Duration::hours(24)),
                issued,
            )
            .await
            .unwrap();

        let at_deadline = issued + Duration::hours(24);
        assert_eq!(
            store
                .consume_verification_token(&token.hash(), at_deadline)
                .await
                .unwrap(),
            TokenState::Expired {
                user_id: user.id.clone()
            }
        );
        let just_before = at_deadline - Duration::seconds(1);
        assert!(matches!(
            store
                .consume_verification_token(&token.hash(), just_before)
                .await
                .unwrap(),
            TokenState::Consumed(_)
        ));
    }

    #[tokio::test]
    async fn unknown_and_replaced_tokens_are_unknown() {
        let (store, user, _dir) = store_with_user().await;
        let now = OffsetDateTime::now_utc();
        let first = SecretToken::generate();
        let second = SecretToken::generate();
        store
            .replace_verification_token(&user.id, &testing::link(&first.hash(), now + Duration::hours(1)), now)
            .await
            .unwrap();
        store
            .replace_verification_token(&user.id, &testing::link(&second.hash(), now + Duration::hours(1)), now)
            .await
            .unwrap();

        assert_eq!(
            store.consume_verification_token(&first.hash(), now).await.unwrap(),
            TokenState::Unknown
        );
        let never_issued = SecretToken::generate();
        assert_eq!(
            store
                .consume_verification_token(&never_issued.hash(), now)
                .await
                .unwrap(),
            TokenState::Unknown
        );
        assert!(matches!(
            store.consume_verification_token(&second.hash(), now).await.unwrap(),
            TokenState::Consumed(_)
        ));
    }
}
