-- The PostgreSQL twin of the SQLite migration of the same version: BIGINT
-- for INTEGER, BYTEA for BLOB.

-- A browser session of a login with "Remember me" lasts until its own
-- expiry, past the absolute lifetime that ends other browser sessions.

ALTER TABLE sessions ADD COLUMN remembered BIGINT NOT NULL DEFAULT 0;
