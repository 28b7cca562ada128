//! Counters and a latency histogram for Prometheus, kept in process-wide
//! atomics so that any part of the server can count without plumbing.
//!
//! The numbers are per process: with several instances, Prometheus scrapes
//! each and sums them.

use std::{
    fmt::Write,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

/// Upper bounds of the request latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Outcome of a password login, browser or API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Success,
    Failure,
    /// Turned away by a rate limit, a wait or a lock before the check.
    Rejected,
}

/// Every metric of the process.
#[derive(Debug)]
pub struct Metrics {
    logins: [AtomicU64; 3],
    refreshes: AtomicU64,
    refresh_reuse: AtomicU64,
    mail_sent: AtomicU64,
    mail_failed: AtomicU64,
    mail_queue_depth: AtomicU64,
    request_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    request_count: AtomicU64,
    request_micros: AtomicU64,
}

/// The process's metrics.
pub static METRICS: Metrics = Metrics::new();

impl Metrics {
    const fn new() -> Self {
        Self {
            logins: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
            refreshes: AtomicU64::new(0),
            refresh_reuse: AtomicU64::new(0),
            mail_sent: AtomicU64::new(0),
            mail_failed: AtomicU64::new(0),
            mail_queue_depth: AtomicU64::new(0),
            request_buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len()],
            request_count: AtomicU64::new(0),
            request_micros: AtomicU64::new(0),
        }
    }

    pub fn login(&self, outcome: LoginOutcome) {
        self.logins[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refresh(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refresh_reuse(&self) {
        self.refresh_reuse.fetch_add(1, Ordering::Relaxed);
    }

    pub fn mail(&self, delivered: bool) {
        let counter = if delivered { &self.mail_sent } else { &self.mail_failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the messages waiting in the shared queue, as the mail worker
    /// last counted them.
    pub fn set_mail_queue_depth(&self, depth: u64) {
        self.mail_queue_depth.store(depth, Ordering::Relaxed);
    }

    pub fn request(&self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.request_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.request_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.request_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Renders every metric in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut text = String::new();

        text.push_str(
            "# HELP latchkey_logins_total Password logins by outcome.\n# TYPE latchkey_logins_total counter\n",
        );
        for (outcome, counter) in ["success", "failure", "rejected"].iter().zip(&self.logins) {
            let _ = writeln!(text, "latchkey_logins_total{{outcome=\"{outcome}\"}} {}", read(counter));
        }
        counter(
            &mut text,
            "latchkey_token_refreshes_total",
            "Refresh tokens spent successfully.",
            read(&self.refreshes),
        );
        counter(
            &mut text,
            "latchkey_refresh_token_reuse_total",
            "Spent refresh tokens presented again, each revoking its login.",
            read(&self.refresh_reuse),
        );
        text.push_str("# HELP latchkey_mail_total Outgoing mail by result.\n# TYPE latchkey_mail_total counter\n");
        let _ = writeln!(text, "latchkey_mail_total{{result=\"sent\"}} {}", read(&self.mail_sent));
        let _ = writeln!(
            text,
            "latchkey_mail_total{{result=\"failed\"}} {}",
            read(&self.mail_failed)
        );
        let _ = writeln!(
            text,
            "# HELP latchkey_mail_queue_depth Messages waiting to be sent, across instances.\n\
             # TYPE latchkey_mail_queue_depth gauge\nlatchkey_mail_queue_depth {}",
            read(&self.mail_queue_depth)
        );

        text.push_str(
            "# HELP latchkey_request_duration_seconds Time to answer HTTP requests.\n\
             # TYPE latchkey_request_duration_seconds histogram\n",
        );
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.request_buckets) {
            let _ = writeln!(
                text,
                "latchkey_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                read(bucket)
            );
        }
        let count = read(&self.request_count);
        let _ = writeln!(text, "latchkey_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum = read(&self.request_micros) as f64 / 1e6;
        let _ = writeln!(text, "latchkey_request_duration_seconds_sum {sum}");
        let _ = writeln!(text, "latchkey_request_duration_seconds_count {count}");
        text
    }
}

fn counter(text: &mut String, name: &str, help: &str, value: u64) {
    let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let metrics = Metrics::new();
        metrics.request(Duration::from_micros(800));
        metrics.request(Duration::from_millis(30));
        metrics.request(Duration::from_secs(9));
        metrics.login(LoginOutcome::Failure);

        let text = metrics.render();
        assert!(
            text.contains("latchkey_request_duration_seconds_bucket{le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("latchkey_request_duration_seconds_bucket{le=\"0.05\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("latchkey_request_duration_seconds_bucket{le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("latchkey_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("latchkey_request_duration_seconds_count 3\n"), "{text}");
        assert!(
            text.contains("latchkey_logins_total{outcome=\"failure\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("latchkey_logins_total{outcome=\"success\"} 0\n"),
            "{text}"
        );
    }
}
