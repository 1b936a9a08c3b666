//! What front ends may read, and the few records of what they saw (downloads, denied
//! access, the system's start and stop). The store itself is the RA's alone: every
//! front end (portal, desk, CLI, and the ACME and JSON APIs to come) reads through
//! these calls and writes only through the RA's operations, each with its audit event.

use crate::{Ra, Result};
use shomei_model::Actor;
use shomei_store::CertificateRecord;
use shomei_store::applications::Validation;
use shomei_store::contracts::ContractCert;
use shomei_store::coupons::Coupon;
use shomei_store::domain_checks::DomainCheck;
use shomei_store::otp::OtpSettings;
use shomei_store::record_changes::DocumentInfo;
use shomei_store::search::Search;
use shomei_store::{
    Account, Application, ApplicationList, AuditEvent, Credentials, Realm, StaffMember,
};

/// Read-only calls that pass straight to the store, each documented once here.
macro_rules! reads {
    ($( $(#[$m:meta])* fn $name:ident($($arg:ident: $t:ty),*) -> $ret:ty; )*) => {
        impl Ra {
            $(
                $(#[$m])*
                pub async fn $name(&self, $($arg: $t),*) -> Result<$ret> {
                    Ok(self.store.$name($($arg),*).await?)
                }
            )*
        }
    };
}

reads! {
    /// The login credentials' state of a principal (initial password, locked, disabled).
    fn credentials(realm: Realm, id: i64) -> Option<Credentials>;
    /// The application `id` if it is `account_id`'s.
    fn application_of(account_id: i64, id: i64) -> Option<Application>;
    /// Any application (staff).
    fn application(id: i64) -> Option<Application>;
    /// お申込一覧 and 検索 (R-LS1–R-LS4): one page of the account's records.
    fn search_applications(account_id: i64, s: &Search, offset: i64, limit: i64) -> ApplicationList;
    /// The desk's queue: applications waiting for staff.
    fn open_applications(limit: i64) -> Vec<Application>;
    /// A customer account.
    fn account(id: i64) -> Option<Account>;
    /// Accounts whose organisation, e-mail, access key or dealer code contains `text`.
    fn find_accounts(text: &str, limit: i64) -> Vec<Account>;
    /// An account made recently with this organisation and e-mail, if any (its key).
    fn recent_account_like(org: &str, email: &str, since: i64) -> Option<String>;
    /// The account by its access key.
    fn account_by_access_key(key: &str) -> Option<Account>;
    /// A staff member by login.
    fn staff_by_login(login: &str) -> Option<StaffMember>;
    /// The account's one-time-password settings (R-L6).
    fn otp_settings(account_id: i64) -> Option<OtpSettings>;
    /// The documents submitted with an application.
    fn documents_of(application_id: i64) -> Vec<DocumentInfo>;
    /// One submitted document with its bytes.
    fn document(application_id: i64, id: i64) -> Option<(DocumentInfo, Vec<u8>)>;
    /// The validations staff recorded for an application.
    fn validations_of(application_id: i64) -> Vec<Validation>;
    /// Whether a revocation request for this record is waiting.
    fn revocation_pending(target_id: i64) -> bool;
    /// The certificate issued for an application.
    fn issued_certificate(application_id: i64) -> Option<CertificateRecord>;
    /// The serial rows of an application's certificates: (id, serial, state).
    fn certificate_rows(application_id: i64) -> Vec<(i64, String, String)>;
    /// The contract's period (start, end) of the record's contract.
    fn contract_period(application_id: i64) -> Option<(i64, i64)>;
    /// Every certificate of the record's contract (the coverage timeline).
    fn contract_certificates(application_id: i64) -> Vec<ContractCert>;
    /// The recent domain checks of a customer account (failed ones only if asked).
    fn domain_checks_of(account_id: i64, failed_only: bool, limit: i64) -> Vec<DomainCheck>;
    /// The records that continue this one (its successors in the lineage): (id, kind).
    fn successors(id: i64) -> Vec<(i64, String)>;
    /// The latest audit events about `subject`.
    fn recent_events_for(subject: &str, n: i64) -> Vec<AuditEvent>;
    /// Every audit event about `subject`.
    fn audit_events_for(subject: &str) -> Vec<AuditEvent>;
    /// The coupons issued most recently.
    fn recent_coupons(limit: i64) -> Vec<Coupon>;
    /// The numbers of one coupon batch.
    fn coupon_batch(batch: &str) -> Vec<String>;
}

impl Ra {
    /// Records that the customer downloaded `what` of an application (R-D2).
    pub async fn record_download(
        &self,
        account_id: i64,
        application_id: i64,
        what: &str,
    ) -> Result<()> {
        Ok(self
            .store
            .mark_downloaded(account_id, application_id, what, self.now())
            .await?)
    }

    /// Records a customer's attempt to open another account's record.
    pub async fn record_access_denied(&self, account_id: i64, application_id: i64) -> Result<()> {
        Ok(self
            .store
            .audit(&AuditEvent::new(
                self.now(),
                Actor::Customer(account_id),
                "access.denied",
                format!("application:{application_id}"),
                serde_json::json!({}),
            ))
            .await?)
    }

    /// Records a system event (`system.start`, `system.stop`) with its payload.
    pub async fn record_system_event(
        &self,
        action: &str,
        payload: serde_json::Value,
    ) -> Result<()> {
        Ok(self
            .store
            .audit(&AuditEvent::new(
                self.now(),
                Actor::System,
                action,
                "system",
                payload,
            ))
            .await?)
    }

    /// Puts jobs whose instance died (their lease expired) back in the queue; jobs
    /// another live instance runs keep their lease (issue #12). Returns how many.
    pub async fn requeue_expired_jobs(&self) -> Result<u64> {
        Ok(self.store.requeue_expired_jobs(self.now()).await?)
    }

    /// Runs `work` if this instance holds (or takes) the lease `name` for `seconds`,
    /// so periodic work runs in one instance at a time across instances on one database
    /// (issue #12); another instance takes it over once a dead holder's lease expires.
    /// `None` when another instance holds it.
    pub async fn run_with_lease<T, F>(&self, name: &str, seconds: i64, work: F) -> Result<Option<T>>
    where
        F: std::future::Future<Output = T>,
    {
        if self.store.try_lease(name, self.now(), seconds).await? {
            Ok(Some(work.await))
        } else {
            Ok(None)
        }
    }

    /// Gives up the leases this instance holds (at shutdown, so another instance takes
    /// their work over at once).
    pub async fn release_leases(&self, names: &[&str]) -> Result<()> {
        for n in names {
            self.store.release_lease(n).await?;
        }
        Ok(())
    }

    /// Records the CA this database belongs to (its root certificate's SHA-256) on first
    /// start, and refuses an instance with another PKI ([`shomei_store::StoreError::ForeignPki`]).
    pub async fn bind_ca(&self, root_der: &[u8]) -> Result<()> {
        Ok(self
            .store
            .bind_ca(&Ra::ca_fingerprint(root_der), self.now())
            .await?)
    }

    /// A root certificate's SHA-256, hex: the CA's name in `ca_identity` and backups.
    pub fn ca_fingerprint(root_der: &[u8]) -> String {
        hex::encode(ring::digest::digest(&ring::digest::SHA256, root_der))
    }

    /// A consistent copy of the SQLite database at `path`, checked (issue #12).
    pub async fn backup_to(
        &self,
        path: &std::path::Path,
    ) -> Result<shomei_store::backup::BackupInfo> {
        Ok(self.store.backup_to(path).await?)
    }

    /// After a restore: revocations the replaced database at `old` recorded after the
    /// backup are applied; certificates it issued after the backup are listed.
    pub async fn carry_over_from(
        &self,
        old: &std::path::Path,
    ) -> Result<shomei_store::backup::CarriedOver> {
        Ok(self.store.carry_over_from(old).await?)
    }

    /// Marks every CRL of the issuing CA for re-signing (after a restore: the next ones
    /// carry higher numbers than any published before).
    pub async fn mark_every_crl_stale(&self) -> Result<u64> {
        Ok(self.store.mark_every_crl_dirty(crate::SERVER_CA).await?)
    }

    /// This process's name as the owner of jobs and leases.
    pub fn instance_id(&self) -> &str {
        self.store.instance_id()
    }

    /// Refreshes the database's statistics for the query planner.
    pub async fn optimize_storage(&self) -> Result<()> {
        Ok(self.store.optimize().await?)
    }
}
