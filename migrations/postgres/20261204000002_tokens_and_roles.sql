-- The PostgreSQL twin of the SQLite migration of the same version: BIGINT
-- for INTEGER, BYTEA for BLOB.

-- Roles, API token families, signing keys, a sample resource and the audit
-- trail.

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    PRIMARY KEY (user_id, role)
);

-- Every existing account gets the role new accounts get.
INSERT INTO user_roles (user_id, role) SELECT id, 'viewer' FROM users;

-- An API login is a session row of kind 'api'. Its id_hash is the hash of
-- the family id, which access tokens carry in their `sid` claim.
ALTER TABLE sessions ADD COLUMN family_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
CREATE UNIQUE INDEX sessions_family ON sessions (family_id) WHERE family_id IS NOT NULL;

-- Refresh tokens of a family. Rotation marks the presented token used and
-- inserts its successor; a used token presented again revokes the family.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    session_id BYTEA NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

-- Ed25519 keys that sign access tokens. The newest unretired key signs;
-- every key stays published until tokens it signed can no longer be valid.
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY NOT NULL,
    private_key BYTEA NOT NULL,
    public_key  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);

CREATE TABLE contacts (
    id         TEXT    PRIMARY KEY NOT NULL,
    owner_id   TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX contacts_owner ON contacts (owner_id, created_at);

CREATE TABLE audit_events (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX audit_events_user ON audit_events (user_id, created_at);
