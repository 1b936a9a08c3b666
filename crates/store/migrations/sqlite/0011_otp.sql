-- One-time-password login (R-L6): per account, the method staff chose ('certificate',
-- 'otp_mail' or 'otp_totp'), the address mailed codes go to, the TOTP secret (base32)
-- and the last accepted TOTP step (a code is accepted once); and the login challenges.
ALTER TABLE accounts ADD COLUMN login_method TEXT NOT NULL DEFAULT 'certificate';
ALTER TABLE accounts ADD COLUMN otp_email TEXT;
ALTER TABLE accounts ADD COLUMN totp_secret TEXT;
ALTER TABLE accounts ADD COLUMN totp_confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
CREATE TABLE otp_challenges (
    token_hash TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL,
    code_hash TEXT,
    expires_at INTEGER NOT NULL,
    tries INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
