-- Partitioned CRLs (issue #11): each certificate names its CRL shard in its CRL
-- distribution point; the shard is recorded with its serial. -1: certificates issued
-- before partitioning, on the undivided CRL (/crl/server.crl). A shard's signed CRL
-- and its CRL number live in `crls` under the key "<issuer>/<shard>".
ALTER TABLE certificates ADD COLUMN crl_shard BIGINT NOT NULL DEFAULT -1;
-- A shard's entries, read without touching the wide rows.
CREATE INDEX certificates_crl_entries ON certificates (issuer, crl_shard, not_after, serial, revoked_at, revocation_reason)
    WHERE revoked_at IS NOT NULL;
-- CRLs a revocation made stale, marked in the revocation's own transaction by every
-- path that revokes (a trigger), cleared by the builder before it reads the entries.
CREATE TABLE crl_dirty (crl TEXT PRIMARY KEY);
CREATE FUNCTION shomei_crl_dirty() RETURNS trigger AS $$
BEGIN
    INSERT INTO crl_dirty (crl)
    VALUES (CASE WHEN NEW.crl_shard < 0 THEN NEW.issuer ELSE NEW.issuer || '/' || NEW.crl_shard::text END)
    ON CONFLICT (crl) DO NOTHING;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER certificates_crl_dirty
    AFTER UPDATE OF revoked_at ON certificates
    FOR EACH ROW
    WHEN (NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL)
    EXECUTE FUNCTION shomei_crl_dirty();
