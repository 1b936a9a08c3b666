//! Documents the customer submits while an application is 書類提出待ち (issue #8
//! item 2).

use crate::Shared;
use crate::error::{WebError, WebResult};
use crate::portal::applications::own;
use crate::session::Authed;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

/// POST /applications/{id}/documents (multipart: `csrf`, `file`): the customer submits
/// a document while the application is 書類提出待ち (issue #8 item 2). Back to the detail
/// page with the outcome (post/redirect/get, so a reload submits nothing again).
pub async fn upload_document(
    State(st): State<Shared>,
    a: Authed,
    Path(id): Path<String>,
    mut mp: axum::extract::Multipart,
) -> WebResult<Response> {
    let app = own(&st, &a, &id).await?;
    let (mut csrf, mut name, mut data) = (String::new(), String::new(), Vec::new());
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => return Ok(redirect_msg(app.id, "doc_size")),
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|_| WebError::BadRequest)?,
            Some("file") => {
                name = field.file_name().unwrap_or_default().to_owned();
                match field.bytes().await {
                    Ok(b) => data = b.to_vec(),
                    Err(_) => return Ok(redirect_msg(app.id, "doc_size")),
                }
            }
            _ => {}
        }
    }
    a.check_csrf(&csrf)?;
    match st.ra.submit_document(a.id(), app.id, &name, &data).await {
        Ok(Ok(_)) => Ok(redirect_msg(app.id, "doc_uploaded")),
        Ok(Err(key)) => Ok(redirect_msg(app.id, key.trim_start_matches("err."))),
        Err(shomei_ra::RaError::WrongState) => Ok(redirect_msg(app.id, "")),
        Err(e) => Err(e.into()),
    }
}

fn redirect_msg(id: i64, m: &str) -> Response {
    let to = if m.is_empty() {
        format!("/applications/{id}")
    } else {
        format!("/applications/{id}?m={m}")
    };
    axum::response::Redirect::to(&to).into_response()
}
