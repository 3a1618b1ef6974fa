-- Messaging: messages, receipts, the per-office audit trail and login sessions (relay).
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE messages (
    id                    TEXT PRIMARY KEY,          -- UUID v7, hyphenated lower case (sorts by time)
    sender                TEXT NOT NULL,
    recipient             TEXT NOT NULL,
    idempotency_key       TEXT NOT NULL,
    digest                TEXT NOT NULL,             -- SHA-256 of the envelope, hex
    length                INTEGER NOT NULL CHECK (length >= 0),
    file_seq              TEXT NOT NULL,
    files                 TEXT NOT NULL,             -- JSON array of file names
    sender_cert_serial    TEXT NOT NULL,
    recipient_cert_serial TEXT NOT NULL,
    blob_key              TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('stored', 'downloaded', 'imported', 'rejected', 'expired')),
    stored_at             INTEGER NOT NULL,
    downloaded_at         INTEGER,
    finished_at           INTEGER,
    expires_at            INTEGER NOT NULL,
    reasons               TEXT,
    UNIQUE (sender, idempotency_key)
);
CREATE INDEX messages_inbox ON messages (recipient, id);
CREATE INDEX messages_outbox ON messages (sender, id);
CREATE INDEX messages_unread_expiry ON messages (expires_at) WHERE state = 'stored';
CREATE INDEX messages_stored_at ON messages (stored_at);

CREATE TABLE receipts (
    id         INTEGER PRIMARY KEY,                  -- issue order
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    event      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    body       TEXT NOT NULL,                        -- canonical JSON exactly as signed
    signature  TEXT NOT NULL,
    UNIQUE (message_id, event)
);

-- The last entry of each office's chain; writers hold the database write lock (BEGIN IMMEDIATE).
CREATE TABLE audit_heads (
    office TEXT PRIMARY KEY,
    seq    INTEGER NOT NULL,
    hash   TEXT NOT NULL
);

CREATE TABLE audit_entries (
    office    TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    actor     TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    sig       TEXT NOT NULL,
    PRIMARY KEY (office, seq)
);

-- Append-only: the relay never rewrites history (an administrator who does is caught by the
-- hash chain and the signed export checkpoints, not by this trigger).
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;
CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are append-only');
END;

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,                    -- SHA-256 of the bearer token, hex
    stage       TEXT NOT NULL CHECK (stage IN ('user', 'office')),
    user_id     TEXT NOT NULL,
    office      TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
