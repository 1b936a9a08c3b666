//! Notice mails (issue #3): queued in the same transaction as the change, sent once by
//! the worker, Japanese first with an English part. Here through the outbox directory.

use shomei_ra::mail::MailSettings;
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
        let settings = MailSettings::new(
            "Shomei <noreply@example.jp>",
            "staff@example.jp",
            "https://portal.example.jp",
            None,
            dir.path().to_path_buf(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ra = ra.with_mail(settings);
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", "test")
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
