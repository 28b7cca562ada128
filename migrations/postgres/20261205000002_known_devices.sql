-- The PostgreSQL twin of the SQLite migration of the same version: BIGINT
-- for INTEGER, BYTEA for BLOB.

-- Devices (browser and system, as named from the user agent) each user has
-- logged in from, so that a login from a new one can be reported by mail.

CREATE TABLE known_devices (
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device        TEXT    NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, device)
);
