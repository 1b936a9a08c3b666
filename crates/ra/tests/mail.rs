//! Notice mails (issue #3): queued in the same transaction as the change, sent once by
//! the worker, Japanese first with an English part. Here through the outbox directory.

use shomei_ra::testing::{issued, ra, request_revocation};
use shomei_store::testing::backends;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

/// (subject header as written, decoded body) of every .eml in `dir`.
fn outbox(dir: &std::path::Path) -> Vec<(String, String)> {
    use base64::Engine;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let subject = head
            .lines()
            .find(|l| l.starts_with("Subject:"))
            .unwrap_or_default()
            .to_owned();
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        out.push((subject, decoded));
    }
    out
}

#[tokio::test]
async fn notices_are_sent_once_in_japanese_and_english() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let settings = shomei_ra::testing::outbox_mail(dir.path());
        let ra = ra.with_mail(settings);
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        assert_eq!(
            ra.run_due_jobs(100).await.ok(),
            Some(2),
            "staff notice + issuance notice on {}",
            db.name
        );
        assert_eq!(ra.run_due_jobs(100).await.ok(), Some(0), "each job once");
        let mails = outbox(dir.path());
        assert_eq!(mails.len(), 2);
        let issued_mail = mails
            .iter()
            .find(|(_, b)| b.contains("証明書を発行しました"))
            .unwrap_or_else(|| panic!("no issuance notice: {mails:?}"));
        assert!(
            issued_mail.1.contains("---- English ----")
                && issued_mail
                    .1
                    .contains("The certificate of your application")
        );
        assert!(issued_mail.1.contains("www.example.jp"));
        assert!(
            mails
                .iter()
                .any(|(_, b)| b.contains("新しいお申込みがあります"))
        );

        // Revocation request (to staff, with the deadline) and revocation done (to the customer).
        let rev = request_revocation(&ra, a.id, app, "switching")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        ra.confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ra.run_due_jobs(100).await.ok(), Some(2));
        let mails = outbox(dir.path());
        assert!(
            mails
                .iter()
                .any(|(_, b)| b.contains("失効申請があります") && b.contains("期限"))
        );
        assert!(
            mails
                .iter()
                .any(|(_, b)| b.contains("証明書を失効しました"))
        );
    }
}

/// 更新のご案内メール (R-AI2; issue #3 item 8; issue #4): the contact who asked for it
/// (and only that one) is mailed 90/60/30/10 days before the certificate ends while the
/// contract runs on (継続発行 open from 30 days) and before the contract ends; each
/// reminder once, also after a restart; when several are due at once, only the nearest.
#[tokio::test]
async fn renewal_reminders_once_each_to_those_who_asked() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let settings = || shomei_ra::testing::outbox_mail(dir.path());
        let (ra0, clock, _) = ra(db.store.clone(), datetime!(2026-06-01 10:00:00 UTC));
        let ra0 = ra0.with_mail(settings());
        let staff = ra0
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra0, staff.id, CSR).await;
        ra0.run_due_jobs(100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let before = outbox(dir.path()).len();
        let rec = db
            .store
            .application(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        let cert_end = rec.cert_not_after.unwrap_or_default();
        let (_, contract_end) = db
            .store
            .contract_period(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let at = |ts: i64| {
            time::OffsetDateTime::from_unix_timestamp(ts).unwrap_or_else(|e| panic!("{e}"))
        };
        let queue = |ra: shomei_ra::Ra| async move {
            let n = ra.queue_reminders().await.unwrap_or_else(|e| panic!("{e}"));
            ra.run_due_jobs(100).await.unwrap_or_else(|e| panic!("{e}"));
            n
        };
        assert_eq!(queue(ra0.clone()).await, 0, "nothing due on issuance day");
        clock.set(at(cert_end - 89 * 86_400));
        assert_eq!(
            queue(ra0.clone()).await,
            1,
            "certificate, 90 days, on {}",
            db.name
        );
        assert_eq!(queue(ra0.clone()).await, 0, "once");
        clock.set(at(cert_end - 61 * 86_400));
        assert_eq!(queue(ra0.clone()).await, 0, "60 days not yet");
        clock.set(at(cert_end - 25 * 86_400));
        assert_eq!(
            queue(ra0.clone()).await,
            1,
            "30 days (60 was missed: only the nearest)"
        );
        // A restart on the same database sends nothing again.
        let (ra1, _, _) = ra(db.store.clone(), at(cert_end - 25 * 86_400));
        let ra1 = ra1.with_mail(settings());
        assert_eq!(queue(ra1.clone()).await, 0, "not twice after a restart");
        let mails = outbox(dir.path());
        assert_eq!(mails.len(), before + 2);
        let m30 = mails
            .iter()
            .find(|(_, b)| b.contains("あと 30 日"))
            .unwrap_or_else(|| panic!("30-day reminder in {mails:?}"));
        assert!(m30.1.contains("継続発行") && m30.1.contains("continuation"));
        // Only the contact who asked: the technical contact, not the registrant.
        let raw: Vec<String> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .filter(|t| t.contains("To: tech@example.jp") && !t.contains("reg@example.jp"))
            .collect();
        assert_eq!(raw.len(), 2, "both reminders to tech@ only");

        // The contract: 60 days before its end (the 90-day one was missed), then 10.
        clock.set(at(contract_end - 59 * 86_400));
        assert_eq!(
            queue(ra0.clone()).await,
            1,
            "contract, 60 days, on {}",
            db.name
        );
        clock.set(at(contract_end - 9 * 86_400));
        assert_eq!(queue(ra0.clone()).await, 1, "contract, 10 days");
        assert_eq!(queue(ra0.clone()).await, 0);
        assert!(
            outbox(dir.path())
                .iter()
                .any(|(_, b)| b.contains("あと 10 日") && b.contains("更新申請"))
        );
    }
}

/// Issue #3 notices: "reissue done" — the reissue's issuance notice says it is a
/// reissue and what happens to the previous certificate.
#[tokio::test]
async fn reissue_done_notice() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let ra = ra.with_mail(shomei_ra::testing::outbox_mail(dir.path()));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let csr2 = include_str!("../../ca/tests/data/p256-cn-only.csr");
        let re = shomei_ra::testing::reissued(&ra, staff.id, a.id, app, csr2, "later")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        ra.run_due_jobs(100).await.unwrap_or_else(|e| panic!("{e}"));
        let mails = outbox(dir.path());
        let notice = mails
            .iter()
            .find(|(_, b)| b.contains(&format!("再発行申請（お申込番号 {re}）")))
            .unwrap_or_else(|| panic!("reissue notice on {}: {mails:?}", db.name));
        assert!(notice.1.contains("14日後") && notice.1.contains("reissue request"));
    }
}

