//! アカウント情報登録 (R-AI1–R-AI4): view → input → confirmation → registered. The
//! input waits server-side for the confirmation, so back, reload and double submit are
//! safe.

use crate::error::WebResult;
use crate::page::{Errors, FieldView, Fieldset, Page};
use crate::session::Authed;
use crate::session::CsrfPost;
use crate::urlform::Form;
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use shomei_ra::account_info::{Check, FIELDS, InfoMap};
use shomei_ra::field_issue::FieldIssue;

/// The form's fieldsets, one per block, with `values` and `errors`.
pub fn info_fieldsets(t: crate::i18n::Tr, values: &InfoMap, errors: &Errors) -> Vec<Fieldset> {
    let mut out: Vec<Fieldset> = Vec::new();
    for f in FIELDS {
        let value = values.get(f.name).cloned().unwrap_or_default();
        let (input, options, maxlength) = match f.check {
            Check::YesNo => (
                "select",
                [("yes", "renewal_mail.yes"), ("no", "renewal_mail.no")]
                    .iter()
                    .map(|(v, k)| ((*v).to_owned(), t.t(k).to_owned(), value == *v))
                    .collect(),
                0,
            ),
            Check::Email => ("email", vec![], 254),
            Check::Phone => ("tel", vec![], 20),
            Check::Postal => ("text", vec![], 8),
            Check::CorpNumber => ("text", vec![], 14),
            Check::FullWidth(n) | Check::Katakana(n) | Check::Text(n) | Check::SubjectText(n) => {
                ("text", vec![], n)
            }
            Check::Country => {
                let c = crate::form::country_select(f.name, "", &value, errors, t);
                ("select", c.options, 0)
            }
            Check::Dealer => ("text", vec![], 32),
        };
        let hint = match f.check {
            Check::FullWidth(_) => t.t("ai.hint.full_width"),
            Check::Katakana(_) => t.t("ai.hint.katakana"),
            Check::CorpNumber => t.t("ai.hint.corp_number"),
            Check::Postal => t.t("ai.hint.postal"),
            Check::Dealer => t.t("ai.hint.dealer"),
            _ => "",
        };
        let view = FieldView {
            name: f.name,
            label: t.t(f.label),
            hint,
            value,
            error: errors.msg(f.name),
            input,
            required: false,
            options,
            maxlength,
        };
        let legend = t.t(f.group);
        match out.last_mut() {
            Some(fs) if fs.legend == legend => fs.fields.push(view),
            _ => out.push(Fieldset {
                legend,
                fields: vec![view],
            }),
        }
    }
    out
}

#[derive(Template)]
#[template(path = "portal/account_info.html")]
struct ViewPage {
    p: Page,
    fieldsets: Vec<Fieldset>,
    registered: bool,
    message: &'static str,
}

/// `?m=registered`
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Msg {
    m: String,
}

/// GET /account-info: what is registered.
pub async fn view(
    State(st): State<Shared>,
    a: Authed,
    Query(q): Query<Msg>,
) -> WebResult<Response> {
    let (data, _) = st.ra.account_info(a.id()).await?;
    html(&ViewPage {
        p: Page::new(&a.ctx, "portal", "menu.account_info"),
        registered: !data.is_empty(),
        fieldsets: info_fieldsets(a.ctx.tr, &data, &Errors::default()),
        message: if q.m == "registered" {
            "ai.registered"
        } else {
            ""
        },
    })
}

#[derive(Template)]
#[template(path = "portal/account_info_input.html")]
struct InputPage {
    p: Page,
    fieldsets: Vec<Fieldset>,
    has_errors: bool,
}

fn input_page(a: &Authed, values: &InfoMap, issues: &[FieldIssue]) -> WebResult<Response> {
    let errors = Errors::from_issues(a.ctx.tr, issues);
    crate::form_page(
        &InputPage {
            p: Page::new(&a.ctx, "portal", "ai.input.title"),
            fieldsets: info_fieldsets(a.ctx.tr, values, &errors),
            has_errors: !issues.is_empty(),
        },
        !issues.is_empty(),
    )
}

/// GET /account-info/input: the form, with what waits for confirmation, else what is
/// registered (else the account's 特約店コード).
pub async fn input(State(st): State<Shared>, a: Authed) -> WebResult<Response> {
    let (data, pending) = st.ra.account_info(a.id()).await?;
    let mut values = pending.unwrap_or(data);
    if !values.contains_key("dealer_code")
        && let Some(d) = st.ra.account(a.id()).await?.and_then(|x| x.dealer_code)
    {
        values.insert("dealer_code".into(), d);
    }
    input_page(&a, &values, &[])
}

/// POST /account-info/input: checks and keeps the input, then the confirmation screen.
pub async fn input_submit(
    State(st): State<Shared>,
    a: Authed,
    Form(mut form): Form<InfoMap>,
) -> WebResult<Response> {
    let csrf = form.remove("csrf").unwrap_or_default();
    a.check_csrf(&csrf)?;
    // Only known fields, and no field longer than 1,000 characters is kept.
    form.retain(|k, _| FIELDS.iter().any(|f| f.name == k));
    for v in form.values_mut() {
        if v.chars().count() > 1000 {
            *v = v.chars().take(1000).collect();
        }
    }
    match st.ra.stage_account_info(a.id(), &form).await? {
        Ok(()) => Ok(Redirect::to("/account-info/confirm").into_response()),
        Err(issues) => input_page(&a, &form, &issues),
    }
}

#[derive(Template)]
#[template(path = "portal/account_info_confirm.html")]
struct ConfirmPage {
    p: Page,
    fieldsets: Vec<Fieldset>,
}

/// GET /account-info/confirm: what will be registered.
pub async fn confirm(State(st): State<Shared>, a: Authed) -> WebResult<Response> {
    let (_, pending) = st.ra.account_info(a.id()).await?;
    let Some(values) = pending else {
        return Ok(Redirect::to("/account-info").into_response());
    };
    html(&ConfirmPage {
        p: Page::new(&a.ctx, "portal", "ai.confirm.title"),
        fieldsets: info_fieldsets(a.ctx.tr, &values, &Errors::default()),
    })
}

/// POST /account-info/confirm: registers (a repeated POST changes nothing more).
pub async fn register(State(st): State<Shared>, CsrfPost(a): CsrfPost) -> WebResult<Response> {
    st.ra.register_account_info(a.id()).await?;
    Ok(Redirect::to("/account-info?m=registered").into_response())
}
