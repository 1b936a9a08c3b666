//! First start and every start: the data directory, the development PKI (made once,
//! reused after), the store, the RA.

use crate::config::{Config, redact};
use shomei_ca::pki::{CertAndKey, ClientCa, DevPki, generate_dev_pki};
use shomei_ca::{CaUrls, IssuingCa};
use shomei_model::{Clock, SystemClock};
use shomei_ra::{Policy, Ra};
use shomei_store::Store;
use shomei_validation::Validator;
use shomei_validation::perspective::{Corroborator, LinkTls};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The PKI files, by role.
pub const PKI_FILES: &[&str] = &["root", "server-ca", "login-ca", "staff-ca", "tls", "ocsp"];

/// Writes a file readable by the owner only (keys, passwords).
pub fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes a public file.
pub fn write_public(path: &Path, data: &[u8]) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The loaded PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    /// Directory of the files.
    pub dir: PathBuf,
    /// Certificates and keys by role.
    pub set: DevPki,
}

/// Creates the data directory if needed and checks it is writable.
pub fn data_dir(cfg: &Config) -> Result<(), String> {
    let d = &cfg.data_dir;
    std::fs::create_dir_all(d.join("pki"))
        .map_err(|e| format!("cannot create data directory {}: {e}", d.display()))?;
    let probe = d.join(".write-test");
    std::fs::write(&probe, b"ok")
        .map_err(|e| format!("data directory {} is not writable: {e}", d.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// The data directory's start-up lock (issue #12): several instances may start at once
/// on one data directory (shared by the instances of one CA), and what a first start
/// makes — the development PKI, the secrets key, the demo accounts — must be made once.
/// Each process holds this lock while it reads or makes them; the others wait, then
/// read what the first one made. Released when dropped.
pub fn start_lock(cfg: &Config) -> Result<std::fs::File, String> {
    let path = cfg.data_dir.join(".start.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(lock)
}

/// Loads the PKI from the data dir, making the development PKI on first start (call
/// it under [`start_lock`]).
/// Returns it and whether it was just made.
pub fn pki(cfg: &Config, clock: &dyn Clock) -> Result<(Pki, bool), String> {
    let dir = cfg.data_dir.join("pki");
    let exists =
        |n: &str| dir.join(format!("{n}.crt")).exists() && dir.join(format!("{n}.key")).exists();
    let present = PKI_FILES.iter().filter(|n| exists(n)).count();
    let created = present == 0;
    if created {
        let set = generate_dev_pki(clock.now(), &cfg.pki.operator, &cfg.pki.public_base_url)
            .map_err(|e| format!("cannot create the development PKI: {e}"))?;
        for (name, ck) in roles(&set) {
            write_public(&dir.join(format!("{name}.crt")), ck.cert_pem.as_bytes())?;
            write_private(&dir.join(format!("{name}.key")), ck.key_pem.as_bytes())?;
        }
    } else if present != PKI_FILES.len() {
        return Err(format!(
            "the PKI in {} is incomplete: expected {} .crt/.key pairs",
            dir.display(),
            PKI_FILES
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let load = |n: &str| -> Result<CertAndKey, String> {
        Ok(CertAndKey {
            cert_pem: read(&dir.join(format!("{n}.crt")))?,
            key_pem: read(&dir.join(format!("{n}.key")))?,
        })
    };
    let set = DevPki {
        root: load("root")?,
        server_ca: load("server-ca")?,
        login_ca: load("login-ca")?,
        staff_ca: load("staff-ca")?,
        tls: load("tls")?,
        ocsp: load("ocsp")?,
    };
    Ok((Pki { dir, set }, created))
}

fn roles(s: &DevPki) -> [(&'static str, &CertAndKey); 6] {
    [
        ("root", &s.root),
        ("server-ca", &s.server_ca),
        ("login-ca", &s.login_ca),
        ("staff-ca", &s.staff_ca),
        ("tls", &s.tls),
        ("ocsp", &s.ocsp),
    ]
}

/// The root's CRL, named in every CA certificate's CRL distribution point and served at
/// `/crl/root.crl` from `pki/root.crl`: signed with the root key when missing, 90 days
/// old or within 30 days of its nextUpdate (12 months on, BR 4.9.7). A production root
/// is offline: its operator signs the CRL at a key ceremony and puts the file there,
/// and removes `root.key` — then the file is served as it is.
pub fn ensure_root_crl(pki: &Pki, now: time::OffsetDateTime) -> Result<(), String> {
    let path = pki.dir.join("root.crl");
    let existing = std::fs::read(&path).ok();
    let Some(number) = shomei_ca::pki::root_crl_due(existing.as_deref(), now) else {
        return Ok(());
    };
    if pki.set.root.key_pem.trim().is_empty() {
        tracing::warn!(path = %path.display(), "the root CRL is due but the root key is offline");
        return Ok(());
    }
    let der = shomei_ca::pki::root_crl(&pki.set.root, number, now, now + time::Duration::days(365))
        .map_err(|e| format!("cannot sign the root CRL: {e}"))?;
    let tmp = pki.dir.join("root.crl.tmp");
    write_public(&tmp, &der)?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(number, "root CRL signed");
    Ok(())
}

/// Loads the secrets key file, making it (one random key, mode 0600) if it does not
/// exist.
pub fn secret_keys(cfg: &Config) -> Result<shomei_ra::secrets::SecretKeys, String> {
    let path = cfg.secrets_key_file();
    if !path.exists() {
        let line = shomei_ra::secrets::SecretKeys::new_key_line().map_err(|e| e.to_string())?;
        write_private(
            &path,
            format!("# Shomei secrets key (AES-256-GCM). The first key encrypts; keep this file out of database backups.\n{line}\n").as_bytes(),
        )?;
    }
    let text = read(&path)?;
    shomei_ra::secrets::SecretKeys::parse(&text)
        .map_err(|e| format!("secrets key file {}: {e}", path.display()))
}

/// `shomei secrets rotate`: a new key goes first in the key file (the old ones stay for
/// reading), every secret is re-sealed with it, then the old keys leave the file. If the
/// command is interrupted, the file still holds every key needed; run it again.
pub async fn rotate_secret_key(cfg: &Config, pki: &Pki) -> Result<(String, usize), String> {
    let path = cfg.secrets_key_file();
    let old = read(&path)?;
    shomei_ra::secrets::SecretKeys::parse(&old)
        .map_err(|e| format!("secrets key file {}: {e}", path.display()))?;
    let line = shomei_ra::secrets::SecretKeys::new_key_line().map_err(|e| e.to_string())?;
    let old_keys: String = old
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| format!("{}\n", l.trim()))
        .collect();
    let both = format!("# Shomei secrets key (rotation in progress)\n{line}\n{old_keys}");
    write_private(&path, both.as_bytes())?;
    let ra = ra(cfg, pki).await?;
    let id = ra.policy.secrets.current_id().to_owned();
    let n = ra.seal_totp_secrets().await.map_err(|e| e.to_string())?;
    write_private(
        &path,
        format!("# Shomei secrets key (AES-256-GCM). The first key encrypts; keep this file out of database backups.\n{line}\n").as_bytes(),
    )?;
    Ok((id, n))
}

/// Opens the store and wires the RA.
pub async fn ra(cfg: &Config, pki: &Pki) -> Result<Ra, String> {
    let url = cfg.database_url();
    let store = Store::connect(&url)
        .await
        .map_err(|e| format!("cannot open database {}: {e}", redact(&url)))?
        .with_job_lease(cfg.jobs.lease_seconds);
    let s = &pki.set;
    let server = IssuingCa::from_pem(
        &s.server_ca.cert_pem,
        &s.server_ca.key_pem,
        CaUrls::under(&cfg.pki.public_base_url, shomei_ra::SERVER_CA),
    )
    .map_err(|e| format!("cannot load the issuing CA from {}: {e}", pki.dir.display()))?;
    let login = ClientCa::from_pem(&s.login_ca.cert_pem, &s.login_ca.key_pem, &s.root.cert_pem)
        .map_err(|e| format!("cannot load the login CA: {e}"))?;
    let staff = ClientCa::from_pem(&s.staff_ca.cert_pem, &s.staff_ca.key_pem, &s.root.cert_pem)
        .map_err(|e| format!("cannot load the staff CA: {e}"))?;
    let weak_dir = cfg.weak_keys_dir();
    let weak_keys = shomei_ca::WeakKeyList::load_dir(&weak_dir).map_err(|e| e.to_string())?;
    if !weak_keys.is_empty() {
        tracing::info!(
            count = weak_keys.len(),
            dir = %weak_dir.display(),
            "weak-key list loaded"
        );
    }
    let policy = Policy {
        operator_name: cfg.pki.operator.clone(),
        keys: Arc::new(shomei_ca::KeyPolicy { weak_keys }),
        secrets: Arc::new(secret_keys(cfg)?),
        crl_shards: cfg.pki.crl_shards,
        ..Policy::default()
    };
    let ocsp = shomei_ca::ocsp::OcspResponder::from_pem(
        &s.server_ca.cert_pem,
        &s.ocsp.cert_pem,
        &s.ocsp.key_pem,
    )
    .map_err(|e| format!("cannot load the OCSP responder certificate and key: {e}"))?;
    let ra = Ra::new(store, clock(), server, login, staff, policy)
        .with_ocsp(ocsp)
        .with_ocsp_memory(cfg.pki.ocsp_memory_entries);
    // The database belongs to one CA (issue #12): an instance started with another PKI
    // (its own development PKI, not the shared one) is refused before it signs anything.
    let root = shomei_ca::pki::pem_to_der(&s.root.cert_pem, "CERTIFICATE").map_err(|e| {
        format!(
            "cannot read the root certificate in {}: {e}",
            pki.dir.display()
        )
    })?;
    ra.bind_ca(&root).await.map_err(|e| match e {
        shomei_ra::RaError::Store(e @ shomei_store::StoreError::ForeignPki { .. }) => {
            format!("{e} (database {}, PKI {})", redact(&url), pki.dir.display())
        }
        e => format!("cannot open database {}: {e}", redact(&url)),
    })?;
    Ok(ra)
}

/// The system clock, or — in debug builds only, for the browser tests that must cross
/// certificate lifetimes — the system clock moved by `SHOMEI_DEV_TIME_OFFSET_DAYS`.
/// Release builds ignore the variable.
fn clock() -> Arc<dyn Clock> {
    let offset = std::env::var("SHOMEI_DEV_TIME_OFFSET_DAYS")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|_| cfg!(debug_assertions));
    match offset {
        Some(days) => {
            tracing::warn!(days, "development build: the clock runs {days} days ahead");
            Arc::new(OffsetClock(time::Duration::days(days)))
        }
        None => Arc::new(SystemClock),
    }
}

/// The system clock moved by a fixed offset (debug builds only, see [`clock`]).
#[derive(Debug)]
struct OffsetClock(time::Duration);

impl Clock for OffsetClock {
    fn now(&self) -> time::OffsetDateTime {
        SystemClock.now() + self.0
    }
}

/// The link PKI between the RA and its perspectives (BR 3.2.2.9), made on first need
/// in the link directory. Returns (the perspectives' side, the primary's side).
pub fn link_pki(cfg: &Config, clock: &dyn Clock) -> Result<(LinkTls, LinkTls), String> {
    let dir = cfg.link_dir();
    let file = |n: &str| dir.join(n);
    if !file("ca.pem").exists() {
        // Made in a directory of its own, then renamed into place: processes started
        // together (serve and its perspectives) all end up with the same set.
        let parent = dir.parent().unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        let tmp = parent.join(format!(".perspective-link-{}", std::process::id()));
        std::fs::create_dir_all(&tmp)
            .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
        let hosts: Vec<String> = cfg
            .validation
            .perspectives
            .iter()
            .filter_map(|u| u.parse::<axum::http::Uri>().ok())
            .filter_map(|u| u.host().map(str::to_owned))
            .collect();
        let p = shomei_ca::pki::generate_link_pki(clock.now(), &cfg.pki.operator, &hosts)
            .map_err(|e| format!("cannot make the perspective link PKI: {e}"))?;
        write_private(&tmp.join("server.key"), p.server.key_pem.as_bytes())?;
        write_private(&tmp.join("client.key"), p.client.key_pem.as_bytes())?;
        write_public(&tmp.join("server.pem"), p.server.cert_pem.as_bytes())?;
        write_public(&tmp.join("client.pem"), p.client.cert_pem.as_bytes())?;
        write_public(&tmp.join("ca.pem"), p.ca_pem.as_bytes())?;
        if std::fs::rename(&tmp, &dir).is_ok() {
            tracing::info!(dir = %dir.display(), "made the perspective link PKI");
        } else {
            // Another process was first: use its set.
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    let ca = read(&file("ca.pem"))?;
    Ok((
        LinkTls {
            cert_pem: read(&file("server.pem"))?,
            key_pem: read(&file("server.key"))?,
            peer_ca_pem: ca.clone(),
        },
        LinkTls {
            cert_pem: read(&file("client.pem"))?,
            key_pem: read(&file("client.key"))?,
            peer_ca_pem: ca,
        },
    ))
}

/// The validation engine of the RA: this process as the primary perspective, and the
/// configured remote perspectives.
pub fn corroborator(cfg: &Config, clock: &dyn Clock) -> Result<Corroborator, String> {
    let v = &cfg.validation;
    let local = Validator::new(v.engine()).map_err(|e| e.to_string())?;
    let need = v.min_remote_perspectives.unwrap_or_else(|| {
        shomei_validation::perspective::required_remotes(clock.now().unix_timestamp())
    });
    if v.perspectives.len() < need {
        tracing::warn!(
            configured = v.perspectives.len(),
            required = need,
            "fewer remote network perspectives than BR 3.2.2.9 requires: every domain check will fail until validation.perspectives lists enough"
        );
    }
    if v.perspectives.is_empty() {
        return Ok(Corroborator::local(local, v.min_remote_perspectives));
    }
    let (_, client) = link_pki(cfg, clock)?;
    Corroborator::new(
        local,
        v.perspectives.clone(),
        &client,
        v.min_remote_perspectives,
    )
    .map_err(|e| e.to_string())
}

/// Logs to standard error: `SHOMEI_LOG` is the filter (default `info,sqlx=warn`);
/// `SHOMEI_LOG_FORMAT=json` writes one JSON object per line, each with the request's
/// operation id (its `request` span) when a request caused it (issue #12).
pub fn init_logging() {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("SHOMEI_LOG")
            .unwrap_or_else(|_| "info,sqlx=warn".into())
    };
    // SHOMEI_LOG_FORMAT=json: one JSON object per line, each with the request's
    // operation id (its `request` span) when a request caused it (issue #12).
    if std::env::var("SHOMEI_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init();
    }
}
