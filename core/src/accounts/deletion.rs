//! Deleting an account at its owner's request.

use super::{AccountError, Accounts, Channel};
use crate::{
    emails,
    password::Verification,
    session::ClientInfo,
    store::{event, UserId},
    validate::{field, FieldErrors},
};

impl Accounts {
    /// Deletes the account of a logged-in user who confirms with the
    /// password, with every login, token and stored record of it, and
    /// mails a confirmation. The address can register again afterwards.
    ///
    /// A wrong password counts towards the same waits as a failed login.
    pub async fn delete_account(
        &self,
        user_id: &UserId,
        password: &str,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<(), AccountError> {
        let user = self.store.find_user(user_id).await?.ok_or(AccountError::NotFound)?;
        self.throttle.check_login_wait(&user.email).await?;
        let credentials = self
            .store
            .find_credentials_by_email(&user.email)
            .await?
            .ok_or(AccountError::NotFound)?;
        if self.verify_password(password, Some(&credentials.password_hash)).await? == Verification::Mismatch {
            self.throttle.login_failed(&user.email).await;
            self.record(Some(user_id), event::ACCOUNT_DELETION_FAILED, client, channel.as_str())
                .await?;
            let mut errors = FieldErrors::new();
            errors.insert(field::PASSWORD, "The password is wrong.");
            return Err(AccountError::Invalid(errors));
        }

        if !self.store.delete_user(user_id).await? {
            return Err(AccountError::NotFound);
        }
        self.throttle.login_succeeded(&user.email).await;
        // The account's own events are gone; this one keeps the id only.
        let detail = format!("{}; user {user_id}", channel.as_str());
        self.record(None, event::ACCOUNT_DELETED, client, &detail).await?;
        tracing::info!(user.id = %user_id, channel = channel.as_str(), "account deleted by its owner");

        let mail = emails::account_deleted(&user.email, &user.display_name, self.link("register", &[]).as_str());
        let accounts = self.clone();
        let user_id = user_id.clone();
        tokio::spawn(async move { accounts.deliver(mail, &user_id).await });
        Ok(())
    }
}
