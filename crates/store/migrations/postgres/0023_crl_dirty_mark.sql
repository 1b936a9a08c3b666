-- Issue #12 (found by the crash harness): the CRL builder cleared a shard's dirty mark
-- before signing, so a process killed between the two left a revocation off every CRL
-- until the daily refresh. Now each mark counts (a revocation bumps it) and the builder
-- deletes it only in the transaction that stores the new CRL, and only if no
-- revocation bumped it after the builder read it.
ALTER TABLE crl_dirty ADD COLUMN mark BIGINT NOT NULL DEFAULT 0;
CREATE OR REPLACE FUNCTION shomei_crl_dirty() RETURNS trigger AS $$
BEGIN
    INSERT INTO crl_dirty (crl)
    VALUES (CASE WHEN NEW.crl_shard < 0 THEN NEW.issuer ELSE NEW.issuer || '/' || NEW.crl_shard::text END)
    ON CONFLICT (crl) DO UPDATE SET mark = crl_dirty.mark + 1;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
