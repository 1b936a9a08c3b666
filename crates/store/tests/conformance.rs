//! Store conformance: the same tests on SQLite and PostgreSQL.

use shomei_model::Actor;
use shomei_model::details::ApplicationDetails;
use shomei_model::{AppKind, AppStatus, ContractType, ServerType, Service};
use shomei_store::certificates::{Completion, LintedCert, NewContract};
use shomei_store::testing::backends;
use shomei_store::{AuditEvent, Draft, NewApplication, NewPrincipal, Realm, Store, Validation};

async fn account(s: &Store, key: &str) -> i64 {
    let p = NewPrincipal {
        login: key.into(),
        name: "テスト株式会社".into(),
        email: "ops@example.jp".into(),
        dealer_code: None,
        password_hash: "$argon2id$fake".into(),
        password_expires_at: 1_000,
        cert_serial: format!("5a{key}"),
        cert_subject: format!("CN={key}"),
        cert_fingerprint: format!("fp{key}"),
    };
    s.create_principal(Realm::Customer, &p, shomei_model::Actor::Cli, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn new_app(account_id: i64, draft: &str) -> NewApplication {
    NewApplication {
        account_id,
        draft_id: draft.into(),
        kind: AppKind::New,
        service: Service::Sr30,
        term_years: 1,
        contract_type: ContractType::FixedTerm,
        server_type: ServerType::Nginx,
        csr_pem: "-----BEGIN CERTIFICATE REQUEST-----".into(),
        common_name: "www.example.jp".into(),
        names: vec!["www.example.jp".into(), "example.jp".into()],
        spki_sha256: "ab".into(),
        key_desc: "RSA 2048".into(),
        details: ApplicationDetails::default(),
        target_id: None,
        reissue_revoke: None,
        coupon: None,
    }
}

async fn draft(s: &Store, account_id: i64, id: &str) {
    let d = Draft {
        id: id.into(),
        account_id,
        kind: AppKind::New,
        data: "{}".into(),
        step: "confirm".into(),
        application_id: None,
    };
    s.create_draft(&d, 20)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn access_keys_are_unique() {
    for db in backends().await {
        let s = &db.store;
        account(s, "AAAA1111").await;
        let again = NewPrincipal {
            login: "AAAA1111".into(),
            name: "x".into(),
            email: "x@example.jp".into(),
            dealer_code: None,
            password_hash: "h".into(),
            password_expires_at: 0,
            cert_serial: "s".into(),
            cert_subject: "s".into(),
            cert_fingerprint: "f".into(),
        };
        let err = s
            .create_principal(Realm::Customer, &again, shomei_model::Actor::Cli, 11)
            .await;
        assert!(err.is_err_and(|e| e.is_unique_violation()), "{}", db.name);
    }
}

/// R-A4: submitting the same draft twice gives one application.
#[tokio::test]
async fn r_a4_double_submit_gives_one_application() {
    for db in backends().await {
        let s = &db.store;
        let a = account(s, "BBBB2222").await;
        draft(s, a, "d1").await;
        let (id1, created1) = s
            .submit_application(&new_app(a, "d1"), 30)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (id2, created2) = s
            .submit_application(&new_app(a, "d1"), 31)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((id1, created1, created2), (id2, true, false), "{}", db.name);
        // Concurrent submits of another draft.
        draft(s, a, "d2").await;
        let (n1, n2) = (new_app(a, "d2"), new_app(a, "d2"));
        let (r1, r2) = tokio::join!(s.submit_application(&n1, 40), s.submit_application(&n2, 40));
        let (r1, r2) = (
            r1.unwrap_or_else(|e| panic!("{e}")),
            r2.unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(r1.0, r2.0, "{}", db.name);
        assert!(r1.1 ^ r2.1, "exactly one created on {}", db.name);
        let list = s
            .applications_of(a, 0, 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(list.total, 2, "{}", db.name);
        // The staff notice was queued once per application, in the same transaction.
        assert_eq!(
            s.pending_jobs("mail.staff_new_application")
                .await
                .map(|j| j.len())
                .ok(),
            Some(2)
        );
        // A submitted draft can no longer change.
        assert_eq!(
            s.update_draft(a, "d1", "{}", "input", 50).await.ok(),
            Some(false)
        );
    }
}

#[tokio::test]
async fn another_accounts_application_is_not_found() {
    for db in backends().await {
        let s = &db.store;
        let a = account(s, "CCCC3333").await;
        let b = account(s, "DDDD4444").await;
        draft(s, a, "da").await;
        let (id, _) = s
            .submit_application(&new_app(a, "da"), 30)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.application_of(a, id).await.is_ok_and(|x| x.is_some()));
        assert!(
            s.application_of(b, id).await.is_ok_and(|x| x.is_none()),
            "{}",
            db.name
        );
        assert!(s.draft(b, "da").await.is_ok_and(|x| x.is_none()));
    }
}

#[tokio::test]
async fn issuance_cycle_and_contract_code() {
    for db in backends().await {
        let s = &db.store;
        let a = account(s, "EEEE5555").await;
        draft(s, a, "de").await;
        let (id, _) = s
            .submit_application(&new_app(a, "de"), 30)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let staff = NewPrincipal {
            login: "reviewer".into(),
            name: "審査 太郎".into(),
            email: "ra@example.jp".into(),
            dealer_code: None,
            password_hash: "h".into(),
            password_expires_at: 0,
            cert_serial: "s1".into(),
            cert_subject: "CN=reviewer".into(),
            cert_fingerprint: "f1".into(),
        };
        let staff_id = s
            .create_principal(Realm::Staff, &staff, shomei_model::Actor::Cli, 11)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.staff_by_login("reviewer")
                .await
                .ok()
                .flatten()
                .map(|m| m.id),
            Some(staff_id)
        );
        let v = [Validation {
            kind: "domain".into(),
            subject: "www.example.jp".into(),
            method: "dns-txt".into(),
            validated_at: 40,
        }];
        assert_eq!(
            s.approve_application(id, staff_id, &v, 41).await.ok(),
            Some(true),
            "{}",
            db.name
        );
        assert_eq!(
            s.approve_application(id, staff_id, &v, 41).await.ok(),
            Some(false),
            "approve twice"
        );
        let linted = LintedCert {
            issuer: "server".into(),
            serial: "5a01".into(),
            application_id: id,
            not_before: 50,
            not_after: 60,
            spki_sha256: "ab".into(),
            crl_shard: 0,
            tbs: b"tbs".to_vec(),
            actor: shomei_model::Actor::Staff(1),
            at: 42,
        };
        let cert_id = s
            .write_issuances(std::slice::from_ref(&linted), &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .0[0];
        // Step 4 stores the serial and the linted TBS before anything is signed (BR
        // 7.1.2.7 via CA-RULES "store the serial before signing"; BR 4.3.1.2 lint first;
        // docs/issuance-cycle.md).
        let tbs_of = |cert_id: i64| async move {
            sqlx::query_scalar::<_, Option<Vec<u8>>>("SELECT tbs FROM certificates WHERE id = $1")
                .bind(cert_id)
                .fetch_one(s.pool())
                .await
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(tbs_of(cert_id).await, Some(b"tbs".to_vec()), "{}", db.name);
        // Serials are unique per issuer: a group holding a used one is refused whole.
        let other = LintedCert {
            serial: "5a02".into(),
            ..linted.clone()
        };
        let dup = s.write_issuances(&[other, linted], &[]).await;
        assert!(dup.is_err_and(|e| e.is_unique_violation()), "{}", db.name);
        assert_eq!(
            s.certificate_rows(id).await.map(|r| r.len()).ok(),
            Some(1),
            "nothing of the refused group stored ({})",
            db.name
        );
        let c = NewContract {
            account_id: a,
            service: Service::Sr30,
            term_years: 1,
            contract_type: ContractType::FixedTerm,
            starts_at: 42,
            ends_at: 1000,
        };
        let completion = Completion {
            cert_id,
            issuer: "server".into(),
            application_id: id,
            serial: "5a01".into(),
            der: b"der".to_vec(),
            contract: Some(c),
            supersede: None,
            ocsp: None,
            actor: shomei_model::Actor::Staff(1),
            at: 43,
        };
        let code = s
            .write_issuances(&[], std::slice::from_ref(&completion))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .1
            .remove(0);
        // Twice: the certificate is no longer `linted`, nothing changes.
        assert!(
            s.write_issuances(&[], &[completion]).await.is_err(),
            "{}",
            db.name
        );
        assert!(shomei_model::ContractCode::parse(&code).is_some());
        let app = s.application_of(a, id).await.ok().flatten();
        assert_eq!(app.as_ref().map(|x| x.status), Some(AppStatus::Completed));
        assert_eq!(
            app.as_ref().and_then(|x| x.contract_code.clone()),
            Some(code)
        );
        assert_eq!(app.and_then(|x| x.cert_not_after), Some(60));
        assert_eq!(s.validations_of(id).await.map(|v| v.len()).ok(), Some(1));
        assert_eq!(
            s.pending_jobs("mail.issued").await.map(|j| j.len()).ok(),
            Some(1)
        );
        // Issue #11: once the DER (which carries the TBS, checked by the signer) is
        // stored, the TBS is not kept beside it.
        assert_eq!(tbs_of(cert_id).await, None, "{}", db.name);
        // Issue #11: only the DER is stored; the PEM read back is made from it.
        let cert = s.issued_certificate(id).await.ok().flatten();
        assert_eq!(
            cert.as_ref().and_then(|c| c.der.clone()),
            Some(b"der".to_vec())
        );
        assert_eq!(
            cert.and_then(|c| c.pem),
            Some(shomei_model::pem_encode("CERTIFICATE", b"der")),
            "{}",
            db.name
        );
    }
}

#[tokio::test]
async fn audit_chain_detects_tampering() {
    for db in backends().await {
        let s = &db.store;
        account(s, "FFFF6666").await;
        s.audit(&AuditEvent::new(
            5,
            Actor::System,
            "system.start",
            "system",
            serde_json::json!({}),
        ))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.verify_audit_chain().await.ok(),
            Some(Ok(2)),
            "{}",
            db.name
        );
        sqlx::query("UPDATE audit_events SET detail = '{\"login\":\"forged\"}' WHERE seq = 1")
            .execute(s.pool())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            s.verify_audit_chain().await.ok(),
            Some(Err(1)),
            "{}",
            db.name
        );
    }
}

/// R-L4 groundwork: failures are counted and lock at the threshold.
#[tokio::test]
async fn login_failures_lock() {
    for db in backends().await {
        let s = &db.store;
        let a = account(s, "GGGG7777").await;
        for i in 1..=5 {
            let locked = s
                .login_failed(Realm::Customer, a, 5, serde_json::json!({}), 100 + i)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(locked, i == 5, "{} attempt {i}", db.name);
        }
        let events = s
            .audit_events_for(&format!("customer:{a}"))
            .await
            .unwrap_or_default();
        assert_eq!(
            events
                .iter()
                .filter(|e| e.action == "login.failure")
                .count(),
            5
        );
        assert!(events.iter().any(|e| e.action == "account.locked"));
    }
}

/// Issue #11 item 4: on SQLite the group writes run on a writer connection of their own
/// (store/src/exec.rs) beside sqlx's. Both write the audit chain's head; run at once
/// from many tasks they must neither fail ("database is locked") nor break the chain,
/// and a group's unique violation must still be told as one.
#[tokio::test]
async fn issue11_group_writes_and_ordinary_writes_at_once_keep_the_audit_chain() {
    for db in backends().await {
        let s = db.store.clone();
        let mut tasks = Vec::new();
        for i in 0..40_i64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                // A group write (nonce uses) and an ordinary one (a lone audit event).
                let used = s
                    .use_nonces(&[(format!("n{i}"), 100), (format!("n{i}"), 100)])
                    .await?;
                assert_eq!(used, vec![true, false]);
                s.audit(&AuditEvent::new(
                    40,
                    Actor::System,
                    "test.event",
                    format!("test:{i}"),
                    serde_json::json!({ "i": i }),
                ))
                .await?;
                Ok::<_, shomei_store::StoreError>(())
            }));
        }
        for t in tasks {
            t.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        }
        // A nonce used before is refused on a second try, whichever writer took it.
        assert_eq!(
            s.use_nonces(&[("n7".into(), 100)]).await.ok(),
            Some(vec![false]),
            "{}",
            db.name
        );
        assert!(
            matches!(s.verify_audit_chain().await, Ok(Ok(n)) if n >= 40),
            "audit chain after concurrent writes ({})",
            db.name
        );
    }
}

