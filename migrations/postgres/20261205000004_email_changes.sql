-- The PostgreSQL twin of the SQLite migration of the same version: BIGINT
-- for INTEGER, BYTEA for BLOB.

-- Pending email address changes. The link mailed to the new address
-- carries the token; only its SHA-256 hash is stored. The account keeps
-- its old address until the link is used.

CREATE TABLE email_change_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    new_email  TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX email_change_tokens_user ON email_change_tokens (user_id);
