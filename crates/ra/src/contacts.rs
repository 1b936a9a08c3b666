//! 担当者変更 (R-C1): only the contacts can be edited; the request is its own record;
//! staff complete it at the desk and the contract's contacts change.

use crate::apply::FieldIssue;
use crate::{Ra, RaError, Result};
use serde::{Deserialize, Serialize};
use shomei_model::AppStatus;
use shomei_model::details::{Contact, Contacts};
use shomei_model::validate::{self, FieldError};
use shomei_store::Application;

/// The contact change form as kept in the draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContactForm {
    /// The record whose contacts change.
    pub target: i64,
    /// Whether the terms were agreed to.
    pub agreed: bool,
    /// 登録担当者
    pub reg_name: String,
    /// 登録担当者 E-mail
    pub reg_email: String,
    /// 登録担当者 電話番号
    pub reg_phone: String,
    /// 技術担当者
    pub tech_name: String,
    /// 技術担当者 E-mail
    pub tech_email: String,
    /// 技術担当者 電話番号
    pub tech_phone: String,
    /// 事務担当者
    pub admin_name: String,
    /// 事務担当者 E-mail
    pub admin_email: String,
    /// 事務担当者 電話番号
    pub admin_phone: String,
    /// reg FAX (optional).
    #[serde(default)]
    pub reg_fax: String,
    /// reg 住所 (optional).
    #[serde(default)]
    pub reg_address: String,
    /// reg 郵便番号 (optional).
    #[serde(default)]
    pub reg_postal: String,
    /// tech FAX (optional).
    #[serde(default)]
    pub tech_fax: String,
    /// tech 住所 (optional).
    #[serde(default)]
    pub tech_address: String,
    /// tech 郵便番号 (optional).
    #[serde(default)]
    pub tech_postal: String,
    /// admin FAX (optional).
    #[serde(default)]
    pub admin_fax: String,
    /// admin 住所 (optional).
    #[serde(default)]
    pub admin_address: String,
    /// admin 郵便番号 (optional).
    #[serde(default)]
    pub admin_postal: String,
    /// 登録担当者 更新のご案内メール: `yes`, `no` or empty (no).
    pub reg_renewal_mail: String,
    /// 技術担当者 更新のご案内メール
    pub tech_renewal_mail: String,
    /// 事務担当者 更新のご案内メール
    pub admin_renewal_mail: String,
}

impl ContactForm {
    /// The form prefilled from a record's current contacts.
    pub fn from_record(app: &Application) -> ContactForm {
        let c = &app.details.contacts;
        ContactForm {
            target: app.id,
            agreed: false,
            reg_name: c.registrant.name.clone(),
            reg_email: c.registrant.email.clone(),
            reg_phone: c.registrant.phone.clone(),
            tech_name: c.technical.name.clone(),
            tech_email: c.technical.email.clone(),
            tech_phone: c.technical.phone.clone(),
            admin_name: c.administrative.name.clone(),
            admin_email: c.administrative.email.clone(),
            admin_phone: c.administrative.phone.clone(),
            reg_renewal_mail: yes_no(c.registrant.renewal_mail),
            tech_renewal_mail: yes_no(c.technical.renewal_mail),
            admin_renewal_mail: yes_no(c.administrative.renewal_mail),
            reg_fax: c.registrant.fax.clone(),
            reg_address: c.registrant.address.clone(),
            reg_postal: c.registrant.postal.clone(),
            tech_fax: c.technical.fax.clone(),
            tech_address: c.technical.address.clone(),
            tech_postal: c.technical.postal.clone(),
            admin_fax: c.administrative.fax.clone(),
            admin_address: c.administrative.address.clone(),
            admin_postal: c.administrative.postal.clone(),
        }
    }

    /// The contact fields of an application form.
    pub fn from_application_form(f: &crate::apply::ApplicationForm) -> ContactForm {
        ContactForm {
            target: f.target,
            agreed: f.agreed,
            reg_name: f.reg_name.clone(),
            reg_email: f.reg_email.clone(),
            reg_phone: f.reg_phone.clone(),
            tech_name: f.tech_name.clone(),
            tech_email: f.tech_email.clone(),
            tech_phone: f.tech_phone.clone(),
            admin_name: f.admin_name.clone(),
            admin_email: f.admin_email.clone(),
            admin_phone: f.admin_phone.clone(),
            reg_renewal_mail: f.reg_renewal_mail.clone(),
            tech_renewal_mail: f.tech_renewal_mail.clone(),
            admin_renewal_mail: f.admin_renewal_mail.clone(),
            reg_fax: f.reg_fax.clone(),
            reg_address: f.reg_address.clone(),
            reg_postal: f.reg_postal.clone(),
            tech_fax: f.tech_fax.clone(),
            tech_address: f.tech_address.clone(),
            tech_postal: f.tech_postal.clone(),
            admin_fax: f.admin_fax.clone(),
            admin_address: f.admin_address.clone(),
            admin_postal: f.admin_postal.clone(),
        }
    }
}

