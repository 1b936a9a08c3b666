-- アカウント情報 (R-AI1–R-AI4): the registered information (JSON) and the one waiting on
-- the confirmation screen.
CREATE TABLE account_info (
    account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
    data TEXT,
    pending TEXT,
    updated_at INTEGER NOT NULL
);
