//! Password reset through a mailed link and password change with the
//! current password, over the JSON API and the browser's server functions:
//! which logins survive, which links still work, and what is stored.

mod common;

use std::time::{Duration, Instant};

use common::{mail::read_outbox, TestServer, PASSWORD};
use reqwest::{header, Method, StatusCode};
use serde_json::json;

const NEW_PASSWORD: &str = "tangerine lantern orbit";
const RESET_SUBJECT: &str = "Reset your password";
const NOTICE_SUBJECT: &str = "Your password was changed";

/// Waits until exactly `count` mails with `subject` reached `to`, and
/// returns the newest one's token, if it has one.
async fn wait_for_mails(server: &TestServer, to: &str, subject: &str, count: usize) -> Option<String> {
    let started = Instant::now();
    loop {
        let mails: Vec<_> = read_outbox(&server.outbox)
            .into_iter()
            .filter(|mail| mail.to == to && mail.subject == subject)
            .collect();
        if mails.len() >= count {
            assert_eq!(mails.len(), count, "more {subject:?} mails than expected");
            return mails.last().and_then(|mail| mail.token());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "expected {count} {subject:?} mails to {to}, got {}",
            mails.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn forgot(server: &TestServer, email: &str) -> (StatusCode, serde_json::Value) {
    server
        .api_post("/api/auth/password/forgot", json!({"email": email}))
        .await
}

async fn reset(server: &TestServer, token: &str, password: &str) -> (StatusCode, serde_json::Value) {
    server
        .api_post(
            "/api/auth/password/reset",
            json!({"token": token, "password": password}),
        )
        .await
}

async fn me_status(server: &TestServer, access_token: &str) -> StatusCode {
    server
        .api(Method::GET, "/api/auth/me", None, Some(access_token))
        .await
        .0
}

async fn login_status(server: &TestServer, email: &str, password: &str) -> StatusCode {
    server
        .api_post("/api/auth/login", json!({"email": email, "password": password}))
        .await
        .0
}

async fn stored_hash(server: &TestServer, email: &str) -> String {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&server.db)
        .await
        .unwrap()
}

/// Returns whether a browser session cookie still opens the account page.
async fn cookie_is_live(server: &TestServer, cookie: &str) -> bool {
    server.get("/account", Some(cookie)).await.status() == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_ends_every_login() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let browser = server.verified_login(email).await;
    let api = server.api_login_existing(email, None).await;
    let access_token = api["access_token"].as_str().unwrap();

    let (status, body) = forgot(&server, email).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body["message"],
        "If this address has an account, a password reset link is on its way."
    );
    let token = wait_for_mails(&server, email, RESET_SUBJECT, 1).await.unwrap();
    let mail = read_outbox(&server.outbox).into_iter().last().unwrap();
    assert!(
        mail.text
            .contains(&format!("{}/reset-password?token={token}", server.base)),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("expires in 60 minutes"), "{}", mail.text);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM password_reset_tokens")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_ne!(stored, token.as_bytes(), "only the hash of the token is stored");

    // A password the rules reject changes nothing and leaves the link usable.
    let hash_before = stored_hash(&server, email).await;
    for weak in ["short", "ann@example.com and more"] {
        let (status, body) = reset(&server, &token, weak).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{weak}");
        assert!(body["fields"]["password"].is_string(), "{body}");
    }
    assert_eq!(stored_hash(&server, email).await, hash_before);
    assert!(cookie_is_live(&server, &browser).await);
    assert_eq!(me_status(&server, access_token).await, StatusCode::OK);

    let (status, body) = reset(&server, &token, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert!(!cookie_is_live(&server, &browser).await, "the browser session ended");
    assert_eq!(me_status(&server, access_token).await, StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": api["refresh_token"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        server.count("SELECT COUNT(*) FROM sessions").await,
        0,
        "no login of the account is left"
    );
    assert_eq!(login_status(&server, email, PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&server, email, NEW_PASSWORD).await, StatusCode::OK);

    // The link works once.
    let (status, body) = reset(&server, &token, "another fine passphrase").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(login_status(&server, email, NEW_PASSWORD).await, StatusCode::OK);

    wait_for_mails(&server, email, NOTICE_SUBJECT, 1).await;
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'password_reset' AND ip = '127.0.0.1'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_answers_alike_for_unknown_addresses() {
    let server = TestServer::start().await;
    server.verified_login("ann@example.com").await;

    let known = forgot(&server, "ann@example.com").await;
    let unknown = forgot(&server, "nobody@example.com").await;
    assert_eq!(known, unknown);
    wait_for_mails(&server, "ann@example.com", RESET_SUBJECT, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(read_outbox(&server.outbox)
        .iter()
        .all(|mail| mail.to != "nobody@example.com"));
    assert_eq!(server.count("SELECT COUNT(*) FROM password_reset_tokens").await, 1);

    let (status, body) = forgot(&server, "not an address").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["email"].is_string(), "{body}");

    // Each address gets three links an hour, known or not.
    for _ in 0..2 {
        assert_eq!(forgot(&server, "nobody@example.com").await.0, StatusCode::ACCEPTED);
    }
    let (status, headers, _) = server
        .api(
            Method::POST,
            "/api/auth/password/forgot",
            Some(json!({"email": "nobody@example.com"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_reset_links_stop_working() {
    let server = TestServer::start_with(&[("PASSWORD_RESET_TOKEN_TTL", "2s")]).await;
    let email = "ann@example.com";
    server.verified_login(email).await;

    // A newer link replaces the older one.
    forgot(&server, email).await;
    let first = wait_for_mails(&server, email, RESET_SUBJECT, 1).await.unwrap();
    forgot(&server, email).await;
    let second = wait_for_mails(&server, email, RESET_SUBJECT, 2).await.unwrap();
    assert_ne!(first, second);
    let (status, body) = reset(&server, &first, NEW_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token"))
    );

    // An expired link is reported as such.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, body) = reset(&server, &second, NEW_PASSWORD).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("expired_token"))
    );
    let page = server.page_text(&format!("/reset-password?token={second}"), None).await;
    assert!(page.contains("This password reset link has expired."), "{page}");
    assert!(!page.contains("Set new password"));

    // A password change voids a link mailed before it.
    forgot(&server, email).await;
    let third = wait_for_mails(&server, email, RESET_SUBJECT, 3).await.unwrap();
    let api = server.api_login_existing(email, None).await;
    let (status, _, body) = server
        .api(
            Method::POST,
            "/api/auth/password/change",
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
            api["access_token"].as_str(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = reset(&server, &third, "another fine passphrase").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token"))
    );
    assert_eq!(login_status(&server, email, NEW_PASSWORD).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_change_keeps_only_the_current_login() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let browser = server.verified_login(email).await;
    let current = server.api_login_existing(email, None).await;
    let other = server.api_login_existing(email, None).await;
    let change = |current_password: &'static str, new_password: &'static str| {
        server.api(
            Method::POST,
            "/api/auth/password/change",
            Some(json!({"current_password": current_password, "new_password": new_password})),
            current["access_token"].as_str(),
        )
    };

    let hash_before = stored_hash(&server, email).await;
    let (status, _, body) = change("not the password", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"]["current_password"], "The current password is wrong.");
    let (status, _, body) = change(PASSWORD, PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["fields"]["new_password"],
        "The new password is the same as the current one."
    );
    let (status, _, body) = change(PASSWORD, "short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["new_password"].is_string(), "{body}");
    assert_eq!(stored_hash(&server, email).await, hash_before, "nothing changed");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'password_change_failed'")
            .await,
        1
    );
    let unauthenticated = server
        .api_post(
            "/api/auth/password/change",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(unauthenticated.0, StatusCode::UNAUTHORIZED);

    let (status, _, body) = change(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    assert_eq!(
        me_status(&server, current["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );
    let (status, body) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": current["refresh_token"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "the current login refreshes: {body}");
    assert_eq!(
        me_status(&server, other["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!cookie_is_live(&server, &browser).await);
    assert_eq!(login_status(&server, email, PASSWORD).await, StatusCode::UNAUTHORIZED);
    assert_eq!(login_status(&server, email, NEW_PASSWORD).await, StatusCode::OK);
    wait_for_mails(&server, email, NOTICE_SUBJECT, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_change_renews_the_session_id() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let cookie = server.verified_login(email).await;
    let other_browser = server.log_in(email, PASSWORD, None).await.cookie_pair().unwrap();

    let page = server.page_text("/account/security", Some(&cookie)).await;
    assert!(page.contains("Change password"), "{page}");
    let visitor = server.get("/account/security", None).await;
    assert_eq!(visitor.status(), StatusCode::FOUND);
    assert_eq!(visitor.headers()[header::LOCATION], "/login?next=/account/security");

    let wrong = server
        .submit(
            "/account/security",
            "change_password",
            &[("current_password", "not the password"), ("new_password", NEW_PASSWORD)],
            Some(&cookie),
        )
        .await;
    let error = wrong.error().expect("the form reports the wrong password");
    assert_eq!(
        error.field("current_password").as_deref(),
        Some("The current password is wrong.")
    );

    let changed = server
        .submit(
            "/account/security",
            "change_password",
            &[("current_password", PASSWORD), ("new_password", NEW_PASSWORD)],
            Some(&cookie),
        )
        .await;
    assert_eq!(changed.location, "/account/security?changed=1");
    let renewed = changed.cookie_pair().expect("a new session id is set");
    assert_ne!(renewed, cookie);
    assert!(cookie_is_live(&server, &renewed).await, "this login continues");
    assert!(!cookie_is_live(&server, &cookie).await, "the old id is dead");
    assert!(!cookie_is_live(&server, &other_browser).await, "other logins ended");

    let activity = server.page_text("/account", Some(&renewed)).await;
    assert!(activity.contains("Password changed (this site); other devices signed out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_link_spent_on_submit() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let cookie = server.verified_login(email).await;

    let page = server.page_text("/forgot-password", None).await;
    assert!(page.contains("Send reset link"));
    let requested = server
        .submit("/forgot-password", "request_password_reset", &[("email", email)], None)
        .await;
    assert_eq!(requested.location, "/forgot-password?sent=1");
    let token = wait_for_mails(&server, email, RESET_SUBJECT, 1).await.unwrap();

    let path = format!("/reset-password?token={token}");
    let page = server.page_text(&path, None).await;
    assert!(page.contains("Set new password"), "{page}");
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM password_reset_tokens WHERE used_at IS NULL")
            .await,
        1,
        "opening the link spends nothing"
    );

    let weak = server
        .submit(
            &path,
            "reset_password",
            &[("token", &token), ("password", "short")],
            None,
        )
        .await;
    assert!(weak.error().unwrap().field("password").is_some());

    let done = server
        .submit(
            &path,
            "reset_password",
            &[("token", &token), ("password", NEW_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(done.location, "/login?reset=1");
    assert!(!cookie_is_live(&server, &cookie).await);
    assert_eq!(server.log_in(email, NEW_PASSWORD, None).await.location, "/account");

    let again = server
        .submit(
            &path,
            "reset_password",
            &[("token", &token), ("password", NEW_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(again.error(), Some(app::error::AppError::ResetLinkUsed));
    let page = server.page_text(&path, None).await;
    assert!(page.contains("This password reset link has already been used."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_clears_the_login_wait() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    server.verified_login(email).await;

    // Failures an attacker ran up make the owner wait about 16 seconds.
    let throttle = server.services.app.accounts.throttle();
    for _ in 0..10 {
        throttle.login_failed(email).await;
    }
    assert_eq!(
        login_status(&server, email, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    forgot(&server, email).await;
    let token = wait_for_mails(&server, email, RESET_SUBJECT, 1).await.unwrap();
    assert_eq!(reset(&server, &token, NEW_PASSWORD).await.0, StatusCode::NO_CONTENT);
    assert_eq!(login_status(&server, email, NEW_PASSWORD).await, StatusCode::OK);
}
