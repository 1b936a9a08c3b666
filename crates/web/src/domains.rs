//! The domain validation rows the portal and the desk show for an open record (issue
//! #10): each domain's random value, where it goes, and the latest result.

use crate::i18n::Tr;
use shomei_ra::domain_checks::{domains_of, file_name};
use shomei_store::Application;
use shomei_store::domain_checks::DomainChallenge;

/// One domain as the pages show it.
#[derive(Debug, Clone)]
pub struct DomainRow {
    /// The domain.
    pub domain: String,
    /// The TXT record's name.
    pub txt_name: String,
    /// The random value.
    pub value: String,
    /// The file's URL ("" for a wildcard's base: DNS only).
    pub file_url: String,
    /// Whether a check passed.
    pub passed: bool,
    /// The state, in words.
    pub state: String,
}

/// The rows of `app`'s domains.
pub fn rows(t: &Tr, app: &Application, list: &[DomainChallenge]) -> Vec<DomainRow> {
    let wild = domains_of(&app.names);
    list.iter()
        .map(|c| {
            let dns_only = wild.iter().any(|(d, w)| *d == c.domain && *w);
            let state = match (&c.passed, &c.last_check) {
                (Some((m, at)), _) => t
                    .t("domains.passed")
                    .replacen("{}", t.t(&format!("domains.method.{m}")), 1)
                    .replacen("{}", &crate::page::datetime(*at), 1),
                (None, Some((_, m, detail, at))) => format!(
                    "{}（{} {}）: {detail}",
                    t.t("domains.failed"),
                    t.t(&format!("domains.method.{m}")),
                    crate::page::datetime(*at)
                ),
                (None, None) => t.t("domains.unchecked").to_owned(),
            };
            DomainRow {
                txt_name: format!("_validation-shomei.{}", c.domain),
                value: c.value.clone(),
                file_url: if dns_only {
                    String::new()
                } else {
                    format!(
                        "http://{}/.well-known/pki-validation/{}",
                        c.domain,
                        file_name(app.id)
                    )
                },
                passed: c.passed.is_some(),
                state,
                domain: c.domain.clone(),
            }
        })
        .collect()
}
