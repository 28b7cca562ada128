//! The browser flows over real HTTP on loopback, against a real SQLite file,
//! posting forms the way a browser without JavaScript does.

mod common;

use app::error::AppError;
use common::{TestServer, PASSWORD};
use latchkey_core::{
    password::{HashParams, PasswordHasher},
    token::TokenHash,
    validate::field,
};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_verify_login_account_logout() {
    let server = TestServer::start().await;

    let registered = server.register("  Ann@Example.com ", "Ann Lee", PASSWORD).await;
    assert_eq!(registered.status, StatusCode::FOUND);
    assert_eq!(registered.location, "/register/check-email");
    assert!(registered.set_cookie.is_none(), "registration must not start a session");
    assert!(server
        .page_text("/register/check-email", None)
        .await
        .contains("Check your email"));

    let stored: (String, String, Option<i64>) =
        sqlx::query_as("SELECT email, password_hash, email_verified_at FROM users")
            .fetch_one(&server.db)
            .await
            .unwrap();
    assert_eq!(stored.0, "ann@example.com");
    assert!(stored.1.starts_with("$argon2id$v=19$"), "{}", stored.1);
    assert!(!stored.1.contains(PASSWORD));
    assert_eq!(stored.2, None);

    let token = server.latest_token_for("ann@example.com").await;
    let verify_page = server.page_text(&format!("/verify-email?token={token}"), None).await;
    assert!(
        verify_page.contains("Verify email"),
        "the GET shows a button and spends nothing"
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM email_verification_tokens WHERE used_at IS NULL")
            .await,
        1
    );

    let verified = server.verify(&token).await;
    assert_eq!(verified.location, "/verify-email?verified=1");
    assert!(server
        .page_text("/verify-email?verified=1", None)
        .await
        .contains("Your email address is verified"));
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM users WHERE email_verified_at IS NOT NULL")
            .await,
        1
    );

    let login = server.log_in("ANN@example.com", PASSWORD, None).await;
    assert_eq!(login.status, StatusCode::FOUND);
    assert_eq!(login.location, "/account");
    let cookie = login.cookie_pair().expect("session cookie");

    let account = server.page_text("/account", Some(&cookie)).await;
    assert!(account.contains("Ann Lee"));
    assert!(account.contains("ann@example.com"));
    assert!(account.contains(r#"data-testid="verified">Yes"#));
    assert!(account.contains("Log out"));

    let logout = server.submit("/account", "log_out", &[], Some(&cookie)).await;
    assert_eq!(logout.location, "/login");
    let removal = logout.set_cookie.expect("logout clears the cookie");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(server.count("SELECT COUNT(*) FROM sessions").await, 0);

    let replay = server.get("/account", Some(&cookie)).await;
    assert_eq!(replay.status(), StatusCode::FOUND, "the old cookie no longer logs in");
    assert_eq!(replay.headers()["location"], "/login?next=/account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_attributes() {
    let server = TestServer::start().await;
    server.verified_login("ann@example.com").await;

    let login = server.log_in("ann@example.com", PASSWORD, None).await;
    let header = login.set_cookie.expect("Set-Cookie");
    let mut parts = header.split(';').map(str::trim);
    let (name, value) = parts.next().unwrap().split_once('=').unwrap();
    let attributes: Vec<&str> = parts.collect();

    assert_eq!(name, "latchkey_session");
    assert!(value.len() >= 22, "at least 128 bits of id: {value}");
    assert!(attributes.contains(&"HttpOnly"), "{header}");
    assert!(attributes.contains(&"Secure"), "{header}");
    assert!(attributes.contains(&"SameSite=Lax"), "{header}");
    assert!(attributes.contains(&"Path=/"), "{header}");
    assert!(
        !attributes
            .iter()
            .any(|attribute| attribute.starts_with("Max-Age") || attribute.starts_with("Expires")),
        "without Remember me the cookie ends with the browser session: {header}"
    );
    let lifetime: i64 = sqlx::query_scalar("SELECT expires_at - last_seen_at FROM sessions WHERE user_id IS NOT NULL")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(lifetime, 3600, "the store ends it after an idle hour");
    assert!(
        !attributes.iter().any(|attribute| attribute.starts_with("Domain")),
        "{header}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_id_changes_at_login() {
    let server = TestServer::start().await;
    let first = server.verified_login("ann@example.com").await;

    let planted = "latchkey_session=AAAAAAAAAAAAAAAAAAAAAA";
    let from_planted = server.log_in("ann@example.com", PASSWORD, Some(planted)).await;
    let new_cookie = from_planted.cookie_pair().unwrap();
    assert_ne!(new_cookie, planted, "a planted id is never adopted");

    let again = server.log_in("ann@example.com", PASSWORD, Some(&first)).await;
    let second = again.cookie_pair().unwrap();
    assert_ne!(second, first, "logging in again issues a new id");
    let old = server.get("/account", Some(&first)).await;
    assert_eq!(old.status(), StatusCode::FOUND, "the id in use before login is ended");
    assert_eq!(server.get("/account", Some(&second)).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_stored_by_hash_with_user() {
    let server = TestServer::start().await;
    let cookie = server.verified_login("ann@example.com").await;
    let id = cookie.split_once('=').unwrap().1;

    let rows: Vec<(Vec<u8>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id_hash, user_id, ip FROM sessions")
            .fetch_all(&server.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, TokenHash::of(id).as_bytes());
    assert!(rows[0].1.is_some(), "the row names its user");
    assert_eq!(rows[0].2.as_deref(), Some("127.0.0.1"));
    let data: String = sqlx::query_scalar("SELECT data FROM sessions")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert!(!data.contains(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_rejects_bad_input_and_stores_nothing() {
    let server = TestServer::start().await;
    let long_name = "x".repeat(101);
    let long_password = "p".repeat(129);
    let cases: [(&str, &str, &str, &str); 6] = [
        ("not-an-email", "Ann", PASSWORD, field::EMAIL),
        ("", "Ann", PASSWORD, field::EMAIL),
        ("ann@example.com", "", PASSWORD, field::DISPLAY_NAME),
        ("ann@example.com", &long_name, PASSWORD, field::DISPLAY_NAME),
        ("ann@example.com", "Ann", "seven77", field::PASSWORD),
        ("ann@example.com", "Ann", &long_password, field::PASSWORD),
    ];

    for (email, name, password, bad_field) in cases {
        let answer = server.register(email, name, password).await;
        assert_eq!(answer.status, StatusCode::FOUND);
        assert!(
            answer.location.starts_with(&server.url("/register?")),
            "{}",
            answer.location
        );
        assert!(!answer.location.contains(password), "the password is never echoed");
        let Some(AppError::Invalid {
            errors,
            email: echoed_email,
            display_name,
        }) = answer.error()
        else {
            panic!("expected field errors for {bad_field}, got {:?}", answer.error());
        };
        assert!(errors.get(bad_field).is_some(), "{bad_field}: {errors:?}");
        assert_eq!(errors.iter().count(), 1, "only {bad_field} is wrong: {errors:?}");
        assert_eq!(echoed_email, email);
        assert_eq!(display_name, name);
    }

    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(server.count("SELECT COUNT(*) FROM email_verification_tokens").await, 0);
    assert!(common::mail::read_outbox(&server.outbox).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_page_shows_errors_beside_fields() {
    let server = TestServer::start().await;
    let answer = server.register("nope", "Ann", "short").await;
    let page = answer.location.trim_start_matches(&server.base).to_owned();
    let html = server.page_text(&page, None).await;

    assert!(
        html.contains("Enter an email address such as name@example.com."),
        "{html}"
    );
    assert!(html.contains("Use at least 15 characters."));
    assert!(html.contains(r#"value="nope""#), "the email stays filled");
    assert!(html.contains(r#"value="Ann""#), "the display name stays filled");
    assert!(!html.contains(r#"value="short""#), "the password is not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_existing_email_answers_the_same() {
    let server = TestServer::start().await;
    server.verified_login("ann@example.com").await;

    let again = server.register(" ANN@example.com", "Someone", "another password").await;
    assert_eq!(again.location, "/register/check-email");
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 1);
    let name: String = sqlx::query_scalar("SELECT display_name FROM users")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(name, "Ann", "the existing account is untouched");

    let mails = common::mail::wait_for_outbox(&server.outbox, 2).await;
    let notice = mails.last().unwrap();
    assert_eq!(notice.to, "ann@example.com");
    assert_eq!(notice.subject, "You already have an account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_look_alike() {
    let server = TestServer::start().await;
    server.verified_login("ann@example.com").await;

    let wrong_password = server.log_in("ann@example.com", "wrong password", None).await;
    let unknown_email = server.log_in("bob@example.com", PASSWORD, None).await;
    let malformed_email = server.log_in("bob", PASSWORD, None).await;

    for answer in [&wrong_password, &unknown_email, &malformed_email] {
        assert_eq!(answer.status, StatusCode::FOUND);
        assert_eq!(answer.error(), Some(AppError::InvalidCredentials), "{answer:?}");
        assert!(answer.set_cookie.is_none(), "no session for a failed login");
    }
    assert_eq!(wrong_password.location, unknown_email.location);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM sessions WHERE user_id IS NOT NULL")
            .await,
        1
    );

    let html = server
        .page_text(wrong_password.location.trim_start_matches(&server.base), None)
        .await;
    assert!(html.contains("Wrong email or password."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_unverified_offers_resend() {
    let server = TestServer::start().await;
    server.register("ann@example.com", "Ann", PASSWORD).await;

    let answer = server.log_in("ann@example.com", PASSWORD, None).await;
    assert_eq!(
        answer.error(),
        Some(AppError::EmailNotVerified {
            email: "ann@example.com".to_owned()
        })
    );
    assert!(answer.set_cookie.is_none());

    let html = server
        .page_text(answer.location.trim_start_matches(&server.base), None)
        .await;
    assert!(html.contains("not verified"), "{html}");
    assert!(html.contains("Resend verification email"));

    let before = common::mail::read_outbox(&server.outbox).len();
    let resent = server
        .submit("/login", "resend_verification", &[("email", "ann@example.com")], None)
        .await;
    assert_eq!(resent.location, "/login?resent=1&wait=60");
    common::mail::wait_for_outbox(&server.outbox, before + 1).await;

    let unknown = server
        .submit("/login", "resend_verification", &[("email", "bob@example.com")], None)
        .await;
    assert_eq!(
        unknown.location, "/login?resent=1&wait=60",
        "same answer for an unknown address"
    );
    assert_eq!(common::mail::read_outbox(&server.outbox).len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_on_unverified_account_is_invalid_credentials() {
    let server = TestServer::start().await;
    server.register("ann@example.com", "Ann", PASSWORD).await;
    let answer = server.log_in("ann@example.com", "not the password", None).await;
    assert_eq!(answer.error(), Some(AppError::InvalidCredentials));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_token_is_single_use() {
    let server = TestServer::start().await;
    server.register("ann@example.com", "Ann", PASSWORD).await;
    let token = server.latest_token_for("ann@example.com").await;

    assert_eq!(server.verify(&token).await.location, "/verify-email?verified=1");
    let second = server.verify(&token).await;
    assert_eq!(second.error(), Some(AppError::TokenUsed));
    let html = server
        .page_text(second.location.trim_start_matches(&server.base), None)
        .await;
    assert!(html.contains("already been used"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_token_stored_as_hash() {
    let server = TestServer::start().await;
    server.register("ann@example.com", "Ann", PASSWORD).await;
    let token = server.latest_token_for("ann@example.com").await;

    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM email_verification_tokens")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(stored, TokenHash::of(&token).as_bytes());
    assert_ne!(stored, token.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_offers_a_new_link() {
    let server = TestServer::start().await;
    server.register("ann@example.com", "Ann", PASSWORD).await;
    let token = server.latest_token_for("ann@example.com").await;
    sqlx::query("UPDATE email_verification_tokens SET expires_at = expires_at - 90000")
        .execute(&server.db)
        .await
        .unwrap();

    let expired = server.verify(&token).await;
    assert_eq!(expired.error(), Some(AppError::TokenExpired));
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM users WHERE email_verified_at IS NULL")
            .await,
        1
    );
    let html = server
        .page_text(expired.location.trim_start_matches(&server.base), None)
        .await;
    assert!(html.contains("expired"));
    assert!(html.contains("Send a new link"));

    let page = format!("/verify-email?token={token}");
    let resent = server
        .submit(&page, "resend_verification_link", &[("token", &token)], None)
        .await;
    assert_eq!(resent.location, "/verify-email?resent=1&wait=60");
    let fresh = server.latest_token_for("ann@example.com").await;
    assert_ne!(fresh, token);
    assert_eq!(
        server.verify(&token).await.error(),
        Some(AppError::TokenInvalid),
        "the old link is replaced"
    );
    assert_eq!(server.verify(&fresh).await.location, "/verify-email?verified=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_verification_token_is_invalid() {
    let server = TestServer::start().await;
    for token in ["", "nonsense", &"A".repeat(43), "<script>"] {
        let answer = server.verify(token).await;
        assert_eq!(answer.error(), Some(AppError::TokenInvalid), "{token:?}");
    }
    let html = server.page_text("/verify-email", None).await;
    assert!(html.contains("invalid"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_requires_login() {
    let server = TestServer::start().await;
    for cookie in [None, Some("latchkey_session=forged-value")] {
        let response = server.get("/account", cookie).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(response.headers()["location"], "/login?next=/account");
    }
    let home = server.get("/", None).await;
    assert_eq!(home.headers()["location"], "/login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_sends_logged_in_user_to_account() {
    let server = TestServer::start().await;
    let cookie = server.verified_login("ann@example.com").await;
    let home = server.get("/", Some(&cookie)).await;
    assert_eq!(home.status(), StatusCode::FOUND);
    assert_eq!(home.headers()["location"], "/account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_name_edit() {
    let server = TestServer::start().await;
    let cookie = server.verified_login("ann@example.com").await;

    let saved = server
        .submit(
            "/account",
            "update_display_name",
            &[("display_name", "  Ann B. ")],
            Some(&cookie),
        )
        .await;
    assert_eq!(saved.location, "/account?saved=1");
    let html = server.page_text("/account?saved=1", Some(&cookie)).await;
    assert!(html.contains(r#"data-testid="display-name">Ann B.<"#));
    assert!(html.contains("Display name saved."));

    for bad in ["", "   ", &"n".repeat(101)] {
        let answer = server
            .submit(
                "/account",
                "update_display_name",
                &[("display_name", bad)],
                Some(&cookie),
            )
            .await;
        let error = answer.error().expect("an error");
        assert!(error.field(field::DISPLAY_NAME).is_some(), "{bad:?}: {error:?}");
    }
    let name: String = sqlx::query_scalar("SELECT display_name FROM users")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(name, "Ann B.", "rejected edits leave the name intact");

    let anonymous = server
        .submit("/account", "update_display_name", &[("display_name", "Eve")], None)
        .await;
    assert_eq!(anonymous.error(), Some(AppError::NotLoggedIn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_absolute_expiry_end_sessions() {
    let server = TestServer::start().await;
    let idle = server.verified_login("ann@example.com").await;
    sqlx::query("UPDATE sessions SET expires_at = $1")
        .bind(time::OffsetDateTime::now_utc().unix_timestamp() - 1)
        .execute(&server.db)
        .await
        .unwrap();
    assert_eq!(
        server.get("/account", Some(&idle)).await.status(),
        StatusCode::FOUND,
        "idle session ended"
    );

    let old = server
        .log_in("ann@example.com", PASSWORD, None)
        .await
        .cookie_pair()
        .unwrap();
    assert_eq!(server.get("/account", Some(&old)).await.status(), StatusCode::OK);
    sqlx::query("UPDATE sessions SET created_at = created_at - 8 * 86400")
        .execute(&server.db)
        .await
        .unwrap();
    assert_eq!(
        server.get("/account", Some(&old)).await.status(),
        StatusCode::FOUND,
        "older than 7 days"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_session_is_not_recreated() {
    let server = TestServer::start().await;
    let cookie = server.verified_login("ann@example.com").await;
    sqlx::query("DELETE FROM sessions").execute(&server.db).await.unwrap();

    assert_eq!(server.get("/account", Some(&cookie)).await.status(), StatusCode::FOUND);
    assert_eq!(server.count("SELECT COUNT(*) FROM sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_rehashes_outdated_password_hash() {
    let server = TestServer::start().await;
    server.verified_login("ann@example.com").await;

    let old_params = HashParams {
        memory_kib: 512,
        iterations: 1,
        parallelism: 1,
    };
    let old_hash = PasswordHasher::new(old_params, 1)
        .unwrap()
        .hash(PASSWORD)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET password_hash = $1")
        .bind(&old_hash)
        .execute(&server.db)
        .await
        .unwrap();

    assert_eq!(
        server.log_in("ann@example.com", PASSWORD, None).await.location,
        "/account"
    );
    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{stored}");
    assert_eq!(
        server.log_in("ann@example.com", PASSWORD, None).await.location,
        "/account"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_page_is_404() {
    let server = TestServer::start().await;
    let response = server.get("/no/such/page", None).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers() {
    let server = TestServer::start().await;
    for path in ["/login", "/register", "/no/such/page"] {
        let response = server.get(path, None).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{path}");
        let permissions = headers["permissions-policy"].to_str().unwrap();
        assert!(permissions.contains("camera=()"), "{path}: {permissions}");
        assert!(permissions.contains("geolocation=()"), "{path}: {permissions}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "{path}: no HSTS over plain HTTP"
        );
        assert!(
            headers["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_form_posts_are_rejected() {
    let server = TestServer::start().await;
    let cookie = server.verified_login("ann@example.com").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |function: &str, body: &'static str, extra: Vec<(&'static str, String)>| {
        let mut request = client
            .post(server.url(&format!("/fn/{function}")))
            .header("accept", "text/html")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", &cookie)
            .body(body);
        for (name, value) in extra {
            request = request.header(name, value);
        }
        request.send()
    };

    let forged_rename = post(
        "update_display_name",
        "display_name=Mallory",
        vec![("origin", "http://evil.example".to_owned())],
    )
    .await
    .unwrap();
    assert_eq!(forged_rename.status(), StatusCode::FORBIDDEN);
    assert!(forged_rename.text().await.unwrap().contains("Request blocked"));
    let forged_logout = post("log_out", "", vec![("sec-fetch-site", "cross-site".to_owned())])
        .await
        .unwrap();
    assert_eq!(forged_logout.status(), StatusCode::FORBIDDEN);

    let name: String = sqlx::query_scalar("SELECT display_name FROM users")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(name, "Ann", "the forged rename changed nothing");
    assert_eq!(
        server.get("/account", Some(&cookie)).await.status(),
        StatusCode::OK,
        "the forged logout did not log out"
    );

    let same_origin = post(
        "update_display_name",
        "display_name=Ann+B",
        vec![("origin", server.base.clone())],
    )
    .await
    .unwrap();
    assert_eq!(same_origin.status(), StatusCode::FOUND);
    let same_site_fetch = post("log_out", "", vec![("sec-fetch-site", "same-origin".to_owned())])
        .await
        .unwrap();
    assert_eq!(same_site_fetch.status(), StatusCode::FOUND);
    assert_eq!(
        server.get("/account", Some(&cookie)).await.status(),
        StatusCode::FOUND,
        "logged out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hydrated_form_errors_carry_http_statuses() {
    let server = TestServer::start().await;
    server.register("ann@example.com", "Ann", PASSWORD).await;
    let client = reqwest::Client::new();
    let call = |function: &'static str, body: &'static str| {
        client
            .post(server.url(&format!("/fn/{function}")))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };

    let cases = [
        (
            "register",
            "email=bad&display_name=Ann&password=x",
            StatusCode::BAD_REQUEST,
        ),
        (
            "log_in",
            "email=bob%40example.com&password=wrong+password",
            StatusCode::UNAUTHORIZED,
        ),
        (
            "log_in",
            "email=ann%40example.com&password=correct+horse+battery",
            StatusCode::FORBIDDEN,
        ),
        ("verify_email", "token=nonsense", StatusCode::BAD_REQUEST),
        ("update_display_name", "display_name=Eve", StatusCode::UNAUTHORIZED),
    ];
    for (function, body, expected) in cases {
        let response = call(function, body).await.unwrap();
        assert_eq!(response.status(), expected, "{function} {body}");
        let error: AppError = response.json().await.expect("the body is the AppError as JSON");
        assert_ne!(error, AppError::Internal, "{function}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_form_posts_get_400() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let bodies: [(&str, Vec<u8>); 4] = [
        ("register", b"email=ann%40example.com".to_vec()),
        ("log_in", vec![0xff, 0xfe, b'=']),
        ("verify_email", Vec::new()),
        ("update_display_name", b"name=Eve".to_vec()),
    ];
    for (function, body) in bodies {
        let response = client
            .post(server.url(&format!("/fn/{function}")))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{function}");
        let error: AppError = response.json().await.unwrap();
        assert!(matches!(error, AppError::ServerFn(_)), "{function}: {error:?}");
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_allow_only_nonced_scripts() {
    let server = TestServer::start().await;
    let response = server.get("/login", None).await;
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = response.text().await.unwrap();

    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_owned();
    assert!(nonce.len() >= 22, "at least 128 bits: {nonce}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    for directive in [
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "'strict-dynamic'",
    ] {
        assert!(policy.contains(directive), "{directive}: {policy}");
    }
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every script carries the nonce"
    );

    let again = server.get("/login", None).await;
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(&nonce),
        "a new nonce per response"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_page_lists_recent_activity() {
    let server = TestServer::start().await;
    server.api_login("ann@example.com", None).await;
    let failed = server.log_in("ann@example.com", "wrong password", None).await;
    assert_eq!(failed.error(), Some(app::error::AppError::InvalidCredentials));
    let cookie = server
        .log_in("ann@example.com", PASSWORD, None)
        .await
        .cookie_pair()
        .unwrap();

    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT kind, detail, ip FROM audit_events WHERE user_id IS NOT NULL ORDER BY id")
            .fetch_all(&server.db)
            .await
            .unwrap();
    let kinds: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|(kind, detail, _)| (kind.as_str(), detail.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("email_verified", Some("ann@example.com")),
            ("login_succeeded", Some("api")),
            ("login_failed", Some("browser")),
            ("login_succeeded", Some("browser")),
        ]
    );
    assert!(rows.iter().all(|(_, _, ip)| ip.as_deref() == Some("127.0.0.1")));

    let page = server.page_text("/account", Some(&cookie)).await;
    assert!(page.contains("Recent activity"), "{page}");
    let logged_in = page.find("Logged in (this site)").expect("browser login listed");
    let failed = page.find("Failed login (this site)").expect("failed login listed");
    let api = page.find("Logged in (API)").expect("API login listed");
    let verified = page.find("Email address verified").expect("verification listed");
    assert!(logged_in < failed, "newest first");
    assert!(failed < api, "newest first");
    assert!(api < verified, "newest first");
    assert!(page.contains("127.0.0.1"));

    server.submit("/account", "log_out", &[], Some(&cookie)).await;
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'logout' AND detail = 'browser'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_deployment_adds_hsts_and_host_cookie() {
    let server = TestServer::start_with(&[("PUBLIC_URL", "https://auth.example.com")]).await;
    for path in ["/login", "/api/openapi.json", "/no/such/page"] {
        let response = server.get(path, None).await;
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }

    server.api_login("ann@example.com", None).await;
    let login = server.log_in("ann@example.com", PASSWORD, None).await;
    let cookie = login.set_cookie.expect("login sets the session cookie");
    assert!(cookie.starts_with("__Host-latchkey_session="), "{cookie}");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_follows_only_local_next() {
    let server = TestServer::start().await;
    server.api_login("ann@example.com", None).await;
    let log_in_with_next = |next: &'static str| {
        let server = &server;
        async move {
            server
                .submit(
                    "/login?next=x",
                    "log_in",
                    &[("email", "ann@example.com"), ("password", PASSWORD), ("next", next)],
                    None,
                )
                .await
                .location
        }
    };

    assert_eq!(log_in_with_next("/account?saved=1").await, "/account?saved=1");
    for foreign in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
    ] {
        assert_eq!(log_in_with_next(foreign).await, "/account", "{foreign:?}");
    }

    let page = server.page_text("/login?next=/account%3Fsaved%3D1", None).await;
    assert!(
        page.contains(r#"name="next" value="/account?saved=1""#),
        "the login form carries next: {page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_policy_rejects_common_and_personal_passwords() {
    let server = TestServer::start().await;
    let cases = [
        ("PasswordPassword", "one of the most common"),
        ("qwertyuiopasdfgh", "one of the most common"),
        ("ann.lee and her secret", "email address or name"),
        ("latchkey is my secret", "name of this service"),
        ("fourteen chars", "at least 15 characters"),
    ];
    for (password, reason) in cases {
        let (status, body) = server
            .api_post(
                "/api/auth/register",
                serde_json::json!({"email": "ann.lee@example.com", "password": password, "name": "Ann"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}");
        let message = body["fields"]["password"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{password}: {body}");

        let answer = server.register("ann.lee@example.com", "Ann", password).await;
        let error = answer.error().expect("field errors");
        assert!(
            error.field("password").unwrap().contains(reason),
            "{password}: {error:?}"
        );
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_minimum_is_configurable() {
    let server = TestServer::start_with(&[("PASSWORD_MIN_LENGTH", "20")]).await;
    let page = server.page_text("/register", None).await;
    assert!(page.contains("At least 20 characters."), "{page}");
    let answer = server.register("ann@example.com", "Ann", "nineteen characters").await;
    assert_eq!(
        answer.error().and_then(|error| error.field("password")),
        Some("Use at least 20 characters.".to_owned())
    );
    let answer = server.register("ann@example.com", "Ann", "twenty characters ok").await;
    assert_eq!(answer.location, "/register/check-email");
}

/// A password is hashed in NFKC form, so typing it with a precomposed or a
/// combining accent logs in alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_spellings_normalize_alike() {
    let server = TestServer::start().await;
    let composed = "caf\u{e9} au lait \u{e0} midi";
    let decomposed = "cafe\u{301} au lait a\u{300} midi";
    let (status, _) = server
        .api_post(
            "/api/auth/register",
            serde_json::json!({"email": "ann@example.com", "password": composed, "name": "Ann"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = server.latest_token_for("ann@example.com").await;
    server
        .api_post("/api/auth/verify-email", serde_json::json!({"token": token}))
        .await;

    for password in [composed, decomposed] {
        let (status, body) = server
            .api_post(
                "/api/auth/login",
                serde_json::json!({"email": "ann@example.com", "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{password:?}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_change_renews_the_session_id() {
    let server = TestServer::start().await;
    let before = server.verified_login("ann@example.com").await;
    assert_eq!(server.get("/account", Some(&before)).await.status(), StatusCode::OK);

    let user_id: String = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&server.db)
        .await
        .unwrap();
    server
        .services
        .app
        .accounts
        .store()
        .set_user_roles(
            &latchkey_core::store::UserId(user_id),
            &[latchkey_core::roles::Role::Editor],
        )
        .await
        .unwrap();

    let response = server.get("/account", Some(&before)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = common::set_cookie_pair(response.headers());
    assert!(after.starts_with("latchkey_session="), "{after}");
    assert_ne!(after, before, "a new id after the role change");

    let replay = server.get("/account", Some(&before)).await;
    assert_eq!(replay.status(), StatusCode::FOUND, "the old id is gone");
    assert_eq!(server.get("/account", Some(&after)).await.status(), StatusCode::OK);
}
