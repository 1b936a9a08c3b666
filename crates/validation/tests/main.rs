//! The validation engine against real servers on loopback (issue #10; BR 3.2.2.4.7,
//! 3.2.2.4.18, 3.2.2.4.19, 3.2.2.4.20, 3.2.2.8; RFC 8555 8.3/8.4, RFC 8737, RFC 8659,
//! RFC 8657).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::{A, CAA, TXT};
use sha2::Digest;
use shomei_validation::caa::{CaaRecord, permits};
use shomei_validation::testing::*;
use shomei_validation::{Check, Config, FailureKind, Validator, dns01_digest};
use std::collections::HashMap;

const KA: &str = "tok123.thumbprintABC";

async fn setup(zone: &Zone, http_port: u16, tls_port: u16) -> Validator {
    let dns = dns_server(zone.clone()).await;
    zone.add("example.test", RData::A(A::new(127, 0, 0, 1)));
    zone.add("www.example.test", RData::A(A::new(127, 0, 0, 1)));
    Validator::new(Config {
        resolver: Some(dns),
        http_port,
        tls_port,
        timeout_seconds: 5,
        caa_identities: vec!["shomei.test".into()],
    })
    .unwrap()
}

fn http01(domain: &str) -> Check {
    Check::Http01 {
        domain: domain.into(),
        token: "tok123".into(),
        key_authorization: KA.into(),
    }
}

#[tokio::test]
async fn http01_passes_on_the_key_authorization_and_follows_redirects() {
    let mut pages = HashMap::new();
    pages.insert(
        "/.well-known/acme-challenge/tok123".to_string(),
        (200, None, format!("{KA}\n")),
    );
    let port = http_server(pages).await;
    let zone = Zone::default();
    let v = setup(&zone, port, 1).await;
    assert_eq!(v.run(&http01("example.test")).await, Ok(()));
    // A redirect to another host of the same zone on the same port is followed.
    let mut pages = HashMap::new();
    pages.insert(
        "/.well-known/acme-challenge/tok123".to_string(),
        (
            302,
            Some(format!(
                "location: http://example.test:{port}/.well-known/acme-challenge/tok123"
            )),
            String::new(),
        ),
    );
    let port2 = http_server(pages).await;
    let v2 = setup(&Zone::default(), port2, 1).await;
    // example.test resolves to 127.0.0.1; the redirect's port is the first server's,
    // which is not 80/443 nor configured: refused.
    let r = v2.run(&http01("www.example.test")).await.unwrap_err();
    assert_eq!(r.kind, FailureKind::IncorrectResponse, "{r}");
    assert!(r.detail.contains("port"), "{r}");
}

#[tokio::test]
async fn http01_fails_on_a_wrong_answer_a_404_or_no_server() {
    let mut pages = HashMap::new();
    pages.insert(
        "/.well-known/acme-challenge/tok123".to_string(),
        (200, None, "something else".to_string()),
    );
    let port = http_server(pages).await;
    let zone = Zone::default();
    let v = setup(&zone, port, 1).await;
    let e = v.run(&http01("example.test")).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Unauthorized);
    assert!(e.detail.contains("something else"), "{e}");
    let e = v
        .run(&Check::Http01 {
            domain: "example.test".into(),
            token: "other".into(),
            key_authorization: KA.into(),
        })
        .await
        .unwrap_err();
    assert!(e.detail.contains("404"), "{e}");
    // A name with no address.
    let e = v.run(&http01("nowhere.example.test")).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Dns, "{e}");
    // Nobody listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let v = setup(&Zone::default(), free, 1).await;
    let e = v.run(&http01("example.test")).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Connection, "{e}");
}

#[tokio::test]
async fn http_file_finds_the_random_value() {
    let mut pages = HashMap::new();
    pages.insert(
        "/.well-known/pki-validation/shomei-abc.txt".to_string(),
        (200, None, "RANDOMVALUE42\n".to_string()),
    );
    let port = http_server(pages).await;
    let v = setup(&Zone::default(), port, 1).await;
    let check = |value: &str| Check::HttpFile {
        domain: "example.test".into(),
        file: "shomei-abc.txt".into(),
        value: value.into(),
    };
    assert_eq!(v.run(&check("RANDOMVALUE42")).await, Ok(()));
    assert_eq!(
        v.run(&check("OTHER")).await.unwrap_err().kind,
        FailureKind::Unauthorized
    );
}

