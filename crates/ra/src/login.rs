//! The login rules (R-L1, R-L2, R-L3; R-L4 groundwork). Every success and failure is an
//! audit event. Failures tell the user nothing about which factor was wrong.

use crate::{Ra, Result, password};
use shomei_ca::client::PresentedCert;
use shomei_model::Actor;
use shomei_store::{Credentials, Realm};

/// Why a login was refused. Only the web layer's generic message reaches the user;
/// the reason goes to the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// No client certificate from the right CA was presented (R-L1).
    NoCertificate,
    /// The access key or login is unknown.
    UnknownLogin,
    /// The certificate is valid but bound to another principal (R-L2).
    CertificateNotBound,
    /// Wrong password.
    WrongPassword,
    /// The initial password expired (R-L3): staff must set a new one.
    InitialPasswordExpired,
    /// Locked after repeated failures (R-L4).
    Locked,
    /// Disabled by staff.
    Disabled,
    /// The certificate was revoked (replaced, R-L5).
    CertificateRevoked,
}

impl LoginRefusal {
    /// Audit code.
    pub fn code(self) -> &'static str {
        match self {
            LoginRefusal::NoCertificate => "no_certificate",
            LoginRefusal::UnknownLogin => "unknown_login",
            LoginRefusal::CertificateNotBound => "certificate_not_bound",
            LoginRefusal::WrongPassword => "wrong_password",
            LoginRefusal::InitialPasswordExpired => "initial_password_expired",
            LoginRefusal::Locked => "locked",
            LoginRefusal::Disabled => "disabled",
            LoginRefusal::CertificateRevoked => "certificate_revoked",
        }
    }
}

/// A successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// Account or staff id.
    pub id: i64,
    /// Whether the password must be changed before anything else (R-L3).
    pub must_change_password: bool,
}

/// Whether the presented certificate is the one bound to these credentials (R-L2):
/// serial, subject and fingerprint must all match.
pub fn bound(creds: &Credentials, cert: &PresentedCert) -> bool {
    creds.cert_serial.as_deref() == Some(cert.serial_hex.as_str())
        && creds.cert_subject.as_deref() == Some(cert.subject.as_str())
        && creds.cert_fingerprint.as_deref() == Some(cert.fingerprint.as_str())
}

impl Ra {
    /// Checks the three factors of a login: the TLS client certificate (already
    /// chain-verified against the realm's CA by the TLS layer), the access key or staff
    /// login, and the password.
    pub async fn login(
        &self,
        realm: Realm,
        cert: Option<&PresentedCert>,
        login: &str,
        pw: &str,
    ) -> Result<std::result::Result<LoggedIn, LoginRefusal>> {
        let r = self.check_factors(realm, cert, login, pw, false).await;
        if matches!(r, Ok(Err(_))) {
            self.metrics.login_failure(realm);
        }
        r
    }

    /// The factors before the one-time password (R-L6): the access key and the password
    /// of an account whose login method is a one-time password; counted like any login.
    /// The login itself is recorded once the one-time password is right.
    pub async fn otp_password_step(
        &self,
        login: &str,
        pw: &str,
    ) -> Result<std::result::Result<LoggedIn, LoginRefusal>> {
        let r = self
            .check_factors(Realm::Customer, None, login, pw, true)
            .await;
        if matches!(r, Ok(Err(_))) {
            self.metrics.login_failure(Realm::Customer);
        }
        r
    }

