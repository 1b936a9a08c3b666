//! R-S2 and issue #2 item 5: every CSR refusal reason, one test each, on CSRs made by
//! the real `openssl req` (tests/data).

use shomei_ca::{CsrError, KeyKind, check_csr};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_default()
}

fn refused(name: &str) -> CsrError {
    match check_csr(&data(name)) {
        Err(e) => e,
        Ok(c) => panic!("{name} accepted: {:?}", c.names),
    }
}

#[test]
fn r_s2_accepts_rsa_2048_with_sans() {
    let c = check_csr(&data("rsa2048.csr")).map_err(|e| e.to_string());
    let c = c.as_ref().map_err(String::as_str);
    assert_eq!(c.map(|c| c.key.clone()), Ok(KeyKind::Rsa(2048)));
    assert_eq!(
        c.map(|c| c.names.clone()),
        Ok(vec!["www.example.jp".to_string(), "example.jp".to_string()])
    );
}

#[test]
fn r_s2_accepts_der_and_p384_wildcard() {
    assert_eq!(
        check_csr(&data("p256.der")).map(|c| c.key).ok(),
        Some(KeyKind::EcP256)
    );
    let c = check_csr(&data("p384-wildcard.csr"));
    assert_eq!(
        c.as_ref().map(|c| c.key.clone()).ok(),
        Some(KeyKind::EcP384)
    );
    assert_eq!(c.map(|c| c.names.len()).ok(), Some(2));
}

#[test]
fn r_s2_cn_only_csr_gives_one_name() {
    let c = check_csr(&data("p256-cn-only.csr"));
    assert_eq!(
        c.map(|c| c.names).ok(),
        Some(vec!["www.example.jp".to_string()])
    );
}

#[test]
fn r_s2_refuses_oversized_input() {
    assert_eq!(
        check_csr(&vec![b'A'; 64 * 1024 + 1]).err(),
        Some(CsrError::TooLarge)
    );
}

#[test]
fn r_s2_refuses_non_pem_bytes() {
    assert_eq!(
        check_csr(b"hello, this is not a CSR").err(),
        Some(CsrError::NotPemOrDer)
    );
    assert_eq!(
        check_csr(&[0xff, 0xfe, 0x00, 0x80]).err(),
        Some(CsrError::NotPemOrDer)
    );
    // A PEM block of the wrong kind is not a CSR either.
    assert_eq!(
        check_csr(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").err(),
        Some(CsrError::NotPemOrDer)
    );
}

#[test]
fn r_s2_refuses_malformed_der() {
    assert_eq!(
        check_csr(&[0x30, 0x03, 0x02, 0x01, 0x00]).err(),
        Some(CsrError::Malformed)
    );
}

#[test]
fn r_s2_refuses_bad_signature() {
    assert_eq!(refused("rsa2048-tampered.csr"), CsrError::BadSignature);
}

#[test]
fn r_s2_refuses_rsa_under_2048() {
    assert_eq!(refused("rsa1024.csr"), CsrError::RsaTooSmall(1024));
}

#[test]
fn r_s2_refuses_rsa_not_multiple_of_8() {
    assert_eq!(refused("rsa2052.csr"), CsrError::RsaNotMultipleOf8(2052));
}

#[test]
fn r_s2_refuses_p521_curve() {
    assert!(matches!(
        refused("p521.csr"),
        CsrError::UnsupportedCurve(_) | CsrError::BadSignature
    ));
}

#[test]
fn r_s2_refuses_ed25519() {
    assert!(matches!(
        refused("ed25519.csr"),
        CsrError::UnsupportedKey(_) | CsrError::BadSignature
    ));
}

#[test]
fn r_s2_refuses_ip_address() {
    assert!(matches!(refused("p256-ip.csr"), CsrError::IpAddress(_)));
}

#[test]
fn r_s2_refuses_internal_name() {
    assert_eq!(
        refused("p256-internal.csr"),
        CsrError::InternalName("intranet.local".into())
    );
}

#[test]
fn r_s2_refuses_single_label() {
    assert_eq!(
        refused("p256-single-label.csr"),
        CsrError::SingleLabel("intranet".into())
    );
}

#[test]
fn r_s2_refuses_csr_without_names() {
    assert_eq!(refused("p256-no-names.csr"), CsrError::NoNames);
}

#[test]
fn r_s2_refuses_cn_not_among_names() {
    assert_eq!(
        refused("p256-cn-not-in-san.csr"),
        CsrError::CommonNameNotInNames("other.example.jp".into())
    );
}
