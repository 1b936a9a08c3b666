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
