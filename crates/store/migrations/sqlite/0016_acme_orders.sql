-- ACME orders (issue #10, RFC 8555 7.1.3-7.1.5) and the domain checks the validation
-- engine performs, recorded on the contract (method, time, result, perspectives).
-- validations.staff_id becomes optional: a domain validated by the engine (ACME or the
-- portal's 確認する) has no staff member; its method names what was checked.
CREATE TABLE validations_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    method TEXT NOT NULL,
    validated_at INTEGER NOT NULL,
    staff_id INTEGER REFERENCES staff(id)
);
INSERT INTO validations_v2 (id, application_id, account_id, kind, subject, method, validated_at, staff_id)
    SELECT id, application_id, account_id, kind, subject, method, validated_at, staff_id FROM validations;
DROP TABLE validations;
ALTER TABLE validations_v2 RENAME TO validations;
CREATE INDEX validations_subject ON validations(account_id, kind, subject);
CREATE INDEX validations_application ON validations(application_id);
CREATE TABLE acme_orders (
    id INTEGER PRIMARY KEY,
    acme_account_id INTEGER NOT NULL REFERENCES acme_accounts(id),
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contract_id INTEGER NOT NULL REFERENCES contracts(id),
    status TEXT NOT NULL,
    identifiers TEXT NOT NULL,
    error TEXT,
    application_id INTEGER REFERENCES applications(id),
    replaces TEXT,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders(acme_account_id, created_at);
CREATE INDEX acme_orders_contract ON acme_orders(contract_id, created_at);
CREATE TABLE acme_authzs (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES acme_orders(id),
    domain TEXT NOT NULL,
    wildcard INTEGER NOT NULL,
    status TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    validated_at INTEGER,
    method TEXT
);
CREATE INDEX acme_authzs_order ON acme_authzs(order_id);
CREATE TABLE acme_challenges (
    id INTEGER PRIMARY KEY,
    authz_id INTEGER NOT NULL REFERENCES acme_authzs(id),
    type TEXT NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    validated_at INTEGER,
    error TEXT
);
CREATE INDEX acme_challenges_authz ON acme_challenges(authz_id);
CREATE TABLE domain_checks (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    contract_id INTEGER REFERENCES contracts(id),
    application_id INTEGER REFERENCES applications(id),
    acme_account_id INTEGER REFERENCES acme_accounts(id),
    domain TEXT NOT NULL,
    method TEXT NOT NULL,
    passed INTEGER NOT NULL,
    detail TEXT NOT NULL,
    perspectives TEXT NOT NULL,
    checked_at INTEGER NOT NULL
);
CREATE INDEX domain_checks_contract ON domain_checks(contract_id, domain, checked_at);
CREATE INDEX domain_checks_account ON domain_checks(account_id, checked_at);
