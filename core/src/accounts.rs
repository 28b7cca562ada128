//! Account rules: registration, email verification, password login and
//! profile changes. The browser's server functions and the JSON API both
//! call this module, so each rule has one implementation.

use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::{
    blocklist::is_common_password,
    devices, emails,
    mail::Mail,
    mail_queue::MailQueue,
    metrics::{LoginOutcome, METRICS},
    password::{PasswordError, PasswordHasher, Verification},
    password_rules::{normalize_password, PasswordRules},
    session::ClientInfo,
    store::{
        event, AuditEvent, DeviceSeen, MailedLink, NewUser, SessionStore, Store, StoreError, TokenState, User, UserId,
    },
    throttle::{Action, AfterFailure, LoginBlocked, Throttle, TooManyAttempts},
    timestamps::minute_utc,
    token::{SecretToken, TokenHash},
    validate::{self, field, FieldErrors},
};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// Unknown email and wrong password share this variant on purpose, so
    /// that callers cannot tell which accounts exist.
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("the email address is not verified yet")]
    EmailNotVerified,
    #[error("the verification link has expired")]
    TokenExpired,
    #[error("the verification link has already been used")]
    TokenUsed,
    #[error("the verification link is invalid")]
    TokenInvalid,
    #[error("the password reset link has expired")]
    ResetLinkExpired,
    #[error("the password reset link has already been used")]
    ResetLinkUsed,
    #[error("the password reset link is invalid")]
    ResetLinkInvalid,
    #[error("account not found")]
    NotFound,
    #[error(transparent)]
    TooManyAttempts(#[from] TooManyAttempts),
    /// Too many consecutive failed logins: only a password reset unlocks.
    #[error("the account is locked after too many failed logins")]
    LoginLocked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

mod deletion;
mod email_change;
mod logins;
mod passwords;

pub use logins::{login_id, Login, LoginKind};

impl From<LoginBlocked> for AccountError {
    fn from(blocked: LoginBlocked) -> Self {
        match blocked {
            LoginBlocked::Wait(limit) => Self::TooManyAttempts(limit),
            LoginBlocked::Locked => Self::LoginLocked,
        }
    }
}

/// Builds the error for one form field with its message.
fn invalid_field(field_name: &str, message: impl Into<String>) -> AccountError {
    let mut errors = FieldErrors::new();
    errors.insert(field_name, message);
    AccountError::Invalid(errors)
}

/// Message for a password found in the blocklist.
const COMMON_PASSWORD: &str = "This password is one of the most common ones and easy to guess. Choose another.";

/// Checks every registration field at once, the blocklist included, so
/// that the form shows every problem in one round trip.
fn check_registration(
    email: &str,
    display_name: &str,
    password: &str,
    rules: PasswordRules,
) -> Result<validate::ValidRegistration, AccountError> {
    match validate::validate_registration(email, display_name, password, rules) {
        Ok(valid) if !is_common_password(password) => Ok(valid),
        Ok(_) => {
            let mut errors = FieldErrors::new();
            errors.insert(field::PASSWORD, COMMON_PASSWORD);
            Err(AccountError::Invalid(errors))
        }
        Err(mut errors) => {
            if errors.get(field::PASSWORD).is_none() && is_common_password(password) {
                errors.insert(field::PASSWORD, COMMON_PASSWORD);
            }
            Err(AccountError::Invalid(errors))
        }
    }
}

/// Number of security events the account page lists.
const RECENT_ACTIVITY_SHOWN: u32 = 20;

/// The account service.
#[derive(Debug, Clone)]
pub struct Accounts {
    store: Store,
    sessions: SessionStore,
    hasher: PasswordHasher,
    mail: MailQueue,
    throttle: Throttle,
    settings: AccountSettings,
}

/// The configurable parts of the account rules.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Origin of the site, for links in mail.
    pub public_url: Url,
    pub verification_ttl: Duration,
    pub password_reset_ttl: Duration,
    /// How long a browser login with "Remember me" lasts.
    pub remember_me_lifetime: Duration,
    pub password_rules: PasswordRules,
}

