-- Local state of one client home. Several processes (the web UI and CLI scripts) may open it
-- at once: WAL and a busy timeout make that safe.

-- One row per 送信単位 the user asked to send (queued, sent or failed).
CREATE TABLE sends (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at       TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    file_seq         TEXT    NOT NULL,
    files            TEXT    NOT NULL,             -- JSON array of file names, import order
    content_sha256   TEXT    NOT NULL,             -- over names and bytes: "never send twice"
    idempotency_key  TEXT    NOT NULL UNIQUE,
    source           TEXT    NOT NULL,             -- ui | cli | watch
    months           TEXT    NOT NULL DEFAULT '',  -- YYYYMM list, for search
    clients          TEXT    NOT NULL DEFAULT '',  -- insured numbers / names, for search
    validation_overridden INTEGER NOT NULL DEFAULT 0,
    state            TEXT    NOT NULL,             -- queued | stored | downloaded | imported | rejected | expired | failed
    message_id       TEXT,
    digest           TEXT,
    error            TEXT,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX sends_content ON sends (content_sha256);
CREATE INDEX sends_message ON sends (message_id);

-- Units waiting to go out, in order. `bundle` holds the plaintext files until the unit is
-- sealed; from then on only `envelope`, so a retry re-sends the very same bytes under the
-- same idempotency key.
CREATE TABLE outbox (
    send_id   INTEGER PRIMARY KEY REFERENCES sends (id),
    bundle    BLOB,
    envelope  BLOB,
    attempts  INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- Relay-signed receipts, as received (JSON of renkei_api::SignedReceipt).
CREATE TABLE receipts (
    message_id TEXT NOT NULL,
    event      TEXT NOT NULL,
    at         TEXT NOT NULL,
    json       TEXT NOT NULL,
    PRIMARY KEY (message_id, event)
);

-- Messages received (or refused) by this office.
CREATE TABLE received (
    message_id  TEXT PRIMARY KEY,
    sender      TEXT NOT NULL,
    file_seq    TEXT NOT NULL,
    files       TEXT NOT NULL,
    digest      TEXT NOT NULL,
    state       TEXT NOT NULL,                -- imported | rejected
    kinds       TEXT NOT NULL DEFAULT '',
    months      TEXT NOT NULL DEFAULT '',
    clients     TEXT NOT NULL DEFAULT '',
    written_to  TEXT,
    reasons     TEXT,
    at          TEXT NOT NULL
);

CREATE TABLE favourites (
    office   TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    added_at TEXT NOT NULL
);

-- Local events worth keeping beside the relay's audit trail (validation overrides …).
CREATE TABLE events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    detail TEXT NOT NULL
);
