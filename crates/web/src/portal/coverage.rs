//! The contract's coverage on the detail page (issue #8 item 9): its period, each
//! certificate of the contract, and when the next one (継続発行) can be issued.

use crate::Shared;
use crate::error::WebResult;
use crate::words::kind_key;
use shomei_model::AppKind;
use shomei_store::Application;

/// The contract's coverage (issue #8 item 9): its period, each certificate, and when the
/// next one can be issued.
pub struct Coverage {
    /// The contract period, as text.
    pub period: String,
    /// Days left, or that it ended.
    pub left: String,
    /// Each certificate of the contract.
    pub certs: Vec<CoverageRow>,
    /// When the next certificate can be applied for (or why not).
    pub next: String,
}

/// One certificate of the contract.
pub struct CoverageRow {
    /// The record that issued it.
    pub id: i64,
    /// Its kind, in words.
    pub kind: String,
    /// Its validity, as text.
    pub validity: String,
    /// Valid with days left, expired or revoked.
    pub state: String,
}

/// The coverage of the contract of `app`, if it has one.
pub(crate) async fn coverage(
    st: &Shared,
    t: crate::i18n::Tr,
    app: &Application,
) -> WebResult<Option<Coverage>> {
    let Some((start, end)) = st.ra.contract_period(app.id).await? else {
        return Ok(None);
    };
    let now = st.ra.now();
    let days = |to: i64| ((to - now).max(0) + 86_399) / 86_400;
    let certs = st.ra.contract_certificates(app.id).await?;
    let rows = certs
        .iter()
        .map(|c| CoverageRow {
            id: c.application_id,
            kind: AppKind::from_code(&c.kind)
                .map(|k| t.t(kind_key(k)).to_owned())
                .unwrap_or_default(),
            validity: format!(
                "{} – {}",
                crate::page::date(c.not_before),
                crate::page::date(c.not_after)
            ),
            state: match c.revoked_at {
                Some(_) => t.t("coverage.revoked").to_owned(),
                None if c.not_after <= now => t.t("coverage.expired").to_owned(),
                None => t.t1("coverage.days_left", &days(c.not_after).to_string()),
            },
        })
        .collect();
    let live_end = certs
        .iter()
        .filter(|c| c.revoked_at.is_none() && c.not_after > now)
        .map(|c| c.not_after)
        .max();
    let next = match live_end {
        Some(na) if end > na + 86_400 => t.t1(
            "coverage.next",
            &crate::page::date(
                (na - shomei_ra::continuation::CONTINUATION_WINDOW_DAYS * 86_400).max(now),
            ),
        ),
        Some(_) => t.t("coverage.to_end").to_owned(),
        None if end > now => t.t("coverage.none_live").to_owned(),
        None => String::new(),
    };
    Ok(Some(Coverage {
        period: format!("{} – {}", crate::page::date(start), crate::page::date(end)),
        left: if end > now {
            t.t1("coverage.days_left", &days(end).to_string())
        } else {
            t.t("coverage.ended").to_owned()
        },
        certs: rows,
        next,
    }))
}
