//! Issue #11 item 3: mass revocation on every backend (CA-RULES "Revocation", "Key
//! compromise"). Staff list serials (or name one compromised key), see what it would
//! revoke, confirm; the worker revokes in chunks, each with its audit events and the
//! customers' notices; OCSP says "revoked" for every one of them and the CRL shards
//! list them; a second confirm, a second worker or a restart half-way revokes nothing
//! twice and leaves nothing out.

use der::Decode;
use shomei_ra::mass_revoke::{MASS_CHUNK, MassForm};
use shomei_ra::ocsp_memory::OcspReply;
use shomei_ra::testing::{instance, issued, ra};
use shomei_store::testing::{backends, bulk_issued};
use time::macros::datetime;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

/// The status an OCSP reply states (None: not a successful response).
async fn ocsp_status(ra: &shomei_ra::Ra, issuer_der: &[u8], serial: &str) -> Option<CertStatus> {
    let bytes = hex::decode(serial).unwrap_or_default();
    let req = shomei_ca::ocsp::request(issuer_der, &bytes, shomei_ca::ocsp::HashAlg::Sha1)
        .unwrap_or_else(|e| panic!("{e}"));
    let der = match ra.ocsp_reply(&req).await {
        OcspReply::Signed(s) => s.der.to_vec(),
        OcspReply::Error(d) => d.to_vec(),
    };
    let resp = OcspResponse::from_der(&der).ok()?;
    let basic = BasicOcspResponse::from_der(resp.response_bytes?.response.as_bytes()).ok()?;
    Some(basic.tbs_response_data.responses[0].cert_status)
}

fn form(mode: &str, serials: &str, key: &str, reason: &str) -> MassForm {
    MassForm {
        mode: mode.into(),
        serials: serials.into(),
        key: key.into(),
        reason: reason.into(),
        note: "鍵の流出の報告 / reported key leak".into(),
    }
}

async fn crl_serials(ra: &shomei_ra::Ra) -> std::collections::HashSet<String> {
    let mut all = std::collections::HashSet::new();
    for url in ra.crl_urls().await.unwrap_or_default() {
        let Some(n) = url
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".crl"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(crl) = ra.current_shard_crl(n).await.unwrap_or(None) {
            let (_, c) =
                CertificateRevocationList::from_der(&crl.der).unwrap_or_else(|e| panic!("{e}"));
            all.extend(
                c.iter_revoked_certificates()
                    .map(|r| hex::encode(r.raw_serial())),
            );
        }
    }
    all
}

