//! ACME orders (issue #10, RFC 8555 7.4–7.5): what an order may name (only its
//! contract's domains), domain validation by the validation engine from every network
//! perspective (BR 3.2.2.4.7/.19/.20, 3.2.2.9), CAA at finalize (BR 3.2.2.8), and
//! finalize through [`Ra::issue`] as an ACME 発行 record under the contract, with the
//! contract's validated organisation (which must be younger than the BR reuse period).

use crate::{Ra, RaError, Result};
use shomei_ca::check_csr_with;
use shomei_model::{Actor, ORG_REUSE_DAYS, domain_reuse_days};
use shomei_store::acme::AcmeAccount;
use shomei_store::acme_orders::{
    AcmeAuthz, AcmeChallenge, AcmeOrder, NewAcmeRecord, NewAuthz, NewOrder,
};
use shomei_store::domain_checks::NewDomainCheck;
use shomei_store::{Ts, Validation};
use shomei_validation::Check;

/// How long an order and its authorizations stay usable (seconds).
pub const ORDER_LIFETIME: i64 = 7 * 86_400;
/// At most this many names in one order (BR: a certificate names at most 100).
pub const MAX_IDENTIFIERS: usize = 100;

/// Rate limits (issue #10): per hour, per ACME account and per contract.
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// New orders per ACME account per hour.
    pub orders_per_account: i64,
    /// New orders per contract per hour.
    pub orders_per_contract: i64,
    /// Failed validations per ACME account per hour.
    pub failures_per_account: i64,
    /// Failed validations per contract per hour.
    pub failures_per_contract: i64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            orders_per_account: 300,
            orders_per_contract: 1000,
            failures_per_account: 30,
            failures_per_contract: 100,
        }
    }
}

/// The ACME error an operation ends with (RFC 8555 6.7); the front end makes the
/// problem document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcmeError {
    /// `rejectedIdentifier`.
    RejectedIdentifier,
    /// `unauthorized`.
    Unauthorized,
    /// `malformed`.
    Malformed,
    /// `orderNotReady`.
    OrderNotReady,
    /// `badCSR`.
    BadCsr,
    /// `caa`.
    Caa,
    /// `rateLimited`, with the seconds to wait.
    RateLimited(i64),
    /// `alreadyRevoked`.
    AlreadyRevoked,
    /// `badRevocationReason`.
    BadRevocationReason,
    /// No such resource for this account.
    NotFound,
}

/// An ACME error with its detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeRefusal {
    /// The type.
    pub error: AcmeError,
    /// Words a client's user can act on.
    pub detail: String,
}

impl AcmeRefusal {
    pub(crate) fn new(error: AcmeError, detail: impl Into<String>) -> AcmeRefusal {
        AcmeRefusal {
            error,
            detail: detail.into(),
        }
    }
}

/// A result that may be refused.
pub type Acme<T> = Result<std::result::Result<T, AcmeRefusal>>;

macro_rules! refuse {
    ($e:expr, $($arg:tt)*) => {
        return Ok(Err(AcmeRefusal::new($e, format!($($arg)*))))
    };
}
pub(crate) use refuse;

/// An order with its authorizations, statuses as clients see them (expiry applied).
#[derive(Debug, Clone)]
pub struct OrderView {
    /// The order.
    pub order: AcmeOrder,
    /// Its authorizations.
    pub authzs: Vec<AcmeAuthz>,
}

/// Whether `name` is one of the contract's names, or one label below a wildcard of it
/// (`*.example.jp` covers `www.example.jp` and `*.example.jp`, not `example.jp`).
pub fn contract_covers(contract_names: &[String], name: &str) -> bool {
    contract_names.iter().any(|c| {
        c == name
            || c.strip_prefix("*.").is_some_and(|base| {
                name.strip_suffix(base)
                    .and_then(|l| l.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty() && !label.contains('.'))
            })
    })
}

/// The problem JSON of a failed check, as stored on the challenge and the order.
fn failure_json(f: &shomei_validation::Failure) -> String {
    serde_json::json!({
        "type": format!("urn:ietf:params:acme:error:{}", f.kind.acme_type()),
        "detail": f.detail,
        "status": 400,
    })
    .to_string()
}

impl Ra {
    /// The contract's record customers manage it from, with its data.
    async fn contract_main(&self, contract_id: i64) -> Result<shomei_store::Application> {
        let id = self
            .store
            .contract_main_record(contract_id)
            .await?
            .ok_or(RaError::NotFound)?;
        self.store.application(id).await?.ok_or(RaError::NotFound)
    }

