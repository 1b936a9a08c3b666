-- Pre-built OCSP responses (SHA-1 CertIDs), one per issued serial.
CREATE TABLE ocsp_responses (
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der BLOB NOT NULL,
    PRIMARY KEY (issuer, serial)
);
