//! Shomei's persistence. The database is the source of truth: every state change is one
//! transaction together with its audit event (and, where it causes side effects, its
//! jobs).
//!
//! One implementation serves SQLite and PostgreSQL through `sqlx::Any`: the SQL is
//! shared, the few dialect differences are branches on [`Backend`], and each backend has
//! its own migrations (see `docs/architecture.md` for why this departs from "one
//! implementation per backend").
#![deny(missing_docs)]

pub mod account_info;
pub mod acme;
pub mod acme_orders;
pub mod acme_records;
pub mod applications;
pub mod audit;
pub mod backup;
pub mod certificates;
pub mod client_certs;
pub mod contracts;
pub mod coupons;
pub mod crls;
pub mod domain_checks;
pub mod exec;
pub mod instances;
pub mod issuance;
pub mod issuance_read;
pub mod jobs;
pub mod mass_revocations;
pub mod metrics;
pub mod ocsp;
pub mod otp;
pub mod principals;
pub mod record_changes;
pub mod reminders;
pub mod revocations;
pub mod search;
pub mod sessions;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

pub use applications::{Application, ApplicationList, Draft, NewApplication, Validation};
pub use audit::AuditEvent;
pub use certificates::CertificateRecord;
pub use principals::{Account, Credentials, NewPrincipal, Realm, StaffMember};
pub use sessions::Session;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use thiserror::Error;

/// Storage errors. Never shown to customers as such.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// SQLite's own writer (exec.rs) failed.
    #[error("database: {0}")]
    Lite(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A uniqueness rule refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The coupon chosen is not (or no longer) usable for this application.
    #[error("coupon not available")]
    CouponUnavailable,
    /// The operation is not available on this backend.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The database URL is not understood.
    #[error("unsupported database URL (use sqlite:PATH or postgres://…)")]
    BadUrl,
    /// The database was migrated by a newer Shomei than this binary (issue #12): this
    /// binary would misread it, so it refuses to start.
    #[error(
        "the database's schema is version {database}, newer than this binary's ({binary}): run the newer Shomei, or restore a backup made by this version"
    )]
    NewerSchema {
        /// The highest migration applied to the database.
        database: i64,
        /// The highest migration this binary knows.
        binary: i64,
    },
    /// The database belongs to another CA's keys (issue #12): an instance whose PKI is
    /// not the one the database was first used with refuses to start.
    #[error(
        "this database belongs to the CA whose root certificate has SHA-256 {database}, but this instance's PKI has {local}: every instance on one database must share the same PKI (the data directory's pki/ files)"
    )]
    ForeignPki {
        /// The root fingerprint recorded in the database.
        database: String,
        /// This instance's root fingerprint.
        local: String,
    },
}

impl StoreError {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(what.to_string())
    }
    /// Whether the database could not be reached (down, restarting, the network cut,
    /// every connection busy past the pool's wait): the request may succeed later, and
    /// nothing was written (issue #12: pages answer 503, not 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_),
            ) => true,
            // PostgreSQL: connection exceptions (08…), shutting down or starting (57P…).
            // SQLite (numeric, extended codes): disk full (13), I/O error (10).
            StoreError::Db(sqlx::Error::Database(e)) => e.code().is_some_and(|c| {
                c.starts_with("08")
                    || c.starts_with("57P")
                    || (c.len() < 5 && c.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 10 | 13)))
            }),
            StoreError::Lite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure
            ),
            _ => false,
        }
    }

    /// Whether the error is a unique-constraint violation.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Conflict(_) => true,
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StoreError::Lite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: the embedded default.
    Sqlite,
    /// PostgreSQL: production, several instances.
    Postgres,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Connections for reads outside a transaction. SQLite: up to
    /// [`SQLITE_READERS`] read-only connections beside the single writer (WAL lets them
    /// read while it writes), so a page or an issuance's checks never queue behind a
    /// group commit. PostgreSQL: the same pool.
    read: AnyPool,
    backend: Backend,
    /// The database URL (for PostgreSQL's LISTEN connection); never printed.
    url: Redacted,
    /// Totals of the application list, kept until they could change (search.rs).
    counts: std::sync::Arc<search::Counts>,
    /// This process's name as the owner of jobs and leases (instances.rs): random at
    /// each start, so a restarted process never mistakes its predecessor's work for its own.
    instance: std::sync::Arc<str>,
    /// Seconds a claimed job stays this instance's without a heartbeat (jobs.rs).
    job_lease: i64,
    /// SQLite's writer of its own for issuance's group writes (exec.rs); `None` on
    /// PostgreSQL and for an in-memory or read-only SQLite database.
    lite: Option<exec::LiteWriter>,
    /// SQLite's read-only connections of its own for reads on the CPU pool (exec.rs);
    /// `None` on PostgreSQL and for an in-memory database.
    lite_read: Option<exec::LiteReaders>,
}

