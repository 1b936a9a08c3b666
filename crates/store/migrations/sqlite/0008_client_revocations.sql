-- Revoked login and staff certificates (R-L5): the login CA's CRL lists them and the
-- portal refuses them.
CREATE TABLE client_revocations (
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    principal_id INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL,
    reason INTEGER NOT NULL,
    PRIMARY KEY (issuer, serial)
);
