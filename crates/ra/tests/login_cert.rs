//! R-L5 on every backend: a new login certificate for a new person; the old one is
//! revoked (affiliationChanged) on the login CA's CRL — signed by the login CA, its CRL
//! number increasing — no longer opens the account, and the account's sessions end.

use shomei_ca::client::presented;
use shomei_ra::login::LoginRefusal;
use shomei_ra::testing::ra;
use shomei_store::Realm;
use shomei_store::testing::backends;
use time::macros::datetime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

fn cert_of(pem: &str) -> shomei_ca::client::PresentedCert {
    let der = shomei_ca::pki::pem_to_der(pem, "CERTIFICATE").unwrap_or_default();
    presented(&der).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn r_l5_new_login_certificate_revokes_the_old() {
    for db in backends().await {
        let (ra, _, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let a = shomei_ra::testing::account(&ra, "テスト株式会社").await;
        let old = cert_of(&a.cert_pem);
        let crl0 = ra
            .current_login_crl()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ok = ra
            .login(Realm::Customer, Some(&old), &a.login, &a.initial_password)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.is_ok(), "the first certificate works on {}", db.name);

        let new = ra
            .replace_login_certificate(Realm::Customer, a.id, shomei_model::Actor::Staff(1))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let new_cert = cert_of(&new.cert_pem);
        assert_ne!(new_cert.serial_hex, old.serial_hex);
        assert!(!new.p12.is_empty() && !new.p12_password.is_empty());
        let refused = ra
            .login(Realm::Customer, Some(&old), &a.login, &a.initial_password)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            refused,
            Err(LoginRefusal::CertificateRevoked),
            "{}",
            db.name
        );
        let ok = ra
            .login(
                Realm::Customer,
                Some(&new_cert),
                &a.login,
                &a.initial_password,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.is_ok(), "the new certificate opens the account");

        // The login CA's CRL lists the old serial with affiliationChanged (3).
        let crl = ra
            .current_login_crl()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(crl.number > crl0.number, "CRL number increases");
        let (_, parsed) =
            CertificateRevocationList::from_der(&crl.der).unwrap_or_else(|e| panic!("{e}"));
        let entries: Vec<(String, Option<u8>)> = parsed
            .iter_revoked_certificates()
            .map(|r| {
                (
                    hex::encode(r.raw_serial()),
                    r.reason_code().map(|(_, c)| c.0),
                )
            })
            .collect();
        assert_eq!(entries, vec![(old.serial_hex.clone(), Some(3))]);
        let ca_der =
            shomei_ca::pki::pem_to_der(&pki.login_ca.cert_pem, "CERTIFICATE").unwrap_or_default();
        let (_, ca) = X509Certificate::from_der(&ca_der).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            parsed.verify_signature(ca.public_key()).is_ok(),
            "signed by the login CA"
        );
        assert_eq!(parsed.issuer(), ca.subject());
    }
}
