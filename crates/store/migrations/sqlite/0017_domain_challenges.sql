-- The portal's domain validation (issue #10; BR 3.2.2.4.7 and 3.2.2.4.18): one random
-- value per domain of an application, shown to the customer, valid 30 days; the checks
-- of the validation engine are recorded in domain_checks with the application.
CREATE TABLE domain_challenges (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    domain TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (application_id, domain)
);
CREATE INDEX domain_checks_application ON domain_checks(application_id, domain, checked_at);
