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
    Some(TestDb {
        store: Store::connect(&url).await.expect("postgres"),
        name: "postgres",
        url,
        _dir: None,
    })
}
