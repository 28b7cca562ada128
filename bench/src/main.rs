//! Measures a running Latchkey server and, in the same run, the ceilings it
//! is compared with: a bare axum handler for `GET /api/auth/me` and the raw
//! Argon2id hash rate for `POST /api/auth/login`.
//!
//! Usage: `latchkey-bench BASE_URL SERVER_PID SECONDS CONCURRENCY`, with a
//! verified account `bench@example.com` / `correct horse battery` on the
//! server. `scripts/bench.sh` sets all of that up. Prints a Markdown table.
//!
//! `latchkey-bench soak BASE_URL SERVER_PID SECONDS CONCURRENCY
//! WARMUP_SECONDS` instead sends a mix of requests for SECONDS after the
//! warm-up and reports the server's memory before and after (see
//! [`soak`]). It exits with status 1 if any request failed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use argon2::{password_hash::SaltString, Algorithm, Argon2, Params, PasswordHasher, Version};
use serde_json::{json, Value};
use tokio::sync::Mutex;

mod soak;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery";

/// Throughput and latency of one measured operation.
struct Measurement {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Measurement {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, fraction: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * fraction).round() as usize;
        self.latencies[index]
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {:.2} | {:.2} | {} | {} |",
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.requests,
            self.errors,
        )
    }
}

