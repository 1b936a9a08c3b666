//! The desk's クーポン発行 (R-CP1): staff issue coupons for a dealer code and see the
//! latest ones. The form carries a one-time batch token, so a double submit or a reload
//! issues once.

use crate::Shared;
use crate::error::WebResult;
use crate::form::{service_label, service_options, term_options};
use crate::page::{Errors, FieldView, Fieldset, Page, date};
use crate::session::Authed;
use crate::urlform::Form;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_model::Service;
use shomei_ra::coupons::{CouponForm, CouponState, state};
use shomei_ra::field_issue::FieldIssue;

struct Row {
    number: String,
    service: String,
    dealer: String,
    expires: String,
    state: String,
}

#[derive(Template)]
#[template(path = "desk/coupons.html")]
struct CouponsPage {
    p: Page,
    batch: String,
    /// Warnings staff must confirm before the batch is issued (issue #8 item 5).
    warnings: Vec<String>,
    fieldsets: Vec<Fieldset>,
    issued: Vec<String>,
    rows: Vec<Row>,
}

/// `?batch=` after issuing: the numbers of that batch are shown.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Shown {
    batch: String,
}

fn field(
    name: &'static str,
    label: &'static str,
    value: &str,
    e: &Errors,
    input: &'static str,
    options: Vec<(String, String, bool)>,
) -> FieldView {
    FieldView {
        name,
        label,
        hint: "",
        value: value.to_owned(),
        error: e.msg(name),
        input,
        required: true,
        options,
        maxlength: if input == "text" { 32 } else { 0 },
    }
}

async fn page(
    st: &Shared,
    a: &Authed,
    f: &CouponForm,
    issues: &[FieldIssue],
    issued: Vec<String>,
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let e = Errors::from_issues(t, issues);
    let services = service_options(t, Service::FOR_NEW, &f.service);
    let terms = term_options(t, &f.term);
    let fieldsets = vec![Fieldset {
        legend: t.t("desk.coupons.issue"),
        fields: vec![
            field(
                "service",
                t.t("apply.service"),
                &f.service,
                &e,
                "select",
                services,
            ),
            field("term", t.t("apply.term"), &f.term, &e, "select", terms),
            field(
                "dealer_code",
                t.t("desk.coupons.dealer"),
                &f.dealer_code,
                &e,
                "text",
                vec![],
            ),
            field(
                "expires",
                t.t("coupon.expires"),
                &f.expires,
                &e,
                "date",
                vec![],
            ),
            field(
                "count",
                t.t("desk.coupons.count"),
                &f.count,
                &e,
                "number",
                vec![],
            ),
        ],
    }];
    let now = st.ra.now();
    let rows = st
        .ra
        .recent_coupons(200)
        .await?
        .into_iter()
        .map(|c| Row {
            service: service_label(t, c.service.code(), &c.term_years.to_string()),
            dealer: c.dealer_code.clone(),
            expires: date(c.expires_at),
            state: match state(&c, now) {
                CouponState::Unused => t.t("coupon.unused").to_owned(),
                CouponState::Used(app) => format!("{} ({app})", t.t("coupon.used")),
                CouponState::Expired => t.t("coupon.expired").to_owned(),
            },
            number: c.number,
        })
        .collect();
    let warnings: Vec<String> = issues
        .iter()
        .filter(|i| i.key.starts_with("coupon.confirm_"))
        .map(|i| t.t(i.key).to_owned())
        .collect();
    // While a warning is being confirmed, the form keeps its token: the confirmed press
    // issues once.
    let batch = if warnings.is_empty() || f.batch.is_empty() {
        shomei_ra::random_token(16)?
    } else {
        f.batch.clone()
    };
    crate::form_page(
        &CouponsPage {
            p: Page::new(&a.ctx, "desk", "desk.coupons"),
            batch,
            warnings,
            fieldsets,
            issued,
            rows,
        },
        !issues.is_empty(),
    )
}

/// GET /coupons: the form and the latest coupons (and a batch just issued).
pub async fn list(
    State(st): State<Shared>,
    a: Authed,
    Query(q): Query<Shown>,
) -> WebResult<Response> {
    let issued = if q.batch.is_empty() {
        Vec::new()
    } else {
        st.ra.coupon_batch(&q.batch).await?
    };
    let form = CouponForm {
        term: "1".into(),
        count: "1".into(),
        ..Default::default()
    };
    page(&st, &a, &form, &[], issued).await
}

/// The form as posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Posted {
    csrf: String,
    #[serde(flatten)]
    form: CouponForm,
}

/// POST /coupons: issues, then shows the batch (post/redirect/get).
pub async fn issue(
    State(st): State<Shared>,
    a: Authed,
    Form(f): Form<Posted>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    match st.ra.issue_coupons(a.id(), &f.form).await? {
        Ok(_) => Ok(Redirect::to(&format!("/coupons?batch={}", f.form.batch)).into_response()),
        Err(issues) => page(&st, &a, &f.form, &issues, Vec::new()).await,
    }
}
