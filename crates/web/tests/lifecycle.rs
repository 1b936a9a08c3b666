//! Lifecycle flows through the portal's router on every backend: documents pending and
//! withdrawal (R-LS3, R-A5), contact change (R-C1), renewal (R-R1–R-R3), cancellation,
//! service switch (R-R5).

use crate::common::*;
use axum::http::StatusCode;
use shomei_store::testing::backends;
use time::macros::datetime;

/// R-LS3: staff mark 書類提出待ち; the customer sees "!" and the note. R-A5 申請取消:
/// offered only while the application is not done; repeating it is harmless.
#[tokio::test]
async fn r_ls3_documents_mark_and_r_a5_withdrawal() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let a = account(&ra, "テスト株式会社").await;
        let mut cl = logged_in(&ra, &a).await;
        let input = start_draft(&mut cl, "SR3.0").await;
        let csrf = cl.csrf.clone();
        let r = cl
            .multipart(&input, &form_parts(&csrf, CSR.as_bytes()))
            .await;
        let submit = location(&r).replace("/confirm", "/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();

        assert!(
            !cl.get("/applications")
                .await
                .body
                .contains("class=\"mark\"")
        );
        ra.request_documents(staff.id, id, "登記事項証明書（発行後3か月以内）")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let list = cl.get("/applications").await;
        assert!(
            list.body.contains("class=\"mark\""),
            "R-LS3 '!' on {}",
            db.name
        );
        let detail = cl.get(&format!("/applications/{id}")).await;
        assert!(detail.body.contains("登記事項証明書（発行後3か月以内）"));
        assert!(detail.body.contains("書類提出待ち"));
        ra.documents_received(staff.id, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !cl.get("/applications")
                .await
                .body
                .contains("class=\"mark\"")
        );

        // Withdrawal: offered in the pull-down, confirmed, idempotent.
        let detail = cl.get(&format!("/applications/{id}")).await;
        assert!(detail.body.contains("value=\"withdraw\""));
        let page = cl
            .post(
                &format!("/applications/{id}/action"),
                &[("csrf", &csrf), ("action", "withdraw")],
            )
            .await;
        assert!(page.body.contains("元に戻せません"));
        let r = cl
            .post(&format!("/applications/{id}/withdraw"), &[("csrf", &csrf)])
            .await;
        assert_eq!(location(&r), format!("/applications/{id}?m=withdrawn"));
        let r = cl
            .post(&format!("/applications/{id}/withdraw"), &[("csrf", &csrf)])
            .await;
        assert_eq!(
            location(&r),
            format!("/applications/{id}?m=withdrawn"),
            "repeat is harmless"
        );
        assert_eq!(
            db.store
                .application(id)
                .await
                .ok()
                .flatten()
                .map(|x| x.status),
            Some(shomei_model::AppStatus::Withdrawn)
        );
        let detail = cl.get(&format!("/applications/{id}")).await;
        assert!(
            !detail.body.contains("value=\"withdraw\""),
            "no longer offered"
        );
        // A withdrawn application cannot be approved.
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![],
            domain_notes: vec![],
        };
        assert!(ra.approve(staff.id, id, &approval).await.is_err());
    }
}

