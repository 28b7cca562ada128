//! Replacing a password: a reset through a mailed link for users who forgot
//! it, and a change with the current password for users who are logged in.
//!
//! A reset ends every login of the account, since anyone who knew the old
//! password may hold one of them. A change ends every login but the one
//! that made it.

use time::OffsetDateTime;

use super::{invalid_field, AccountError, Accounts, Channel, COMMON_PASSWORD};
use crate::{
    blocklist::is_common_password,
    emails::{self, PasswordReplaced},
    mail::Mail,
    password::Verification,
    password_rules::{check_new_password, normalize_password, PasswordContext},
    session::ClientInfo,
    store::{event, MailedLink, ResetTokenState, StoredCredentials, User, UserId},
    throttle::Action,
    timestamps::minute_utc,
    token::{SecretToken, TokenHash},
    validate::{self, field},
};

/// Field, message and audit event with which [`Accounts::confirm_password`]
/// reports a wrong password.
pub(super) struct PasswordConfirmation {
    /// Form field that gets the message.
    pub field_name: &'static str,
    pub wrong: &'static str,
    /// Audit event stored for a wrong password.
    pub failure_event: &'static str,
}

impl Accounts {
    /// Checks the password a logged-in user typed to confirm a sensitive
    /// change, and returns their stored credentials.
    ///
    /// A wrong password counts towards the same waits as a failed login,
    /// so a stolen session cannot be used to guess it quickly.
    pub(super) async fn confirm_password(
        &self,
        user_id: &UserId,
        password: &str,
        confirmation: PasswordConfirmation,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<StoredCredentials, AccountError> {
        let user = self.store.find_user(user_id).await?.ok_or(AccountError::NotFound)?;
        self.throttle.check_login_wait(&user.email).await?;
        let credentials = self
            .store
            .find_credentials_by_email(&user.email)
            .await?
            .ok_or(AccountError::NotFound)?;

        if self.verify_password(password, Some(&credentials.password_hash)).await? == Verification::Mismatch {
            let outcome = self.throttle.login_failed(&user.email).await;
            self.record(Some(user_id), confirmation.failure_event, client, channel.as_str())
                .await?;
            self.record_failure_outcome(Some(user_id), outcome, client, channel)
                .await?;
            return Err(invalid_field(confirmation.field_name, confirmation.wrong));
        }
        self.throttle.login_succeeded(&user.email).await;
        Ok(credentials)
    }

    /// Checks a new password for `user` against the password rules and the
    /// blocklist. `field_name` is the form field that gets the message.
    fn check_password_for(&self, user: &User, password: &str, field_name: &str) -> Result<(), AccountError> {
        let context = PasswordContext {
            email: &user.email,
            display_name: &user.display_name,
        };
        check_new_password(password, self.settings.password_rules, context)
            .map_err(|message| invalid_field(field_name, message))?;
        if is_common_password(password) {
            return Err(invalid_field(field_name, COMMON_PASSWORD));
        }
        Ok(())
    }

    /// Mails a password reset link if `email` has an account, and responds
    /// alike when it has none, so that the request reveals nothing.
    ///
    /// The lookup, the token and the mail happen after the response, in a
    /// task of their own, so that the response time reveals nothing either.
    pub async fn request_password_reset(&self, email: &str, client: &ClientInfo) -> Result<(), AccountError> {
        let email = validate::normalize_email(email).map_err(|message| invalid_field(field::EMAIL, message))?;
        self.throttle
            .check_ip(Action::PasswordResetMail, client.ip.as_deref())
            .await?;
        self.throttle.check_password_reset_mail(&email).await?;

        let accounts = self.clone();
        let client = client.clone();
        tokio::spawn(async move {
            if let Err(error) = accounts.send_password_reset(&email, &client).await {
                tracing::error!(%error, "password reset link not sent");
            }
        });
        Ok(())
    }

    async fn send_password_reset(&self, email: &str, client: &ClientInfo) -> Result<(), AccountError> {
        let Some(credentials) = self.store.find_credentials_by_email(email).await? else {
            tracing::info!("password reset requested for an address without an account");
            return Ok(());
        };
        let user = credentials.user;
        let now = OffsetDateTime::now_utc();
        let token = SecretToken::generate();
        let link = self.link("reset-password", &[("token", token.expose())]);
        let minutes = self.settings.password_reset_ttl.as_secs().div_ceil(60);
        let mail = emails::password_reset(&user.email, &user.display_name, link.as_str(), minutes);
        let link = MailedLink {
            hash: &token.hash(),
            expires_at: now + self.settings.password_reset_ttl,
            mail: &mail,
        };
        self.store.replace_password_reset_token(&user.id, &link, now).await?;
        self.mail.wake();
        self.record(Some(&user.id), event::PASSWORD_RESET_REQUESTED, client, "")
            .await?;
        tracing::info!(user.id = %user.id, "password reset link queued");
        Ok(())
    }

    /// Returns the account a reset token may set a password for, without
    /// spending it, so that the reset page can report a dead link before
    /// the user types a new password.
    pub async fn check_password_reset_token(&self, token: &str) -> Result<User, AccountError> {
        let state = self
            .store
            .password_reset_token_state(&TokenHash::of(token), OffsetDateTime::now_utc())
            .await?;
        let user_id = match state {
            ResetTokenState::Usable(user_id) => user_id,
            ResetTokenState::Expired => return Err(AccountError::ResetLinkExpired),
            ResetTokenState::AlreadyUsed => return Err(AccountError::ResetLinkUsed),
            ResetTokenState::Unknown => return Err(AccountError::ResetLinkInvalid),
        };
        self.store
            .find_user(&user_id)
            .await?
            .ok_or(AccountError::ResetLinkInvalid)
    }

    /// Spends a reset token and sets `new_password`, under the same rules
    /// as registration. Every login of the account ends, its other reset
    /// links stop working, its failed-login wait is cleared, and its owner
    /// gets a notice by mail.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        let user = self.check_password_reset_token(token).await?;
        self.check_password_for(&user, new_password, field::PASSWORD)?;
        let password_hash = self.hasher.hash(&normalize_password(new_password)).await?;

        let now = OffsetDateTime::now_utc();
        let hash = TokenHash::of(token);
        let notice = self.password_replaced_mail(&user, PasswordReplaced::Reset, client, now);
        if !self
            .store
            .complete_password_reset(&hash, &user.id, &password_hash, &notice, now)
            .await?
        {
            // Spent or expired while the new password was being hashed.
            return Err(match self.store.password_reset_token_state(&hash, now).await? {
                ResetTokenState::Expired => AccountError::ResetLinkExpired,
                _ => AccountError::ResetLinkUsed,
            });
        }

        self.mail_queue().wake();
        self.throttle.login_succeeded(&user.email).await;
        self.record(Some(&user.id), event::PASSWORD_RESET, client, "").await?;
        tracing::info!(user.id = %user.id, "password reset; every login ended");
        Ok(user)
    }

