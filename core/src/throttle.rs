//! Rate limits per client address and growing waits per account.
//!
//! Two defences work together. Each client address gets a budget of
//! requests per action (login, registration, verification mail, refresh),
//! refilled at a steady rate, which slows one machine down. Each account
//! additionally counts consecutive failed logins: after a few, every further
//! attempt must wait, and the wait doubles up to a ceiling. That slows an
//! attack spread over many addresses, while the ceiling keeps the owner from
//! being locked out for good. A successful login clears the count.
//!
//! The state lives behind [`LimitStore`], so that several instances can
//! share it. [`MemoryLimitStore`] serves a single instance.

use std::{
    collections::HashMap,
    fmt,
    net::IpAddr,
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;

use crate::token::TokenHash;

/// A budget of `count` requests per `period`, refilled evenly. A client
/// that was quiet may spend the whole budget at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// Time between two refills.
    pub(crate) fn interval(self) -> Duration {
        self.period / self.count.max(1)
    }
}

impl FromStr for Rate {
    type Err = String;

    /// Parses `COUNT/PERIOD`, such as `30/5m`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("{text:?} is not a rate; write COUNT/PERIOD such as 30/5m");
        let (count, period) = text.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        let period = crate::config::duration_from_text(period).ok_or_else(invalid)?;
        if count == 0 {
            return Err(invalid());
        }
        Ok(Self { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {} s", self.count, self.period.as_secs())
    }
}

/// Waits imposed on an account after consecutive failed logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures allowed before any wait, to forgive typos.
    pub free_failures: u32,
    /// Wait after the first failure past the free ones; it doubles with
    /// each further failure.
    pub first_wait: Duration,
    /// Maximum wait, however many failures came before.
    pub max_wait: Duration,
    /// A count left alone this long starts again from zero.
    pub forget_after: Duration,
    /// Consecutive failures that lock the account until a password reset
    /// (or a success) clears them, however long ago they were. NIST SP
    /// 800-63B allows at most 100.
    pub lock_after: u32,
}

/// Consequence of a failed login for the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Still within the free failures.
    Nothing,
    /// The next attempt must wait this long.
    Wait(Duration),
    /// The account is locked until its password is reset.
    Locked,
}

/// Reason a login may not be tried now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginBlocked {
    #[error(transparent)]
    Wait(#[from] TooManyAttempts),
    #[error("too many failed logins; the account is locked until its password is reset")]
    Locked,
}

impl Backoff {
    /// Returns the wait after `failures` consecutive failures.
    pub fn wait_after(&self, failures: u32) -> Duration {
        let Some(past_free) = failures.checked_sub(self.free_failures).filter(|&past| past > 0) else {
            return Duration::ZERO;
        };
        let doublings = (past_free - 1).min(30);
        self.first_wait.saturating_mul(1 << doublings).min(self.max_wait)
    }
}

/// The limits of each action, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub login_per_ip: Rate,
    pub login_backoff: Backoff,
    pub register_per_ip: Rate,
    pub verification_mail_per_ip: Rate,
    pub verification_mail_per_email: Rate,
    /// Shortest time between two verification mails to one address.
    pub verification_mail_cooldown: Duration,
    pub refresh_per_ip: Rate,
    pub password_reset_per_ip: Rate,
    pub password_reset_per_email: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_per_ip: Rate {
                count: 30,
                period: Duration::from_secs(5 * 60),
            },
            login_backoff: Backoff {
                free_failures: 5,
                first_wait: Duration::from_secs(1),
                max_wait: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(24 * 3600),
                lock_after: 100,
            },
            register_per_ip: Rate {
                count: 10,
                period: Duration::from_secs(3600),
            },
            verification_mail_per_ip: Rate {
                count: 10,
                period: Duration::from_secs(3600),
            },
            verification_mail_per_email: Rate {
                count: 3,
                period: Duration::from_secs(3600),
            },
            verification_mail_cooldown: Duration::from_secs(60),
            refresh_per_ip: Rate {
                count: 120,
                period: Duration::from_secs(60),
            },
            password_reset_per_ip: Rate {
                count: 10,
                period: Duration::from_secs(3600),
            },
            password_reset_per_email: Rate {
                count: 3,
                period: Duration::from_secs(3600),
            },
        }
    }
}

