//! Test support: the same tests run on every backend.
//!
//! SQLite always runs, in a temporary directory. PostgreSQL runs when
//! `SHOMEI_TEST_POSTGRES_URL` names a server (e.g. `postgres://postgres@127.0.0.1:5432/test`):
//! each call creates a fresh database on it. Under `CI=true` that variable is required —
//! a missing PostgreSQL is a failure, never a silent skip.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::Store;

/// A store and what keeps it alive.
pub struct TestDb {
    /// The store.
    pub store: Store,
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    /// The URL it was opened with.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// Opens a fresh store on every configured backend.
pub async fn backends() -> Vec<TestDb> {
    let mut out = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        out.push(pg);
    }
    out
}

/// A fresh SQLite store in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}?mode=rwc", dir.path().join("shomei.db").display());
    TestDb {
        store: Store::connect(&url).await.expect("sqlite"),
        name: "sqlite",
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, if configured.
pub async fn postgres() -> Option<TestDb> {
    let url = empty_postgres().await?;
    Some(TestDb {
        store: Store::connect(&url).await.expect("postgres"),
        name: "postgres",
        url,
        _dir: None,
    })
}

/// The URL of a new empty PostgreSQL database, if configured.
async fn empty_postgres() -> Option<String> {
    let base = match std::env::var("SHOMEI_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but SHOMEI_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run in CI"
                );
            }
            return None;
        }
    };
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut admin = sqlx::AnyConnection::connect(&base)
        .await
        .expect("connect to SHOMEI_TEST_POSTGRES_URL");
    let mut rnd = [0u8; 8];
    getrandom::fill(&mut rnd).expect("random");
    let db = format!("shomei_test_{}", hex::encode(rnd));
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .await
        .expect("create database");
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains("://") && i > base.find("://").unwrap_or(0) + 2 => {
            format!("{}/{db}", &base[..i])
        }
        _ => format!("{base}/{db}"),
    };
    Some(url)
}

