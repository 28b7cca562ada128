//! The sessions list: every login of a user, browser sessions and API token
//! families alike, and their revocation from the API and the page.

mod common;

use common::TestServer;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";

async fn sessions(server: &TestServer, access_token: &str) -> Vec<Value> {
    let (status, _, body) = server
        .api(Method::GET, "/api/auth/sessions", None, Some(access_token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

async fn api_login_as_firefox(server: &TestServer, email: &str) -> Value {
    let (status, _, body) = server
        .api_with_headers(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": email, "password": common::PASSWORD})),
            None,
            &[("user-agent", FIREFOX)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn me_status(server: &TestServer, access_token: &str) -> StatusCode {
    server
        .api(Method::GET, "/api/auth/me", None, Some(access_token))
        .await
        .0
}

async fn delete_session(server: &TestServer, id: &str, access_token: &str) -> StatusCode {
    server
        .api(
            Method::DELETE,
            &format!("/api/auth/sessions/{id}"),
            None,
            Some(access_token),
        )
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_lists_and_revokes_logins() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let browser = server.verified_login(email).await;
    let mine = server.api_login_existing(email, None).await;
    let other = api_login_as_firefox(&server, email).await;
    let my_token = mine["access_token"].as_str().unwrap();

    let listed = sessions(&server, my_token).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let current: Vec<&Value> = listed.iter().filter(|login| login["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["kind"], "api");
    assert_eq!(listed.iter().filter(|login| login["kind"] == "browser").count(), 1);
    let firefox = listed
        .iter()
        .find(|login| login["device"] == "Firefox on Windows")
        .expect("the Firefox login is named");
    assert_eq!(firefox["ip"], "127.0.0.1");
    assert!(firefox["signed_in_at"].as_i64().unwrap() > 1_700_000_000);

    // Another user's login id is unknown to this one.
    let stranger = server.api_login("bob@example.com", None).await;
    let strangers_id = sessions(&server, stranger["access_token"].as_str().unwrap()).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [strangers_id.as_str(), "not-an-id", &"0".repeat(64)] {
        assert_eq!(
            delete_session(&server, id, my_token).await,
            StatusCode::NOT_FOUND,
            "{id}"
        );
    }
    assert_eq!(
        me_status(&server, stranger["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );

    let firefox_id = firefox["id"].as_str().unwrap();
    assert_eq!(
        delete_session(&server, firefox_id, my_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        me_status(&server, other["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = server
        .api_post("/api/auth/refresh", json!({"refresh_token": other["refresh_token"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        delete_session(&server, firefox_id, my_token).await,
        StatusCode::NOT_FOUND
    );

    let (status, _, body) = server
        .api(Method::POST, "/api/auth/sessions/revoke-others", None, Some(my_token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["revoked"], 1, "the browser session");
    assert_eq!(server.get("/account", Some(&browser)).await.status(), StatusCode::FOUND);
    assert_eq!(me_status(&server, my_token).await, StatusCode::OK);
    assert_eq!(sessions(&server, my_token).await.len(), 1);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind IN ('login_revoked', 'other_logins_revoked')")
            .await,
        2
    );

    let (status, _, _) = server.api(Method::GET, "/api/auth/sessions", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_lists_and_revokes_logins() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    let cookie = server.verified_login(email).await;
    let second_browser = server
        .log_in(email, common::PASSWORD, None)
        .await
        .cookie_pair()
        .unwrap();
    let api = api_login_as_firefox(&server, email).await;

    let visitor = server.get("/account/sessions", None).await;
    assert_eq!(visitor.headers()[header::LOCATION], "/login?next=/account/sessions");
    let page = server.page_text("/account/sessions", Some(&cookie)).await;
    assert!(page.contains("Firefox on Windows"), "{page}");
    assert_eq!(page.matches("(this device)").count(), 1);
    assert!(page.contains("Sign out everywhere else"));

    // The API login's id, as the page's form carries it.
    let api_id = sessions(&server, api["access_token"].as_str().unwrap())
        .await
        .into_iter()
        .find(|login| login["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.contains(&api_id));
    let revoked = server
        .submit("/account/sessions", "revoke_session", &[("id", &api_id)], Some(&cookie))
        .await;
    assert_eq!(revoked.location, "/account/sessions?revoked=1");
    assert_eq!(
        me_status(&server, api["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    let others = server
        .submit("/account/sessions", "revoke_other_sessions", &[], Some(&cookie))
        .await;
    assert_eq!(others.location, "/account/sessions?revoked=1");
    assert_eq!(
        server.get("/account", Some(&second_browser)).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(server.get("/account", Some(&cookie)).await.status(), StatusCode::OK);

    // Ending the current login logs out.
    let page = server.page_text("/account/sessions", Some(&cookie)).await;
    assert_eq!(page.matches("name=\"id\"").count(), 1, "only this login is left");
    let own_id = page
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let own = server
        .submit("/account/sessions", "revoke_session", &[("id", &own_id)], Some(&cookie))
        .await;
    assert_eq!(own.location, "/login");
    assert_eq!(server.get("/account", Some(&cookie)).await.status(), StatusCode::FOUND);
    assert_eq!(server.count("SELECT COUNT(*) FROM sessions").await, 0);
}

async fn new_device_mails(server: &TestServer) -> Vec<common::mail::ReceivedMail> {
    common::mail::read_outbox(&server.outbox)
        .into_iter()
        .filter(|mail| mail.subject == "New sign-in to your account")
        .collect()
}

async fn wait_for_new_device_mails(server: &TestServer, count: usize) -> Vec<common::mail::ReceivedMail> {
    let started = std::time::Instant::now();
    loop {
        let mails = new_device_mails(server).await;
        if mails.len() >= count {
            return mails;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "expected {count} new-device mails, got {}",
            mails.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_device_is_reported_once() {
    let server = TestServer::start().await;
    let email = "ann@example.com";
    // The first device of an account is its owner's, who just registered.
    server.verified_login(email).await;
    server.api_login_existing(email, None).await;
    // Devices are recorded after the response.
    let started = std::time::Instant::now();
    while server.count("SELECT COUNT(*) FROM known_devices").await == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "first device not recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    api_login_as_firefox(&server, email).await;
    let mails = wait_for_new_device_mails(&server, 1).await;
    assert_eq!(mails[0].to, email);
    assert!(
        mails[0].text.contains("Device: Firefox on Windows"),
        "{}",
        mails[0].text
    );
    assert!(mails[0].text.contains("Address: 127.0.0.1"), "{}", mails[0].text);
    assert!(
        mails[0].text.contains(&format!("{}/account/sessions", server.base)),
        "{}",
        mails[0].text
    );

    // The same browser family and system again, even in a newer version.
    api_login_as_firefox(&server, email).await;
    let (status, _, _) = server
        .api_with_headers(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": email, "password": common::PASSWORD})),
            None,
            &[("user-agent", &FIREFOX.replace("140.0", "141.0"))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let chrome =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let (status, _, _) = server
        .api_with_headers(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": email, "password": common::PASSWORD})),
            None,
            &[("user-agent", chrome)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mails = wait_for_new_device_mails(&server, 2).await;
    assert!(mails.iter().any(|mail| mail.text.contains("Device: Chrome on Linux")));

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(new_device_mails(&server).await.len(), 2, "one notice per device");
    assert_eq!(server.count("SELECT COUNT(*) FROM known_devices").await, 3);
}

/// Returns the `Max-Age` of a `Set-Cookie` header, if it has one.
fn cookie_max_age(header: &str) -> Option<i64> {
    header
        .split(';')
        .find_map(|attribute| attribute.trim().strip_prefix("Max-Age="))
        .map(|seconds| seconds.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remember_me_chooses_the_cookie_lifetime() {
    let server = TestServer::start_with(&[("SESSION_MAX_LIFETIME", "2s")]).await;
    let email = "ann@example.com";
    let plain = server.verified_login(email).await;

    let remembered = server
        .submit(
            "/login",
            "log_in",
            &[("email", email), ("password", common::PASSWORD), ("remember", "on")],
            None,
        )
        .await;
    assert_eq!(remembered.location, "/account");
    let month = 30 * 86_400;
    let max_age = cookie_max_age(&remembered.set_cookie.clone().unwrap()).expect("a persistent cookie");
    assert!((month - 5..=month).contains(&max_age), "{max_age}");
    let cookie = remembered.cookie_pair().unwrap();
    let lifetime: i64 = sqlx::query_scalar("SELECT expires_at - created_at FROM sessions WHERE remembered = 1")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert!((month - 5..=month).contains(&lifetime), "{lifetime}");

    // Later responses keep the cookie persistent.
    let account = server.get("/account", Some(&cookie)).await;
    assert_eq!(account.status(), StatusCode::OK);
    let renewed = account.headers()[header::SET_COOKIE].to_str().unwrap();
    let max_age = cookie_max_age(renewed).expect("still persistent");
    assert!(
        (month - 10..=month).contains(&max_age),
        "counts down from login: {max_age}"
    );

    // Past SESSION_MAX_LIFETIME only the remembered login is left.
    tokio::time::sleep(std::time::Duration::from_millis(2_200)).await;
    assert_eq!(server.get("/account", Some(&plain)).await.status(), StatusCode::FOUND);
    assert_eq!(server.get("/account", Some(&cookie)).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_keeps_api_logins_past_the_browser_lifetime() {
    let server = TestServer::start_with(&[("SESSION_MAX_LIFETIME", "1s")]).await;
    let api = server.api_login("ann@example.com", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;

    let now = time::OffsetDateTime::now_utc();
    server
        .services
        .app
        .accounts
        .sessions()
        .delete_expired(now)
        .await
        .unwrap();
    assert_eq!(
        me_status(&server, api["access_token"].as_str().unwrap()).await,
        StatusCode::OK,
        "token families follow REFRESH_TOKEN_MAX_LIFETIME"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_ends_every_login_of_a_user() {
    let server = TestServer::start().await;
    let ann = server.api_login("ann@example.com", None).await;
    let bob_browser = server.verified_login("bob@example.com").await;
    let bob_api = server.api_login_existing("bob@example.com", None).await;
    let bob_id: String = sqlx::query_scalar("SELECT id FROM users WHERE email = 'bob@example.com'")
        .fetch_one(&server.db)
        .await
        .unwrap();
    let path = format!("/api/admin/users/{bob_id}/sessions");

    let (status, _, _) = server
        .api(Method::DELETE, &path, None, ann["access_token"].as_str())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer cannot end logins");
    assert_eq!(
        me_status(&server, bob_api["access_token"].as_str().unwrap()).await,
        StatusCode::OK
    );

    sqlx::query("INSERT INTO user_roles (user_id, role) SELECT id, 'admin' FROM users WHERE email = 'ann@example.com'")
        .execute(&server.db)
        .await
        .unwrap();
    let admin = server.api_login_existing("ann@example.com", None).await;
    let admin_token = admin["access_token"].as_str();
    let (status, _, body) = server.api(Method::DELETE, &path, None, admin_token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revoked"], 2);
    assert_eq!(
        me_status(&server, bob_api["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get("/account", Some(&bob_browser)).await.status(),
        StatusCode::FOUND
    );
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM audit_events WHERE kind = 'logins_revoked_by_admin'")
            .await,
        1
    );

    let (status, _, _) = server
        .api(
            Method::DELETE,
            "/api/admin/users/no-such-user/sessions",
            None,
            admin_token,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(me_status(&server, admin_token.unwrap()).await, StatusCode::OK);
}
