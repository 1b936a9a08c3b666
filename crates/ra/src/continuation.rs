//! 継続発行 (continuation, SC-081): when a record may continue, and the issuance at
//! once when every validation it needs may be reused.

use crate::{Ra, RaError, Result};
use shomei_model::{Actor, AppKind, AppStatus, Service};

/// 継続発行 is offered from this many days before the certificate ends.
pub const CONTINUATION_WINDOW_DAYS: i64 = 30;

impl Ra {
    /// 継続発行 (SC-081): from 30 days before the current certificate ends, while the
    /// contract runs on past it, from a 完了 record with a live certificate.
    pub async fn may_continue(&self, app: &shomei_store::Application) -> Result<bool> {
        let now = self.now();
        let (Some(nb), Some(na)) = (app.cert_not_before, app.cert_not_after) else {
            return Ok(false);
        };
        let live = app.cert_revoked_at.is_none() && na > now && nb <= now;
        let in_window = now >= na - CONTINUATION_WINDOW_DAYS * 86_400;
        let runs_on = self
            .store
            .contract_period(app.id)
            .await?
            .is_some_and(|(_, end)| end > na + 86_400);
        Ok(app.kind.portal_certificate()
            && Service::FOR_NEW.contains(&app.service)
            && app.status == AppStatus::Completed
            && live
            && in_window
            && runs_on)
    }

    /// After a 継続発行 is submitted: if the organisation's validation is younger than
    /// 398 days (and the EV data's, for EV) and every domain's younger than the SC-081
    /// reuse period, approve by reuse and issue at once (BR 4.2.1); otherwise it waits for
    /// the desk. Returns whether it was issued.
    pub async fn continue_if_fresh(&self, application_id: i64) -> Result<bool> {
        let at = self.clock.now();
        let now = at.unix_timestamp();
        let app = self
            .store
            .application(application_id)
            .await?
            .ok_or(RaError::NotFound)?;
        if app.kind != AppKind::Continuation || app.status != AppStatus::Received {
            return Ok(false);
        }
        let org_limit = now - shomei_model::ORG_REUSE_DAYS * 86_400;
        let domain_limit = now - shomei_model::domain_reuse_days(at) * 86_400;
        let mut wanted = vec![(
            "organization",
            app.details.organisation.name.clone(),
            org_limit,
        )];
        if app.service.is_ev() {
            wanted.push(("ev", app.details.organisation.name.clone(), org_limit));
        }
        wanted.extend(
            app.names
                .iter()
                .map(|n| ("domain", n.clone(), domain_limit)),
        );
        let mut reused = Vec::new();
        for (kind, subject, limit) in wanted {
            match self
                .store
                .latest_validation_with_staff(app.account_id, kind, &subject)
                .await?
            {
                Some(v) if v.validation.validated_at > limit => reused.push(v),
                _ => return Ok(false),
            }
        }
        if !self
            .store
            .approve_by_reuse(application_id, &reused, now)
            .await?
        {
            return Ok(false);
        }
        self.issue(application_id, Actor::System).await?;
        Ok(true)
    }
}