impl ContactForm {
    /// The contact fields as an application form (the pages share its fieldsets).
    pub fn to_application_form(&self) -> crate::apply::ApplicationForm {
        let f = self;
        crate::apply::ApplicationForm {
            reg_name: f.reg_name.clone(),
            reg_email: f.reg_email.clone(),
            reg_phone: f.reg_phone.clone(),
            tech_name: f.tech_name.clone(),
            tech_email: f.tech_email.clone(),
            tech_phone: f.tech_phone.clone(),
            admin_name: f.admin_name.clone(),
            admin_email: f.admin_email.clone(),
            admin_phone: f.admin_phone.clone(),
            reg_renewal_mail: f.reg_renewal_mail.clone(),
            tech_renewal_mail: f.tech_renewal_mail.clone(),
            admin_renewal_mail: f.admin_renewal_mail.clone(),
            reg_fax: f.reg_fax.clone(),
            reg_address: f.reg_address.clone(),
            reg_postal: f.reg_postal.clone(),
            tech_fax: f.tech_fax.clone(),
            tech_address: f.tech_address.clone(),
            tech_postal: f.tech_postal.clone(),
            admin_fax: f.admin_fax.clone(),
            admin_address: f.admin_address.clone(),
            admin_postal: f.admin_postal.clone(),
            ..Default::default()
        }
    }
}

/// The form value of a 更新のご案内メール choice.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// Validates the three contacts with the same rules as the application form.
pub fn check_contacts(f: &ContactForm) -> std::result::Result<Contacts, Vec<FieldIssue>> {
    let mut issues = Vec::new();
    let contacts = check_contact_fields(f, &mut issues);
    if issues.is_empty() {
        Ok(contacts)
    } else {
        Err(issues)
    }
}

/// Validates the three contacts (name, e-mail, phone, 更新のご案内メール), adding each
/// problem to `issues`.
pub fn check_contact_fields(f: &ContactForm, issues: &mut Vec<FieldIssue>) -> Contacts {
    let mut field = |name: &'static str, r: std::result::Result<String, FieldError>| {
        r.unwrap_or_else(|e| {
            issues.push(FieldIssue {
                field: name,
                key: e.key(),
                detail: match e {
                    FieldError::TooLong(n) => Some(n.to_string()),
                    _ => None,
                },
            });
            String::new()
        })
    };
    let mut contact = |n: [&'static str; 4], v: [&str; 4], p: &str| Contact {
        name: field(n[0], validate::required_text(v[0], 64)),
        email: field(n[1], validate::email(v[1])),
        phone: field(n[2], validate::phone(v[2])),
        renewal_mail: match v[3] {
            "yes" => true,
            "no" | "" => false,
            _ => {
                field(n[3], Err(FieldError::Choice));
                false
            }
        },
        // Issue #8 item 20: as account information carries them (R-AI2), optional.
        fax: field(
            extra_name(p, "fax"),
            validate::optional(extra(f, p, "fax"), validate::phone),
        ),
        address: field(
            extra_name(p, "address"),
            validate::optional(extra(f, p, "address"), |v| validate::full_width(v, 200)),
        ),
        postal: field(
            extra_name(p, "postal"),
            validate::optional(extra(f, p, "postal"), validate::postal_code),
        ),
    };
    Contacts {
        registrant: contact(
            ["reg_name", "reg_email", "reg_phone", "reg_renewal_mail"],
            [&f.reg_name, &f.reg_email, &f.reg_phone, &f.reg_renewal_mail],
            "reg",
        ),
        technical: contact(
            ["tech_name", "tech_email", "tech_phone", "tech_renewal_mail"],
            [
                &f.tech_name,
                &f.tech_email,
                &f.tech_phone,
                &f.tech_renewal_mail,
            ],
            "tech",
        ),
        administrative: contact(
            [
                "admin_name",
                "admin_email",
                "admin_phone",
                "admin_renewal_mail",
            ],
            [
                &f.admin_name,
                &f.admin_email,
                &f.admin_phone,
                &f.admin_renewal_mail,
            ],
            "admin",
        ),
    }
}

