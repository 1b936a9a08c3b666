//! OCSP (RFC 6960; BR 4.9.9, 4.9.10) on every backend: good after issuance (pre-built),
//! revoked with time and reason after the phone confirmation, unknown for a serial that
//! was never issued, unauthorized for another issuer, malformedRequest for garbage;
//! signed by the delegated responder; validity between 8 hours and 7 days.

use der::asn1::{Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use shomei_ra::testing::{issued, ra, request_revocation};
use shomei_store::testing::backends;
use spki::AlgorithmIdentifierOwned;
use time::macros::datetime;
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest, Version,
};

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

fn sha1(d: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, d)
        .as_ref()
        .to_vec()
}

fn request(issuer_pem: &str, serial: &[u8]) -> Vec<u8> {
    let der = shomei_ca::pki::pem_to_der(issuer_pem, "CERTIFICATE").unwrap_or_default();
    let issuer = Certificate::from_der(&der).unwrap_or_else(|e| panic!("{e}"));
    let name = issuer.tbs_certificate.subject.to_der().unwrap_or_default();
    let key = issuer
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes();
    let id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            parameters: Some(Null.into()),
        },
        issuer_name_hash: OctetString::new(sha1(&name)).unwrap_or_else(|e| panic!("{e}")),
        issuer_key_hash: OctetString::new(sha1(key)).unwrap_or_else(|e| panic!("{e}")),
        serial_number: SerialNumber::new(serial).unwrap_or_else(|e| panic!("{e}")),
    };
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: id,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    req.to_der().unwrap_or_default()
}

/// Parses a response, checks its signature with the responder certificate it carries
/// (which must be the delegated responder), and returns the status and validity.
fn parse(der: &[u8], responder_pem: &str) -> (CertStatus, i64) {
    let resp = OcspResponse::from_der(der).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.response_status, OcspResponseStatus::Successful);
    let bytes = resp.response_bytes.unwrap_or_else(|| panic!("no bytes"));
    let basic =
        BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let certs = basic.certs.clone().unwrap_or_default();
    let responder = shomei_ca::pki::pem_to_der(responder_pem, "CERTIFICATE").unwrap_or_default();
    assert_eq!(
        certs.first().and_then(|c| c.to_der().ok()),
        Some(responder.clone()),
        "delegated responder included"
    );
    let key = certs[0]
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let tbs = basic.tbs_response_data.to_der().unwrap_or_default();
    let ok = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key)
        .verify(&tbs, basic.signature.raw_bytes());
    assert!(ok.is_ok(), "signature verifies with the responder key");
    let single = &basic.tbs_response_data.responses[0];
    let this = single.this_update.0.to_unix_duration().as_secs() as i64;
    let next = single
        .next_update
        .as_ref()
        .map(|n| n.0.to_unix_duration().as_secs() as i64)
        .unwrap_or(0);
    (single.cert_status, next - this)
}

#[tokio::test]
async fn ocsp_good_revoked_unknown() {
    for db in backends().await {
        let (ra, clock, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let serial = hex::decode(
            db.store
                .issued_certificate(app)
                .await
                .ok()
                .flatten()
                .map(|c| c.serial)
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        // Pre-built at issuance.
        assert!(
            db.store
                .cached_ocsp("server", &hex::encode(&serial), ra.now())
                .await
                .ok()
                .flatten()
                .is_some(),
            "pre-built on {}",
            db.name
        );
        let (status, validity) = parse(
            &ra.ocsp_answer(&request(&pki.server_ca.cert_pem, &serial))
                .await,
            &pki.ocsp.cert_pem,
        );
        assert!(matches!(status, CertStatus::Good(_)), "{}", db.name);
        assert!(
            (8 * 3600..=7 * 86_400).contains(&validity),
            "validity {validity}"
        );

        // Never "good" for a serial that was not issued.
        let mut unknown = serial.clone();
        unknown[5] ^= 0xff;
        let (status, _) = parse(
            &ra.ocsp_answer(&request(&pki.server_ca.cert_pem, &unknown))
                .await,
            &pki.ocsp.cert_pem,
        );
        assert!(matches!(status, CertStatus::Unknown(_)));

        // Revoked, with time and reason, right after the confirmation.
        let rev = request_revocation(&ra, a.id, app, "end_of_service")
            .await
            .unwrap_or_else(|k| panic!("{k}"));
        clock.advance(time::Duration::minutes(30));
        ra.confirm_revocation(staff.id, rev)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (status, _) = parse(
            &ra.ocsp_answer(&request(&pki.server_ca.cert_pem, &serial))
                .await,
            &pki.ocsp.cert_pem,
        );
        match status {
            CertStatus::Revoked(info) => {
                assert_eq!(
                    info.revocation_reason,
                    Some(x509_cert::ext::pkix::crl::CrlReason::CessationOfOperation)
                );
                assert_eq!(
                    info.revocation_time.0.to_unix_duration().as_secs() as i64,
                    ra.now()
                );
            }
            other => panic!("expected revoked on {}, got {other:?}", db.name),
        }

        // Another issuer: unauthorized. Garbage: malformedRequest.
        let other = OcspResponse::from_der(
            &ra.ocsp_answer(&request(&pki.login_ca.cert_pem, &serial))
                .await,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.response_status, OcspResponseStatus::Unauthorized);
        let bad = OcspResponse::from_der(&ra.ocsp_answer(b"garbage").await)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bad.response_status, OcspResponseStatus::MalformedRequest);
    }
}

/// Responses are refreshed well before nextUpdate (after a day of 4).
#[tokio::test]
async fn ocsp_refresh_before_next_update() {
    let db = shomei_store::testing::sqlite().await;
    let (ra, clock, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
    let staff = ra
        .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    issued(&ra, staff.id, CSR).await;
    assert_eq!(
        ra.refresh_ocsp(100).await.ok(),
        Some(0),
        "fresh after issuance"
    );
    clock.advance(time::Duration::hours(25));
    assert_eq!(
        ra.refresh_ocsp(100).await.ok(),
        Some(1),
        "rebuilt after a day"
    );
    assert_eq!(ra.refresh_ocsp(100).await.ok(), Some(0));
}
