//! The database a test server runs on: a SQLite file in the test's folder by
//! default, or a fresh PostgreSQL database when `LATCHKEY_TEST_BACKEND` is
//! `postgres`, so that the same tests cover both backends.

use std::path::Path;

use sqlx::{AnyPool, Connection};

/// Selects the backend of the suite: `postgres`, or SQLite when unset.
const BACKEND_VARIABLE: &str = "LATCHKEY_TEST_BACKEND";

/// Names the PostgreSQL server of the tests, as a URL without a database.
const POSTGRES_VARIABLE: &str = "LATCHKEY_TEST_POSTGRES";

/// The PostgreSQL server when `LATCHKEY_TEST_POSTGRES` is not set.
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// A database that exists for one test and is dropped with this value.
pub struct TestDatabase {
    pub url: String,
    postgres: Option<Postgres>,
}

struct Postgres {
    server: String,
    name: String,
}

impl TestDatabase {
    /// Creates an empty database: a PostgreSQL one when the suite runs on
    /// PostgreSQL, otherwise a SQLite file name inside `dir`.
    pub async fn create(dir: &Path) -> Self {
        match std::env::var(BACKEND_VARIABLE).as_deref() {
            Ok("postgres") => Self::create_postgres().await,
            Ok(other) if !other.is_empty() => {
                panic!("{BACKEND_VARIABLE}={other:?} is invalid; use postgres or unset it")
            }
            _ => Self {
                url: format!("sqlite://{}", dir.join("latchkey.db").display()),
                postgres: None,
            },
        }
    }

    /// Creates an empty PostgreSQL database. Tests of faults that only a
    /// database server has, such as a lost connection, call this directly.
    pub async fn create_postgres() -> Self {
        let server = std::env::var(POSTGRES_VARIABLE).unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned());
        let server = server.trim_end_matches('/').to_owned();
        let name = format!("latchkey_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres"))
            .await
            .expect("connect to the PostgreSQL test server");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        Self {
            url: format!("{server}/{name}"),
            postgres: Some(Postgres { server, name }),
        }
    }

    /// Returns the host and port of the PostgreSQL server.
    pub fn postgres_address(&self) -> String {
        let server = &self.postgres.as_ref().expect("a PostgreSQL database").server;
        let url = url::Url::parse(server).expect("a PostgreSQL URL");
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))
    }

    /// Returns the URL of this database through another port on loopback,
    /// such as a proxy's.
    pub fn url_via_port(&self, port: u16) -> String {
        let postgres = self.postgres.as_ref().expect("a PostgreSQL database");
        let mut url = url::Url::parse(&postgres.server).expect("a PostgreSQL URL");
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        format!("{}/{}", url.as_str().trim_end_matches('/'), postgres.name)
    }

    /// Opens a pool on the database, for assertions on stored rows.
    pub async fn pool(&self) -> AnyPool {
        sqlx::any::install_default_drivers();
        AnyPool::connect(&self.url).await.expect("open the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(Postgres { server, name }) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code, so a thread of its own drops the
        // database; FORCE ends the connections the server left open.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let mut admin = sqlx::AnyConnection::connect(&format!("{server}/postgres")).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database: {dropped:?}");
        }
    }
}
