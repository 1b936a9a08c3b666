//! ACME Renewal Information (RFC 9773): the suggested renewal window of one of the
//! CA's certificates.

use crate::problem::{Kind, Problem};
use crate::{Shared, problem};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long a client should wait before asking for a certificate's window again.
const ARI_RETRY_AFTER: &str = "21600";

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// GET /acme/renewal-info/{id} (RFC 9773): the suggested renewal window of one of the
/// CA's certificates.
pub(crate) async fn renewal_info(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    let r = match st.ra.renewal_info(&id).await {
        Ok(Ok(w)) => {
            let body = serde_json::json!({
                "suggestedWindow": { "start": rfc3339(w.start), "end": rfc3339(w.end) },
            });
            let mut res = (StatusCode::OK, body.to_string()).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(ARI_RETRY_AFTER),
            );
            return res;
        }
        Ok(Err(shomei_ra::ari::AriRefusal::Malformed)) => Problem::malformed(
            "the certificate identifier must be base64url(authority key identifier) \".\" base64url(serial)",
        ),
        Ok(Err(shomei_ra::ari::AriRefusal::Unknown)) => Problem::new(
            Kind::NotFound,
            "this CA issued no certificate with that identifier",
        ),
        Err(e) => e.into(),
    };
    problem(&st, &r).await
}
