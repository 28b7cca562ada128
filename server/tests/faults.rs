//! Faults production brings: a database that goes away and comes back, and a
//! process killed without warning in the middle of registrations.

mod common;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{
    database::TestDatabase,
    mail::{free_port, read_outbox},
    process::Latchkey,
    proxy::TcpProxy,
    PASSWORD,
};
use reqwest::{header, redirect::Policy, StatusCode};
use serde_json::json;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_gets_503_until_back() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create_postgres().await;
    let proxy = TcpProxy::start(database.postgres_address()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Latchkey::start_on(
        dir.path(),
        &database.url_via_port(proxy.port),
        &[
            ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{port}")),
            ("PUBLIC_URL", &base),
        ],
    );
    server.wait_until_listening(port);
    let client = client();
    let login = || {
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
            .send()
    };
    // A well-formed session id that the store has to look up.
    let account_page = || {
        client
            .get(format!("{base}/account"))
            .header(header::COOKIE, "latchkey_session=AAAAAAAAAAAAAAAAAAAAAA")
            .send()
    };
    assert_eq!(login().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let page_status = account_page().await.unwrap().status();
    assert!(
        page_status.is_success() || page_status.is_redirection(),
        "{page_status}"
    );

    proxy.cut();
    let rejected = login().await.unwrap();
    assert_eq!(rejected.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(rejected.headers()[header::RETRY_AFTER], "5");
    let body: serde_json::Value = rejected.json().await.unwrap();
    assert_eq!(body["error"], "service_unavailable");
    let text = body.to_string().to_lowercase();
    assert!(
        !text.contains("sql") && !text.contains("connection"),
        "no internals: {text}"
    );

    let page = account_page().await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.headers()[header::RETRY_AFTER], "5");
    assert!(page.text().await.unwrap().contains("Briefly unavailable"));
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let alive = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    assert!(server.child.try_wait().unwrap().is_none(), "the process lives on");

    // Service resumes without a restart once the database is back.
    proxy.restore();
    let started = Instant::now();
    while login().await.unwrap().status() != StatusCode::UNAUTHORIZED {
        assert!(started.elapsed() < Duration::from_secs(30), "service did not resume");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(account_page().await.unwrap().status(), page_status);
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(!server.output().contains("panicked"), "no panic: {}", server.output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_confirmed_registration() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let settings = [
        ("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}")),
        ("PUBLIC_URL", base.clone()),
        ("REGISTER_RATE_PER_IP", "100000/1m".to_owned()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Latchkey::start_on(dir.path(), &database.url, &settings);
    server.wait_until_listening(port);

    // Four clients register accounts one after another until the process
    // dies; each keeps the addresses that got their 201.
    let confirmed = Arc::new(Mutex::new(Vec::new()));
    let stopped = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for client_number in 0..4 {
        let (confirmed, stopped, base) = (confirmed.clone(), stopped.clone(), base.clone());
        clients.push(tokio::spawn(async move {
            let client = client();
            for n in 0..10_000 {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let email = format!("user{client_number}-{n}@example.com");
                let sent = client
                    .post(format!("{base}/api/auth/register"))
                    .json(&json!({"email": email, "password": PASSWORD, "name": "Load"}))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::CREATED => confirmed.lock().unwrap().push(email),
                    Ok(response) => panic!("registration answered {}", response.status()),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    server.signal("KILL");
    stopped.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    drop(server);
    let confirmed = confirmed.lock().unwrap().clone();
    assert!(confirmed.len() >= 10, "the load ran: {} registrations", confirmed.len());

    // Every confirmed registration is stored, and no account lacks its role,
    // its verification link or its mail.
    let db = database.pool().await;
    for email in &confirmed {
        let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(found, 1, "{email} got 201 but is not stored");
    }
    let incomplete: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users u
         WHERE NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = u.id)
            OR NOT EXISTS (SELECT 1 FROM email_verification_tokens t WHERE t.user_id = u.id)",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(incomplete, 0, "half-written accounts");

    // After a restart, every account's verification mail goes out.
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    let restarted = Latchkey::start_on(dir.path(), &database.url, &settings);
    restarted.wait_until_listening(port);
    let outbox = dir.path().join("data").join("outbox");
    let started = Instant::now();
    loop {
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_queue")
            .fetch_one(&db)
            .await
            .unwrap();
        if queued == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "{queued} mails still queued"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mailed: std::collections::HashSet<String> = read_outbox(&outbox).into_iter().map(|mail| mail.to).collect();
    assert_eq!(mailed.len() as i64, users, "one verification mail per account");
    for email in &confirmed {
        assert!(mailed.contains(email), "no mail to {email}");
    }
}
