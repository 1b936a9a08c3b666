-- ACME Renewal Information (RFC 9773; issue #10): staff pull the suggested renewal
-- window of a contract's certificates, or of every certificate, into the past (the tool
-- for a mass revocation: clients renew early). contract_id NULL means every contract.
CREATE TABLE ari_pull_ins (
    id BIGSERIAL PRIMARY KEY,
    contract_id BIGINT REFERENCES contracts(id),
    issued_before BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