#[tokio::test]
async fn dns01_and_dns_txt_read_the_txt_records() {
    let zone = Zone::default();
    let v = setup(&zone, 1, 1).await;
    let check = Check::Dns01 {
        domain: "example.test".into(),
        key_authorization: KA.into(),
    };
    let e = v.run(&check).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Unauthorized);
    assert!(
        e.detail
            .contains("no TXT record at _acme-challenge.example.test"),
        "{e}"
    );
    zone.add(
        "_acme-challenge.example.test",
        RData::TXT(TXT::new(vec!["wrong".into()])),
    );
    assert!(v.run(&check).await.is_err());
    zone.add(
        "_acme-challenge.example.test",
        RData::TXT(TXT::new(vec![dns01_digest(KA)])),
    );
    assert_eq!(v.run(&check).await, Ok(()));
    // RFC 8555 8.4's example value.
    assert_eq!(
        dns01_digest("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.nP1qzpXGymHBrUEepNY9HCsQk7K8KhOypzEt62jcerQ").len(),
        43
    );
    let txt = Check::DnsTxt {
        domain: "example.test".into(),
        value: "R4ND0M".into(),
    };
    assert!(v.run(&txt).await.is_err());
    zone.add(
        "_validation-shomei.example.test",
        RData::TXT(TXT::new(vec!["R4ND0M".into()])),
    );
    assert_eq!(v.run(&txt).await, Ok(()));
    // A server failure is a dns failure, not a pass and not "no record".
    zone.servfail
        .lock()
        .unwrap()
        .push("_acme-challenge.www.example.test".into());
    let e = v
        .run(&Check::Dns01 {
            domain: "www.example.test".into(),
            key_authorization: KA.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Dns, "{e}");
}

#[tokio::test]
async fn tls_alpn01_checks_name_extension_and_digest() {
    let digest = sha2::Sha256::digest(KA.as_bytes()).to_vec();
    let check = Check::TlsAlpn01 {
        domain: "example.test".into(),
        key_authorization: KA.into(),
    };
    let (c, k) = alpn_cert(&["example.test"], &digest, true);
    let port = alpn_server(c, k).await;
    let v = setup(&Zone::default(), 1, port).await;
    assert_eq!(v.run(&check).await, Ok(()));
    // Wrong digest.
    let (c, k) = alpn_cert(&["example.test"], &[0u8; 32], true);
    let port = alpn_server(c, k).await;
    let v = setup(&Zone::default(), 1, port).await;
    let e = v.run(&check).await.unwrap_err();
    assert_eq!(e.kind, FailureKind::Unauthorized);
    assert!(e.detail.contains("digest"), "{e}");
    // Another name besides.
    let (c, k) = alpn_cert(&["example.test", "other.test"], &digest, true);
    let port = alpn_server(c, k).await;
    let v = setup(&Zone::default(), 1, port).await;
    assert!(v.run(&check).await.unwrap_err().detail.contains("exactly"));
    // Not critical.
    let (c, k) = alpn_cert(&["example.test"], &digest, false);
    let port = alpn_server(c, k).await;
    let v = setup(&Zone::default(), 1, port).await;
    assert!(v.run(&check).await.unwrap_err().detail.contains("critical"));
}

fn caa_check(domain: &str, wildcard: bool, account: Option<&str>, method: &str) -> Check {
    Check::Caa {
        domain: domain.into(),
        wildcard,
        account_uri: account.map(Into::into),
        method: method.into(),
    }
}

