//! Browser sessions, stored for tower-sessions.
//!
//! The session id in the cookie is a bearer secret, so the table keys rows by
//! its SHA-256 hash, like every other token. A few values of the session
//! record are copied into columns so that a user's logins can be listed and
//! revoked without decoding every record.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::FromRow;
use time::OffsetDateTime;
use tower_sessions::{
    session::{Id, Record},
    session_store::{self, SessionStore as TowerSessionStore},
};

use super::{from_unix_seconds, unix_seconds, Store, StoreError, UserId};
use crate::token::TokenHash;

/// Session record keys that the store copies into columns.
pub const SESSION_KEY_USER_ID: &str = "user_id";
pub const SESSION_KEY_IP: &str = "ip";
pub const SESSION_KEY_USER_AGENT: &str = "user_agent";
/// Unix seconds until which a "Remember me" login lasts.
pub const SESSION_KEY_REMEMBER_UNTIL: &str = "remember_until";

/// Maximum user agent length kept, in bytes; the rest is cut at a character
/// boundary.
const USER_AGENT_MAX_BYTES: usize = 512;

/// A tower-sessions store over [`Store`] that keeps the expiry rules itself:
/// a session ends after `idle` without a request, and `max` after it
/// began however active it is. A "Remember me" login instead lasts until
/// the time stored in its record, whatever expiry the cookie carries.
#[derive(Debug, Clone)]
pub struct SessionStore {
    store: Store,
    lifetimes: SessionLifetimes,
}

/// Lifetimes of browser sessions without "Remember me".
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub idle: Duration,
    pub max: Duration,
}

/// One login as listed to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub id_hash: Vec<u8>,
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(FromRow)]
struct ListedRow {
    id_hash: Vec<u8>,
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

/// The columns derived from a session record.
struct Columns {
    data: String,
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    remembered: bool,
    expires_at: i64,
}

impl Columns {
    /// Reads the columns of `record` as saved at `now`. The expiry comes
    /// from the store's rules, not from the record, whose expiry follows
    /// the cookie: a browser-session cookie has none.
    fn of(record: &Record, now: i64, idle: Duration) -> Result<Self, session_store::Error> {
        let text = |key: &str| record.data.get(key).and_then(|value| value.as_str()).map(str::to_owned);
        let user_agent = text(SESSION_KEY_USER_AGENT).map(|agent| truncate(agent, USER_AGENT_MAX_BYTES));
        let remember_until = record
            .data
            .get(SESSION_KEY_REMEMBER_UNTIL)
            .and_then(serde_json::Value::as_i64);
        Ok(Self {
            data: serde_json::to_string(&record.data).map_err(|err| session_store::Error::Encode(err.to_string()))?,
            user_id: text(SESSION_KEY_USER_ID),
            ip: text(SESSION_KEY_IP),
            user_agent,
            remembered: remember_until.is_some(),
            expires_at: remember_until.unwrap_or_else(|| now.saturating_add(seconds(idle))),
        })
    }
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn truncate(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

fn id_hash(id: &Id) -> TokenHash {
    TokenHash::of(&id.to_string())
}

/// Returns the key under which a browser session's row is stored, the
/// counterpart of [`family_key`](super::family_key) for API logins.
pub fn browser_session_key(id: &Id) -> TokenHash {
    id_hash(id)
}

fn backend(error: sqlx::Error) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

impl SessionStore {
    pub fn new(store: Store, lifetimes: SessionLifetimes) -> Self {
        Self { store, lifetimes }
    }

    /// Returns the creation time before which a browser session without
    /// "Remember me" has outlived its absolute lifetime.
    fn oldest_allowed_login(&self, now: OffsetDateTime) -> i64 {
        unix_seconds(now).saturating_sub(seconds(self.lifetimes.max))
    }

    /// Deletes sessions past their expiry, and browser sessions without
    /// "Remember me" past their absolute lifetime. Token families have
    /// their own lifetime in `expires_at`.
    pub async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM sessions
             WHERE expires_at <= $1 OR (kind = 'browser' AND remembered = 0 AND created_at <= $2)",
        )
        .bind(unix_seconds(now))
        .bind(self.oldest_allowed_login(now))
        .execute(&self.store.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Lists the user's live logins, newest activity first.
    pub async fn list_for_user(&self, user_id: &UserId, now: OffsetDateTime) -> Result<Vec<SessionRow>, StoreError> {
        let rows: Vec<ListedRow> = sqlx::query_as(
            "SELECT id_hash, kind, ip, user_agent, created_at, last_seen_at, expires_at FROM sessions
             WHERE user_id = $1 AND expires_at > $2 AND (kind = 'api' OR remembered = 1 OR created_at > $3)
             ORDER BY last_seen_at DESC",
        )
        .bind(user_id.as_str())
        .bind(unix_seconds(now))
        .bind(self.oldest_allowed_login(now))
        .fetch_all(&self.store.pool)
        .await?;

        rows.into_iter()
            .map(|row| {
                Ok(SessionRow {
                    id_hash: row.id_hash,
                    kind: row.kind,
                    ip: row.ip,
                    user_agent: row.user_agent,
                    created_at: from_unix_seconds(row.created_at)?,
                    last_seen_at: from_unix_seconds(row.last_seen_at)?,
                    expires_at: from_unix_seconds(row.expires_at)?,
                })
            })
            .collect()
    }

    /// Ends one login of the user, browser session or token family, by its
    /// key. Returns `false` when the user has no such login.
    pub async fn revoke_one(&self, user_id: &UserId, key: &[u8]) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash = $2")
            .bind(user_id.as_str())
            .bind(key)
            .execute(&self.store.pool)
            .await?;
        self.store
            .cache
            .families
            .forget_where(|cached_key, _| cached_key.as_bytes() == key);
        Ok(result.rows_affected() == 1)
    }

    /// Ends every login of the user except `keep`. Returns how many ended.
    pub async fn revoke_all_except(&self, user_id: &UserId, keep: Option<&TokenHash>) -> Result<u64, StoreError> {
        let keep: &[u8] = keep.map_or(&[], |key| key.as_bytes());
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
            .bind(user_id.as_str())
            .bind(keep)
            .execute(&self.store.pool)
            .await?;
        self.store
            .cache
            .families
            .forget_where(|cached_key, family| family.user_id == *user_id && cached_key.as_bytes() != keep);
        Ok(result.rows_affected())
    }

    /// Ends every login of the user. Returns how many there were.
    pub async fn revoke_all_for_user(&self, user_id: &UserId) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&self.store.pool)
            .await?;
        self.store
            .cache
            .families
            .forget_where(|_, family| family.user_id == *user_id);
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl TowerSessionStore for SessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let now = unix_seconds(OffsetDateTime::now_utc());
        let columns = Columns::of(record, now, self.lifetimes.idle)?;
        // A 128-bit random id colliding is unlikely, but the store owns
        // uniqueness: on a collision it draws a new id rather than overwrite.
        loop {
            let inserted = sqlx::query(
                "INSERT INTO sessions
                     (id_hash, user_id, data, ip, user_agent, remembered, created_at, last_seen_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (id_hash) DO NOTHING",
            )
            .bind(id_hash(&record.id).as_bytes())
            .bind(&columns.user_id)
            .bind(&columns.data)
            .bind(&columns.ip)
            .bind(&columns.user_agent)
            .bind(i64::from(columns.remembered))
            .bind(now)
            .bind(now)
            .bind(columns.expires_at)
            .execute(&self.store.pool)
            .await
            .map_err(backend)?;
            if inserted.rows_affected() == 1 {
                return Ok(());
            }
            record.id = Id::default();
        }
    }

