-- Search (R-LS1–R-LS6): what the list filters and sorts on, as columns of the record
-- itself (the organisation name lives in the details JSON; the contract's code and end
-- and the certificate's dates in their tables), so a search within one account reads
-- one table through its indexes. Kept up to date by the store in the same transactions
-- that change them.
ALTER TABLE applications ADD COLUMN org_name TEXT NOT NULL DEFAULT '';
ALTER TABLE applications ADD COLUMN contract_code TEXT;
ALTER TABLE applications ADD COLUMN contract_ends_at INTEGER;
ALTER TABLE applications ADD COLUMN cert_issued_at INTEGER;
ALTER TABLE applications ADD COLUMN cert_not_after INTEGER;
UPDATE applications SET org_name = COALESCE(json_extract(details, '$.organisation.name'), '');
UPDATE applications SET
    contract_code = (SELECT code FROM contracts c WHERE c.id = applications.contract_id),
    contract_ends_at = (SELECT ends_at FROM contracts c WHERE c.id = applications.contract_id),
    cert_issued_at = (SELECT MAX(issued_at) FROM certificates ce WHERE ce.application_id = applications.id AND ce.status = 'issued'),
    cert_not_after = (SELECT MAX(not_after) FROM certificates ce WHERE ce.application_id = applications.id AND ce.status = 'issued');
-- The default list (current records, R-LS1) counts from this index alone.
CREATE INDEX applications_account_list ON applications(account_id, status, contract_ends_at, cert_issued_at);
CREATE INDEX applications_account_updated ON applications(account_id, updated_at);
CREATE INDEX applications_account_service ON applications(account_id, service);
CREATE INDEX applications_account_kind ON applications(account_id, kind);
CREATE INDEX applications_account_status ON applications(account_id, status);
CREATE INDEX applications_account_validity ON applications(account_id, cert_not_after);
CREATE INDEX applications_account_contract ON applications(account_id, contract_code);
CREATE INDEX applications_account_org ON applications(account_id, org_name);
CREATE INDEX applications_account_server ON applications(account_id, common_name);
CREATE INDEX applications_account_coupon ON applications(account_id, coupon);
CREATE INDEX applications_contract ON applications(contract_id);
-- Every column a search filters or sorts on, without the wide ones (CSR, details): a
-- "contains" condition reads this index instead of the rows (search.rs, INDEXED BY).
CREATE INDEX applications_account_search ON applications(account_id, status, contract_ends_at, cert_issued_at, org_name, names, contract_code, coupon, created_at, updated_at, service, kind, server_type, downloaded_at, cert_not_after, common_name);
