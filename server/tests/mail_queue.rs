//! The mail queue: mail that outlives a relay outage and a restart, retries
//! that end, and workers of several instances that send each message once.

mod common;

use std::{collections::HashSet, time::Duration};

use common::{
    database::TestDatabase,
    mail::{free_port, read_outbox, wait_for_mail, wait_for_outbox, SmtpServer},
    process::Latchkey,
    PASSWORD,
};
use latchkey_core::{
    config::{Config, SmtpUrl},
    mail::{Mail, Mailer},
    mail_queue::{MailQueue, RetryPolicy},
    store::Store,
};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::AnyPool;
use time::OffsetDateTime;

/// Polls the count query `sql` until it gives `expected`.
async fn wait_for_count(db: &AnyPool, sql: &str, expected: i64) {
    let started = std::time::Instant::now();
    loop {
        let count: i64 = sqlx::query_scalar(sql).fetch_one(db).await.unwrap();
        if count == expected {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{sql}: {count}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(db: &AnyPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(db).await.unwrap()
}

fn message(n: usize) -> Mail {
    Mail {
        to: format!("user{n}@example.com"),
        subject: format!("Message {n}"),
        text: "Hello".to_owned(),
        html: "<p>Hello</p>".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_survives_a_relay_outage_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let (port, smtp_port) = (free_port(), free_port());
    let site = format!("127.0.0.1:{port}");
    let base = format!("http://{site}");
    let smtp_url = format!("smtp://127.0.0.1:{smtp_port}?tls=none");
    let settings = [
        ("LEPTOS_SITE_ADDR", site.as_str()),
        ("PUBLIC_URL", base.as_str()),
        ("SMTP_URL", smtp_url.as_str()),
        ("MAIL_RETRY_DELAY", "1s"),
    ];
    let mut first = Latchkey::start_on(dir.path(), &database.url, &settings);
    first.wait_until_listening(port);
    let db = database.pool().await;

    // No relay listens: the account is created all the same, and its mail
    // waits in the queue while the worker retries.
    let client = reqwest::Client::new();
    let registered = client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD, "name": "Ann"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM email_verification_tokens").await, 1);
    wait_for_count(
        &db,
        "SELECT COUNT(*) FROM mail_queue WHERE attempts >= 2 AND last_error IS NOT NULL AND locked_until IS NULL",
        1,
    )
    .await;

    // A graceful stop keeps the message.
    first.signal("TERM");
    assert!(first.exit_status(Duration::from_secs(15)).await.success());
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM mail_queue WHERE given_up_at IS NULL").await,
        1
    );

    // The relay comes back, then the server: the message goes out once, and
    // its link works.
    let smtp = SmtpServer::start_on(smtp_port);
    let second = Latchkey::start_on(dir.path(), &database.url, &settings);
    second.wait_until_listening(port);
    let mails = wait_for_mail(&smtp, 1).await;
    assert_eq!(mails[0].to, "ann@example.com");
    assert_eq!(mails[0].subject, "Verify your email address");
    wait_for_count(&db, "SELECT COUNT(*) FROM mail_queue", 0).await;
    let verified = client
        .post(format!("{base}/api/auth/verify-email"))
        .json(&json!({"token": mails[0].token().unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(smtp.received().len(), 1, "sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_of_several_instances_send_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let outbox = dir.path().join("outbox");
    let from = Config::from_lookup(|_| None).unwrap().mail_from;
    let queue = Store::connect(&database.url).await.unwrap();

    // Three instances, each with its own pool and worker; none is woken, so
    // all of them find the mail by polling, at the same moments.
    let mut workers = Vec::new();
    for _ in 0..3 {
        let store = Store::connect(&database.url).await.unwrap();
        let mailer = Mailer::outbox(&outbox, from.clone()).unwrap();
        workers.push(MailQueue::new().start_worker(store, mailer, RetryPolicy::default()));
    }
    for n in 0..60 {
        queue
            .queue_mail(&message(n), None, OffsetDateTime::now_utc())
            .await
            .unwrap();
    }

    wait_for_outbox(&outbox, 60).await;
    let started = std::time::Instant::now();
    while queue.mail_queue_depth().await.unwrap() > 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "the queue does not empty");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let sent = read_outbox(&outbox);
    let subjects: HashSet<_> = sent.iter().map(|mail| mail.subject.clone()).collect();
    assert_eq!(sent.len(), 60, "no message twice");
    assert_eq!(subjects.len(), 60, "every message once");
    for worker in workers {
        worker.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_end_and_blank_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let store = Store::connect(&database.url).await.unwrap();
    let db = database.pool().await;
    let closed = url::Url::parse(&format!("smtp://127.0.0.1:{}?tls=none", free_port())).unwrap();
    let from = Config::from_lookup(|_| None).unwrap().mail_from;
    let mailer = Mailer::smtp(&SmtpUrl(closed), from).unwrap();
    let policy = RetryPolicy {
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(1),
        max_attempts: 2,
    };
    let queue = MailQueue::new();
    let worker = queue.start_worker(store.clone(), mailer, policy);

    store
        .queue_mail(&message(1), None, OffsetDateTime::now_utc())
        .await
        .unwrap();
    queue.wake();
    wait_for_count(
        &db,
        "SELECT COUNT(*) FROM mail_queue
         WHERE given_up_at IS NOT NULL AND attempts = 2 AND text_body = '' AND html_body = ''",
        1,
    )
    .await;
    assert_eq!(store.mail_queue_depth().await.unwrap(), 0, "given up is not waiting");
    let recipient: String = sqlx::query_scalar("SELECT recipient FROM mail_queue")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(recipient, "user1@example.com", "kept for the operator");
    worker.stop().await;
}
