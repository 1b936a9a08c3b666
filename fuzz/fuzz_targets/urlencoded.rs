//! `application/x-www-form-urlencoded` bodies through the strict extractor every
//! portal and desk form uses (non-UTF-8 refused with a 400), into the shapes the
//! handlers take: name/value pairs (the desk's approval form), the mass-revocation form,
//! the application form.
#![no_main]
use axum::extract::FromRequest;
use libfuzzer_sys::fuzz_target;
use shomei_web::urlform::Form;

fn request(data: &[u8]) -> axum::extract::Request {
    axum::http::Request::builder()
        .method("POST")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(data.to_vec()))
        .unwrap_or_else(|e| panic!("request: {e}"))
}

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let _ = shomei_web::urlform::is_utf8_urlencoded(data);
        let _ = Form::<Vec<(String, String)>>::from_request(request(data), &()).await;
        let _ = Form::<shomei_ra::mass_revoke::MassForm>::from_request(request(data), &()).await;
        let _ = Form::<shomei_ra::apply::ApplicationForm>::from_request(request(data), &()).await;
    });
});
