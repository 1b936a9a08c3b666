//! Reading the application form's multipart POST. Problems with the bytes themselves
//! (invalid UTF-8, an oversized file, a broken upload) become field issues, never a 500.

use axum::extract::Multipart;
use shomei_ra::apply::{ApplicationForm, FieldIssue};

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
                issues.push(FieldIssue {
                    field: "csr",
                    key: "err.upload",
                    detail: None,
                });
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(_) => {
                issues.push(FieldIssue {
                    field: "csr",
                    key: "err.upload",
                    detail: None,
                });
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
            let field: &'static str = FIELD_NAMES
                .iter()
                .find(|n| **n == name)
                .copied()
                .unwrap_or("csr");
            issues.push(FieldIssue {
                field,
                key: "err.utf8",
                detail: None,
            });
            continue;
        };
        match name.as_str() {
            "csrf" => csrf = value,
            "csr" => form.csr = value,
            "server_type" => form.server_type = value,
            "org_name" => form.org_name = value,
            "org_country" => form.org_country = value,
            "org_state" => form.org_state = value,
            "org_locality" => form.org_locality = value,
            "org_kana" => form.org_kana = value,
            "org_postal" => form.org_postal = value,
            "org_address" => form.org_address = value,
            "reg_name" => form.reg_name = value,
            "reg_fax" => form.reg_fax = value,
            "reg_address" => form.reg_address = value,
            "reg_postal" => form.reg_postal = value,
            "tech_fax" => form.tech_fax = value,
            "tech_address" => form.tech_address = value,
            "tech_postal" => form.tech_postal = value,
            "admin_fax" => form.admin_fax = value,
            "admin_address" => form.admin_address = value,
            "admin_postal" => form.admin_postal = value,
            "reg_email" => form.reg_email = value,
            "reg_phone" => form.reg_phone = value,
            "tech_name" => form.tech_name = value,
            "tech_email" => form.tech_email = value,
            "tech_phone" => form.tech_phone = value,
            "admin_name" => form.admin_name = value,
            "admin_email" => form.admin_email = value,
            "admin_phone" => form.admin_phone = value,
            "reg_renewal_mail" => form.reg_renewal_mail = value,
            "tech_renewal_mail" => form.tech_renewal_mail = value,
            "admin_renewal_mail" => form.admin_renewal_mail = value,
            "ev_jurisdiction_country" => form.ev_jurisdiction_country = value,
            "ev_jurisdiction_state" => form.ev_jurisdiction_state = value,
            "ev_jurisdiction_locality" => form.ev_jurisdiction_locality = value,
            "ev_business_category" => form.ev_business_category = value,
            "ev_registration_number" => form.ev_registration_number = value,
            "reissue_revoke" => form.reissue_revoke = value,
            "coupon" => form.coupon = value,
            _ => {}
        }
    }
    if let Some(bytes) = file {
        // An uploaded file wins over the text area. DER is kept as PEM text.
        if bytes.len() > shomei_ca::csr::MAX_CSR_BYTES {
            issues.push(FieldIssue {
                field: "csr",
                key: "csr.too_large",
                detail: None,
            });
        } else if bytes.first() == Some(&0x30) {
            form.csr = shomei_ca::csr::pem_encode("CERTIFICATE REQUEST", &bytes);
        } else {
            match String::from_utf8(bytes) {
                Ok(s) => form.csr = s,
                Err(_) => issues.push(FieldIssue {
                    field: "csr",
                    key: "csr.not_pem",
                    detail: None,
                }),
            }
        }
    }
    // Keep the draft small: a CSR text area over the limit is refused, not stored.
    if form.csr.len() > shomei_ca::csr::MAX_CSR_BYTES {
        form.csr.clear();
        issues.push(FieldIssue {
            field: "csr",
            key: "csr.too_large",
            detail: None,
        });
    }
    for f in [
        &mut form.org_name,
        &mut form.org_state,
        &mut form.org_locality,
        &mut form.org_kana,
        &mut form.org_address,
        &mut form.reg_name,
        &mut form.tech_name,
        &mut form.admin_name,
    ] {
        if f.chars().count() > 1000 {
            *f = f.chars().take(1000).collect();
        }
    }
    (csrf, issues)
}

pub(crate) const FIELD_NAMES: &[&str] = &[
    "server_type",
    "org_name",
    "org_country",
    "org_state",
    "org_locality",
    "org_kana",
    "org_postal",
    "org_address",
    "reg_name",
    "reg_fax",
    "reg_address",
    "reg_postal",
    "tech_fax",
    "tech_address",
    "tech_postal",
    "admin_fax",
    "admin_address",
    "admin_postal",
    "reg_email",
    "reg_phone",
    "tech_name",
    "tech_email",
    "tech_phone",
    "admin_name",
    "admin_email",
    "admin_phone",
    "reg_renewal_mail",
    "tech_renewal_mail",
    "admin_renewal_mail",
    "coupon",
    "ev_jurisdiction_country",
    "ev_jurisdiction_state",
    "ev_jurisdiction_locality",
    "ev_business_category",
    "ev_registration_number",
];
