//! Mass revocation (issue #11 item 3; CA-RULES "Revocation", "Key compromise"): staff
//! revoke a list of serials, or every certificate with one compromised key, at once —
//! 100,000 in well under a minute. Staff first see what the request would revoke (a
//! stored draft), then confirm; a worker revokes it in chunks of [`MASS_CHUNK`], each
//! chunk one transaction with its audit events and the customers' notices. After each
//! chunk the OCSP responses of its certificates say "revoked" (memory first, then
//! signed in one batch, [`Ra::prebuild_ocsp`]), and the CRL shards are re-signed when it is done. Between chunks
//! the store is free, so the portal and the desk keep answering.

use crate::field_issue::{Checked, FieldIssue};
use crate::{Ra, Result, SERVER_CA};
use shomei_store::mass_revocations::{MassPreview, MassRevocation, MassSelection};

/// Certificates revoked per transaction.
pub const MASS_CHUNK: i64 = 500;
/// The most serials one request may list.
pub const MASS_MAX_SERIALS: usize = 200_000;

/// RFC 5280 reason codes staff may give (CA-RULES "Reason codes in TLS CRLs"):
/// unspecified (no reasonCode), keyCompromise, affiliationChanged, superseded,
/// cessationOfOperation, privilegeWithdrawn. Never certificateHold.
pub const MASS_REASONS: &[i64] = &[0, 1, 3, 4, 5, 9];

/// The desk's form, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct MassForm {
    /// `serials` (a list) or `key` (every certificate with one key).
    pub mode: String,
    /// The serials, one per line (spaces, commas and colons are allowed).
    pub serials: String,
    /// By key: the serial of one certificate with the key, or its SHA-256 SPKI hash.
    pub key: String,
    /// The CRL reason code, one of [`MASS_REASONS`].
    pub reason: String,
    /// Why (kept in the audit log).
    pub note: String,
}

/// A serial as staff paste it (`7F:0A…`, `0x7f0a…`, upper or lower case) in the stored
/// form (lower-case hex, whole bytes). `None` if it is not a serial.
pub fn normalise_serial(s: &str) -> Option<String> {
    let t: String = s
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if t.is_empty() || t.len() > 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(if t.len() % 2 == 1 { format!("0{t}") } else { t })
}

