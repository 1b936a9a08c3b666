-- Issue #12: several instances on one database.
-- A running job belongs to the instance that claimed it while its lease holds (renewed
-- as it runs); only a job whose lease expired (its instance died) is taken over.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until BIGINT;
-- Periodic work (OCSP refresh, reminders, domain checks, statistics) is run by one
-- instance at a time: the holder of its lease.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until BIGINT NOT NULL
);
-- The CA this database belongs to: an instance with another PKI refuses to start
-- instead of signing into it with other keys.
CREATE TABLE ca_identity (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    root_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
