-- Rate limit and login failure state, for instances that share it through
-- the database. Keys name an action and a client address, or an account by
-- a hash of its email; no email is stored here. Times are Unix milliseconds.

-- The generic cell rate algorithm: the theoretical arrival time of the next
-- request of each key.
CREATE TABLE rate_limit_buckets (
    limit_key  TEXT    PRIMARY KEY NOT NULL,
    arrival_ms INTEGER NOT NULL
);

CREATE INDEX rate_limit_buckets_arrival ON rate_limit_buckets (arrival_ms);

-- Consecutive failed logins of an account. A locked account has the
-- largest retry_at_ms and forget_after_ms.
CREATE TABLE login_failures (
    limit_key       TEXT    PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_ms         INTEGER NOT NULL,
    retry_at_ms     INTEGER NOT NULL,
    forget_after_ms INTEGER NOT NULL
);