/// The serials of a pasted list, in order and without repeats, or the tokens that are
/// not serials (up to five, for the message).
fn parse_serials(text: &str) -> std::result::Result<Vec<String>, Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for token in text.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        if token.is_empty() {
            continue;
        }
        match normalise_serial(token) {
            Some(s) if seen.insert(s.clone()) => out.push(s),
            Some(_) => {}
            None if bad.len() < 5 => bad.push(token.chars().take(60).collect()),
            None => {}
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

impl Ra {
    /// Checks the form and stores the request as a draft; nothing is revoked until
    /// [`Ra::start_mass_revocation`]. Returns its id, or what is wrong with the form.
    pub async fn draft_mass_revocation(
        &self,
        staff_id: i64,
        form: &MassForm,
    ) -> Result<Checked<i64>> {
        let mut issues = Vec::new();
        let note = match shomei_model::validate::required_text(&form.note, 1000) {
            Ok(n) => Some(n),
            Err(e) => {
                issues.push(FieldIssue::of_error("note", e));
                None
            }
        };
        let reason = form
            .reason
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|r| MASS_REASONS.contains(r));
        let selection = match form.mode.as_str() {
            "serials" => match parse_serials(&form.serials) {
                Ok(s) if s.is_empty() => {
                    issues.push(FieldIssue::new("serials", "err.mass_serials_empty"));
                    None
                }
                Ok(s) if s.len() > MASS_MAX_SERIALS => {
                    issues.push(FieldIssue::with_detail(
                        "serials",
                        "err.mass_serials_too_many",
                        Some(MASS_MAX_SERIALS.to_string()),
                    ));
                    None
                }
                Ok(s) => Some(MassSelection::Serials(s)),
                Err(bad) => {
                    issues.push(FieldIssue::with_detail(
                        "serials",
                        "err.mass_serials_bad",
                        Some(bad.join(", ")),
                    ));
                    None
                }
            },
            "key" => {
                let k = form.key.trim().to_ascii_lowercase();
                if k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()) {
                    Some(MassSelection::Key(k))
                } else if let Some(serial) = normalise_serial(&k) {
                    match self.store.certificate_spki(SERVER_CA, &serial).await? {
                        Some(spki) => Some(MassSelection::Key(spki)),
                        None => {
                            issues.push(FieldIssue::new("key", "err.mass_key_unknown"));
                            None
                        }
                    }
                } else {
                    issues.push(FieldIssue::new("key", "err.mass_key"));
                    None
                }
            }
            _ => {
                issues.push(FieldIssue::new("mode", "err.mass_mode"));
                None
            }
        };
        // Key compromise is the only reason for revoking by key.
        let reason = match (&selection, reason) {
            (Some(MassSelection::Key(_)), Some(r)) if r != 1 => {
                issues.push(FieldIssue::new("reason", "err.mass_key_reason"));
                None
            }
            (_, None) => {
                issues.push(FieldIssue::new("reason", "err.revoke_reason"));
                None
            }
            (_, r) => r,
        };
        let (Some(note), Some(reason), Some(selection), true) =
            (note, reason, selection, issues.is_empty())
        else {
            return Ok(Err(issues));
        };
        let id = self
            .store
            .create_mass_revocation(SERVER_CA, staff_id, reason, &note, &selection, self.now())
            .await?;
        Ok(Ok(id))
    }

    /// A mass revocation and, while it is a draft, what it would revoke now.
    pub async fn mass_revocation(
        &self,
        id: i64,
    ) -> Result<Option<(MassRevocation, Option<MassPreview>)>> {
        let Some(m) = self.store.mass_revocation(id).await? else {
            return Ok(None);
        };
        let preview = if m.status == "draft" {
            Some(self.store.mass_preview(SERVER_CA, &m, self.now()).await?)
        } else {
            None
        };
        Ok(Some((m, preview)))
    }

    /// The latest mass revocations, newest first.
    pub async fn recent_mass_revocations(&self, n: i64) -> Result<Vec<MassRevocation>> {
        Ok(self.store.recent_mass_revocations(n).await?)
    }

    /// Staff confirm a draft; the worker ([`Ra::run_mass_revocations`]) revokes it. By
    /// key, the key is blocked from this moment. `false` if it was not a draft (a
    /// second click): nothing happens twice.
    pub async fn start_mass_revocation(&self, staff_id: i64, id: i64) -> Result<bool> {
        Ok(self
            .store
            .start_mass_revocation(id, staff_id, self.now())
            .await?)
    }

    /// Staff drop a draft. `false` if it was not a draft.
    pub async fn cancel_mass_revocation(&self, staff_id: i64, id: i64) -> Result<bool> {
        Ok(self
            .store
            .cancel_mass_revocation(id, staff_id, self.now())
            .await?)
    }

    /// Runs every confirmed mass revocation to its end (also one a crash interrupted):
    /// chunk by chunk, each followed by its OCSP responses; the CRL shards are
    /// re-signed at the end. Returns how many certificates it revoked.
    pub async fn run_mass_revocations(&self) -> Result<usize> {
        let mut total = 0;
        for id in self.store.running_mass_revocations().await? {
            while let Some(revoked) = self
                .store
                .mass_revocation_step(SERVER_CA, id, MASS_CHUNK, self.now())
                .await?
            {
                let serials: Vec<String> = revoked.into_iter().map(|(s, _)| s).collect();
                total += serials.len();
                self.prebuild_ocsp(&serials).await?;
                if self
                    .store
                    .mass_revocation(id)
                    .await?
                    .is_none_or(|m| m.status != "running")
                {
                    break;
                }
            }
        }
        if total > 0 {
            self.refresh_crl().await?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_read_as_staff_paste_them() {
        assert_eq!(normalise_serial("7F:0A:bc").as_deref(), Some("7f0abc"));
        assert_eq!(normalise_serial("0x7F0ABC").as_deref(), Some("7f0abc"));
        assert_eq!(normalise_serial("abc").as_deref(), Some("0abc"));
        assert_eq!(normalise_serial("xyz"), None);
        assert_eq!(normalise_serial(&"a".repeat(42)), None);
        assert_eq!(
            parse_serials("7f01\n7F:01, 7f02;\r\n\n7f03").ok(),
            Some(vec!["7f01".into(), "7f02".into(), "7f03".into()])
        );
        assert_eq!(
            parse_serials("7f01 nope 7f02").err(),
            Some(vec!["nope".to_string()])
        );
    }
}
