-- Names of partner offices as the relay's directory last gave them, so that history can be
-- searched by name (「れんけい訪問介護」) as well as by office number, also offline.
CREATE TABLE partners (
    office  TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
