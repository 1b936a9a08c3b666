//! Issue #12: `shomei backup` while serving, `shomei restore` only when stopped, with the
//! real binary.

use crate::common::*;
use std::path::Path;
use std::time::Duration;

#[test]
fn issue12_backup_while_serving_and_restore_only_when_stopped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let cfg = dir.path().join("b.toml");
    let mut i = start(dir.path(), "b", &data, None);
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    let backup = dir.path().join("backup.db");
    let b = backup.display().to_string();
    let (ok, out, err) = cli(&data, &cfg, &["backup", "--out", &b]);
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["integrity_check"], "ok", "{out}");
    assert!(v["bytes"].as_u64().unwrap_or(0) > 0, "{out}");
    // Never over an existing file.
    let (ok, _, err) = cli(&data, &cfg, &["backup", "--out", &b]);
    assert!(!ok && err.contains("exists"), "{err}");
    // Never under a running server.
    let (ok, _, err) = cli(&data, &cfg, &["restore", "--from", &b]);
    assert!(!ok && err.contains("is running"), "{err}");
    assert_eq!(get(i.public, "/health/ready").0, 200, "still serving");
    sigterm(&i);
    assert!(wait_exit(&mut i, Duration::from_secs(60)).is_some_and(|s| s.success()));
    // Not a backup: refused, nothing replaced.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"junk").expect("write");
    let (ok, _, err) = cli(
        &data,
        &cfg,
        &["restore", "--from", &junk.display().to_string()],
    );
    assert!(!ok && err.contains("cannot be restored"), "{err}");
    // Stopped: restored; the replaced database kept beside it.
    let (ok, out, err) = cli(&data, &cfg, &["restore", "--from", &b]);
    assert!(ok, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let kept = v["replaced_database_kept_as"]
        .as_str()
        .expect("kept")
        .to_owned();
    assert!(Path::new(&kept).exists(), "{kept}");
    assert_eq!(
        v["revocations_carried_over"],
        serde_json::json!([]),
        "{out}"
    );
    // And it serves again.
    let mut again = start(dir.path(), "b2", &data, None);
    assert!(
        wait_running(&mut again, Duration::from_secs(120)),
        "{}",
        log(&again)
    );
    assert_eq!(get(again.public, "/health/ready").0, 200);
    assert_eq!(get(again.public, "/crl/server.crl").0, 200);
}
