-- Mail waiting for the relay: the transactional outbox. A row is written in
-- the transaction of the change it reports, so a change is never stored
-- without its mail, and deleted once the relay accepts the message, so the
-- links it carries stay in the database no longer than needed.

CREATE TABLE mail_queue (
    id              TEXT    PRIMARY KEY NOT NULL,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    text_body       TEXT    NOT NULL,
    html_body       TEXT    NOT NULL,
    -- For logs only: the confirmation of a deletion outlives its account.
    user_id         TEXT,
    created_at      INTEGER NOT NULL,
    -- Sending attempts started so far, counted when a worker claims the row.
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- Set while a worker sends the message; a worker that dies leaves it to
    -- expire, and the message is tried again.
    locked_until    INTEGER,
    last_error      TEXT,
    -- Set when the retries are spent; the bodies are blanked then.
    given_up_at     INTEGER
);

CREATE INDEX mail_queue_due ON mail_queue (next_attempt_at) WHERE given_up_at IS NULL;
