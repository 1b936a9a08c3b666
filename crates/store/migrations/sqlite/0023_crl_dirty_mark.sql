-- Issue #12 (found by the crash harness): the CRL builder cleared a shard's dirty mark
-- before signing, so a process killed between the two left a revocation off every CRL
-- until the daily refresh. Now each mark counts (a revocation bumps it) and the builder
-- deletes it only in the transaction that stores the new CRL, and only if no
-- revocation bumped it after the builder read it.
ALTER TABLE crl_dirty ADD COLUMN mark INTEGER NOT NULL DEFAULT 0;
DROP TRIGGER certificates_crl_dirty;
CREATE TRIGGER certificates_crl_dirty AFTER UPDATE OF revoked_at ON certificates
WHEN NEW.revoked_at IS NOT NULL AND OLD.revoked_at IS NULL
BEGIN
    INSERT INTO crl_dirty (crl)
    VALUES (CASE WHEN NEW.crl_shard < 0 THEN NEW.issuer ELSE NEW.issuer || '/' || NEW.crl_shard END)
    ON CONFLICT (crl) DO UPDATE SET mark = crl_dirty.mark + 1;
END;
