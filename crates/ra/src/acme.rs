//! ACME with external account binding (issue #10, RFC 8555 7.3.4): a credential (key
//! identifier and HMAC key) belongs to one contract; an ACME account bound with it may
//! act for that contract only, and not after the contract ends. Nonces are stored so
//! that several instances share them. The ACME front end parses and checks the JWS
//! framing and the account key's signature; the RA owns the credentials and the MAC.

use crate::{Ra, RaError, Result};
use base64::Engine;
use shomei_model::Actor;
use shomei_store::acme::{AcmeAccount, AcmeChange, EabCredential, NewAcmeAccount};

/// The characters of key identifiers (no look-alikes, nothing a shell or an option
/// parser reads specially).
const KID_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// How long a nonce stays usable (seconds).
pub use crate::nonce::NONCE_LIFETIME;

/// A credential as shown once to the customer (or printed by the CLI).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewEab {
    /// The key identifier (`--eab-kid`).
    pub kid: String,
    /// The HMAC key, base64url without padding (`--eab-hmac-key`).
    pub hmac: String,
}

/// Why a new ACME account was refused (each maps to an ACME problem).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EabRefusal {
    /// No credential has this key identifier.
    UnknownKid,
    /// The MAC does not verify with the credential's key, or its algorithm is not HMAC.
    BadMac,
    /// The credential was disabled.
    Disabled,
    /// The contract has ended.
    ContractEnded,
    /// The credential already binds an ACME account.
    KidUsed,
}

impl EabRefusal {
    /// The problem's detail, in words a customer can act on.
    pub fn detail(self) -> &'static str {
        match self {
            EabRefusal::UnknownKid => "the external account key identifier (kid) is not known",
            EabRefusal::BadMac => {
                "the external account binding's MAC does not verify with that kid's HMAC key"
            }
            EabRefusal::Disabled => "this external account binding credential has been disabled",
            EabRefusal::ContractEnded => "the contract this credential belongs to has ended",
            EabRefusal::KidUsed => {
                "this external account binding credential is already bound to an ACME account; create a new one in the portal"
            }
        }
    }
}

/// The external account binding of a newAccount request, as the front end parsed it.
#[derive(Debug, Clone)]
pub struct EabBinding<'a> {
    /// `alg` of the binding's protected header (HS256, HS384 or HS512).
    pub alg: &'a str,
    /// `kid` of the binding's protected header.
    pub kid: &'a str,
    /// `protected || '.' || payload`, as sent (base64url).
    pub signing_input: &'a [u8],
    /// The MAC, decoded.
    pub mac: &'a [u8],
}

fn eab_context(kid: &str) -> String {
    format!("acme-eab:{kid}")
}

impl Ra {
    /// Makes a credential for the contract of the account's 完了 record `application_id`
    /// (R-A5: only while the contract runs). `None` if the record cannot have one.
    pub async fn create_eab(&self, account_id: i64, application_id: i64) -> Result<Option<NewEab>> {
        // Letters and digits only: a key identifier starting with '-' would be read as an
        // option by ACME clients' command lines.
        let kid = crate::random_from(KID_ALPHABET, 24)?;
        let mut key = [0u8; 32];
        shomei_ca::random_bytes(&mut key)?;
        let hmac = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        let sealed = self.policy.secrets.seal(&eab_context(&kid), &hmac)?;
        let made = self
            .store
            .create_eab(&kid, account_id, application_id, &sealed, self.now())
            .await?;
        Ok(made.then_some(NewEab { kid, hmac }))
    }

    /// `shomei acme eab create --contract B0000001`: a credential for the contract with
    /// this code (its latest 完了 record). `None` if there is no such running contract.
    pub async fn create_eab_for_contract(&self, code: &str) -> Result<Option<NewEab>> {
        match self.store.contract_record(code).await? {
            Some((application_id, account_id)) => self.create_eab(account_id, application_id).await,
            None => Ok(None),
        }
    }

    /// The credentials of the contract of the account's record `application_id`.
    pub async fn eabs_of_contract(
        &self,
        account_id: i64,
        application_id: i64,
    ) -> Result<Vec<EabCredential>> {
        Ok(self
            .store
            .eabs_of_contract(account_id, application_id)
            .await?)
    }

    /// Every credential of a customer account, with its contract's code (the desk).
    pub async fn eabs_of_account(&self, account_id: i64) -> Result<Vec<(EabCredential, String)>> {
        Ok(self.store.eabs_of_account(account_id).await?)
    }

