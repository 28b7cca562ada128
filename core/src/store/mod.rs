//! The storage layer: every SQL statement of Latchkey lives below this
//! module, so that a second database backend is an addition here and nowhere
//! else.

mod api_sessions;
mod audit;
mod contacts;
mod devices;
mod email_changes;
mod health;
mod keys;
mod limits;
mod mail_queue;
mod password_resets;
mod roles;
mod sessions;
mod users;
mod verification;

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    any::AnyPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode},
    AnyPool, ConnectOptions, Connection, Executor,
};
use time::OffsetDateTime;

use crate::cache::ReadCache;
use crate::{roles::Role, token::TokenHash};
use api_sessions::LiveFamily;
use mail_queue::queue_in;

pub use api_sessions::{family_key, FamilyLifetimes, NewApiSession, Rotation};
pub use audit::{event, AuditEvent, EventContext};
pub use contacts::Contact;
pub use devices::DeviceSeen;
pub use email_changes::EmailChange;
pub use health::NotReady;
pub use keys::SigningKeyRow;
pub use limits::DatabaseLimitStore;
pub use mail_queue::{QueuedMail, Retry};
pub use password_resets::ResetTokenState;
pub use sessions::{
    browser_session_key, SessionLifetimes, SessionRow, SessionStore, SESSION_KEY_IP, SESSION_KEY_REMEMBER_UNTIL,
    SESSION_KEY_USER_AGENT, SESSION_KEY_USER_ID,
};
pub use users::{NewUser, StoredCredentials, User, UserId};
pub use verification::TokenState;

/// Migrations for SQLite, embedded in the binary and applied at start.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Migrations for PostgreSQL, embedded in the binary and applied at start.
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// Maximum wait of a request for a database connection, after which it
/// fails and the client gets 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The database behind a `DATABASE_URL`. Every statement of the store is
/// written once, in SQL that both accept, with `$1`-style parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one machine: the default.
    Sqlite,
    /// Shared by several instances.
    Postgres,
}

impl Backend {
    /// Names the backend from the URL scheme.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Self::Sqlite => &SQLITE_MIGRATOR,
            Self::Postgres => &POSTGRES_MIGRATOR,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported DATABASE_URL scheme in {0:?}; use sqlite://path/to/file.db or postgres://host/db")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("could not create the database folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    #[error("a stored row is damaged: {0}")]
    Corrupt(String),
}

/// Default lifetime of cached reads.
const DEFAULT_READ_CACHE_TTL: Duration = Duration::from_secs(1);

/// Handle to the database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    cache: Arc<Caches>,
}

/// Hot reads kept in memory; see the `cache` module for the rules.
#[derive(Debug)]
struct Caches {
    ttl: Duration,
    /// Live token families by session key.
    families: ReadCache<TokenHash, LiveFamily>,
    /// Users with their roles, by id.
    profiles: ReadCache<UserId, (User, Vec<Role>)>,
}

impl Caches {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            families: ReadCache::new(ttl),
            profiles: ReadCache::new(ttl),
        }
    }
}

impl Store {
    /// Opens the database named by `url` and applies pending migrations.
    /// A SQLite file and its folder are created if needed.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = Backend::of_url(url)?;
        sqlx::any::install_default_drivers();
        if backend == Backend::Sqlite {
            prepare_sqlite_file(url).await?;
        }

        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // NORMAL sync is durable across application crashes
                        // in WAL mode; the busy timeout lets a writer wait
                        // for the one before it instead of failing.
                        connection
                            .execute(
                                "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;",
                            )
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        backend.migrator().run(&pool).await?;
        Ok(Self {
            pool,
            backend,
            cache: Arc::new(Caches::new(DEFAULT_READ_CACHE_TTL)),
        })
    }

    /// Returns which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Sets how long hot reads are served from memory, which bounds how late
    /// a change made by another process is seen. Zero turns the cache off.
    pub fn with_read_cache_ttl(self, ttl: Duration) -> Self {
        Self {
            pool: self.pool,
            backend: self.backend,
            cache: Arc::new(Caches::new(ttl)),
        }
    }

    /// Returns how long hot reads are served from memory.
    pub fn read_cache_ttl(&self) -> Duration {
        self.cache.ttl
    }

    /// Forgets cached reads of the user, after a change to their row or roles.
    fn forget_user(&self, user_id: &UserId) {
        self.cache.profiles.forget(user_id);
    }
}

/// A single-use link on its way to the user: the hash of its token, when it
/// expires, and the message that carries it. The token and the message are
/// stored in one transaction.
#[derive(Debug, Clone, Copy)]
pub struct MailedLink<'a> {
    pub hash: &'a TokenHash,
    pub expires_at: OffsetDateTime,
    pub mail: &'a crate::mail::Mail,
}

/// Tables of single-use tokens that are mailed as links.
#[derive(Debug, Clone, Copy)]
enum LinkTokens {
    Verification,
    PasswordReset,
}

impl LinkTokens {
    fn table(self) -> &'static str {
        match self {
            Self::Verification => "email_verification_tokens",
            Self::PasswordReset => "password_reset_tokens",
        }
    }
}

impl Store {
    /// Stores a new link token for `user_id` in `tokens` and queues its
    /// mail, and deletes the user's unused earlier tokens there, so that only
    /// the newest link works.
    async fn replace_link_token(
        &self,
        tokens: LinkTokens,
        user_id: &UserId,
        link: &MailedLink<'_>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let table = tokens.table();
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1 AND used_at IS NULL"))
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)"
        ))
        .bind(link.hash.as_bytes())
        .bind(user_id.as_str())
        .bind(unix_seconds(now))
        .bind(unix_seconds(link.expires_at))
        .execute(&mut *tx)
        .await?;
        queue_in(&mut tx, link.mail, Some(user_id), now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Creates the SQLite file and its folder, and switches the file to WAL,
/// which lets readers run beside the one writer and is kept in the file.
async fn prepare_sqlite_file(url: &str) -> Result<(), StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    if let Some(folder) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| StoreError::Folder {
            path: folder.display().to_string(),
            source,
        })?;
    }
    let connection = options.connect().await?;
    connection.close().await?;
    Ok(())
}

fn unix_seconds(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

fn from_unix_seconds(seconds: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| StoreError::Corrupt(format!("timestamp {seconds} out of range")))
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::LazyLock;

    use time::OffsetDateTime;

    use super::MailedLink;
    use crate::{mail::Mail, token::TokenHash};

    static PLACEHOLDER: LazyLock<Mail> = LazyLock::new(|| Mail {
        to: "ann@example.com".to_owned(),
        subject: "Link".to_owned(),
        text: "A link".to_owned(),
        html: "<p>A link</p>".to_owned(),
    });

    /// Builds a link with a placeholder message, for tests of the token
    /// rules.
    pub fn link(hash: &TokenHash, expires_at: OffsetDateTime) -> MailedLink<'_> {
        MailedLink {
            hash,
            expires_at,
            mail: &PLACEHOLDER,
        }
    }
}
