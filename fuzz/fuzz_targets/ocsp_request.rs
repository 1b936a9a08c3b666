//! OCSP request parsing (RFC 6960, POST bodies and the decoded GET path) by the
//! responder of a development PKI.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shomei_ca::ocsp::OcspResponder;
use std::sync::OnceLock;

fn responder() -> &'static OcspResponder {
    static R: OnceLock<OcspResponder> = OnceLock::new();
    R.get_or_init(|| {
        let pki = shomei_ca::pki::generate_dev_pki(
            time::OffsetDateTime::now_utc(),
            "Fuzz CA",
            "http://pki.example.jp",
        )
        .unwrap_or_else(|e| panic!("development PKI: {e}"));
        OcspResponder::from_pem(&pki.server_ca.cert_pem, &pki.ocsp.cert_pem, &pki.ocsp.key_pem)
            .unwrap_or_else(|e| panic!("responder: {e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = responder().parse_request(data);
});
