-- Mass revocation (issue #11 item 3): staff revoke a list of serials, or every
-- certificate with one compromised key, at once. The request is stored first (a draft
-- staff confirm after seeing what it would revoke); a worker then revokes it in chunks,
-- each chunk one transaction with its audit events and its progress, so a process
-- killed half-way resumes where it stopped.
CREATE TABLE mass_revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    staff_id INTEGER NOT NULL REFERENCES staff(id),
    crl_reason INTEGER NOT NULL,
    note TEXT NOT NULL,
    -- By key: the compromised key's SHA-256 SPKI hash (blocked when confirmed).
    spki_sha256 TEXT,
    status TEXT NOT NULL,           -- draft, running, done, cancelled
    total INTEGER NOT NULL,         -- serials listed, or live certificates with the key
    position INTEGER NOT NULL DEFAULT 0,
    revoked INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE TABLE mass_revocation_serials (
    mass_id INTEGER NOT NULL REFERENCES mass_revocations(id),
    seq INTEGER NOT NULL,
    serial TEXT NOT NULL,
    PRIMARY KEY (mass_id, seq)
);
