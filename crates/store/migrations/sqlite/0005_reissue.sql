-- Reissue (R-RI4): when the old certificate is revoked: 'now' or 'later' (14 days).
ALTER TABLE applications ADD COLUMN reissue_revoke TEXT;
