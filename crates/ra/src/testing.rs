//! Test support: an RA on a fresh development PKI, with a clock tests can move.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use crate::{Policy, Ra};
use shomei_ca::pki::{ClientCa, DevPki, generate_dev_pki};
use shomei_ca::{CaUrls, IssuingCa};
use shomei_model::FixedClock;
use shomei_store::Store;
use std::sync::Arc;
use time::OffsetDateTime;

/// The public base URL written into test certificates.
pub const BASE: &str = "http://pki.example.jp";

/// Builds an RA on `store` with a new development PKI and a fixed clock at `at`.
pub fn ra(store: Store, at: OffsetDateTime) -> (Ra, FixedClock, DevPki) {
    let clock = FixedClock::new(at);
    let pki =
        generate_dev_pki(at - time::Duration::days(3 * 365), "Shomei Test", BASE).expect("pki");
    let server = IssuingCa::from_pem(
        &pki.server_ca.cert_pem,
        &pki.server_ca.key_pem,
        CaUrls::under(BASE, crate::SERVER_CA),
    )
    .expect("server ca");
    let login = ClientCa::from_pem(
        &pki.login_ca.cert_pem,
        &pki.login_ca.key_pem,
        &pki.root.cert_pem,
    )
    .expect("login ca");
    let staff = ClientCa::from_pem(
        &pki.staff_ca.cert_pem,
        &pki.staff_ca.key_pem,
        &pki.root.cert_pem,
    )
    .expect("staff ca");
    let ra = Ra::new(
        store,
        Arc::new(clock.clone()),
        server,
        login,
        staff,
        Policy::default(),
    );
    (ra, clock, pki)
}

/// A complete, valid SR3.0 form for `csr`.
pub fn sr30_form(csr: &str) -> crate::apply::ApplicationForm {
    crate::apply::ApplicationForm {
        service: "SR3.0".into(),
        term: "1".into(),
        agreed: true,
        server_type: "nginx".into(),
        csr: csr.into(),
        org_name: "テスト株式会社".into(),
        org_country: "JP".into(),
        org_state: "Tokyo".into(),
        org_locality: "Shibuya-ku".into(),
        reg_name: "登録 太郎".into(),
        reg_email: "reg@example.jp".into(),
        reg_phone: "03-1234-5678".into(),
        tech_name: "技術 花子".into(),
        tech_email: "tech@example.jp".into(),
        tech_phone: "03-1234-5679".into(),
        admin_name: "事務 次郎".into(),
        admin_email: "admin@example.jp".into(),
        admin_phone: "03-1234-5670".into(),
        ..Default::default()
    }
}
