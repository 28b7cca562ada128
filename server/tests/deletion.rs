//! Account deletion by its owner, from the page and the API: what is
//! removed, what keeps working, and that the address can register again.

mod common;

use std::time::{Duration, Instant};

use common::{mail::read_outbox, TestServer, PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn wait_for_mail(server: &TestServer, to: &str, subject: &str) {
    let started = Instant::now();
    while !read_outbox(&server.outbox)
        .iter()
        .any(|mail| mail.to == to && mail.subject == subject)
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {subject:?} mail to {to}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts the rows that belong to the user, across tables.
async fn rows_of(server: &TestServer, user_id: &str) -> i64 {
    let mut total = 0;
    for table in [
        "users WHERE id",
        "sessions WHERE user_id",
        "email_verification_tokens WHERE user_id",
        "user_roles WHERE user_id",
        "audit_events WHERE user_id",
    ] {
        total += sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table} = $1"))
            .bind(user_id)
            .fetch_one(&server.db)
            .await
            .unwrap();
    }
    total
}

async fn user_id_of(server: &TestServer, email: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&server.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_deletion_removes_everything() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let browser = server.verified_login(email).await;
    let api = server.api_login_existing(email, None).await;
    let access_token = api["access_token"].as_str().unwrap();
    let user_id = user_id_of(&server, email).await;
    let delete = |password: &'static str| {
        server.api(
            Method::POST,
            "/api/auth/account/delete",
            Some(json!({ "password": password })),
            Some(access_token),
        )
    };

    let rows_before = rows_of(&server, &user_id).await;
    let (status, _, body) = delete("not the password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"]["password"], "The password is wrong.");
    assert_eq!(
        rows_of(&server, &user_id).await,
        rows_before + 1,
        "nothing deleted; the refusal is recorded"
    );
    let (status, _) = server
        .api_post("/api/auth/account/delete", json!({"password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token is required");

    let (status, _, body) = delete(PASSWORD).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(rows_of(&server, &user_id).await, 0);
    assert_eq!(
        server
            .count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE kind = 'account_deleted' AND detail = 'api; user {user_id}'"
            ))
            .await,
        1
    );
    let (status, _, _) = server.api(Method::GET, "/api/auth/me", None, Some(access_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": api["refresh_token"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(server.get("/account", Some(&browser)).await.status(), StatusCode::FOUND);
    wait_for_mail(&server, email, "Your account has been deleted").await;

    // The address is free again.
    let (status, _) = server
        .api_post("/api/auth/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .api_post(
            "/api/auth/register",
            json!({"email": email, "password": PASSWORD, "name": "Ann"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(body["id"], user_id.as_str());
    assert_eq!(user_id_of(&server, email).await, body["id"].as_str().unwrap());
    let started = Instant::now();
    while read_outbox(&server.outbox)
        .iter()
        .filter(|mail| mail.subject == "Verify your email address")
        .count()
        < 2
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no second verification mail"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_deletes_and_logs_out() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let cookie = server.verified_login(email).await;

    let visitor = server.get("/account/delete", None).await;
    assert_eq!(
        visitor.headers()[reqwest::header::LOCATION],
        "/login?next=/account/delete"
    );
    let page = server.page_text("/account/delete", Some(&cookie)).await;
    assert!(page.contains("Delete my account"));
    assert!(page.contains(email));

    let wrong = server
        .submit(
            "/account/delete",
            "delete_account",
            &[("password", "not the password")],
            Some(&cookie),
        )
        .await;
    assert_eq!(
        wrong.error().unwrap().field("password").as_deref(),
        Some("The password is wrong.")
    );
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 1);

    let deleted = server
        .submit(
            "/account/delete",
            "delete_account",
            &[("password", PASSWORD)],
            Some(&cookie),
        )
        .await;
    assert_eq!(deleted.location, "/login?deleted=1");
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(server.get("/account", Some(&cookie)).await.status(), StatusCode::FOUND);
    let login = server.page_text("/login?deleted=1", None).await;
    assert!(login.contains("Your account has been deleted."));
}
