//! Issue #2 item 7: the OV and EV profiles, lint-then-sign, serial properties.
//! CA-RULES "Profiles (7.1.2.7, EVG)", "Serial numbers", "Validity".

use shomei_ca::pki::{ClientCa, generate_dev_pki};
use shomei_ca::{
    BusinessCategory, CaError, CaUrls, EvSubject, IssuingCa, OrgSubject, Serial, ServerOrder,
    check_csr,
};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

const BASE: &str = "http://pki.example.jp";

fn ca(now: OffsetDateTime) -> (IssuingCa, shomei_ca::pki::DevPki) {
    let pki = generate_dev_pki(now, "Shomei Test CA", BASE).unwrap_or_else(|e| panic!("{e}"));
    let ca = IssuingCa::from_pem(
        &pki.server_ca.cert_pem,
        &pki.server_ca.key_pem,
        CaUrls::under(BASE, "server"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    (ca, pki)
}

fn order(now: OffsetDateTime, csr: &str, ev: bool) -> ServerOrder {
    let data = std::fs::read(format!("{}/tests/data/{csr}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_default();
    let c = check_csr(&data).unwrap_or_else(|e| panic!("{e}"));
    let (nb, na) = shomei_model::validity_for(now, now + Duration::days(365)).unwrap_or((now, now));
    ServerOrder {
        serial: Serial::random().unwrap_or_else(|e| panic!("{e}")),
        not_before: nb,
        not_after: na,
        names: c.names,
        spki_der: c.spki_der,
        key: c.key,
        org: OrgSubject {
            organization: "テスト株式会社".into(),
            state: "Tokyo".into(),
            locality: "Shibuya-ku".into(),
            country: "JP".into(),
        },
        ev: ev.then(|| EvSubject {
            jurisdiction_country: "JP".into(),
            jurisdiction_state: None,
            jurisdiction_locality: None,
            business_category: BusinessCategory::PrivateOrganization,
            registration_number: "0110-01-012345".into(),
        }),
        crl_shard: Some(3),
    }
}

fn policies(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => Some(
                p.iter()
                    .map(|i| i.policy_id.to_id_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn ov_profile_fields() {
    let now = datetime!(2026-11-24 10:00:00 UTC);
    let (ca, _) = ca(now);
    let o = order(now, "rsa2048.csr", false);
    let token = ca.prepare(&o).unwrap_or_else(|e| panic!("{e}"));
    let tbs = token.tbs_der().to_vec();
    let signed = ca.sign(token).unwrap_or_else(|e| panic!("{e}"));
    let (_, cert) = X509Certificate::from_der(&signed.der).unwrap_or_else(|e| panic!("{e}"));
    // The signed TBS is the linted TBS, byte for byte.
    assert_eq!(cert.tbs_certificate.as_ref(), tbs.as_slice());
    // Serial: the reserved one.
    assert_eq!(cert.tbs_certificate.raw_serial(), o.serial.bytes());
    // Subject from validated data only: no CN, O/L/ST/C.
    assert!(cert.subject().iter_common_name().next().is_none());
    assert_eq!(
        cert.subject()
            .iter_organization()
            .next()
            .and_then(|a| a.as_str().ok()),
        Some("テスト株式会社")
    );
    assert_eq!(
        cert.subject()
            .iter_country()
            .next()
            .and_then(|a| a.as_str().ok()),
        Some("JP")
    );
    // SAN
    let san = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| s.value.general_names.clone())
        .unwrap_or_default();
    assert_eq!(
        san,
        vec![
            GeneralName::DNSName("www.example.jp"),
            GeneralName::DNSName("example.jp")
        ]
    );
    // KU: digitalSignature + keyEncipherment for RSA; EKU serverAuth only.
    let ku = cert.key_usage().ok().flatten().map(|k| {
        (
            k.critical,
            k.value.digital_signature(),
            k.value.key_encipherment(),
        )
    });
    assert_eq!(ku, Some((true, true, true)));
    let eku = cert
        .extended_key_usage()
        .ok()
        .flatten()
        .map(|e| (e.value.server_auth, e.value.client_auth));
    assert_eq!(eku, Some((true, false)));
    assert_eq!(policies(&cert), vec!["2.23.140.1.2.2".to_string()]);
    // AIA and CRL DP under the public base URL.
    let text = format!("{:?}", cert.extensions());
    assert!(text.contains("http://pki.example.jp/ocsp/server"));
    assert!(text.contains("http://pki.example.jp/ca/server.crt"));
    // Issue #11: the CRL distribution point names the certificate's CRL shard.
    assert!(text.contains("http://pki.example.jp/crl/server/3.crl"));
    assert!(cert.extensions().iter().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::AuthorityKeyIdentifier(_)
    )));
    // Validity: one day under the 200-day cap of 2026-11-24.
    let secs = (cert.validity().not_after.to_datetime() - cert.validity().not_before.to_datetime())
        .whole_seconds()
        + 1;
    assert_eq!(secs, 199 * 86_400);
}

#[test]
fn ev_profile_fields() {
    let now = datetime!(2026-11-24 10:00:00 UTC);
    let (ca, _) = ca(now);
    let o = order(now, "p256-cn-only.csr", true);
    let signed = ca
        .prepare(&o)
        .and_then(|t| ca.sign(t))
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, cert) = X509Certificate::from_der(&signed.der).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(policies(&cert), vec!["2.23.140.1.1".to_string()]);
    let subject = cert.subject().to_string();
    for want in [
        "2.5.4.15=Private Organization",
        "1.3.6.1.4.1.311.60.2.1.3=JP",
        "2.5.4.5=0110-01-012345",
    ] {
        let (oid, value) = want.split_once('=').unwrap_or_default();
        let found = cert
            .subject()
            .iter_attributes()
            .any(|a| a.attr_type().to_id_string() == oid && a.as_str().ok() == Some(value));
        assert!(found, "{want} missing from {subject}");
    }
    // ECDSA: digitalSignature only.
    let ku = cert
        .key_usage()
        .ok()
        .flatten()
        .map(|k| (k.value.digital_signature(), k.value.key_encipherment()));
    assert_eq!(ku, Some((true, false)));
}

/// The lint fails closed: an order over the validity cap is never signed.
#[test]
fn lint_refuses_validity_over_cap() {
    let now = datetime!(2027-03-15 00:00:00 UTC);
    let (ca, _) = ca(now);
    let mut o = order(now, "rsa2048.csr", false);
    o.not_after = now + Duration::days(100); // 100 days + 1 s: one second over.
    match ca.prepare(&o) {
        Err(CaError::Lint(e)) => assert!(e.to_string().contains("validity")),
        other => panic!("not refused: {other:?}"),
    }
    o.not_after = now + Duration::days(100) - Duration::seconds(1);
    assert!(ca.prepare(&o).is_ok(), "exactly 100 days is allowed");
}

#[test]
fn lint_refuses_internal_name_slipped_into_order() {
    let now = datetime!(2026-11-24 10:00:00 UTC);
    let (ca, _) = ca(now);
    let mut o = order(now, "rsa2048.csr", false);
    o.names.push("intranet.local".into());
    assert!(matches!(ca.prepare(&o), Err(CaError::Lint(_))));
}

#[test]
fn login_p12_round_trips() {
    let now = datetime!(2026-11-24 10:00:00 UTC);
    let (_, pki) = ca(now);
    let chain = pki.root.cert_pem.clone();
    let login = ClientCa::from_pem(&pki.login_ca.cert_pem, &pki.login_ca.key_pem, &chain)
        .unwrap_or_else(|e| panic!("{e}"));
    let cert = shomei_ca::client::issue_client_cert(&login, "AB12CD34", "テスト株式会社", now, 730)
        .unwrap_or_else(|e| panic!("{e}"));
    let p12 = shomei_ca::client::client_p12(&login, &cert, "secret-pass", "login")
        .unwrap_or_else(|e| panic!("{e}"));
    let ks = p12_keystore::KeyStore::from_pkcs12(
        &p12,
        "secret-pass",
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, chain) = ks.private_key_chain().unwrap_or_else(|| panic!("no key"));
    assert_eq!(chain.certs().len(), 3);
    assert_eq!(chain.certs()[0].as_der(), cert.cert_der.as_slice());
    assert!(
        p12_keystore::KeyStore::from_pkcs12(
            &p12,
            "wrong",
            p12_keystore::Pkcs12ImportPolicy::Strict
        )
        .is_err()
    );
}

/// Issue #7 item 5 (BR 7.1.2.10): the development PKI's CA certificates carry
/// certificatePolicies, AIA caIssuers to the root and the root's CRL distribution
/// point; the root's CRL is signed by the root and lasts at most 12 months.
#[test]
fn issue7_item5_ca_certificates_and_root_crl() {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;
    let now = time::macros::datetime!(2026-11-29 00:00:00 UTC);
    let pki = shomei_ca::pki::generate_dev_pki(now, "Test CA", "http://pki.example.jp")
        .unwrap_or_else(|e| panic!("{e}"));
    for ca in [&pki.server_ca, &pki.login_ca, &pki.staff_ca] {
        let der = shomei_ca::pki::pem_to_der(&ca.cert_pem, "CERTIFICATE").unwrap_or_default();
        let (_, c) = x509_parser::certificate::X509Certificate::from_der(&der)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut policies = false;
        let mut ca_issuers = false;
        for ext in c.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::CertificatePolicies(p) => policies = !p.is_empty(),
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    ca_issuers = aia.accessdescs.iter().any(|d| {
                        matches!(d.access_location, GeneralName::URI(u) if u == "http://pki.example.jp/ca/root.crt")
                    })
                }
                _ => {}
            }
        }
        assert!(policies && ca_issuers, "{}", c.subject());
    }
    // Numbered with the signing time in microseconds (issue #12: copies of pki/ on
    // several machines, or a restored file, never reuse a number).
    let micros = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000) as u64;
    assert_eq!(shomei_ca::pki::root_crl_due(None, now), Some(micros(now)));
    let crl =
        shomei_ca::pki::root_crl(&pki.root, micros(now), now, now + time::Duration::days(365))
            .unwrap_or_else(|e| panic!("{e}"));
    let (_, parsed) = x509_parser::revocation_list::CertificateRevocationList::from_der(&crl)
        .unwrap_or_else(|e| panic!("{e}"));
    let root = shomei_ca::pki::pem_to_der(&pki.root.cert_pem, "CERTIFICATE").unwrap_or_default();
    let (_, root) = x509_parser::certificate::X509Certificate::from_der(&root)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.verify_signature(root.public_key()).is_ok());
    // Fresh for 90 days, then re-signed with the next number.
    assert_eq!(
        shomei_ca::pki::root_crl_due(Some(&crl), now + time::Duration::days(89)),
        None
    );
    let later = now + time::Duration::days(91);
    assert_eq!(
        shomei_ca::pki::root_crl_due(Some(&crl), later),
        Some(micros(later))
    );
    // An existing number ahead of the clock is still exceeded.
    let ahead = shomei_ca::pki::root_crl(
        &pki.root,
        micros(later) + 10,
        now,
        now + time::Duration::days(365),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        shomei_ca::pki::root_crl_due(Some(&ahead), later),
        Some(micros(later) + 11)
    );
}

