-- Pre-built OCSP responses (SHA-1 CertIDs), one per issued serial.
CREATE TABLE ocsp_responses (
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    this_update BIGINT NOT NULL,
    next_update BIGINT NOT NULL,
    der BYTEA NOT NULL,
    PRIMARY KEY (issuer, serial)
);