/// Runs `concurrency` workers for `duration`; each calls `operation` in a
/// loop with its own state and reports whether the call succeeded.
async fn measure<S, F, Fut>(duration: Duration, states: Vec<S>, operation: F) -> Measurement
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = (S, bool)> + Send,
{
    let results = Arc::new(Mutex::new((Vec::new(), 0usize, 0usize)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for state in states {
        let operation = operation.clone();
        let results = Arc::clone(&results);
        workers.push(tokio::spawn(async move {
            let mut state = state;
            let mut latencies = Vec::new();
            let mut errors = 0;
            while started.elapsed() < duration {
                let begun = Instant::now();
                let (next, ok) = operation(state).await;
                state = next;
                latencies.push(begun.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            let mut results = results.lock().await;
            results.1 += latencies.len();
            results.2 += errors;
            results.0.extend(latencies);
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    let elapsed = started.elapsed();
    let (mut latencies, requests, errors) = Arc::try_unwrap(results).expect("workers done").into_inner();
    latencies.sort();
    Measurement {
        requests,
        errors,
        elapsed,
        latencies,
    }
}

async fn log_in(client: &reqwest::Client, base: &str) -> Option<Value> {
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

/// Argon2id hashes per second with the server's default parameters, on one
/// thread per core: the most logins per second this machine can do.
fn raw_hash_rate(duration: Duration) -> (f64, usize) {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let argon2 = Argon2::new(
                    Algorithm::Argon2id,
                    Version::V0x13,
                    Params::new(19_456, 2, 1, None).unwrap(),
                );
                let mut count = 0usize;
                while started.elapsed() < duration {
                    let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0c2FsdA").unwrap();
                    argon2.hash_password(PASSWORD.as_bytes(), &salt).unwrap();
                    count += 1;
                }
                count
            })
        })
        .collect();
    let hashes: usize = handles.into_iter().map(|handle| handle.join().unwrap()).sum();
    (hashes as f64 / started.elapsed().as_secs_f64(), threads)
}

/// Starts a bare axum handler that returns a `/me`-sized JSON body.
async fn bare_server() -> String {
    let body = json!({"id": "00000000-0000-0000-0000-000000000000", "email": EMAIL, "name": "Bench",
        "email_verified": true, "roles": ["viewer"], "scopes": ["contacts.read"]});
    let app = axum::Router::new().route(
        "/me",
        axum::routing::get(move || async move { axum::Json(body.clone()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// Reads a `/proc/PID/status` field in KiB, such as `VmRSS` (resident
/// memory now) or `VmHWM` (its peak). Linux only.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|line| line.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

const USAGE: &str = "usage: latchkey-bench BASE_URL SERVER_PID SECONDS CONCURRENCY\n       \
                     latchkey-bench soak BASE_URL SERVER_PID SECONDS CONCURRENCY WARMUP_SECONDS";

fn parse_or_exit<T: std::str::FromStr>(name: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| {
        eprintln!("error: {name} must be a whole number, not {value:?}\n{USAGE}");
        std::process::exit(2);
    })
}

#[tokio::main]
async fn main() {
    let arguments: Vec<String> = std::env::args().collect();
    if let [_, mode, base, pid, seconds, concurrency, warmup] = arguments.as_slice() {
        if mode == "soak" {
            let options = soak::SoakOptions {
                base: base.clone(),
                pid: parse_or_exit("SERVER_PID", pid),
                duration: Duration::from_secs(parse_or_exit("SECONDS", seconds)),
                concurrency: parse_or_exit("CONCURRENCY", concurrency),
                warmup: Duration::from_secs(parse_or_exit("WARMUP_SECONDS", warmup)),
            };
            let errors = soak::run(options).await;
            std::process::exit(if errors == 0 { 0 } else { 1 });
        }
    }
    let [_, base, pid, seconds, concurrency] = arguments.as_slice() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let pid: u32 = parse_or_exit("SERVER_PID", pid);
    let duration = Duration::from_secs(parse_or_exit("SECONDS", seconds));
    let concurrency: usize = parse_or_exit("CONCURRENCY", concurrency);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let base = base.clone();

    // Every worker needs its own login for /me and its own token chain for
    // refresh, because a refresh token works once.
    let mut logins = Vec::new();
    for _ in 0..concurrency * 2 {
        logins.push(log_in(&client, &base).await.expect("bench account can log in"));
    }
    let refresh_chains: Vec<(reqwest::Client, String, String)> = logins[concurrency..]
        .iter()
        .map(|tokens| {
            (
                client.clone(),
                base.clone(),
                tokens["refresh_token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let me_states: Vec<(reqwest::Client, String, String)> = logins[..concurrency]
        .iter()
        .map(|tokens| {
            (
                client.clone(),
                format!("{base}/api/auth/me"),
                tokens["access_token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    let bare = bare_server().await;
    let bare_states = (0..concurrency)
        .map(|_| (client.clone(), format!("{bare}/me")))
        .collect();
    let bare_me = measure(
        duration,
        bare_states,
        |(client, url): (reqwest::Client, String)| async move {
            let ok = client
                .get(&url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            ((client, url), ok)
        },
    )
    .await;

    let me = measure(
        duration,
        me_states,
        |(client, url, token): (reqwest::Client, String, String)| async move {
            let ok = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success());
            ((client, url, token), ok)
        },
    )
    .await;

    let refresh = measure(
        duration,
        refresh_chains,
        |(client, base, token): (reqwest::Client, String, String)| async move {
            let response = client
                .post(format!("{base}/api/auth/refresh"))
                .json(&json!({"refresh_token": token}))
                .send()
                .await;
            let next = match response {
                Ok(response) if response.status().is_success() => response
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|body| body["refresh_token"].as_str().map(str::to_owned)),
                _ => None,
            };
            match next {
                Some(next) => ((client, base, next), true),
                None => ((client, base, token), false),
            }
        },
    )
    .await;

    let login_states = (0..concurrency).map(|_| (client.clone(), base.clone())).collect();
    let login = measure(
        duration,
        login_states,
        |(client, base): (reqwest::Client, String)| async move {
            let ok = log_in(&client, &base).await.is_some();
            ((client, base), ok)
        },
    )
    .await;

    let (hash_rate, threads) = raw_hash_rate(duration);
    let peak = status_kib(pid, "VmHWM");

    println!("| Operation | Requests/s | p50 ms | p99 ms | Requests | Errors |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!("{}", me.row("`GET /api/auth/me`"));
    println!("{}", bare_me.row("bare axum handler (ceiling for /me)"));
    println!("{}", login.row("`POST /api/auth/login`"));
    println!("| raw Argon2id hashes, {threads} threads (ceiling for login) | {hash_rate:.1} | | | | |");
    println!("{}", refresh.row("`POST /api/auth/refresh`"));
    println!();
    println!(
        "- `/me` reaches {:.0}% of the bare handler (target: at least 50%).",
        100.0 * me.rate() / bare_me.rate()
    );
    println!(
        "- Login reaches {:.0}% of the raw hash rate (target: at least 85%).",
        100.0 * login.rate() / hash_rate
    );
    match peak {
        Some(kib) => println!("- Peak server memory (VmHWM): {:.1} MiB.", kib as f64 / 1024.0),
        None => println!("- Peak server memory: not readable from /proc/{pid}/status."),
    }
}
