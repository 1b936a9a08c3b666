//! アカウント情報登録 (R-AI1–R-AI4): the organisation and four contacts registered in
//! advance, every field optional and each filled one checked (全角, 全角カタカナ, 登記番号
//! `xxxx-xx-xxxxxx`, 郵便番号 `NNN-NNNN`, phone, e-mail); input → confirmation →
//! registered. Applications fill their blocks from it (R-N3).

use crate::field_issue::{Checked, FieldIssue};
use crate::{Ra, RaError, Result};
use shomei_model::validate::{self, FieldError};
use std::collections::BTreeMap;

/// Field values by name.
pub type InfoMap = BTreeMap<String, String>;

/// How a field is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// 全角, at most n characters.
    FullWidth(usize),
    /// 全角カタカナ, at most n characters.
    Katakana(usize),
    /// 登記番号 `xxxx-xx-xxxxxx`.
    CorpNumber,
    /// 郵便番号 `NNN-NNNN`.
    Postal,
    /// A phone (or FAX) number.
    Phone,
    /// An e-mail address.
    Email,
    /// Any text of at most n characters.
    Text(usize),
    /// `yes` or `no`.
    YesNo,
    /// An ISO 3166-1 alpha-2 country code (issue #8 item 20).
    Country,
    /// Text that goes into a certificate's subject: normalised (NFKC), at most n.
    SubjectText(usize),
    /// 特約店コード.
    Dealer,
}

/// One field of the form.
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// Its name in the form and in the stored map.
    pub name: &'static str,
    /// Its label's message key.
    pub label: &'static str,
    /// How it is checked.
    pub check: Check,
    /// Its block's message key (組織, or one of the four contacts).
    pub group: &'static str,
}

/// Every field, in the order of the form (R-AI2): the organisation, then 登録担当者,
/// 技術担当者, 事務担当者 and 契約責任者 (A-3 contracts).
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "dealer_code",
        label: "ai.dealer_code",
        check: Check::Dealer,
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_name",
        label: "ai.corp_name",
        check: Check::FullWidth(100),
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_kana",
        label: "ai.corp_kana",
        check: Check::Katakana(100),
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_number",
        label: "ai.corp_number",
        check: Check::CorpNumber,
        group: "ai.company",
    },
    // Issue #8 item 20: what an application's organisation needs (国, 都道府県,
    // 市区町村, as the certificate carries them), so prefill fills the whole block.
    FieldSpec {
        name: "corp_country",
        label: "field.org_country",
        check: Check::Country,
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_state",
        label: "field.org_state",
        check: Check::SubjectText(64),
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_locality",
        label: "field.org_locality",
        check: Check::SubjectText(64),
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_address",
        label: "ai.corp_address",
        check: Check::FullWidth(200),
        group: "ai.company",
    },
    FieldSpec {
        name: "corp_postal",
        label: "ai.corp_postal",
        check: Check::Postal,
        group: "ai.company",
    },
    FieldSpec {
        name: "current_address",
        label: "ai.current_address",
        check: Check::FullWidth(200),
        group: "ai.company",
    },
    FieldSpec {
        name: "current_postal",
        label: "ai.current_postal",
        check: Check::Postal,
        group: "ai.company",
    },
    FieldSpec {
        name: "registrant_name",
        label: "field.contact_name",
        check: Check::Text(64),
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_dept",
        label: "field.dept",
        check: Check::Text(64),
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_address",
        label: "ai.address",
        check: Check::FullWidth(200),
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_postal",
        label: "ai.postal",
        check: Check::Postal,
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_phone",
        label: "field.phone",
        check: Check::Phone,
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_fax",
        label: "ai.fax",
        check: Check::Phone,
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_email",
        label: "field.email",
        check: Check::Email,
        group: "contact.registrant",
    },
    FieldSpec {
        name: "registrant_renewal_mail",
        label: "field.renewal_mail",
        check: Check::YesNo,
        group: "contact.registrant",
    },
    FieldSpec {
        name: "technical_name",
        label: "field.contact_name",
        check: Check::Text(64),
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_dept",
        label: "field.dept",
        check: Check::Text(64),
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_address",
        label: "ai.address",
        check: Check::FullWidth(200),
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_postal",
        label: "ai.postal",
        check: Check::Postal,
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_phone",
        label: "field.phone",
        check: Check::Phone,
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_fax",
        label: "ai.fax",
        check: Check::Phone,
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_email",
        label: "field.email",
        check: Check::Email,
        group: "contact.technical",
    },
    FieldSpec {
        name: "technical_renewal_mail",
        label: "field.renewal_mail",
        check: Check::YesNo,
        group: "contact.technical",
    },
    FieldSpec {
        name: "administrative_name",
        label: "field.contact_name",
        check: Check::Text(64),
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_dept",
        label: "field.dept",
        check: Check::Text(64),
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_address",
        label: "ai.address",
        check: Check::FullWidth(200),
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_postal",
        label: "ai.postal",
        check: Check::Postal,
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_phone",
        label: "field.phone",
        check: Check::Phone,
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_fax",
        label: "ai.fax",
        check: Check::Phone,
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_email",
        label: "field.email",
        check: Check::Email,
        group: "contact.administrative",
    },
    FieldSpec {
        name: "administrative_renewal_mail",
        label: "field.renewal_mail",
        check: Check::YesNo,
        group: "contact.administrative",
    },
    FieldSpec {
        name: "officer_name",
        label: "field.contact_name",
        check: Check::Text(64),
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_dept",
        label: "field.dept",
        check: Check::Text(64),
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_address",
        label: "ai.address",
        check: Check::FullWidth(200),
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_postal",
        label: "ai.postal",
        check: Check::Postal,
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_phone",
        label: "field.phone",
        check: Check::Phone,
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_fax",
        label: "ai.fax",
        check: Check::Phone,
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_email",
        label: "field.email",
        check: Check::Email,
        group: "contact.officer",
    },
    FieldSpec {
        name: "officer_renewal_mail",
        label: "field.renewal_mail",
        check: Check::YesNo,
        group: "contact.officer",
    },
];

