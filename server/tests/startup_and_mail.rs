//! Start-up checks of the real binary, and mail delivery to a real SMTP
//! server process.

mod common;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use common::{
    database::TestDatabase,
    mail::{free_port, wait_for_mail, wait_for_outbox, SmtpServer},
    TestServer, PASSWORD,
};

#[test]
fn invalid_setting_stops_startup() {
    let cases = [
        ("SMTP_URL", "http://mail.example.com"),
        ("PUBLIC_URL", "example.com"),
        ("SESSION_IDLE_TIMEOUT", "forever"),
        ("ARGON2_MEMORY_KIB", "-5"),
    ];
    for (variable, value) in cases {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .current_dir(dir.path())
            .env_clear()
            .env(variable, value)
            .env("LEPTOS_OUTPUT_NAME", "latchkey")
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .output()
            .expect("run latchkey");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{variable}={value} must stop the server");
        assert!(
            stderr.contains(&format!("latchkey: {variable} is invalid")),
            "{variable}: {stderr}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "nothing is created before the settings are valid"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_mail_arrives_over_smtp() {
    let smtp = SmtpServer::start();
    let smtp_url = format!("smtp://127.0.0.1:{}?tls=none", smtp.port);
    let server = TestServer::start_with(&[
        ("SMTP_URL", &smtp_url),
        ("MAIL_FROM", "Latchkey <no-reply@latchkey.test>"),
    ])
    .await;

    assert_eq!(
        server.register("ann@example.com", "Ann <b>", PASSWORD).await.location,
        "/register/check-email"
    );
    let mails = wait_for_mail(&smtp, 1).await;
    let mail = &mails[0];
    assert_eq!(mail.to, "ann@example.com");
    assert_eq!(mail.subject, "Verify your email address");
    assert!(
        mail.text.contains(&format!("{}/verify-email?token=", server.base)),
        "{}",
        mail.text
    );
    assert!(
        mail.html.contains("Ann &lt;b&gt;"),
        "the name is escaped in HTML: {}",
        mail.html
    );
    assert!(
        !Path::new(&server.outbox).exists(),
        "with SMTP configured nothing goes to the outbox"
    );

    let token = mail.token().unwrap();
    assert_eq!(server.verify(&token).await.location, "/verify-email?verified=1");
    assert_eq!(
        server.log_in("ann@example.com", PASSWORD, None).await.location,
        "/account"
    );
}

/// Runs the real binary with debug logging through a whole login and checks
/// that no password, token or session id reaches its output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let outbox = dir.path().join("outbox");
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let database = TestDatabase::create(dir.path()).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .current_dir(dir.path())
        .env_clear()
        .env("LEPTOS_OUTPUT_NAME", "latchkey")
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &database.url)
        .env("MAIL_OUTBOX_DIR", &outbox)
        .env("ARGON2_MEMORY_KIB", "1024")
        .env("ARGON2_ITERATIONS", "1")
        .env("RUST_LOG", "debug")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start latchkey");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "latchkey did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: &str, body: String, cookie: Option<String>| {
        let mut request = client
            .post(format!("{base}{path}"))
            .header("accept", "text/html")
            .header("referer", format!("{base}/"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    let secret_password = "unmistakable-secret-password";
    post(
        "/fn/register",
        format!("email=ann%40example.com&display_name=Ann&password={secret_password}"),
        None,
    )
    .await
    .unwrap();
    let token = wait_for_outbox(&outbox, 1)
        .await
        .last()
        .expect("verification mail")
        .token()
        .unwrap();
    client
        .get(format!("{base}/verify-email?token={token}"))
        .send()
        .await
        .unwrap();
    post("/fn/verify_email", format!("token={token}"), None).await.unwrap();
    let login = post(
        "/fn/log_in",
        format!("email=ann%40example.com&password={secret_password}"),
        None,
    )
    .await
    .unwrap();
    let cookie = common::set_cookie_pair(login.headers());
    let session_id = cookie.split_once('=').unwrap().1.to_owned();
    let account = client
        .get(format!("{base}/account"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), reqwest::StatusCode::OK);
    post("/fn/log_out", String::new(), Some(cookie)).await.unwrap();

    let _ = child.kill();
    let _ = child.wait();
    let output = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        output.contains("account registered"),
        "the log is being written: {output}"
    );
    assert!(!output.contains(secret_password), "password in the log");
    assert!(!output.contains(&token), "verification token in the log");
    assert!(!output.contains(&session_id), "session id in the log");
}

/// Runs a `latchkey` subcommand against the database of `server`.
fn subcommand(server: &TestServer, arguments: &[&str]) -> std::process::Output {
    let dir = server.dir.path();
    Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", &server.database.url)
        .env("MAIL_OUTBOX_DIR", dir.join("outbox"))
        .args(arguments)
        .output()
        .expect("run latchkey")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subcommands_rotate_keys_and_grant_admin() {
    let server = TestServer::start().await;
    server.api_login("ann@example.com", None).await;

    let rotated = subcommand(&server, &["rotate-signing-key"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    assert_eq!(server.count("SELECT COUNT(*) FROM signing_keys").await, 2);
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM signing_keys WHERE retired_at IS NULL")
            .await,
        1
    );
    let stdout = String::from_utf8_lossy(&rotated.stdout);
    let private_keys: Vec<Vec<u8>> = sqlx::query_scalar("SELECT private_key FROM signing_keys")
        .fetch_all(&server.db)
        .await
        .unwrap();
    for key in private_keys {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
        assert!(!stdout.contains(&encoded[..16]), "no private key in the output");
    }

    let granted = subcommand(&server, &["grant-admin", " ANN@example.com "]);
    assert!(granted.status.success(), "{}", String::from_utf8_lossy(&granted.stderr));
    let tokens = server.api_login_existing("ann@example.com", None).await;
    assert_eq!(tokens["scope"], "contacts.read contacts.write users.admin");

    let unknown = subcommand(&server, &["grant-admin", "nobody@example.com"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no account with the email nobody@example.com"));

    let wrong = subcommand(&server, &["make-coffee"]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Usage:"));
}