/// R-C1: only the contacts change; the request is its own record; staff complete it and
/// the contract's contacts change. It never reaches issuance, and it cannot be revoked.
#[tokio::test]
async fn r_c1_contact_change() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        let detail = cl.get(&format!("/applications/{app}")).await;
        assert!(
            detail.body.contains("value=\"contacts\""),
            "offered from a 完了 record on {}",
            db.name
        );
        let csrf = cl.csrf.clone();
        let terms = location(
            &cl.post(
                &format!("/applications/{app}/action"),
                &[("csrf", &csrf), ("action", "contacts")],
            )
            .await,
        );
        assert!(terms.starts_with("/contacts/"), "{terms}");
        let input = location(&cl.post(&terms, &[("csrf", &csrf)]).await);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"登録 太郎\""),
            "prefilled with the current contacts"
        );
        assert!(
            !page.body.contains("name=\"org_name\""),
            "only the contacts are editable"
        );
        let mut form = vec![
            ("csrf", csrf.as_str()),
            ("reg_name", "新担当 一郎"),
            ("reg_email", "bad"),
            ("reg_phone", "03-9999-0000"),
            ("tech_name", "技術 花子"),
            ("tech_email", "tech@example.jp"),
            ("tech_phone", "03-1234-5679"),
            ("admin_name", "事務 次郎"),
            ("admin_email", "admin@example.jp"),
            ("admin_phone", "03-1234-5670"),
        ];
        let r = cl.post(&input, &form).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("value=\"新担当 一郎\""), "input kept");
        form[2] = ("reg_email", "new@example.jp");
        let confirm = location(&cl.post(&input, &form).await);
        assert!(confirm.ends_with("/confirm"));
        let submit = confirm.replace("/confirm", "/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(
            location(&cl.post(&submit, &[("csrf", &csrf)]).await),
            done,
            "R-A4"
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            (rec.kind, rec.status),
            (
                shomei_model::AppKind::ContactChange,
                shomei_model::AppStatus::Received
            )
        );
        // Never approved into issuance; no revocation or contact change from this record.
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: vec![],
            domain_notes: vec![],
        };
        assert!(ra.approve(staff.id, id, &approval).await.is_err());
        let rec_page = cl.get(&format!("/applications/{id}")).await;
        assert!(
            !rec_page.body.contains("value=\"revoke\"")
                && !rec_page.body.contains("value=\"contacts\"")
        );
        assert!(
            !rec_page.body.contains("value=\"renew\""),
            "R-R2: no renewal from a 担当者変更 record"
        );
        // Staff complete it: the contract's record takes the new contacts.
        ra.complete_contact_change(staff.id, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let target = db
            .store
            .application(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("target"));
        assert_eq!(
            target.details.contacts.registrant.name, "新担当 一郎",
            "{}",
            db.name
        );
        assert_eq!(target.details.contacts.registrant.email, "new@example.jp");
        assert!(
            ra.complete_contact_change(staff.id, id).await.is_err(),
            "once"
        );
    }
}

/// R-R1, R-R3: renewal from the detail page, prefilled from the previous application,
/// with a new CSR; on issuance the contract continues from the old end date.
#[tokio::test]
async fn r_r1_r_r3_renewal_prefilled_and_term_continues() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        let detail = cl.get(&format!("/applications/{app}")).await;
        assert!(
            detail.body.contains("value=\"renew\""),
            "R-R1 offered on {}",
            db.name
        );
        let csrf = cl.csrf.clone();
        let terms = location(
            &cl.post(
                &format!("/applications/{app}/action"),
                &[("csrf", &csrf), ("action", "renew")],
            )
            .await,
        );
        assert!(
            terms.starts_with("/apply/") && terms.ends_with("/terms"),
            "{terms}"
        );
        let input = location(&cl.post(&terms, &[("csrf", &csrf)]).await);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"テスト株式会社\"")
                && page.body.contains("value=\"tech@example.jp\""),
            "R-R3 prefilled"
        );
        assert!(
            page.body
                .contains("aria-describedby=\"csr-hint\"></textarea>"),
            "the CSR is new (empty)"
        );
        let ec = include_bytes!("../../ca/tests/data/p256-cn-only.csr");
        let confirm = location(&cl.multipart(&input, &form_parts(&csrf, ec)).await);
        assert!(confirm.ends_with("/confirm"), "{confirm}");
        let done = location(
            &cl.post(&confirm.replace("/confirm", "/submit"), &[("csrf", &csrf)])
                .await,
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            (rec.kind, rec.target_id),
            (shomei_model::AppKind::Renewal, Some(app))
        );
        let approval = shomei_ra::issue::Approval {
            org_method: "registry".into(),
            ev_method: None,
            domain_methods: rec
                .names
                .iter()
                .map(|n| (n.clone(), "phone".to_string()))
                .collect(),
            domain_notes: rec
                .names
                .iter()
                .map(|n| (n.clone(), "電話で確認".to_string()))
                .collect(),
        };
        ra.approve(staff.id, id, &approval)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, old_end) = db
            .store
            .contract_period(app)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let (new_start, new_end) = db
            .store
            .contract_period(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        assert_eq!(
            new_start, old_end,
            "the term continues from the old end date on {}",
            db.name
        );
        assert!(new_end > old_end);
    }
}

