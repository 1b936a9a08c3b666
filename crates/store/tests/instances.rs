//! Issue #12 (several instances on one PostgreSQL): two stores opened on one database
//! stand for two instances. A job another live instance runs is never taken from it;
//! one whose instance died is taken over once its lease has expired; periodic work's
//! lease has one holder at a time; a database refuses an instance with another CA's PKI.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use shomei_store::jobs::{JOB_LEASE_SECONDS, enqueue};
use shomei_store::testing::backends;
use shomei_store::{Store, StoreError};

const T: i64 = 1_900_000_000;

async fn one_job(store: &Store) -> i64 {
    let mut tx = store.pool().begin().await.expect("begin");
    enqueue(&mut tx, "mail.test", &serde_json::json!({ "n": 1 }), T)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
    store.pending_jobs("mail.test").await.expect("pending")[0].id
}

#[tokio::test]
async fn issue12_a_running_job_is_taken_over_only_after_its_lease_expires() {
    for db in backends().await {
        let n = db.name;
        let a = &db.store;
        let b = Store::connect(&db.url).await.expect("second instance");
        assert_ne!(a.instance_id(), b.instance_id(), "{n}");
        let id = one_job(a).await;

        let job = a.claim_job(T).await.expect("claim").expect("a job");
        assert_eq!((job.id, job.attempts), (id, 1), "{n}");
        let (status, owner, lease, _) = a.job_state(id).await.expect("state").expect("row");
        assert_eq!(status, "running", "{n}");
        assert_eq!(owner.as_deref(), Some(a.instance_id()), "{n}");
        assert_eq!(lease, Some(T + JOB_LEASE_SECONDS), "{n}");

        // B starts (or runs its queue) while A's lease holds: the job stays A's.
        assert_eq!(
            b.requeue_expired_jobs(T + 10).await.expect("requeue"),
            0,
            "{n}"
        );
        assert!(b.claim_job(T + 10).await.expect("claim").is_none(), "{n}");
        // A's heartbeat moves the lease on; B still cannot take it after the first lease.
        assert!(a.renew_job_lease(id, T + 50).await.expect("renew"), "{n}");
        assert!(
            !b.renew_job_lease(id, T + 50).await.expect("renew"),
            "{n}: B renewed A's job"
        );
        assert_eq!(
            b.requeue_expired_jobs(T + JOB_LEASE_SECONDS + 10)
                .await
                .expect("requeue"),
            0,
            "{n}: a renewed lease was taken"
        );

        // A dies (no more heartbeats): once the lease has expired, B takes the job over.
        let expired = T + 50 + JOB_LEASE_SECONDS + 1;
        assert_eq!(
            b.requeue_expired_jobs(expired).await.expect("requeue"),
            1,
            "{n}"
        );
        let again = b
            .claim_job(expired)
            .await
            .expect("claim")
            .expect("the job again");
        assert_eq!((again.id, again.attempts), (id, 2), "{n}");
        // A comes back late: its outcome no longer counts; B's does.
        assert!(
            !a.finish_job(id, Ok(())).await.expect("finish"),
            "{n}: A finished B's job"
        );
        let (status, owner, _, _) = a.job_state(id).await.expect("state").expect("row");
        assert_eq!(
            (status.as_str(), owner.as_deref()),
            ("running", Some(b.instance_id())),
            "{n}"
        );
        assert!(b.finish_job(id, Ok(())).await.expect("finish"), "{n}");
        let (status, owner, lease, attempts) = b.job_state(id).await.expect("state").expect("row");
        assert_eq!(
            (status.as_str(), owner, lease, attempts),
            ("done", None, None, 2),
            "{n}"
        );
        // Done is done: nothing to claim or requeue.
        assert!(
            a.claim_job(expired + 1000).await.expect("claim").is_none(),
            "{n}"
        );
        assert_eq!(
            a.requeue_expired_jobs(expired + 1000)
                .await
                .expect("requeue"),
            0,
            "{n}"
        );
    }
}

