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

// --- Issue #7 item 1: weak keys (BR 6.1.1.3 (4), 6.1.6). The CSRs in tests/data/weak
// are made by .ci/corpus/gen.py --fixtures (Python `cryptography`, real RSA keys).

fn weak(name: &str) -> Vec<u8> {
    data(&format!("weak/{name}.csr"))
}

fn weak_refused(name: &str) -> CsrError {
    match check_csr(&weak(name)) {
        Err(e) => e,
        Ok(c) => panic!("{name} accepted: {:?}", c.names),
    }
}

#[test]
fn r_s2_issue7_item1_roca_key_is_refused() {
    assert_eq!(weak_refused("rsa2048-roca"), CsrError::WeakKeyRoca);
    assert_eq!(CsrError::WeakKeyRoca.key(), "csr.weak_roca");
}

#[test]
fn r_s2_issue7_item1_close_primes_are_refused() {
    assert_eq!(weak_refused("rsa2048-fermat"), CsrError::WeakKeyFermat);
}

#[test]
fn r_s2_issue7_item1_small_exponents_are_refused_with_the_exponent() {
    assert_eq!(
        weak_refused("rsa2048-e3"),
        CsrError::RsaBadExponent("3".into())
    );
    assert_eq!(
        weak_refused("rsa2048-e17"),
        CsrError::RsaBadExponent("17".into())
    );
    assert_eq!(
        CsrError::RsaBadExponent("3".into()).detail().as_deref(),
        Some("3")
    );
}

/// The operator's procedure for a list line: `openssl req -noout -modulus | sha1sum`.
fn openssl_modulus_sha1(csr: &str) -> String {
    let path = format!("{}/tests/data/weak/{csr}.csr", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-noout", "-modulus", "-in", &path])
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    assert!(out.starts_with(b"Modulus="), "openssl req -modulus failed");
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha1", "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("openssl: {e}"));
    use std::io::Write;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&out);
    }
    let out = child
        .wait_with_output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn r_s2_issue7_item1_debian_weak_key_list_from_a_directory() {
    let fp = openssl_modulus_sha1("rsa2048-debian-listed");
    assert_eq!(fp.len(), 40, "{fp}");
    let dir = std::env::temp_dir().join(format!("shomei-weak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_default();
    // One file with the full SHA-1, one in the openssl-blacklist form (last 20 digits).
    std::fs::write(
        dir.join("full.list"),
        format!("# test list\n0123456789abcdef0123456789abcdef01234567\n{fp}\n"),
    )
    .unwrap_or_default();
    std::fs::write(dir.join("README"), "not a list").unwrap_or_default();
    let list = shomei_ca::WeakKeyList::load_dir(&dir).unwrap_or_default();
    assert_eq!(list.len(), 2);
    let policy = shomei_ca::KeyPolicy { weak_keys: list };
    assert_eq!(
        shomei_ca::check_csr_with(&weak("rsa2048-debian-listed"), &policy).err(),
        Some(CsrError::WeakKeyDebian)
    );
    // Without the list the same key passes; other keys pass with it.
    assert!(check_csr(&weak("rsa2048-debian-listed")).is_ok());
    assert!(shomei_ca::check_csr_with(&weak("rsa2048-canonical"), &policy).is_ok());
    // The short form alone is enough.
    std::fs::write(dir.join("full.list"), format!("{}\n", &fp[20..])).unwrap_or_default();
    let short = shomei_ca::WeakKeyList::load_dir(&dir).unwrap_or_default();
    let policy = shomei_ca::KeyPolicy { weak_keys: short };
    assert_eq!(
        shomei_ca::check_csr_with(&weak("rsa2048-debian-listed"), &policy).err(),
        Some(CsrError::WeakKeyDebian)
    );
    // A bad line names the file and the line.
    std::fs::write(dir.join("bad.list"), "# ok\nzz\n").unwrap_or_default();
    let err = shomei_ca::WeakKeyList::load_dir(&dir)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("bad.list") && e.contains("line 2")),
        "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// --- Issue #7 item 3: one key, one encoding.

#[test]
fn r_s2_issue7_item3_non_canonical_encodings_are_refused() {
    for name in ["rsa2048-no-null", "p256-compressed"] {
        assert_eq!(weak_refused(name), CsrError::NonCanonicalKey, "{name}");
    }
    // A modulus with a leading zero byte too many is not DER: the parser refuses it.
    assert_eq!(weak_refused("rsa2048-padded-modulus"), CsrError::Malformed);
}

#[test]
fn r_s2_issue7_item3_key_hash_is_of_the_canonical_encoding() {
    let c = check_csr(&weak("rsa2048-canonical"));
    let c = c.as_ref().map_err(|e| e.to_string());
    assert!(c.is_ok(), "{c:?}");
    if let Ok(c) = c {
        assert_eq!(c.spki_sha256, shomei_ca::sha256_hex(&c.spki_der));
        assert_eq!(c.key, KeyKind::Rsa(2048));
    }
}

/// Issue #7 item 2 (BR 7.1.2.7.12, RFC 5890): the names the probe got issued are
/// refused, each with its own reason; valid A-labels still pass.
#[test]
fn r_s2_issue7_item2_invalid_dns_labels_are_refused() {
    use shomei_ca::names::check_dns_name;
    assert_eq!(
        check_dns_name("xn--zz.example.jp").err(),
        Some(CsrError::InvalidIdn("xn--zz.example.jp".into()))
    );
    assert_eq!(
        check_dns_name("ab--cd.example.jp").err(),
        Some(CsrError::ReservedLabel("ab--cd.example.jp".into()))
    );
    assert_eq!(
        check_dns_name("xn--a-ecp.example.jp").err(),
        Some(CsrError::InvalidIdn("xn--a-ecp.example.jp".into()))
    );
    assert_eq!(CsrError::InvalidIdn(String::new()).key(), "csr.invalid_idn");
    assert_eq!(
        CsrError::ReservedLabel(String::new()).key(),
        "csr.reserved_label"
    );
    for ok in [
        "xn--r8jz45g.jp",
        "XN--R8JZ45G.JP",
        "www.xn--bcher-kva.example.com",
    ] {
        assert!(check_dns_name(ok).is_ok(), "{ok}");
    }
}
