-- The PostgreSQL twin of the SQLite migration of the same version: BIGINT
-- for INTEGER, BYTEA for BLOB.

-- Password reset links. Like verification links, only the SHA-256 hash of
-- the token is stored, and a used row stays until it expires so that a
-- second use can be told apart from a link that never existed.

CREATE TABLE password_reset_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX password_reset_tokens_user ON password_reset_tokens (user_id);