fn check(c: Check, v: &str) -> std::result::Result<String, FieldError> {
    validate::optional(v, |v| match c {
        Check::FullWidth(n) => validate::full_width(v, n),
        Check::Katakana(n) => validate::katakana(v, n),
        Check::CorpNumber => validate::corporate_number(v),
        Check::Postal => validate::postal_code(v),
        Check::Country => validate::country(v),
        Check::SubjectText(n) => validate::optional_subject_text(v, n),
        Check::Phone => validate::phone(v),
        Check::Email => validate::email(v),
        Check::Text(n) => validate::required_text(v, n),
        Check::YesNo => match v.trim() {
            "yes" | "no" => Ok(v.trim().to_owned()),
            _ => Err(FieldError::Choice),
        },
        Check::Dealer => {
            let d = v.trim();
            if crate::coupons::valid_dealer_code(d) {
                Ok(d.to_owned())
            } else {
                Err(FieldError::Choice)
            }
        }
    })
}

/// Checks every filled field (R-AI3: all are optional). Returns the cleaned values of
/// the known fields, or every problem at once.
pub fn check_info(form: &InfoMap) -> Checked<InfoMap> {
    let mut out = InfoMap::new();
    let mut issues = Vec::new();
    for f in FIELDS {
        let raw = form.get(f.name).map(String::as_str).unwrap_or("");
        match check(f.check, raw) {
            Ok(v) if !v.is_empty() => {
                out.insert(f.name.to_owned(), v);
            }
            Ok(_) => {}
            Err(_) if f.check == Check::Dealer => {
                issues.push(FieldIssue::new(f.name, "err.dealer_code"))
            }
            Err(e) => issues.push(FieldIssue::of_error(f.name, e)),
        }
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(issues)
    }
}

impl Ra {
    /// The registered information and the one waiting for confirmation, if any.
    pub async fn account_info(&self, account_id: i64) -> Result<(InfoMap, Option<InfoMap>)> {
        let (data, pending) = self.store.account_info(account_id).await?;
        let parse = |s: &str| serde_json::from_str::<InfoMap>(s).unwrap_or_default();
        Ok((
            data.as_deref().map(parse).unwrap_or_default(),
            pending.as_deref().map(parse),
        ))
    }

    /// R-AI4 input: checks the form and keeps it for the confirmation screen.
    pub async fn stage_account_info(&self, account_id: i64, form: &InfoMap) -> Result<Checked<()>> {
        let clean = match check_info(form) {
            Ok(c) => c,
            Err(issues) => return Ok(Err(issues)),
        };
        let json = serde_json::to_string(&clean).map_err(|_| RaError::Invalid("err.internal"))?;
        self.store
            .stage_account_info(account_id, &json, self.now())
            .await?;
        Ok(Ok(()))
    }

    /// R-AI4 registered: the confirmed information replaces the old (and the account's
    /// 特約店コード follows it), with its audit event. False if nothing was waiting (a
    /// repeated confirmation).
    pub async fn register_account_info(&self, account_id: i64) -> Result<bool> {
        Ok(self
            .store
            .register_account_info(account_id, self.now())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> InfoMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// R-AI3: every field optional; R-AI2: each filled field checked, all at once.
    #[test]
    fn r_ai2_r_ai3_fields_checked_only_when_filled() {
        assert_eq!(check_info(&InfoMap::new()), Ok(InfoMap::new()));
        let ok = check_info(&form(&[
            ("corp_name", "テスト株式会社"),
            ("corp_kana", "テストカブシキガイシャ"),
            ("corp_number", "0110-01-012345"),
            ("corp_postal", "100-0001"),
            ("technical_email", "tech@example.jp"),
            ("technical_renewal_mail", "yes"),
            ("unknown_field", "ignored"),
        ]))
        .unwrap_or_default();
        assert_eq!(ok.len(), 6);
        let issues = check_info(&form(&[
            ("corp_name", "Test Inc."),
            ("corp_kana", "テスト株式会社"),
            ("corp_number", "12345"),
            ("corp_postal", "100-00001"),
            ("registrant_phone", "phone"),
            ("officer_email", "nope"),
            ("dealer_code", "特約店"),
            ("administrative_renewal_mail", "maybe"),
        ]))
        .err()
        .unwrap_or_default();
        let got: Vec<(&str, &str)> = issues.iter().map(|i| (i.field, i.key)).collect();
        assert_eq!(
            got,
            vec![
                ("dealer_code", "err.dealer_code"),
                ("corp_name", "err.full_width"),
                ("corp_kana", "err.katakana"),
                ("corp_number", "err.corporate_number"),
                ("corp_postal", "err.postal_code"),
                ("registrant_phone", "err.phone"),
                ("administrative_renewal_mail", "err.choice"),
                ("officer_email", "err.email"),
            ]
        );
    }
}
