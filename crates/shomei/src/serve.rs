//! `shomei serve`: binds the three listeners (failing early and clearly), makes the demo
//! accounts on first start, prints how to log in, and serves until interrupted.

use crate::config::Config;
use crate::setup::{self, Pki};
use serde::{Deserialize, Serialize};
use shomei_model::{Actor, SystemClock};
use shomei_store::Realm;
use shomei_web::tls::{ClientAuth, serve_tls_until, server_config};
use shomei_web::{AppState, WebConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What `serve` prints and keeps about the demo accounts (data dir, mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Demo {
    access_key: String,
    customer_initial_password: String,
    customer_p12: String,
    customer_p12_password: String,
    staff_login: String,
    staff_initial_password: String,
    staff_p12: String,
    staff_p12_password: String,
}

async fn bind(what: &str, addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({what}): {e}"))
}

async fn demo_accounts(ra: &shomei_ra::Ra, dir: &Path) -> Result<Demo, String> {
    let file = dir.join("demo").join("credentials.json");
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Ok(d) = serde_json::from_str::<Demo>(&text)
    {
        let account = ra
            .account_by_access_key(&d.access_key)
            .await
            .map_err(|e| e.to_string())?;
        let staff = ra
            .staff_by_login(&d.staff_login)
            .await
            .map_err(|e| e.to_string())?;
        if account.is_some() && staff.is_some() {
            return Ok(d);
        }
    }
    let input = shomei_ra::accounts::AccountInput {
        org: "デモ株式会社".into(),
        email: "demo@example.jp".into(),
        // A dealer code, so that coupons issued for it show in クーポン管理.
        dealer_code: Some("DEMO-001".into()),
    };
    let c = ra
        .create_account(&input, Actor::System)
        .await
        .map_err(|e| format!("cannot create the demo account: {e}"))?;
    let cp12 = crate::commands::write_credentials(&dir.join("demo").join("customer"), &c)?;
    let mut login = "reviewer".to_owned();
    if ra
        .staff_by_login(&login)
        .await
        .map_err(|e| e.to_string())?
        .is_some()
    {
        login = format!("reviewer-{}", c.login.to_lowercase());
    }
    let s = ra
        .create_staff(&login, "デモ審査担当", "reviewer@example.jp", Actor::System)
        .await
        .map_err(|e| format!("cannot create the demo staff member: {e}"))?;
    let sp12 = crate::commands::write_credentials(&dir.join("demo").join("staff"), &s)?;
    let d = Demo {
        access_key: c.login,
        customer_initial_password: c.initial_password,
        customer_p12: cp12,
        customer_p12_password: c.p12_password,
        staff_login: s.login,
        staff_initial_password: s.initial_password,
        staff_p12: sp12,
        staff_p12_password: s.p12_password,
    };
    let json = serde_json::to_string_pretty(&d).map_err(|e| e.to_string())?;
    setup::write_private(&file, json.as_bytes())?;
    Ok(d)
}

/// Runs the server.
pub async fn serve(cfg: Config, pki: Pki, start: std::fs::File) -> Result<(), String> {
    // Held (shared) while serving: `shomei restore` refuses to replace the database
    // under a running server.
    let serving = crate::backup::serving_lock(&cfg)?;
    serving
        .lock_shared()
        .map_err(|e| format!("cannot lock the data directory: {e}"))?;
    // Bind first: a port in use stops start-up before anything else happens.
    let public = bind("public", cfg.listen.public).await?;
    let portal = bind("portal", cfg.listen.portal).await?;
    let desk = bind("desk", cfg.listen.desk).await?;
    let acme = bind("acme", cfg.listen.acme).await?;
    let metrics = match cfg.listen.metrics {
        Some(a) => Some(bind("metrics", a).await?),
        None => None,
    };
    let mail = shomei_ra::mail::MailSettings::new(
        &cfg.mail.from,
        &cfg.mail.staff_to,
        &format!("https://{}", cfg.listen.portal),
        cfg.mail.smtp_url.as_deref(),
        cfg.data_dir.join("outbox"),
    )?;
    let acme_base = format!("https://{}", cfg.listen.acme);
    let ra = setup::ra(&cfg, &pki)
        .await?
        .with_mail(mail)
        .with_validation(setup::corroborator(&cfg, &SystemClock)?)
        .with_acme_base(&acme_base);
    // Jobs a killed process left running go back to the queue once their lease has
    // expired (workers are idempotent); another live instance's jobs keep theirs.
    ra.requeue_expired_jobs()
        .await
        .map_err(|e| format!("cannot read the job queue: {e}"))?;
    let demo = demo_accounts(&ra, &cfg.data_dir).await?;
    // The root CRL file, if due, while no other instance on this data directory can
    // sign one with the same number.
    setup::ensure_root_crl(&pki, ra.clock.now())?;
    // What a first start makes exists: other instances starting on this data directory
    // may go on.
    drop(start);
    for (id, outcome) in ra
        .resume_interrupted_issuance()
        .await
        .map_err(|e| format!("cannot resume interrupted issuance: {e}"))?
    {
        match outcome {
            Ok(i) => {
                tracing::info!(application = id, serial = %i.serial, "resumed interrupted issuance")
            }
            Err(e) => tracing::error!(
                application = id,
                "interrupted issuance could not be resumed: {e}"
            ),
        }
    }
    let s = &pki.set;
    let portal_tls = server_config(
        &s.tls.cert_pem,
        &s.tls.key_pem,
        &s.login_ca.cert_pem,
        ClientAuth::Optional,
    )
    .map_err(|e| format!("portal TLS: {e}"))?;
    let desk_tls = server_config(
        &s.tls.cert_pem,
        &s.tls.key_pem,
        &s.staff_ca.cert_pem,
        ClientAuth::Required,
    )
    .map_err(|e| format!("desk TLS: {e}"))?;
    let acme_tls = server_config(&s.tls.cert_pem, &s.tls.key_pem, "", ClientAuth::None)
        .map_err(|e| format!("ACME TLS: {e}"))?;
    let web = WebConfig {
        portal_url: format!("https://{}", cfg.listen.portal),
        public_url: cfg.pki.public_base_url.clone(),
        ca_name: cfg.pki.operator.clone(),
        support_email: cfg.mail.support.clone(),
        acme_directory: format!("https://{}/acme/directory", cfg.listen.acme),
        ..WebConfig::default()
    };
    let state = |realm| {
        Arc::new(AppState {
            ra: ra.clone(),
            realm,
            cfg: web.clone(),
            root_pem: s.root.cert_pem.clone(),
            root_crl: Some(pki.dir.join("root.crl")),
            throttle: Default::default(),
        })
    };
    // Overload (issue #12): beyond `listen.max_in_flight` requests at once a listener
    // answers 503 with Retry-After at once instead of queueing until clients time out.
    let max = cfg.listen.max_in_flight;
    let shed = |app, busy: fn() -> axum::response::Response| shomei_web::shed(app, max, busy);
    let portal_app = shed(
        shomei_web::portal::router(state(Realm::Customer)),
        shomei_web::busy_page,
    );
    let desk_app = shed(
        shomei_web::desk::router(state(Realm::Staff)),
        shomei_web::busy_page,
    );
    let public_app = shomei_web::public::router(state(Realm::Customer));
    let acme_app = shomei_acme::router(shomei_acme::AcmeState {
        ra: ra.clone(),
        base: acme_base.clone(),
        terms_of_service: format!("https://{}/", cfg.listen.portal),
        website: format!("https://{}/", cfg.listen.portal),
    })
    .layer(axum::middleware::from_fn(shomei_web::security::operation));
    let acme_app = shed(acme_app, shomei_acme::busy_response);

    // The public listener (OCSP, CRLs): threads of its own, each with its own runtime.
    let public_threads = shomei_web::spread::Spread::start(public_app, cfg.listen.public_threads())
        .map_err(|e| format!("cannot start the public listener's threads: {e}"))?;

    ra.record_system_event(
        "system.start",
        serde_json::json!({ "version": env!("CARGO_PKG_VERSION") }),
    )
    .await
    .map_err(|e| format!("cannot write the audit log: {e}"))?;

    println!("Shomei is running.");
    println!("  public  http://{}", cfg.listen.public);
    println!(
        "  portal  https://{}   (customers: login certificate + access key + password)",
        cfg.listen.portal
    );
    println!(
        "  desk    https://{}   (staff: staff certificate + login + password)",
        cfg.listen.desk
    );
    println!(
        "  acme    https://{}/acme/directory   (ACME with external account binding to a contract)",
        cfg.listen.acme
    );
    if let Some(m) = cfg.listen.metrics {
        println!(
            "  metrics http://{m}/metrics   (Prometheus; health: /health/live, /health/ready)"
        );
    }
    println!(
        "Root CA (trust it in the browser, or accept the warning): {}",
        pki.dir.join("root.crt").display()
    );
    // Once the demo user has chosen a password, the initial one no longer works.
    let initial = |still: bool, pw: &str| {
        if still {
            format!("initial password {pw}")
        } else {
            "password already changed".to_owned()
        }
    };
    let customer_initial = ra
        .account_by_access_key(&demo.access_key)
        .await
        .ok()
        .flatten()
        .is_some_and(|a| a.creds.password_initial);
    let staff_initial = ra
        .staff_by_login(&demo.staff_login)
        .await
        .ok()
        .flatten()
        .is_some_and(|s| s.creds.password_initial);
    println!(
        "Demo customer: access key {}  {}",
        demo.access_key,
        initial(customer_initial, &demo.customer_initial_password)
    );
    println!(
        "  login certificate {}  PKCS#12 password {}",
        demo.customer_p12, demo.customer_p12_password
    );
    println!(
        "Demo staff:    login {}  {}",
        demo.staff_login,
        initial(staff_initial, &demo.staff_initial_password)
    );
    println!(
        "  staff certificate {}  PKCS#12 password {}",
        demo.staff_p12, demo.staff_p12_password
    );
    println!("(Initial passwords are valid for 30 days and must be changed at the first login.)");

    // The CRL: signed at start, then kept current (re-signed within minutes of a
    // revocation, and at least every 23 hours). OCSP responses likewise.
    ra.current_crl()
        .await
        .map_err(|e| format!("cannot sign the CRL: {e}"))?;
    // A revocation whose CRL a crash prevented is published now.
    ra.refresh_stale_crls()
        .await
        .map_err(|e| format!("cannot sign the CRL: {e}"))?;
    // TOTP secrets from before encryption (or under an older key) are sealed now.
    match ra.seal_totp_secrets().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(n, "TOTP secrets sealed with the current key"),
        Err(e) => return Err(format!("cannot seal the TOTP secrets: {e}")),
    }
    // OCSP from memory (issue #11): filled in the background (until then requests are
    // answered from the database); on PostgreSQL, other instances' status changes drop
    // what memory holds about them as they commit.
    let fill_ra = ra.clone();
    tokio::spawn(async move {
        match fill_ra.fill_ocsp_memory().await {
            Ok(n) => tracing::info!(n, "OCSP responses in memory"),
            Err(e) => tracing::error!("OCSP memory fill failed: {e}"),
        }
    });
    let follow_ra = ra.clone();
    tokio::spawn(async move { follow_ra.follow_status_changes().await });
    // CRLs: a shard a revocation made stale (its own re-signing failed, or a crash came
    // between) is re-signed within 30 seconds, every shard at least daily.
    let shard_ra = ra.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
        loop {
            tick.tick().await;
            if let Err(e) = shard_ra.refresh_stale_crls().await {
                tracing::error!("CRL refresh failed: {e}");
            }
        }
    });
    // Mass revocations staff confirmed (issue #11): run to their end, chunk by chunk;
    // one a crash interrupted resumes here after the restart.
    let mass_ra = ra.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            match mass_ra.run_mass_revocations().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, "mass revocation: certificates revoked"),
                Err(e) => tracing::error!("mass revocation: {e}"),
            }
        }
    });
    let crl_ra = ra.clone();
    let root_pki = pki.clone();
    let crl_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(120));
        let mut optimized: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            // With several instances on one database, one of them at a time (the lease's
            // holder; another takes over 5 minutes after it dies) does this work (the
            // root CRL too: two instances sharing pki/ never sign one number twice).
            let work = async {
                if let Err(e) = setup::ensure_root_crl(&root_pki, crl_ra.clock.now()) {
                    tracing::error!("root CRL refresh failed: {e}");
                }
                // Daily: the planner's statistics, so searches keep their indexes.
                if optimized.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(86_400)) {
                    if let Err(e) = crl_ra.optimize_storage().await {
                        tracing::warn!("database statistics refresh failed: {e}");
                    }
                    optimized = Some(std::time::Instant::now());
                }
                // OCSP responses: rebuilt a day into their four days of validity.
                if let Err(e) = crl_ra.refresh_ocsp(10_000).await {
                    tracing::error!("OCSP refresh failed: {e}");
                }
                // ACME nonces used and since expired: no longer needed to refuse a replay.
                if let Err(e) = crl_ra.purge_used_nonces().await {
                    tracing::warn!("used nonce purge failed: {e}");
                }
                // 更新のご案内メール due now (each once; the job worker sends them).
                if let Err(e) = crl_ra.queue_reminders().await {
                    tracing::error!("renewal reminders failed: {e}");
                }
            };
            if let Err(e) = crl_ra.run_with_lease(LEASE_MAINTENANCE, 300, work).await {
                tracing::error!("maintenance lease: {e}");
            }
        }
    });
    // The job worker: notice mails (SMTP or the outbox).
    let job_ra = ra.clone();
    let job_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        while !job_ra.is_stopping() {
            tick.tick().await;
            if let Err(e) = job_ra.run_due_jobs(100).await {
                tracing::error!("job worker: {e}");
            }
        }
    });
    // Issue #10: the domains of open applications are checked every ten minutes too
    // (the customer's 確認する and the desk's button check at once).
    let check_ra = ra.clone();
    let check_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            match check_ra
                .run_with_lease(
                    LEASE_DOMAIN_CHECKS,
                    1200,
                    check_ra.check_pending_domains(50),
                )
                .await
            {
                Ok(None | Some(Ok(0))) => {}
                Ok(Some(Ok(n))) => tracing::info!(records = n, "periodic domain checks"),
                Ok(Some(Err(e))) | Err(e) => tracing::error!("periodic domain checks: {e}"),
            }
        }
    });
    // SIGTERM or Ctrl-C: stop accepting, let requests in flight and the job in hand
    // finish, give up the leases, exit 0 (issue #12).
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let most = cfg.listen.max_connections(open_files());
    let per_address = cfg.listen.max_connections_per_address(most);
    let cap = |name| shomei_web::watched::Cap::new(name, most).per_address(per_address);
    let public_task = tokio::spawn(public_threads.serve(public, cap("public"), stopped()));
    let portal_task = tokio::spawn(serve_tls_until(
        portal,
        portal_tls,
        portal_app,
        cap("portal"),
        stopped(),
    ));
    let desk_task = tokio::spawn(serve_tls_until(
        desk,
        desk_tls,
        desk_app,
        cap("desk"),
        stopped(),
    ));
    let acme_task = tokio::spawn(serve_tls_until(
        acme,
        acme_tls,
        acme_app,
        cap("acme"),
        stopped(),
    ));
    // Metrics and health checks: answered until the process ends (ready says 503 from
    // the moment it starts stopping).
    let metrics_task = metrics.map(|l| {
        let app = shomei_web::public::metrics_router(state(Realm::Staff));
        tokio::spawn(async move { axum::serve(l, app).await })
    });
    shutdown_signal().await;
    tracing::info!("shutting down: draining requests in flight and the job in hand");
    ra.begin_shutdown();
    let _ = stop_tx.send(true);
    crl_task.abort();
    check_task.abort();
    let drain = shomei_web::tls::DRAIN + std::time::Duration::from_secs(5);
    let servers = async {
        let _ = public_task.await;
        let _ = portal_task.await;
        let _ = desk_task.await;
        let _ = acme_task.await;
    };
    if tokio::time::timeout(drain, servers).await.is_err() {
        tracing::warn!("requests still running after {drain:?}");
    }
    // The job worker finishes the job in hand (a mail being sent), then stops.
    if tokio::time::timeout(drain, job_task).await.is_err() {
        tracing::warn!(
            "the job in hand did not finish; its lease lets another instance take it over"
        );
    }
    if let Err(e) = ra
        .release_leases(&[LEASE_MAINTENANCE, LEASE_DOMAIN_CHECKS])
        .await
    {
        tracing::warn!("leases not released: {e}");
    }
    let _ = ra
        .record_system_event("system.stop", serde_json::json!({}))
        .await;
    if let Some(t) = metrics_task {
        t.abort();
    }
    tracing::info!("stopped");
    Ok(())
}

/// The lease of the maintenance loop (statistics, OCSP refresh, reminders).
const LEASE_MAINTENANCE: &str = "maintenance";
/// The lease of the periodic domain checks.
const LEASE_DOMAIN_CHECKS: &str = "domain-checks";

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// The open files this process may have, raised first to the hard limit the system
/// allows (as nginx's `worker_rlimit_nofile` and Go's runtime do: the soft limit is
/// often 1,024, a few hundred connections per listener). `None`: unlimited.
fn open_files() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current != now.maximum {
        let raised = Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!("cannot raise the open-file limit to the hard limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current
}