    /// Replaces the password of a logged-in user who proves they know the
    /// current one, and ends every other login. `keep` is the session key
    /// of the login making the change (see `store::browser_session_key` and
    /// `store::family_key`), which stays.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        current_password: &str,
        new_password: &str,
        keep: Option<&TokenHash>,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<(), AccountError> {
        let confirmation = PasswordConfirmation {
            field_name: field::CURRENT_PASSWORD,
            wrong: "The current password is wrong.",
            failure_event: event::PASSWORD_CHANGE_FAILED,
        };
        let credentials = self
            .confirm_password(user_id, current_password, confirmation, client, channel)
            .await?;
        let user = credentials.user;
        let stored_hash = credentials.password_hash.as_str();

        self.check_password_for(&user, new_password, field::NEW_PASSWORD)?;
        if normalize_password(new_password) == normalize_password(current_password) {
            return Err(invalid_field(
                field::NEW_PASSWORD,
                "The new password is the same as the current one.",
            ));
        }
        let password_hash = self.hasher.hash(&normalize_password(new_password)).await?;

        let now = OffsetDateTime::now_utc();
        let notice = self.password_replaced_mail(&user, PasswordReplaced::Changed, client, now);
        if !self
            .store
            .change_password_hash(user_id, stored_hash, &password_hash, keep, &notice, now)
            .await?
        {
            return Err(invalid_field(
                field::CURRENT_PASSWORD,
                "The password was changed elsewhere meanwhile. Log in again with the new one.",
            ));
        }
        self.record(Some(user_id), event::PASSWORD_CHANGED, client, channel.as_str())
            .await?;
        self.mail_queue().wake();
        tracing::info!(user.id = %user_id, channel = channel.as_str(), "password changed; other logins ended");
        Ok(())
    }

    /// Builds the notice to the owner that their password was replaced.
    fn password_replaced_mail(
        &self,
        user: &User,
        how: PasswordReplaced,
        client: &ClientInfo,
        at: OffsetDateTime,
    ) -> Mail {
        let forgot_link = self.link("forgot-password", &[]);
        let ip = client.ip.as_deref().unwrap_or("unknown");
        emails::password_replaced(
            &user.email,
            &user.display_name,
            how,
            &minute_utc(at),
            ip,
            forgot_link.as_str(),
        )
    }
}
