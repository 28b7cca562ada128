//! A real Latchkey server on a loopback port with its own database (see
//! `database`) and mail outbox, and the HTTP helpers the tests drive it with.

#![allow(dead_code, reason = "each test binary uses a different part of the harness")]

pub mod database;
pub mod mail;
pub mod process;
pub mod proxy;

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use app::error::AppError;
use base64::{engine::general_purpose::STANDARD, Engine};
use latchkey_core::{config::Config, mail_queue::MailWorker};
use leptos::prelude::LeptosOptions;
use reqwest::{header, redirect::Policy, Response, StatusCode};
use sqlx::AnyPool;
use tempfile::TempDir;

use database::TestDatabase;

pub const PASSWORD: &str = "correct horse battery";

/// A Latchkey instance as its clients see it: its address, and the outbox
/// and database it shares with other instances.
pub struct Site {
    pub base: String,
    pub outbox: PathBuf,
    pub db: AnyPool,
    client: reqwest::Client,
}

/// An instance served from this test process, on a database of its own.
pub struct TestServer {
    site: Site,
    pub dir: TempDir,
    pub services: server::Services,
    task: tokio::task::JoinHandle<()>,
    _mail_worker: MailWorker,
    /// Declared last, so that it is dropped after everything that uses it.
    pub database: TestDatabase,
}

impl std::ops::Deref for TestServer {
    type Target = Site;

    fn deref(&self) -> &Site {
        &self.site
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Response to a form post: where it redirects and the cookie it set.
#[derive(Debug)]
pub struct Submitted {
    pub status: StatusCode,
    pub location: String,
    pub set_cookie: Option<String>,
}

impl Submitted {
    /// Decodes the server function error carried in the redirect URL, if any.
    pub fn error(&self) -> Option<AppError> {
        let url = url::Url::parse(&format!(
            "http://host{}",
            self.location.trim_start_matches(|c| c != '/')
        ))
        .ok()?;
        let encoded = url.query_pairs().find(|(key, _)| key == "__err")?.1.into_owned();
        let json = STANDARD.decode(encoded).expect("__err is base64");
        Some(serde_json::from_slice(&json).expect("__err holds an AppError"))
    }

    /// Returns the `name=value` pair of the session cookie that was set.
    pub fn cookie_pair(&self) -> Option<String> {
        self.set_cookie
            .as_ref()
            .map(|header| header.split(';').next().unwrap().trim().to_owned())
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a server with settings on top of the test defaults.
    pub async fn start_with(settings: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().unwrap();
        let base = format!("http://{address}");
        let outbox = dir.path().join("outbox");
        let database = TestDatabase::create(dir.path()).await;

        let mut variables: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), database.url.clone()),
            ("MAIL_OUTBOX_DIR".into(), outbox.display().to_string()),
            ("PUBLIC_URL".into(), base.clone()),
            // Cheap hashes keep the suite fast; the production parameters
            // have their own unit test.
            ("ARGON2_MEMORY_KIB".into(), "1024".into()),
            ("ARGON2_ITERATIONS".into(), "1".into()),
        ]);
        for (key, value) in settings {
            variables.insert((*key).to_owned(), (*value).to_owned());
        }
        let config = Config::from_lookup(|name| variables.get(name).cloned()).expect("test config");

        let services = server::build_state(&config).await.expect("server state");
        let mail_worker = services.start_mail_worker(config.mail_retry);
        let options = LeptosOptions::builder()
            .output_name("latchkey")
            .site_addr(address)
            .build();
        let app = server::router(&config, services.clone(), options);
        let task = tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .unwrap();
        });

        let site = Site::new(base, outbox, database.pool().await);
        Self {
            site,
            dir,
            services,
            task,
            _mail_worker: mail_worker,
            database,
        }
    }
}

