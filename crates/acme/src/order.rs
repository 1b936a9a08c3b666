//! Orders, authorizations, challenges, finalize and certificate download (RFC 8555
//! 7.1.3–7.1.5, 7.4, 7.4.2, 7.5). Every request is signed by the account (kid); the RA
//! decides and records.

use crate::account::signed_by_account;
use crate::jws;
use crate::problem::{Kind, Problem};
use crate::{AcmeState, Body, Shared, answer, finish, json, read};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shomei_ra::acme_orders::OrderView;
use shomei_store::acme::AcmeAccount;
use shomei_store::acme_orders::{AcmeAuthz, AcmeChallenge};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn error_json(e: Option<&String>) -> Option<serde_json::Value> {
    e.and_then(|s| serde_json::from_str(s).ok())
}

fn order_body(st: &AcmeState, v: &OrderView) -> serde_json::Value {
    let o = &v.order;
    let mut body = serde_json::json!({
        "status": o.status,
        "expires": rfc3339(o.expires_at),
        "identifiers": o.identifiers.iter().map(|n| serde_json::json!({"type": "dns", "value": n})).collect::<Vec<_>>(),
        "authorizations": v.authzs.iter().map(|a| st.url(&format!("authz/{}", a.id))).collect::<Vec<_>>(),
        "finalize": st.url(&format!("order/{}/finalize", o.id)),
    });
    if o.status == "valid" {
        body["certificate"] = serde_json::json!(st.url(&format!("cert/{}", o.id)));
    }
    if let Some(e) = error_json(o.error.as_ref()) {
        body["error"] = e;
    }
    if let Some(r) = &o.replaces {
        body["replaces"] = serde_json::json!(r);
    }
    body
}

fn challenge_body(st: &AcmeState, c: &AcmeChallenge) -> serde_json::Value {
    let mut body = serde_json::json!({
        "type": c.kind,
        "url": st.url(&format!("chall/{}", c.id)),
        "status": c.status,
        "token": c.token,
    });
    if let Some(t) = c.validated_at {
        body["validated"] = serde_json::json!(rfc3339(t));
    }
    if let Some(e) = error_json(c.error.as_ref()) {
        body["error"] = e;
    }
    body
}

fn authz_body(st: &AcmeState, a: &AcmeAuthz, challenges: &[AcmeChallenge]) -> serde_json::Value {
    let mut body = serde_json::json!({
        "status": a.status,
        "expires": rfc3339(a.expires_at),
        "identifier": {"type": "dns", "value": a.domain},
        "challenges": challenges.iter().map(|c| challenge_body(st, c)).collect::<Vec<_>>(),
    });
    if a.wildcard {
        body["wildcard"] = serde_json::json!(true);
    }
    body
}

fn not_found(what: &str) -> Problem {
    Problem::new(Kind::NotFound, format!("no such {what} for this account"))
}

fn id_of(raw: &str, what: &str) -> Result<i64, Problem> {
    raw.parse().map_err(|_| not_found(what))
}

/// POST /acme/new-order (RFC 8555 7.4).
pub(crate) async fn new_order(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let (jws, acct) = signed_by_account(&st, &headers, &read(body)?, "new-order").await?;
        let p = jws.json()?;
        let list = p
            .get("identifiers")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| Problem::malformed("identifiers must be an array of {type, value}"))?;
        let mut names = Vec::new();
        for i in list {
            match (
                i.get("type").and_then(serde_json::Value::as_str),
                i.get("value").and_then(serde_json::Value::as_str),
            ) {
                (Some("dns"), Some(v)) => names.push(v.to_owned()),
                (Some(t), _) if t != "dns" => {
                    return Err(Problem::new(
                        Kind::RejectedIdentifier,
                        format!("identifiers of type {t:?} are not issued here; only dns"),
                    ));
                }
                _ => {
                    return Err(Problem::malformed(
                        "each identifier is {\"type\": \"dns\", \"value\": NAME}",
                    ));
                }
            }
        }
        if p.get("notBefore").is_some() || p.get("notAfter").is_some() {
            return Err(Problem::malformed(
                "notBefore and notAfter are not supported: validity follows the contract and the CA/Browser Forum maximum",
            ));
        }
        let replaces = p
            .get("replaces")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let id = st.ra.acme_new_order(&acct, &names, replaces).await??;
        order_answer(&st, &acct, id, StatusCode::CREATED).await
    }
    .await;
    answer(&st, r).await
}

async fn order_answer(
    st: &AcmeState,
    acct: &AcmeAccount,
    id: i64,
    status: StatusCode,
) -> Result<Response, Problem> {
    let v = st
        .ra
        .acme_order(acct, id)
        .await?
        .ok_or_else(|| not_found("order"))?;
    let url = st.url(&format!("order/{id}"));
    Ok(json(st, status, order_body(st, &v), Some(url)).await)
}

/// POST /acme/order/{id} (POST-as-GET).
pub(crate) async fn order(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let path = format!("order/{id}");
        let (_, acct) = signed_by_account(&st, &headers, &read(body)?, &path).await?;
        order_answer(&st, &acct, id_of(&id, "order")?, StatusCode::OK).await
    }
    .await;
    answer(&st, r).await
}

/// POST /acme/order/{id}/finalize (RFC 8555 7.4).
pub(crate) async fn finalize(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let path = format!("order/{id}/finalize");
        let (jws, acct) = signed_by_account(&st, &headers, &read(body)?, &path).await?;
        let order_id = id_of(&id, "order")?;
        let csr = jws
            .json()?
            .get("csr")
            .and_then(serde_json::Value::as_str)
            .map(jws::b64)
            .transpose()?
            .ok_or_else(|| Problem::malformed("finalize needs csr: the CSR, DER, base64url"))?;
        st.ra.acme_finalize(&acct, order_id, &csr).await??;
        order_answer(&st, &acct, order_id, StatusCode::OK).await
    }
    .await;
    answer(&st, r).await
}

