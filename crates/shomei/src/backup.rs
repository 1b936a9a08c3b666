//! `shomei backup` and `shomei restore` (issue #12) for the SQLite database. PostgreSQL
//! is backed up with `pg_dump` or a standby (README).

use crate::config::Config;
use crate::setup::{self, Pki};
use std::path::{Path, PathBuf};

/// The lock `serve` holds (shared) for as long as it runs on a data directory; a
/// restore takes it exclusively, so it never replaces a database under a running server.
pub fn serving_lock(cfg: &Config) -> Result<std::fs::File, String> {
    let path = cfg.data_dir.join(".serve.lock");
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// The SQLite database file of the configuration, or why there is none.
fn sqlite_file(cfg: &Config) -> Result<PathBuf, String> {
    let url = cfg.database_url();
    let rest = url.strip_prefix("sqlite:").ok_or(
        "the database is PostgreSQL: back it up with pg_dump (or keep a standby) and restore it with pg_restore; see the README",
    )?;
    let path = rest.split('?').next().unwrap_or(rest);
    Ok(PathBuf::from(path.trim_start_matches("//")))
}

/// `shomei backup --out FILE`: a consistent copy while the server keeps serving.
pub async fn backup(cfg: &Config, pki: &Pki, out: &Path) -> Result<serde_json::Value, String> {
    sqlite_file(cfg)?;
    let ra = setup::ra(cfg, pki).await?;
    let info = ra
        .backup_to(out)
        .await
        .map_err(|e| format!("backup failed: {e}"))?;
    Ok(serde_json::json!({
        "backup": out.display().to_string(),
        "bytes": std::fs::metadata(out).map(|m| m.len()).unwrap_or(0),
        "schema_version": info.schema_version,
        "certificates": info.certificates,
        "integrity_check": "ok",
    }))
}

/// `shomei restore --from FILE`: replaces the database with a backup. The server must be
/// stopped. The replaced database is kept beside it; revocations it recorded after the
/// backup are applied to the restored one, certificates it recorded after the backup
/// are listed; every CRL is re-signed at the next start with a higher number.
pub async fn restore(cfg: &Config, pki: &Pki, from: &Path) -> Result<serde_json::Value, String> {
    let db = sqlite_file(cfg)?;
    let lock = serving_lock(cfg)?;
    if lock.try_lock().is_err() {
        return Err(format!(
            "a shomei serve is running on {}: stop it (and every other instance) before restoring",
            cfg.data_dir.display()
        ));
    }
    let info = shomei_store::backup::check_backup(from)
        .await
        .map_err(|e| format!("{} cannot be restored: {e}", from.display()))?;
    let root = shomei_ca::pki::pem_to_der(&pki.set.root.cert_pem, "CERTIFICATE")
        .map_err(|e| format!("cannot read the root certificate: {e}"))?;
    let ours = shomei_ra::Ra::ca_fingerprint(&root);
    if let Some(theirs) = &info.ca_root_sha256
        && !theirs.eq_ignore_ascii_case(&ours)
    {
        return Err(format!(
            "{} is a backup of another CA (root SHA-256 {theirs}; this data directory's is {ours})",
            from.display()
        ));
    }
    // The current database (and its WAL) is kept, renamed, never deleted.
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let kept = db.with_file_name(format!(
        "{}.replaced-{stamp}",
        db.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("shomei.db")
    ));
    let had_db = db.exists();
    if had_db {
        for suffix in ["", "-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{suffix}", db.display()));
            if from.exists() {
                let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                std::fs::rename(&from, &to).map_err(|e| {
                    format!("cannot move {} to {}: {e}", from.display(), to.display())
                })?;
            }
        }
    }
    let tmp = db.with_extension("restoring");
    std::fs::copy(from, &tmp)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &db))
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), db.display()))?;
    // Opening it applies this binary's migrations to an older backup.
    let ra = setup::ra(cfg, pki).await?;
    let carried = if had_db {
        match ra.carry_over_from(&kept).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(
                    "the replaced database {} could not be read ({e}): revocations recorded after the backup are not carried over",
                    kept.display()
                );
                None
            }
        }
    } else {
        None
    };
    ra.mark_every_crl_stale()
        .await
        .map_err(|e| format!("cannot mark the CRLs for re-signing: {e}"))?;
    drop(lock);
    Ok(serde_json::json!({
        "restored": from.display().to_string(),
        "database": db.display().to_string(),
        "replaced_database_kept_as": had_db.then(|| kept.display().to_string()),
        "schema_version_of_backup": info.schema_version,
        "certificates": info.certificates,
        "revocations_carried_over": carried.as_ref().map(|c| c.revocations.clone()),
        "certificates_issued_after_the_backup": carried.as_ref().map(|c| c.missing_certificates.clone()),
    }))
}
