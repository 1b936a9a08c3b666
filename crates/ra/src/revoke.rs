//! Revocation (R-V1–R-V4): the customer's request, the staff's phone confirmation that
//! revokes, key-compromise blocking, and the CRL (BR 4.9.7, 7.2).

use crate::drafts::OpenDraft;
use crate::{Ra, RaError, Result};
use serde::{Deserialize, Serialize};
use shomei_model::{Actor, AppKind, AppStatus, RevocationReason};

pub use crate::crl::{CRL_REFRESH_AFTER, CRL_VALIDITY};

/// The revocation form as kept in the draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RevocationForm {
    /// The record whose certificate is to be revoked.
    pub target: i64,
    /// Whether the terms were agreed to.
    pub agreed: bool,
    /// `RevocationReason::code`.
    pub reason: String,
}

/// The cancellation (解約) form as kept in the draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CancellationForm {
    /// The record whose contract ends.
    pub target: i64,
}

impl Ra {
    /// Whether the customer may start a revocation from this record (R-V1, R-A5).
    pub async fn may_revoke(&self, app: &shomei_store::Application) -> Result<bool> {
        let live =
            app.cert_not_after.is_some_and(|t| t > self.now()) && app.cert_revoked_at.is_none();
        let pending = self.store.revocation_pending(app.id).await?;
        Ok(shomei_model::revocation::may_revoke(
            app.kind, app.status, live, pending,
        ))
    }

    /// Submits a revocation request (R-V2): a new record, 電話確認待ち. Returns the
    /// record's id, or the message key of why it was refused.
    pub async fn request_revocation(
        &self,
        account_id: i64,
        draft: &OpenDraft<RevocationForm>,
    ) -> Result<std::result::Result<i64, &'static str>> {
        let form = &draft.form;
        if !form.agreed {
            return Ok(Err("err.terms"));
        }
        let Some(reason) = RevocationReason::from_code(&form.reason) else {
            return Ok(Err("err.revoke_reason"));
        };
        match self
            .store
            .submit_revocation(
                account_id,
                &draft.id,
                form.target,
                reason.code(),
                self.now(),
            )
            .await
        {
            Ok((id, _)) => Ok(Ok(id)),
            Err(shomei_store::StoreError::Conflict(_)) => Ok(Err("err.revoke_not_allowed")),
            Err(e) => Err(e.into()),
        }
    }

    /// The deadline of a revocation request (BR 4.9.1.1), counted from the request.
    pub fn revocation_deadline(app: &shomei_store::Application) -> Option<i64> {
        let reason = RevocationReason::from_code(app.revocation_reason.as_deref()?)?;
        Some(app.created_at + reason.deadline_seconds())
    }

    /// Staff record that the registrant could not be reached (issue #8 item 7); the
    /// request keeps waiting within its deadline.
    pub async fn revocation_unreachable(
        &self,
        staff_id: i64,
        revocation_id: i64,
        note: &str,
    ) -> Result<()> {
        self.revocation_call(staff_id, revocation_id, note, false)
            .await
    }

    /// Staff record that the registrant denies the request (issue #8 item 7): it is
    /// rejected with the note and nothing is revoked.
    pub async fn revocation_denied(
        &self,
        staff_id: i64,
        revocation_id: i64,
        note: &str,
    ) -> Result<()> {
        self.revocation_call(staff_id, revocation_id, note, true)
            .await
    }

    async fn revocation_call(
        &self,
        staff_id: i64,
        revocation_id: i64,
        note: &str,
        denied: bool,
    ) -> Result<()> {
        let note = shomei_model::validate::required_text(note, 1000)
            .map_err(|_| RaError::Invalid("err.rev_note"))?;
        let (now, store) = (self.now(), &self.store);
        let done = if denied {
            store
                .revocation_denied(revocation_id, staff_id, &note, now)
                .await?
        } else {
            store
                .revocation_unreachable(revocation_id, staff_id, &note, now)
                .await?
        };
        if done {
            Ok(())
        } else {
            Err(RaError::WrongState)
        }
    }

    /// Staff record the phone confirmation (R-V4): revokes, blocks the key on key
    /// compromise (and revokes every other certificate with it), and re-signs the CRL at
    /// once. Returns the revoked serials.
    pub async fn confirm_revocation(
        &self,
        staff_id: i64,
        revocation_id: i64,
    ) -> Result<Vec<String>> {
        let app = self
            .store
            .application(revocation_id)
            .await?
            .ok_or(RaError::NotFound)?;
        let waiting = matches!(
            (app.kind, app.status),
            (AppKind::Revocation, AppStatus::PhoneConfirmationPending)
                | (AppKind::Cancellation, AppStatus::Received)
        );
        if !waiting {
            return Err(RaError::WrongState);
        }
        let reason = app
            .revocation_reason
            .as_deref()
            .and_then(RevocationReason::from_code)
            .ok_or(RaError::Invalid("err.revoke_reason"))?;
        let serials = self
            .store
            .confirm_revocation(
                revocation_id,
                staff_id,
                i64::from(reason.crl_reason()),
                reason == RevocationReason::KeyCompromise,
                self.now(),
            )
            .await
            .map_err(|e| {
                if matches!(e, shomei_store::StoreError::Conflict(_)) {
                    RaError::WrongState
                } else {
                    e.into()
                }
            })?;
        self.refresh_crl().await?;
        self.prebuild_ocsp(&serials).await?;
        Ok(serials)
    }
}