impl Site {
    /// Points at an instance at `base` that mails to `outbox` and stores in
    /// the database behind `db`.
    pub fn new(base: String, outbox: PathBuf, db: AnyPool) -> Self {
        // A bounded wait turns a stuck request into a failure that names it.
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            base,
            outbox,
            db,
            client,
        }
    }

    /// Sends a JSON request to the API, with a bearer token if given.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        bearer: Option<&str>,
    ) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
        self.api_with_headers(method, path, body, bearer, &[]).await
    }

    /// Sends a JSON request to the API with extra request headers.
    pub async fn api_with_headers(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("API request");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, headers, json)
    }

    pub async fn api_post(&self, path: &str, body: serde_json::Value) -> (StatusCode, serde_json::Value) {
        let (status, _, json) = self.api(reqwest::Method::POST, path, Some(body), None).await;
        (status, json)
    }

    /// Sends raw bytes with a chosen content type to the API.
    pub async fn api_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("API request");
        let status = response.status();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Registers and verifies an account through the API and logs it in;
    /// returns the token response.
    pub async fn api_login(&self, email: &str, scope: Option<&str>) -> serde_json::Value {
        let (status, _) = self
            .api_post(
                "/api/auth/register",
                serde_json::json!({"email": email, "password": PASSWORD, "name": "Ann"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let token = self.latest_token_for(email).await;
        let (status, _) = self
            .api_post("/api/auth/verify-email", serde_json::json!({"token": token}))
            .await;
        assert_eq!(status, StatusCode::OK);
        self.api_login_existing(email, scope).await
    }

    /// Logs in, registering the account first when `new` is set.
    pub async fn api_login_existing_or_new(&self, email: &str, new: bool) -> serde_json::Value {
        if new {
            self.api_login(email, None).await
        } else {
            self.api_login_existing(email, None).await
        }
    }

    pub async fn api_login_existing(&self, email: &str, scope: Option<&str>) -> serde_json::Value {
        let mut body = serde_json::json!({"email": email, "password": PASSWORD});
        if let Some(scope) = scope {
            body["scope"] = scope.into();
        }
        let (status, json) = self.api_post("/api/auth/login", body).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        json
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GETs a page as a browser would, with an optional `Cookie` header.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path)).header(header::ACCEPT, "text/html");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        request.send().await.expect("GET")
    }

    /// Posts a form to a server function the way a browser without
    /// JavaScript does, from the page at `page`.
    pub async fn submit(&self, page: &str, function: &str, fields: &[(&str, &str)], cookie: Option<&str>) -> Submitted {
        let mut request = self
            .client
            .post(self.url(&format!("/fn/{function}")))
            .header(header::ACCEPT, "text/html")
            .header(header::REFERER, self.url(page))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded(fields));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        let response = request.send().await.expect("POST");
        let header_text = |name| {
            response
                .headers()
                .get(name)
                .map(|value: &header::HeaderValue| value.to_str().unwrap().to_owned())
        };
        Submitted {
            status: response.status(),
            location: header_text(header::LOCATION).unwrap_or_default(),
            set_cookie: header_text(header::SET_COOKIE),
        }
    }

    pub async fn register(&self, email: &str, name: &str, password: &str) -> Submitted {
        self.submit(
            "/register",
            "register",
            &[("email", email), ("display_name", name), ("password", password)],
            None,
        )
        .await
    }

    pub async fn log_in(&self, email: &str, password: &str, cookie: Option<&str>) -> Submitted {
        self.submit("/login", "log_in", &[("email", email), ("password", password)], cookie)
            .await
    }

    pub async fn verify(&self, token: &str) -> Submitted {
        self.submit(
            &format!("/verify-email?token={token}"),
            "verify_email",
            &[("token", token)],
            None,
        )
        .await
    }

    /// Registers and verifies an account, and returns its session cookie
    /// after logging in.
    pub async fn verified_login(&self, email: &str) -> String {
        assert_eq!(
            self.register(email, "Ann", PASSWORD).await.location,
            "/register/check-email"
        );
        let token = self.latest_token_for(email).await;
        assert_eq!(self.verify(&token).await.location, "/verify-email?verified=1");
        let login = self.log_in(email, PASSWORD, None).await;
        assert_eq!(login.location, "/account", "{login:?}");
        login.cookie_pair().expect("login sets the session cookie")
    }

    /// Returns the token in the newest verification mail sent to `email`,
    /// waiting for the first one, since mail goes out after the response.
    pub async fn latest_token_for(&self, email: &str) -> String {
        self.wait_for_mail_queue().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let newest = mail::read_outbox(&self.outbox)
                .into_iter()
                .filter(|mail| mail.to == email && mail.subject == "Verify your email address")
                .last();
            if let Some(mail) = newest {
                return mail.token().expect("verification mail carries a token");
            }
            assert!(std::time::Instant::now() < deadline, "no verification mail to {email}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Waits until the mail worker has sent everything queued so far.
    pub async fn wait_for_mail_queue(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self
            .count("SELECT COUNT(*) FROM mail_queue WHERE given_up_at IS NULL")
            .await
            > 0
        {
            assert!(std::time::Instant::now() < deadline, "the mail queue does not empty");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.db).await.expect("count query")
    }

    /// Returns the HTML of `path`, asserting a 200 response.
    pub async fn page_text(&self, path: &str, cookie: Option<&str>) -> String {
        let response = self.get(path, cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }
}

/// Returns the `name=value` pair of the first `Set-Cookie` header.
pub fn set_cookie_pair(headers: &reqwest::header::HeaderMap) -> String {
    let header = headers[header::SET_COOKIE].to_str().expect("Set-Cookie is text");
    header.split(';').next().unwrap_or_default().trim().to_owned()
}

/// Encodes form fields as `application/x-www-form-urlencoded`.
fn serde_urlencoded(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}
