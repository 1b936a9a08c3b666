//! One-time-password login (R-L6), the second entrance of the login page for accounts
//! without a login certificate. After the access key and the password, either a code
//! mailed to the account's OTP address (6 digits, valid 10 minutes, used once, at most
//! 5 tries) or a code from an authenticator app (TOTP, RFC 6238: SHA-1, 6 digits, 30 s,
//! ±1 step, each step accepted once). The TOTP secret is shown once, at enrolment, to
//! the customer, who proves the app with a first code.

use crate::login::{LoggedIn, LoginRefusal};
use crate::mail::Mail;
use crate::{Ra, RaError, Result};
use shomei_model::Actor;
use shomei_store::otp::Challenge;
use totp_rs::{Algorithm, Secret, TOTP};

/// A challenge (and its mailed code) is valid this long: 10 minutes.
pub const CHALLENGE_SECS: i64 = 600;
/// A challenge allows this many wrong codes.
pub const MAX_TRIES: i64 = 5;
/// TOTP time step.
pub const TOTP_STEP: i64 = 30;

/// Why a one-time password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpRefusal {
    /// No such challenge, used, or expired: log in again.
    Expired,
    /// Wrong code (try again).
    WrongCode,
    /// Too many wrong codes: log in again.
    TooManyTries,
    /// A TOTP code already accepted once.
    Replayed,
}

/// The second step after the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtpChallenge {
    /// The token of the challenge (in the URL of the code form).
    pub token: String,
    /// `mail` or `totp`.
    pub kind: String,
}

/// What the customer scans or types at TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The secret, base32 (to type in).
    pub secret: String,
    /// The `otpauth://` URL (the QR code's content).
    pub url: String,
}

fn token_hash(token: &str) -> String {
    shomei_ca::sha256_hex(token.as_bytes())
}

fn totp(secret_b32: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .map_err(|_| RaError::Invalid("err.internal"))?;
    TOTP::new(Algorithm::SHA1, 6, 1, TOTP_STEP as u64, bytes)
        .map_err(|_| RaError::Invalid("err.internal"))
}

/// The associated data a TOTP secret is sealed with: it belongs to this account only.
fn totp_context(account_id: i64) -> String {
    format!("totp:{account_id}")
}

/// A new TOTP secret: 160 bits from the OS CSPRNG, base32.
pub fn new_totp_secret() -> Result<String> {
    let mut b = [0u8; 20];
    shomei_ca::random_bytes(&mut b)?;
    match Secret::Raw(b.to_vec()).to_encoded() {
        Secret::Encoded(s) => Ok(s),
        Secret::Raw(_) => Err(RaError::Invalid("err.internal")),
    }
}

/// The code of a secret at a time (for tests and for the enrolment check).
pub fn totp_code(secret_b32: &str, unix: i64) -> Result<String> {
    Ok(totp(secret_b32)?.generate(u64::try_from(unix).unwrap_or(0)))
}

fn six_digits() -> Result<String> {
    // Rejection sampling: uniform over 000000–999999.
    loop {
        let mut b = [0u8; 4];
        shomei_ca::random_bytes(&mut b)?;
        let n = u32::from_be_bytes(b);
        if n < 4_294_000_000 {
            return Ok(format!("{:06}", n % 1_000_000));
        }
    }
}

