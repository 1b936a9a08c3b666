//! Issue #11 item 2: partitioned CRLs on every backend. Each certificate's CRL
//! distribution point names the shard recorded with its serial; a shard's CRL lists the
//! revoked certificates of that shard only and carries an issuingDistributionPoint with
//! the same URL (onlyContainsUserCerts); a revocation re-signs only its shard; CRL
//! numbers strictly increase per shard, also when many ask at once (one builder: the
//! waiters take the CRL signed after they asked); certificates issued before
//! partitioning stay on /crl/server.crl; the list of URLs names every CRL.

use shomei_ra::testing::{issued, ra};
use shomei_store::testing::backends;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");
const BASE: &str = shomei_ra::testing::BASE;

fn entries(der: &[u8]) -> Vec<String> {
    let (_, crl) = CertificateRevocationList::from_der(der).unwrap_or_else(|e| panic!("{e}"));
    crl.iter_revoked_certificates()
        .map(|r| hex::encode(r.raw_serial()))
        .collect()
}

fn number(der: &[u8]) -> u64 {
    let (_, crl) = CertificateRevocationList::from_der(der).unwrap_or_else(|e| panic!("{e}"));
    crl.crl_number()
        .and_then(|n| n.to_u64_digits().first().copied())
        .unwrap_or(0)
}

fn idp(der: &[u8]) -> String {
    let (_, crl) = CertificateRevocationList::from_der(der).unwrap_or_else(|e| panic!("{e}"));
    format!("{:?}", crl.extensions())
}

#[tokio::test]
async fn issue11_crls_are_partitioned_by_shard() {
    for db in backends().await {
        let (mut ra, clock, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        ra.policy.crl_shards = 3;
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut certs = Vec::new();
        for _ in 0..6 {
            let (_, app) = issued(&ra, staff.id, CSR).await;
            let c = db
                .store
                .issued_certificate(app)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("certificate"));
            let shard = db
                .store
                .crl_shard_of("server", &c.serial)
                .await
                .ok()
                .flatten()
                .unwrap_or(-1);
            assert!((0..3).contains(&shard), "recorded shard {shard}");
            let der = c.der.clone().unwrap_or_default();
            let (_, x) = X509Certificate::from_der(&der).unwrap_or_else(|e| panic!("{e}"));
            let text = format!("{:?}", x.extensions());
            let url = format!("{BASE}/crl/server/{shard}.crl");
            assert!(text.contains(&url), "CDP {url} in the certificate");
            certs.push((c, shard, url));
        }
        // A certificate from before partitioning: on the undivided CRL.
        shomei_store::testing::bulk_revoked(
            &db.store,
            certs[0].0.application_id,
            1,
            0,
            ra.now(),
            ra.now() + 86_400 * 30,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let urls = ra.crl_urls().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            urls,
            vec![
                format!("{BASE}/crl/server.crl"),
                format!("{BASE}/crl/server/0.crl"),
                format!("{BASE}/crl/server/1.crl"),
                format!("{BASE}/crl/server/2.crl"),
            ]
        );
        ra.refresh_crl().await.unwrap_or_else(|e| panic!("{e}"));
        let before: Vec<u64> = {
            let mut v = Vec::new();
            for s in 0..3 {
                let c = ra.current_shard_crl(s).await.ok().flatten();
                v.push(number(&c.map(|c| c.der).unwrap_or_default()));
            }
            v
        };
        assert!(
            ra.current_shard_crl(3).await.ok().flatten().is_none(),
            "no shard 3"
        );

        // Revoke the first certificate: its shard alone is re-signed and lists it.
        clock.advance(time::Duration::minutes(5));
        let (first, shard, url) = &certs[0];
        db.store
            .revoke_certificate(first.id, 4, false, shomei_model::Actor::System, ra.now())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ra.refresh_crl().await.ok(), Some(1), "one shard re-signed");
        for s in 0..3_u32 {
            let crl = ra
                .current_shard_crl(s)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("shard {s}"));
            let listed = entries(&crl.der);
            if i64::from(s) == *shard {
                assert_eq!(listed, vec![first.serial.clone()], "{}", db.name);
                // Signed once more: its number is this signing's time in microseconds
                // (a second signing now would be one more), above the one before.
                assert!(number(&crl.der) > before[s as usize]);
                assert_eq!(number(&crl.der), ra.now() as u64 * 1_000_000);
                let ext = idp(&crl.der);
                assert!(ext.contains(url.as_str()), "IDP names {url}: {ext}");
                assert!(ext.contains("only_contains_user_certs: true"), "{ext}");
            } else {
                assert!(listed.is_empty());
                assert_eq!(number(&crl.der), before[s as usize], "shard {s} untouched");
            }
            // Signed by the issuing CA.
            let ca_der = shomei_ca::pki::pem_to_der(&pki.server_ca.cert_pem, "CERTIFICATE")
                .unwrap_or_default();
            let (_, ca) = X509Certificate::from_der(&ca_der).unwrap_or_else(|e| panic!("{e}"));
            let (_, parsed) =
                CertificateRevocationList::from_der(&crl.der).unwrap_or_else(|e| panic!("{e}"));
            assert!(parsed.verify_signature(ca.public_key()).is_ok());
        }
        // The undivided CRL keeps the older certificate, and names its own URL.
        let legacy = ra.current_crl().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(entries(&legacy.der).len(), 1);
        assert!(idp(&legacy.der).contains(&format!("{BASE}/crl/server.crl")));

        // Lowering the count: new certificates use fewer shards, old ones stay served.
        ra.policy.crl_shards = 1;
        assert_eq!(ra.crl_urls().await.map(|u| u.len()).ok(), Some(4));
        assert!(ra.current_shard_crl(2).await.ok().flatten().is_some());

        // Many at once after a day: each shard signed once more, never a number twice.
        clock.advance(time::Duration::hours(24));
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let ra = ra.clone();
            tasks.push(tokio::spawn(async move { ra.refresh_crl().await.ok() }));
        }
        for t in tasks {
            assert!(t.await.ok().flatten().is_some());
        }
        for s in 0..3_u32 {
            let n = ra
                .current_shard_crl(s)
                .await
                .ok()
                .flatten()
                .map(|c| number(&c.der))
                .unwrap_or(0);
            // Exactly once more: numbered with this instant in microseconds (a second
            // signing now would be one more), above every number before.
            assert!(n > before[s as usize] + 1, "{}", db.name);
            assert_eq!(
                n,
                ra.now() as u64 * 1_000_000,
                "shard {s} signed exactly once more on {}",
                db.name
            );
        }
    }
}
