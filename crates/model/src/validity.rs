//! Certificate validity caps: BR 6.3.2 as amended by ballot SC-081.
//!
//! "Validity" counts both ends (RFC 5280 4.1.2.5): a certificate of N days has
//! `notAfter = notBefore + N days - 1 s`.

use time::{Date, Duration, Month, OffsetDateTime};

const fn date(y: i32, m: Month, d: u8) -> Date {
    match Date::from_calendar_date(y, m, d) {
        Ok(d) => d,
        Err(_) => panic!("invalid constant date"),
    }
}

/// (effective from, maximum days), newest first. CA-RULES "Validity (6.3.2, SC-081)".
const CAPS: &[(Date, i64)] = &[
    (date(2029, Month::March, 15), 47),
    (date(2027, Month::March, 15), 100),
    (date(2026, Month::March, 15), 200),
];
/// Before SC-081's first step.
const BEFORE_SC081: i64 = 398;

/// The maximum validity in days for a certificate issued at `issued_at`.
pub fn max_validity_days(issued_at: OffsetDateTime) -> i64 {
    let day = issued_at.to_offset(time::UtcOffset::UTC).date();
    CAPS.iter()
        .find(|(from, _)| day >= *from)
        .map(|(_, days)| *days)
        .unwrap_or(BEFORE_SC081)
}

/// How long a domain validation may be reused for a certificate issued at `at`
/// (BR 4.2.1 as amended by SC-081): 398 days before 2026-03-15, then 200, 100 from
/// 2027-03-15, 10 from 2029-03-15.
pub fn domain_reuse_days(at: OffsetDateTime) -> i64 {
    let day = at.to_offset(time::UtcOffset::UTC).date();
    if day >= date(2029, Month::March, 15) {
        10
    } else if day >= date(2027, Month::March, 15) {
        100
    } else if day >= date(2026, Month::March, 15) {
        200
    } else {
        398
    }
}

/// How long an organisation validation may be reused (BR 4.2.1): 398 days.
pub const ORG_REUSE_DAYS: i64 = 398;

/// The validity period of a certificate signed at `now` for a contract that ends at
/// `contract_end`: one day less than the cap (CA-RULES: don't issue at the maximum),
/// never past the contract's end. Returns `None` if the contract has already ended.
///
/// `notBefore` is `now` itself (within 48 h of signing, BR 7.1.2.7).
pub fn validity_for(
    now: OffsetDateTime,
    contract_end: OffsetDateTime,
) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let cap_days = max_validity_days(now) - 1;
    let by_cap = now + Duration::days(cap_days) - Duration::seconds(1);
    let not_after = by_cap.min(contract_end - Duration::seconds(1));
    (not_after > now).then_some((now, not_after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn span_days(a: OffsetDateTime, b: OffsetDateTime) -> f64 {
        ((b - a) + Duration::seconds(1)).as_seconds_f64() / 86_400.0
    }

    /// CA-RULES 6.3.2 / SC-081: the caps across 2026-03-15, 2027-03-15, 2029-03-15.
    #[test]
    fn sc081_caps_cross_the_dates() {
        assert_eq!(max_validity_days(datetime!(2026-03-14 23:59:59 UTC)), 398);
        assert_eq!(max_validity_days(datetime!(2026-03-15 00:00:00 UTC)), 200);
        assert_eq!(max_validity_days(datetime!(2027-03-14 23:59:59 UTC)), 200);
        assert_eq!(max_validity_days(datetime!(2027-03-15 00:00:00 UTC)), 100);
        assert_eq!(max_validity_days(datetime!(2029-03-14 12:00:00 UTC)), 100);
        assert_eq!(max_validity_days(datetime!(2029-03-15 00:00:00 UTC)), 47);
        assert_eq!(max_validity_days(datetime!(2035-01-01 00:00:00 UTC)), 47);
    }

    /// BR 4.2.1 / SC-081 data reuse periods across the dates.
    #[test]
    fn sc081_domain_reuse_periods() {
        assert_eq!(domain_reuse_days(datetime!(2026-03-14 00:00:00 UTC)), 398);
        assert_eq!(domain_reuse_days(datetime!(2026-11-24 00:00:00 UTC)), 200);
        assert_eq!(domain_reuse_days(datetime!(2027-03-15 00:00:00 UTC)), 100);
        assert_eq!(domain_reuse_days(datetime!(2029-03-15 00:00:00 UTC)), 10);
    }

    #[test]
    fn validity_never_exceeds_cap_nor_contract() {
        let far = datetime!(2040-01-01 00:00:00 UTC);
        for (now, cap) in [
            (datetime!(2026-03-14 10:00:00 UTC), 398.0),
            (datetime!(2026-11-24 10:00:00 UTC), 200.0),
            (datetime!(2027-03-15 00:00:00 UTC), 100.0),
            (datetime!(2029-03-15 00:00:00 UTC), 47.0),
        ] {
            let (nb, na) = validity_for(now, far).unwrap_or((now, now));
            assert_eq!(nb, now);
            let days = span_days(nb, na);
            assert!(days <= cap, "{days} > {cap} at {now}");
            assert_eq!(days, cap - 1.0, "one day under the cap at {now}");
        }
        // The contract's end wins when it is nearer.
        let now = datetime!(2026-11-24 10:00:00 UTC);
        let end = datetime!(2027-01-01 00:00:00 UTC);
        let (_, na) = validity_for(now, end).unwrap_or((now, now));
        assert_eq!(na, end - Duration::seconds(1));
        // An ended contract gives no certificate.
        assert!(validity_for(now, now).is_none());
    }
}

/// R-LS1: records whose certificate was issued this many months ago or more are not
/// listed.
pub const LIST_HIDE_AFTER_MONTHS: i32 = 75;

/// `t` moved back by `months` calendar months (the day clamped to the month's length:
/// 31 May − 1 month = 30 April).
pub fn months_before(t: time::OffsetDateTime, months: i32) -> time::OffsetDateTime {
    let total = t.year() * 12 + i32::from(u8::from(t.month())) - 1 - months;
    let (year, month0) = (total.div_euclid(12), total.rem_euclid(12));
    let month = u8::try_from(month0 + 1)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .unwrap_or(time::Month::January);
    let day = t.day().min(month.length(year));
    time::Date::from_calendar_date(year, month, day)
        .map(|d| t.replace_date(d))
        .unwrap_or(t)
}

#[cfg(test)]
mod month_tests {
    use super::months_before;
    use time::macros::datetime;

    #[test]
    fn seventy_five_months() {
        assert_eq!(
            months_before(datetime!(2026-11-24 10:00:00 UTC), 75),
            datetime!(2020-08-24 10:00:00 UTC)
        );
        assert_eq!(
            months_before(datetime!(2026-05-31 00:00:00 UTC), 1),
            datetime!(2026-04-30 00:00:00 UTC)
        );
        assert_eq!(
            months_before(datetime!(2024-03-31 00:00:00 UTC), 1),
            datetime!(2024-02-29 00:00:00 UTC)
        );
    }
}
