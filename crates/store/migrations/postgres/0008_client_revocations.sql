-- Revoked login and staff certificates (R-L5): the login CA's CRL lists them and the
-- portal refuses them.
CREATE TABLE client_revocations (
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    principal_id BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL,
    reason BIGINT NOT NULL,
    PRIMARY KEY (issuer, serial)
);
