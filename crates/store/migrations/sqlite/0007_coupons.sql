-- Coupons (R-CP1, R-N2, R-R4): bought in advance through a dealer, issued by staff,
-- used once by one application (released again if it is withdrawn or rejected).
CREATE TABLE coupons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    service TEXT NOT NULL,
    term_years INTEGER NOT NULL,
    dealer_code TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by INTEGER NOT NULL REFERENCES staff(id),
    used_by_application INTEGER REFERENCES applications(id),
    used_at INTEGER,
    batch TEXT NOT NULL
);
CREATE INDEX coupons_dealer ON coupons(dealer_code, expires_at);
ALTER TABLE applications ADD COLUMN coupon TEXT;
CREATE INDEX coupons_batch ON coupons(batch);
