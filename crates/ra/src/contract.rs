//! What a contract allows next (R-R1, R-R2, R-R5) and the import of contracts from a
//! previous system.

use crate::apply::ApplicationForm;
use crate::field_issue::Checked;
use crate::{Ra, Result};
use shomei_model::{AppKind, ContractType, Service};

impl Ra {
    /// Staff import of an existing contract from the previous system (for example an
    /// SR2.0 自動契約更新タイプ contract, which is no longer sold): the application is
    /// recorded, approved with the validations staff attest, and its certificate issued
    /// through the single issuance path. Returns the application id and what was issued,
    /// or the problems with the form.
    pub async fn import_contract(
        &self,
        staff_id: i64,
        account_id: i64,
        form: &ApplicationForm,
        contract_type: ContractType,
        approval: &crate::issue::Approval,
    ) -> Result<Checked<(i64, crate::issue::Issued)>> {
        let mut form = form.clone();
        form.agreed = true;
        let draft = crate::drafts::OpenDraft {
            id: self
                .start_draft(account_id, AppKind::New, &form, "confirm")
                .await?,
            kind: AppKind::New,
            step: "confirm".into(),
            form,
        };
        let id = match self
            .submit_in(account_id, &draft, Service::ALL, contract_type)
            .await?
        {
            Ok(id) => id,
            Err(issues) => return Ok(Err(issues)),
        };
        // The operator attests what the previous system validated; a method the
        // validation engine performs still needs its passed check.
        let mut approval = approval.clone();
        for (name, _) in &approval.domain_methods.clone() {
            if !approval.domain_notes.iter().any(|(n, _)| n == name) {
                approval.domain_notes.push((
                    name.clone(),
                    "contract import: validated by the previous system".into(),
                ));
            }
        }
        let issued = self.approve(staff_id, id, &approval).await?;
        Ok(Ok((id, issued)))
    }

    /// R-R5: the services a contract of `from` may switch to: those offered today, but
    /// not the one it has (SR2.0 → SR3.0 or EV2.0, SR3.0 → EV2.0, EV2.0 → SR3.0).
    pub fn switch_targets(from: Service) -> Vec<Service> {
        Service::FOR_NEW
            .iter()
            .copied()
            .filter(|s| *s != from)
            .collect()
    }

    /// R-R5 別サービスへ切り替えて申請: from a 完了 record that holds the contract's live
    /// certificate (never 担当者変更), while the contract runs and no other switch of it
    /// is under way or done.
    pub async fn may_switch(&self, app: &shomei_store::Application) -> Result<bool> {
        let live = app.kind.portal_certificate()
            && app.status == shomei_model::AppStatus::Completed
            && app.contract_code.is_some()
            && app.cert_revoked_at.is_none()
            && app.cert_not_after.is_some_and(|t| t > self.now());
        if !live || Ra::switch_targets(app.service).is_empty() {
            return Ok(false);
        }
        let runs = self
            .store
            .contract_period(app.id)
            .await?
            .is_some_and(|(_, end)| end > self.now());
        Ok(runs && !self.store.has_switch(app.id).await?)
    }

    /// R-R1, R-R2: renewal is offered from a 完了 record that holds a certificate of its
    /// contract — never from a 担当者変更 record — for a service still sold (an SR2.0
    /// contract moves on by a service switch, R-R5).
    pub fn may_renew(app: &shomei_store::Application) -> bool {
        app.kind.portal_certificate()
            && Service::FOR_NEW.contains(&app.service)
            && app.status == shomei_model::AppStatus::Completed
            && app.contract_code.is_some()
            && app.cert_revoked_at.is_none()
    }
}
