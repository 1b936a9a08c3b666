//! Reading the application form's multipart POST. Problems with the bytes themselves
//! (invalid UTF-8, an oversized file, a broken upload) become field issues, never a 500.

use axum::extract::Multipart;
use shomei_ra::apply::ApplicationForm;
use shomei_ra::field_issue::FieldIssue;
use shomei_ra::form::TextFields;

/// Reads the multipart form. Problems with the bytes themselves (invalid UTF-8, an
/// oversized file, a broken upload) become field issues, never a 500.
pub(crate) async fn read_multipart(
    mut mp: Multipart,
    form: &mut ApplicationForm,
) -> (String, Vec<FieldIssue>) {
    let mut csrf = String::new();
    let mut issues = Vec::new();
    let mut file: Option<Vec<u8>> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                issues.push(FieldIssue::new("csr", "err.upload"));
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(_) => {
                issues.push(FieldIssue::new("csr", "err.upload"));
                break;
            }
        };
        if name == "csr_file" {
            if !bytes.is_empty() {
                file = Some(bytes.to_vec());
            }
            continue;
        }
        let Ok(value) = String::from_utf8(bytes.to_vec()) else {
            let field: &'static str = ApplicationForm::TEXT_FIELDS
                .iter()
                .find(|n| **n == name)
                .copied()
                .unwrap_or("csr");
            issues.push(FieldIssue::new(field, "err.utf8"));
            continue;
        };
        match name.as_str() {
            "csrf" => csrf = value,
            // The service and term were chosen on their own step; not changed here.
            "service" | "term" => {}
            _ => {
                if let Some(slot) = form.text_mut(&name) {
                    *slot = value;
                }
            }
        }
    }
    if let Some(bytes) = file {
        // An uploaded file wins over the text area. DER is kept as PEM text.
        if bytes.len() > shomei_ca::csr::MAX_CSR_BYTES {
            issues.push(FieldIssue::new("csr", "csr.too_large"));
        } else if bytes.first() == Some(&0x30) {
            form.csr = shomei_ca::csr::pem_encode("CERTIFICATE REQUEST", &bytes);
        } else {
            match String::from_utf8(bytes) {
                Ok(s) => form.csr = s,
                Err(_) => issues.push(FieldIssue::new("csr", "csr.not_pem")),
            }
        }
    }
    // Keep the draft small: a CSR text area over the limit is refused, not stored.
    if form.csr.len() > shomei_ca::csr::MAX_CSR_BYTES {
        form.csr.clear();
        issues.push(FieldIssue::new("csr", "csr.too_large"));
    }
    // Keep the draft small: no text field beyond 1,000 characters is stored (the
    // checks then say how long each may be).
    for name in ApplicationForm::TEXT_FIELDS.iter().filter(|n| **n != "csr") {
        if let Some(f) = form.text_mut(name)
            && f.chars().count() > 1000
        {
            *f = f.chars().take(1000).collect();
        }
    }
    (csrf, issues)
}

/// The apply page's reading of a multipart body, on its own (the fuzz target
/// `fuzz/fuzz_targets/multipart.rs` drives it with arbitrary bodies): the form, the CSRF
/// token and the field issues, or `None` if the request is not multipart/form-data with
/// a boundary (the page then answers 400).
pub async fn decode(
    content_type: &str,
    body: Vec<u8>,
) -> Option<(ApplicationForm, String, Vec<FieldIssue>)> {
    use axum::extract::FromRequest;
    let req = axum::http::Request::builder()
        .method("POST")
        .header("content-type", content_type)
        .body(axum::body::Body::from(body))
        .ok()?;
    let mp = Multipart::from_request(req, &()).await.ok()?;
    let mut form = ApplicationForm::default();
    let (csrf, issues) = read_multipart(mp, &mut form).await;
    Some((form, csrf, issues))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    /// A well-formed body fills the form; a broken one gives a field issue, never a panic.
    #[tokio::test]
    async fn decodes_a_body_and_refuses_a_broken_one() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n--b\r\nContent-Disposition: form-data; name=\"org_name\"\r\n\r\n\xe8\xa8\xbc\xe6\x98\x8e\r\n--b--\r\n".to_vec();
        let (form, csrf, issues) = super::decode("multipart/form-data; boundary=b", body)
            .await
            .expect("multipart");
        assert_eq!((csrf.as_str(), form.org_name.as_str()), ("tok", "証明"));
        assert!(issues.is_empty(), "{issues:?}");
        let broken =
            b"--b\r\nContent-Disposition: form-data; name=\"org_name\"\r\n\r\n\xff\xfe".to_vec();
        let (_, _, issues) = super::decode("multipart/form-data; boundary=b", broken)
            .await
            .expect("multipart");
        assert!(!issues.is_empty());
        assert!(super::decode("text/plain", Vec::new()).await.is_none());
    }
}
