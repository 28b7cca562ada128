//! Changing the email address of an account: a link to the new address
//! confirms it, and the old address stays in use until then.

use time::OffsetDateTime;

use super::{invalid_field, passwords::PasswordConfirmation, AccountError, Accounts, Channel};
use crate::{
    emails,
    session::ClientInfo,
    store::{event, EmailChange, MailedLink, User, UserId},
    throttle::Action,
    token::{SecretToken, TokenHash},
    validate::{self, field},
};

impl Accounts {
    /// Starts a change of the logged-in user's address to `new_email`,
    /// confirmed with the password. The new address gets a link and the
    /// current one a notice.
    ///
    /// When the new address belongs to another account, the response is the
    /// same and that address gets a notice instead, so the request does not
    /// reveal which addresses have accounts.
    pub async fn request_email_change(
        &self,
        user_id: &UserId,
        new_email: &str,
        password: &str,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<(), AccountError> {
        let new_email = validate::normalize_email(new_email).map_err(|message| invalid_field(field::EMAIL, message))?;
        let confirmation = PasswordConfirmation {
            field_name: field::PASSWORD,
            wrong: "The password is wrong.",
            failure_event: event::EMAIL_CHANGE_FAILED,
        };
        let user = self
            .confirm_password(user_id, password, confirmation, client, channel)
            .await?
            .user;
        if new_email == user.email {
            return Err(invalid_field(
                field::EMAIL,
                "This is already the address of your account.",
            ));
        }
        self.throttle
            .check_ip(Action::VerificationMail, client.ip.as_deref())
            .await?;
        self.throttle.check_verification_mail(&new_email).await?;

        self.record(Some(user_id), event::EMAIL_CHANGE_REQUESTED, client, channel.as_str())
            .await?;
        tracing::info!(user.id = %user_id, "email change requested");
        // Mail goes out after the response, so that a taken address and a
        // free one take the same time to respond.
        let accounts = self.clone();
        tokio::spawn(async move {
            if let Err(error) = accounts.send_email_change(&user, &new_email, true).await {
                tracing::error!(user.id = %user.id, %error, "email change link not sent");
            }
        });
        Ok(())
    }

    /// Mails the confirmation link to `new_email` and, with
    /// `notify_current`, a notice to the current address.
    async fn send_email_change(&self, user: &User, new_email: &str, notify_current: bool) -> Result<(), AccountError> {
        if self.store.find_credentials_by_email(new_email).await?.is_some() {
            let mail = emails::address_in_use(new_email, self.link("login", &[]).as_str());
            self.deliver(mail, &user.id).await;
            return Ok(());
        }

        let now = OffsetDateTime::now_utc();
        let token = SecretToken::generate();
        let link = self.link("confirm-email", &[("token", token.expose())]);
        let hours = self.settings.verification_ttl.as_secs().div_ceil(3_600);
        let mail = emails::email_change(new_email, &user.display_name, link.as_str(), hours);
        let link = MailedLink {
            hash: &token.hash(),
            expires_at: now + self.settings.verification_ttl,
            mail: &mail,
        };
        self.store
            .replace_email_change_token(&user.id, new_email, &link, now)
            .await?;
        self.mail.wake();
        if notify_current {
            let forgot = self.link("forgot-password", &[]);
            self.deliver(
                emails::email_change_notice(&user.email, &user.display_name, new_email, false, forgot.as_str()),
                &user.id,
            )
            .await;
        }
        Ok(())
    }

    /// Returns the new address of the user's pending change, if any.
    pub async fn pending_email_change(&self, user_id: &UserId) -> Result<Option<String>, AccountError> {
        Ok(self
            .store
            .pending_email_change(user_id, OffsetDateTime::now_utc())
            .await?)
    }

    /// Mails a fresh confirmation link for the user's pending change, within
    /// the cooldown and budget of its address. The earlier link stops working.
    pub async fn resend_email_change(&self, user_id: &UserId, client: &ClientInfo) -> Result<(), AccountError> {
        let Some(new_email) = self.pending_email_change(user_id).await? else {
            return Err(AccountError::TokenInvalid);
        };
        self.throttle
            .check_ip(Action::VerificationMail, client.ip.as_deref())
            .await?;
        self.throttle.check_verification_mail(&new_email).await?;
        let user = self.store.find_user(user_id).await?.ok_or(AccountError::NotFound)?;
        self.send_email_change(&user, &new_email, false).await?;
        tracing::info!(user.id = %user_id, "email change link resent");
        Ok(())
    }

    /// Spends an email change link: the account takes the new, verified
    /// address, and the old address gets a notice.
    pub async fn confirm_email_change(&self, token: &str, client: &ClientInfo) -> Result<User, AccountError> {
        let now = OffsetDateTime::now_utc();
        let (user_id, old_email, new_email) = match self.store.complete_email_change(&TokenHash::of(token), now).await?
        {
            EmailChange::Done {
                user_id,
                old_email,
                new_email,
            } => (user_id, old_email, new_email),
            EmailChange::Expired => return Err(AccountError::TokenExpired),
            EmailChange::AlreadyUsed => return Err(AccountError::TokenUsed),
            EmailChange::AddressTaken | EmailChange::Unknown => return Err(AccountError::TokenInvalid),
        };

        // Waits and budgets keyed by the old address no longer apply.
        self.throttle.login_succeeded(&old_email).await;
        self.record(Some(&user_id), event::EMAIL_CHANGED, client, "").await?;
        tracing::info!(user.id = %user_id, "email address changed");
        let user = self.store.find_user(&user_id).await?.ok_or(AccountError::NotFound)?;

        let forgot = self.link("forgot-password", &[]);
        let notice = emails::email_change_notice(&old_email, &user.display_name, &new_email, true, forgot.as_str());
        let accounts = self.clone();
        let notified = user_id.clone();
        tokio::spawn(async move { accounts.deliver(notice, &notified).await });
        Ok(user)
    }
}