/// A value kept out of `Debug` output (the database URL may carry a password).
#[derive(Clone)]
struct Redacted(std::sync::Arc<str>);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

#[rustfmt::skip]
const MIGRATIONS_SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_revocation.sql")),
    (3, include_str!("../migrations/sqlite/0003_ocsp.sql")),
    (4, include_str!("../migrations/sqlite/0004_documents.sql")),
    (5, include_str!("../migrations/sqlite/0005_reissue.sql")),
    (6, include_str!("../migrations/sqlite/0006_reminders.sql")),
    (7, include_str!("../migrations/sqlite/0007_coupons.sql")),
    (8, include_str!("../migrations/sqlite/0008_client_revocations.sql")),
    (9, include_str!("../migrations/sqlite/0009_search.sql")),
    (10, include_str!("../migrations/sqlite/0010_account_info.sql")),
    (11, include_str!("../migrations/sqlite/0011_otp.sql")),
    (12, include_str!("../migrations/sqlite/0012_issuance_error.sql")),
    (13, include_str!("../migrations/sqlite/0013_documents.sql")),
    (14, include_str!("../migrations/sqlite/0014_acme.sql")),
    (15, include_str!("../migrations/sqlite/0015_ari.sql")),
    (16, include_str!("../migrations/sqlite/0016_acme_orders.sql")),
    (17, include_str!("../migrations/sqlite/0017_domain_challenges.sql")),
    (18, include_str!("../migrations/sqlite/0018_ocsp_memory.sql")),
    (19, include_str!("../migrations/sqlite/0019_crl_shards.sql")),
    (20, include_str!("../migrations/sqlite/0020_mass_revocations.sql")),
    (21, include_str!("../migrations/sqlite/0021_list_count.sql")),
    (22, include_str!("../migrations/sqlite/0022_instances.sql")),
    (23, include_str!("../migrations/sqlite/0023_crl_dirty_mark.sql")),
    (24, include_str!("../migrations/sqlite/0024_acme_nonces_and_orders.sql")),
    (25, include_str!("../migrations/sqlite/0025_search_index_in_place.sql")),
    (26, include_str!("../migrations/sqlite/0026_ocsp_by_certificate.sql")),
];
#[rustfmt::skip]
const MIGRATIONS_POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_revocation.sql")),
    (3, include_str!("../migrations/postgres/0003_ocsp.sql")),
    (4, include_str!("../migrations/postgres/0004_documents.sql")),
    (5, include_str!("../migrations/postgres/0005_reissue.sql")),
    (6, include_str!("../migrations/postgres/0006_reminders.sql")),
    (7, include_str!("../migrations/postgres/0007_coupons.sql")),
    (8, include_str!("../migrations/postgres/0008_client_revocations.sql")),
    (9, include_str!("../migrations/postgres/0009_search.sql")),
    (10, include_str!("../migrations/postgres/0010_account_info.sql")),
    (11, include_str!("../migrations/postgres/0011_otp.sql")),
    (12, include_str!("../migrations/postgres/0012_issuance_error.sql")),
    (13, include_str!("../migrations/postgres/0013_documents.sql")),
    (14, include_str!("../migrations/postgres/0014_acme.sql")),
    (15, include_str!("../migrations/postgres/0015_ari.sql")),
    (16, include_str!("../migrations/postgres/0016_acme_orders.sql")),
    (17, include_str!("../migrations/postgres/0017_domain_challenges.sql")),
    (18, include_str!("../migrations/postgres/0018_ocsp_memory.sql")),
    (19, include_str!("../migrations/postgres/0019_crl_shards.sql")),
    (20, include_str!("../migrations/postgres/0020_mass_revocations.sql")),
    (21, include_str!("../migrations/postgres/0021_list_count.sql")),
    (22, include_str!("../migrations/postgres/0022_instances.sql")),
    (23, include_str!("../migrations/postgres/0023_crl_dirty_mark.sql")),
    (24, include_str!("../migrations/postgres/0024_acme_nonces_and_orders.sql")),
    (25, include_str!("../migrations/postgres/0025_ocsp_by_certificate.sql")),
];

/// Unix seconds.
pub type Ts = i64;

/// How many read-only connections SQLite opens beside its writer.
pub const SQLITE_READERS: u32 = 4;

