//! Coupons (クーポン, R-CP1, R-N2, R-R4): staff issue them for a dealer code at the desk;
//! accounts with that dealer code see them (クーポン管理) and pick an unused one that
//! matches the service and term in a new, renewal or switch application. The store takes
//! it in the submission's transaction, so a coupon is used once even under concurrent
//! submissions.

use crate::field_issue::{Checked, FieldIssue};
use crate::{Ra, Result};
use shomei_model::{Service, Term};
use shomei_store::coupons::{Coupon, NewCoupons};

/// At most this many coupons per issuing.
pub const MAX_BATCH: usize = 100;

/// The desk's form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct CouponForm {
    /// Service code.
    pub service: String,
    /// Term in years, as text.
    pub term: String,
    /// 特約店コード.
    pub dealer_code: String,
    /// Last day of use, `YYYY-MM-DD` (JST, the whole day).
    pub expires: String,
    /// How many to issue (numbers are generated), as text.
    pub count: String,
    /// The form's one-time token (the same form issues once).
    pub batch: String,
    /// `1` when staff confirmed a warning (a dealer code no account has, or the same
    /// coupons issued moments ago).
    pub confirm: String,
}

/// A coupon's state as クーポン管理 shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponState {
    /// 未使用.
    Unused,
    /// 使用済み (on that application).
    Used(i64),
    /// 期限切れ.
    Expired,
}

/// A coupon's state at `now`.
pub fn state(c: &Coupon, now: i64) -> CouponState {
    match c.used_by {
        Some(app) => CouponState::Used(app),
        None if c.expires_at <= now => CouponState::Expired,
        None => CouponState::Unused,
    }
}

/// A dealer code: 1 to 32 of `A-Z a-z 0-9 -`.
pub fn valid_dealer_code(s: &str) -> bool {
    (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A random coupon number `XXXX-XXXX-XXXX` from 32 unambiguous characters (60 bits).
fn new_number() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 12];
    shomei_ca::random_bytes(&mut b)?;
    let chars: Vec<char> = b
        .iter()
        .map(|x| char::from(ALPHABET[usize::from(x % 32)]))
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

impl Ra {
    /// Staff issue coupons; returns their numbers, or the problems with the form.
    pub async fn issue_coupons(
        &self,
        staff_id: i64,
        f: &CouponForm,
    ) -> Result<Checked<Vec<String>>> {
        let mut issues = Vec::new();
        let service = Service::from_code(&f.service).filter(|s| Service::FOR_NEW.contains(s));
        if service.is_none() {
            issues.push(FieldIssue::new("service", "err.choice"));
        }
        let term = f.term.parse::<u8>().ok().and_then(Term::years);
        if term.is_none() {
            issues.push(FieldIssue::new("term", "err.choice"));
        }
        let dealer = f.dealer_code.trim();
        if !valid_dealer_code(dealer) {
            issues.push(FieldIssue::new("dealer_code", "err.dealer_code"));
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let expires = time::Date::parse(f.expires.trim(), format)
            .ok()
            .map(|d| {
                // The end of that day in JST.
                d.with_hms(23, 59, 59)
                    .map(|t| t.assume_offset(time::macros::offset!(+9)).unix_timestamp())
                    .unwrap_or_default()
            })
            .filter(|t| *t > self.now());
        if expires.is_none() {
            issues.push(FieldIssue::new("expires", "err.coupon_expiry"));
        }
        let count = f
            .count
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_BATCH).contains(n));
        if count.is_none() {
            issues.push(FieldIssue::new("count", "err.coupon_count"));
        }
        if !(16..=64).contains(&f.batch.len()) {
            issues.push(FieldIssue::new("batch", "err.form_expired"));
        }
        let (Some(service), Some(term), Some(expires_at), Some(count), true) =
            (service, term, expires, count, issues.is_empty())
        else {
            return Ok(Err(issues));
        };
        // Issue #8 item 5: ask before issuing to a dealer code no account has (a typo
        // such as DEMO-01 for DEMO-001), or the same coupons again within 10 minutes (a
        // press after going back).
        let confirmed = f.confirm == "1";
        let probe = NewCoupons {
            numbers: Vec::new(),
            service,
            term_years: i64::from(term.in_years()),
            dealer_code: dealer.to_owned(),
            expires_at,
            batch: f.batch.clone(),
        };
        if !confirmed && self.store.coupon_batch(&f.batch).await?.is_empty() {
            let mut warnings = Vec::new();
            if !self.store.dealer_code_in_use(dealer).await? {
                warnings.push(FieldIssue::new(
                    "dealer_code",
                    "coupon.confirm_unknown_dealer",
                ));
            }
            if self
                .store
                .recent_same_batch(staff_id, &probe, self.now() - 600)
                .await?
                .is_some()
            {
                warnings.push(FieldIssue::new("confirm", "coupon.confirm_repeat"));
            }
            if !warnings.is_empty() {
                return Ok(Err(warnings));
            }
        }
        let mut numbers = Vec::with_capacity(count);
        while numbers.len() < count {
            let n = new_number()?;
            if !numbers.contains(&n) {
                numbers.push(n);
            }
        }
        let numbers = self
            .store
            .issue_coupons(
                staff_id,
                &NewCoupons {
                    numbers,
                    service,
                    term_years: i64::from(term.in_years()),
                    dealer_code: dealer.to_owned(),
                    expires_at,
                    batch: f.batch.clone(),
                },
                self.now(),
            )
            .await?;
        Ok(Ok(numbers))
    }

    /// The coupons an account sees (クーポン管理): those of its dealer code; `None` when
    /// it has no dealer code (it must register one first, R-AI2).
    pub async fn coupons_of(&self, account_id: i64) -> Result<Option<Vec<Coupon>>> {
        let Some(account) = self.store.account(account_id).await? else {
            return Err(crate::RaError::NotFound);
        };
        match account.dealer_code.filter(|d| !d.is_empty()) {
            Some(d) => Ok(Some(self.store.coupons_of_dealer(&d).await?)),
            None => Ok(None),
        }
    }

    /// The coupons an application of this account may use (R-N2 pull-down).
    pub async fn usable_coupons(
        &self,
        account_id: i64,
        service: Service,
        term_years: i64,
    ) -> Result<Vec<Coupon>> {
        let Some(account) = self.store.account(account_id).await? else {
            return Ok(Vec::new());
        };
        match account.dealer_code.filter(|d| !d.is_empty()) {
            Some(d) => Ok(self
                .store
                .usable_coupons(&d, service, term_years, self.now())
                .await?),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_unambiguous() {
        let n = new_number().unwrap_or_default();
        assert_eq!(n.len(), 14);
        assert!(n.split('-').all(|g| g.len() == 4));
        assert!(!n.contains(['0', 'O', '1', 'I']));
    }

    #[test]
    fn dealer_codes() {
        assert!(valid_dealer_code("D-1234"));
        assert!(!valid_dealer_code(""));
        assert!(!valid_dealer_code("コード"));
        assert!(!valid_dealer_code(&"A".repeat(33)));
    }
}
