-- Search (R-LS1–R-LS6): what the list filters and sorts on, as columns of the record
-- itself (the organisation name lives in the details JSON; the contract's code and end
-- and the certificate's dates in their tables), so a search within one account reads
-- one table through its indexes. Kept up to date by the store in the same transactions
-- that change them.
ALTER TABLE applications ADD COLUMN org_name TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN contract_code TEXT;
ALTER TABLE applications ADD COLUMN contract_ends_at BIGINT;
ALTER TABLE applications ADD COLUMN cert_issued_at BIGINT;
ALTER TABLE applications ADD COLUMN cert_not_after BIGINT;
UPDATE applications SET org_name = COALESCE((details::jsonb)->'organisation'->>'name', '');
UPDATE applications SET
    contract_code = (SELECT code FROM contracts c WHERE c.id = applications.contract_id),
    contract_ends_at = (SELECT ends_at FROM contracts c WHERE c.id = applications.contract_id),
    cert_issued_at = (SELECT MAX(issued_at) FROM certificates ce WHERE ce.application_id = applications.id AND ce.status = 'issued'),
    cert_not_after = (SELECT MAX(not_after) FROM certificates ce WHERE ce.application_id = applications.id AND ce.status = 'issued');
-- The default list (current records, R-LS1) counts from this index alone.
CREATE INDEX applications_account_list ON applications(account_id, status, contract_ends_at, cert_issued_at);
CREATE INDEX applications_account_updated ON applications(account_id, updated_at NULLS FIRST, id);
CREATE INDEX applications_account_service ON applications(account_id, service NULLS FIRST, id);
CREATE INDEX applications_account_kind ON applications(account_id, kind NULLS FIRST, id);
CREATE INDEX applications_account_status ON applications(account_id, status NULLS FIRST, id);
CREATE INDEX applications_account_validity ON applications(account_id, cert_not_after NULLS FIRST, id);
CREATE INDEX applications_account_contract ON applications(account_id, contract_code NULLS FIRST, id);
CREATE INDEX applications_account_org ON applications(account_id, org_name NULLS FIRST, id);
CREATE INDEX applications_account_server ON applications(account_id, common_name NULLS FIRST, id);
CREATE INDEX applications_account_coupon ON applications(account_id, coupon NULLS FIRST, id);
CREATE INDEX applications_contract ON applications(contract_id);
CREATE INDEX applications_account_applied ON applications(account_id, created_at NULLS FIRST, id);
-- "contains" conditions (ILIKE '%…%') through trigram indexes. pg_trgm ships with
-- PostgreSQL (contrib) and is a trusted extension: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX applications_org_trgm ON applications USING gin (org_name gin_trgm_ops);
CREATE INDEX applications_names_trgm ON applications USING gin (names gin_trgm_ops);
CREATE INDEX applications_contract_trgm ON applications USING gin (contract_code gin_trgm_ops);
CREATE INDEX applications_coupon_trgm ON applications USING gin (coupon gin_trgm_ops);
