-- The PostgreSQL twin of the SQLite migration of the same version: BIGINT
-- for INTEGER, BYTEA for BLOB.

-- Accounts, email verification tokens and login sessions.
-- Times are Unix seconds (UTC). Secrets handed to users are stored only as
-- SHA-256 hashes; passwords only as Argon2id PHC strings.

CREATE TABLE users (
    id                TEXT    PRIMARY KEY NOT NULL,
    -- Canonical form: trimmed and lowercased, so one address holds one account.
    email             TEXT    NOT NULL UNIQUE,
    display_name      TEXT    NOT NULL,
    password_hash     TEXT    NOT NULL,
    email_verified_at BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE email_verification_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Set when the link is used; the row stays so that a second use can be
    -- told apart from a link that never existed.
    used_at    BIGINT
);

CREATE INDEX email_verification_tokens_user ON email_verification_tokens (user_id);

-- One row per login. Browser sessions store their tower-sessions record in
-- `data`; the columns beside it let a user's logins be listed and revoked.
CREATE TABLE sessions (
    id_hash      BYTEA PRIMARY KEY NOT NULL,
    user_id      TEXT    REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL DEFAULT 'browser',
    data         TEXT    NOT NULL,
    ip           TEXT,
    user_agent   TEXT,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);
