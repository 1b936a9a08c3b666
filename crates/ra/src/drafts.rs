//! Drafts: what a customer types, kept server-side between the steps of a wizard (so
//! back and reload show it again), and submitted once (R-A3, R-A4). Every front end
//! uses this one API: start, open, save, and the submission of its kind, which takes
//! the opened draft (read once).

use crate::{Ra, RaError, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shomei_model::AppKind;
use shomei_store::Draft;

/// A form kept in a draft.
pub trait DraftForm: Serialize + DeserializeOwned {
    /// Whether a draft of `kind` holds this form.
    fn holds(kind: AppKind) -> bool;
}

/// A draft still being filled in.
#[derive(Debug, Clone)]
pub struct OpenDraft<F> {
    /// Its id (in URLs).
    pub id: String,
    /// The kind of application it becomes.
    pub kind: AppKind,
    /// The furthest step reached.
    pub step: String,
    /// The form as typed so far.
    pub form: F,
}

/// A draft as opened: still open, or already submitted (R-A4: a second submit, a
/// reload or the back button land on the record it became).
#[derive(Debug, Clone)]
pub enum Opened<F> {
    /// Still being filled in.
    Open(OpenDraft<F>),
    /// Submitted: the application it became.
    Submitted(i64),
}

impl Ra {
    /// Starts a draft of `kind` with `form` at `step`. Returns its id.
    pub async fn start_draft<F: DraftForm>(
        &self,
        account_id: i64,
        kind: AppKind,
        form: &F,
        step: &str,
    ) -> Result<String> {
        if !F::holds(kind) {
            return Err(RaError::Invalid("err.internal"));
        }
        let id = crate::random_token(16)?;
        let draft = Draft {
            id: id.clone(),
            account_id,
            kind,
            data: to_json(form)?,
            step: step.to_owned(),
            application_id: None,
        };
        self.store.create_draft(&draft, self.now()).await?;
        Ok(id)
    }

    /// Opens the caller's draft `id`. Another account's draft, or one that holds another
    /// form, is not found; a draft whose data no longer reads is an error, never an
    /// empty form.
    pub async fn open_draft<F: DraftForm>(&self, account_id: i64, id: &str) -> Result<Opened<F>> {
        let d = self
            .store
            .draft(account_id, id)
            .await?
            .filter(|d| F::holds(d.kind))
            .ok_or(RaError::NotFound)?;
        if let Some(app) = d.application_id {
            return Ok(Opened::Submitted(app));
        }
        let form = serde_json::from_str(&d.data)
            .map_err(|e| RaError::Corrupt(format!("draft {}: {e}", d.id)))?;
        Ok(Opened::Open(OpenDraft {
            id: d.id,
            kind: d.kind,
            step: d.step,
            form,
        }))
    }

    /// Saves the draft's form and its step (nothing happens to a submitted draft).
    pub async fn save_draft<F: DraftForm>(
        &self,
        account_id: i64,
        draft: &OpenDraft<F>,
        step: &str,
    ) -> Result<()> {
        self.store
            .update_draft(
                account_id,
                &draft.id,
                &to_json(&draft.form)?,
                step,
                self.now(),
            )
            .await?;
        Ok(())
    }
}

fn to_json<F: Serialize>(form: &F) -> Result<String> {
    serde_json::to_string(form).map_err(|e| RaError::Corrupt(format!("draft: {e}")))
}

impl DraftForm for crate::apply::ApplicationForm {
    fn holds(kind: AppKind) -> bool {
        kind.issues_certificate()
    }
}

impl DraftForm for crate::contacts::ContactForm {
    fn holds(kind: AppKind) -> bool {
        kind == AppKind::ContactChange
    }
}

impl DraftForm for crate::revoke::RevocationForm {
    fn holds(kind: AppKind) -> bool {
        kind == AppKind::Revocation
    }
}

impl DraftForm for crate::revoke::CancellationForm {
    fn holds(kind: AppKind) -> bool {
        kind == AppKind::Cancellation
    }
}
