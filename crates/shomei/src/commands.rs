//! The command-line commands that work on certificates and contracts: `contract import`,
//! `certificate revoke`, and how their errors are put in words.

use crate::config::Config;
use crate::setup;

/// `shomei contract import`.
#[allow(clippy::too_many_arguments)] // Each argument is one command-line option.
pub(crate) async fn import_contract(
    cfg: &Config,
    pki: &setup::Pki,
    access_key: &str,
    staff: &str,
    file: &std::path::Path,
    csr: &std::path::Path,
    contract_type: &str,
    org_method: &str,
    domain_method: &str,
    cert_out: Option<&std::path::Path>,
) -> Result<(), String> {
    let ra = setup::ra(cfg, pki).await?;
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let mut form: shomei_ra::apply::ApplicationForm = serde_json::from_str(&read(file)?)
        .map_err(|e| format!("{} is not valid application JSON: {e}", file.display()))?;
    form.csr = read(csr)?;
    let contract_type = shomei_model::ContractType::from_code(contract_type)
        .ok_or("--contract-type must be auto or fixed")?;
    let account = ra
        .account_by_access_key(access_key)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no account with that --access-key")?;
    let staff = ra
        .staff_by_login(staff)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no staff member with that --staff login")?;
    let names = shomei_ca::check_csr(form.csr.as_bytes())
        .map(|c| c.names)
        .unwrap_or_default();
    let approval = shomei_ra::issue::Approval {
        org_method: org_method.to_owned(),
        ev_method: Some(org_method.to_owned()),
        domain_methods: names
            .into_iter()
            .map(|n| (n, domain_method.to_owned()))
            .collect(),
        domain_notes: Vec::new(),
    };
    match ra
        .import_contract(staff.id, account.id, &form, contract_type, &approval)
        .await
    {
        Ok(Ok((id, issued))) => {
            if let Some(path) = cert_out {
                let cert = ra
                    .issued_certificate(id)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or("the certificate was issued but cannot be read back")?;
                setup::write_public(path, cert.pem.unwrap_or_default().as_bytes())?;
            }
            println!(
                "{}",
                serde_json::json!({ "application_id": id, "contract_code": issued.contract_code, "serial": issued.serial })
            );
            Ok(())
        }
        Ok(Err(issues)) => Err(format!(
            "the application is not valid: {}",
            issues
                .iter()
                .map(|i| format!("{}: {}", i.field, sentence(i.key, i.detail.as_deref())))
                .collect::<Vec<_>>()
                .join("; ")
        )),
        // A unique violation here is not a taken login (what `explain` says of one).
        Err(e @ shomei_ra::RaError::Store(_)) => Err(format!("cannot import: {e}")),
        Err(e) => Err(format!("cannot import: {}", explain(&e))),
    }
}

/// `shomei certificate revoke`.
pub(crate) async fn revoke_certificate(
    cfg: &Config,
    pki: &setup::Pki,
    serial: &str,
    reason: &str,
) -> Result<(), String> {
    use shomei_ra::revoke::OPERATOR_REASONS;
    if !OPERATOR_REASONS.iter().any(|(name, _)| *name == reason) {
        return Err(format!(
            "--reason must be one of {}",
            OPERATOR_REASONS
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let Some(hex) = shomei_ra::mass_revoke::normalise_serial(serial) else {
        return Err(format!("--serial {serial:?} is not a serial number (hex)"));
    };
    let ra = setup::ra(cfg, pki).await?;
    match ra.operator_revoke(&hex, reason).await {
        Ok(serials) => {
            println!(
                "{}",
                serde_json::json!({ "revoked": serials, "reason": reason })
            );
            Ok(())
        }
        Err(shomei_ra::RaError::NotFound) => Err(format!(
            "no issued certificate with the serial {hex} (this CA's server certificates only)"
        )),
        Err(shomei_ra::RaError::WrongState) => {
            Err(format!("the certificate {hex} is already revoked"))
        }
        Err(e) => Err(format!("cannot revoke: {}", explain(&e))),
    }
}

/// Says in words what was wrong with a command-line value.
pub(crate) fn explain(e: &shomei_ra::RaError) -> String {
    match e {
        shomei_ra::RaError::Invalid(key) => match *key {
            "err.org" => "--org is required (at most 200 characters)".into(),
            "err.email" => "--email is not a valid e-mail address".into(),
            "err.dealer_code" => "--dealer-code must be 1 to 32 letters, digits or '-'".into(),
            "err.login" => {
                "--login must be 1 to 64 characters of letters, digits, '.', '-', '_'".into()
            }
            "err.name" => "--name is required (at most 100 characters)".into(),
            other => sentence(other, None),
        },
        shomei_ra::RaError::Store(s) if s.is_unique_violation() => {
            "that login is already taken".into()
        }
        other => other.to_string(),
    }
}

/// The English sentence of a message key (the portal's message file), with its detail
/// (a name, a key size) put in; the key itself only if no sentence exists.
fn sentence(key: &str, detail: Option<&str>) -> String {
    let tr = shomei_web::i18n::Tr {
        lang: shomei_web::i18n::Lang::En,
    };
    match (tr.t(key), detail) {
        ("[?]", _) => key.to_owned(),
        (_, Some(d)) => tr.t1(key, d),
        (text, None) => text.to_owned(),
    }
}

/// Writes login.p12, login.crt and login.key into `dir`; returns the .p12 path.
pub(crate) fn write_credentials(
    dir: &std::path::Path,
    c: &shomei_ra::accounts::Created,
) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let p12 = dir.join("login.p12");
    setup::write_private(&p12, &c.p12)?;
    setup::write_public(&dir.join("login.crt"), c.cert_pem.as_bytes())?;
    setup::write_private(&dir.join("login.key"), c.key_pem.as_bytes())?;
    Ok(p12.display().to_string())
}

#[cfg(test)]
mod tests {
    /// Issue #7 item 7: the CLI prints sentences with their numbers, not message keys.
    #[test]
    fn issue7_item7_cli_prints_sentences() {
        let e = shomei_ca::CsrError::RsaTooSmall(1024);
        let text = super::sentence(e.key(), e.detail().as_deref());
        assert_eq!(
            text,
            "An RSA key of 1024 bits is too short. Use 2048 bits or more."
        );
        let e = shomei_ca::CsrError::RsaBadExponent("3".into());
        let text = super::sentence(e.key(), e.detail().as_deref());
        assert!(
            text.contains("exponent 3") && text.contains("65537"),
            "{text}"
        );
        assert!(super::sentence(shomei_ca::CsrError::WeakKeyRoca.key(), None).contains("ROCA"));
        // Through the RA error path too; an unknown key stays as it is.
        let e = shomei_ra::RaError::Invalid("csr.weak_debian");
        assert!(super::explain(&e).contains("Debian weak key"));
        assert_eq!(super::sentence("no.such.key", None), "no.such.key");
    }
}