    /// Disables a credential of the account (the customer's own, or any for staff).
    pub async fn disable_eab(&self, kid: &str, actor: Actor) -> Result<bool> {
        let Some(e) = self.store.eab(kid).await? else {
            return Err(RaError::NotFound);
        };
        if let Actor::Customer(id) = actor
            && id != e.account_id
        {
            return Err(RaError::NotFound);
        }
        Ok(self.store.disable_eab(kid, actor, self.now()).await?)
    }

    /// The ACME account whose key has this RFC 7638 thumbprint.
    pub async fn acme_account_by_key(&self, thumbprint: &str) -> Result<Option<AcmeAccount>> {
        let a = self.store.acme_account_by_thumbprint(thumbprint).await?;
        Ok(a.map(|a| self.effective(a)))
    }

    /// The ACME account `id`.
    pub async fn acme_account(&self, id: i64) -> Result<Option<AcmeAccount>> {
        let a = self.store.acme_account(id).await?;
        Ok(a.map(|a| self.effective(a)))
    }

    /// Changes an ACME account (contact, deactivation, key rollover). `Ok(false)` if it
    /// was not valid; `Err(Conflict)` from the store if the new key has an account.
    pub async fn acme_update(
        &self,
        account: &AcmeAccount,
        change: &AcmeChange,
    ) -> Result<std::result::Result<bool, &'static str>> {
        match self
            .store
            .update_acme_account(
                account.id,
                change,
                Actor::Customer(account.account_id),
                self.now(),
            )
            .await
        {
            Ok(changed) => Ok(Ok(changed)),
            Err(shomei_store::StoreError::Conflict(_)) => {
                Ok(Err("an account already has the new key"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// An account whose credential was disabled, or whose contract has ended, is
    /// `revoked` (RFC 8555 7.1.2: deactivated by the server) and can do nothing more.
    fn effective(&self, mut a: AcmeAccount) -> AcmeAccount {
        if a.status == "valid" && (a.eab_disabled_at.is_some() || a.contract_ends_at <= self.now())
        {
            a.status = "revoked".into();
        }
        a
    }

    /// Registers an ACME account bound with an EAB credential (RFC 8555 7.3.4): the
    /// MAC must verify with the credential's key; the credential must be enabled, its
    /// contract running, and not yet bound. The front end has checked the account key's
    /// signature and that the binding's payload is that key.
    pub async fn acme_register(
        &self,
        account: &NewAcmeAccount,
        eab: &EabBinding<'_>,
    ) -> Result<std::result::Result<AcmeAccount, EabRefusal>> {
        let Some(cred) = self.store.eab(eab.kid).await? else {
            return Ok(Err(EabRefusal::UnknownKid));
        };
        let algorithm = match eab.alg {
            "HS256" => ring::hmac::HMAC_SHA256,
            "HS384" => ring::hmac::HMAC_SHA384,
            "HS512" => ring::hmac::HMAC_SHA512,
            _ => return Ok(Err(EabRefusal::BadMac)),
        };
        let key_b64 = self
            .policy
            .secrets
            .open(&eab_context(&cred.kid), &cred.hmac_key)?;
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key_b64.trim_end_matches('='))
            .map_err(|_| RaError::Corrupt(format!("eab {}: key", cred.kid)))?;
        let key = ring::hmac::Key::new(algorithm, &key);
        if ring::hmac::verify(&key, eab.signing_input, eab.mac).is_err() {
            return Ok(Err(EabRefusal::BadMac));
        }
        if cred.disabled_at.is_some() {
            return Ok(Err(EabRefusal::Disabled));
        }
        if cred.contract_ends_at <= self.now() {
            return Ok(Err(EabRefusal::ContractEnded));
        }
        if cred.acme_account.is_some() {
            return Ok(Err(EabRefusal::KidUsed));
        }
        let id = match self
            .store
            .create_acme_account(account, &cred, self.now())
            .await
        {
            Ok(id) => id,
            Err(shomei_store::StoreError::Conflict(what)) if what == "kid" => {
                return Ok(Err(EabRefusal::KidUsed));
            }
            Err(e) => return Err(e.into()),
        };
        self.acme_account(id)
            .await?
            .map(Ok)
            .ok_or(RaError::NotFound)
    }
}
