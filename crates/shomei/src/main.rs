//! `shomei`: one binary with subcommands (serve, account, staff).

mod backup;
mod commands;
mod config;
mod serve;
mod setup;

use clap::{Args, Parser, Subcommand};
use commands::{explain, write_credentials};
use config::Config;
use shomei_model::Actor;
use shomei_model::SystemClock;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: under concurrent issuance glibc's allocator
/// (its arenas' locks, `malloc_consolidate`) took about a tenth of the process's CPU;
/// with mimalloc the issuance benchmark is ~10 % faster (docs/performance-issuance-earlier.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Issued server certificates.
    Certificate {
        #[command(subcommand)]
        cmd: CertificateCmd,
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
enum CertificateCmd {
    /// Revoke a certificate now (incident response; customers' requests go through the
    /// portal and the desk): one transaction with its audit event, the CRL re-signed and
    /// the OCSP responses rebuilt before it returns. On key-compromise the key is blocked
    /// and every other certificate with it revoked too. Prints JSON with the serials.
    Revoke {
        /// The serial number (hex; colons and upper case are fine).
        #[arg(long)]
        serial: String,
        /// unspecified, key-compromise, affiliation-changed, superseded,
        /// cessation-of-operation or privilege-withdrawn.
        #[arg(long)]
        reason: String,
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
    // The crash harness's failpoints (issue #12); only in a build made for it.
    #[cfg(feature = "failpoints")]
    if let Err(e) = shomei_ra::failpoints::arm_from_env() {
        eprintln!("shomei: {e}");
        return ExitCode::FAILURE;
    }
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
        Cmd::Certificate {
            cmd: CertificateCmd::Revoke { serial, reason },
        } => commands::revoke_certificate(&cfg, &pki, &serial, &reason).await,
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
            commands::import_contract(
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
