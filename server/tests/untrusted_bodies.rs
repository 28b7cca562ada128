//! Generated request bodies against the form and JSON parsers of the real
//! server: whatever arrives, the response is a 2xx, 3xx or 4xx, never a 5xx,
//! and the server keeps serving. A fixed number of cases per endpoint keeps
//! the run bounded.

mod common;

use common::TestServer;
use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use reqwest::{header, StatusCode};

const CASES: usize = 300;

/// Bodies that are random bytes, near-miss forms, or near-miss JSON.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..400),
        "(email|password|display_name|next|token|x)=[^&]{0,60}(&(email|password|display_name|next|token)=[^&]{0,60}){0,4}"
            .prop_map(String::into_bytes),
        "\\{(\"(email|password|name|scope|token|refresh_token)\": ?(\"[^\"]{0,40}\"|[0-9]{1,5}|null|true|\\[\\]|\\{\\})[,]? ?){0,5}\\}?"
            .prop_map(String::into_bytes),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_bodies_never_cause_server_errors() {
    let server = TestServer::start_with(&[
        ("LOGIN_RATE_PER_IP", "1000000/1m"),
        ("REGISTER_RATE_PER_IP", "1000000/1m"),
        ("VERIFICATION_MAIL_RATE_PER_IP", "1000000/1m"),
        ("VERIFICATION_MAIL_RATE_PER_EMAIL", "1000000/1m"),
        ("REFRESH_RATE_PER_IP", "1000000/1m"),
    ])
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let targets = [
        ("/fn/log_in", "application/x-www-form-urlencoded"),
        ("/fn/register", "application/x-www-form-urlencoded"),
        ("/fn/resend_verification", "application/x-www-form-urlencoded"),
        ("/fn/verify_email", "application/x-www-form-urlencoded"),
        ("/api/auth/login", "application/json"),
        ("/api/auth/register", "application/json"),
        ("/api/auth/refresh", "application/json"),
        ("/api/auth/verify-email", "application/json"),
    ];

    let mut runner = TestRunner::deterministic();
    let strategy = bodies();
    for (path, content_type) in targets {
        for _ in 0..CASES {
            let body = strategy.new_tree(&mut runner).unwrap().current();
            let response = client
                .post(server.url(path))
                .header(header::CONTENT_TYPE, content_type)
                .header(header::ORIGIN, &server.base)
                .body(body.clone())
                .send()
                .await
                .expect("the server answers");
            assert!(
                !response.status().is_server_error(),
                "{path} answered {} to {:?}",
                response.status(),
                String::from_utf8_lossy(&body)
            );
        }
    }

    let health = client.get(server.url("/login")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the server still serves pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_headers_are_refused_not_crashing() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let response = client
        .get(server.url("/login"))
        .header("x-padding", "a".repeat(1024 * 1024))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        // The server may close the connection before the client has sent
        // the whole header.
        Err(error) => assert!(error.is_request() || error.is_connect() || error.is_body(), "{error}"),
    }
    let health = client.get(server.url("/login")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the server still serves pages");
}
