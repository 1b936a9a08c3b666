-- ACME with external account binding (issue #10): a credential (kid and HMAC key,
-- sealed) belongs to one contract of one customer account and binds at most one ACME
-- account; nonces are stored so several instances share them and each is used once.
CREATE TABLE acme_eab (
    kid TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contract_id INTEGER NOT NULL REFERENCES contracts(id),
    application_id INTEGER NOT NULL REFERENCES applications(id),
    hmac_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);
CREATE INDEX acme_eab_contract ON acme_eab (contract_id);
CREATE TABLE acme_accounts (
    id INTEGER PRIMARY KEY,
    thumbprint TEXT NOT NULL UNIQUE,
    jwk TEXT NOT NULL,
    eab_kid TEXT NOT NULL UNIQUE REFERENCES acme_eab(kid),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contract_id INTEGER NOT NULL REFERENCES contracts(id),
    contact TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
);
CREATE TABLE acme_nonces (
    nonce TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX acme_nonces_expiry ON acme_nonces (expires_at);
