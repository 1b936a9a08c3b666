//! Creating customer accounts and staff members, each with a login certificate
//! (R-L1, R-L2) and an initial password valid 30 days (R-L3).

use crate::{Ra, RaError, Result, random_from};
use shomei_ca::client::{ClientCert, client_p12, issue_client_cert};
use shomei_model::Actor;
use shomei_model::validate;
use shomei_store::{NewPrincipal, Realm};
use time::Duration;

/// Access keys: 8 characters, upper case and digits without look-alikes (0/O, 1/I).
pub const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// What the operator hands over to a new customer or staff member.
#[derive(Debug)]
pub struct Created {
    /// Account or staff id.
    pub id: i64,
    /// Access key (customer) or login (staff).
    pub login: String,
    /// The initial password (shown once, never stored in clear).
    pub initial_password: String,
    /// When the initial password expires (Unix seconds).
    pub initial_password_expires_at: i64,
    /// The PKCS#12 file.
    pub p12: Vec<u8>,
    /// Its password.
    pub p12_password: String,
    /// The login certificate, PEM.
    pub cert_pem: String,
    /// Its key, PEM. Secret.
    pub key_pem: String,
}

/// A new customer account's data.
#[derive(Debug, Clone)]
pub struct AccountInput {
    /// Organisation name.
    pub org: String,
    /// Contact e-mail.
    pub email: String,
    /// 特約店コード.
    pub dealer_code: Option<String>,
}

impl Ra {
    /// Creates a customer account: access key, initial password, login certificate from
    /// the login CA bound to the account (R-L2), PKCS#12.
    pub async fn create_account(&self, input: &AccountInput, actor: Actor) -> Result<Created> {
        let org =
            validate::required_text(&input.org, 200).map_err(|_| RaError::Invalid("err.org"))?;
        let email = validate::email(&input.email).map_err(|_| RaError::Invalid("err.email"))?;
        let dealer = match &input.dealer_code {
            Some(d) if !d.trim().is_empty() => {
                let d = d.trim();
                if !crate::coupons::valid_dealer_code(d) {
                    return Err(RaError::Invalid("err.dealer_code"));
                }
                Some(d.to_owned())
            }
            _ => None,
        };
        for _ in 0..5 {
            let key = random_from(ACCESS_KEY_ALPHABET, 8)?;
            match self
                .create_principal(
                    Realm::Customer,
                    &key,
                    &org,
                    &email,
                    dealer.clone(),
                    &org,
                    actor,
                )
                .await
            {
                Err(RaError::Store(e)) if e.is_unique_violation() => continue,
                other => return other,
            }
        }
        Err(RaError::Invalid("err.access_key_exhausted"))
    }

    /// Creates a staff member with a login certificate from the staff CA.
    pub async fn create_staff(
        &self,
        login: &str,
        name: &str,
        email: &str,
        actor: Actor,
    ) -> Result<Created> {
        let login =
            validate::required_text(login, 64).map_err(|_| RaError::Invalid("err.login"))?;
        if !login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        {
            return Err(RaError::Invalid("err.login"));
        }
        let name = validate::required_text(name, 100).map_err(|_| RaError::Invalid("err.name"))?;
        let email = validate::email(email).map_err(|_| RaError::Invalid("err.email"))?;
        let operator = self.policy.operator_name.clone();
        self.create_principal(Realm::Staff, &login, &name, &email, None, &operator, actor)
            .await
    }

    /// R-L4: staff unlock a principal by setting a new initial password (valid
    /// `initial_password_days`, to be changed at the next login); the lock and the
    /// failure count are cleared and its sessions end. Returns the password (shown
    /// once) and when it expires.
    pub async fn reset_initial_password(
        &self,
        realm: Realm,
        id: i64,
        actor: Actor,
    ) -> Result<(String, i64)> {
        let now = self.clock.now();
        let password = random_from(PASSWORD_ALPHABET, 16)?;
        let expires = (now + Duration::days(self.policy.initial_password_days)).unix_timestamp();
        let hash = crate::password::hash(&password)?;
        if self
            .store
            .reset_initial_password(realm, id, &hash, expires, actor, now.unix_timestamp())
            .await?
        {
            Ok((password, expires))
        } else {
            Err(RaError::NotFound)
        }
    }

