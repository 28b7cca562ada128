//! Soak mode: a fixed mix of `/me`, refresh, login and registration
//! requests against one server for a set time, with the server's resident
//! memory read before and after. Every response other than the expected
//! 2xx counts as an error, and so does a request that fails in transport.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};

use crate::{status_kib, EMAIL, PASSWORD};

/// The requests of the mix. `ALL` and `index` fix their order in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Me,
    Refresh,
    Login,
    Register,
}

impl Operation {
    const ALL: [Operation; 4] = [Operation::Me, Operation::Refresh, Operation::Login, Operation::Register];

    fn index(self) -> usize {
        self as usize
    }

    fn label(self) -> &'static str {
        match self {
            Operation::Me => "`GET /api/auth/me`",
            Operation::Refresh => "`POST /api/auth/refresh`",
            Operation::Login => "`POST /api/auth/login`",
            Operation::Register => "`POST /api/auth/register`",
        }
    }

    /// Requests of this kind in every 100 that one client sends.
    fn share(self) -> u64 {
        match self {
            Operation::Me => 80,
            Operation::Refresh => 14,
            Operation::Login => 4,
            Operation::Register => 2,
        }
    }

    /// Picks the operation of a client's `sequence`-th request. Stepping by
    /// 37, which is coprime with 100, visits every slot of a 100-request
    /// cycle once, so each cycle has the exact mix, with the expensive
    /// requests spread out. The offset keeps clients out of step.
    fn scheduled(client: usize, sequence: u64) -> Operation {
        let slot = (sequence * 37 + client as u64 * 13) % 100;
        let mut bound = 0;
        for operation in Operation::ALL {
            bound += operation.share();
            if slot < bound {
                return operation;
            }
        }
        unreachable!("the shares add up to 100")
    }
}

/// Latencies in microseconds, in buckets at most 1/64 (1.6%) of their
/// value wide, so that memory stays fixed however long the run is.
struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

/// Values below `2 << SUB_BITS` microseconds get a bucket each.
const SUB_BITS: u32 = 6;
const EXACT: u64 = 2 << SUB_BITS;

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; Self::bucket(u64::MAX) + 1],
            total: 0,
        }
    }

    fn bucket(micros: u64) -> usize {
        if micros < EXACT {
            return micros as usize;
        }
        let exponent = 63 - micros.leading_zeros();
        let shift = exponent - SUB_BITS;
        let octave = (exponent - SUB_BITS - 1) as usize;
        EXACT as usize + octave * (1 << SUB_BITS) + ((micros >> shift) - (1 << SUB_BITS)) as usize
    }

    /// Returns the middle of a bucket, in microseconds.
    fn value(bucket: usize) -> u64 {
        if bucket < EXACT as usize {
            return bucket as u64;
        }
        let above = bucket - EXACT as usize;
        let octave = (above >> SUB_BITS) as u32;
        let shift = octave + 1;
        let mantissa = (1u64 << SUB_BITS) + (above as u64 & ((1 << SUB_BITS) - 1));
        (mantissa << shift) + (1u64 << shift) / 2
    }

    fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(micros)] += 1;
        self.total += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    fn percentile(&self, fraction: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((self.total as f64 * fraction).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_micros(Self::value(bucket));
            }
        }
        Duration::from_micros(Self::value(self.counts.len() - 1))
    }
}

/// Latencies and error counts of one client, per operation, after the
/// warm-up.
struct Tally {
    latencies: Vec<Histogram>,
    errors: Vec<u64>,
    /// Error counts by operation and HTTP status or transport failure.
    error_kinds: BTreeMap<String, u64>,
    warmup_errors: u64,
}

impl Tally {
    fn new() -> Self {
        Self {
            latencies: Operation::ALL.iter().map(|_| Histogram::new()).collect(),
            errors: vec![0; Operation::ALL.len()],
            error_kinds: BTreeMap::new(),
            warmup_errors: 0,
        }
    }

    fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.latencies.iter_mut().zip(&other.latencies) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.errors.iter_mut().zip(&other.errors) {
            *mine += theirs;
        }
        for (kind, count) in other.error_kinds {
            *self.error_kinds.entry(kind).or_default() += count;
        }
        self.warmup_errors += other.warmup_errors;
    }
}