/// The optional field `what` (fax, address, postal) of the contact with prefix `p`.
fn extra<'a>(f: &'a ContactForm, p: &str, what: &str) -> &'a str {
    match (p, what) {
        ("reg", "fax") => &f.reg_fax,
        ("reg", "address") => &f.reg_address,
        ("reg", "postal") => &f.reg_postal,
        ("tech", "fax") => &f.tech_fax,
        ("tech", "address") => &f.tech_address,
        ("tech", "postal") => &f.tech_postal,
        ("admin", "fax") => &f.admin_fax,
        ("admin", "address") => &f.admin_address,
        ("admin", "postal") => &f.admin_postal,
        _ => "",
    }
}

/// The form name of a contact's optional field `what` (fax, address, postal), by the
/// contact's prefix (reg, tech, admin).
pub fn extra_name(p: &str, what: &str) -> &'static str {
    match (p, what) {
        ("reg", "fax") => "reg_fax",
        ("reg", "address") => "reg_address",
        ("reg", "postal") => "reg_postal",
        ("tech", "fax") => "tech_fax",
        ("tech", "address") => "tech_address",
        ("tech", "postal") => "tech_postal",
        ("admin", "fax") => "admin_fax",
        ("admin", "address") => "admin_address",
        _ => "admin_postal",
    }
}

impl Ra {
    /// Whether the customer may start a contact change from this record (R-C1, R-A5):
    /// an issuing record that is 完了 (never from a 担当者変更 record itself).
    pub fn may_change_contacts(app: &Application) -> bool {
        app.kind.issues_certificate()
            && app.status == AppStatus::Completed
            && app.cert_revoked_at.is_none()
    }

    /// Submits a contact change: a new record with the target's data and the new
    /// contacts. Returns its id, or the problems with the form.
    pub async fn request_contact_change(
        &self,
        account_id: i64,
        draft_id: &str,
        form: &ContactForm,
    ) -> Result<std::result::Result<i64, Vec<FieldIssue>>> {
        let draft = self
            .store
            .draft(account_id, draft_id)
            .await?
            .ok_or(RaError::NotFound)?;
        if let Some(id) = draft.application_id {
            return Ok(Ok(id));
        }
        if !form.agreed {
            return Ok(Err(vec![FieldIssue {
                field: "agreed",
                key: "err.terms",
                detail: None,
            }]));
        }
        let contacts = match check_contacts(form) {
            Ok(c) => c,
            Err(issues) => return Ok(Err(issues)),
        };
        let target = self
            .store
            .application_of(account_id, form.target)
            .await?
            .ok_or(RaError::NotFound)?;
        let mut details = target.details.clone();
        details.contacts = contacts;
        match self
            .store
            .submit_contact_change(account_id, draft_id, target.id, &details, self.now())
            .await
        {
            Ok((id, _)) => Ok(Ok(id)),
            Err(shomei_store::StoreError::Conflict(_)) => Ok(Err(vec![FieldIssue {
                field: "target",
                key: "err.contacts_not_allowed",
                detail: None,
            }])),
            Err(e) => Err(e.into()),
        }
    }

    /// Staff complete a contact change (R-C1).
    pub async fn complete_contact_change(&self, staff_id: i64, id: i64) -> Result<()> {
        if self
            .store
            .complete_contact_change(id, staff_id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(RaError::WrongState)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ContactForm {
        ContactForm::from_application_form(&crate::testing::sr30_form(""))
    }

    /// R-AI2 更新のご案内メール: yes / no / empty (no); anything else is an error on
    /// that field.
    #[test]
    fn renewal_mail_choice_is_checked() {
        let ok = check_contacts(&form()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(ok.technical.renewal_mail && !ok.registrant.renewal_mail);
        assert!(!ok.administrative.renewal_mail, "empty means no");
        let mut bad = form();
        bad.admin_renewal_mail = "maybe".into();
        let issues = check_contacts(&bad).err().unwrap_or_default();
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].field, issues[0].key),
            ("admin_renewal_mail", "err.choice")
        );
    }
}