    /// Staff disable (or enable again) a customer account; its sessions end at once.
    pub async fn set_account_disabled(&self, id: i64, disabled: bool, actor: Actor) -> Result<()> {
        if self
            .store
            .set_disabled(Realm::Customer, id, disabled, actor, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(RaError::NotFound)
        }
    }

    /// R-L5: a new login certificate for a new person. The new certificate is bound to
    /// the principal, the old one revoked (affiliationChanged) — on the login CA's CRL
    /// and refused at login — and the principal's sessions end, in one transaction.
    /// Returns the new PKCS#12 and its password.
    pub async fn replace_login_certificate(
        &self,
        realm: Realm,
        principal_id: i64,
        actor: Actor,
    ) -> Result<Created> {
        let now = self.clock.now();
        let (login, cert_org) = match realm {
            Realm::Customer => {
                let a = self
                    .store
                    .account(principal_id)
                    .await?
                    .ok_or(RaError::NotFound)?;
                (a.access_key, a.org_name)
            }
            Realm::Staff => {
                let s = self
                    .store
                    .staff(principal_id)
                    .await?
                    .ok_or(RaError::NotFound)?;
                (s.login, self.policy.operator_name.clone())
            }
        };
        let ca = match realm {
            Realm::Customer => &self.login_ca,
            Realm::Staff => &self.staff_ca,
        };
        let cert: ClientCert =
            issue_client_cert(ca, &login, &cert_org, now, self.policy.login_cert_days)?;
        let p12_password = random_from(PASSWORD_ALPHABET, 16)?;
        let p12 = client_p12(ca, &cert, &p12_password, &format!("Shomei {login}"))?;
        self.store
            .replace_login_certificate(
                realm,
                principal_id,
                &shomei_store::client_certs::NewBinding {
                    serial: cert.serial_hex.clone(),
                    subject: cert.subject.clone(),
                    fingerprint: cert.fingerprint.clone(),
                },
                3, // affiliationChanged: the certificate goes to a new person.
                actor,
                now.unix_timestamp(),
            )
            .await?;
        if realm == Realm::Customer {
            self.refresh_login_crl().await?;
        }
        Ok(Created {
            id: principal_id,
            login,
            initial_password: String::new(),
            initial_password_expires_at: 0,
            p12,
            p12_password,
            cert_pem: cert.cert_pem,
            key_pem: cert.key_pem,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_principal(
        &self,
        realm: Realm,
        login: &str,
        name: &str,
        email: &str,
        dealer_code: Option<String>,
        cert_org: &str,
        actor: Actor,
    ) -> Result<Created> {
        let now = self.clock.now();
        let ca = match realm {
            Realm::Customer => &self.login_ca,
            Realm::Staff => &self.staff_ca,
        };
        let cert: ClientCert =
            issue_client_cert(ca, login, cert_org, now, self.policy.login_cert_days)?;
        let p12_password = random_from(PASSWORD_ALPHABET, 16)?;
        let p12 = client_p12(ca, &cert, &p12_password, &format!("Shomei {login}"))?;
        let initial_password = random_from(PASSWORD_ALPHABET, 16)?;
        let expires = (now + Duration::days(self.policy.initial_password_days)).unix_timestamp();
        let p = NewPrincipal {
            login: login.to_owned(),
            name: name.to_owned(),
            email: email.to_owned(),
            dealer_code,
            password_hash: crate::password::hash(&initial_password)?,
            password_expires_at: expires,
            cert_serial: cert.serial_hex.clone(),
            cert_subject: cert.subject.clone(),
            cert_fingerprint: cert.fingerprint.clone(),
        };
        let id = self
            .store
            .create_principal(realm, &p, actor, now.unix_timestamp())
            .await?;
        Ok(Created {
            id,
            login: login.to_owned(),
            initial_password,
            initial_password_expires_at: expires,
            p12,
            p12_password,
            cert_pem: cert.cert_pem,
            key_pem: cert.key_pem,
        })
    }
}
