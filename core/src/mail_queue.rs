//! Sends the mail that account changes queue in the database.
//!
//! The queue is the `mail_queue` table, written in the transaction of each
//! change. A worker in every instance claims due messages, sends them and
//! deletes them; a failed attempt is retried with a doubling delay. A
//! message is claimed for a lease, so several workers never send the same
//! one, and a worker that dies mid-send leaves it to the next after the lease.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use time::OffsetDateTime;
use tokio::{sync::Notify, task::JoinHandle};

use crate::{
    mail::{Mailer, SMTP_TIMEOUT},
    metrics::METRICS,
    store::{QueuedMail, Retry, Store},
};

/// How long a worker may take to send a claimed message before another
/// worker may try it: twice the SMTP timeout of one step. A relay that is
/// slow at every step can get a message twice, because delivery is at
/// least once. A worker that dies delays its messages this long.
const LEASE: Duration = Duration::from_secs(2 * SMTP_TIMEOUT.as_secs());

/// Messages claimed at once.
const BATCH: u32 = 8;

/// How often an idle worker looks for mail queued by other instances.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long a stopping worker may take to finish its message.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Maximum length, in characters, of the error text kept with a message.
const ERROR_CHARS: usize = 500;

/// When failed messages are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay after the first failure; each further failure doubles it.
    pub first_delay: Duration,
    /// The delay stops doubling here.
    pub max_delay: Duration,
    /// Attempts before the message is given up.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// Fifteen attempts over about four hours, which outlasts a relay
    /// restart or a short outage.
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(30 * 60),
            max_attempts: 15,
        }
    }
}

impl RetryPolicy {
    /// Decides what follows failed attempt number `attempts` (from 1).
    pub fn after(&self, attempts: u32, now: OffsetDateTime) -> Retry {
        if attempts >= self.max_attempts {
            return Retry::GiveUp;
        }
        let doublings = attempts.saturating_sub(1).min(20);
        let delay = self.first_delay.saturating_mul(1 << doublings).min(self.max_delay);
        Retry::At(now + delay)
    }
}

/// Wakes this process's worker when a message is queued, so that mail goes
/// out at once rather than at the next poll. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct MailQueue {
    wake: Arc<Notify>,
}

impl MailQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells the worker that a message is waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the worker of this process.
    pub fn start_worker(&self, store: Store, mailer: Mailer, policy: RetryPolicy) -> MailWorker {
        let stop = Arc::new(Stop::default());
        let worker = Worker {
            store,
            mailer,
            policy,
            wake: self.wake.clone(),
            stop: stop.clone(),
        };
        MailWorker {
            stop,
            task: tokio::spawn(worker.run()),
        }
    }
}

#[derive(Debug, Default)]
struct Stop {
    requested: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

/// The running worker. Dropping it leaves the worker running; `stop` ends it.
#[derive(Debug)]
pub struct MailWorker {
    stop: Arc<Stop>,
    task: JoinHandle<()>,
}

impl MailWorker {
    /// Lets the worker finish the message it is sending, hands the rest of
    /// its claim back to the queue, and waits for it to end.
    pub async fn stop(self) {
        self.stop.requested.store(true, Ordering::Release);
        self.stop.notify.notify_one();
        if tokio::time::timeout(STOP_TIMEOUT, self.task).await.is_err() {
            tracing::warn!("the mail worker did not stop in time; its messages go out after the lease");
        }
    }
}

struct Worker {
    store: Store,
    mailer: Mailer,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    stop: Arc<Stop>,
}

impl Worker {
    async fn run(self) {
        tracing::debug!("mail worker started");
        while !self.stop.requested() {
            let claimed = match self.store.claim_mail(OffsetDateTime::now_utc(), LEASE, BATCH).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "the mail queue cannot be read");
                    Vec::new()
                }
            };
            if let Ok(depth) = self.store.mail_queue_depth().await {
                METRICS.set_mail_queue_depth(depth);
            }

            if claimed.is_empty() {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = self.stop.notify.notified() => {}
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                }
                continue;
            }
            for queued in claimed {
                if self.stop.requested() {
                    self.release(&queued).await;
                } else {
                    self.send(queued).await;
                }
            }
        }
        tracing::debug!("mail worker stopped");
    }

    async fn send(&self, queued: QueuedMail) {
        let QueuedMail {
            id,
            mail,
            user_id,
            attempts,
        } = queued;
        let user_id = user_id.as_deref().unwrap_or("none");
        let result = self.mailer.send(mail).await;
        METRICS.mail(result.is_ok());
        let now = OffsetDateTime::now_utc();

        let settled = match result {
            Ok(()) => {
                tracing::info!(mail.id = %id, user.id = %user_id, attempts, "mail sent");
                self.store.mail_sent(&id).await
            }
            Err(error) => {
                let retry = self.policy.after(attempts, now);
                match retry {
                    Retry::At(at) => tracing::warn!(
                        mail.id = %id, user.id = %user_id, attempts, %error, retry_at = %at, "mail delivery failed"
                    ),
                    Retry::GiveUp => tracing::error!(
                        mail.id = %id, user.id = %user_id, attempts, %error, "mail delivery failed; giving up"
                    ),
                }
                let text: String = error.to_string().chars().take(ERROR_CHARS).collect();
                self.store.mail_failed(&id, &text, retry, now).await
            }
        };
        // A message sent but not deleted goes out again after its lease:
        // mail is delivered at least once, never lost.
        if let Err(error) = settled {
            tracing::error!(mail.id = %id, %error, "the mail queue was not updated");
        }
    }

    async fn release(&self, queued: &QueuedMail) {
        if let Err(error) = self.store.release_mail(&queued.id).await {
            tracing::warn!(mail.id = %queued.id, %error, "claimed mail not released; it waits for its lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_then_stop() {
        let policy = RetryPolicy {
            first_delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            max_attempts: 5,
        };
        let now = OffsetDateTime::UNIX_EPOCH;
        let delays: Vec<_> = (1..5)
            .map(|attempt| match policy.after(attempt, now) {
                Retry::At(at) => (at - now).whole_seconds(),
                Retry::GiveUp => -1,
            })
            .collect();
        assert_eq!(delays, [10, 20, 40, 60]);
        assert_eq!(policy.after(5, now), Retry::GiveUp);
        assert_eq!(policy.after(u32::MAX, now), Retry::GiveUp);
    }
}