/// The client must wait this long before trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; retry in {} s", retry_after_seconds(*retry_after))]
pub struct TooManyAttempts {
    pub retry_after: Duration,
}

/// Rounds a wait up to whole seconds, at least one, for `Retry-After`.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

/// A shared store could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("rate limit store failed: {0}")]
pub struct LimitStoreError(pub String);

/// Storage of throttle state. Times are milliseconds since the Unix epoch,
/// so that instances on several machines can share one store.
#[async_trait]
pub trait LimitStore: Send + Sync + fmt::Debug {
    /// Spends one request of `key`'s budget. Returns the wait when the
    /// budget is empty, in which case nothing is spent.
    async fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Result<Option<Duration>, LimitStoreError>;

    /// Returns how long `key` must still wait after its recent failures.
    /// [`Duration::MAX`] means its failures reached `lock_after`, and only
    /// clearing them ends the lock.
    async fn failure_wait(&self, key: &str, now_ms: u64) -> Result<Option<Duration>, LimitStoreError>;

    /// Counts a failure and returns the number of consecutive failures.
    async fn record_failure(&self, key: &str, backoff: Backoff, now_ms: u64) -> Result<u32, LimitStoreError>;

    async fn clear_failures(&self, key: &str) -> Result<(), LimitStoreError>;

    /// Drops state that no longer limits anyone, to bound memory.
    async fn purge(&self, now_ms: u64) -> Result<(), LimitStoreError>;
}

/// Consecutive failures of one key.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: u64,
    retry_at_ms: u64,
    forget_after_ms: u64,
}

/// Throttle state in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryLimitStore {
    /// Theoretical arrival time of the next request per key (the generic
    /// cell rate algorithm): a key is over its budget while this lies more
    /// than one period ahead.
    buckets: Mutex<HashMap<String, u64>>,
    failures: Mutex<HashMap<String, Failures>>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl LimitStore for MemoryLimitStore {
    async fn take(&self, key: &str, rate: Rate, now_ms: u64) -> Result<Option<Duration>, LimitStoreError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let arrival = buckets.get(key).map_or(now_ms, |&arrival| arrival.max(now_ms));
        let next = arrival.saturating_add(millis(rate.interval()));

        let allowed_from = next.saturating_sub(millis(rate.period));
        if allowed_from > now_ms {
            return Ok(Some(Duration::from_millis(allowed_from - now_ms)));
        }
        buckets.insert(key.to_owned(), next);
        Ok(None)
    }

    async fn failure_wait(&self, key: &str, now_ms: u64) -> Result<Option<Duration>, LimitStoreError> {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Ok(failures
            .get(key)
            .filter(|failures| failures.retry_at_ms > now_ms)
            .map(|failures| match failures.retry_at_ms {
                u64::MAX => Duration::MAX,
                retry_at_ms => Duration::from_millis(retry_at_ms - now_ms),
            }))
    }

    async fn record_failure(&self, key: &str, backoff: Backoff, now_ms: u64) -> Result<u32, LimitStoreError> {
        let mut all = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let forget_after_ms = millis(backoff.forget_after);
        let previous = all
            .get(key)
            .filter(|failures| now_ms.saturating_sub(failures.last_ms) < failures.forget_after_ms)
            .map_or(0, |failures| failures.count);

        let count = previous.saturating_add(1);
        let locked = count >= backoff.lock_after;
        all.insert(
            key.to_owned(),
            Failures {
                count,
                last_ms: now_ms,
                retry_at_ms: if locked {
                    u64::MAX
                } else {
                    now_ms.saturating_add(millis(backoff.wait_after(count)))
                },
                forget_after_ms: if locked { u64::MAX } else { forget_after_ms },
            },
        );
        Ok(count)
    }

    async fn clear_failures(&self, key: &str) -> Result<(), LimitStoreError> {
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
        Ok(())
    }

    async fn purge(&self, now_ms: u64) -> Result<(), LimitStoreError> {
        // A bucket whose next arrival time has passed is full again, which
        // is the same as having no entry.
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, arrival| *arrival > now_ms);
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, failures| now_ms.saturating_sub(failures.last_ms) < failures.forget_after_ms);
        Ok(())
    }
}

