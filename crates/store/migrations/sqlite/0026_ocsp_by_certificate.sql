-- Issue #11 item 4: a pre-built OCSP response is kept under its certificate's row id
-- instead of a second (issuer, serial) key. Serials are random, so that key's index
-- took a leaf page of its own for every certificate issued (~1 page of the ~12 each
-- issuance writes); certificate ids grow, so a first response now goes where the
-- previous one went. Lookups by serial go through the certificates' unique
-- (issuer, serial) index, which was read for them anyway.
CREATE TABLE ocsp_responses_by_certificate (
    cert_id INTEGER PRIMARY KEY REFERENCES certificates(id),
    this_update INTEGER NOT NULL,
    next_update INTEGER NOT NULL,
    der BLOB NOT NULL,
    states TEXT
);
INSERT INTO ocsp_responses_by_certificate (cert_id, this_update, next_update, der, states)
    SELECT c.id, o.this_update, o.next_update, o.der, o.states
    FROM ocsp_responses o JOIN certificates c ON c.issuer = o.issuer AND c.serial = o.serial;
DROP TABLE ocsp_responses;
ALTER TABLE ocsp_responses_by_certificate RENAME TO ocsp_responses;
