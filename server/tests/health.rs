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