/// POST /acme/authz/{id}: POST-as-GET, or `{"status": "deactivated"}` (7.5.2).
pub(crate) async fn authz(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let path = format!("authz/{id}");
        let (jws, acct) = signed_by_account(&st, &headers, &read(body)?, &path).await?;
        let id = id_of(&id, "authorization")?;
        let p = jws.json()?;
        match p.get("status").and_then(serde_json::Value::as_str) {
            Some("deactivated") => {
                st.ra
                    .acme_deactivate_authz(&acct, id)
                    .await
                    .map_err(|e| match e {
                        shomei_ra::RaError::NotFound => not_found("authorization"),
                        e => e.into(),
                    })?;
            }
            Some(_) => {
                return Err(Problem::malformed(
                    "the only status a client may set is \"deactivated\"",
                ));
            }
            None => {}
        }
        let (a, ch) = st
            .ra
            .acme_authz(&acct, id)
            .await?
            .ok_or_else(|| not_found("authorization"))?;
        Ok(json(&st, StatusCode::OK, authz_body(&st, &a, &ch), None).await)
    }
    .await;
    answer(&st, r).await
}

/// POST /acme/chall/{id}: `{}` asks for validation (7.5.1); an empty payload reads it.
pub(crate) async fn challenge(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let path = format!("chall/{id}");
        let (jws, acct) = signed_by_account(&st, &headers, &read(body)?, &path).await?;
        let id = id_of(&id, "challenge")?;
        let ch = if jws.payload.is_empty() {
            st.ra
                .acme_challenge(&acct, id)
                .await?
                .map(|(c, _)| c)
                .ok_or_else(|| not_found("challenge"))?
        } else {
            if !jws.json()?.is_object() {
                return Err(Problem::malformed(
                    "to ask for validation, POST an empty JSON object {}",
                ));
            }
            st.ra.acme_respond(&acct, id).await??
        };
        let mut res = json(&st, StatusCode::OK, challenge_body(&st, &ch), None).await;
        if let Ok(v) = HeaderValue::from_str(&format!(
            "<{}>;rel=\"up\"",
            st.url(&format!("authz/{}", ch.authz_id))
        )) {
            res.headers_mut().append(header::LINK, v);
        }
        Ok(res)
    }
    .await;
    answer(&st, r).await
}

/// POST /acme/cert/{order} (POST-as-GET, 7.4.2): the PEM chain.
pub(crate) async fn certificate(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let path = format!("cert/{id}");
        let (_, acct) = signed_by_account(&st, &headers, &read(body)?, &path).await?;
        let pem = st
            .ra
            .acme_certificate(&acct, id_of(&id, "certificate")?)
            .await?
            .ok_or_else(|| not_found("certificate"))?;
        let mut res = (StatusCode::OK, pem).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pem-certificate-chain"),
        );
        Ok(finish(&st, res).await)
    }
    .await;
    answer(&st, r).await
}

/// POST /acme/acct/{id}/orders (7.1.2.1).
pub(crate) async fn orders(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let path = format!("acct/{id}/orders");
        let (_, acct) = signed_by_account(&st, &headers, &read(body)?, &path).await?;
        if acct.id.to_string() != id {
            return Err(Problem::new(
                Kind::Unauthorized,
                "an account can list only its own orders",
            ));
        }
        let list: Vec<String> = st
            .ra
            .acme_orders_of(&acct)
            .await?
            .into_iter()
            .map(|o| st.url(&format!("order/{o}")))
            .collect();
        Ok(json(
            &st,
            StatusCode::OK,
            serde_json::json!({ "orders": list }),
            None,
        )
        .await)
    }
    .await;
    answer(&st, r).await
}

/// POST /acme/revoke-cert (RFC 8555 7.6): signed by the account that ordered the
/// certificate (kid) or by the certificate's key (jwk).
pub(crate) async fn revoke(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let r = async {
        let body = read(body)?;
        let jws = crate::request(&st, &headers, &body, "revoke-cert").await?;
        let p = jws.json()?;
        let cert = p
            .get("certificate")
            .and_then(serde_json::Value::as_str)
            .map(jws::b64)
            .transpose()?
            .ok_or_else(|| Problem::malformed("revokeCert needs certificate: DER, base64url"))?;
        let reason = match p.get("reason") {
            None => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                Problem::new(
                    Kind::BadRevocationReason,
                    "reason must be an integer CRLReason code",
                )
            })?),
        };
        let served = match (&jws.protected.kid, &jws.protected.jwk) {
            (Some(_), None) => {
                // The nonce was used above; check the account's signature the same way.
                let acct = crate::account::account_of_kid(&st, &jws).await?;
                st.ra
                    .acme_revoke(
                        shomei_ra::acme_revoke::RevokeSigner::Account(&acct),
                        &cert,
                        reason,
                    )
                    .await?
            }
            (None, Some(jwk)) => {
                jws.verify(jwk)?;
                st.ra
                    .acme_revoke(
                        shomei_ra::acme_revoke::RevokeSigner::CertificateKey(&jwk.to_string()),
                        &cert,
                        reason,
                    )
                    .await?
            }
            _ => return Err(Problem::malformed("sign with either kid or jwk")),
        };
        served?;
        Ok(finish(&st, StatusCode::OK.into_response()).await)
    }
    .await;
    answer(&st, r).await
}
