-- 更新のご案内メール (R-AI2, issue #3 item 8, issue #4): one row per reminder sent, so a
-- reminder goes out once only, across restarts and several instances.
CREATE TABLE reminders (
    subject TEXT NOT NULL,
    days INTEGER NOT NULL,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (subject, days)
);
