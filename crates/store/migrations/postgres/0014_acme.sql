-- ACME with external account binding (issue #10): a credential (kid and HMAC key,
-- sealed) belongs to one contract of one customer account and binds at most one ACME
-- account; nonces are stored so several instances share them and each is used once.
CREATE TABLE acme_eab (
    kid TEXT PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    contract_id BIGINT NOT NULL REFERENCES contracts(id),
    application_id BIGINT NOT NULL REFERENCES applications(id),
    hmac_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);
CREATE INDEX acme_eab_contract ON acme_eab (contract_id);
CREATE TABLE acme_accounts (
    id BIGSERIAL PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    eab_kid TEXT NOT NULL UNIQUE REFERENCES acme_eab(kid),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    contract_id BIGINT NOT NULL REFERENCES contracts(id),
    contact TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);
CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX acme_nonces_expiry ON acme_nonces (expires_at);
