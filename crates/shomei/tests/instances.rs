//! Issue #12, several instances and their operation, with the real binary: several
//! `shomei serve` on one PostgreSQL and one shared data directory start together (one
//! makes the PKI, the secrets key and the demo accounts; the others use them) and serve
//! the same CA; an instance with another PKI is refused; SIGTERM lets a request in
//! flight finish and exits 0; the metrics listener and health checks; JSON logs.

use crate::common::*;
use crate::support::free_port;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[tokio::test]
async fn issue12_three_instances_start_together_on_one_postgresql_and_serve_one_ca() {
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!("SHOMEI_TEST_POSTGRES_URL not set: the several-instance test needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Started together on an empty data directory and an empty database.
    let mut all: Vec<Instance> = (0..3)
        .map(|k| start(dir.path(), &format!("i{k}"), &data, Some(&db.url)))
        .collect();
    for (k, i) in all.iter_mut().enumerate() {
        assert!(
            wait_running(i, Duration::from_secs(120)),
            "instance {k} did not start:\n{}",
            log(i)
        );
    }
    // One CA: every instance serves the same root and issuing CA, and the shared PKI is
    // complete.
    let roots: Vec<Vec<u8>> = all
        .iter()
        .map(|i| get(i.public, "/ca/root.crt").1)
        .collect();
    let issuing: Vec<Vec<u8>> = all
        .iter()
        .map(|i| get(i.public, "/ca/server.crt").1)
        .collect();
    assert!(
        !roots[0].is_empty() && roots.iter().all(|r| *r == roots[0]),
        "roots differ"
    );
    assert!(
        !issuing[0].is_empty() && issuing.iter().all(|r| *r == issuing[0]),
        "issuing CAs differ"
    );
    for n in ["root", "server-ca", "login-ca", "staff-ca", "tls", "ocsp"] {
        let pem = std::fs::read_to_string(data.join("pki").join(format!("{n}.crt"))).expect("crt");
        assert!(
            pem.starts_with("-----BEGIN CERTIFICATE-----"),
            "{n}.crt: {pem}"
        );
        let key = std::fs::read_to_string(data.join("pki").join(format!("{n}.key"))).expect("key");
        assert!(key.contains("PRIVATE KEY-----"), "{n}.key");
    }
    // Each serves the CRL of the same CA.
    for i in &all {
        let (status, body) = get(i.public, "/crl/server.crl");
        assert_eq!(status, 200, "{}", log(i));
        assert!(!body.is_empty());
    }
    // The first start's demo accounts were made once, not once per instance.
    let count = |sql: &'static str| {
        let pool = db.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM accounts").await,
        1,
        "demo accounts made more than once"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM staff").await,
        1,
        "demo staff made more than once"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'system.start'").await,
        3
    );

    // An instance started with its own data directory (hence its own development PKI)
    // on the same database is refused before it signs anything.
    let mut foreign = start(
        dir.path(),
        "foreign",
        &dir.path().join("other"),
        Some(&db.url),
    );
    assert!(
        !wait_running(&mut foreign, Duration::from_secs(120)),
        "a foreign PKI was accepted"
    );
    let status = foreign.child.wait().expect("wait");
    assert!(!status.success());
    let err = log(&foreign);
    assert!(
        err.contains("belongs to the CA") && err.contains("share the same PKI"),
        "{err}"
    );

    // SIGTERM: each stops cleanly, with exit status 0.
    for (k, i) in all.iter_mut().enumerate() {
        sigterm(i);
        let status = wait_exit(i, Duration::from_secs(60));
        assert!(
            status.is_some_and(|s| s.success()),
            "instance {k}: {status:?}\n{}",
            log(i)
        );
        assert!(log(i).contains("stopped"), "{}", log(i));
    }
    assert_eq!(
        count("SELECT COUNT(*) FROM audit_events WHERE action = 'system.stop'").await,
        3
    );
}

#[test]
fn issue12_sigterm_lets_a_request_in_flight_finish_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut i = start(dir.path(), "one", &dir.path().join("data"), None);
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    // A request whose body has not all arrived when SIGTERM comes.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", i.public)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = b"not an OCSP request";
    write!(
        s,
        "POST /ocsp/server HTTP/1.1\r\nHost: pki.example.jp\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    s.write_all(&body[..5]).expect("part of the body");
    s.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&i);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        i.child.try_wait().expect("try_wait").is_none(),
        "exited with a request in flight"
    );
    // New connections are no longer accepted.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", i.public)).is_err(),
        "still accepting after SIGTERM"
    );
    s.write_all(&body[5..]).expect("rest of the body");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.starts_with("HTTP/1.1 "),
        "no answer to the request in flight: {text:?}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("application/ocsp-response"),
        "{text:?}"
    );
    let status = wait_exit(&mut i, Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        log(&i)
    );
    assert!(log(&i).contains("stopped"), "{}", log(&i));
}

#[test]
fn issue12_metrics_listener_and_health_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut i = start_with(
        dir.path(),
        "m",
        &dir.path().join("data"),
        None,
        &format!("metrics = \"127.0.0.1:{port}\"\n"),
        &[],
    );
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    // Health checks on the public listener (for a load balancer) and on the metrics one.
    for p in [i.public, port] {
        assert_eq!(get(p, "/health/live"), (200, b"ok\n".to_vec()));
        assert_eq!(get(p, "/health/ready"), (200, b"ready\n".to_vec()));
    }
    // /metrics only on its own listener.
    assert_eq!(get(i.public, "/metrics").0, 404);
    let _ = get(i.public, "/crl/server.crl");
    let _ = ocsp_post(i.public, b"abc");
    let (status, body) = get(port, "/metrics");
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    for want in [
        "shomei_ocsp_responses_total{status=\"malformed_request\"} 1",
        "shomei_jobs{status=\"pending\"}",
        "shomei_crl_age_seconds{crl=\"server",
        "shomei_db_connections{pool=\"reader\"",
        "shomei_issuance_seconds_count{path=\"acme\"} 0",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(log(&i).contains(&format!("metrics http://127.0.0.1:{port}/metrics")));
    sigterm(&i);
    let status = wait_exit(&mut i, Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        log(&i)
    );
}

#[test]
fn issue12_json_logs_carry_each_requests_operation_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut i = start_with(
        dir.path(),
        "j",
        &dir.path().join("data"),
        None,
        "",
        &[
            ("SHOMEI_LOG_FORMAT", "json"),
            ("SHOMEI_LOG", "info,shomei_web=debug"),
        ],
    );
    assert!(
        wait_running(&mut i, Duration::from_secs(120)),
        "{}",
        log(&i)
    );
    let (_, head, _) = get_head(i.public, "/crl/server.crl");
    let id = head
        .lines()
        .find_map(|l| l.strip_prefix("x-operation-id: "))
        .expect("an operation id")
        .trim()
        .to_owned();
    assert_eq!(id.len(), 12, "{id}");
    // Every stderr line is JSON; the request's lines name its operation.
    let t = Instant::now();
    let line = loop {
        let err = std::fs::read_to_string(&i.err).unwrap_or_default();
        if let Some(l) = err.lines().find(|l| l.contains(&id)) {
            break l.to_owned();
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no log line names {id}:\n{err}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["span"]["operation"], id.as_str(), "{line}");
    assert_eq!(v["span"]["path"], "/crl/server.crl", "{line}");
    for l in std::fs::read_to_string(&i.err).unwrap_or_default().lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(l).is_ok(),
            "not JSON: {l}"
        );
    }
}
