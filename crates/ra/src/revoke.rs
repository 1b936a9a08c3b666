//! Revocation (R-V1–R-V4): the customer's request, the staff's phone confirmation that
//! revokes, key-compromise blocking, and the CRL (BR 4.9.7, 7.2).

use crate::drafts::OpenDraft;
use crate::{LOGIN_CA, Ra, RaError, Result, SERVER_CA};
use serde::{Deserialize, Serialize};
use shomei_ca::CrlEntry;
use shomei_model::{AppKind, AppStatus, RevocationReason};
use shomei_store::revocations::StoredCrl;
use time::{Duration, OffsetDateTime};

/// nextUpdate − thisUpdate of our CRLs (≤ 7 days, issue #3; BR allows 10).
pub const CRL_VALIDITY: Duration = Duration::days(7);
/// A CRL is re-signed once it is older than this, even without revocations (≤ 24 h).
pub const CRL_REFRESH_AFTER: Duration = Duration::hours(23);

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

    /// Signs a new CRL of the issuing CA with the next CRL number and stores it.
    pub async fn refresh_crl(&self) -> Result<StoredCrl> {
        self.refresh_crl_of(SERVER_CA).await
    }

    /// The issuing CA's CRL to serve: the latest signed one (issue #11: a request never
    /// builds a CRL, so concurrent GETs cannot make the server sign over and over); a
    /// CRL is built here only if none exists or the latest has expired.
    pub async fn current_crl(&self) -> Result<StoredCrl> {
        self.current_crl_of(SERVER_CA).await
    }

    /// The login CA's CRL (revoked login certificates, R-L5), as [`Ra::current_crl`].
    pub async fn current_login_crl(&self) -> Result<StoredCrl> {
        self.current_crl_of(LOGIN_CA).await
    }

    /// Signs new CRLs of the issuing and login CAs if a revocation is newer than the
    /// latest, or the latest is due for refresh (the periodic task and start-up: they
    /// catch up after a crash between a revocation and its CRL).
    pub async fn refresh_stale_crls(&self) -> Result<()> {
        for slug in [SERVER_CA, LOGIN_CA] {
            if self.crl_is_stale(slug).await? {
                self.refresh_crl_of(slug).await?;
            }
        }
        Ok(())
    }

    /// Signs a new CRL of the login CA (after a login certificate was revoked).
    pub async fn refresh_login_crl(&self) -> Result<StoredCrl> {
        self.refresh_crl_of(LOGIN_CA).await
    }

    /// Signs a new CRL of `slug` (the issuing CA or the login CA) with the next CRL
    /// number and stores it.
    async fn refresh_crl_of(&self, slug: &str) -> Result<StoredCrl> {
        let asked = self.now();
        // One builder at a time in this process; whoever waited gets the CRL signed
        // meanwhile if it began after they asked (it holds their revocation).
        let _one = self.crl_builder.lock().await;
        if let Some(c) = self.store.latest_crl(slug).await?
            && c.this_update > asked
        {
            return Ok(c);
        }
        let now = self.clock.now();
        let number = self.store.next_crl_number(slug).await?;
        let raw = if slug == SERVER_CA {
            // Entries stay until a day after the certificate expired.
            self.store
                .revoked_entries(SERVER_CA, (now - Duration::days(1)).unix_timestamp())
                .await?
        } else {
            self.store.client_revoked_entries(slug).await?
        };
        let entries = raw
            .into_iter()
            .map(|e| {
                Ok(CrlEntry {
                    serial: hex_bytes(&e.serial)?,
                    revoked_at: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                        .map_err(|_| RaError::Invalid("err.internal"))?,
                    reason: u8::try_from(e.reason).map_err(|_| RaError::Invalid("err.internal"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let next = now + CRL_VALIDITY;
        let number_u64 = u64::try_from(number).unwrap_or_default();
        let der = if slug == SERVER_CA {
            self.server_ca.crl(number_u64, now, next, &entries)?
        } else {
            self.login_ca.crl(number_u64, now, next, &entries)?
        };
        let crl = StoredCrl {
            number,
            this_update: now.unix_timestamp(),
            next_update: next.unix_timestamp(),
            der,
        };
        self.store.save_crl(slug, &crl).await?;
        tracing::info!(slug, number, entries = entries.len(), "CRL signed");
        Ok(crl)
    }

    async fn current_crl_of(&self, slug: &str) -> Result<StoredCrl> {
        match self.store.latest_crl(slug).await? {
            Some(c) if self.now() < c.next_update => Ok(c),
            _ => self.refresh_crl_of(slug).await,
        }
    }

    async fn crl_is_stale(&self, slug: &str) -> Result<bool> {
        let now = self.now();
        let latest_revocation = if slug == SERVER_CA {
            self.store.latest_revocation_at(SERVER_CA).await?
        } else {
            self.store.latest_client_revocation_at(slug).await?
        };
        Ok(match self.store.latest_crl(slug).await? {
            Some(c) => {
                now - c.this_update >= CRL_REFRESH_AFTER.whole_seconds()
                    || now >= c.next_update
                    || latest_revocation.is_some_and(|r| r >= c.this_update)
            }
            None => true,
        })
    }
}

fn hex_bytes(s: &str) -> Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or(RaError::Invalid("err.internal"))
        })
        .collect()
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
