-- Issue #8 item 2: documents a customer submits for an application that is
-- 書類提出待ち (PDF, PNG or JPEG, at most 5 MiB each), kept with the application.
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    uploaded_at INTEGER NOT NULL,
    UNIQUE (application_id, sha256)
);