    async fn check_factors(
        &self,
        realm: Realm,
        cert: Option<&PresentedCert>,
        login: &str,
        pw: &str,
        otp: bool,
    ) -> Result<std::result::Result<LoggedIn, LoginRefusal>> {
        let now = self.now();
        let detail = |reason: LoginRefusal| serde_json::json!({ "reason": reason.code(), "login": login.chars().take(64).collect::<String>(), "cert_serial": cert.map(|c| c.serial_hex.clone()) });
        let found = match realm {
            Realm::Customer => self
                .store
                .account_by_access_key(login)
                .await?
                .map(|a| (a.id, a.creds)),
            Realm::Staff => self
                .store
                .staff_by_login(login)
                .await?
                .map(|s| (s.id, s.creds)),
        };
        let Some((id, creds)) = found else {
            password::burn_async(pw).await;
            let subject = format!(
                "{}-login:{}",
                realm.code(),
                login.chars().take(64).collect::<String>()
            );
            let reason = if cert.is_none() {
                LoginRefusal::NoCertificate
            } else {
                LoginRefusal::UnknownLogin
            };
            self.store
                .audit(&shomei_store::AuditEvent::new(
                    now,
                    Actor::Anonymous,
                    "login.failure",
                    subject,
                    detail(reason),
                ))
                .await?;
            return Ok(Err(reason));
        };
        let revoked = match cert {
            Some(c) => {
                self.store
                    .is_client_cert_revoked(
                        shomei_store::client_certs::issuer_of(realm),
                        &c.serial_hex,
                    )
                    .await?
            }
            None => false,
        };
        let otp_account = match realm {
            Realm::Customer => self
                .store
                .otp_settings(id)
                .await?
                .is_some_and(|s| s.method != "certificate"),
            Realm::Staff => false,
        };
        // Issue #7 item 8: only an attempt that could be the account's own counts
        // towards its lock — one that presents the account's login certificate, or, at
        // the one-time-password entrance, for an account staff set to a one-time
        // password. Anyone else is refused without touching the account.
        let owner = match (otp, cert) {
            (true, _) => otp_account,
            (false, Some(c)) => bound(&creds, c),
            (false, None) => false,
        };
        let factor = if otp {
            // R-L6: only accounts staff set to a one-time password use this entrance.
            (!otp_account).then_some(LoginRefusal::NoCertificate)
        } else {
            match cert {
                None => Some(LoginRefusal::NoCertificate),
                Some(c) if !bound(&creds, c) => Some(LoginRefusal::CertificateNotBound),
                Some(_) => None,
            }
        };
        let refusal = if creds.disabled {
            Some(LoginRefusal::Disabled)
        } else if creds.locked {
            Some(LoginRefusal::Locked)
        } else if revoked {
            Some(LoginRefusal::CertificateRevoked)
        } else {
            factor
        };
        // The password is always checked, so timing does not reveal which factor failed.
        let password_ok = password::verify_async(pw, &creds.password_hash).await;
        let refusal = refusal.or(if !password_ok {
            Some(LoginRefusal::WrongPassword)
        } else if creds.password_initial && creds.password_expires_at.is_some_and(|t| t < now) {
            Some(LoginRefusal::InitialPasswordExpired)
        } else {
            None
        });
        match refusal {
            Some(reason) => {
                if matches!(reason, LoginRefusal::Locked | LoginRefusal::Disabled) || !owner {
                    self.store
                        .audit(&shomei_store::AuditEvent::new(
                            now,
                            Actor::Anonymous,
                            "login.failure",
                            format!("{}:{id}", realm.code()),
                            detail(reason),
                        ))
                        .await?;
                } else {
                    self.store
                        .login_failed(realm, id, self.policy.lock_after, detail(reason), now)
                        .await?;
                }
                // "Locked" is said only to the account's own certificate (or, at the
                // one-time-password entrance, with the right password); anyone else
                // hears what any wrong credential hears.
                let may_know = match (otp, cert) {
                    (true, _) => otp_account && password_ok,
                    (false, Some(c)) => bound(&creds, c),
                    (false, None) => false,
                };
                if matches!(reason, LoginRefusal::Locked | LoginRefusal::Disabled) && !may_know {
                    return Ok(Err(factor.unwrap_or(LoginRefusal::WrongPassword)));
                }
                Ok(Err(reason))
            }
            None if otp => Ok(Ok(LoggedIn {
                id,
                must_change_password: creds.password_initial,
            })),
            None => {
                self.store
                    .login_succeeded(
                        realm,
                        id,
                        serde_json::json!({ "cert_serial": cert.map(|c| c.serial_hex.clone()) }),
                        now,
                    )
                    .await?;
                Ok(Ok(LoggedIn {
                    id,
                    must_change_password: creds.password_initial,
                }))
            }
        }
    }

    /// Changes a password (R-P1): the current one, then the new one twice, checked
    /// against the policy. Returns the refusal's message key, if refused.
    pub async fn change_password(
        &self,
        realm: Realm,
        id: i64,
        current: &str,
        new: &str,
        confirm: &str,
    ) -> Result<std::result::Result<(), &'static str>> {
        let creds = self
            .store
            .credentials(realm, id)
            .await?
            .ok_or(crate::RaError::NotFound)?;
        if !password::verify_async(current, &creds.password_hash).await {
            return Ok(Err("err.pw_current"));
        }
        let login = match realm {
            Realm::Customer => self.store.account(id).await?.map(|a| a.access_key),
            Realm::Staff => self.store.staff(id).await?.map(|s| s.login),
        }
        .unwrap_or_default();
        let same = password::verify_async(new, &creds.password_hash).await;
        if let Err(e) = shomei_model::validate::new_password(new, confirm, &login, same) {
            return Ok(Err(e.key()));
        }
        let hash = password::hash_async(new).await?;
        self.store
            .set_password(realm, id, &hash, self.now())
            .await?;
        Ok(Ok(()))
    }
}
