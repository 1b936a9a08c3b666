-- Issue #11 item 4: ACME nonces are no longer stored when given out (they carry their
-- issue time and a MAC under the shared secrets key); only their use is recorded, so a
-- second use on any instance is refused. Rows older than a nonce's lifetime are purged.
DROP TABLE acme_nonces;
CREATE TABLE acme_used_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX acme_used_nonces_expiry ON acme_used_nonces (expires_at);
-- The order of an ACME record becomes valid in the transaction that issues its
-- certificate (found by application).
CREATE INDEX acme_orders_application ON acme_orders (application_id);
-- Reads of every finalize that grew with the contract's ACME certificates (found by the
-- finalize benchmark): the contract's newest portal record skipped every ACME record,
-- and the newest organisation validation sorted all of its copies.
DROP INDEX validations_subject;
CREATE INDEX validations_subject ON validations(account_id, kind, subject, validated_at);
DROP INDEX applications_contract;
CREATE INDEX applications_contract ON applications(contract_id, kind, status);