#[tokio::test]
async fn issue12_a_job_whose_worker_keeps_dying_is_left_failed_after_ten_attempts() {
    for db in backends().await {
        let n = db.name;
        let id = one_job(&db.store).await;
        let mut now = T;
        for attempt in 1..=10 {
            let job = db.store.claim_job(now).await.expect("claim").expect("job");
            assert_eq!(job.attempts, attempt, "{n}");
            // The worker dies with it every time.
            now += JOB_LEASE_SECONDS + 1;
            assert_eq!(
                db.store.requeue_expired_jobs(now).await.expect("requeue"),
                1,
                "{n}"
            );
        }
        let (status, owner, _, attempts) =
            db.store.job_state(id).await.expect("state").expect("row");
        assert_eq!(
            (status.as_str(), owner, attempts),
            ("failed", None, 10),
            "{n}"
        );
        assert!(
            db.store.claim_job(now).await.expect("claim").is_none(),
            "{n}"
        );
    }
}

#[tokio::test]
async fn issue12_a_periodic_lease_has_one_holder_until_it_expires() {
    for db in backends().await {
        let n = db.name;
        let a = &db.store;
        let b = Store::connect(&db.url).await.expect("second instance");
        assert!(
            a.try_lease("maintenance", T, 300).await.expect("lease"),
            "{n}"
        );
        assert!(
            !b.try_lease("maintenance", T + 1, 300).await.expect("lease"),
            "{n}"
        );
        // Another lease is independent.
        assert!(
            b.try_lease("domain-checks", T + 1, 300)
                .await
                .expect("lease"),
            "{n}"
        );
        // The holder renews.
        assert!(
            a.try_lease("maintenance", T + 120, 300)
                .await
                .expect("lease"),
            "{n}"
        );
        assert!(
            !b.try_lease("maintenance", T + 400, 300)
                .await
                .expect("lease"),
            "{n}: renewed lease taken"
        );
        // The holder dies: after its lease, B takes over, and A (back) no longer holds it.
        assert!(
            b.try_lease("maintenance", T + 421, 300)
                .await
                .expect("lease"),
            "{n}"
        );
        assert!(
            !a.try_lease("maintenance", T + 422, 300)
                .await
                .expect("lease"),
            "{n}"
        );
        // Released at B's shutdown: A takes it at once.
        a.release_lease("maintenance")
            .await
            .expect("release (not held: nothing)");
        assert!(
            !a.try_lease("maintenance", T + 423, 300)
                .await
                .expect("lease"),
            "{n}"
        );
        b.release_lease("maintenance").await.expect("release");
        assert!(
            a.try_lease("maintenance", T + 424, 300)
                .await
                .expect("lease"),
            "{n}"
        );
    }
}

#[tokio::test]
async fn issue12_a_database_refuses_an_instance_with_another_pki() {
    for db in backends().await {
        let n = db.name;
        let ours = "aa".repeat(32);
        db.store.bind_ca(&ours, T).await.expect("first start binds");
        db.store
            .bind_ca(&ours.to_uppercase(), T + 1)
            .await
            .expect("same CA again");
        let b = Store::connect(&db.url).await.expect("second instance");
        match b.bind_ca(&"bb".repeat(32), T + 2).await {
            Err(e @ StoreError::ForeignPki { .. }) => {
                let text = e.to_string();
                assert!(
                    text.contains(&ours) && text.contains(&"bb".repeat(32)),
                    "{n}: {text}"
                );
            }
            other => panic!("{n}: another CA's PKI was not refused: {other:?}"),
        }
        b.bind_ca(&ours, T + 3)
            .await
            .expect("the right PKI still works");
    }
}

