//! Issue #12, several instances: a customer's session works on any of them. Two real
//! `shomei serve` processes on one PostgreSQL, each on its own ports; the customer logs
//! in over TLS with the login certificate on one (and changes the initial password
//! there), is recognised on the other, logs out on the other, and is then refused on the
//! first.

use crate::common::tls::*;
use crate::common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_session_opened_on_one_instance_works_on_the_other_and_ends_on_both() {
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!("SHOMEI_TEST_POSTGRES_URL not set: the several-instance test needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut a = start(dir.path(), "a", &data, Some(&db.url));
    assert!(
        wait_running(&mut a, Duration::from_secs(120)),
        "{}",
        log(&a)
    );
    let mut b = start(dir.path(), "b", &data, Some(&db.url));
    assert!(
        wait_running(&mut b, Duration::from_secs(120)),
        "{}",
        log(&b)
    );
    let acct = dir.path().join("acct");
    let (ok, out, err) = cli(
        &data,
        &dir.path().join("a.toml"),
        &[
            "account",
            "create",
            "--org",
            "セッション株式会社",
            "--email",
            "s@example.jp",
            "--out",
            &acct.display().to_string(),
        ],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let (key, initial) = (
        v["access_key"].as_str().expect("key").to_owned(),
        v["initial_password"].as_str().expect("password").to_owned(),
    );
    let cfg = client(&data, &acct);
    // Log in on A: the initial password must be changed first.
    let cookie = first_login(&cfg, a.portal, &key, &initial, "Sakura-2026-blossom").await;
    // The same session on B.
    let (status, head, page) =
        send(&cfg, b.portal, http_get(b.portal, "/applications", &cookie)).await;
    assert_eq!(status, 200, "B does not know the session: {head}");
    // Logged out on B: refused on A too.
    let form = format!("csrf={}", csrf_of(&page));
    let (status, head, _) = send(
        &cfg,
        b.portal,
        http_post(b.portal, "/logout", &cookie, &form),
    )
    .await;
    assert_eq!(status, 303, "{head}");
    let (status, head, _) =
        send(&cfg, a.portal, http_get(a.portal, "/applications", &cookie)).await;
    assert_ne!(status, 200, "A still accepts the ended session: {head}");
    for i in [&mut a, &mut b] {
        sigterm(i);
        let exit = wait_exit(i, Duration::from_secs(60));
        assert!(exit.is_some_and(|s| s.success()), "{exit:?}\n{}", log(i));
    }
}

/// A revocation made anywhere (here by `shomei certificate revoke`, a third process) is
/// answered "revoked" by the OCSP of every running instance, whose memory held "good".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_a_revocation_reaches_the_ocsp_memory_of_every_instance() {
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!("SHOMEI_TEST_POSTGRES_URL not set: the several-instance test needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut all: Vec<Instance> = ["a", "b"]
        .iter()
        .map(|n| start(dir.path(), n, &data, Some(&db.url)))
        .collect();
    for i in all.iter_mut() {
        assert!(wait_running(i, Duration::from_secs(120)), "{}", log(i));
    }
    let cfg = dir.path().join("a.toml");
    let run = |args: &[&str]| {
        let (ok, out, err) = cli(&data, &cfg, args);
        assert!(ok, "{args:?}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).expect("json")
    };
    let d = dir.path().display().to_string();
    let acct = run(&[
        "account",
        "create",
        "--org",
        "失効株式会社",
        "--email",
        "r@example.jp",
        "--out",
        &format!("{d}/acct"),
    ]);
    run(&[
        "staff",
        "create",
        "--name",
        "審査 太郎",
        "--email",
        "s@example.jp",
        "--login",
        "rev",
        "--out",
        &format!("{d}/staff"),
    ]);
    std::fs::write(dir.path().join("app.json"), crate::support::APP_JSON).expect("app");
    let csr = format!(
        "{}/../ca/tests/data/rsa2048.csr",
        env!("CARGO_MANIFEST_DIR")
    );
    let issued = run(&[
        "contract",
        "import",
        "--access-key",
        acct["access_key"].as_str().expect("key"),
        "--staff",
        "rev",
        "--file",
        &format!("{d}/app.json"),
        "--csr",
        &csr,
    ]);
    let serial = issued["serial"].as_str().expect("serial").to_owned();
    let issuer = shomei_ca::pki::pem_to_der(
        &std::fs::read_to_string(data.join("pki/server-ca.crt")).expect("issuer"),
        "CERTIFICATE",
    )
    .expect("der");
    let req = shomei_ca::ocsp::request(
        &issuer,
        &hex::decode(&serial).expect("hex"),
        shomei_ca::ocsp::HashAlg::Sha1,
    )
    .expect("request");
    let good: Vec<Vec<u8>> = all.iter().map(|i| ocsp_post(i.public, &req).1).collect();
    // Asked twice: the second answer comes from memory.
    for (i, g) in all.iter().zip(&good) {
        assert_eq!(ocsp_state(g), "good");
        assert_eq!(&ocsp_post(i.public, &req).1, g);
    }
    run(&[
        "certificate",
        "revoke",
        "--serial",
        &serial,
        "--reason",
        "key-compromise",
    ]);
    let t = std::time::Instant::now();
    for (k, i) in all.iter().enumerate() {
        while ocsp_state(&ocsp_post(i.public, &req).1) != "revoked" {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "instance {k} still does not say revoked"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    println!(
        "revoked on every instance {} ms after the command returned",
        t.elapsed().as_millis()
    );
    for i in all.iter_mut() {
        sigterm(i);
        let exit = wait_exit(i, Duration::from_secs(60));
        assert!(exit.is_some_and(|s| s.success()), "{exit:?}\n{}", log(i));
    }
}