    /// The organisation (and EV) validations the contract's certificates rest on, if
    /// they are young enough to reuse (BR 4.2.1: 398 days; EV: 13 months, i.e. the
    /// same 398-day bound here).
    async fn fresh_org_validations(
        &self,
        main: &shomei_store::Application,
    ) -> Result<std::result::Result<Vec<(Validation, Option<i64>)>, String>> {
        let limit = self.now() - ORG_REUSE_DAYS * 86_400;
        let mut kinds = vec!["organization"];
        if main.service.is_ev() {
            kinds.push("ev");
        }
        let mut out = Vec::new();
        for kind in kinds {
            match self
                .store
                .latest_validation_with_staff(
                    main.account_id,
                    kind,
                    &main.details.organisation.name,
                )
                .await?
            {
                Some(v) if v.validation.validated_at > limit => {
                    out.push((v.validation, v.staff_id));
                }
                _ => {
                    return Ok(Err(format!(
                        "the {} validation of {} for contract {} is older than {ORG_REUSE_DAYS} days (BR 4.2.1): the CA's staff must validate it again before ACME can issue; ask them through the customer portal",
                        if kind == "ev" { "EV" } else { "organisation" },
                        main.details.organisation.name,
                        main.contract_code.as_deref().unwrap_or("-"),
                    )));
                }
            }
        }
        Ok(Ok(out))
    }

    /// Why ACME cannot issue for the contract of record `application_id` now (its
    /// organisation validation is too old), for the desk; `None` if it can.
    pub async fn acme_org_problem(&self, application_id: i64) -> Result<Option<String>> {
        let Some(app) = self.store.application(application_id).await? else {
            return Ok(None);
        };
        Ok(self.fresh_org_validations(&app).await?.err())
    }