#[tokio::test]
async fn issue11_mass_revocation_by_serial_list() {
    for db in backends().await {
        let (mut ra, _clock, pki) = ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
        ra.policy.crl_shards = 4;
        let issuer =
            shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap_or_default();
        let staff = ra
            .create_staff("mass", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra, staff.id, CSR).await;
        let now = ra.now();
        let n = 2 * MASS_CHUNK as usize + 37;
        let live = bulk_issued(&db.store, app, n, 4, "aa", now + 86_400 * 90)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let expired = bulk_issued(&db.store, app, 3, 4, "aa", now - 10)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let untouched = bulk_issued(&db.store, app, 5, 4, "aa", now + 86_400 * 90)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ocsp_status(&ra, &issuer, &live[0]).await,
            Some(CertStatus::Good(_))
        ));

        // Bad input is refused with the field and nothing stored.
        let bad = ra
            .draft_mass_revocation(staff.id, &form("serials", "7e01 zz!", "", "4"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let issues = bad.err().unwrap_or_default();
        assert_eq!(issues[0].field, "serials");
        assert_eq!(issues[0].detail.as_deref(), Some("zz!"));
        let bad = ra
            .draft_mass_revocation(staff.id, &form("serials", "7e01", "", "6"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bad.err().unwrap_or_default()[0].field,
            "reason",
            "certificateHold (6) refused"
        );
        assert!(
            ra.recent_mass_revocations(10)
                .await
                .unwrap_or_default()
                .is_empty()
        );

        // The list as pasted: upper case with colons, repeats, unknown and expired ones.
        let mut text: Vec<String> = live
            .iter()
            .map(|s| {
                s.to_ascii_uppercase()
                    .as_bytes()
                    .chunks(2)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .collect();
        text.push(live[0].clone());
        text.extend(expired.iter().cloned());
        text.push("7d0000000000000000000000000000dead".into());
        let id = ra
            .draft_mass_revocation(staff.id, &form("serials", &text.join("\n"), "", "4"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (m, preview) = ra
            .mass_revocation(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("stored"));
        assert_eq!((m.status.as_str(), m.total), ("draft", n as i64 + 4));
        let preview = preview.unwrap_or_else(|| panic!("preview of a draft"));
        assert_eq!(
            (
                preview.live,
                preview.expired,
                preview.unknown,
                preview.already_revoked
            ),
            (n as i64, 3, 1, 0)
        );
        assert_eq!(
            preview.unknown_sample,
            vec!["7d0000000000000000000000000000dead".to_string()]
        );
        // A draft revokes nothing, even when the worker runs.
        assert_eq!(
            ra.run_mass_revocations()
                .await
                .unwrap_or_else(|e| panic!("{e}")),
            0
        );

        // Confirmed twice (a double submit): started once.
        assert!(
            ra.start_mass_revocation(staff.id, id)
                .await
                .unwrap_or(false)
        );
        assert!(!ra.start_mass_revocation(staff.id, id).await.unwrap_or(true));
        assert!(
            !ra.cancel_mass_revocation(staff.id, id)
                .await
                .unwrap_or(true)
        );
        // Two workers at once (two instances): each certificate revoked once.
        let other = instance(db.store.clone(), &_clock, &pki);
        let (a, b) = tokio::join!(ra.run_mass_revocations(), other.run_mass_revocations());
        let (a, b) = (
            a.unwrap_or_else(|e| panic!("{e}")),
            b.unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(a + b, n);
        let (m, _) = ra
            .mass_revocation(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("stored"));
        assert_eq!((m.status.as_str(), m.revoked), ("done", n as i64));

        // Each worker's own memory follows what it revoked (the key test checks that);
        // here a third instance reads what the store says (on PostgreSQL instances also
        // drop each other's: tests/ocsp.rs).
        let third = instance(db.store.clone(), &_clock, &pki);
        for s in live.iter().step_by(97).chain([&live[n - 1]]) {
            assert!(
                matches!(
                    ocsp_status(&third, &issuer, s).await,
                    Some(CertStatus::Revoked(_))
                ),
                "{s} revoked in OCSP"
            );
        }
        assert!(matches!(
            ocsp_status(&third, &issuer, &untouched[0]).await,
            Some(CertStatus::Good(_))
        ));
        let listed = crl_serials(&ra).await;
        assert!(
            live.iter().all(|s| listed.contains(s)),
            "every one on its shard's CRL"
        );
        assert!(!listed.contains(&untouched[0]) && !listed.contains(&expired[0]));

        // Audit: one event per certificate, on its record, and the chain holds.
        let events = db
            .store
            .audit_events_for(&format!("application:{app}"))
            .await
            .unwrap_or_default();
        let revoked_events = events
            .iter()
            .filter(|e| e.action == "certificate.revoked" && e.detail.contains("mass_revocation"))
            .count();
        assert_eq!(revoked_events, n);
        assert!(
            db.store
                .verify_audit_chain()
                .await
                .unwrap_or(Err(-1))
                .is_ok()
        );
        // The customers' notices are queued, one per certificate.
        let mails = db
            .store
            .pending_jobs("mail.revoked_by_ca")
            .await
            .unwrap_or_default();
        assert_eq!(mails.len(), n);
    }
}

#[tokio::test]
async fn issue11_mass_revocation_by_key_blocks_it_and_resumes_after_a_crash() {
    for db in backends().await {
        let (ra, clock, pki) = ra(db.store.clone(), datetime!(2026-11-30 10:00:00 UTC));
        let issuer =
            shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE").unwrap_or_default();
        let staff = ra
            .create_staff("mass", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, app) = issued(&ra, staff.id, CSR).await;
        let now = ra.now();
        let spki = "ab".repeat(32);
        let with_key = bulk_issued(
            &db.store,
            app,
            MASS_CHUNK as usize + 5,
            16,
            &spki,
            now + 86_400,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let other_key = bulk_issued(&db.store, app, 4, 16, &"cd".repeat(32), now + 86_400)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // By key, only keyCompromise; the key is named by one certificate's serial.
        let bad = ra
            .draft_mass_revocation(staff.id, &form("key", "", &with_key[3], "4"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bad.err().unwrap_or_default()[0].field, "reason");
        let unknown = ra
            .draft_mass_revocation(staff.id, &form("key", "", "7d00ff", "1"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            unknown.err().unwrap_or_default()[0].key,
            "err.mass_key_unknown"
        );
        let id = ra
            .draft_mass_revocation(staff.id, &form("key", "", &with_key[3], "1"))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (m, preview) = ra
            .mass_revocation(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("stored"));
        assert_eq!(m.spki_sha256.as_deref(), Some(spki.as_str()));
        assert_eq!(preview.map(|p| p.live), Some(with_key.len() as i64));
        assert!(
            !db.store.is_key_blocked(&spki).await.unwrap_or(true),
            "a draft blocks nothing"
        );

        assert!(
            ra.start_mass_revocation(staff.id, id)
                .await
                .unwrap_or(false)
        );
        assert!(
            db.store.is_key_blocked(&spki).await.unwrap_or(false),
            "blocked when confirmed"
        );
        // One chunk, then the process dies before its OCSP responses are signed.
        let first = db
            .store
            .mass_revocation_step("server", id, MASS_CHUNK, now)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_default();
        assert_eq!(first.len(), MASS_CHUNK as usize);
        // After the restart: OCSP already says revoked for the first chunk (the store is
        // the truth), and the worker finishes the rest.
        let restarted = instance(db.store.clone(), &clock, &pki);
        assert!(matches!(
            ocsp_status(&restarted, &issuer, &first[0].0).await,
            Some(CertStatus::Revoked(_))
        ));
        // Memory holds "good" for one of the rest until the worker revokes it.
        let last = &with_key[MASS_CHUNK as usize + 4];
        restarted
            .prebuild_ocsp(std::slice::from_ref(last))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ocsp_status(&restarted, &issuer, last).await,
            Some(CertStatus::Good(_))
        ));
        let rest = restarted
            .run_mass_revocations()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rest, 5);
        let (m, _) = restarted
            .mass_revocation(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("stored"));
        assert_eq!(
            (m.status.as_str(), m.revoked),
            ("done", with_key.len() as i64)
        );
        for s in &with_key {
            assert!(
                matches!(
                    ocsp_status(&restarted, &issuer, s).await,
                    Some(CertStatus::Revoked(_))
                ),
                "{s}"
            );
        }
        for s in &other_key {
            assert!(matches!(
                ocsp_status(&restarted, &issuer, s).await,
                Some(CertStatus::Good(_))
            ));
        }
        assert!(
            crl_serials(&restarted)
                .await
                .contains(&with_key[MASS_CHUNK as usize + 4])
        );
        assert!(
            db.store
                .verify_audit_chain()
                .await
                .unwrap_or(Err(-1))
                .is_ok()
        );
        // The customer's notice names the serial and the reason, in both languages.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mailer = restarted.with_mail(shomei_ra::testing::outbox_mail(dir.path()));
        let jobs = db
            .store
            .pending_jobs("mail.revoked_by_ca")
            .await
            .unwrap_or_default();
        assert_eq!(jobs.len(), with_key.len());
        let mail = mailer
            .compose(&jobs[0])
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a notice"));
        assert!(
            mail.body.contains(&with_key[0]) && mail.body.contains("鍵の危殆化 / key compromise")
        );
        assert!(mail.subject.contains("認証局による証明書失効"));
    }
}
