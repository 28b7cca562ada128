//! Changing an account's email address: the link to the new address,
//! the old address in force until then, and no hint about other accounts.

mod common;

use std::time::{Duration, Instant};

use common::{mail::read_outbox, TestServer, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

const LINK_SUBJECT: &str = "Confirm your new email address";

/// Waits for a mail with `subject` to `to` and returns its token, if any.
async fn wait_for_mail(server: &TestServer, to: &str, subject: &str) -> Option<String> {
    let started = Instant::now();
    loop {
        let found = read_outbox(&server.outbox)
            .into_iter()
            .filter(|mail| mail.to == to && mail.subject == subject)
            .last();
        if let Some(mail) = found {
            return mail.token();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {subject:?} mail to {to}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn change(
    server: &TestServer,
    access_token: &str,
    new_email: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    let (status, _, body) = server
        .api(
            Method::POST,
            "/api/auth/email/change",
            Some(json!({"new_email": new_email, "password": password})),
            Some(access_token),
        )
        .await;
    (status, body)
}

async fn login_status(server: &TestServer, email: &str) -> StatusCode {
    server
        .api_post("/api/auth/login", json!({"email": email, "password": PASSWORD}))
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_address_takes_over_once_confirmed() {
    let server = TestServer::start().await;
    let api = server.api_login("ann@example.com", None).await;
    let token = api["access_token"].as_str().unwrap();

    let (status, body) = change(&server, token, "ann@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"]["email"], "This is already the address of your account.");
    let (status, body) = change(&server, token, "ann.lee@example.com", "not the password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"]["password"], "The password is wrong.");
    let (status, body) = change(&server, token, "not an address", PASSWORD).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["email"].is_string(), "{body}");

    let (status, body) = change(&server, token, " Ann.Lee@Example.com ", PASSWORD).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let link_token = wait_for_mail(&server, "ann.lee@example.com", LINK_SUBJECT)
        .await
        .unwrap();
    wait_for_mail(&server, "ann@example.com", "Your email address is about to change").await;

    // Until the link is used the old address is the account's.
    assert_eq!(login_status(&server, "ann@example.com").await, StatusCode::OK);
    assert_eq!(
        login_status(&server, "ann.lee@example.com").await,
        StatusCode::UNAUTHORIZED
    );
    let page = server
        .page_text(&format!("/confirm-email?token={link_token}"), None)
        .await;
    assert!(page.contains("Confirm new address"));
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM email_change_tokens WHERE used_at IS NULL")
            .await,
        1,
        "opening the link spends nothing"
    );

    let (status, body) = server
        .api_post("/api/auth/email/confirm", json!({"token": link_token}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], "ann.lee@example.com");
    assert_eq!(body["email_verified"], true);
    assert_eq!(login_status(&server, "ann.lee@example.com").await, StatusCode::OK);
    assert_eq!(login_status(&server, "ann@example.com").await, StatusCode::UNAUTHORIZED);
    wait_for_mail(&server, "ann@example.com", "Your email address was changed").await;

    let (status, body) = server
        .api_post("/api/auth/email/confirm", json!({"token": link_token}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_token");

    // The old address is free for a new account.
    let (status, _) = server
        .api_post(
            "/api/auth/register",
            json!({"email": "ann@example.com", "password": PASSWORD, "name": "Another Ann"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_address_answers_alike() {
    let server = TestServer::start().await;
    let ann = server.api_login("ann@example.com", None).await;
    server.api_login("bob@example.com", None).await;
    let token = ann["access_token"].as_str().unwrap();

    let free = change(&server, token, "ann.lee@example.com", PASSWORD).await;
    let taken = change(&server, token, "bob@example.com", PASSWORD).await;
    assert_eq!(free, taken);

    wait_for_mail(&server, "bob@example.com", "This address already has an account").await;
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM email_change_tokens WHERE new_email = 'bob@example.com'")
            .await,
        0
    );
    assert_eq!(login_status(&server, "bob@example.com").await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_changes_the_address() {
    let server = TestServer::start().await;
    let cookie = server.verified_login("ann@example.com").await;

    let visitor = server.get("/account/email", None).await;
    assert_eq!(
        visitor.headers()[reqwest::header::LOCATION],
        "/login?next=/account/email"
    );
    let requested = server
        .submit(
            "/account/email",
            "request_email_change",
            &[("email", "ann.lee@example.com"), ("password", PASSWORD)],
            Some(&cookie),
        )
        .await;
    assert_eq!(requested.location, "/account/email?sent=1");
    let link_token = wait_for_mail(&server, "ann.lee@example.com", LINK_SUBJECT)
        .await
        .unwrap();

    let confirmed = server
        .submit(
            &format!("/confirm-email?token={link_token}"),
            "confirm_email_change",
            &[("token", &link_token)],
            None,
        )
        .await;
    assert_eq!(confirmed.location, "/confirm-email?done=1");
    let account = server.page_text("/account", Some(&cookie)).await;
    assert!(
        account.contains("ann.lee@example.com"),
        "the session continues with the new address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_change_can_be_resent_after_the_cooldown() {
    let server = TestServer::start_with(&[("VERIFICATION_MAIL_COOLDOWN", "1s")]).await;
    let cookie = server.verified_login("ann@example.com").await;
    let page = server.page_text("/account/email", Some(&cookie)).await;
    assert!(!page.contains("Waiting for confirmation"));

    server
        .submit(
            "/account/email",
            "request_email_change",
            &[("email", "ann.lee@example.com"), ("password", PASSWORD)],
            Some(&cookie),
        )
        .await;
    let first = wait_for_mail(&server, "ann.lee@example.com", LINK_SUBJECT)
        .await
        .unwrap();
    let page = server.page_text("/account/email", Some(&cookie)).await;
    assert!(page.contains("Waiting for confirmation of"), "{page}");
    assert!(page.contains("ann.lee@example.com"));

    // Within the cooldown the resend is refused with the wait.
    let early = server
        .submit("/account/email", "resend_email_change", &[], Some(&cookie))
        .await;
    assert!(
        matches!(early.error(), Some(app::error::AppError::TooManyAttempts { .. })),
        "{early:?}"
    );

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let resent = server
        .submit("/account/email", "resend_email_change", &[], Some(&cookie))
        .await;
    assert_eq!(resent.location, "/account/email?resent=1&wait=1");
    let started = Instant::now();
    let second = loop {
        let token = wait_for_mail(&server, "ann.lee@example.com", LINK_SUBJECT)
            .await
            .unwrap();
        if token != first {
            break token;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no second link");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let notices = read_outbox(&server.outbox)
        .into_iter()
        .filter(|mail| mail.subject == "Your email address is about to change")
        .count();
    assert_eq!(notices, 1, "the current address is told once");

    let (status, _) = server
        .api_post("/api/auth/email/confirm", json!({"token": first}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the earlier link stopped working");
    let (status, _) = server
        .api_post("/api/auth/email/confirm", json!({"token": second}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let page = server.page_text("/account/email", Some(&cookie)).await;
    assert!(!page.contains("Waiting for confirmation"));
}