/// Counters that the sampling task reads while the clients run.
#[derive(Default)]
struct Progress {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Settings of one soak run, from the command line.
pub struct SoakOptions {
    pub base: String,
    pub pid: u32,
    pub duration: Duration,
    pub concurrency: usize,
    pub warmup: Duration,
}

/// A client's tokens and the data it needs for its next requests.
struct ClientState {
    id: usize,
    http: reqwest::Client,
    base: String,
    run: u64,
    access_token: String,
    refresh_token: String,
    registrations: u64,
}

impl ClientState {
    async fn send(&mut self, operation: Operation) -> Result<(), String> {
        match operation {
            Operation::Me => {
                let response = self
                    .http
                    .get(format!("{}/api/auth/me", self.base))
                    .bearer_auth(&self.access_token)
                    .send()
                    .await
                    .map_err(transport)?;
                expect_status(response, reqwest::StatusCode::OK).await.map(drop)
            }
            Operation::Refresh => {
                let response = self
                    .http
                    .post(format!("{}/api/auth/refresh", self.base))
                    .json(&json!({"refresh_token": self.refresh_token}))
                    .send()
                    .await
                    .map_err(transport)?;
                let body = expect_status(response, reqwest::StatusCode::OK).await?;
                self.take_tokens(&body)
            }
            Operation::Login => {
                let body = log_in(&self.http, &self.base).await?;
                self.take_tokens(&body)
            }
            Operation::Register => {
                self.registrations += 1;
                let email = format!("soak-{}-{}-{}@example.com", self.run, self.id, self.registrations);
                let response = self
                    .http
                    .post(format!("{}/api/auth/register", self.base))
                    .json(&json!({"email": email, "password": PASSWORD, "name": "Soak"}))
                    .send()
                    .await
                    .map_err(transport)?;
                expect_status(response, reqwest::StatusCode::CREATED).await.map(drop)
            }
        }
    }

    fn take_tokens(&mut self, body: &Value) -> Result<(), String> {
        let (Some(access), Some(refresh)) = (body["access_token"].as_str(), body["refresh_token"].as_str()) else {
            return Err("token response without tokens".to_owned());
        };
        self.access_token = access.to_owned();
        self.refresh_token = refresh.to_owned();
        Ok(())
    }
}

/// Names a failure without a response. The text becomes a key in the error
/// counts, so it leaves out addresses and details.
fn transport(error: reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// Reads the body as JSON when the status is `expected`, and otherwise
/// returns the status as the error.
async fn expect_status(response: reqwest::Response, expected: reqwest::StatusCode) -> Result<Value, String> {
    let status = response.status();
    if status != expected {
        return Err(format!("HTTP {}", status.as_u16()));
    }
    response.json().await.map_err(|_| "invalid JSON body".to_owned())
}

async fn log_in(http: &reqwest::Client, base: &str) -> Result<Value, String> {
    let response = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .map_err(transport)?;
    expect_status(response, reqwest::StatusCode::OK).await
}

/// Sends the client's scheduled requests until `stop`. Only requests that
/// start at or after `measured_from` are recorded.
async fn run_client(mut state: ClientState, measured_from: Instant, stop: Instant, progress: Arc<Progress>) -> Tally {
    let mut tally = Tally::new();
    let mut sequence = 0u64;
    while Instant::now() < stop {
        let operation = Operation::scheduled(state.id, sequence);
        sequence += 1;
        let begun = Instant::now();
        let outcome = state.send(operation).await;
        let latency = begun.elapsed();
        let measured = begun >= measured_from;

        if measured {
            tally.latencies[operation.index()].record(latency);
            progress.requests.fetch_add(1, Ordering::Relaxed);
        }
        let Err(kind) = outcome else { continue };
        if measured {
            tally.errors[operation.index()] += 1;
            *tally
                .error_kinds
                .entry(format!("{}: {kind}", operation.label()))
                .or_default() += 1;
            progress.errors.fetch_add(1, Ordering::Relaxed);
        } else {
            tally.warmup_errors += 1;
        }
        // A failed refresh may have spent the token, so the client starts a
        // new login. That login is not recorded, because the failed refresh
        // already counts as the error.
        if operation == Operation::Refresh {
            if let Ok(body) = log_in(&state.http, &state.base).await {
                let _ = state.take_tokens(&body);
            }
        }
    }
    tally
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "unreadable".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0))
}