/// 更新のご案内メール across every threshold in turn: 90, 60, 30 and 10 days before the
/// certificate ends (its contract runs on), each sent once.
#[tokio::test]
async fn reminders_at_each_threshold_once() {
    for db in backends().await {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (ra0, clock, _) = ra(db.store.clone(), datetime!(2026-06-01 10:00:00 UTC));
        let ra0 = ra0.with_mail(shomei_ra::testing::outbox_mail(dir.path()));
        let staff = ra0
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra0, staff.id, CSR).await;
        let end = db
            .store
            .application(app)
            .await
            .ok()
            .flatten()
            .and_then(|a| a.cert_not_after)
            .unwrap_or_default();
        for days in [90, 60, 30, 10] {
            let at = time::OffsetDateTime::from_unix_timestamp(end - days * 86_400 + 3_600)
                .unwrap_or_else(|e| panic!("{e}"));
            clock.set(at);
            assert_eq!(
                ra0.queue_reminders().await.ok(),
                Some(1),
                "{days} days on {}",
                db.name
            );
            assert_eq!(
                ra0.queue_reminders().await.ok(),
                Some(0),
                "{days} days once"
            );
        }
        ra0.run_due_jobs(100)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let bodies: Vec<String> = outbox(dir.path()).into_iter().map(|m| m.1).collect();
        for days in [90, 60, 30, 10] {
            assert_eq!(
                bodies
                    .iter()
                    .filter(|b| b.contains(&format!("あと {days} 日")))
                    .count(),
                1,
                "{days}"
            );
        }
    }
}

/// Issue #12: a stopping instance (SIGTERM) claims no further job — those queued stay
/// pending for the next start or another instance; a second instance on the same
/// database never takes a job the first one holds under a live lease.
#[tokio::test]
async fn issue12_a_stopping_instance_claims_no_job_and_another_never_takes_a_leased_one() {
    for db in backends().await {
        let n = db.name;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let at = datetime!(2026-11-24 10:00:00 UTC);
        let (ra, clock, pki) = ra(db.store.clone(), at);
        let ra = ra.with_mail(shomei_ra::testing::outbox_mail(dir.path()));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        issued(&ra, staff.id, CSR).await;
        ra.begin_shutdown();
        assert_eq!(
            ra.run_due_jobs(100).await.ok(),
            Some(0),
            "{n}: claimed while stopping"
        );
        assert!(outbox(dir.path()).is_empty(), "{n}");

        // Another instance: one job claimed by it (as if it were sending it now) is not
        // taken by a third at start-up or by its queue run.
        let other = shomei_store::Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let held = other
            .claim_job(at.unix_timestamp())
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{n}: no job"));
        let third = shomei_store::Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ra3 = shomei_ra::testing::instance(third, &clock, &pki)
            .with_mail(shomei_ra::testing::outbox_mail(dir.path()));
        assert_eq!(ra3.requeue_expired_jobs().await.ok(), Some(0), "{n}");
        assert_eq!(
            ra3.run_due_jobs(100).await.ok(),
            Some(1),
            "{n}: the other job only"
        );
        let (status, owner, _, _) = other
            .job_state(held.id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{n}"));
        assert_eq!(
            (status.as_str(), owner.as_deref()),
            ("running", Some(other.instance_id())),
            "{n}"
        );
        assert_eq!(
            outbox(dir.path()).len(),
            1,
            "{n}: the held job was sent by another"
        );
    }
}