#[tokio::test]
async fn caa_climbs_the_tree_and_honours_issue_records() {
    let zone = Zone::default();
    let v = setup(&zone, 1, 1).await;
    // No CAA anywhere: permitted.
    assert_eq!(
        v.run(&caa_check("www.example.test", false, None, "http-01"))
            .await,
        Ok(())
    );
    // The parent names another CA: refused, with where the records were.
    zone.add(
        "example.test",
        RData::CAA(CAA::new_issue(
            false,
            Some("other-ca.test".parse().unwrap()),
            vec![],
        )),
    );
    let e = v
        .run(&caa_check("www.example.test", false, None, "http-01"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Caa);
    assert!(e.detail.contains("at example.test"), "{e}");
    // The name itself names this CA: its set is the relevant one.
    zone.add(
        "www.example.test",
        RData::CAA(CAA::new_issue(
            false,
            Some("shomei.test".parse().unwrap()),
            vec![],
        )),
    );
    assert_eq!(
        v.run(&caa_check("www.example.test", false, None, "http-01"))
            .await,
        Ok(())
    );
    // A lookup failure blocks issuance.
    zone.servfail
        .lock()
        .unwrap()
        .push("www.example.test".into());
    let e = v
        .run(&caa_check("www.example.test", false, None, "http-01"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Caa, "{e}");
}

#[test]
fn caa_rules_of_rfc_8659_and_8657() {
    let me = vec!["shomei.test".to_string()];
    let issue =
        |issuer: Option<&str>, params: &[(&str, &str)]| CaaRecord::issue("issue", issuer, params);
    // Empty set, or only iodef: anyone may issue.
    assert!(permits(&[], &me, false, None, "dns-01").is_ok());
    // ";" : nobody.
    assert!(permits(&[issue(None, &[])], &me, false, None, "dns-01").is_err());
    // Case and trailing dot do not matter.
    assert!(
        permits(
            &[issue(Some("Shomei.Test."), &[])],
            &me,
            false,
            None,
            "dns-01"
        )
        .is_ok()
    );
    // accounturi (RFC 8657 3).
    let acct = [issue(
        Some("shomei.test"),
        &[("accounturi", "https://ca/acme/acct/7")],
    )];
    assert!(permits(&acct, &me, false, Some("https://ca/acme/acct/7"), "http-01").is_ok());
    let e = permits(&acct, &me, false, Some("https://ca/acme/acct/8"), "http-01").unwrap_err();
    assert!(e.contains("another account"), "{e}");
    assert!(permits(&acct, &me, false, None, "http-01").is_err());
    // validationmethods (RFC 8657 4).
    let vm = [issue(
        Some("shomei.test"),
        &[("validationmethods", "dns-01,tls-alpn-01")],
    )];
    assert!(permits(&vm, &me, false, None, "dns-01").is_ok());
    assert!(permits(&vm, &me, false, None, "tls-alpn-01").is_ok());
    assert!(
        permits(&vm, &me, false, None, "http-01")
            .unwrap_err()
            .contains("http-01")
    );
    // issuewild governs wildcards when present; issue otherwise.
    let set = [
        issue(Some("shomei.test"), &[]),
        CaaRecord::issue("issuewild", None, &[]),
    ];
    assert!(permits(&set, &me, false, None, "dns-01").is_ok());
    assert!(permits(&set, &me, true, None, "dns-01").is_err());
    assert!(permits(&set[..1], &me, true, None, "dns-01").is_ok());
    // An unknown critical property forbids; an unknown non-critical one is ignored.
    let crit = CaaRecord {
        critical: true,
        tag: "tbs".into(),
        issue: None,
    };
    assert!(permits(std::slice::from_ref(&crit), &me, false, None, "dns-01").is_err());
    let mut quiet = crit;
    quiet.critical = false;
    assert!(permits(&[quiet], &me, false, None, "dns-01").is_ok());
    // A malformed issue value grants nothing.
    let broken = CaaRecord {
        critical: false,
        tag: "issue".into(),
        issue: None,
    };
    assert!(permits(&[broken], &me, false, None, "dns-01").is_err());
}

mod perspectives {
    //! BR 3.2.2.9: the primary and remote perspectives (real `POST /check` servers over
    //! mutually authenticated TLS on loopback), each with its own resolver.
    use super::*;
    use shomei_validation::perspective::{
        Corroborator, LinkTls, allowed_disagreements, decide, required_remotes, serve,
    };

    fn link() -> (LinkTls, LinkTls) {
        let pki = shomei_ca::pki::generate_link_pki(time::OffsetDateTime::now_utc(), "Test", &[])
            .unwrap();
        (
            LinkTls {
                cert_pem: pki.server.cert_pem,
                key_pem: pki.server.key_pem,
                peer_ca_pem: pki.ca_pem.clone(),
            },
            LinkTls {
                cert_pem: pki.client.cert_pem,
                key_pem: pki.client.key_pem,
                peer_ca_pem: pki.ca_pem,
            },
        )
    }

    /// A perspective whose resolver sees `zone`.
    async fn perspective(zone: &Zone, server: &LinkTls) -> String {
        let dns = dns_server(zone.clone()).await;
        let v = Validator::new(Config {
            resolver: Some(dns),
            ..Config::default()
        })
        .unwrap();
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}", l.local_addr().unwrap().port());
        let server = server.clone();
        tokio::spawn(async move { serve(l, v, &server).await });
        url
    }

    fn dns01() -> Check {
        Check::Dns01 {
            domain: "example.test".into(),
            key_authorization: KA.into(),
        }
    }

    #[tokio::test]
    async fn a_disagreeing_perspective_blocks_issuance_where_the_quorum_says_so() {
        let (server, client) = link();
        // The domain as the world sees it: the TXT record is there.
        let good = Zone::default();
        good.add(
            "_acme-challenge.example.test",
            RData::TXT(TXT::new(vec![dns01_digest(KA)])),
        );
        // As a hijacked path sees it: no record.
        let hijacked = Zone::default();
        let primary = setup(&good, 1, 1).await;
        let g1 = perspective(&good, &server).await;
        let g2 = perspective(&good, &server).await;
        let g3 = perspective(&good, &server).await;
        let h1 = perspective(&hijacked, &server).await;
        let h2 = perspective(&hijacked, &server).await;
        // 4 remotes, one disagrees: corroborated (2-5 remotes allow one).
        let c = Corroborator::new(
            primary.clone(),
            vec![g1.clone(), g2.clone(), g3.clone(), h1.clone()],
            &client,
            Some(4),
        )
        .unwrap();
        let r = c.check(&dns01(), 0).await;
        assert!(r.passed(), "{r:?}");
        assert_eq!(r.remotes.len(), 4);
        assert!(r.remotes[3].outcome.is_err());
        assert!(r.perspectives_json().contains(&h1));
        // Two disagree: blocked, and the detail says so.
        let c = Corroborator::new(
            primary.clone(),
            vec![g1.clone(), g2.clone(), h1.clone(), h2.clone()],
            &client,
            Some(4),
        )
        .unwrap();
        let r = c.check(&dns01(), 0).await;
        let e = r.decision.clone().unwrap_err();
        assert!(
            e.detail
                .contains("2 of 4 remote network perspectives disagree"),
            "{e}"
        );
        // Fewer remotes than the phase requires: blocked, never a quiet pass.
        let c = Corroborator::new(primary.clone(), vec![g1.clone(), g2.clone()], &client, None)
            .unwrap();
        let r = c.check(&dns01(), 1_790_000_000).await; // 2026-09: four required
        assert!(r.decision.unwrap_err().detail.contains("requires 4"));
        // An unreachable perspective counts as disagreeing.
        let dead = "https://127.0.0.1:1".to_string();
        let c = Corroborator::new(
            primary.clone(),
            vec![g1.clone(), dead.clone(), h1.clone()],
            &client,
            Some(3),
        )
        .unwrap();
        let r = c.check(&dns01(), 0).await;
        assert!(!r.passed());
        assert!(format!("{:?}", r.remotes[1]).contains("did not answer"));
        // The primary's own failure decides, whatever the remotes say.
        let primary_hijacked = setup(&Zone::default(), 1, 1).await;
        let c = Corroborator::new(primary_hijacked, vec![g1, g2, g3], &client, Some(3)).unwrap();
        assert!(!c.check(&dns01(), 0).await.passed());
    }

    #[tokio::test]
    async fn a_perspective_answers_only_the_primary() {
        let (server, _) = link();
        let (_, stranger) = link(); // a client certificate from another link CA
        let url = perspective(&Zone::default(), &server).await;
        let stranger = LinkTls {
            peer_ca_pem: server.peer_ca_pem.clone(),
            ..stranger
        };
        let c = Corroborator::new(
            setup(&Zone::default(), 1, 1).await,
            vec![url],
            &stranger,
            Some(1),
        )
        .unwrap();
        let r = c.check(&dns01(), 0).await;
        assert!(
            format!("{:?}", r.remotes[0].outcome).contains("did not answer"),
            "{r:?}"
        );
    }

    #[test]
    fn the_phases_and_quorum_of_br_3_2_2_9() {
        assert_eq!(required_remotes(1_757_894_399), 0);
        assert_eq!(required_remotes(1_757_894_400), 2); // 2025-09-15
        assert_eq!(required_remotes(1_773_532_800), 3); // 2026-03-15
        assert_eq!(required_remotes(1_781_481_600), 4); // 2026-06-15
        assert_eq!(required_remotes(1_797_292_800), 5); // 2026-12-15
        assert_eq!(allowed_disagreements(2), 1);
        assert_eq!(allowed_disagreements(5), 1);
        assert_eq!(allowed_disagreements(6), 2);
        assert!(decide(&Ok(()), &[], 0).is_ok());
    }
}
