-- Issue #11 item 5: the portal's list under load.
-- The current list keeps a rejected record for 30 days (issue #8 item 4) by its
-- updated_at: the count reads it from the index, not from the rows.
DROP INDEX applications_account_list;
CREATE INDEX applications_account_list ON applications(account_id, status, contract_ends_at, cert_issued_at, updated_at);
-- Every change to an account's records moves its version, so a count of its list can
-- be kept until the next change (Store::search_applications).
ALTER TABLE accounts ADD COLUMN applications_version INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER applications_version_insert AFTER INSERT ON applications
BEGIN
    UPDATE accounts SET applications_version = applications_version + 1 WHERE id = NEW.account_id;
END;
CREATE TRIGGER applications_version_update AFTER UPDATE ON applications
BEGIN
    UPDATE accounts SET applications_version = applications_version + 1 WHERE id IN (OLD.account_id, NEW.account_id);
END;
CREATE TRIGGER applications_version_delete AFTER DELETE ON applications
BEGIN
    UPDATE accounts SET applications_version = applications_version + 1 WHERE id = OLD.account_id;
END;
