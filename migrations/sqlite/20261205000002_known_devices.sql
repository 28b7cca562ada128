-- Devices (browser and system, as named from the user agent) each user has
-- logged in from, so that a login from a new one can be reported by mail.

CREATE TABLE known_devices (
    user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device        TEXT    NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, device)
);
