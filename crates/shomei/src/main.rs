//! `shomei`: one binary with subcommands (serve, account, staff).

mod backup;
mod config;
mod serve;
mod setup;

use clap::{Args, Parser, Subcommand};
use config::Config;
use shomei_model::Actor;
use shomei_model::SystemClock;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "shomei",
    version,
    about = "Shomei (証明): TLS certificate applications, review and issuance for a CA"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Global {
    /// Data directory (database, PKI, demo accounts). Default: ./shomei-data
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the public, portal and desk listeners (creates everything on first start).
    Serve,
    /// Customer accounts.
    Account {
        #[command(subcommand)]
        cmd: AccountCmd,
    },
    /// Staff members.
    Staff {
        #[command(subcommand)]
        cmd: StaffCmd,
    },
    /// Contracts.
    Contract {
        #[command(subcommand)]
        cmd: ContractCmd,
    },
    /// ACME (RFC 8555) with external account binding.
    Acme {
        #[command(subcommand)]
        cmd: AcmeCmd,
    },
    /// The key that encrypts secrets kept in the database (TOTP secrets).
    Secrets {
        #[command(subcommand)]
        cmd: SecretsCmd,
    },
    /// Write a consistent copy of the SQLite database to a new file while the server
    /// keeps serving (PostgreSQL: use pg_dump).
    Backup {
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Replace the SQLite database with a backup (the server must be stopped). The
    /// replaced database is kept beside it; revocations it recorded after the backup
    /// are carried over; every CRL is re-signed with a higher number.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Run a remote network perspective (BR 3.2.2.9): it answers the RA's domain and
    /// CAA checks over mutually authenticated TLS, with this machine's resolver and
    /// network ([validation] settings and the link PKI of the config and data directory).
    Perspective {
        /// Where to listen, e.g. 127.0.0.1:9601 (list it in validation.perspectives).
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
}

#[derive(Subcommand)]
enum AcmeCmd {
    /// External account binding credentials.
    Eab {
        #[command(subcommand)]
        cmd: EabCmd,
    },
    /// ACME Renewal Information (RFC 9773).
    Ari {
        #[command(subcommand)]
        cmd: AriCmd,
    },
}

#[derive(Subcommand)]
enum AriCmd {
    /// Ask ACME clients to renew now: the suggested renewal window of every certificate
    /// issued so far — of one contract, or of all with --all — moves into the past (for
    /// a mass revocation). Clients that check ARI renew on their next check.
    PullIn {
        /// The contract code, e.g. B0000001.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        contract: Option<String>,
        /// Every contract of the CA.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum EabCmd {
    /// Make a credential for a running contract (for bulk onboarding; customers make
    /// their own on the contract's page). Prints JSON with kid, hmac and the ACME
    /// directory URL; the HMAC key is shown only here.
    Create {
        /// The contract code, e.g. B0000001.
        #[arg(long)]
        contract: String,
    },
    /// Disable a credential: the ACME account bound with it can do nothing more.
    Disable {
        /// The key identifier.
        #[arg(long)]
        kid: String,
    },
}

#[derive(Subcommand)]
enum SecretsCmd {
    /// Make a new key, re-encrypt every stored secret with it, then drop the old key
    /// from the key file. Stop `serve` first (a running server holds the old key until
    /// it restarts). If interrupted, run it again: the file keeps every key still
    /// needed. Prints JSON with the new key's id and how many secrets were re-encrypted.
    Rotate,
}

#[derive(Subcommand)]
enum ContractCmd {
    /// Import an existing contract from the previous system (for example SR2.0, which is
    /// no longer sold): records the application, approves it with the validation methods
    /// given, and issues its certificate. Prints JSON with the application id, contract
    /// code and serial.
    Import {
        /// The customer account's access key.
        #[arg(long)]
        access_key: String,
        /// The staff member (login) who attests the validations.
        #[arg(long)]
        staff: String,
        /// The application data as JSON: service, term, server_type, org_*, reg_*,
        /// tech_*, admin_* and for EV2.0 ev_* (the field names of the portal's form).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The CSR (PEM) for the certificate.
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// Contract type: `auto` (自動契約更新タイプ) or `fixed` (期間固定タイプ).
        #[arg(long, default_value = "auto")]
        contract_type: String,
        /// How the organisation was validated (registry, qualified-database,
        /// attestation-letter).
        #[arg(long, default_value = "registry")]
        org_method: String,
        /// How the domains were validated: previous-system (the default: what the
        /// previous system validated, recorded with a note), phone, email-constructed,
        /// email-dns-txt; dns-change and http-file only after the validation engine
        /// passed the domain.
        #[arg(long, default_value = "previous-system")]
        domain_method: String,
        /// Also write the issued certificate (PEM) to this file.
        #[arg(long, value_name = "FILE")]
        cert_out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AccountCmd {
    /// Create a customer account with an access key, an initial password (30 days) and
    /// a login certificate; prints JSON.
    Create {
        /// Organisation name.
        #[arg(long)]
        org: String,
        /// Contact e-mail.
        #[arg(long)]
        email: String,
        /// 特約店コード (dealer code).
        #[arg(long)]
        dealer_code: Option<String>,
        /// Directory for login.p12, login.crt and login.key.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Unlock an account (R-L4) by setting a new initial password, valid 30 days and to
    /// be changed at the next login; its sessions end. Prints JSON with the password.
    Unlock {
        /// The account's access key.
        #[arg(long)]
        access_key: String,
    },
    /// Issue a new login certificate for a new person (R-L5): the old one is revoked
    /// (listed on the login CA's CRL, refused at login) and the account's sessions end;
    /// prints JSON with the new PKCS#12 file and its password.
    NewCert {
        /// The account's access key.
        #[arg(long)]
        access_key: String,
        /// Directory for login.p12, login.crt and login.key.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum StaffCmd {
    /// Create a staff member with an initial password and a staff certificate; prints JSON.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// E-mail.
        #[arg(long)]
        email: String,
        /// Login name (default: the e-mail's local part).
        #[arg(long)]
        login: Option<String>,
        /// Directory for login.p12, login.crt and login.key.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    setup::init_logging();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shomei: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shomei: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let cfg = Config::load(cli.global.config.as_deref(), cli.global.data_dir.as_deref())?;
    setup::data_dir(&cfg)?;
    // Held until what a first start makes exists (serve: until the demo accounts do;
    // other commands: until they end).
    let start = setup::start_lock(&cfg)?;
    let (pki, _) = setup::pki(&cfg, &SystemClock)?;
    match cli.cmd {
        Cmd::Serve => serve::serve(cfg, pki, start).await,
        Cmd::Perspective { listen } => {
            drop(start);
            let (server, _) = setup::link_pki(&cfg, &SystemClock)?;
            let v = shomei_validation::Validator::new(cfg.validation.engine())
                .map_err(|e| e.to_string())?;
            let l = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            println!("Shomei perspective answering on https://{listen}");
            shomei_validation::perspective::serve(l, v, &server)
                .await
                .map_err(|e| e.to_string())
        }
        Cmd::Backup { out } => {
            println!("{}", backup::backup(&cfg, &pki, &out).await?);
            Ok(())
        }
        Cmd::Restore { from } => {
            println!("{}", backup::restore(&cfg, &pki, &from).await?);
            Ok(())
        }
        Cmd::Secrets {
            cmd: SecretsCmd::Rotate,
        } => {
            let (id, n) = setup::rotate_secret_key(&cfg, &pki).await?;
            println!("{}", serde_json::json!({ "key_id": id, "resealed": n }));
            Ok(())
        }
        Cmd::Account {
            cmd:
                AccountCmd::Create {
                    org,
                    email,
                    dealer_code,
                    out,
                },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            let input = shomei_ra::accounts::AccountInput {
                org,
                email,
                dealer_code,
            };
            let c = ra
                .create_account(&input, Actor::Cli)
                .await
                .map_err(|e| format!("cannot create the account: {}", explain(&e)))?;
            let p12 = write_credentials(&out, &c)?;
            println!(
                "{}",
                serde_json::json!({ "access_key": c.login, "initial_password": c.initial_password, "p12": p12, "p12_password": c.p12_password })
            );
            Ok(())
        }
        Cmd::Account {
            cmd: AccountCmd::Unlock { access_key },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            let account = ra
                .account_by_access_key(&access_key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no account with that --access-key")?;
            let (password, expires) = ra
                .reset_initial_password(shomei_store::Realm::Customer, account.id, Actor::Cli)
                .await
                .map_err(|e| format!("cannot unlock: {}", explain(&e)))?;
            let expires = time::OffsetDateTime::from_unix_timestamp(expires)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({ "access_key": account.access_key, "initial_password": password, "expires_at": expires })
            );
            Ok(())
        }
        Cmd::Account {
            cmd: AccountCmd::NewCert { access_key, out },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            let account = ra
                .account_by_access_key(&access_key)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("no account with that --access-key")?;
            let c = ra
                .replace_login_certificate(shomei_store::Realm::Customer, account.id, Actor::Cli)
                .await
                .map_err(|e| format!("cannot issue the certificate: {}", explain(&e)))?;
            let p12 = write_credentials(&out, &c)?;
            println!(
                "{}",
                serde_json::json!({ "access_key": c.login, "p12": p12, "p12_password": c.p12_password })
            );
            Ok(())
        }
        Cmd::Staff {
            cmd:
                StaffCmd::Create {
                    name,
                    email,
                    login,
                    out,
                },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            let login =
                login.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
            let c = ra
                .create_staff(&login, &name, &email, Actor::Cli)
                .await
                .map_err(|e| format!("cannot create the staff member: {}", explain(&e)))?;
            let p12 = write_credentials(&out, &c)?;
            println!(
                "{}",
                serde_json::json!({ "login": c.login, "initial_password": c.initial_password, "p12": p12, "p12_password": c.p12_password })
            );
            Ok(())
        }
        Cmd::Acme {
            cmd: AcmeCmd::Eab {
                cmd: EabCmd::Create { contract },
            },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            let eab = ra
                .create_eab_for_contract(contract.trim())
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!("no running contract with the code {contract}: a credential needs a completed (完了) contract that has not ended")
                })?;
            println!(
                "{}",
                serde_json::json!({
                    "kid": eab.kid,
                    "hmac": eab.hmac,
                    "directory": format!("https://{}/acme/directory", cfg.listen.acme),
                })
            );
            Ok(())
        }
        Cmd::Acme {
            cmd: AcmeCmd::Eab {
                cmd: EabCmd::Disable { kid },
            },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            match ra.disable_eab(kid.trim(), Actor::Cli).await {
                Ok(true) => {
                    println!("{}", serde_json::json!({ "kid": kid, "disabled": true }));
                    Ok(())
                }
                Ok(false) => Err(format!("the credential {kid} was already disabled")),
                Err(shomei_ra::RaError::NotFound) => {
                    Err(format!("no credential with the kid {kid}"))
                }
                Err(e) => Err(e.to_string()),
            }
        }
        Cmd::Acme {
            cmd:
                AcmeCmd::Ari {
                    cmd: AriCmd::PullIn { contract, all: _ },
                },
        } => {
            let ra = setup::ra(&cfg, &pki).await?;
            let code = contract.as_deref().map(str::trim);
            if !ra
                .ari_pull_in(code, shomei_model::Actor::Cli)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!(
                    "no contract with the code {}",
                    code.unwrap_or_default()
                ));
            }
            println!(
                "{}",
                serde_json::json!({ "pulled_in": code.unwrap_or("all") })
            );
            Ok(())
        }
        Cmd::Contract {
            cmd:
                ContractCmd::Import {
                    access_key,
                    staff,
                    file,
                    csr,
                    contract_type,
                    org_method,
                    domain_method,
                    cert_out,
                },
        } => {
            import_contract(
                &cfg,
                &pki,
                &access_key,
                &staff,
                &file,
                &csr,
                &contract_type,
                &org_method,
                &domain_method,
                cert_out.as_deref(),
            )
            .await
        }
    }
}

/// `shomei contract import`.
#[allow(clippy::too_many_arguments)] // Each argument is one command-line option.
async fn import_contract(
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
        Err(e) => Err(format!("cannot import: {}", explain(&e))),
    }
}

/// Says in words what was wrong with a command-line value.
fn explain(e: &shomei_ra::RaError) -> String {
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
