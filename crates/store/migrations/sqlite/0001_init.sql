-- Shomei schema v1 (SQLite). Times are Unix seconds (UTC). Booleans are 0/1.
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    access_key TEXT NOT NULL UNIQUE,
    org_name TEXT NOT NULL,
    email TEXT NOT NULL,
    dealer_code TEXT,
    password_hash TEXT NOT NULL,
    password_initial INTEGER NOT NULL,
    password_expires_at INTEGER,
    cert_serial TEXT,
    cert_subject TEXT,
    cert_fingerprint TEXT,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE staff (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    password_initial INTEGER NOT NULL,
    password_expires_at INTEGER,
    cert_serial TEXT,
    cert_subject TEXT,
    cert_fingerprint TEXT,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    principal_id INTEGER NOT NULL,
    cert_fingerprint TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE TABLE contracts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    code TEXT UNIQUE,
    service TEXT NOT NULL,
    term_years INTEGER NOT NULL,
    contract_type TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE drafts (
    id TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    step TEXT NOT NULL,
    application_id INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contract_id INTEGER REFERENCES contracts(id),
    draft_id TEXT UNIQUE,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    term_years INTEGER NOT NULL,
    contract_type TEXT NOT NULL,
    status TEXT NOT NULL,
    server_type TEXT NOT NULL,
    csr_pem TEXT NOT NULL,
    common_name TEXT NOT NULL,
    names TEXT NOT NULL,
    spki_sha256 TEXT NOT NULL,
    key_desc TEXT NOT NULL,
    details TEXT NOT NULL,
    reject_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER,
    downloaded_at INTEGER
);
CREATE INDEX applications_account ON applications(account_id, created_at);
CREATE INDEX applications_status ON applications(status, created_at);
CREATE TABLE validations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    method TEXT NOT NULL,
    validated_at INTEGER NOT NULL,
    staff_id INTEGER NOT NULL REFERENCES staff(id)
);
CREATE INDEX validations_subject ON validations(account_id, kind, subject);
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    status TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    tbs BLOB,
    der BLOB,
    pem TEXT,
    spki_sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    issued_at INTEGER,
    revoked_at INTEGER,
    revocation_reason INTEGER,
    UNIQUE (issuer, serial)
);
CREATE INDEX certificates_application ON certificates(application_id);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, last_hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit_events(subject);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    run_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(status, run_at);
