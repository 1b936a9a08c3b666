-- OCSP from memory (issue #11): each stored response says which status it states
-- ('good' or 'revoked'), so a response that no longer matches its certificate (a
-- revocation committed before its response was rebuilt, e.g. across a crash) is never
-- served or loaded into memory. Rows from before have no statement and are rebuilt.
ALTER TABLE ocsp_responses ADD COLUMN states TEXT;
