//! The application form's multipart body (CSR upload, text fields), read as the apply
//! page reads it: bad bytes must become field issues, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let _ = shomei_web::portal::multipart::decode(
            "multipart/form-data; boundary=b",
            data.to_vec(),
        )
        .await;
    });
});
