//! The portal's domain validation (issue #10): after a submission the customer sees a
//! random value for each domain and where to put it — a TXT record at
//! `_validation-shomei.DOMAIN` (BR 3.2.2.4.7) or a file at
//! `http://DOMAIN/.well-known/pki-validation/shomei-ID.txt` (BR 3.2.2.4.18; not for a
//! wildcard's base). The validation engine checks them, from every perspective, when
//! the customer presses 確認する, when staff ask, and periodically; each result is
//! recorded. Staff approve a domain by `dns-change` or `http-file` only on a passed check.

use crate::{Ra, RaError, Result};
use shomei_model::Actor;
use shomei_store::Application;
use shomei_store::domain_checks::{DomainChallenge, NewDomainCheck};
use shomei_validation::Check;
use shomei_validation::perspective::Corroboration;

/// How long a random value may be used (BR 3.2.2.4.7/.18: 30 days).
pub const VALUE_LIFETIME: i64 = 30 * 86_400;

/// The file name of the HTTP method for an application.
pub fn file_name(application_id: i64) -> String {
    format!("shomei-{application_id}.txt")
}

/// The domains to validate for a set of certificate names: each name's base (a
/// wildcard's base once), and whether only DNS may validate it (a wildcard).
pub fn domains_of(names: &[String]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for n in names {
        let (base, wild) = match n.strip_prefix("*.") {
            Some(b) => (b.to_owned(), true),
            None => (n.clone(), false),
        };
        match out.iter_mut().find(|(d, _)| *d == base) {
            Some(e) => e.1 |= wild,
            None => out.push((base, wild)),
        }
    }
    out
}

impl Ra {
    /// Whether the record's domains are validated by the engine now (an open portal
    /// record that asks for a certificate).
    pub fn wants_domain_checks(app: &Application) -> bool {
        app.kind.portal_certificate() && app.status.is_open()
    }

    /// The domains of the record with their random values (made on first need, renewed
    /// once expired) and latest checks. Empty for a record that needs none.
    pub async fn domain_challenges(&self, app: &Application) -> Result<Vec<DomainChallenge>> {
        if !Self::wants_domain_checks(app) {
            return Ok(Vec::new());
        }
        let mut fresh = Vec::new();
        for (d, _) in domains_of(&app.names) {
            fresh.push((d, crate::random_token(20)?));
        }
        Ok(self
            .store
            .domain_challenges(app.id, &fresh, self.now(), VALUE_LIFETIME)
            .await?)
    }

    /// 確認する: checks every domain of the record not yet passed, from every
    /// perspective — the TXT record first, then the file (not for a wildcard's base) —
    /// and records each result. Returns the domains as they stand.
    pub async fn check_domains(
        &self,
        app: &Application,
        actor: Actor,
    ) -> Result<Vec<DomainChallenge>> {
        if !Self::wants_domain_checks(app) {
            return Err(RaError::WrongState);
        }
        let wild: Vec<(String, bool)> = domains_of(&app.names);
        for c in self.domain_challenges(app).await? {
            if c.passed.is_some() || c.expires_at <= self.now() {
                continue;
            }
            let dns_only = wild.iter().any(|(d, w)| *d == c.domain && *w);
            let mut checks = vec![Check::DnsTxt {
                domain: c.domain.clone(),
                value: c.value.clone(),
            }];
            if !dns_only {
                checks.push(Check::HttpFile {
                    domain: c.domain.clone(),
                    file: file_name(app.id),
                    value: c.value.clone(),
                });
            }
            for check in checks {
                let r = self.corroborate(&check).await;
                let passed = r.passed();
                let detail = r
                    .decision
                    .as_ref()
                    .err()
                    .map(|f| f.detail.clone())
                    .unwrap_or_default();
                self.store
                    .record_domain_check(
                        &NewDomainCheck {
                            account_id: app.account_id,
                            contract_id: None,
                            application_id: Some(app.id),
                            acme_account_id: None,
                            domain: c.domain.clone(),
                            method: check.method().to_owned(),
                            passed,
                            detail,
                            perspectives: r.perspectives_json(),
                        },
                        actor,
                        self.now(),
                    )
                    .await?;
                if passed {
                    break;
                }
            }
        }
        self.domain_challenges(app).await
    }

    /// The periodic check: the domains of up to `limit` open records that have not
    /// passed yet. Returns how many records were checked.
    pub async fn check_pending_domains(&self, limit: i64) -> Result<usize> {
        let ids = self
            .store
            .applications_awaiting_domain_checks(self.now(), limit)
            .await?;
        let mut n = 0;
        for id in ids {
            if let Some(app) = self.store.application(id).await?
                && Self::wants_domain_checks(&app)
            {
                self.check_domains(&app, Actor::System).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Runs a check from every perspective. Without a validation engine (not
    /// configured) every check fails: nothing is ever taken on trust.
    pub async fn corroborate(&self, check: &Check) -> Corroboration {
        match &self.validation {
            Some(c) => c.check(check, self.now()).await,
            None => {
                let f = shomei_validation::Failure {
                    kind: shomei_validation::FailureKind::Connection,
                    detail: "this CA has no validation engine configured".into(),
                };
                Corroboration {
                    primary: Err(f.clone()),
                    remotes: Vec::new(),
                    decision: Err(f),
                }
            }
        }
    }
}

impl Ra {
    /// Whether CAA forbids issuing the application's names (each refusal is recorded
    /// as a failed check the desk lists, with what the perspectives saw).
    pub(crate) async fn caa_refused(
        &self,
        app: &shomei_store::Application,
        actor: Actor,
    ) -> Result<bool> {
        let methods = self.store.validations_of(app.id).await?;
        let mut refused = false;
        for name in &app.names {
            let (domain, wildcard) = match name.strip_prefix("*.") {
                Some(b) => (b.to_owned(), true),
                None => (name.clone(), false),
            };
            let method = methods
                .iter()
                .find(|v| v.kind == "domain" && v.subject == *name)
                .map(|v| v.method.split(':').next().unwrap_or_default().to_owned())
                .unwrap_or_default();
            let check = shomei_validation::Check::Caa {
                domain: domain.clone(),
                wildcard,
                account_uri: None,
                method,
            };
            let r = self.corroborate(&check).await;
            if let Err(f) = &r.decision {
                refused = true;
                tracing::warn!(application_id = app.id, %name, "CAA: {}", f.detail);
                self.store
                    .record_domain_check(
                        &shomei_store::domain_checks::NewDomainCheck {
                            account_id: app.account_id,
                            contract_id: None,
                            application_id: Some(app.id),
                            acme_account_id: None,
                            domain,
                            method: "caa".into(),
                            passed: false,
                            detail: f.detail.clone(),
                            perspectives: r.perspectives_json(),
                        },
                        actor,
                        self.now(),
                    )
                    .await?;
            }
        }
        Ok(refused)
    }
}
