-- Revocation (R-V1..R-V4), blocked keys, CRL state.
ALTER TABLE applications ADD COLUMN target_id BIGINT REFERENCES applications(id);
ALTER TABLE applications ADD COLUMN revocation_reason TEXT;
CREATE INDEX applications_target ON applications(target_id);
CREATE INDEX certificates_revoked ON certificates(issuer, revoked_at);
CREATE INDEX certificates_spki ON certificates(spki_sha256);
CREATE TABLE blocked_keys (
    spki_sha256 TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    blocked_at BIGINT NOT NULL
);
CREATE TABLE crls (
    issuer TEXT PRIMARY KEY,
    crl_number BIGINT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der BYTEA
);