impl Ra {
    /// Staff choose an account's login method: `certificate`, `otp_mail` (with the OTP
    /// address) or `otp_totp` (a new secret; the customer enrols at the next login).
    /// The account's sessions end.
    pub async fn set_login_method(
        &self,
        account_id: i64,
        method: &str,
        otp_email: &str,
        actor: Actor,
    ) -> Result<std::result::Result<(), &'static str>> {
        let (email, secret) = match method {
            "certificate" => (None, None),
            "otp_mail" => match shomei_model::validate::email(otp_email) {
                Ok(e) => (Some(e), None),
                Err(_) => return Ok(Err("err.email")),
            },
            "otp_totp" => (
                None,
                Some(
                    self.policy
                        .secrets
                        .seal(&totp_context(account_id), &new_totp_secret()?)?,
                ),
            ),
            _ => return Ok(Err("err.choice")),
        };
        if self
            .store
            .set_login_method(
                account_id,
                method,
                email.as_deref(),
                secret.as_deref(),
                actor,
                self.now(),
            )
            .await?
        {
            Ok(Ok(()))
        } else {
            Err(RaError::NotFound)
        }
    }

    /// R-L6 step 1: the access key and the password; then a challenge (a mailed code is
    /// sent now).
    pub async fn otp_login_start(
        &self,
        access_key: &str,
        password: &str,
    ) -> Result<std::result::Result<OtpChallenge, LoginRefusal>> {
        let ok = match self.otp_password_step(access_key, password).await? {
            Ok(ok) => ok,
            Err(r) => return Ok(Err(r)),
        };
        let settings = self
            .store
            .otp_settings(ok.id)
            .await?
            .ok_or(RaError::NotFound)?;
        let now = self.now();
        let token = crate::random_token(24)?;
        let (kind, code_hash, expires_at) = if settings.method == "otp_mail" {
            let code = six_digits()?;
            let to = settings
                .otp_email
                .clone()
                .ok_or(RaError::Invalid("err.email"))?;
            let vars = [("code", code.clone())];
            self.send(&Mail {
                id: format!("shomei.otp.{}", crate::random_token(12)?),
                to: vec![to],
                subject: crate::mail::fill("otp.subject", &vars),
                body: format!(
                    "{}\n\n---- English ----\n\n{}\n",
                    crate::mail::fill("otp.ja", &vars),
                    crate::mail::fill("otp.en", &vars)
                ),
            })
            .await?;
            (
                "mail",
                Some(token_hash(&format!("{token}:{code}"))),
                now + CHALLENGE_SECS,
            )
        } else {
            ("totp", None, now + CHALLENGE_SECS)
        };
        self.store
            .create_challenge(
                &token_hash(&token),
                &Challenge {
                    account_id: ok.id,
                    kind: kind.into(),
                    code_hash,
                    expires_at,
                    tries: 0,
                    used: false,
                },
                now,
            )
            .await?;
        Ok(Ok(OtpChallenge {
            token,
            kind: kind.into(),
        }))
    }

    /// The TOTP enrolment a challenge shows: the secret and its URL while the account
    /// has not proved its app yet, else `None`.
    pub async fn otp_enrolment(&self, token: &str) -> Result<Option<Enrolment>> {
        let Some(c) = self.store.challenge(&token_hash(token)).await? else {
            return Ok(None);
        };
        let Some(s) = self.store.otp_settings(c.account_id).await? else {
            return Ok(None);
        };
        let account = self.store.account(c.account_id).await?;
        match (c.kind.as_str(), s.totp_secret, s.totp_confirmed, account) {
            ("totp", Some(sealed), false, Some(a)) => {
                let secret = self
                    .policy
                    .secrets
                    .open(&totp_context(c.account_id), &sealed)?;
                Ok(Some(Enrolment {
                    url: format!(
                        "otpauth://totp/Shomei:{}?secret={secret}&issuer=Shomei&algorithm=SHA1&digits=6&period=30",
                        a.access_key
                    ),
                    secret,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Seals every TOTP secret that is stored in clear (from before encryption) or
    /// under an older key with the current key; each row is replaced only if it did not
    /// change meanwhile. Run at start-up and by `shomei secrets rotate`. Returns how
    /// many were sealed.
    pub async fn seal_totp_secrets(&self) -> Result<usize> {
        let keys = &self.policy.secrets;
        let mut n = 0;
        for (id, stored) in self.store.totp_secrets().await? {
            if keys.is_current(&stored) {
                continue;
            }
            let ctx = totp_context(id);
            let sealed = keys.seal(&ctx, &keys.open(&ctx, &stored)?)?;
            if self.store.replace_totp_secret(id, &stored, &sealed).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The kind of a live challenge (`mail` or `totp`), or `None`.
    pub async fn otp_challenge_kind(&self, token: &str) -> Result<Option<String>> {
        Ok(self
            .store
            .challenge(&token_hash(token))
            .await?
            .filter(|c| !c.used && c.expires_at > self.now() && c.tries < MAX_TRIES)
            .map(|c| c.kind))
    }

    /// R-L6 step 2: the one-time password. On success the login is recorded.
    pub async fn otp_login_finish(
        &self,
        token: &str,
        code: &str,
    ) -> Result<std::result::Result<LoggedIn, OtpRefusal>> {
        let now = self.now();
        let th = token_hash(token);
        let Some(c) = self.store.challenge(&th).await? else {
            return Ok(Err(OtpRefusal::Expired));
        };
        if c.used || c.expires_at <= now {
            return Ok(Err(OtpRefusal::Expired));
        }
        if c.tries >= MAX_TRIES {
            return Ok(Err(OtpRefusal::TooManyTries));
        }
        let code = code.trim();
        let right = match c.kind.as_str() {
            "mail" => c
                .code_hash
                .as_deref()
                .is_some_and(|h| h == token_hash(&format!("{token}:{code}"))),
            _ => {
                let sealed = self
                    .store
                    .otp_settings(c.account_id)
                    .await?
                    .and_then(|s| s.totp_secret)
                    .ok_or(RaError::NotFound)?;
                let secret = self
                    .policy
                    .secrets
                    .open(&totp_context(c.account_id), &sealed)?;
                // ±1 step; the matching step must be later than any accepted before.
                let step = now.div_euclid(TOTP_STEP);
                let mut matched = None;
                for s in [step - 1, step, step + 1] {
                    if code.len() == 6 && totp_code(&secret, s * TOTP_STEP)? == code {
                        matched = Some(s);
                    }
                }
                match matched {
                    Some(s) => {
                        if !self.store.accept_totp_step(c.account_id, s).await? {
                            self.otp_failed(&th, c.account_id, "otp_replayed").await?;
                            return Ok(Err(OtpRefusal::Replayed));
                        }
                        true
                    }
                    None => false,
                }
            }
        };
        if !right {
            let tries = self.otp_failed(&th, c.account_id, "otp_wrong").await?;
            return Ok(Err(if tries >= MAX_TRIES {
                OtpRefusal::TooManyTries
            } else {
                OtpRefusal::WrongCode
            }));
        }
        if !self.store.use_challenge(&th, MAX_TRIES, now).await? {
            return Ok(Err(OtpRefusal::Expired));
        }
        let a = self
            .store
            .account(c.account_id)
            .await?
            .ok_or(RaError::NotFound)?;
        self.store
            .login_succeeded(
                shomei_store::Realm::Customer,
                a.id,
                serde_json::json!({ "otp": c.kind }),
                now,
            )
            .await?;
        Ok(Ok(LoggedIn {
            id: a.id,
            must_change_password: a.creds.password_initial,
        }))
    }

    async fn otp_failed(&self, th: &str, account_id: i64, reason: &str) -> Result<i64> {
        let tries = self.store.challenge_failed(th).await?;
        self.store
            .login_failed(
                shomei_store::Realm::Customer,
                account_id,
                self.policy.lock_after,
                serde_json::json!({ "reason": reason }),
                self.now(),
            )
            .await?;
        Ok(tries)
    }
}
