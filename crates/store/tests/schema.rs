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