/// Issue #12 (storage failure): a full disk (SQLite's SQLITE_FULL, here by a page limit)
/// is "unavailable" — a 503 page, not a 500 — and so are connection errors; a
/// constraint violation is not.
#[tokio::test]
async fn issue12_a_full_database_is_unavailable_not_an_internal_error() {
    let db = shomei_store::testing::sqlite().await;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(db.store.pool())
        .await
        .expect("page_count");
    sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
        .execute(db.store.pool())
        .await
        .expect("limit");
    let err = sqlx::query("CREATE TABLE filler AS SELECT randomblob(1000000) AS b")
        .execute(db.store.pool())
        .await
        .map(|_| ())
        .map_err(StoreError::from)
        .expect_err("the database is full");
    assert!(err.is_unavailable(), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    let dup = sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)")
        .execute(db.store.pool())
        .await
        .map(|_| ())
        .map_err(StoreError::from)
        .expect_err("version 1 exists");
    assert!(!dup.is_unavailable() && dup.is_unique_violation(), "{dup}");
    assert!(StoreError::Db(sqlx::Error::PoolTimedOut).is_unavailable());
}

/// Issue #12 (found by the crash harness): a shard's "stale" mark is cleared only with
/// the CRL that holds its revocations. A revocation committed while the CRL is built
/// keeps it marked; a builder that dies before storing its CRL leaves it marked.
#[tokio::test]
async fn issue12_a_crl_shard_stays_stale_until_a_crl_after_its_last_revocation_is_stored() {
    use shomei_store::crls::StoredCrl;
    for db in backends().await {
        let (n, s) = (db.name, &db.store);
        let p = shomei_store::NewPrincipal {
            login: "CRLMARK1".into(),
            name: "テスト株式会社".into(),
            email: "ops@example.jp".into(),
            dealer_code: None,
            password_hash: "$argon2id$fake".into(),
            password_expires_at: 1_000,
            cert_serial: "5aCRLMARK1".into(),
            cert_subject: "CN=CRLMARK1".into(),
            cert_fingerprint: "fpCRLMARK1".into(),
        };
        let acct = s
            .create_principal(
                shomei_store::Realm::Customer,
                &p,
                shomei_model::Actor::Cli,
                10,
            )
            .await
            .expect("account");
        let rows: Vec<_> = (0..1)
            .map(|i| shomei_store::testing::sample_app(i, 1, T))
            .collect();
        let app = shomei_store::testing::bulk_applications(s, acct, &rows)
            .await
            .expect("application")[0];
        let serials = shomei_store::testing::bulk_issued(s, app, 3, 1, "k", T + 86_400)
            .await
            .expect("certificates");
        let revoke = |serial: String| async move {
            sqlx::query(
                "UPDATE certificates SET revoked_at = $2, revocation_reason = 4 WHERE serial = $1",
            )
            .bind(serial)
            .bind(T)
            .execute(s.pool())
            .await
            .expect("revoke");
        };
        let key = "server/0";
        let crl = |number| StoredCrl {
            number,
            this_update: T,
            next_update: T + 86_400,
            der: vec![0x30, 0x00],
        };
        revoke(serials[0].clone()).await;
        assert_eq!(
            s.dirty_crls("server").await.expect("dirty"),
            vec![key],
            "{n}"
        );
        // A builder reads the mark, then dies before storing its CRL: still stale.
        let mark = s.crl_dirty_mark(key).await.expect("mark");
        assert!(mark.is_some(), "{n}");
        let _lost = s.next_crl_number(key, 1).await.expect("number");
        assert_eq!(
            s.dirty_crls("server").await.expect("dirty"),
            vec![key],
            "{n}"
        );
        // The next builder reads the mark; a revocation commits while it signs: its CRL
        // is stored but the shard stays stale (that revocation is not on it).
        let mark = s.crl_dirty_mark(key).await.expect("mark");
        let number = s.next_crl_number(key, 1).await.expect("number");
        revoke(serials[1].clone()).await;
        assert!(
            s.save_crl(key, &crl(number), mark).await.expect("save"),
            "{n}"
        );
        assert_eq!(
            s.dirty_crls("server").await.expect("dirty"),
            vec![key],
            "{n}"
        );
        // A build after the last revocation clears it.
        let mark = s.crl_dirty_mark(key).await.expect("mark");
        let number = s.next_crl_number(key, 1).await.expect("number");
        assert!(
            s.save_crl(key, &crl(number), mark).await.expect("save"),
            "{n}"
        );
        assert!(
            s.dirty_crls("server").await.expect("dirty").is_empty(),
            "{n}"
        );
    }
}
