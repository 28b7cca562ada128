//! Response times must not tell which emails have accounts. These tests
//! use the production Argon2id parameters, so that a path that skipped the
//! hash would stand out by tens of milliseconds.
//!
//! Known and unknown requests alternate, so that drift in the machine's
//! speed affects both alike. The test compares the median of the paired
//! differences and keeps sampling until that median is known to within
//! about a millisecond, so a gap of a few milliseconds cannot hide in the
//! noise.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, PASSWORD};
use reqwest::StatusCode;
use serde_json::json;

/// Largest median difference that still counts as the same time.
const MAX_GAP: Duration = Duration::from_millis(3);
/// The test samples until the median's standard error is below this.
const TARGET_ERROR: Duration = Duration::from_millis(1);
const BATCH: usize = 20;
/// Failed logins rotate over this many accounts, so that none reaches the
/// consecutive failures that start a login wait (at most 100) within
/// `MAX_PAIRS` pairs.
const KNOWN_ACCOUNTS: usize = 5;

/// Timing tests take turns: run side by side on a small machine they
/// would mostly measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const MAX_PAIRS: usize = 400;

async fn production_hashing_server(extra: &[(&str, &str)]) -> TestServer {
    let mut settings = vec![
        ("ARGON2_MEMORY_KIB", "19456"),
        ("ARGON2_ITERATIONS", "2"),
        ("LOGIN_RATE_PER_IP", "1000000/1m"),
        ("LOGIN_FAILURES_BEFORE_WAIT", "100"),
        ("VERIFICATION_MAIL_RATE_PER_IP", "1000000/1m"),
        ("VERIFICATION_MAIL_RATE_PER_EMAIL", "1000000/1m"),
        ("VERIFICATION_MAIL_COOLDOWN", "0"),
    ];
    settings.extend_from_slice(extra);
    TestServer::start_with(&settings).await
}

/// Median of the values and an estimate of its standard error from the
/// median absolute deviation (1.4826 × MAD estimates σ for normal noise,
/// and the median's error is about 1.2533 σ / √n).
fn median_and_error(values: &mut [f64]) -> (f64, f64) {
    let median = median(values);
    let mut deviations: Vec<f64> = values.iter().map(|value| (value - median).abs()).collect();
    let sigma = 1.4826 * self::median(&mut deviations);
    (median, 1.2533 * sigma / (values.len() as f64).sqrt())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 0 {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Times `known` and `unknown` alternately and asserts that they take the
/// same time. Each call gets the index of the pair.
async fn assert_same_time<K, U, KF, UF>(what: &str, known: K, unknown: U)
where
    K: Fn(usize) -> KF,
    U: Fn(usize) -> UF,
    KF: std::future::Future<Output = ()>,
    UF: std::future::Future<Output = ()>,
{
    // Warm up connections, caches and the hashing threads.
    for index in 0..3 {
        known(index).await;
        unknown(index).await;
    }

    let mut differences_ms = Vec::new();
    let mut pairs = 0;
    let (gap, error) = loop {
        for _ in 0..BATCH {
            let started = Instant::now();
            known(pairs).await;
            let known_time = started.elapsed();
            let started = Instant::now();
            unknown(pairs).await;
            let unknown_time = started.elapsed();
            differences_ms.push((known_time.as_secs_f64() - unknown_time.as_secs_f64()) * 1e3);
            pairs += 1;
        }
        let (gap, error) = median_and_error(&mut differences_ms.clone());
        if error < TARGET_ERROR.as_secs_f64() * 1e3 || pairs >= MAX_PAIRS {
            break (gap, error);
        }
    };

    eprintln!("{what}: median gap {gap:.2} ms ± {error:.2} ms over {pairs} pairs");
    assert!(
        error < TARGET_ERROR.as_secs_f64() * 1e3,
        "{what}: too noisy to compare ({error:.2} ms after {pairs} pairs)"
    );
    assert!(
        gap.abs() < MAX_GAP.as_secs_f64() * 1e3,
        "{what}: known and unknown emails differ by {gap:.2} ms ± {error:.2} ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_login_time_does_not_reveal_accounts() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = production_hashing_server(&[]).await;
    for account in 0..KNOWN_ACCOUNTS {
        server.api_login(&format!("ann-{account}@example.com"), None).await;
    }

    let attempt = |email: String| {
        let server = &server;
        async move {
            let (status, _) = server
                .api_post("/api/auth/login", json!({"email": email, "password": "wrong password"}))
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    };
    assert_same_time(
        "API login",
        |index| attempt(format!("ann-{}@example.com", index % KNOWN_ACCOUNTS)),
        |index| attempt(format!("nobody-{index}@example.com")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_time_does_not_reveal_accounts() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = production_hashing_server(&[]).await;
    for account in 0..KNOWN_ACCOUNTS {
        server.api_login(&format!("ann-{account}@example.com"), None).await;
    }

    let attempt = |email: String| {
        let server = &server;
        async move {
            let answer = server.log_in(&email, "wrong password", None).await;
            assert_eq!(answer.error(), Some(app::error::AppError::InvalidCredentials));
        }
    };
    assert_same_time(
        "browser login",
        |index| attempt(format!("ann-{}@example.com", index % KNOWN_ACCOUNTS)),
        |index| attempt(format!("nobody-{index}@example.com")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_time_does_not_reveal_accounts() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Over SMTP a delivery takes milliseconds, which a resend for an
    // unverified account must not add to its response.
    let smtp = common::mail::SmtpServer::start();
    let smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
    let server = production_hashing_server(&[("SMTP_URL", &smtp_url)]).await;
    server.register("ann@example.com", "Ann", PASSWORD).await;

    let attempt = |email: String| {
        let server = &server;
        async move {
            let answer = server
                .submit("/login", "resend_verification", &[("email", &email)], None)
                .await;
            assert_eq!(answer.location, "/login?resent=1&wait=0");
        }
    };
    assert_same_time(
        "verification resend",
        |_| attempt("ann@example.com".to_owned()),
        |index| attempt(format!("nobody-{index}@example.com")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_time_does_not_reveal_accounts() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let smtp = common::mail::SmtpServer::start();
    let smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
    let server = production_hashing_server(&[("SMTP_URL", &smtp_url), ("REGISTER_RATE_PER_IP", "1000000/1m")]).await;
    let (status, _) = server
        .api_post(
            "/api/auth/register",
            json!({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Verified, so that each repeat mails the owner a notice rather than a
    // new link.
    sqlx::query("UPDATE users SET email_verified_at = created_at")
        .execute(&server.db)
        .await
        .unwrap();

    let attempt = |email: String| {
        let server = &server;
        async move {
            let (status, _) = server
                .api_post(
                    "/api/auth/register",
                    json!({"email": email, "password": PASSWORD, "name": "Ann"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
        }
    };
    assert_same_time(
        "registration",
        |_| attempt("ann@example.com".to_owned()),
        |index| attempt(format!("new-{index}@example.com")),
    )
    .await;
}