/// 解約: the request is its own record; after the desk's confirmation the contract ends
/// and the certificate is revoked with cessationOfOperation (5).
#[tokio::test]
async fn cancellation_ends_contract_and_revokes() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::issued(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        cl.get(&format!("/applications/{app}")).await;
        let csrf = cl.csrf.clone();
        let page_url = location(
            &cl.post(
                &format!("/applications/{app}/action"),
                &[("csrf", &csrf), ("action", "cancel")],
            )
            .await,
        );
        let page = cl.get(&page_url).await;
        assert!(
            page.body.contains("取消しはできません"),
            "warning on {}",
            db.name
        );
        let submit = format!("{page_url}/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(
            location(&cl.post(&submit, &[("csrf", &csrf)]).await),
            done,
            "R-A4"
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        assert!(
            cl.get(&done)
                .await
                .body
                .contains("解約の申請を受け付けました")
        );
        assert!(
            db.store
                .application(app)
                .await
                .ok()
                .flatten()
                .is_some_and(|x| x.cert_revoked_at.is_none()),
            "not before staff confirm"
        );
        ra.confirm_revocation(staff.id, id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let serial = db
            .store
            .issued_certificate(app)
            .await
            .ok()
            .flatten()
            .map(|c| c.serial)
            .unwrap_or_default();
        assert_eq!(
            db.store.certificate_state("server", &serial).await.ok(),
            Some(shomei_store::ocsp::CertState::Revoked(ra.now(), 5))
        );
        assert_eq!(
            db.store
                .contract_period(app)
                .await
                .ok()
                .flatten()
                .map(|p| p.1),
            Some(ra.now()),
            "contract ended"
        );
        assert_eq!(
            db.store
                .application(id)
                .await
                .ok()
                .flatten()
                .map(|x| x.status),
            Some(shomei_model::AppStatus::Completed)
        );
    }
}

/// R-R5 別サービスへ切り替えて申請 from an imported SR2.0 contract: offered on the
/// detail page (no renewal of SR2.0); choose among the services sold today (not SR2.0);
/// terms → input prefilled from the contract → confirmation with the kind and the
/// warning → submit, safe to repeat; the record is a サービス切替 of the old one.
#[tokio::test]
async fn r_r5_service_switch_in_the_portal() {
    for db in backends().await {
        let (ra, _, _) =
            shomei_ra::testing::ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", shomei_model::Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = shomei_ra::testing::imported_sr20(&ra, staff.id, CSR).await;
        let mut cl = logged_in(&ra, &a).await;
        let detail = cl.get(&format!("/applications/{app}")).await;
        let link = format!("href=\"/applications/{app}/switch\"");
        assert!(detail.body.contains(&link), "R-R5 offered on {}", db.name);
        assert!(
            !detail.body.contains("value=\"renew\""),
            "SR2.0 is not renewed"
        );
        let page = cl.get(&format!("/applications/{app}/switch")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("value=\"SR3.0\"") && page.body.contains("value=\"EV2.0\""));
        assert!(
            !page.body.contains("value=\"SR2.0\""),
            "not to the same service"
        );
        let csrf = cl.csrf.clone();
        let path = format!("/applications/{app}/switch");
        let bad = cl
            .post(
                &path,
                &[("csrf", &csrf), ("service", "SR2.0"), ("term", "1")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let terms = location(
            &cl.post(
                &path,
                &[("csrf", &csrf), ("service", "SR3.0"), ("term", "1")],
            )
            .await,
        );
        assert!(terms.ends_with("/terms"), "{terms}");
        let input = location(&cl.post(&terms, &[("csrf", &csrf)]).await);
        let page = cl.get(&input).await;
        assert!(
            page.body.contains("value=\"テスト株式会社\""),
            "the contract's data is kept"
        );
        let ec = include_bytes!("../../ca/tests/data/p256-cn-only.csr");
        let confirm = location(&cl.multipart(&input, &form_parts(&csrf, ec)).await);
        assert!(confirm.ends_with("/confirm"), "{confirm}");
        let page = cl.get(&confirm).await;
        assert!(page.body.contains("サービス切替") && page.body.contains("14日後に失効"));
        let submit = confirm.replace("/confirm", "/submit");
        let done = location(&cl.post(&submit, &[("csrf", &csrf)]).await);
        assert_eq!(
            location(&cl.post(&submit, &[("csrf", &csrf)]).await),
            done,
            "R-A4: a second submit lands on the same record"
        );
        let id: i64 = done
            .trim_start_matches("/applications/")
            .trim_end_matches("/done")
            .parse()
            .unwrap_or_default();
        let rec = db
            .store
            .application(id)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("record"));
        assert_eq!(
            (rec.kind, rec.target_id, rec.service),
            (
                shomei_model::AppKind::Switch,
                Some(app),
                shomei_model::Service::Sr30
            )
        );
        // While it is under way, no second switch is offered.
        let detail = cl.get(&format!("/applications/{app}")).await;
        assert!(!detail.body.contains(&link));
        assert_eq!(
            cl.get(&format!("/applications/{app}/switch")).await.status,
            StatusCode::NOT_FOUND
        );
    }
}