/// Issue #8 item 1: no certificate can be issued with a country outside ISO 3166-1 or
/// a subject value that is not normalised (half-width kana, full-width ASCII), even if
/// such data got past the form.
#[test]
fn issue8_item1_lint_refuses_bad_countries_and_unnormalised_subjects() {
    let now = datetime!(2026-11-24 10:00:00 UTC);
    let (ca, _) = ca(now);
    for (field, value, finding) in [
        ("country", "JA", "ISO 3166-1"),
        ("country", "UK", "ISO 3166-1"),
        ("org", "ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ", "NFKC"),
        ("org", "ＡＢＣ株式会社", "NFKC"),
        ("locality", "ｼﾌﾞﾔ", "NFKC"),
        ("jurisdiction", "ZZ", "ISO 3166-1"),
    ] {
        let mut o = order(now, "rsa2048.csr", field == "jurisdiction");
        match field {
            "country" => o.org.country = value.into(),
            "org" => o.org.organization = value.into(),
            "locality" => o.org.locality = value.into(),
            _ => {
                if let Some(ev) = o.ev.as_mut() {
                    ev.jurisdiction_country = value.into();
                }
            }
        }
        match ca.prepare(&o) {
            Err(CaError::Lint(e)) => assert!(e.to_string().contains(finding), "{value}: {e}"),
            other => panic!("{value} not refused: {other:?}"),
        }
    }
    // The normalised forms pass, and the preview shows the subject in certificate order.
    let mut o = order(now, "rsa2048.csr", true);
    o.org.organization = "デモカブシキガイシャ".into();
    assert!(ca.prepare(&o).is_ok());
    let preview = shomei_ca::profile::subject_preview(&o.org, o.ev.as_ref()).unwrap_or_default();
    assert!(
        preview.starts_with("businessCategory=Private Organization, jurisdictionC=JP"),
        "{preview}"
    );
    assert!(preview.ends_with("O=デモカブシキガイシャ"), "{preview}");
}

