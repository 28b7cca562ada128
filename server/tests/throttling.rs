//! Rate limits and login waits over real HTTP: 429 with `Retry-After`, the
//! client address behind trusted and untrusted proxies, and state left
//! unchanged by a rejected request.

mod common;

use std::time::Duration;

use common::{TestServer, PASSWORD};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// Logs in through the API as the client at `forwarded_for`, if given.
async fn api_login_from(
    server: &TestServer,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (StatusCode, header::HeaderMap, Value) {
    let headers: Vec<(&str, &str)> = forwarded_for.map(|ip| ("x-forwarded-for", ip)).into_iter().collect();
    server
        .api_with_headers(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": email, "password": password})),
            None,
            &headers,
        )
        .await
}

fn retry_after(headers: &header::HeaderMap) -> u64 {
    headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is a number of seconds")
}

fn assert_too_many(status: StatusCode, headers: &header::HeaderMap, body: &Value) -> u64 {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "too_many_requests");
    let seconds = retry_after(headers);
    assert!(seconds >= 1, "Retry-After {seconds}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{seconds} seconds")),
        "{body}"
    );
    seconds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_per_address_limit_answers_429() {
    let server = TestServer::start_with(&[("LOGIN_RATE_PER_IP", "3/1h")]).await;
    server.api_login("ann@example.com", None).await;
    let families = server.count("SELECT COUNT(*) FROM sessions WHERE kind = 'api'").await;

    for _ in 0..2 {
        let (status, _, _) = api_login_from(&server, "ann@example.com", "wrong password", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // Even the right password is turned away, and nothing is stored.
    let (status, headers, body) = api_login_from(&server, "ann@example.com", PASSWORD, None).await;
    let seconds = assert_too_many(status, &headers, &body);
    assert!(
        seconds > 600,
        "an hourly budget of 3 refills every 20 minutes: {seconds}"
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM sessions WHERE kind = 'api'").await,
        families
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_client_cannot_pick_its_address() {
    let server = TestServer::start_with(&[("LOGIN_RATE_PER_IP", "2/1h")]).await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        let (status, _, _) = api_login_from(&server, "nobody@example.com", "wrong password", Some(ip)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) =
        api_login_from(&server, "nobody@example.com", "wrong password", Some("198.51.100.3")).await;
    assert_too_many(status, &headers, &body);

    let ips: Vec<String> = sqlx::query_scalar("SELECT DISTINCT ip FROM audit_events")
        .fetch_all(&server.db)
        .await
        .unwrap();
    assert_eq!(ips, ["127.0.0.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_names_the_client() {
    let server = TestServer::start_with(&[("LOGIN_RATE_PER_IP", "2/1h"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for _ in 0..2 {
        let (status, _, _) =
            api_login_from(&server, "nobody@example.com", "wrong password", Some("198.51.100.1")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, headers, body) =
        api_login_from(&server, "nobody@example.com", "wrong password", Some("198.51.100.1")).await;
    assert_too_many(status, &headers, &body);

    // A spoofed entry left of the proxy's does not change the address.
    let (status, headers, body) = api_login_from(
        &server,
        "nobody@example.com",
        "wrong password",
        Some("203.0.113.7, 198.51.100.1"),
    )
    .await;
    assert_too_many(status, &headers, &body);

    let (status, _, _) = api_login_from(&server, "nobody@example.com", "wrong password", Some("198.51.100.2")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let ips: Vec<String> = sqlx::query_scalar("SELECT DISTINCT ip FROM audit_events ORDER BY ip")
        .fetch_all(&server.db)
        .await
        .unwrap();
    assert_eq!(ips, ["198.51.100.1", "198.51.100.2"]);
}

/// Failed logins from many addresses slow the account down, get the same
/// responses for an unknown email, and still let the owner in after the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_slow_the_account_not_lock_it() {
    let server = TestServer::start_with(&[("LOGIN_FAILURES_BEFORE_WAIT", "2"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    server.api_login("ann@example.com", None).await;

    for email in ["ann@example.com", "nobody@example.com"] {
        for attempt in 1..=3 {
            let ip = format!("198.51.100.{attempt}");
            let (status, _, body) = api_login_from(&server, email, "wrong password", Some(&ip)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{email} attempt {attempt}: {body}");
        }
        // The third failure imposed a one-second wait, from any address,
        // even with the right password.
        let (status, headers, body) = api_login_from(&server, email, PASSWORD, Some("203.0.113.9")).await;
        assert_eq!(assert_too_many(status, &headers, &body), 1, "{email}");
    }

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, _, body) = api_login_from(&server, "ann@example.com", PASSWORD, Some("203.0.113.9")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Success cleared the count: two more failures impose no wait.
    for attempt in 1..=2 {
        let (status, _, _) = api_login_from(&server, "ann@example.com", "wrong password", Some("203.0.113.9")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let throttled = server
        .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'login_throttled' AND user_id IS NOT NULL")
        .await;
    assert_eq!(throttled, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_shows_when_to_retry() {
    let server = TestServer::start_with(&[("LOGIN_RATE_PER_IP", "1/1h")]).await;
    let first = server.log_in("ann@example.com", "wrong password", None).await;
    assert_eq!(
        first.error(),
        Some(app::error::AppError::InvalidCredentials),
        "{first:?}"
    );

    // Without JavaScript: the redirect carries the error back to the form.
    let second = server.log_in("ann@example.com", "wrong password", None).await;
    let Some(app::error::AppError::TooManyAttempts { retry_after_seconds }) = second.error() else {
        panic!("expected a rate limit error: {second:?}");
    };
    assert!(retry_after_seconds > 3_000, "{retry_after_seconds}");
    let page = server
        .page_text(second.location.trim_start_matches(&server.base), None)
        .await;
    assert!(
        page.contains("Too many attempts. Please try again in 60 minutes."),
        "{page}"
    );

    // The hydrated app's fetch gets 429 with Retry-After.
    let response = reqwest::Client::new()
        .post(server.url("/fn/log_in"))
        .header(header::ORIGIN, &server.base)
        .header(header::ACCEPT, "application/json")
        .form(&[("email", "ann@example.com"), ("password", "wrong password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(response.headers()) > 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_limit_stores_nothing() {
    let server = TestServer::start_with(&[("REGISTER_RATE_PER_IP", "2/1h")]).await;
    for email in ["a@example.com", "b@example.com"] {
        let (status, _) = server
            .api_post(
                "/api/auth/register",
                json!({"email": email, "password": PASSWORD, "name": "Ann"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, headers, body) = server
        .api(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "c@example.com", "password": PASSWORD, "name": "Ann"})),
            None,
        )
        .await;
    assert_too_many(status, &headers, &body);
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 2);

    let browser = server.register("d@example.com", "Ann", PASSWORD).await;
    assert!(
        matches!(browser.error(), Some(app::error::AppError::TooManyAttempts { .. })),
        "{browser:?}"
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 2);
}

async fn resend(server: &TestServer, email: &str) -> common::Submitted {
    server
        .submit("/login", "resend_verification", &[("email", email)], None)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_mail_is_limited_per_address() {
    let server = TestServer::start_with(&[("VERIFICATION_MAIL_RATE_PER_EMAIL", "1/1h")]).await;
    server.register("ann@example.com", "Ann", PASSWORD).await;
    common::mail::wait_for_outbox(&server.outbox, 1).await;
    let mails = || {
        common::mail::read_outbox(&server.outbox)
            .into_iter()
            .filter(|mail| mail.to == "ann@example.com")
            .count()
    };
    assert_eq!(mails(), 1);

    assert_eq!(
        resend(&server, "ann@example.com").await.location,
        "/login?resent=1&wait=60"
    );
    common::mail::wait_for_outbox(&server.outbox, 2).await;
    assert_eq!(mails(), 2);
    let limited = resend(&server, "Ann@Example.com").await;
    assert!(
        matches!(limited.error(), Some(app::error::AppError::TooManyAttempts { .. })),
        "{limited:?}"
    );
    assert_eq!(mails(), 2);

    // Unknown addresses have the same budget, so the limit reveals nothing.
    assert_eq!(
        resend(&server, "nobody@example.com").await.location,
        "/login?resent=1&wait=60"
    );
    let limited = resend(&server, "nobody@example.com").await;
    assert!(matches!(
        limited.error(),
        Some(app::error::AppError::TooManyAttempts { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_limit_leaves_the_token_unspent() {
    let server = TestServer::start_with(&[("REFRESH_RATE_PER_IP", "1/1h")]).await;
    let tokens = server.api_login("ann@example.com", None).await;
    let (status, next) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": tokens["refresh_token"]}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, headers, body) = server
        .api(
            Method::POST,
            "/api/auth/refresh",
            Some(json!({"refresh_token": next["refresh_token"]})),
            None,
        )
        .await;
    assert_too_many(status, &headers, &body);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL")
            .await,
        1,
        "the newest refresh token is still unspent"
    );
    assert_eq!(
        server.count("SELECT COUNT(*) FROM sessions WHERE kind = 'api'").await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consecutive_failures_lock_until_a_reset() {
    let server = TestServer::start_with(&[("LOGIN_FAILURES_BEFORE_LOCK", "10"), ("LOGIN_MAX_WAIT", "1s")]).await;
    let email = "ann@example.com";
    server.verified_login(email).await;

    // Nine failures run up in the throttle, the tenth over HTTP.
    let throttle = server.services.app.accounts.throttle();
    for _ in 0..9 {
        throttle.login_failed(email).await;
    }
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, _, _) = api_login_from(&server, email, "wrong password", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'login_locked'")
            .await,
        1
    );

    // The right password does not help, however long the owner waits.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, _, body) = api_login_from(&server, email, PASSWORD, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "account_locked");
    let browser = server.log_in(email, PASSWORD, None).await;
    assert_eq!(browser.error(), Some(app::error::AppError::LoginLocked));

    server
        .api_post("/api/auth/password/forgot", json!({"email": email}))
        .await;
    let started = std::time::Instant::now();
    let token = loop {
        let reset_mail = common::mail::read_outbox(&server.outbox)
            .into_iter()
            .find(|mail| mail.subject == "Reset your password");
        if let Some(mail) = reset_mail {
            break mail.token().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no reset mail");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let new_password = "tangerine lantern orbit";
    let (status, _) = server
        .api_post(
            "/api/auth/password/reset",
            json!({"token": token, "password": new_password}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = api_login_from(&server, email, new_password, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_cooldown_is_shown_and_enforced() {
    let server = TestServer::start_with(&[("VERIFICATION_MAIL_RATE_PER_EMAIL", "100/1h")]).await;
    server.register("ann@example.com", "Ann", PASSWORD).await;

    let first = resend(&server, "ann@example.com").await;
    assert_eq!(first.location, "/login?resent=1&wait=60");
    let page = server.page_text("/login?resent=1&wait=60", None).await;
    assert!(page.contains("You can ask for another link in 60 seconds."), "{page}");

    let again = resend(&server, "ann@example.com").await;
    let Some(app::error::AppError::TooManyAttempts { retry_after_seconds }) = again.error() else {
        panic!("the second resend within the cooldown is refused: {again:?}");
    };
    assert!((55..=60).contains(&retry_after_seconds), "{retry_after_seconds}");

    // Another address has its own cooldown.
    assert_eq!(
        resend(&server, "bob@example.com").await.location,
        "/login?resent=1&wait=60"
    );
}