/// A database without the newest migrations, to test an upgrade: open it with
/// [`Store::connect`], which applies the rest.
pub struct OldDb {
    /// `sqlite` or `postgres`.
    pub name: &'static str,
    /// Its URL.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// On every configured backend, a new database with the migrations up to `sqlite` or
/// `postgres` (their versions) applied, as a Shomei of that time left it.
pub async fn old_schemas(sqlite: i64, postgres: i64) -> Vec<OldDb> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut out = vec![OldDb {
        name: "sqlite",
        url: format!("sqlite:{}?mode=rwc", dir.path().join("old.db").display()),
        _dir: Some(dir),
    }];
    if let Some(url) = empty_postgres().await {
        out.push(OldDb {
            name: "postgres",
            url,
            _dir: None,
        });
    }
    for db in &out {
        let (list, upto) = match db.name {
            "sqlite" => (crate::MIGRATIONS_SQLITE, sqlite),
            _ => (crate::MIGRATIONS_POSTGRES, postgres),
        };
        let mut conn = sqlx::AnyConnection::connect(&db.url)
            .await
            .expect("connect");
        sqlx::raw_sql("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .execute(&mut conn)
            .await
            .expect("schema_migrations");
        for (version, sql) in list.iter().filter(|(v, _)| *v <= upto) {
            sqlx::raw_sql(sql)
                .execute(&mut conn)
                .await
                .expect("migration");
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
                .bind(*version)
                .execute(&mut conn)
                .await
                .expect("version");
        }
    }
    out
}

/// One application for [`bulk_applications`] (tests and the search benchmark): only
/// what the list and search look at.
#[derive(Debug, Clone)]
pub struct BulkApp {
    /// お申込種別 code.
    pub kind: &'static str,
    /// Service code.
    pub service: &'static str,
    /// Status code.
    pub status: &'static str,
    /// サーバタイプ code.
    pub server_type: &'static str,
    /// 申請組織名.
    pub org_name: String,
    /// The DNS names (the first is the サーバ名).
    pub names: Vec<String>,
    /// お申込日.
    pub created_at: i64,
    /// 更新日.
    pub updated_at: i64,
    /// Downloaded (証明書ダウンロード).
    pub downloaded: bool,
    /// クーポン番号.
    pub coupon: Option<String>,
    /// Contract: (starts, ends); its code is assigned.
    pub contract: Option<(i64, i64)>,
    /// Certificate: (issued_at, not_after).
    pub cert: Option<(i64, i64)>,
}

const CSR_FILLER: &str = concat!(
    "-----BEGIN CERTIFICATE REQUEST-----\n",
    "MIICuzCCAaMCAQAwHjEcMBoGA1UEAwwTd3d3LmV4YW1wbGUuZXhhbXBsZTCCASIw",
    "DQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAL7oNQaHwWcDqTPeIJ6l7Ln0EXAM",
    "PLEFILLERFORBENCHMARKSANDTESTSONLYxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "-----END CERTIFICATE REQUEST-----\n",
);

/// Inserts applications directly (one transaction per 1,000), with their contracts and
/// certificates. Returns their ids in order.
pub async fn bulk_applications(
    store: &Store,
    account_id: i64,
    rows: &[BulkApp],
) -> crate::Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(1000) {
        let mut tx = store.begin().await?;
        for r in chunk {
            let mut d = shomei_model::details::ApplicationDetails::default();
            d.organisation.name = r.org_name.clone();
            d.organisation.country = "JP".into();
            let details = serde_json::to_value(&d).map_err(crate::StoreError::corrupt)?;
            let contract_id: Option<i64> = match r.contract {
                Some((starts, ends)) => {
                    let id: i64 = sqlx::query_scalar("INSERT INTO contracts (account_id, service, term_years, contract_type, starts_at, ends_at, created_at) VALUES ($1, $2, 1, 'fixed', $3, $4, $3) RETURNING id")
                        .bind(account_id)
                        .bind(r.service)
                        .bind(starts)
                        .bind(ends)
                        .fetch_one(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE contracts SET code = $2 WHERE id = $1")
                        .bind(id)
                        // The code issuance gives the id, so real contracts made
                        // later never collide with these.
                        .bind(
                            shomei_model::ContractCode::for_sequence(id)
                                .map(|c| c.as_str().to_owned())
                                .unwrap_or_else(|| format!("X{id}")),
                        )
                        .execute(&mut *tx)
                        .await?;
                    Some(id)
                }
                None => None,
            };
            let id: i64 = sqlx::query_scalar("INSERT INTO applications (account_id, contract_id, kind, service, term_years, contract_type, status, server_type, csr_pem, common_name, names, spki_sha256, key_desc, details, created_at, updated_at, downloaded_at, coupon, org_name, contract_code, contract_ends_at, cert_issued_at, cert_not_after) VALUES ($1, $2, $3, $4, 1, 'fixed', $5, $6, $18, $7, $8, 'bulk', 'ECDSA P-256', $9, $10, $11, $12, $13, $14, (SELECT code FROM contracts WHERE id = $2), $15, $16, $17) RETURNING id")
                .bind(account_id)
                .bind(contract_id)
                .bind(r.kind)
                .bind(r.service)
                .bind(r.status)
                .bind(r.server_type)
                .bind(r.names.first().cloned().unwrap_or_default())
                .bind(r.names.join(" "))
                .bind(details.to_string())
                .bind(r.created_at)
                .bind(r.updated_at)
                .bind(r.downloaded.then_some(r.updated_at))
                .bind(r.coupon.clone())
                .bind(&r.org_name)
                .bind(r.contract.map(|c| c.1))
                .bind(r.cert.map(|c| c.0))
                .bind(r.cert.map(|c| c.1))
                // As wide as a real record: a CSR is about 1 KB of PEM.
                .bind(CSR_FILLER)
                .fetch_one(&mut *tx)
                .await?;
            if let Some((issued_at, not_after)) = r.cert {
                sqlx::query("INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, issued_at) VALUES ('server', $1, $2, 'issued', $3, $4, 'bulk', $3, $3)")
                    .bind(format!("b{id:015x}"))
                    .bind(id)
                    .bind(issued_at)
                    .bind(not_after)
                    .execute(&mut *tx)
                    .await?;
            }
            ids.push(id);
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// Inserts `count` revoked, issued certificates of the issuing CA under application
/// `application_id` (for CRL tests and benchmarks): spread over CRL shards
/// `0..shards` by number (`shards == 0`: on the undivided CRL, -1), revoked at
/// `revoked_at` with the BR's reasons in turn, expiring at `not_after`.
pub async fn bulk_revoked(
    store: &Store,
    application_id: i64,
    count: usize,
    shards: i64,
    revoked_at: crate::Ts,
    not_after: crate::Ts,
) -> crate::Result<()> {
    const ROWS: usize = 500;
    let base: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
        .fetch_one(store.pool())
        .await?;
    let mut done = 0;
    while done < count {
        let mut tx = store.begin().await?;
        for _ in 0..20 {
            let n = ROWS.min(count - done);
            if n == 0 {
                break;
            }
            let values: Vec<String> = (0..n)
                .map(|i| {
                    let k = base as usize + done + i;
                    let shard = if shards > 0 { (k as i64) % shards } else { -1 };
                    let reason = [1, 4, 5, 0][k % 4];
                    format!(
                        "('server', '7f{k:030x}', {application_id}, 'issued', {revoked_at}, {not_after}, 'bulk', {revoked_at}, {revoked_at}, {revoked_at}, {reason}, {shard})"
                    )
                })
                .collect();
            sqlx::query(&format!(
                "INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, issued_at, revoked_at, revocation_reason, crl_shard) VALUES {}",
                values.join(", ")
            ))
            .execute(&mut *tx)
            .await?;
            done += n;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Inserts `count` live, issued certificates of the issuing CA under application
/// `application_id` (for mass-revocation tests and benchmarks), all with the key hash
/// `spki`, spread over CRL shards `0..shards`, valid until `not_after`. Returns their
/// serials.
pub async fn bulk_issued(
    store: &Store,
    application_id: i64,
    count: usize,
    shards: i64,
    spki: &str,
    not_after: crate::Ts,
) -> crate::Result<Vec<String>> {
    const ROWS: usize = 500;
    let base: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
        .fetch_one(store.pool())
        .await?;
    let mut serials = Vec::with_capacity(count);
    let mut tx = store.begin().await?;
    while serials.len() < count {
        let n = ROWS.min(count - serials.len());
        let values: Vec<String> = (0..n)
            .map(|i| {
                let k = base as usize + serials.len() + i;
                let shard = if shards > 0 { (k as i64) % shards } else { -1 };
                format!(
                    "('server', '7e{k:030x}', {application_id}, 'issued', 0, {not_after}, $1, 0, 0, {shard})"
                )
            })
            .collect();
        sqlx::query(&format!(
            "INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, issued_at, crl_shard) VALUES {}",
            values.join(", ")
        ))
        .bind(spki)
        .execute(&mut *tx)
        .await?;
        let start = base as usize + serials.len();
        serials.extend((start..start + n).map(|k| format!("7e{k:030x}")));
    }
    tx.commit().await?;
    Ok(serials)
}

/// Copies application `id` `count` times (every column but its id and draft), each copy
/// in `status` (for issuance benchmarks: many records awaiting their certificate).
/// Returns the copies' ids in order.
pub async fn clone_application(
    store: &Store,
    id: i64,
    count: usize,
    status: &str,
) -> crate::Result<Vec<i64>> {
    let sql = match store.backend() {
        crate::Backend::Sqlite => "SELECT name FROM pragma_table_info('applications')",
        crate::Backend::Postgres => {
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'applications' AND table_schema = current_schema()"
        }
    };
    let columns: Vec<String> = sqlx::query_scalar(sql).fetch_all(store.pool()).await?;
    let columns: Vec<String> = columns
        .into_iter()
        .filter(|c| c != "id" && c != "draft_id")
        .collect();
    let list = columns.join(", ");
    let copy = format!(
        "INSERT INTO applications ({list}) SELECT {} FROM applications WHERE id = $1 RETURNING id",
        columns
            .iter()
            .map(|c| if c == "status" { "$2" } else { c.as_str() })
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut ids = Vec::with_capacity(count);
    while ids.len() < count {
        let mut tx = store.begin().await?;
        for _ in 0..1000.min(count - ids.len()) {
            let new: i64 = sqlx::query_scalar(&copy)
                .bind(id)
                .bind(status)
                .fetch_one(&mut *tx)
                .await?;
            ids.push(new);
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// Application `i` of `n` in a large account's history up to `now` (search and portal
/// benchmarks): kinds, statuses, services and server types in turn, 5,000
/// organisations, two names each, about 2,000 days of records, every eleventh with a
/// coupon, completed ones with a contract and a certificate.
pub fn sample_app(i: i64, n: i64, now: i64) -> BulkApp {
    const DAY: i64 = 86_400;
    let kinds = [
        "new",
        "renewal",
        "reissue",
        "contact_change",
        "continuation",
    ];
    let statuses = [
        "completed",
        "completed",
        "completed",
        "received",
        "withdrawn",
    ];
    let types = ["apache", "nginx", "iis", "appliance", "other"];
    let k = usize::try_from(i % 5).unwrap_or(0);
    let done = statuses[k] == "completed";
    let created = now - (n - i) * (2_000 * DAY / n.max(1));
    BulkApp {
        kind: kinds[k],
        service: if i % 3 == 0 { "EV2.0" } else { "SR3.0" },
        status: statuses[k],
        server_type: types[k],
        org_name: format!("組織{:05} 株式会社", i % 5_000),
        names: vec![format!("www{i}.example.jp"), format!("api{i}.example.jp")],
        created_at: created,
        updated_at: created + (i % 30) * DAY,
        downloaded: i % 2 == 0,
        coupon: (i % 11 == 0).then(|| format!("C{i:07}")),
        contract: done.then_some((created, created + 400 * DAY + (i % 3) * 365 * DAY)),
        cert: done.then_some((created, created + 200 * DAY)),
    }
}
