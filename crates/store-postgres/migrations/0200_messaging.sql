-- Messaging: messages, receipts, the per-office audit trail and login sessions (relay).
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE messages (
    id                    UUID PRIMARY KEY,          -- UUID v7 (sorts by time)
    sender                TEXT NOT NULL,
    recipient             TEXT NOT NULL,
    idempotency_key       TEXT NOT NULL,
    digest                TEXT NOT NULL,             -- SHA-256 of the envelope, hex
    length                BIGINT NOT NULL CHECK (length >= 0),
    file_seq              TEXT NOT NULL,
    files                 TEXT NOT NULL,             -- JSON array of file names
    sender_cert_serial    TEXT NOT NULL,
    recipient_cert_serial TEXT NOT NULL,
    blob_key              TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('stored', 'downloaded', 'imported', 'rejected', 'expired')),
    stored_at             BIGINT NOT NULL,
    downloaded_at         BIGINT,
    finished_at           BIGINT,
    expires_at            BIGINT NOT NULL,
    reasons               TEXT,
    UNIQUE (sender, idempotency_key)
);
CREATE INDEX messages_inbox ON messages (recipient, id);
CREATE INDEX messages_outbox ON messages (sender, id);
CREATE INDEX messages_unread_expiry ON messages (expires_at) WHERE state = 'stored';
CREATE INDEX messages_stored_at ON messages (stored_at);

CREATE TABLE receipts (
    id         BIGSERIAL PRIMARY KEY,                -- issue order
    message_id UUID NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    event      TEXT NOT NULL,
    at         BIGINT NOT NULL,
    body       TEXT NOT NULL,                        -- canonical JSON exactly as signed
    signature  TEXT NOT NULL,
    UNIQUE (message_id, event)
);
CREATE INDEX receipts_message ON receipts (message_id, id);

-- The last entry of each office's chain. Appending takes a row lock on the office's head
-- (SELECT … FOR UPDATE), which serializes appends per office across every relay node.
CREATE TABLE audit_heads (
    office TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);

CREATE TABLE audit_entries (
    office    TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    at        BIGINT NOT NULL,
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
CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only';
END;
$$;
CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,                    -- SHA-256 of the bearer token, hex
    stage       TEXT NOT NULL CHECK (stage IN ('user', 'office')),
    user_id     TEXT NOT NULL,
    office      TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