    /// Updates an existing row only. A session deleted in the meantime (by
    /// logout or revocation) stays deleted, even if a request that loaded it
    /// earlier saves it afterwards.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let now = unix_seconds(OffsetDateTime::now_utc());
        let columns = Columns::of(record, now, self.lifetimes.idle)?;
        sqlx::query(
            "UPDATE sessions SET user_id = $1, data = $2, ip = COALESCE($3, ip), user_agent = COALESCE($4, user_agent),
                 remembered = $5, last_seen_at = $6, expires_at = $7
             WHERE id_hash = $8 AND kind = 'browser'",
        )
        .bind(&columns.user_id)
        .bind(&columns.data)
        .bind(&columns.ip)
        .bind(&columns.user_agent)
        .bind(i64::from(columns.remembered))
        .bind(now)
        .bind(columns.expires_at)
        .bind(id_hash(&record.id).as_bytes())
        .execute(&self.store.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = OffsetDateTime::now_utc();
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT data, expires_at FROM sessions
             WHERE id_hash = $1 AND kind = 'browser' AND expires_at > $2 AND (remembered = 1 OR created_at > $3)",
        )
        .bind(id_hash(id).as_bytes())
        .bind(unix_seconds(now))
        .bind(self.oldest_allowed_login(now))
        .fetch_optional(&self.store.pool)
        .await
        .map_err(backend)?;

        let Some((data, expires_at)) = row else {
            return Ok(None);
        };
        let data = serde_json::from_str(&data).map_err(|err| session_store::Error::Decode(err.to_string()))?;
        let expiry_date = from_unix_seconds(expires_at).map_err(|err| session_store::Error::Decode(err.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1 AND kind = 'browser'")
            .bind(id_hash(id).as_bytes())
            .execute(&self.store.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