/// Actions limited per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Login,
    Register,
    VerificationMail,
    Refresh,
    PasswordResetMail,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::VerificationMail => "verification-mail",
            Self::Refresh => "refresh",
            Self::PasswordResetMail => "password-reset-mail",
        }
    }
}

/// The rate limits and login waits, on top of a [`LimitStore`].
///
/// A failing store lets requests through and logs the error: an outage of
/// a shared store must not lock every user out.
///
/// NOTE: an attacker who keeps failing keeps the account's owner waiting
/// between attempts too. Exempting browsers that logged in to the account
/// before (device cookies) would let the owner through; that is not built.
#[derive(Debug, Clone)]
pub struct Throttle {
    store: Arc<dyn LimitStore>,
    limits: Limits,
}

impl Throttle {
    pub fn new(store: Arc<dyn LimitStore>, limits: Limits) -> Self {
        Self { store, limits }
    }

    /// Creates a throttle that keeps its state in this process.
    pub fn in_memory(limits: Limits) -> Self {
        Self::new(Arc::new(MemoryLimitStore::default()), limits)
    }

    /// Spends one request of the client address's budget for `action`.
    pub async fn check_ip(&self, action: Action, ip: Option<&str>) -> Result<(), TooManyAttempts> {
        let rate = match action {
            Action::Login => self.limits.login_per_ip,
            Action::Register => self.limits.register_per_ip,
            Action::VerificationMail => self.limits.verification_mail_per_ip,
            Action::Refresh => self.limits.refresh_per_ip,
            Action::PasswordResetMail => self.limits.password_reset_per_ip,
        };
        let key = format!("{}:ip:{}", action.as_str(), address_key(ip));
        self.take(&key, rate).await
    }

    /// Spends one verification mail of the address's budget. The budget
    /// exists for unknown addresses too, so it reveals nothing.
    pub async fn check_verification_mail(&self, email: &str) -> Result<(), TooManyAttempts> {
        let email_key = private_key(email);
        let cooldown = self.limits.verification_mail_cooldown;
        if !cooldown.is_zero() {
            let once = Rate {
                count: 1,
                period: cooldown,
            };
            self.take(&format!("verification-cooldown:email:{email_key}"), once)
                .await?;
        }
        self.take(
            &format!("verification-mail:email:{email_key}"),
            self.limits.verification_mail_per_email,
        )
        .await
    }

    /// Returns the shortest time between two verification mails to one
    /// address, which the pages tell the user after a resend.
    pub fn verification_mail_cooldown(&self) -> Duration {
        self.limits.verification_mail_cooldown
    }

    /// Spends one password reset mail of the address's budget, which
    /// unknown addresses have too.
    pub async fn check_password_reset_mail(&self, email: &str) -> Result<(), TooManyAttempts> {
        let key = format!("password-reset-mail:email:{}", private_key(email));
        self.take(&key, self.limits.password_reset_per_email).await
    }

    /// Fails while the account must wait after failed logins, or is
    /// locked. Unknown emails are counted the same way, so waits and locks
    /// reveal nothing.
    pub async fn check_login_wait(&self, email: &str) -> Result<(), LoginBlocked> {
        match self.store.failure_wait(&login_key(email), now_ms()).await {
            Ok(Some(Duration::MAX)) => Err(LoginBlocked::Locked),
            Ok(Some(retry_after)) => Err(LoginBlocked::Wait(TooManyAttempts { retry_after })),
            Ok(None) => Ok(()),
            Err(error) => {
                tracing::error!(%error, "login wait check skipped");
                Ok(())
            }
        }
    }

