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