    /// newOrder (RFC 8555 7.4): names only of the account's contract, the contract's
    /// organisation validation young enough, within the rate limits.
    pub async fn acme_new_order(
        &self,
        acct: &AcmeAccount,
        identifiers: &[String],
        replaces: Option<String>,
    ) -> Acme<i64> {
        let now = self.now();
        if identifiers.is_empty() || identifiers.len() > MAX_IDENTIFIERS {
            refuse!(
                AcmeError::Malformed,
                "an order names 1 to {MAX_IDENTIFIERS} DNS identifiers"
            );
        }
        let (mine, contract) = self.store.acme_orders_since(acct.id, now - 3600).await?;
        if mine >= self.rate_limits.orders_per_account
            || contract >= self.rate_limits.orders_per_contract
        {
            refuse!(
                AcmeError::RateLimited(3600),
                "too many new orders in the last hour ({} per account, {} per contract allowed)",
                self.rate_limits.orders_per_account,
                self.rate_limits.orders_per_contract
            );
        }
        let main = self.contract_main(acct.contract_id).await?;
        let code = main.contract_code.clone().unwrap_or_default();
        let mut names: Vec<String> = Vec::new();
        for raw in identifiers {
            let name = match shomei_ca::names::check_dns_name(raw) {
                Ok(n) => n,
                Err(e) => refuse!(
                    AcmeError::RejectedIdentifier,
                    "{raw:?} is not a name this CA issues for: {e}"
                ),
            };
            if !contract_covers(&main.names, &name) {
                refuse!(
                    AcmeError::RejectedIdentifier,
                    "{name} is not a domain of contract {code} (its names: {}); an ACME account may only order its contract's domains",
                    main.names.join(", ")
                );
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if let Err(why) = self.fresh_org_validations(&main).await? {
            refuse!(AcmeError::Unauthorized, "{why}");
        }
        if let Some(r) = &replaces
            && self.replaced_record(r, acct.contract_id).await?.is_none()
        {
            refuse!(
                AcmeError::Malformed,
                "replaces does not name a certificate of contract {code} (RFC 9773: base64url(authority key identifier) \".\" base64url(serial))"
            );
        }
        let reuse_since = now - domain_reuse_days(self.clock.now()) * 86_400;
        let mut authzs = Vec::new();
        for name in &names {
            let (domain, wildcard) = match name.strip_prefix("*.") {
                Some(base) => (base.to_owned(), true),
                None => (name.clone(), false),
            };
            let reused = self
                .store
                .passed_check(acct.contract_id, &domain, reuse_since)
                .await?
                // A wildcard needs dns-01 (RFC 8555 7.1.3); http and tls-alpn prove a host.
                .filter(|(m, _)| !wildcard || m == "dns-01");
            let challenges = if reused.is_some() {
                Vec::new()
            } else {
                let types: &[&str] = if wildcard {
                    &["dns-01"]
                } else {
                    &["http-01", "dns-01", "tls-alpn-01"]
                };
                let mut v = Vec::new();
                for t in types {
                    v.push(((*t).to_owned(), crate::random_token(32)?));
                }
                v
            };
            authzs.push(NewAuthz {
                domain,
                wildcard,
                reused,
                challenges,
            });
        }
        let id = self
            .store
            .create_order(
                &NewOrder {
                    acme_account_id: acct.id,
                    account_id: acct.account_id,
                    contract_id: acct.contract_id,
                    identifiers: names,
                    replaces,
                    expires_at: now + ORDER_LIFETIME,
                    authzs,
                },
                now,
            )
            .await?;
        Ok(Ok(id))
    }

    /// An order of this ACME account, statuses as of now.
    pub async fn acme_order(&self, acct: &AcmeAccount, id: i64) -> Result<Option<OrderView>> {
        let Some(mut order) = self.store.acme_order(id).await? else {
            return Ok(None);
        };
        if order.acme_account_id != acct.id {
            return Ok(None);
        }
        let now = self.now();
        if matches!(order.status.as_str(), "pending" | "ready") && order.expires_at <= now {
            order.status = "invalid".into();
        }
        let mut authzs = self.store.order_authzs(id).await?;
        for a in &mut authzs {
            if a.status == "pending" && a.expires_at <= now {
                a.status = "expired".into();
            }
        }
        Ok(Some(OrderView { order, authzs }))
    }

    /// The order ids of an ACME account (newest first).
    pub async fn acme_orders_of(&self, acct: &AcmeAccount) -> Result<Vec<i64>> {
        Ok(self.store.acme_orders_of(acct.id, 1000).await?)
    }

    /// An authorization of this ACME account with its challenges.
    pub async fn acme_authz(
        &self,
        acct: &AcmeAccount,
        id: i64,
    ) -> Result<Option<(AcmeAuthz, Vec<AcmeChallenge>)>> {
        let Some(mut authz) = self.store.acme_authz(id).await? else {
            return Ok(None);
        };
        let Some(order) = self.store.acme_order(authz.order_id).await? else {
            return Ok(None);
        };
        if order.acme_account_id != acct.id {
            return Ok(None);
        }
        if authz.status == "pending" && authz.expires_at <= self.now() {
            authz.status = "expired".into();
        }
        let challenges = self.store.authz_challenges(id).await?;
        Ok(Some((authz, challenges)))
    }

    /// Deactivates an authorization (RFC 8555 7.5.2).
    pub async fn acme_deactivate_authz(&self, acct: &AcmeAccount, id: i64) -> Result<bool> {
        let Some((authz, _)) = self.acme_authz(acct, id).await? else {
            return Err(RaError::NotFound);
        };
        Ok(self
            .store
            .deactivate_authz(&authz, acct.id, self.now())
            .await?)
    }

    /// A challenge of this ACME account with its authorization.
    pub async fn acme_challenge(
        &self,
        acct: &AcmeAccount,
        id: i64,
    ) -> Result<Option<(AcmeChallenge, AcmeAuthz)>> {
        let Some(ch) = self.store.acme_challenge(id).await? else {
            return Ok(None);
        };
        let Some((authz, _)) = self.acme_authz(acct, ch.authz_id).await? else {
            return Ok(None);
        };
        Ok(Some((ch, authz)))
    }

    /// The client asks the server to validate a challenge (RFC 8555 7.5.1): the check
    /// runs now, from every perspective, and its result is recorded on the challenge,
    /// the authorization, the order and the contract. A challenge that is not pending
    /// is returned as it is.
    pub async fn acme_respond(&self, acct: &AcmeAccount, id: i64) -> Acme<AcmeChallenge> {
        let Some((ch, authz)) = self.acme_challenge(acct, id).await? else {
            refuse!(AcmeError::NotFound, "no such challenge");
        };
        if ch.status != "pending" || authz.status != "pending" {
            return Ok(Ok(ch));
        }
        let now = self.now();
        let (mine, contract) = self.store.failed_checks_since(acct.id, now - 3600).await?;
        if mine >= self.rate_limits.failures_per_account
            || contract >= self.rate_limits.failures_per_contract
        {
            refuse!(
                AcmeError::RateLimited(3600),
                "too many failed validations in the last hour; fix the DNS records or web server and try again later"
            );
        }
        if !self.store.start_challenge(ch.id).await? {
            let ch = self
                .store
                .acme_challenge(id)
                .await?
                .ok_or(RaError::NotFound)?;
            return Ok(Ok(ch));
        }
        let key_authorization = format!("{}.{}", ch.token, acct.thumbprint);
        let domain = authz.domain.clone();
        let check = match ch.kind.as_str() {
            "http-01" => Check::Http01 {
                domain,
                token: ch.token.clone(),
                key_authorization,
            },
            "dns-01" => Check::Dns01 {
                domain,
                key_authorization,
            },
            _ => Check::TlsAlpn01 {
                domain,
                key_authorization,
            },
        };
        let result = self.corroborate(&check).await;
        let error = result.decision.as_ref().err().map(failure_json);
        let record = NewDomainCheck {
            account_id: acct.account_id,
            contract_id: Some(acct.contract_id),
            application_id: None,
            acme_account_id: Some(acct.id),
            domain: authz.domain.clone(),
            method: ch.kind.clone(),
            passed: result.passed(),
            detail: result
                .decision
                .as_ref()
                .err()
                .map(|f| f.detail.clone())
                .unwrap_or_default(),
            perspectives: result.perspectives_json(),
        };
        self.store
            .finish_challenge(&ch, &authz, &record, error.as_deref(), self.now())
            .await?;
        if !record.passed {
            self.store
                .note_failing_validation(
                    acct.contract_id,
                    &authz.domain,
                    &record.detail,
                    self.now(),
                )
                .await?;
        }
        let ch = self
            .store
            .acme_challenge(id)
            .await?
            .ok_or(RaError::NotFound)?;
        Ok(Ok(ch))
    }

    /// finalize (RFC 8555 7.4): the CSR must name exactly the order's names, pass the
    /// same checks as the portal's, and not use the account key; CAA must allow this CA
    /// from every perspective (BR 3.2.2.8); then the ACME 発行 record is made and issued
    /// by [`Ra::issue`]. Returns the order as it ends.
    pub async fn acme_finalize(
        &self,
        acct: &AcmeAccount,
        order_id: i64,
        csr_der: &[u8],
    ) -> Acme<OrderView> {
        let Some(view) = self.acme_order(acct, order_id).await? else {
            refuse!(AcmeError::NotFound, "no such order");
        };
        let order = &view.order;
        if order.status != "ready" {
            refuse!(
                AcmeError::OrderNotReady,
                "the order is {}, not ready: every authorization must be valid first",
                order.status
            );
        }
        let csr = match check_csr_with(csr_der, &self.policy.keys) {
            Ok(c) => c,
            Err(e) => refuse!(AcmeError::BadCsr, "the CSR is refused: {e}"),
        };
        let mut want = order.identifiers.clone();
        want.sort();
        let mut got = csr.names.clone();
        got.sort();
        if want != got {
            refuse!(
                AcmeError::BadCsr,
                "the CSR names {} but the order names {}",
                got.join(", "),
                want.join(", ")
            );
        }
        if shomei_ca::csr::spki_matches_jwk(&csr.spki_der, &acct.jwk) {
            refuse!(
                AcmeError::BadCsr,
                "the certificate key must not be the ACME account key (RFC 8555 11.1)"
            );
        }
        if self.store.is_key_blocked(&csr.spki_sha256).await? {
            refuse!(
                AcmeError::BadCsr,
                "the CSR's key was reported compromised and is blocked (BR 6.1.1.3)"
            );
        }
        let main = self.contract_main(order.contract_id).await?;
        let org = match self.fresh_org_validations(&main).await? {
            Ok(v) => v,
            Err(why) => refuse!(AcmeError::Unauthorized, "{why}"),
        };
        // CAA, within 8 hours before issuance (BR 3.2.2.8): now.
        let account_uri = self.acme_account_uri(acct.id);
        for a in &view.authzs {
            let check = Check::Caa {
                domain: a.domain.clone(),
                wildcard: a.wildcard,
                account_uri: account_uri.clone(),
                method: a.method.clone().unwrap_or_default(),
            };
            let r = self.corroborate(&check).await;
            if let Err(f) = &r.decision {
                self.store
                    .record_domain_check(
                        &NewDomainCheck {
                            account_id: acct.account_id,
                            contract_id: Some(acct.contract_id),
                            application_id: None,
                            acme_account_id: Some(acct.id),
                            domain: a.domain.clone(),
                            method: "caa".into(),
                            passed: false,
                            detail: f.detail.clone(),
                            perspectives: r.perspectives_json(),
                        },
                        Actor::Acme(acct.id),
                        self.now(),
                    )
                    .await?;
                refuse!(AcmeError::Caa, "{}", f.detail);
            }
        }
        let mut validations = org;
        for a in &view.authzs {
            validations.push((
                Validation {
                    kind: "domain".into(),
                    subject: if a.wildcard {
                        format!("*.{}", a.domain)
                    } else {
                        a.domain.clone()
                    },
                    method: format!("acme-{}", a.method.as_deref().unwrap_or("reused")),
                    validated_at: a.validated_at.unwrap_or_else(|| self.now()),
                },
                None,
            ));
        }
        // The predecessor in the contract's lineage: the certificate this one replaces
        // (RFC 9773), else the contract's latest certificate.
        let predecessor = match &order.replaces {
            Some(r) => self.replaced_record(r, order.contract_id).await?,
            None => None,
        };
        let predecessor = match predecessor {
            Some(p) => p,
            None => self
                .store
                .contract_latest_certificate(order.contract_id)
                .await?
                .unwrap_or(main.id),
        };
        let record = NewAcmeRecord {
            order_id,
            target_id: predecessor,
            csr_pem: csr.pem.clone(),
            names: csr.names.clone(),
            spki_sha256: csr.spki_sha256.clone(),
            key_desc: csr.key.describe(),
            details: main.details.clone(),
            validations,
        };
        // Concurrent finalizes make their records in one transaction (group commit).
        let store = self.store.clone();
        let made = self
            .acme_records
            .submit(
                (order.clone(), record, self.now()),
                move |group: Vec<(AcmeOrder, NewAcmeRecord, Ts)>| {
                    let store = store.clone();
                    async move { Ok(store.create_acme_records(&group).await?) }
                },
            )
            .await;
        let app_id = match made {
            Ok(id) => id,
            Err(RaError::Store(shomei_store::StoreError::Conflict(_))) => {
                refuse!(AcmeError::OrderNotReady, "the order is no longer ready")
            }
            Err(e) => return Err(e),
        };
        // On success the order became valid in the issuance's own transaction.
        match self.issue(app_id, Actor::Acme(acct.id)).await {
            Ok(_) => {}
            Err(e) => {
                let p = serde_json::json!({
                    "type": "urn:ietf:params:acme:error:serverInternal",
                    "detail": format!("issuance failed: {e}"),
                    "status": 500,
                })
                .to_string();
                self.store.end_order(order_id, Some(&p)).await?;
                tracing::error!(order_id, app_id, "ACME issuance failed: {e}");
            }
        }
        let view = self
            .acme_order(acct, order_id)
            .await?
            .ok_or(RaError::NotFound)?;
        Ok(Ok(view))
    }

    /// The certificate of a valid order, with the issuing CA (PEM chain).
    pub async fn acme_certificate(
        &self,
        acct: &AcmeAccount,
        order_id: i64,
    ) -> Result<Option<String>> {
        let Some(view) = self.acme_order(acct, order_id).await? else {
            return Ok(None);
        };
        let Some(app_id) = view.order.application_id else {
            return Ok(None);
        };
        let Some(cert) = self.store.issued_certificate(app_id).await? else {
            return Ok(None);
        };
        let Some(pem) = cert.pem else { return Ok(None) };
        Ok(Some(format!("{}{}", pem, self.server_ca_pem())))
    }

    /// The record of the certificate an RFC 9773 identifier names, if it is one of the
    /// contract's.
    async fn replaced_record(&self, cert_id: &str, contract_id: i64) -> Result<Option<i64>> {
        let Ok((cert, _)) = self.certificate_of_ari_id(cert_id).await? else {
            return Ok(None);
        };
        let code_of = |id: i64| async move {
            Ok::<_, RaError>(
                self.store
                    .application(id)
                    .await?
                    .and_then(|a| a.contract_code),
            )
        };
        let ours = match self.store.contract_main_record(contract_id).await? {
            Some(m) => code_of(m).await?,
            None => None,
        };
        let same = ours.is_some() && code_of(cert.application_id).await? == ours;
        Ok(same.then_some(cert.application_id))
    }

    /// The URL of an ACME account as RFC 8657's `accounturi` names it, if the ACME
    /// front end told the RA its base.
    pub fn acme_account_uri(&self, id: i64) -> Option<String> {
        self.acme_base
            .as_ref()
            .map(|b| format!("{}/acme/acct/{id}", b.trim_end_matches('/')))
    }
}
