//! Sessions (CA-RULES "Sessions"; OWASP session management): opened after a login
//! with a new id, resumed only within the idle and absolute limits, with the same
//! client certificate, while the principal is neither disabled nor locked; ended at
//! logout with its audit event. Front ends keep only the token in a cookie.

use crate::{Ra, Result};
use shomei_store::{AuditEvent, Realm, Session};

/// What an OTP session records instead of a certificate fingerprint (R-L6).
pub const OTP_SESSION: &str = "otp";

/// How long a session lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Seconds without a request.
    pub idle: i64,
    /// Seconds since it was opened.
    pub absolute: i64,
}

impl Ra {
    /// Opens a session for `principal_id` in `realm` with the token hash given, ending
    /// `replaces` (the session the login came from, if any). Returns the session.
    pub async fn open_session(
        &self,
        realm: Realm,
        principal_id: i64,
        token_hash: String,
        cert_fingerprint: String,
        replaces: Option<&str>,
    ) -> Result<Session> {
        if let Some(old) = replaces {
            self.store.delete_session(old).await?;
        }
        let now = self.now();
        let session = Session {
            token_hash,
            realm,
            principal_id,
            cert_fingerprint,
            csrf_token: crate::random_token(24)?,
            created_at: now,
            last_seen_at: now,
        };
        self.store.create_session(&session).await?;
        Ok(session)
    }

    /// The session of `token_hash` if it may go on: in `realm`, within `limits`, with
    /// the certificate it was opened with (`cert`: the fingerprint presented now), and
    /// its principal neither disabled nor locked. Any other session ends here.
    pub async fn resume_session(
        &self,
        token_hash: &str,
        realm: Realm,
        cert: Option<&str>,
        limits: SessionLimits,
    ) -> Result<Option<Session>> {
        let Some(s) = self.store.session(token_hash).await? else {
            return Ok(None);
        };
        let now = self.now();
        let expired = now - s.last_seen_at > limits.idle || now - s.created_at > limits.absolute;
        // A certificate session stays with its certificate; an OTP session (R-L6) has none.
        let wrong_cert = s.cert_fingerprint != OTP_SESSION && cert != Some(&s.cert_fingerprint);
        let usable = match self.store.credentials(s.realm, s.principal_id).await? {
            Some(c) => !c.disabled && !c.locked,
            None => false,
        };
        if expired || s.realm != realm || wrong_cert || !usable {
            self.store.delete_session(token_hash).await?;
            return Ok(None);
        }
        self.store.touch_session(token_hash, now).await?;
        Ok(Some(s))
    }

    /// Ends a session at logout, with its audit event.
    pub async fn logout(&self, s: &Session) -> Result<()> {
        self.store.delete_session(&s.token_hash).await?;
        self.store
            .audit(&AuditEvent::new(
                self.now(),
                s.realm.actor(s.principal_id),
                "logout",
                format!("{}:{}", s.realm.code(), s.principal_id),
                serde_json::json!({}),
            ))
            .await?;
        Ok(())
    }

    /// Ends every other session of the principal (after a password change).
    pub async fn end_other_sessions(
        &self,
        realm: Realm,
        principal_id: i64,
        keep: &str,
    ) -> Result<()> {
        Ok(self
            .store
            .delete_other_sessions(realm, principal_id, keep)
            .await?)
    }
}
