-- ACME orders (issue #10, RFC 8555 7.1.3-7.1.5) and the domain checks the validation
-- engine performs, recorded on the contract (method, time, result, perspectives).
-- validations.staff_id becomes optional: a domain validated by the engine (ACME or the
-- portal's 確認する) has no staff member; its method names what was checked.
ALTER TABLE validations ALTER COLUMN staff_id DROP NOT NULL;
CREATE INDEX validations_application ON validations(application_id);
CREATE TABLE acme_orders (
    id BIGSERIAL PRIMARY KEY,
    acme_account_id BIGINT NOT NULL REFERENCES acme_accounts(id),
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    contract_id BIGINT NOT NULL REFERENCES contracts(id),
    status TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    error TEXT,
    application_id BIGINT REFERENCES applications(id),
    replaces TEXT,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders(acme_account_id, created_at);
CREATE INDEX acme_orders_contract ON acme_orders(contract_id, created_at);
CREATE TABLE acme_authzs (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES acme_orders(id),
    domain TEXT NOT NULL,
    wildcard BIGINT NOT NULL,
    status TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    validated_at BIGINT,
    method TEXT
);
CREATE INDEX acme_authzs_order ON acme_authzs(order_id);
CREATE TABLE acme_challenges (
    id BIGSERIAL PRIMARY KEY,
    authz_id BIGINT NOT NULL REFERENCES acme_authzs(id),
    type TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    validated_at BIGINT,
    error TEXT
);
CREATE INDEX acme_challenges_authz ON acme_challenges(authz_id);
CREATE TABLE domain_checks (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES accounts(id),
    contract_id BIGINT REFERENCES contracts(id),
    application_id BIGINT REFERENCES applications(id),
    acme_account_id BIGINT REFERENCES acme_accounts(id),
    domain TEXT NOT NULL,
    method TEXT NOT NULL,
    passed BIGINT NOT NULL,
    detail TEXT NOT NULL,
    perspectives TEXT NOT NULL,
    checked_at BIGINT NOT NULL
);
CREATE INDEX domain_checks_contract ON domain_checks(contract_id, domain, checked_at);
CREATE INDEX domain_checks_account ON domain_checks(account_id, checked_at);
