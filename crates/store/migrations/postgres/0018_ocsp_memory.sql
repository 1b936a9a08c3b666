-- OCSP from memory (issue #11): each stored response says which status it states
-- ('good' or 'revoked'), so a response that no longer matches its certificate (a
-- revocation committed before its response was rebuilt, e.g. across a crash) is never
-- served or loaded into memory. Rows from before have no statement and are rebuilt.
ALTER TABLE ocsp_responses ADD COLUMN states TEXT;

-- Every instance keeps responses in memory: a change of a certificate's status is
-- announced to all of them at commit (LISTEN shomei_cert_status; payload "issuer serial").
CREATE FUNCTION shomei_cert_status_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('shomei_cert_status', NEW.issuer || ' ' || NEW.serial);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER certificates_status_notify
    AFTER UPDATE OF status, revoked_at ON certificates
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at)
    EXECUTE FUNCTION shomei_cert_status_notify();
