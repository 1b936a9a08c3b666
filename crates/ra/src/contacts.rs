//! 担当者変更 (R-C1): only the contacts can be edited; the request is its own record;
//! staff complete it at the desk and the contract's contacts change.

use crate::drafts::OpenDraft;
use crate::field_issue::{Checked, FieldIssue};
use crate::form::{CONTACTS, TextFields, check_contact, copy_shared, put_contacts};
use crate::{Ra, RaError, Result};
use serde::{Deserialize, Serialize};
use shomei_model::AppStatus;
use shomei_model::details::Contacts;
use shomei_store::Application;

crate::form::text_form! {
    /// The contact change form as kept in the draft: the four contact blocks of R-AI1.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(default)]
    pub struct ContactForm {
        /// The record whose contacts change.
        pub target: i64,
        /// Whether the terms were agreed to.
        pub agreed: bool,
        ;
        ..contacts
    }
}

impl ContactForm {
    /// The form prefilled from a record's current contacts.
    pub fn from_record(app: &Application) -> ContactForm {
        let mut f = ContactForm {
            target: app.id,
            ..Default::default()
        };
        let c = &app.details.contacts;
        put_contacts(&mut f, c);
        f
    }

    /// The contact fields of an application form.
    pub fn from_application_form(app: &crate::apply::ApplicationForm) -> ContactForm {
        let mut f = ContactForm {
            target: app.target,
            agreed: app.agreed,
            ..Default::default()
        };
        copy_shared(app, &mut f);
        f
    }

    /// The contact fields as an application form (the pages share its fieldsets).
    pub fn to_application_form(&self) -> crate::apply::ApplicationForm {
        let mut app = crate::apply::ApplicationForm::default();
        copy_shared(self, &mut app);
        app
    }
}

/// The form value of a 更新のご案内メール choice.
pub use crate::form::yes_no;

/// Validates the contacts with the same rules as the application form.
pub fn check_contacts<F: TextFields>(f: &F) -> Checked<Contacts> {
    let mut issues = Vec::new();
    let contacts = check_contact_fields(f, &mut issues);
    if issues.is_empty() {
        Ok(contacts)
    } else {
        Err(issues)
    }
}

/// Validates the contacts (R-AI1: three required, 契約責任者 optional), adding each
/// problem to `issues`.
pub fn check_contact_fields<F: TextFields>(f: &F, issues: &mut Vec<FieldIssue>) -> Contacts {
    let [reg, tech, admin, officer] = CONTACTS.map(|w| check_contact(f, w, issues));
    Contacts {
        registrant: reg.unwrap_or_default(),
        technical: tech.unwrap_or_default(),
        administrative: admin.unwrap_or_default(),
        officer,
    }
}

impl Ra {
    /// Whether the customer may start a contact change from this record (R-C1, R-A5):
    /// an issuing record that is 完了 (never from a 担当者変更 record itself).
    pub fn may_change_contacts(app: &Application) -> bool {
        app.kind.portal_certificate()
            && app.status == AppStatus::Completed
            && app.cert_revoked_at.is_none()
    }

    /// Submits a contact change: a new record with the target's data and the new
    /// contacts. Returns its id, or the problems with the form.
    pub async fn request_contact_change(
        &self,
        account_id: i64,
        draft: &OpenDraft<ContactForm>,
    ) -> Result<Checked<i64>> {
        let form = &draft.form;
        if !form.agreed {
            return Ok(FieldIssue::refuse("agreed", "err.terms"));
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
            .submit_contact_change(account_id, &draft.id, target.id, &details, self.now())
            .await
        {
            Ok((id, _)) => Ok(Ok(id)),
            Err(shomei_store::StoreError::Conflict(_)) => {
                Ok(FieldIssue::refuse("target", "err.contacts_not_allowed"))
            }
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