/// Issue #11: the group writes keep SQLite's writer between groups that follow each
/// other; an ordinary write must still get its turn while they run without pause (a
/// starved write would hang here, and fail after the generous timeout), and the writer
/// must go back to the pool once they stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue11_ordinary_writes_get_their_turn_between_continuous_group_writes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    for db in backends().await {
        let s = db.store.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let groups = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for w in 0..4 {
            let (s, stop, groups) = (s.clone(), stop.clone(), groups.clone());
            writers.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    s.use_nonces(&[(format!("w{w}-{i}"), 100)]).await?;
                    groups.fetch_add(1, Ordering::SeqCst);
                    i += 1;
                }
                Ok::<_, shomei_store::StoreError>(())
            }));
        }
        for i in 0..20 {
            let event = AuditEvent::new(
                40,
                Actor::System,
                "test.event",
                format!("test:{i}"),
                serde_json::json!({ "i": i }),
            );
            tokio::time::timeout(std::time::Duration::from_secs(30), s.audit(&event))
                .await
                .unwrap_or_else(|_| panic!("an ordinary write starved ({})", db.name))
                .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        }
        let during = groups.load(Ordering::SeqCst);
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        }
        assert!(during > 0, "no group write ran meanwhile ({})", db.name);
        // Once they stop, the writer is back in the pool for anyone.
        let after = AuditEvent::new(
            41,
            Actor::System,
            "test.event",
            "test:after".to_owned(),
            serde_json::json!({}),
        );
        tokio::time::timeout(std::time::Duration::from_secs(30), s.audit(&after))
            .await
            .unwrap_or_else(|_| panic!("the writer never went back to the pool ({})", db.name))
            .unwrap_or_else(|e| panic!("{}: {e}", db.name));
        assert!(
            matches!(s.verify_audit_chain().await, Ok(Ok(n)) if n >= 21),
            "audit chain ({})",
            db.name
        );
    }
}
