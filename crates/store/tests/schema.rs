//! Issue #12 (backups and upgrades): a database migrated by a newer Shomei is refused
//! with a clear message instead of being misread, on every backend; a current one opens.

use shomei_store::testing::backends;
use shomei_store::{Store, StoreError};

#[tokio::test]
async fn issue12_a_database_newer_than_the_binary_is_refused_with_a_clear_message() {
    for db in backends().await {
        // Opening again an up-to-date database works and applies nothing.
        Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        // A newer Shomei applied migration 9999.
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)")
            .execute(db.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        match Store::connect(&db.url).await {
            Err(e @ StoreError::NewerSchema { database: 9999, .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains("9999") && text.contains("newer Shomei"),
                    "{}: {text}",
                    db.name
                );
            }
            other => panic!("{}: a newer schema was not refused: {other:?}", db.name),
        }
    }
}

/// Issue #11 item 4 (SQLite migration 0026, PostgreSQL 0025): the pre-built OCSP
/// responses of a database from before are kept under their certificate's row and
/// served as before; a response of a serial never issued is not carried over.
#[tokio::test]
async fn issue11_an_upgrade_keeps_each_ocsp_response_with_its_certificate() {
    use shomei_store::ocsp::CertState;
    use sqlx::Connection;
    let der = vec![0x30, 0x03, 0x0a, 0x01, 0x00];
    for old in shomei_store::testing::old_schemas(25, 24).await {
        let mut conn = sqlx::AnyConnection::connect(&old.url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        // The record and application rows are not part of this: their keys unchecked.
        let off = match old.name {
            "sqlite" => "PRAGMA foreign_keys = OFF",
            _ => "SET session_replication_role = replica",
        };
        sqlx::raw_sql(off)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        sqlx::query("INSERT INTO certificates (issuer, serial, application_id, status, not_before, not_after, spki_sha256, created_at, issued_at) VALUES ('server', '7a01', 1, 'issued', 0, 4000000000, 'k', 0, 0)")
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        for serial in ["7a01", "7aff"] {
            sqlx::query("INSERT INTO ocsp_responses (issuer, serial, this_update, next_update, der, states) VALUES ('server', $1, 100, 4000000000, $2, 'good')")
                .bind(serial)
                .bind(der.clone())
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        }
        conn.close()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));

        let store = shomei_store::Store::connect(&old.url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        let (state, stored) = store
            .ocsp_lookup("server", "7a01", 200)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        assert_eq!(state, CertState::Good, "{}", old.name);
        let stored = stored.unwrap_or_else(|| panic!("{}: the response was lost", old.name));
        assert_eq!((stored.der, stored.this_update), (der.clone(), 100));
        assert_eq!(
            store
                .cached_ocsp("server", "7a01", 200)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", old.name)),
            Some(der.clone())
        );
        assert_eq!(
            store
                .cached_ocsp("server", "7aff", 200)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", old.name)),
            None
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ocsp_responses")
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", old.name));
        assert_eq!(rows, 1, "{}", old.name);
    }
}
