-- A browser session of a login with "Remember me" lasts until its own
-- expiry, past the absolute lifetime that ends other browser sessions.

ALTER TABLE sessions ADD COLUMN remembered INTEGER NOT NULL DEFAULT 0;
