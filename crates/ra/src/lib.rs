//! Shomei's registration authority: the workflow of the manual (submit, review,
//! approve, issue) and the logins. It applies the rules of `shomei-model`, the CSR
//! checks of `shomei-ca`, and is the only caller of the signer.
//!
//! Every operation takes `now` from the injected [`Clock`] once, at its start.
//!
//! # The RA is the only door
//! The store is the RA's alone. Every front end — the portal and the desk (`shomei-web`),
//! the command line, and the ACME and JSON APIs to come — reads through the calls of
//! [`queries`] (and the read calls of the other modules) and changes state only through
//! the operations below, each of which writes its audit event in the same transaction.
//!
//! # Operations by module
//! | module | what the front ends call |
//! |---|---|
//! | [`drafts`] | `start_draft`, `open_draft` (→ [`drafts::Opened`]: open, or already submitted), `save_draft` |
//! | [`apply`] | `submit` (new, renewal, reissue, switch, continuation: takes the opened draft), `check_form`, `ApplicationForm::of_record` |
//! | [`contacts`] | `may_change_contacts`, `request_contact_change`, `complete_contact_change` |
//! | [`revoke`] | `may_revoke`, `request_revocation`, `request_cancellation`, `confirm_revocation`, `revocation_unreachable`, `revocation_denied`, `revocation_deadline` |
//! | [`crl`] | `refresh_crl`, `refresh_login_crl`, `refresh_stale_crls`, `current_crl`, `current_shard_crl`, `crl_of_certificate`, `crl_urls`, `current_login_crl` |
//! | [`issue`] | `approve`, `reject`, `withdraw`, `request_documents`, `documents_received`, `may_reissue`, `may_continue`, `continue_if_fresh`, `resume_interrupted_issuance`, `revoke_superseded` |
//! | [`contract`] | `import_contract`, `switch_targets`, `may_switch`, `may_renew` |
//! | [`documents`] | `submit_document` |
//! | [`coupons`] | `issue_coupons`, `coupons_of`, `usable_coupons` |
//! | [`account_info`] | `account_info`, `stage_account_info`, `register_account_info` |
//! | [`accounts`] | `create_account`, `create_staff`, `reset_initial_password`, `set_account_disabled`, `replace_login_certificate` |
//! | [`login`] | `login`, `otp_password_step`, `change_password` |
//! | [`otp`] | `set_login_method`, `otp_login_start`, `otp_login_finish`, `otp_enrolment`, `otp_challenge_kind`, `seal_totp_secrets` |
//! | [`sessions`] | `open_session`, `resume_session`, `logout`, `end_other_sessions` |
//! | [`queries`] | the read calls (`application_of`, `search_applications`, `open_applications`, `account`, `documents_of`, `issued_certificate`, `contract_certificates`, `audit_events_for`, …), `record_download`, `record_access_denied`, `record_system_event`, `requeue_expired_jobs`, `run_with_lease`, `bind_ca`, `optimize_storage` |
//! | [`ocsp`], [`ocsp_memory`] | `ocsp_reply`, `ocsp_answer`, `prebuild_ocsp`, `refresh_ocsp`, `fill_ocsp_memory`, `follow_status_changes` |
//! | [`seal`] | `seal` (the public seal page's facts) |
//! | [`mail`], [`reminders`] | `run_due_jobs`, `queue_reminders` |
//!
//! Input problems come back as [`field_issue::FieldIssue`]s (`Checked<T>`); audit actors
//! are [`shomei_model::Actor`]s.
#![deny(missing_docs)]

pub mod account_info;
pub mod accounts;
pub mod acme;
pub mod acme_orders;
pub mod acme_revoke;
pub mod apply;
pub mod ari;
pub mod contacts;
pub mod continuation;
pub mod contract;
pub mod coupons;
mod cpu_pool;
pub mod crl;
pub mod documents;
pub mod domain_checks;
pub mod drafts;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod field_issue;
pub mod form;
pub mod group_commit;
pub mod issue;
pub(crate) mod issue_writes;
pub mod login;
pub mod mail;
pub mod mass_revoke;
pub mod metrics;
pub mod nonce;
pub mod ocsp;
pub mod ocsp_memory;
pub mod otp;
pub mod password;
pub mod queries;
pub mod reminders;
pub mod revoke;
pub mod seal;
pub mod secrets;
pub mod sessions;
#[cfg(feature = "testing")]
pub mod testing;