/// Runs the soak and prints Markdown tables. Returns the number of errors
/// after the warm-up.
pub async fn run(options: SoakOptions) -> u64 {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client builds");
    // Registrations need addresses that no earlier run on the same
    // database used.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());

    let mut clients = Vec::new();
    for id in 0..options.concurrency {
        let tokens = log_in(&http, &options.base).await.unwrap_or_else(|error| {
            panic!("login as {EMAIL} failed ({error}). Create that verified account first, as scripts/bench.sh does.")
        });
        let mut state = ClientState {
            id,
            http: http.clone(),
            base: options.base.clone(),
            run,
            access_token: String::new(),
            refresh_token: String::new(),
            registrations: 0,
        };
        state.take_tokens(&tokens).expect("login returns both tokens");
        clients.push(state);
    }

    let started = Instant::now();
    let measured_from = started + options.warmup;
    let stop = measured_from + options.duration;
    let progress = Arc::new(Progress::default());
    let workers: Vec<_> = clients
        .into_iter()
        .map(|state| tokio::spawn(run_client(state, measured_from, stop, Arc::clone(&progress))))
        .collect();

    tokio::time::sleep_until(measured_from.into()).await;
    let rss_start = status_kib(options.pid, "VmRSS");

    // About ten samples over the run, none closer than a second apart.
    let sample_every = (options.duration / 10).max(Duration::from_secs(1));
    let mut samples = Vec::new();
    let mut last = (Instant::now(), 0u64, 0u64);
    loop {
        let next = last.0 + sample_every;
        if next > stop {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        let now = Instant::now();
        let requests = progress.requests.load(Ordering::Relaxed);
        let errors = progress.errors.load(Ordering::Relaxed);
        let rate = (requests - last.1) as f64 / (now - last.0).as_secs_f64();
        samples.push((
            now - measured_from,
            rate,
            errors - last.2,
            status_kib(options.pid, "VmRSS"),
        ));
        last = (now, requests, errors);
    }

    let mut tally = Tally::new();
    for worker in workers {
        tally.merge(worker.await.expect("soak client"));
    }
    let elapsed = measured_from.elapsed();
    let rss_end = status_kib(options.pid, "VmRSS");
    let peak = status_kib(options.pid, "VmHWM");

    print_report(&options, elapsed, &tally, &samples);
    println!();
    println!(
        "- Server memory: VmRSS {} MiB after the warm-up and {} MiB at the end. VmHWM {} MiB.",
        mib(rss_start),
        mib(rss_end),
        mib(peak)
    );
    let errors: u64 = tally.errors.iter().sum();
    println!(
        "- Errors: {errors} (target: 0), and {} during the warm-up.",
        tally.warmup_errors
    );
    for (kind, count) in &tally.error_kinds {
        println!("  - {kind}: {count}");
    }
    errors
}

fn print_report(
    options: &SoakOptions,
    elapsed: Duration,
    tally: &Tally,
    samples: &[(Duration, f64, u64, Option<u64>)],
) {
    let mix: Vec<String> = Operation::ALL
        .iter()
        .map(|operation| format!("{} {}", operation.share(), operation.label()))
        .collect();
    println!(
        "Soak: {} s measured after {} s of warm-up, {} clients; in every 100 requests: {}.",
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.concurrency,
        mix.join(", ")
    );
    println!();
    println!("| Operation | Requests | Requests/s | p50 ms | p99 ms | Errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let seconds = elapsed.as_secs_f64();
    let mut all = Histogram::new();
    for operation in Operation::ALL {
        let latencies = &tally.latencies[operation.index()];
        all.merge(latencies);
        print_row(operation.label(), latencies, tally.errors[operation.index()], seconds);
    }
    print_row("all", &all, tally.errors.iter().sum(), seconds);

    println!();
    println!("| Seconds into the run | Requests/s | Errors | Server VmRSS MiB |");
    println!("| ---: | ---: | ---: | ---: |");
    for (at, rate, errors, rss) in samples {
        println!("| {:.0} | {rate:.0} | {errors} | {} |", at.as_secs_f64(), mib(*rss));
    }
}

fn print_row(label: &str, latencies: &Histogram, errors: u64, seconds: f64) {
    println!(
        "| {label} | {} | {:.0} | {:.2} | {:.2} | {errors} |",
        latencies.total,
        latencies.total as f64 / seconds,
        latencies.percentile(0.50).as_secs_f64() * 1e3,
        latencies.percentile(0.99).as_secs_f64() * 1e3,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_stay_within_resolution() {
        for micros in (0..EXACT).chain([128, 129, 1_000, 4_321, 65_535, 1_000_000, 123_456_789]) {
            let middle = Histogram::value(Histogram::bucket(micros));
            let error = middle.abs_diff(micros) as f64 / micros.max(1) as f64;
            assert!(error <= 1.0 / 64.0, "{micros} µs reads back as {middle} µs");
        }
    }

    #[test]
    fn histogram_buckets_increase() {
        let mut previous = 0;
        for micros in 1..100_000u64 {
            let bucket = Histogram::bucket(micros);
            assert!(bucket >= previous, "bucket of {micros} µs is below the one before");
            previous = bucket;
        }
    }

    #[test]
    fn histogram_percentiles() {
        let mut histogram = Histogram::new();
        for millis in 1..=100 {
            histogram.record(Duration::from_millis(millis));
        }
        let p50 = histogram.percentile(0.50).as_secs_f64() * 1e3;
        let p99 = histogram.percentile(0.99).as_secs_f64() * 1e3;
        assert!((p50 - 50.0).abs() <= 50.0 / 64.0, "p50 {p50} ms");
        assert!((p99 - 99.0).abs() <= 99.0 / 64.0, "p99 {p99} ms");
    }

    #[test]
    fn schedule_has_exact_mix() {
        for client in 0..16 {
            let mut counts = [0u64; 4];
            for sequence in 0..100 {
                counts[Operation::scheduled(client, sequence).index()] += 1;
            }
            for operation in Operation::ALL {
                assert_eq!(
                    counts[operation.index()],
                    operation.share(),
                    "client {client}, {operation:?}"
                );
            }
        }
    }
}
