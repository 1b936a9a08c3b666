//! 別サービスへ切り替えて申請 (R-R5): choose the new service among those sold today, then
//! the usual terms → input → confirm → submit with the contract's data.

use super::apply::{ChoiceForm, choose_page_for, start_draft};
use crate::Shared;
use crate::error::{WebError, WebResult};
use crate::session::Authed;
use crate::urlform::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use shomei_model::AppKind;
use shomei_ra::apply::ApplicationForm;

/// GET /applications/{id}/switch: 別サービスへ切り替えて申請 (R-R5), choose the new
/// service and term.
pub async fn switch_choose(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
) -> WebResult<Response> {
    let target = switchable(&st, &a, &id).await?;
    let form = ApplicationForm {
        term: "1".into(),
        ..Default::default()
    };
    switch_page(&a, &target, &form, "")
}

pub(crate) fn switch_page(
    a: &Authed,
    target: &shomei_store::Application,
    form: &ApplicationForm,
    error: &str,
) -> WebResult<Response> {
    choose_page_for(
        a,
        form,
        error,
        &shomei_ra::Ra::switch_targets(target.service),
        &format!("/applications/{}/switch", target.id),
        ("switch.title", "switch.lead"),
    )
}

pub(crate) async fn switchable(
    st: &Shared,
    a: &Authed,
    id: &str,
) -> WebResult<shomei_store::Application> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let target = st
        .ra
        .application_of(a.id(), id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !st.ra.may_switch(&target).await? {
        return Err(WebError::NotFound);
    }
    Ok(target)
}

/// POST /applications/{id}/switch: starts the switch's draft, filled from the record
/// (R-R5 keeps the contract's data), then terms → input → confirm → submit.
pub async fn switch_start(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    Form(f): Form<ChoiceForm>,
) -> WebResult<Response> {
    a.check_csrf(&f.csrf)?;
    let target = switchable(&st, &a, &id).await?;
    let targets = shomei_ra::Ra::switch_targets(target.service);
    let choice = ApplicationForm {
        service: f.service,
        term: f.term,
        ..Default::default()
    };
    if shomei_ra::apply::check_choice_in(&choice, &targets).is_err() {
        let mut res = switch_page(&a, &target, &choice, a.ctx.tr.t("apply.choose.error"))?;
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(res);
    }
    let mut form = ApplicationForm::of_record(&target);
    form.service = choice.service;
    form.term = choice.term;
    form.server_type = target.server_type.code().to_owned();
    form.target = target.id;
    start_draft(&st, &a, AppKind::Switch, &form).await
}