use shomei_ca::IssuingCa;
use shomei_ca::pki::ClientCa;
use shomei_model::Clock;
use shomei_store::{Store, StoreError};
use std::sync::Arc;
use thiserror::Error;

impl RaError {
    /// Whether the database could not be reached (the request may succeed later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, RaError::Store(e) if e.is_unavailable())
    }
}

/// Errors of the workflow. The web layer turns them into pages.
#[derive(Debug, Error)]
pub enum RaError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The CA failed (never a customer's fault).
    #[error(transparent)]
    Ca(#[from] shomei_ca::CaError),
    /// Not found, or not this principal's.
    #[error("not found")]
    NotFound,
    /// The record's state does not allow this.
    #[error("not allowed in this state")]
    WrongState,
    /// A mail could not be built or sent.
    #[error("mail: {0}")]
    Mail(String),
    /// Input refused; the message key says why.
    #[error("invalid input: {0}")]
    Invalid(&'static str),
    /// Stored data no longer reads (never the customer's fault).
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, RaError>;

/// Settings of the workflow.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Failed logins in a row before an account locks (R-L4).
    pub lock_after: i64,
    /// Days an initial password stays valid (R-L3).
    pub initial_password_days: i64,
    /// Days a login certificate is valid.
    pub login_cert_days: i64,
    /// The organisation named in login certificates' issuer context (O of staff certs).
    pub operator_name: String,
    /// Subscriber key rules beyond the built-in ones (the Debian weak-key list), used by
    /// every CSR check: the form, submission and issuance.
    pub keys: Arc<shomei_ca::KeyPolicy>,
    /// The keys that encrypt secrets kept in the database (TOTP secrets) and sign ACME
    /// nonces (every instance must share them).
    pub secrets: Arc<secrets::SecretKeys>,
    /// How many CRL shards new certificates are spread over (issue #11).
    pub crl_shards: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            lock_after: 5,
            initial_password_days: 30,
            login_cert_days: 730,
            operator_name: "Shomei".into(),
            keys: Arc::default(),
            secrets: Arc::default(),
            crl_shards: crl::DEFAULT_CRL_SHARDS,
        }
    }
}

/// The registration authority.
#[derive(Clone)]
pub struct Ra {
    /// The store: the RA's alone (front ends read through [`queries`] and write only
    /// through the RA's operations).
    store: Store,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    pub(crate) server_ca: Arc<IssuingCa>,
    pub(crate) login_ca: Arc<ClientCa>,
    pub(crate) staff_ca: Arc<ClientCa>,
    pub(crate) ocsp: Option<Arc<shomei_ca::ocsp::OcspResponder>>,
    pub(crate) mail: Option<Arc<mail::MailSettings>>,
    /// The validation engine with its perspectives (issue #10); without it every
    /// domain check fails.
    pub(crate) validation: Option<Arc<shomei_validation::perspective::Corroborator>>,
    /// The ACME server's base URL (for CAA `accounturi`).
    pub(crate) acme_base: Option<String>,
    /// ACME rate limits.
    pub(crate) rate_limits: acme_orders::RateLimits,
    /// One CRL builder at a time (issue #11).
    pub(crate) crl_builder: Arc<crl::Builder>,
    /// The OCSP responder's memory (issue #11).
    pub(crate) ocsp_memory: Arc<ocsp_memory::OcspMemory>,
    /// Issuance's writes, shared by concurrent issuances (group commit, issue #11).
    pub(crate) issuance_writes:
        Arc<group_commit::GroupCommit<issue_writes::IssuanceWrite, issue_writes::IssuanceWritten>>,
    /// The same on SQLite's own writer, run after run on a blocking thread (issue #11).
    pub(crate) issuance_lane: Arc<
        group_commit::BlockingGroupCommit<
            issue_writes::IssuanceWrite,
            issue_writes::IssuanceWritten,
        >,
    >,
    /// ACME 発行 records made by finalize, shared by concurrent finalizes (group commit,
    /// issue #11).
    pub(crate) acme_records: Arc<
        group_commit::GroupCommit<
            (
                shomei_store::acme_orders::AcmeOrder,
                shomei_store::acme_orders::NewAcmeRecord,
                shomei_store::Ts,
            ),
            i64,
        >,
    >,
    /// ACME nonce uses, shared by concurrent requests (group commit, issue #11).
    pub(crate) nonce_uses: Arc<group_commit::GroupCommit<(String, shomei_store::Ts), bool>>,
    /// Set when the process is stopping (SIGTERM): workers finish the job in hand and
    /// claim no more (issue #12).
    pub(crate) stopping: Arc<std::sync::atomic::AtomicBool>,
    /// What `/metrics` counts (issue #12).
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Settings.
    pub policy: Policy,
}

