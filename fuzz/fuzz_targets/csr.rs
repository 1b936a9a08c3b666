//! CSR parsing and every check a CSR goes through (names, key size and curve, weak
//! keys: ROCA, Fermat, small factors, the Debian list), as the portal receives it: PEM
//! text, or DER from an uploaded file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let result = if data.first() == Some(&0x30) {
        let pem = shomei_ca::csr::pem_encode("CERTIFICATE REQUEST", data);
        shomei_ca::check_csr(pem.as_bytes())
    } else {
        shomei_ca::check_csr(data)
    };
    match result {
        Ok(csr) => {
            let _ = (csr.key.describe(), csr.names.len());
        }
        Err(e) => {
            let _ = (e.key(), e.detail());
        }
    }
});
