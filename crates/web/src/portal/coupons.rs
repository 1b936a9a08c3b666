//! クーポン管理 (R-CP1): the coupons of the account's dealer code and their state.

use crate::error::WebResult;
use crate::page::{Page, date};
use crate::session::Authed;
use crate::{Shared, html};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use shomei_ra::coupons::{CouponState, state};

/// One row of the list.
#[derive(Debug)]
struct Row {
    number: String,
    service: String,
    expires: String,
    state: String,
    used_by: Option<i64>,
}

#[derive(Template)]
#[template(path = "portal/coupons.html")]
struct CouponsPage {
    p: Page,
    has_dealer: bool,
    rows: Vec<Row>,
}

/// GET /coupons: クーポン管理.
pub async fn list(State(st): State<Shared>, a: Authed) -> WebResult<Response> {
    let t = a.ctx.tr;
    let now = st.ra.now();
    let coupons = st.ra.coupons_of(a.id()).await?;
    let rows = coupons
        .iter()
        .flatten()
        .map(|c| {
            let s = state(c, now);
            Row {
                number: c.number.clone(),
                service: crate::form::service_label(t, c.service.code(), &c.term_years.to_string()),
                expires: date(c.expires_at),
                state: t
                    .t(match s {
                        CouponState::Unused => "coupon.unused",
                        CouponState::Used(_) => "coupon.used",
                        CouponState::Expired => "coupon.expired",
                    })
                    .to_owned(),
                used_by: match s {
                    CouponState::Used(app) => Some(app),
                    _ => None,
                },
            }
        })
        .collect();
    html(&CouponsPage {
        p: Page::new(&a.ctx, "portal", "menu.coupons"),
        has_dealer: coupons.is_some(),
        rows,
    })
}