impl std::fmt::Debug for Ra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ra")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The issuing CA's slug in the store and in URLs.
pub const SERVER_CA: &str = "server";

/// The login CA's slug in the store and in URLs (its CRL lists revoked login
/// certificates).
pub const LOGIN_CA: &str = "login";

impl Ra {
    /// The store, for tests that set up or inspect records directly.
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Ra {
    /// Wires the RA.
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        server_ca: IssuingCa,
        login_ca: ClientCa,
        staff_ca: ClientCa,
        policy: Policy,
    ) -> Ra {
        Ra {
            store,
            clock,
            server_ca: Arc::new(server_ca),
            login_ca: Arc::new(login_ca),
            staff_ca: Arc::new(staff_ca),
            ocsp: None,
            mail: None,
            validation: None,
            acme_base: None,
            rate_limits: acme_orders::RateLimits::default(),
            crl_builder: Arc::default(),
            ocsp_memory: Arc::new(ocsp_memory::OcspMemory::new(
                ocsp_memory::DEFAULT_OCSP_MEMORY_ENTRIES,
            )),
            issuance_writes: Arc::default(),
            issuance_lane: Arc::default(),
            nonce_uses: Arc::default(),
            acme_records: Arc::default(),
            stopping: Arc::default(),
            metrics: Arc::default(),
            policy,
        }
    }

    /// Adds mail delivery (SMTP or outbox) for the notice jobs.
    pub fn with_mail(mut self, settings: mail::MailSettings) -> Ra {
        self.mail = Some(Arc::new(settings));
        self
    }

    /// Adds the validation engine (the primary and remote perspectives).
    pub fn with_validation(
        mut self,
        corroborator: shomei_validation::perspective::Corroborator,
    ) -> Ra {
        self.validation = Some(Arc::new(corroborator));
        self
    }

    /// Tells the RA the ACME server's base URL (account URLs for CAA `accounturi`).
    pub fn with_acme_base(mut self, base: &str) -> Ra {
        self.acme_base = Some(base.to_owned());
        self
    }

    /// Sets the ACME rate limits.
    pub fn with_rate_limits(mut self, limits: acme_orders::RateLimits) -> Ra {
        self.rate_limits = limits;
        self
    }

    /// Sets how many OCSP responses memory holds (0: answer every request from the
    /// store).
    pub fn with_ocsp_memory(mut self, entries: usize) -> Ra {
        self.ocsp_memory = Arc::new(ocsp_memory::OcspMemory::new(entries));
        self
    }

    /// Adds the OCSP responder (the delegated responder of the issuing CA).
    pub fn with_ocsp(mut self, responder: shomei_ca::ocsp::OcspResponder) -> Ra {
        self.ocsp = Some(Arc::new(responder));
        self
    }

    /// The process is stopping: job workers finish the job in hand and claim no more.
    pub fn begin_shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether [`Ra::begin_shutdown`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }

    /// The issuing CA's certificate, PEM (the chain customers download).
    pub fn server_ca_pem(&self) -> String {
        self.server_ca.cert_pem()
    }

    /// The issuing CA's certificate, DER (served at the caIssuers URL).
    pub fn server_ca_der(&self) -> &[u8] {
        self.server_ca.cert_der()
    }
}

/// A random token of `n` bytes, URL-safe base64.
pub fn random_token(n: usize) -> Result<String> {
    use base64::Engine;
    let mut b = vec![0u8; n];
    shomei_ca::random_bytes(&mut b)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// A random string of `n` characters from `alphabet`, without modulo bias.
pub fn random_from(alphabet: &[u8], n: usize) -> Result<String> {
    let mut out = String::with_capacity(n);
    let limit = 256 - (256 % alphabet.len());
    while out.len() < n {
        let mut b = [0u8; 32];
        shomei_ca::random_bytes(&mut b)?;
        for x in b {
            if (x as usize) < limit && out.len() < n {
                out.push(alphabet[x as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}