/// Entry point of a login (pages or JSON API), recorded with its audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Browser,
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Browser => "browser",
            Self::Api => "api",
        }
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params())
            .finish_non_exhaustive()
    }
}

impl Accounts {
    pub fn new(
        store: Store,
        sessions: SessionStore,
        hasher: PasswordHasher,
        mail: MailQueue,
        throttle: Throttle,
        settings: AccountSettings,
    ) -> Self {
        Self {
            store,
            sessions,
            hasher,
            mail,
            throttle,
            settings,
        }
    }

    pub fn remember_me_lifetime(&self) -> Duration {
        self.settings.remember_me_lifetime
    }

    /// Returns the password rules, which the registration page shows.
    pub fn password_rules(&self) -> PasswordRules {
        self.settings.password_rules
    }

    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }

    /// Returns the handle that wakes the mail worker.
    pub fn mail_queue(&self) -> &MailQueue {
        &self.mail
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sessions(&self) -> &SessionStore {
        &self.sessions
    }

    /// Creates an account and mails its verification link.
    ///
    /// When the email already has an account, nothing is created and the
    /// owner is mailed instead. That case returns `Ok(None)`, which callers
    /// must treat exactly like a new account, so that the response does not
    /// reveal which addresses are registered.
    pub async fn register(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<Option<User>, AccountError> {
        let valid = check_registration(email, display_name, password, self.settings.password_rules)?;
        self.throttle.check_ip(Action::Register, client.ip.as_deref()).await?;
        let password_hash = self.hasher.hash(&normalize_password(password)).await?;
        let now = OffsetDateTime::now_utc();

        let new_user = NewUser {
            email: &valid.email,
            display_name: &valid.display_name,
            password_hash: &password_hash,
        };
        // The account, its verification link and the mail carrying it are
        // stored in one transaction, so no account lacks its mail.
        let token = SecretToken::generate();
        let mail = self.verification_mail(&valid.email, &valid.display_name, &token);
        let link = MailedLink {
            hash: &token.hash(),
            expires_at: now + self.settings.verification_ttl,
            mail: &mail,
        };
        match self.store.insert_user(&new_user, &link, now).await? {
            Some(user) => {
                tracing::info!(user.id = %user.id, "account registered");
                self.mail.wake();
                Ok(Some(user))
            }
            None => {
                // The owner's mail is prepared after the response, so that a
                // new account and an existing one take the same time.
                let accounts = self.clone();
                let email = valid.email;
                tokio::spawn(async move {
                    if let Err(error) = accounts.notify_existing_account(&email, now).await {
                        tracing::error!(%error, "existing account not notified");
                    }
                });
                Ok(None)
            }
        }
    }

    async fn notify_existing_account(&self, email: &str, now: OffsetDateTime) -> Result<(), AccountError> {
        let Some(existing) = self.store.find_credentials_by_email(email).await? else {
            // Deleted between the insert and this lookup: nothing to tell.
            return Ok(());
        };
        let user = existing.user;
        tracing::info!(user.id = %user.id, "registration attempted for an existing account");
        if user.is_verified() {
            let login_link = self.link("login", &[]);
            self.deliver(emails::already_registered(&user.email, login_link.as_str()), &user.id)
                .await;
            Ok(())
        } else {
            self.send_verification(&user, now).await
        }
    }

    /// Issues a fresh verification token for `user` and queues its link.
    /// Earlier unused links of the user stop working.
    async fn send_verification(&self, user: &User, now: OffsetDateTime) -> Result<(), AccountError> {
        let token = SecretToken::generate();
        let mail = self.verification_mail(&user.email, &user.display_name, &token);
        let link = MailedLink {
            hash: &token.hash(),
            expires_at: now + self.settings.verification_ttl,
            mail: &mail,
        };
        self.store.replace_verification_token(&user.id, &link, now).await?;
        self.mail.wake();
        Ok(())
    }

    fn verification_mail(&self, email: &str, display_name: &str, token: &SecretToken) -> Mail {
        let link = self.link("verify-email", &[("token", token.expose())]);
        let hours = self.settings.verification_ttl.as_secs().div_ceil(3_600);
        emails::verification(email, display_name, link.as_str(), hours)
    }

    /// Queues a message that goes with no stored change. A failure is
    /// logged rather than returned: the change it reports already happened.
    async fn deliver(&self, mail: Mail, user_id: &UserId) {
        match self
            .store
            .queue_mail(&mail, Some(user_id), OffsetDateTime::now_utc())
            .await
        {
            Ok(()) => self.mail.wake(),
            Err(error) => tracing::error!(user.id = %user_id, %error, "mail not queued"),
        }
    }

    fn link(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let public_url = &self.settings.public_url;
        let mut url = public_url.join(path).unwrap_or_else(|_| public_url.clone());
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Spends a verification token and marks its account verified.
    pub async fn verify_email(&self, token: &str, client: &ClientInfo) -> Result<User, AccountError> {
        let now = OffsetDateTime::now_utc();
        match self
            .store
            .consume_verification_token(&TokenHash::of(token), now)
            .await?
        {
            TokenState::Consumed(user) => {
                tracing::info!(user.id = %user.id, "email verified");
                self.record(Some(&user.id), event::EMAIL_VERIFIED, client, &user.email)
                    .await?;
                Ok(user)
            }
            TokenState::Expired { user_id } => {
                tracing::info!(user.id = %user_id, "expired verification link presented");
                Err(AccountError::TokenExpired)
            }
            TokenState::AlreadyUsed => Err(AccountError::TokenUsed),
            TokenState::Unknown => Err(AccountError::TokenInvalid),
        }
    }

    /// Mails a new verification link if `email` belongs to an unverified
    /// account. Returns `Ok(())` in every other case too, so that it cannot
    /// be used to probe for accounts.
    ///
    /// The link is stored and mailed after the response, in a task of its
    /// own: otherwise an unverified account would respond more slowly than an
    /// unknown address, by a database write and a mail delivery.
    pub async fn resend_verification(&self, email: &str, client: &ClientInfo) -> Result<(), AccountError> {
        let email = validate::normalize_email(email).map_err(|message| {
            let mut errors = FieldErrors::new();
            errors.insert(field::EMAIL, message);
            AccountError::Invalid(errors)
        })?;
        self.throttle
            .check_ip(Action::VerificationMail, client.ip.as_deref())
            .await?;
        self.throttle.check_verification_mail(&email).await?;
        if let Some(credentials) = self.store.find_credentials_by_email(&email).await? {
            if !credentials.user.is_verified() {
                let accounts = self.clone();
                tokio::spawn(async move {
                    let user = credentials.user;
                    if let Err(error) = accounts.send_verification(&user, OffsetDateTime::now_utc()).await {
                        tracing::error!(user.id = %user.id, %error, "verification link not resent");
                    }
                });
            }
        }
        Ok(())
    }

    /// Mails a new link to the owner of an expired verification token, so
    /// that the page reporting the expiry can offer a resend button.
    pub async fn resend_verification_for_token(&self, token: &str, client: &ClientInfo) -> Result<(), AccountError> {
        self.throttle
            .check_ip(Action::VerificationMail, client.ip.as_deref())
            .await?;
        let Some(user_id) = self.store.verification_token_owner(&TokenHash::of(token)).await? else {
            return Err(AccountError::TokenInvalid);
        };
        let user = self
            .store
            .find_user(&user_id)
            .await?
            .ok_or(AccountError::TokenInvalid)?;
        if !user.is_verified() {
            self.throttle.check_verification_mail(&user.email).await?;
            self.send_verification(&user, OffsetDateTime::now_utc()).await?;
        }
        Ok(())
    }

    /// Checks an email and password and returns the account, within the
    /// rate limits, and records the attempt in the audit trail.
    ///
    /// An unknown email costs the same Argon2 work as a wrong password, and
    /// counts towards the same waits. Only after the password is right does
    /// an unverified account get [`AccountError::EmailNotVerified`]. A stored
    /// hash made with older parameters is replaced by one with the current
    /// parameters.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<User, AccountError> {
        let normalized = validate::normalize_email(email).ok();
        let account_key = normalized.as_deref().unwrap_or(email);
        // Turned-away attempts are logged but not stored: past the limit,
        // every stored event would be a database write an attacker can buy
        // for free.
        if let Err(limit) = self.throttle.check_ip(Action::Login, client.ip.as_deref()).await {
            METRICS.login(LoginOutcome::Rejected);
            tracing::info!(client.ip = ?client.ip, channel = channel.as_str(), "login rejected: client address over its rate limit");
            return Err(limit.into());
        }
        if let Err(blocked) = self.throttle.check_login_wait(account_key).await {
            METRICS.login(LoginOutcome::Rejected);
            tracing::info!(client.ip = ?client.ip, channel = channel.as_str(), %blocked, "login rejected");
            return Err(blocked.into());
        }

        let credentials = match &normalized {
            Some(email) => self.store.find_credentials_by_email(email).await?,
            None => None,
        };
        let stored_hash = credentials
            .as_ref()
            .map(|credentials| credentials.password_hash.as_str());
        let verification = self.verify_password(password, stored_hash).await?;
        let user_id = credentials.as_ref().map(|credentials| credentials.user.id.clone());
        let user_id = user_id.as_ref();

        let needs_rehash = match verification {
            Verification::Match { needs_rehash } => needs_rehash,
            Verification::Mismatch => {
                METRICS.login(LoginOutcome::Failure);
                let outcome = self.throttle.login_failed(account_key).await;
                self.record(user_id, event::LOGIN_FAILED, client, channel.as_str())
                    .await?;
                self.record_failure_outcome(user_id, outcome, client, channel).await?;
                return Err(AccountError::InvalidCredentials);
            }
        };
        let Some(credentials) = credentials else {
            return Err(AccountError::InvalidCredentials);
        };

        self.throttle.login_succeeded(account_key).await;
        if !credentials.user.is_verified() {
            METRICS.login(LoginOutcome::Failure);
            let detail = format!("{}; email not verified", channel.as_str());
            self.record(user_id, event::LOGIN_FAILED, client, &detail).await?;
            return Err(AccountError::EmailNotVerified);
        }
        if needs_rehash {
            self.rehash(
                &credentials.user.id,
                &credentials.password_hash,
                &normalize_password(password),
            )
            .await;
        }
        self.record(user_id, event::LOGIN_SUCCEEDED, client, channel.as_str())
            .await?;
        METRICS.login(LoginOutcome::Success);
        self.check_device(&credentials.user, client);
        Ok(credentials.user)
    }

    /// Records the device of a login, after the response, and mails the
    /// owner when the account had not used it before. The first device of
    /// an account is only recorded: its owner has just registered.
    fn check_device(&self, user: &User, client: &ClientInfo) {
        let accounts = self.clone();
        let user = user.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let device = devices::describe(client.user_agent.as_deref());
            let now = OffsetDateTime::now_utc();
            match accounts.store.remember_device(&user.id, &device, now).await {
                Ok(DeviceSeen::New { first: false }) => {
                    tracing::info!(user.id = %user.id, "login from a new device");
                    let mail = emails::new_device(
                        &user.email,
                        &user.display_name,
                        &device,
                        &minute_utc(now),
                        client.ip.as_deref().unwrap_or("unknown"),
                        accounts.link("account/sessions", &[]).as_str(),
                    );
                    accounts.deliver(mail, &user.id).await;
                }
                Ok(DeviceSeen::New { first: true } | DeviceSeen::Known) => {}
                Err(error) => tracing::warn!(user.id = %user.id, %error, "recording the login device failed"),
            }
        });
    }

    /// Stores the wait or lock that a failed password check led to.
    async fn record_failure_outcome(
        &self,
        user_id: Option<&UserId>,
        outcome: AfterFailure,
        client: &ClientInfo,
        channel: Channel,
    ) -> Result<(), AccountError> {
        match outcome {
            AfterFailure::Nothing => {}
            AfterFailure::Wait(wait) => {
                let detail = format!("{}; next attempt allowed in {} s", channel.as_str(), wait.as_secs());
                self.record(user_id, event::LOGIN_THROTTLED, client, &detail).await?;
                tracing::warn!(user.id = ?user_id.map(UserId::as_str), "failed logins; account attempts slowed");
            }
            AfterFailure::Locked => {
                self.record(user_id, event::LOGIN_LOCKED, client, channel.as_str())
                    .await?;
                tracing::warn!(user.id = ?user_id.map(UserId::as_str), "failed logins; account locked until a password reset");
            }
        }
        Ok(())
    }

    /// Returns the user's most recent security events, newest first.
    pub async fn recent_activity(&self, user_id: &UserId) -> Result<Vec<AuditEvent>, AccountError> {
        Ok(self.store.recent_events(user_id, RECENT_ACTIVITY_SHOWN).await?)
    }

    /// Checks a password as typed at login against a stored hash.
    ///
    /// Hashes are made from the NFKC form. A hash stored before passwords
    /// were normalised was made from the password as typed, so when the
    /// two forms differ and the first check fails, the typed form is tried
    /// too and a match requests a rehash. Unknown accounts take the same
    /// two checks against the dummy hash, so timing stays alike.
    async fn verify_password(&self, password: &str, stored: Option<&str>) -> Result<Verification, AccountError> {
        let normalized = normalize_password(password);
        let verification = self.hasher.verify(&normalized, stored).await?;
        if verification != Verification::Mismatch || normalized == password {
            return Ok(verification);
        }
        Ok(match self.hasher.verify(password, stored).await? {
            Verification::Match { .. } => Verification::Match { needs_rehash: true },
            Verification::Mismatch => Verification::Mismatch,
        })
    }

    /// Stores a security event about `user_id` (if known) in the audit trail.
    pub async fn record(
        &self,
        user_id: Option<&UserId>,
        kind: &str,
        client: &ClientInfo,
        detail: &str,
    ) -> Result<(), AccountError> {
        self.store
            .record_event(
                user_id,
                kind,
                &client.event_context(),
                Some(detail),
                OffsetDateTime::now_utc(),
            )
            .await?;
        Ok(())
    }

    /// Upgrades a stored hash; a failure only leaves the old hash in place.
    async fn rehash(&self, user_id: &UserId, old_hash: &str, password: &str) {
        let result = async {
            let new_hash = self.hasher.hash(password).await?;
            self.store
                .replace_password_hash(user_id, old_hash, &new_hash, OffsetDateTime::now_utc())
                .await?;
            Ok::<_, AccountError>(())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(user.id = %user_id, "password rehashed with current parameters"),
            Err(error) => tracing::warn!(user.id = %user_id, %error, "password rehash failed"),
        }
    }

    pub async fn find_user(&self, user_id: &UserId) -> Result<Option<User>, AccountError> {
        Ok(self.store.find_user(user_id).await?)
    }

    pub async fn update_display_name(&self, user_id: &UserId, display_name: &str) -> Result<User, AccountError> {
        let display_name = validate::normalize_display_name(display_name).map_err(|message| {
            let mut errors = FieldErrors::new();
            errors.insert(field::DISPLAY_NAME, message);
            AccountError::Invalid(errors)
        })?;
        let user = self
            .store
            .update_display_name(user_id, &display_name, OffsetDateTime::now_utc())
            .await?
            .ok_or(AccountError::NotFound)?;
        tracing::info!(user.id = %user.id, "display name changed");
        Ok(user)
    }
}
