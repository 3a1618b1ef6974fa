-- Enrollment data (owned by the portal): offices, KJ accounts, operators, personal users,
-- certificates, device bindings, usage applications, the license ledger, notices and the
-- portal's server-side sessions. Times are unix milliseconds (UTC); calendar dates are
-- 'YYYY-MM-DD' in Asia/Tokyo; months 'YYYYMM'.

CREATE TABLE offices (
    number        TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    name_kana     TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL,
    prefecture    INTEGER NOT NULL,
    postal_code   TEXT NOT NULL DEFAULT '',
    address       TEXT NOT NULL DEFAULT '',
    phone         TEXT NOT NULL DEFAULT '',
    accepts       TEXT NOT NULL DEFAULT '[]',
    registered_at INTEGER NOT NULL
);
CREATE INDEX offices_prefecture ON offices (prefecture);

CREATE TABLE kj_accounts (
    kj_id                  TEXT PRIMARY KEY NOT NULL,
    office                 TEXT NOT NULL UNIQUE REFERENCES offices (number),
    password_hash          TEXT NOT NULL,
    password_temporary     INTEGER NOT NULL,
    issuance_password_hash TEXT NOT NULL,
    failed_logins          INTEGER NOT NULL DEFAULT 0,
    locked_until           INTEGER,
    created_at             INTEGER NOT NULL
);

CREATE TABLE operators (
    login         TEXT PRIMARY KEY NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE personal_users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    office        TEXT NOT NULL REFERENCES offices (number),
    display_name  TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX personal_users_office ON personal_users (office);

CREATE TABLE certificates (
    serial            TEXT PRIMARY KEY NOT NULL,
    office            TEXT REFERENCES offices (number),
    profile           TEXT NOT NULL,
    spki_sha256       TEXT NOT NULL,
    encryption_key    BLOB,
    pem               TEXT NOT NULL,
    not_before        INTEGER NOT NULL,
    not_after         INTEGER NOT NULL,
    issued_at         INTEGER NOT NULL,
    revoked_at        INTEGER,
    revocation_reason TEXT
);
CREATE INDEX certificates_office ON certificates (office, issued_at);
CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE device_bindings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    office      TEXT NOT NULL REFERENCES offices (number),
    spki_sha256 TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    label       TEXT NOT NULL,
    bound_at    INTEGER NOT NULL,
    released_at INTEGER
);
CREATE INDEX device_bindings_active ON device_bindings (office) WHERE released_at IS NULL;

CREATE TABLE usage_applications (
    id                  TEXT PRIMARY KEY NOT NULL,
    office              TEXT NOT NULL REFERENCES offices (number),
    kj_id               TEXT NOT NULL,
    contact_name        TEXT NOT NULL,
    contact_email       TEXT NOT NULL,
    contact_phone       TEXT NOT NULL,
    billing             TEXT NOT NULL,
    cert_serial         TEXT NOT NULL,
    personal_user       TEXT NOT NULL REFERENCES personal_users (user_id),
    terms_accepted_at   INTEGER NOT NULL,
    privacy_accepted_at INTEGER NOT NULL,
    fee_confirmed_at    INTEGER NOT NULL,
    completed_at        INTEGER NOT NULL
);
CREATE INDEX usage_applications_office ON usage_applications (office, completed_at);

CREATE TABLE license_ledger (
    id           TEXT PRIMARY KEY NOT NULL,
    office       TEXT NOT NULL REFERENCES offices (number),
    kj_id        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    event_date   TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end   TEXT NOT NULL,
    claim_month  TEXT NOT NULL,
    amount_yen   INTEGER NOT NULL,
    billing      TEXT NOT NULL,
    reason       TEXT NOT NULL,
    campaign     TEXT,
    auto_renew   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (office, period_start)
);
CREATE INDEX license_ledger_claim_month ON license_ledger (claim_month);

CREATE TABLE notices (
    id         TEXT PRIMARY KEY NOT NULL,
    office     TEXT NOT NULL REFERENCES offices (number),
    kind       TEXT NOT NULL,
    sealed     INTEGER NOT NULL,
    body       BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    read_at    INTEGER
);
CREATE INDEX notices_office ON notices (office, created_at);

CREATE TABLE portal_sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    role       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);

CREATE TABLE portal_csrf_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session    TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX portal_csrf_tokens_session ON portal_csrf_tokens (session);