impl Ra {
    /// 解約: a cancellation request for `target` (its own record). Staff confirm it; the
    /// contract then ends and its certificate is revoked (cessationOfOperation).
    pub async fn request_cancellation(
        &self,
        account_id: i64,
        draft: &OpenDraft<CancellationForm>,
    ) -> Result<std::result::Result<i64, &'static str>> {
        match self
            .store
            .submit_cancellation(account_id, &draft.id, draft.form.target, self.now())
            .await
        {
            Ok((id, _)) => Ok(Ok(id)),
            Err(shomei_store::StoreError::Conflict(_)) => Ok(Err("err.cancel_not_allowed")),
            Err(e) => Err(e.into()),
        }
    }
}

/// Why the operator revokes (`shomei certificate revoke --reason`), as RFC 5280 reason
/// codes a TLS CRL may carry (CA-RULES "Reason codes in TLS CRLs"; never
/// certificateHold; unspecified is written without a reasonCode).
pub const OPERATOR_REASONS: &[(&str, i64)] = &[
    ("unspecified", 0),
    ("key-compromise", 1),
    ("affiliation-changed", 3),
    ("superseded", 4),
    ("cessation-of-operation", 5),
    ("privilege-withdrawn", 9),
];

impl Ra {
    /// The operator revokes one certificate at once by its serial (incident response,
    /// the command line): one transaction with its audit event (actor `cli`); on key
    /// compromise the key is blocked and every other certificate with it revoked. The
    /// CRL is re-signed and the OCSP responses rebuilt before it returns; if the process
    /// dies before that, the revocation is committed and `serve` publishes it (the
    /// stored "good" responses are dropped with the revocation, the shard stays marked
    /// stale). Returns the revoked serials; `Err(WrongState)` if it is already revoked.
    pub async fn operator_revoke(&self, serial: &str, reason: &str) -> Result<Vec<String>> {
        let code = OPERATOR_REASONS
            .iter()
            .find(|(name, _)| *name == reason)
            .map(|(_, code)| *code)
            .ok_or(RaError::Invalid("err.revoke_reason"))?;
        let serial =
            crate::mass_revoke::normalise_serial(serial).ok_or(RaError::Invalid("err.serial"))?;
        let (record, revoked_at) = self
            .store
            .issued_by_serial(crate::SERVER_CA, &serial)
            .await?
            .ok_or(RaError::NotFound)?;
        if revoked_at.is_some() {
            return Err(RaError::WrongState);
        }
        let serials = self
            .store
            .revoke_certificate(record.id, code, code == 1, Actor::Cli, self.now())
            .await?
            .ok_or(RaError::WrongState)?;
        fail::fail_point!("revoke.committed");
        self.refresh_crl().await?;
        self.prebuild_ocsp(&serials).await?;
        Ok(serials)
    }
}
