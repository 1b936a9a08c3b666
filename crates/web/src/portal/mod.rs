//! The customer portal (https, client certificate from the login CA, R-L1).

pub mod account_info;
pub mod acme;
pub mod applications;
pub mod apply;
pub mod cancel;
pub mod contacts;
pub mod coupons;
pub mod coverage;
pub mod documents;
pub mod list;
pub mod multipart;
pub mod otp;
pub mod revoke;
pub mod switch;
pub(crate) mod wizard;

use crate::auth;
use crate::error::WebResult;
use crate::page::Page;
use crate::session::Ctx;
use crate::{Shared, html};
use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use shomei_ra::contacts::ContactForm;
use shomei_ra::revoke::RevocationForm;

/// The portal's routes.
pub fn router(state: Shared) -> Router {
    let r = Router::new()
        .route("/", get(root))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .route(
            "/password",
            get(auth::password_form).post(auth::password_submit),
        )
        .route("/apply", get(apply::choose).post(apply::start))
        .route("/otp-login", get(otp::form).post(otp::start))
        .route("/otp-login/{token}", get(otp::code_form).post(otp::finish))
        .route(
            "/applications/{id}/switch",
            get(switch::switch_choose).post(switch::switch_start),
        )
        .route("/apply/{draft}/terms", get(apply::terms).post(apply::agree))
        .route(
            "/apply/{draft}/input",
            get(apply::input).post(apply::input_submit),
        )
        .route("/apply/{draft}/confirm", get(apply::confirm))
        .route("/apply/{draft}/fill/{block}", post(apply::fill))
        .route("/apply/{draft}/submit", post(apply::submit))
        .route("/applications", get(list::list))
        .route("/applications/search", get(list::search_form))
        .route("/applications.csv", get(list::csv))
        .route("/applications/{id}", get(applications::detail))
        .route("/applications/{id}/done", get(applications::done))
        .route(
            "/applications/{id}/download",
            get(applications::download_page),
        )
        .route(
            "/applications/{id}/{file}",
            get(applications::download_file),
        )
        .route("/applications/{id}/action", post(applications::action))
        .route(
            "/applications/{id}/documents",
            post(documents::upload_document).layer(axum::extract::DefaultBodyLimit::max(
                shomei_ra::documents::MAX_DOCUMENT_BYTES + 64 * 1024,
            )),
        )
        .route("/applications/{id}/withdraw", post(applications::withdraw))
        .route("/applications/{id}/acme/eab", post(acme::create))
        .route(
            "/applications/{id}/domains/check",
            post(applications::check_domains),
        )
        .route(
            "/applications/{id}/acme/eab/{kid}/disable",
            post(acme::disable),
        )
        .route("/cancel/{draft}", get(cancel::confirm))
        .route("/cancel/{draft}/submit", post(cancel::submit))
        .route(
            "/contacts/{draft}/terms",
            get(wizard::terms::<ContactForm>).post(wizard::agree::<ContactForm>),
        )
        .route(
            "/contacts/{draft}/input",
            get(wizard::input::<ContactForm>).post(contacts::input_submit),
        )
        .route("/contacts/{draft}/confirm", get(contacts::confirm))
        .route("/contacts/{draft}/submit", post(contacts::submit))
        .route(
            "/revoke/{draft}/terms",
            get(wizard::terms::<RevocationForm>).post(wizard::agree::<RevocationForm>),
        )
        .route(
            "/revoke/{draft}/input",
            get(wizard::input::<RevocationForm>).post(revoke::input_submit),
        )
        .route("/revoke/{draft}/confirm", get(revoke::confirm))
        .route("/revoke/{draft}/submit", post(revoke::submit))
        .route("/account-info", get(account_info::view))
        .route(
            "/account-info/input",
            get(account_info::input).post(account_info::input_submit),
        )
        .route(
            "/account-info/confirm",
            get(account_info::confirm).post(account_info::register),
        )
        .route("/coupons", get(coupons::list))
        .route("/lang/{code}", get(auth::set_lang))
        .route("/static/style.css", get(auth::stylesheet))
        .fallback(auth::not_found)
        .with_state(state);
    crate::harden(r)
}

#[derive(Template)]
#[template(path = "portal/top.html")]
struct TopPage {
    p: Page,
}

/// GET /: no certificate → how to get one; no session → login; else the top page (R-L7).
async fn root(State(st): State<Shared>, ctx: Ctx) -> WebResult<Response> {
    if ctx.cert.is_none() && ctx.session.is_none() {
        return crate::auth::no_cert(&ctx);
    }
    let Some(s) = &ctx.session else {
        return auth::login_page(&st, &ctx, "", "");
    };
    let creds = st.ra.credentials(st.realm, s.principal_id).await?;
    if creds.is_some_and(|c| c.password_initial) {
        return Ok(axum::response::IntoResponse::into_response(
            axum::response::Redirect::to("/password"),
        ));
    }
    html(&TopPage {
        p: Page::new(&ctx, "portal", "top.title"),
    })
}