    /// Counts a failed login and returns what it leads to.
    pub async fn login_failed(&self, email: &str) -> AfterFailure {
        let backoff = self.limits.login_backoff;
        match self.store.record_failure(&login_key(email), backoff, now_ms()).await {
            Ok(count) if count >= backoff.lock_after => AfterFailure::Locked,
            Ok(count) => match backoff.wait_after(count) {
                Duration::ZERO => AfterFailure::Nothing,
                wait => AfterFailure::Wait(wait),
            },
            Err(error) => {
                tracing::error!(%error, "failed login not counted");
                AfterFailure::Nothing
            }
        }
    }

    pub async fn login_succeeded(&self, email: &str) {
        if let Err(error) = self.store.clear_failures(&login_key(email)).await {
            tracing::error!(%error, "failed login count not cleared");
        }
    }

    /// Drops expired state; the housekeeping task calls this.
    pub async fn purge(&self) {
        if let Err(error) = self.store.purge(now_ms()).await {
            tracing::warn!(%error, "rate limit purge failed");
        }
    }

    async fn take(&self, key: &str, rate: Rate) -> Result<(), TooManyAttempts> {
        match self.store.take(key, rate, now_ms()).await {
            Ok(Some(retry_after)) => Err(TooManyAttempts { retry_after }),
            Ok(None) => Ok(()),
            Err(error) => {
                tracing::error!(%error, "rate limit check skipped");
                Ok(())
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, millis)
}

fn login_key(email: &str) -> String {
    format!("login:account:{}", private_key(email))
}

/// Keys a store entry by a hash, so that a shared store contains no emails.
fn private_key(email: &str) -> String {
    let hash = TokenHash::of(&email.trim().to_lowercase());
    hash.as_bytes()[..16].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Groups IPv6 clients by their /64 network, since one subscriber usually
/// is assigned a whole /64 and could otherwise rotate through its addresses.
fn address_key(ip: Option<&str>) -> String {
    match ip.and_then(|ip| ip.parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let segments = v6.segments();
                format!(
                    "{:x}:{:x}:{:x}:{:x}::/64",
                    segments[0], segments[1], segments[2], segments[3]
                )
            }
        },
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Rate = Rate {
        count: 3,
        period: Duration::from_secs(60),
    };

    #[test]
    fn rate_parses_count_and_period() {
        assert_eq!(
            "30/5m".parse::<Rate>().unwrap(),
            Rate {
                count: 30,
                period: Duration::from_secs(300)
            }
        );
        assert!("0/5m".parse::<Rate>().is_err());
        assert!("30".parse::<Rate>().is_err());
        assert!("30/5".parse::<Rate>().is_err());
        assert!("x/5m".parse::<Rate>().is_err());
    }

    #[tokio::test]
    async fn bucket_allows_a_burst_then_refills_evenly() {
        let store = MemoryLimitStore::default();
        let start = 1_000_000;
        for _ in 0..3 {
            assert_eq!(store.take("k", MINUTE, start).await.unwrap(), None);
        }
        assert_eq!(
            store.take("k", MINUTE, start).await.unwrap(),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            store.take("k", MINUTE, start + 19_000).await.unwrap(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(store.take("k", MINUTE, start + 20_000).await.unwrap(), None);
        assert_eq!(store.take("other", MINUTE, start).await.unwrap(), None);
    }

    #[tokio::test]
    async fn rejected_requests_do_not_extend_the_wait() {
        let store = MemoryLimitStore::default();
        for _ in 0..3 {
            store.take("k", MINUTE, 0).await.unwrap();
        }
        for _ in 0..100 {
            store.take("k", MINUTE, 0).await.unwrap();
        }
        assert_eq!(store.take("k", MINUTE, 20_000).await.unwrap(), None);
    }

    const BACKOFF: Backoff = Backoff {
        free_failures: 2,
        lock_after: 6,
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(8),
        forget_after: Duration::from_secs(3600),
    };

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let waits: Vec<u64> = (0..=8).map(|count| BACKOFF.wait_after(count).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 1, 2, 4, 8, 8, 8]);
        assert_eq!(BACKOFF.wait_after(u32::MAX), Duration::from_secs(8));
    }

    #[tokio::test]
    async fn failures_impose_waits_until_cleared() {
        let store = MemoryLimitStore::default();
        for count in 1..=3 {
            assert_eq!(store.record_failure("a", BACKOFF, 0).await.unwrap(), count);
        }
        assert_eq!(store.failure_wait("a", 0).await.unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(store.failure_wait("a", 1_000).await.unwrap(), None);
        assert_eq!(store.failure_wait("b", 0).await.unwrap(), None);

        store.clear_failures("a").await.unwrap();
        assert_eq!(store.record_failure("a", BACKOFF, 2_000).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn old_failures_are_forgotten() {
        let store = MemoryLimitStore::default();
        for _ in 0..5 {
            store.record_failure("a", BACKOFF, 0).await.unwrap();
        }
        let later = millis(BACKOFF.forget_after) + 1;
        assert_eq!(store.record_failure("a", BACKOFF, later).await.unwrap(), 1);

        store.purge(later * 3).await.unwrap();
        assert!(store.failures.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn lock_lasts_until_cleared() {
        let throttle = Throttle::in_memory(Limits {
            login_backoff: BACKOFF,
            ..Limits::default()
        });
        let mut outcomes = Vec::new();
        for _ in 0..BACKOFF.lock_after {
            outcomes.push(throttle.login_failed("ann@example.com").await);
        }
        assert_eq!(outcomes[0], AfterFailure::Nothing);
        assert!(matches!(outcomes[2], AfterFailure::Wait(_)));
        assert_eq!(outcomes.last(), Some(&AfterFailure::Locked));
        assert_eq!(
            throttle.check_login_wait("ann@example.com").await,
            Err(LoginBlocked::Locked)
        );

        // Neither time nor housekeeping ends the lock.
        let store = MemoryLimitStore::default();
        for _ in 0..BACKOFF.lock_after {
            store.record_failure("a", BACKOFF, 0).await.unwrap();
        }
        let much_later = millis(BACKOFF.forget_after) * 10;
        store.purge(much_later).await.unwrap();
        assert_eq!(store.failure_wait("a", much_later).await.unwrap(), Some(Duration::MAX));
        assert_eq!(
            store.record_failure("a", BACKOFF, much_later).await.unwrap(),
            BACKOFF.lock_after + 1
        );

        throttle.login_succeeded("ann@example.com").await;
        assert_eq!(throttle.check_login_wait("ann@example.com").await, Ok(()));
    }

    #[tokio::test]
    async fn purge_drops_full_buckets_only() {
        let store = MemoryLimitStore::default();
        store.take("old", MINUTE, 0).await.unwrap();
        store.take("new", MINUTE, 100_000).await.unwrap();
        store.purge(90_000).await.unwrap();
        let buckets = store.buckets.lock().unwrap();
        assert!(!buckets.contains_key("old"));
        assert!(buckets.contains_key("new"));
    }

    #[test]
    fn ipv6_clients_share_their_64_network() {
        assert_eq!(address_key(Some("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some("2001:db8:1:2:ffff::1")), "2001:db8:1:2::/64");
        assert_eq!(address_key(Some("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(Some("192.0.2.1")), "192.0.2.1");
        assert_eq!(address_key(None), "unknown");
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1_000)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1_001)), 2);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[tokio::test]
    async fn account_keys_ignore_case_and_spaces() {
        let throttle = Throttle::in_memory(Limits {
            login_backoff: BACKOFF,
            ..Limits::default()
        });
        for _ in 0..3 {
            throttle.login_failed("Ann@Example.com").await;
        }
        assert!(throttle.check_login_wait(" ann@example.com ").await.is_err());
        throttle.login_succeeded("ANN@example.com").await;
        assert!(throttle.check_login_wait("ann@example.com").await.is_ok());
    }
}
