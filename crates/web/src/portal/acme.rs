//! 自動更新（ACME）on a contract's record (issue #10): the customer makes external
//! account binding credentials for the contract (kid and HMAC key shown once, with
//! ready-to-paste certbot and lego commands), sees them with their state, and disables
//! one. A credential belongs to this contract only and ends with it.

use crate::error::{WebError, WebResult};
use crate::page::Page;
use crate::session::{Authed, CsrfPost};
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use shomei_model::{Actor, AppStatus};
use shomei_store::Application;

/// One credential as the record's page lists it.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    /// Key identifier.
    pub kid: String,
    /// When it was made.
    pub created: String,
    /// Its state, in words.
    pub state: &'static str,
    /// Whether it can still be disabled.
    pub enabled: bool,
    /// The ACME account bound with it ("" if none yet).
    pub bound: String,
    /// When that account was last used ("" if never).
    pub last_used: String,
}

/// The record's ACME section: `None` where the record cannot have one.
#[derive(Debug, Clone)]
pub struct AcmeSection {
    /// Its credentials, newest first.
    pub credentials: Vec<CredentialRow>,
}

/// Whether the record holds a running contract's certificate (credentials can be made).
fn eligible(st: &Shared, app: &Application) -> bool {
    app.kind.portal_certificate()
        && app.status == AppStatus::Completed
        && app.contract_code.is_some()
        && app.cert_revoked_at.is_none()
        && app.cert_not_after.is_some_and(|t| t > st.ra.now())
}

/// The section for the record's page.
pub async fn section(st: &Shared, a: &Authed, app: &Application) -> WebResult<Option<AcmeSection>> {
    if !eligible(st, app) {
        return Ok(None);
    }
    let credentials = st
        .ra
        .eabs_of_contract(a.id(), app.id)
        .await?
        .into_iter()
        .map(|e| CredentialRow {
            created: crate::page::datetime(e.created_at),
            state: crate::words::eab_state_key(&e, st.ra.now()),
            enabled: e.disabled_at.is_none(),
            bound: e.acme_account.map(|n| format!("#{n}")).unwrap_or_default(),
            last_used: e
                .acme_last_used
                .map(crate::page::datetime)
                .unwrap_or_default(),
            kid: e.kid,
        })
        .collect();
    Ok(Some(AcmeSection { credentials }))
}

#[derive(Template)]
#[template(path = "portal/acme_eab.html")]
struct NewCredentialPage {
    p: Page,
    id: i64,
    contract: String,
    kid: String,
    hmac: String,
    directory: String,
    server: String,
}

/// POST /applications/{id}/acme/eab: a new credential, shown once (no-store).
pub async fn create(
    State(st): State<Shared>,
    Path(id): Path<String>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app = crate::portal::applications::own(&st, &a, &id).await?;
    if !eligible(&st, &app) {
        return Err(WebError::NotFound);
    }
    let Some(eab) = st.ra.create_eab(a.id(), app.id).await? else {
        return Err(WebError::NotFound);
    };
    html(&NewCredentialPage {
        p: Page::new(&a.ctx, "portal", "acme.new.title"),
        id: app.id,
        contract: app.contract_code.clone().unwrap_or_default(),
        kid: eab.kid,
        hmac: eab.hmac,
        directory: st.cfg.acme_directory.clone(),
        server: app.common_name.clone(),
    })
}

/// POST /applications/{id}/acme/eab/{kid}/disable: the credential (and the ACME account
/// bound with it) can no longer be used.
pub async fn disable(
    State(st): State<Shared>,
    Path((id, kid)): Path<(String, String)>,
    CsrfPost(a): CsrfPost,
) -> WebResult<Response> {
    let app = crate::portal::applications::own(&st, &a, &id).await?;
    st.ra.disable_eab(&kid, Actor::Customer(a.id())).await?;
    Ok(Redirect::to(&format!("/applications/{}?m=eab_disabled#acme", app.id)).into_response())
}
