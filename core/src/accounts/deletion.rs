//! Deleting an account at its owner's request.

use time::OffsetDateTime;

use super::{passwords::PasswordConfirmation, AccountError, Accounts, Channel};
use crate::{
    emails,
    session::ClientInfo,
    store::{event, UserId},
    validate::field,
};

impl Accounts {
    /// Deletes the account of a logged-in user who confirms with the
    /// password, with every login, token and stored record of it, and
    /// mails a confirmation. The address can register again afterwards.
    /// A wrong password counts towards the same waits as a failed login.
    pub async fn delete_account(
        &self,
        user_id: &UserId,
        password: &str,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<(), AccountError> {
        let confirmation = PasswordConfirmation {
            field_name: field::PASSWORD,
            wrong: "The password is wrong.",
            failure_event: event::ACCOUNT_DELETION_FAILED,
        };
        let user = self
            .confirm_password(user_id, password, confirmation, client, channel)
            .await?
            .user;

        // The confirmation is queued with the deletion, because the
        // address is stored nowhere else afterwards.
        let confirmation =
            emails::account_deleted(&user.email, &user.display_name, self.link("register", &[]).as_str());
        if !self
            .store
            .delete_user(user_id, &confirmation, OffsetDateTime::now_utc())
            .await?
        {
            return Err(AccountError::NotFound);
        }
        self.mail_queue().wake();
        // The account's own events are gone; this one keeps the id only.
        let detail = format!("{}; user {user_id}", channel.as_str());
        self.record(None, event::ACCOUNT_DELETED, client, &detail).await?;
        tracing::info!(user.id = %user_id, channel = channel.as_str(), "account deleted by its owner");
        Ok(())
    }
}
