-- Search (R-LS1–R-LS6): the organisation name as a column (it lives in the details JSON)
-- and indexes for the list's sorts within one account.
ALTER TABLE applications ADD COLUMN org_name TEXT NOT NULL DEFAULT '';
UPDATE applications SET org_name = COALESCE(json_extract(details, '$.organisation.name'), '');
CREATE INDEX applications_account_updated ON applications(account_id, updated_at);
CREATE INDEX applications_account_org ON applications(account_id, org_name);
CREATE INDEX applications_account_server ON applications(account_id, common_name);
CREATE INDEX applications_account_kind ON applications(account_id, kind, created_at);
CREATE INDEX applications_account_service ON applications(account_id, service, created_at);
CREATE INDEX applications_account_status ON applications(account_id, status, created_at);
CREATE INDEX applications_contract ON applications(contract_id);
