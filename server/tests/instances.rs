//! Two `latchkey` processes on different ports that share one database
//! behave as one: logins, tokens, revocations, signing keys and rate limits
//! cross from one to the other. A revocation on one is rejected by the other
//! within `READ_CACHE_TTL` (1 s by default).

mod common;

use std::{path::Path, time::Duration};

use common::{database::TestDatabase, mail::free_port, process::Latchkey, Site};
use reqwest::{header, Method, StatusCode};
use serde_json::json;

/// Maximum time an instance may still accept a login ended on the other:
/// the read cache's lifetime, plus a margin for the request itself.
const REVOCATION_BOUND: Duration = Duration::from_millis(1_300);

struct Pair {
    dir: tempfile::TempDir,
    _processes: Vec<Latchkey>,
    a: Site,
    b: Site,
    database: TestDatabase,
}

/// Starts two instances on one fresh database, as a load balancer would
/// see them: one public URL, one mail outbox, rate limits in the database.
async fn pair(extra: &[(&str, &str)]) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let outbox = dir.path().join("outbox");
    let ports = [free_port(), free_port()];
    let public_url = format!("http://127.0.0.1:{}", ports[0]);
    let mut processes = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let home = dir.path().join(format!("instance-{n}"));
        std::fs::create_dir(&home).unwrap();
        let site_addr = format!("127.0.0.1:{port}");
        let mut settings = vec![
            ("LEPTOS_SITE_ADDR", site_addr.as_str()),
            ("PUBLIC_URL", public_url.as_str()),
            ("MAIL_OUTBOX_DIR", outbox.to_str().unwrap()),
            ("RATE_LIMIT_STORE", "database"),
        ];
        settings.extend_from_slice(extra);
        // The first instance creates the schema before the second starts.
        let process = Latchkey::start_on(&home, &database.url, &settings);
        process.wait_until_listening(*port);
        processes.push(process);
    }
    let a = Site::new(
        format!("http://127.0.0.1:{}", ports[0]),
        outbox.clone(),
        database.pool().await,
    );
    let b = Site::new(format!("http://127.0.0.1:{}", ports[1]), outbox, database.pool().await);
    Pair {
        dir,
        _processes: processes,
        a,
        b,
        database,
    }
}

fn access(tokens: &serde_json::Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn refresh(tokens: &serde_json::Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

async fn me(site: &Site, tokens: &serde_json::Value) -> StatusCode {
    site.api(Method::GET, "/api/auth/me", None, Some(access(tokens)))
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_revocations_cross_instances() {
    let pair = pair(&[]).await;
    let (a, b) = (&pair.a, &pair.b);

    // A browser session made on one instance is served by the other.
    let cookie = a.verified_login("ann@example.com").await;
    let account = b.get("/account", Some(&cookie)).await;
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("ann@example.com"));

    // So are access and refresh tokens, in both directions.
    let tokens = a.api_login("bob@example.com", None).await;
    assert_eq!(me(b, &tokens).await, StatusCode::OK);
    let (status, rotated) = b
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh(&tokens)}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me(a, &rotated).await, StatusCode::OK);
    // The spent refresh token is known as spent on the first instance too.
    let (status, body) = a
        .api_post("/api/auth/refresh", json!({"refresh_token": refresh(&tokens)}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        me(a, &rotated).await,
        StatusCode::UNAUTHORIZED,
        "reuse revoked the login"
    );

    // A logout on one instance is rejected by the other within the bound.
    let fresh = b.api_login_existing("bob@example.com", None).await;
    assert_eq!(me(a, &fresh).await, StatusCode::OK);
    let (status, _, _) = b
        .api(Method::POST, "/api/auth/logout", None, Some(access(&fresh)))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tokio::time::sleep(REVOCATION_BOUND).await;
    assert_eq!(me(a, &fresh).await, StatusCode::UNAUTHORIZED);

    let logout = a.submit("/account", "log_out", &[], Some(&cookie)).await;
    assert!(logout.status.is_redirection(), "{logout:?}");
    tokio::time::sleep(REVOCATION_BOUND).await;
    let after = b.get("/account", Some(&cookie)).await;
    assert_eq!(after.status(), StatusCode::FOUND);
    assert!(after.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_set_and_rotation_are_shared() {
    let pair = pair(&[("SIGNING_KEY_RELOAD_INTERVAL", "1s")]).await;
    let (a, b) = (&pair.a, &pair.b);
    let jwks = |site: &Site| {
        let url = site.url("/.well-known/jwks.json");
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let kids = |set: &serde_json::Value| -> Vec<String> {
        set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(jwks(a).await, jwks(b).await);
    assert_eq!(kids(&jwks(a).await).len(), 1);

    let before = a.api_login("ann@example.com", None).await;
    let rotated = rotate_signing_key(&pair.database.url, pair.dir.path());

    // Within a reload interval both publish the new key beside the old one
    // and sign with it, and each accepts the other's tokens.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    for site in [a, b] {
        let published = kids(&jwks(site).await);
        assert_eq!(published.len(), 2, "{published:?}");
        assert!(published.contains(&rotated));
        let tokens = site.api_login_existing("ann@example.com", None).await;
        assert_eq!(key_id(access(&tokens)), rotated);
        for other in [a, b] {
            assert_eq!(me(other, &tokens).await, StatusCode::OK);
        }
    }
    assert_eq!(me(b, &before).await, StatusCode::OK, "tokens of the old key stay valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_count_across_instances() {
    let pair = pair(&[("LOGIN_RATE_PER_IP", "4/1m")]).await;
    let (a, b) = (&pair.a, &pair.b);
    let attempt = |site: &Site| {
        let site_url = site.url("/api/auth/login");
        async move {
            reqwest::Client::new()
                .post(site_url)
                .json(&json!({"email": "nobody@example.com", "password": "not the password"}))
                .send()
                .await
                .unwrap()
        }
    };
    for site in [a, b, a, b] {
        assert_eq!(attempt(site).await.status(), StatusCode::UNAUTHORIZED);
    }
    // Each instance saw two attempts, but the budget of four is spent.
    for site in [a, b] {
        let rejected = attempt(site).await;
        assert_eq!(rejected.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(rejected.headers().contains_key(header::RETRY_AFTER));
    }
}

/// Runs `latchkey rotate-signing-key` and returns the new key id.
fn rotate_signing_key(database_url: &str, dir: &Path) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .arg("rotate-signing-key")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("new signing key "))
        .and_then(|rest| rest.split(';').next())
        .expect("the command names the new key")
        .to_owned()
}

/// Reads the `kid` from a token's header.
fn key_id(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}