impl Store {
    /// Connects to `url` (`sqlite:PATH` or `postgres://…`) and runs the migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl);
        };
        let opts = AnyConnectOptions::from_str(url)?;
        let pool = match backend {
            // One connection: SQLite serialises writers anyway, and a single connection
            // can never meet SQLITE_BUSY on a read-to-write upgrade.
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(1)
                    // A file on this machine does not go away like a server: no ping (a
                    // round trip to the connection's thread) before each use.
                    .test_before_acquire(false)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA busy_timeout = 5000").await?;
                            // Statement journals, sorts and RETURNING rows stay in memory
                            // (as files they cost a write per page: issue #11).
                            conn.execute("PRAGMA temp_store = MEMORY").await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    // While the database is unreachable a request fails after this
                    // (a 503 page) instead of hanging; the pool reconnects by itself
                    // once it is back.
                    .acquire_timeout(std::time::Duration::from_secs(5))
                    .connect_with(opts)
                    .await?
            }
        };
        let mut store = Store {
            read: pool.clone(),
            pool,
            backend,
            url: Redacted(url.into()),
            counts: Default::default(),
            instance: instances::new_instance_id().into(),
            job_lease: jobs::JOB_LEASE_SECONDS,
            lite: None,
            lite_read: None,
        };
        store.migrate().await?;
        // Readers open after the migrations (the file and its WAL mode exist). An
        // in-memory database is private to its one connection: no readers.
        if backend == Backend::Sqlite && !url.contains(":memory:") && !url.contains("mode=memory") {
            store.read = AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA query_only = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                        Ok(())
                    })
                })
                .connect_with(AnyConnectOptions::from_str(url)?)
                .await?;
            store.lite_read = Some(exec::LiteReaders::new(sqlite_path(url)));
            if !url.contains("mode=ro") {
                store.lite = Some(exec::LiteWriter::open(sqlite_path(url))?);
            }
        }
        Ok(store)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for the few callers that need raw access (tests, benchmarks).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            // Several instances may start at once on one database.
            conn.execute("SELECT pg_advisory_lock(7355608)").await?;
        }
        let result = async {
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
                .await?;
            let list = match self.backend {
                Backend::Sqlite => MIGRATIONS_SQLITE,
                Backend::Postgres => MIGRATIONS_POSTGRES,
            };
            let binary = list.iter().map(|(v, _)| *v).max().unwrap_or(0);
            let database: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
                .fetch_one(&mut *conn)
                .await?;
            if let Some(database) = database.filter(|d| *d > binary) {
                return Err(StoreError::NewerSchema { database, binary });
            }
            let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
                .fetch_all(&mut *conn)
                .await?;
            let pending: Vec<&(i64, &str)> =
                list.iter().filter(|(v, _)| !applied.contains(v)).collect();
            if pending.is_empty() {
                return Ok(());
            }
            // Every pending migration in one transaction: a crash or a failing
            // migration leaves the schema as it was, never half-way.
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for (version, sql) in pending {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(*version)
                    .bind(0_i64)
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(version, "applying migration");
            }
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(7355608)").await?;
        }
        result
    }

    /// The pool for reads outside a transaction (read-only connections on SQLite).
    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            // The write lock at BEGIN (issue #12, found by the soak): a deferred
            // transaction that reads and then writes fails with SQLITE_BUSY_SNAPSHOT
            // ("database is locked", not retried) when another process — a CLI command
            // beside `serve` — wrote in between; IMMEDIATE waits its turn instead.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Refreshes the planner's statistics (`ANALYZE`; SQLite's `PRAGMA optimize`), so
    /// searches keep using the right indexes as accounts grow (on PostgreSQL also a
    /// `VACUUM`, so counts are answered from the index). Run daily by `serve`.
    pub async fn optimize(&self) -> Result<()> {
        let sql: &[&str] = match self.backend {
            // The new statistics reach the read-only connections when their schema is
            // read again: a schema change (this table made anew) makes each do so
            // before its next statement (else they would plan with the old ones).
            Backend::Sqlite => &[
                "PRAGMA optimize=0x10002",
                "DROP TABLE IF EXISTS planner_epoch",
                "CREATE TABLE planner_epoch (at INTEGER)",
            ],
            // The certificates too: statistics for OCSP, CRL and mass-revocation queries, and
            // the visibility map, so a CRL shard reads its entries from the index alone.
            Backend::Postgres => &[
                "VACUUM (ANALYZE) applications",
                "VACUUM (ANALYZE) certificates",
            ],
        };
        for s in sql {
            sqlx::query(s).execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// The file of a `sqlite:` URL (`sqlite:PATH?…` or `sqlite://PATH?…`).
fn sqlite_path(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    path.strip_prefix("//").unwrap_or(path)
}

pub(crate) fn flag(v: i64) -> bool {
    v != 0
}
