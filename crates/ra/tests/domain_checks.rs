//! Issue #10: the portal's domain validation. After a submission each domain has a
//! random value; the validation engine (against a real DNS server and HTTP server on
//! loopback) checks a TXT record at `_validation-shomei.DOMAIN` (BR 3.2.2.4.7) or the
//! file `/.well-known/pki-validation/shomei-ID.txt` (BR 3.2.2.4.18), records each result,
//! and staff approve by `dns-change` / `http-file` only on a passed check.

use shomei_model::{Actor, AppKind};
use shomei_ra::issue::Approval;
use shomei_ra::testing::{account, ra, sr30_form, submit_as};
use shomei_store::testing::backends;
use shomei_validation::perspective::Corroborator;
use shomei_validation::testing::hickory_proto::rr::rdata::{A, CAA, TXT};
use shomei_validation::testing::hickory_proto::rr::{RData, RecordType};
use shomei_validation::testing::{Zone, dns_server, http_server};
use shomei_validation::{Config, Validator};
use std::collections::HashMap;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

#[tokio::test]
async fn domains_are_checked_by_dns_or_file_and_staff_approve_on_a_passed_check() {
    for db in backends().await {
        let (ra, _, _) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = account(&ra, "テスト株式会社").await;
        let id = submit_as(&ra, a.id, AppKind::New, &sr30_form(CSR))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("submitted"));
        let app = ra
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        // Random values for both domains, stable across views.
        let first = ra
            .domain_challenges(&app)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.len(), 2, "{}", db.name);
        assert!(
            first
                .iter()
                .all(|c| c.value.len() >= 27 && c.passed.is_none())
        );
        assert_eq!(ra.domain_challenges(&app).await.unwrap_or_default(), first);
        let value = |d: &str| {
            first
                .iter()
                .find(|c| c.domain == d)
                .map(|c| c.value.clone())
                .unwrap_or_default()
        };

        // www.example.jp by a TXT record; example.jp by the file (the wrong value first).
        let zone = Zone::default();
        zone.add("www.example.jp", RData::A(A::new(127, 0, 0, 1)));
        zone.add("example.jp", RData::A(A::new(127, 0, 0, 1)));
        zone.add(
            "_validation-shomei.www.example.jp",
            RData::TXT(TXT::new(vec![value("www.example.jp")])),
        );
        let dns = dns_server(zone.clone()).await;
        let file = format!("/.well-known/pki-validation/shomei-{id}.txt");
        let wrong = http_server(HashMap::from([(
            file.clone(),
            (200, None, "not it".to_string()),
        )]))
        .await;
        let engine = |port: u16| {
            Corroborator::local(
                Validator::new(Config {
                    resolver: Some(dns),
                    http_port: port,
                    ..Config::default()
                })
                .unwrap_or_else(|e| panic!("{e}")),
                Some(0),
            )
        };
        let ra1 = ra.clone().with_validation(engine(wrong));
        let after = ra1
            .check_domains(&app, Actor::Customer(a.id))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let www = after
            .iter()
            .find(|c| c.domain == "www.example.jp")
            .unwrap_or_else(|| panic!("www"));
        assert_eq!(www.passed.as_ref().map(|p| p.0.as_str()), Some("dns-txt"));
        let apex = after
            .iter()
            .find(|c| c.domain == "example.jp")
            .unwrap_or_else(|| panic!("apex"));
        assert!(apex.passed.is_none());
        let (ok, method, detail, _) = apex.last_check.clone().unwrap_or_else(|| panic!("checked"));
        assert!(
            !ok && method == "http-file" && detail.contains("random value"),
            "{detail}"
        );

        // Staff cannot attest the file for example.jp yet.
        let approval = |apex_method: &str| Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![
                ("www.example.jp".into(), "dns-change".into()),
                ("example.jp".into(), apex_method.into()),
            ],
            domain_notes: Vec::new(),
        };
        assert!(matches!(
            ra1.approve(staff.id, id, &approval("http-file")).await,
            Err(shomei_ra::RaError::Invalid("err.domain_unchecked"))
        ));
        // The right file: passes; staff approve on the two passed checks.
        let right = http_server(HashMap::from([(
            file,
            (200, None, format!("{}\n", value("example.jp"))),
        )]))
        .await;
        let ra2 = ra.clone().with_validation(engine(right));
        let after = ra2
            .check_domains(&app, Actor::Staff(staff.id))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(after.iter().all(|c| c.passed.is_some()), "{after:?}");
        // CAA naming another CA stops issuance (BR 3.2.2.8): back to the desk, the
        // refusal listed with the failed checks.
        zone.add(
            "example.jp",
            RData::CAA(CAA::new_issue(
                false,
                Some("other-ca.test".parse().unwrap_or_else(|e| panic!("{e:?}"))),
                vec![],
            )),
        );
        assert!(matches!(
            ra2.approve(staff.id, id, &approval("http-file")).await,
            Err(shomei_ra::RaError::Invalid("err.caa"))
        ));
        let failed = ra2
            .domain_checks_of(a.id, true, 10)
            .await
            .unwrap_or_default();
        assert!(
            failed
                .iter()
                .any(|c| c.method == "caa" && c.domain == "example.jp"),
            "{failed:?}"
        );
        zone.clear("example.jp", RecordType::CAA);
        ra2.approve(staff.id, id, &approval("http-file"))
            .await
            .unwrap_or_else(|e| panic!("{} {e}", db.name));
        // (Each approval records its validations; the one before the CAA refusal too.)
        let mut methods: Vec<String> = ra2
            .validations_of(id)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.kind == "domain")
            .map(|v| format!("{}={}", v.subject, v.method))
            .collect();
        methods.sort();
        methods.dedup();
        assert_eq!(
            methods,
            ["example.jp=http-file", "www.example.jp=dns-change"]
        );
        // Done: no more checks for it.
        let done = ra2
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert!(
            ra2.domain_challenges(&done)
                .await
                .unwrap_or_default()
                .is_empty()
        );
    }
}
