//! The liveness and readiness probes.

mod common;

use common::TestServer;
use reqwest::{header, StatusCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_report_liveness_and_readiness() {
    let server = TestServer::start().await;

    let alive = server.get("/healthz", None).await;
    assert_eq!(alive.status(), StatusCode::OK);
    assert_eq!(alive.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(alive.json::<serde_json::Value>().await.unwrap()["status"], "alive");
    let ready = server.get("/readyz", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.json::<serde_json::Value>().await.unwrap()["status"], "ready");
    assert!(
        server
            .get("/healthz", None)
            .await
            .headers()
            .get(header::SET_COOKIE)
            .is_none(),
        "probes start no session"
    );

    // A database that lacks a migration of this build is not ready.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
        .execute(&server.db)
        .await
        .unwrap();
    let not_ready = server.get("/readyz", None).await;
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(not_ready.headers()[header::RETRY_AFTER], "5");
    let body: serde_json::Value = not_ready.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "not_ready"}),
        "no internals in the body"
    );
    assert_eq!(server.get("/healthz", None).await.status(), StatusCode::OK);

    // A failing query (here the migrations table is gone) is not ready either.
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&server.db)
        .await
        .unwrap();
    assert_eq!(
        server.get("/readyz", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// Runs the binary with a metrics listener, logs in once, and reads the
/// counters from the metrics address, which the public address does not serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_logins_on_their_own_address() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (common::mail::free_port(), common::mail::free_port());
    let database = common::database::TestDatabase::create(dir.path()).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", &database.url)
        .env("LEPTOS_OUTPUT_NAME", "latchkey")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
        .env("ARGON2_MEMORY_KIB", "1024")
        .env("ARGON2_ITERATIONS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start latchkey");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", metrics_port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "latchkey did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"email": "nobody@example.com", "password": "not a password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        client.get(format!("{base}/metrics")).send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "the public address serves no metrics"
    );

    let registered = client
        .post(format!("{base}/api/auth/register"))
        .json(&serde_json::json!({"email": "ann@example.com", "password": common::PASSWORD, "name": "Ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);

    // The verification mail leaves the queue shortly after the response.
    let started = std::time::Instant::now();
    let text = loop {
        let metrics = client
            .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), StatusCode::OK);
        assert!(metrics.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        let text = metrics.text().await.unwrap();
        let delivered =
            text.contains("latchkey_mail_total{result=\"sent\"} 1\n") && text.contains("latchkey_mail_queue_depth 0\n");
        if delivered || started.elapsed() > std::time::Duration::from_secs(10) {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("latchkey_logins_total{outcome=\"failure\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("latchkey_logins_total{outcome=\"success\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("latchkey_request_duration_seconds_count "), "{text}");
    assert!(text.contains("latchkey_mail_total{result=\"sent\"} 1\n"), "{text}");
    assert!(text.contains("latchkey_mail_total{result=\"failed\"} 0\n"), "{text}");
    assert!(text.contains("# TYPE latchkey_mail_queue_depth gauge\n"), "{text}");
    assert!(text.contains("latchkey_mail_queue_depth 0\n"), "{text}");
}
