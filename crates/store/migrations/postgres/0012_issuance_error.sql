-- Issue #7 item 4: why the last issuance of an application failed after approval (a
-- CSR that no longer passes, a lint finding, a signing error). The application goes
-- back to 受付 with this reason for staff to see; cleared when staff approve again.
ALTER TABLE applications ADD COLUMN issuance_error TEXT;
