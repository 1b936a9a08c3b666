//! Issue #12, several instances: concurrent approvals of the same application issue
//! once. Two real `shomei serve` processes on one PostgreSQL; a customer applies through
//! the portal of one (the whole wizard over TLS with the login certificate); one staff
//! member, logged in on the desk of one instance and recognised on the other, sends the
//! approval of the same application to both desks at the same moment. Exactly one
//! answers "issued", the other says the application is no longer in a state to approve
//! (409), and the database holds exactly one certificate for it.

use crate::common::tls::*;
use crate::common::*;
use std::sync::Arc;
use std::time::Duration;

/// Rounds: each a new application approved on both desks at once.
const ROUNDS: usize = 10;

/// The multipart body of the application form: the fields of `APP_JSON` but the choice
/// (already in the draft), the CSRF token and the CSR pasted as text.
fn application_body(boundary: &str, csrf: &str, csr: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(crate::support::APP_JSON).expect("json");
    let mut fields: Vec<(String, String)> = vec![("csrf".into(), csrf.into())];
    for (k, v) in v.as_object().expect("object") {
        if k != "service" && k != "term" {
            fields.push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
        }
    }
    fields.push(("csr".into(), csr.into()));
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

/// The customer's whole 新規申請 on the portal at `port`; returns the application's id.
async fn apply(cfg: &Arc<rustls::ClientConfig>, port: u16, cookie: &str, csr: &str) -> i64 {
    let (_, _, page) = send(cfg, port, http_get(port, "/apply", cookie)).await;
    let form = format!("csrf={}&service=SR3.0&term=1", csrf_of(&page));
    let (status, head, body) = send(cfg, port, http_post(port, "/apply", cookie, &form)).await;
    assert_eq!(status, 303, "{head}{body}");
    let terms = header(&head, "location").expect("location");
    let (_, _, page) = send(cfg, port, http_get(port, &terms, cookie)).await;
    let csrf = csrf_of(&page);
    let (status, head, body) = send(
        cfg,
        port,
        http_post(port, &terms, cookie, &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(status, 303, "{head}{body}");
    let input = header(&head, "location").expect("location");
    assert!(input.ends_with("/input"), "{head}");
    let boundary = "----shomei-desks-test";
    let (status, head, body) = send(
        cfg,
        port,
        post_typed(
            port,
            &input,
            cookie,
            &format!("multipart/form-data; boundary={boundary}"),
            &application_body(boundary, &csrf, csr),
        ),
    )
    .await;
    assert_eq!(status, 303, "the form was refused: {head}{body}");
    let confirm = header(&head, "location").expect("location");
    assert!(confirm.ends_with("/confirm"), "{head}");
    let submit = confirm.replace("/confirm", "/submit");
    let (status, head, body) = send(
        cfg,
        port,
        http_post(port, &submit, cookie, &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(status, 303, "{head}{body}");
    let done = header(&head, "location").expect("location");
    done.strip_prefix("/applications/")
        .and_then(|r| r.strip_suffix("/done"))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("not a completion page: {done}"))
}

/// The approval form of the desk's detail page `page`: every domain checked by phone.
fn approval_form(page: &str) -> String {
    let mut form = format!("csrf={}&org_method=registry", csrf_of(page));
    let mut rest = page;
    while let Some(at) = rest.find("name=\"domain\" value=\"") {
        rest = &rest[at + 21..];
        let domain = rest.split('"').next().unwrap_or_default();
        form.push_str(&format!(
            "&domain={domain}&method=phone&note=%E9%9B%BB%E8%A9%B1%E3%81%A7%E7%A2%BA%E8%AA%8D"
        ));
    }
    assert!(form.contains("&domain="), "no domain on the desk page");
    form
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue12_concurrent_approvals_on_two_desks_issue_once() {
    let Some(db) = shomei_store::testing::postgres().await else {
        eprintln!("SHOMEI_TEST_POSTGRES_URL not set: the several-instance test needs PostgreSQL");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    // Approval checks CAA (BR 3.2.2.8): a DNS server on loopback answers that there is
    // none; no remote perspectives (a laboratory setting).
    let dns = shomei_validation::testing::dns_server(Default::default()).await;
    let validation = format!("[validation]\nresolver = \"{dns}\"\nmin_remote_perspectives = 0\n");
    let start =
        |name: &str| start_configured(dir.path(), name, &data, Some(&db.url), "", &validation, &[]);
    let mut a = start("a");
    assert!(
        wait_running(&mut a, Duration::from_secs(120)),
        "{}",
        log(&a)
    );
    let mut b = start("b");
    assert!(
        wait_running(&mut b, Duration::from_secs(120)),
        "{}",
        log(&b)
    );
    let config = dir.path().join("a.toml");
    let run = |args: &[&str]| {
        let (ok, out, err) = cli(&data, &config, args);
        assert!(ok, "{args:?}: {err}");
        serde_json::from_str::<serde_json::Value>(&out).expect("json")
    };
    let (acct, staff) = (dir.path().join("acct"), dir.path().join("staff"));
    let customer = run(&[
        "account",
        "create",
        "--org",
        "承認株式会社",
        "--email",
        "c@example.jp",
        "--out",
        &acct.display().to_string(),
    ]);
    let reviewer = run(&[
        "staff",
        "create",
        "--name",
        "審査 花子",
        "--email",
        "h@example.jp",
        "--login",
        "hanako",
        "--out",
        &staff.display().to_string(),
    ]);
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().expect(k).to_owned();
    let c_cfg = client(&data, &acct);
    let c_cookie = first_login(
        &c_cfg,
        a.portal,
        &s(&customer, "access_key"),
        &s(&customer, "initial_password"),
        "Sakura-2026-blossom",
    )
    .await;
    let s_cfg = client(&data, &staff);
    let s_cookie = first_login(
        &s_cfg,
        a.desk,
        &s(&reviewer, "login"),
        &s(&reviewer, "initial_password"),
        "Momiji-2026-autumn",
    )
    .await;
    let csr = std::fs::read_to_string(crate::support::test_csr()).expect("csr");
    let store = shomei_store::Store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut issued_on_a, mut issued_on_b) = (0, 0);
    for round in 0..ROUNDS {
        // The portal of each instance in turn takes the application.
        let portal = if round % 2 == 0 { a.portal } else { b.portal };
        let id = apply(&c_cfg, portal, &c_cookie, &csr).await;
        let path = format!("/applications/{id}");
        let (status, head, page) = send(&s_cfg, b.desk, http_get(b.desk, &path, &s_cookie)).await;
        assert_eq!(status, 200, "desk B does not show application {id}: {head}");
        let form = approval_form(&page);
        let approve = format!("{path}/approve");
        // Both connections are open (TLS done) before either request is written; the
        // two requests then leave at once, from two threads.
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let at_once = |port: u16| {
            let (cfg, barrier) = (s_cfg.clone(), barrier.clone());
            let req = http_post(port, &approve, &s_cookie, &form);
            tokio::spawn(async move {
                let conn = connect(&cfg, port).await;
                barrier.wait().await;
                exchange_on(conn, req).await
            })
        };
        let (on_a, on_b) = (at_once(a.desk), at_once(b.desk));
        let (sa, ha, ba) = on_a.await.expect("desk A");
        let (sb, hb, bb) = on_b.await.expect("desk B");
        let mut statuses = [sa, sb];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [303, 409],
            "round {round}: one desk issues, the other refuses\nA: {ha}{ba}\nB: {hb}{bb}"
        );
        let (winner, refused) = if sa == 303 {
            issued_on_a += 1;
            (ha, bb)
        } else {
            issued_on_b += 1;
            (hb, ba)
        };
        assert_eq!(
            header(&winner, "location").as_deref(),
            Some(format!("{path}?m=issued").as_str())
        );
        // The refusal says why, in the desk's language (Japanese by default).
        assert!(
            refused.contains("状態"),
            "round {round}: the refusal does not explain itself: {refused}"
        );
        let certs: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM certificates WHERE application_id = $1 AND der IS NOT NULL",
        )
        .bind(id)
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            certs, 1,
            "round {round}: application {id} has {certs} certificates"
        );
        let approvals: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE subject = $1 AND action = 'application.approved'",
        )
        .bind(format!("application:{id}"))
        .fetch_one(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            approvals, 1,
            "round {round}: application {id} approved {approvals} times"
        );
    }
    println!(
        "{ROUNDS} applications, each approved on both desks at once: issued by A {issued_on_a}, by B {issued_on_b}, one certificate each"
    );
    for i in [&mut a, &mut b] {
        sigterm(i);
        let exit = wait_exit(i, Duration::from_secs(60));
        assert!(exit.is_some_and(|s| s.success()), "{exit:?}\n{}", log(i));
    }
}
