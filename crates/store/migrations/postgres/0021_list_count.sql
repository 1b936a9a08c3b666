-- Issue #11 item 5: the portal's list under load.
-- The current list keeps a rejected record for 30 days (issue #8 item 4) by its
-- updated_at: the count reads it from the index, not from the rows.
DROP INDEX applications_account_list;
CREATE INDEX applications_account_list ON applications(account_id, status, contract_ends_at, cert_issued_at, updated_at);
-- Every change to an account's records moves its version, so a count of its list can
-- be kept until the next change (Store::search_applications).
ALTER TABLE accounts ADD COLUMN applications_version BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION applications_version_bump() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE accounts SET applications_version = applications_version + 1 WHERE id = OLD.account_id;
        RETURN OLD;
    END IF;
    UPDATE accounts SET applications_version = applications_version + 1 WHERE id = NEW.account_id;
    IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
        UPDATE accounts SET applications_version = applications_version + 1 WHERE id = OLD.account_id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER applications_version AFTER INSERT OR UPDATE OR DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_version_bump();