/// Issue #11 item 4, BR 4.3.1.2: the certificate the lint reads carries exactly the
/// to-be-signed bytes that are then signed, under the same signature algorithm; only its
/// stand-in signature (made once with a throwaway key) differs, and it does not verify
/// under the CA's key.
#[test]
fn issue11_the_linted_certificate_is_the_signed_tbs_under_a_stand_in_signature() {
    let now = datetime!(2026-06-01 0:00 UTC);
    let (ca, _pki) = ca(now);
    for csr in ["rsa2048.csr", "p256-cn-only.csr"] {
        let linted = ca
            .prepare(&order(now, csr, false))
            .unwrap_or_else(|e| panic!("{csr}: {e}"));
        let (lint_der, tbs) = (linted.lint_der().to_vec(), linted.tbs_der().to_vec());
        let signed = ca.sign(linted).unwrap_or_else(|e| panic!("{csr}: {e}"));
        let (_, lint) =
            X509Certificate::from_der(&lint_der).unwrap_or_else(|e| panic!("{csr}: {e}"));
        let (_, cert) =
            X509Certificate::from_der(&signed.der).unwrap_or_else(|e| panic!("{csr}: {e}"));
        let (_, issuer) =
            X509Certificate::from_der(ca.cert_der()).unwrap_or_else(|e| panic!("{csr}: {e}"));
        assert_eq!(lint.tbs_certificate.as_ref(), tbs.as_slice(), "{csr}");
        assert_eq!(cert.tbs_certificate.as_ref(), tbs.as_slice(), "{csr}");
        assert_eq!(
            lint.signature_algorithm.algorithm, cert.signature_algorithm.algorithm,
            "{csr}"
        );
        assert!(
            cert.verify_signature(Some(issuer.public_key())).is_ok(),
            "{csr}"
        );
        assert!(
            lint.verify_signature(Some(issuer.public_key())).is_err(),
            "{csr}"
        );
    }
}
