//! ACME request bodies (RFC 8555 6.2): the flattened JWS, its protected header, the
//! algorithm, the payload as JSON, the JWK's thumbprint and signature check with it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use shomei_acme::jws::{Jws, thumbprint};

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = Jws::parse(data) else { return };
    let _ = jws.algorithm();
    let _ = jws.json();
    if let Some(jwk) = jws.protected.jwk.clone() {
        let _ = thumbprint(&jwk);
        let _ = jws.verify(&jwk);
    }
});
