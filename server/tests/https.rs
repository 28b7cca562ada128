//! HTTPS: the real binary terminating TLS with certificate files, its
//! plain-HTTP redirect listener, certificate reload on SIGHUP, and the
//! redirect of plain HTTP reported by a trusted proxy.

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use common::{
    mail::{free_port, wait_for_outbox},
    process::Latchkey,
    TestServer, PASSWORD,
};
use reqwest::{header, redirect::Policy, StatusCode};

/// A self-signed certificate for `localhost`, as PEM text.
struct TestCertificate {
    cert: String,
    key: String,
}

impl TestCertificate {
    fn new() -> Self {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        Self {
            cert: generated.cert.pem(),
            key: generated.key_pair.serialize_pem(),
        }
    }

    fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }

    /// Builds a client that trusts this certificate alone and reaches `localhost`
    /// on the loopback address, with a fresh connection per request.
    fn client(&self, port: u16) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.cert.as_bytes()).unwrap())
            .resolve("localhost", ([127, 0, 0, 1], port).into())
            .pool_max_idle_per_host(0)
            .redirect(Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

/// Retries `check` for a few seconds, since a signal is handled a moment
/// after it is sent.
async fn eventually<F, Fut>(description: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "{description}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_and_redirects_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = TestCertificate::new();
    let (cert_path, key_path) = certificate.write(dir.path());
    let (port, redirect_port) = (free_port(), free_port());
    let origin = format!("https://localhost:{port}");
    let outbox = dir.path().join("outbox");
    let server = Latchkey::start(
        dir.path(),
        &[
            ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{port}")),
            ("HTTP_REDIRECT_ADDR", &format!("127.0.0.1:{redirect_port}")),
            ("PUBLIC_URL", &origin),
            ("TLS_CERT_FILE", cert_path.to_str().unwrap()),
            ("TLS_KEY_FILE", key_path.to_str().unwrap()),
            ("MAIL_OUTBOX_DIR", outbox.to_str().unwrap()),
        ],
    )
    .await;
    server.wait_until_listening(port);
    server.wait_until_listening(redirect_port);
    let client = certificate.client(port);

    let page = client.get(format!("{origin}/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains"
    );

    // A whole login over TLS ends with a __Host- session cookie.
    let post = |path: &str, body: String| {
        client
            .post(format!("{origin}{path}"))
            .header(header::ORIGIN, &origin)
            .header(header::REFERER, format!("{origin}/login"))
            .header(header::ACCEPT, "text/html")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let registered = post(
        "/fn/register",
        format!(
            "email=ann%40example.com&display_name=Ann&password={}",
            PASSWORD.replace(' ', "+")
        ),
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), StatusCode::FOUND);
    let token = wait_for_outbox(&outbox, 1).await[0].token().unwrap();
    let verified = post("/fn/verify_email", format!("token={token}")).await.unwrap();
    assert_eq!(verified.status(), StatusCode::FOUND);
    let login = post(
        "/fn/log_in",
        format!("email=ann%40example.com&password={}", PASSWORD.replace(' ', "+")),
    )
    .await
    .unwrap();
    let cookie = login.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-latchkey_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }

    // Plain HTTP on the TLS port gets no page.
    let plain = reqwest::Client::new();
    assert!(plain
        .get(format!("http://127.0.0.1:{port}/login"))
        .send()
        .await
        .is_err());

    // The redirect listener keeps the path, the query and the method.
    let redirect_client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    let redirect_base = format!("http://127.0.0.1:{redirect_port}");
    let redirected = redirect_client
        .get(format!("{redirect_base}/login?next=%2Faccount"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        redirected.headers()[header::LOCATION],
        format!("{origin}/login?next=%2Faccount").as_str()
    );
    let posted = redirect_client
        .post(format!("{redirect_base}/api/auth/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        posted.headers()[header::LOCATION],
        format!("{origin}/api/auth/login").as_str()
    );

    // SIGTERM drains and ends the process with success.
    let mut server = server;
    server.signal("TERM");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "latchkey did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_reloads_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestCertificate::new();
    let second = TestCertificate::new();
    let (cert_path, key_path) = first.write(dir.path());
    let port = free_port();
    let origin = format!("https://localhost:{port}");
    let server = Latchkey::start(
        dir.path(),
        &[
            ("LEPTOS_SITE_ADDR", &format!("127.0.0.1:{port}")),
            ("PUBLIC_URL", &origin),
            ("TLS_CERT_FILE", cert_path.to_str().unwrap()),
            ("TLS_KEY_FILE", key_path.to_str().unwrap()),
        ],
    )
    .await;
    server.wait_until_listening(port);
    let login = format!("{origin}/login");
    let trusts_first = first.client(port);
    let trusts_second = second.client(port);
    assert!(trusts_first.get(&login).send().await.is_ok());
    assert!(trusts_second.get(&login).send().await.is_err());

    // New files alone change nothing until the signal.
    second.write(dir.path());
    assert!(trusts_first.get(&login).send().await.is_ok());
    server.signal("HUP");
    eventually("the second certificate is served after SIGHUP", || async {
        trusts_second.get(&login).send().await.is_ok()
    })
    .await;
    assert!(trusts_first.get(&login).send().await.is_err());

    // A broken file on reload leaves the working certificate in place.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    server.signal("HUP");
    eventually("the failed reload is logged", || async {
        std::fs::read_to_string(&server.log)
            .unwrap()
            .contains("TLS certificate reload failed")
    })
    .await;
    let page = trusts_second.get(&login).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[test]
fn unusable_certificate_files_stop_startup() {
    let certificate = TestCertificate::new();
    let other = TestCertificate::new();
    let cases: [(&str, Box<dyn Fn(&Path) -> (PathBuf, PathBuf)>); 4] = [
        (
            "could not read TLS_CERT_FILE",
            Box::new(|dir| (dir.join("missing.pem"), dir.join("key.pem"))),
        ),
        (
            "holds no certificate",
            Box::new(|dir| {
                let (cert, key) = certificate.write(dir);
                std::fs::write(&cert, "").unwrap();
                (cert, key)
            }),
        ),
        (
            "could not read a private key from TLS_KEY_FILE",
            Box::new(|dir| {
                let (cert, key) = certificate.write(dir);
                std::fs::write(&key, &certificate.cert).unwrap();
                (cert, key)
            }),
        ),
        (
            "are not a usable pair",
            Box::new(|dir| {
                let (cert, key) = certificate.write(dir);
                std::fs::write(&key, &other.key).unwrap();
                (cert, key)
            }),
        ),
    ];
    for (expected, files) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = files(dir.path());
        let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .current_dir(dir.path())
            .env_clear()
            .env("LEPTOS_OUTPUT_NAME", "latchkey")
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("TLS_CERT_FILE", &cert)
            .env("TLS_KEY_FILE", &key)
            .output()
            .expect("run latchkey");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{expected}: the server must not start");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!dir.path().join("data").exists(), "{expected}: nothing is created");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_through_a_trusted_proxy_is_redirected() {
    let server = TestServer::start_with(&[
        ("PUBLIC_URL", "https://auth.example.test"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let client = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    let get = |headers: &'static [(&'static str, &'static str)]| {
        let mut request = client.get(server.url("/login?next=%2Faccount"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    for headers in [
        &[("x-forwarded-proto", "http")][..],
        &[("forwarded", "for=198.51.100.1;proto=http")][..],
        // The client's own claim, left of the proxy's, does not count.
        &[("x-forwarded-proto", "https"), ("x-forwarded-proto", "http")][..],
    ] {
        let response = get(headers).await.unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{headers:?}");
        assert_eq!(
            response.headers()[header::LOCATION],
            "https://auth.example.test/login?next=%2Faccount",
            "{headers:?}"
        );
        assert!(response.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
    }
    for headers in [
        &[("x-forwarded-proto", "https")][..],
        &[("forwarded", "for=198.51.100.1;proto=https")][..],
        // A proxy that reports nothing is taken at its word that it is TLS.
        &[][..],
    ] {
        assert_eq!(get(headers).await.unwrap().status(), StatusCode::OK, "{headers:?}");
    }

    // Without a trusted proxy the header is anyone's claim and is ignored;
    // with an http:// public URL there is nowhere to redirect to.
    for settings in [
        &[("PUBLIC_URL", "https://auth.example.test")][..],
        &[("TRUSTED_PROXIES", "127.0.0.1")][..],
    ] {
        let server = TestServer::start_with(settings).await;
        let response = client
            .get(server.url("/login"))
            .header("x-forwarded-proto", "http")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{settings:?}");
    }
}
