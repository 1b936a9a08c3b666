//! ACME accounts (RFC 8555 7.3): newAccount with external account binding (7.3.4),
//! the account URL (read, contact update 7.3.2, deactivation 7.3.6) and key rollover
//! (7.3.5).

use crate::jws::{self, Jws};
use crate::problem::{Kind, Problem};
use crate::{AcmeState, Body, Shared, answer, json, read, request};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use shomei_ra::acme::EabBinding;
use shomei_store::acme::{AcmeAccount, AcmeChange, NewAcmeAccount};

fn account_body(st: &AcmeState, a: &AcmeAccount) -> serde_json::Value {
    let contact: serde_json::Value =
        serde_json::from_str(&a.contact).unwrap_or_else(|_| serde_json::json!([]));
    serde_json::json!({
        "status": a.status,
        "contact": contact,
        "orders": format!("{}/orders", st.url(&format!("acct/{}", a.id))),
    })
}

/// The contact URLs of a newAccount payload: `mailto:` addresses only.
fn contacts(payload: &serde_json::Value) -> Result<Vec<String>, Problem> {
    let Some(list) = payload.get("contact") else {
        return Ok(Vec::new());
    };
    let list = list
        .as_array()
        .ok_or_else(|| Problem::malformed("contact must be an array of mailto: URLs"))?;
    list.iter()
        .map(|c| match c.as_str() {
            Some(s) if s.starts_with("mailto:") && s.len() > 7 && !s.contains(',') => {
                Ok(s.to_owned())
            }
            _ => Err(Problem::malformed(
                "contact must be an array of mailto: URLs, one address each",
            )),
        })
        .collect()
}

/// POST /acme/new-account (RFC 8555 7.3, with external account binding 7.3.4).
pub(crate) async fn new_account(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async { new_account_inner(&st, &headers, &read(body)?).await }.await;
    answer(&st, r).await
}

async fn new_account_inner(
    st: &AcmeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Problem> {
    let jws = request(st, headers, body, "new-account").await?;
    if jws.protected.kid.is_some() {
        return Err(Problem::malformed("newAccount is signed with jwk, not kid"));
    }
    let jwk = jws
        .protected
        .jwk
        .clone()
        .ok_or_else(|| Problem::malformed("newAccount needs the account key as jwk"))?;
    jws.verify(&jwk)?;
    let thumbprint = jws::thumbprint(&jwk)?;
    let payload = jws.json()?;
    if let Some(existing) = st.ra.acme_account_by_key(&thumbprint).await? {
        let url = st.url(&format!("acct/{}", existing.id));
        return Ok(json(st, StatusCode::OK, account_body(st, &existing), Some(url)).await);
    }
    if payload
        .get("onlyReturnExisting")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
    {
        return Err(Problem::new(
            Kind::AccountDoesNotExist,
            "no ACME account has this key",
        ));
    }
    if payload
        .get("termsOfServiceAgreed")
        .and_then(serde_json::Value::as_bool)
        != Some(true)
    {
        return Err(Problem::malformed(format!(
            "agree to the terms of service ({}) with termsOfServiceAgreed: true",
            st.terms_of_service
        )));
    }
    let contact = contacts(&payload)?;
    let Some(eab) = payload.get("externalAccountBinding") else {
        return Err(Problem::new(
            Kind::ExternalAccountRequired,
            "this CA binds every ACME account to a contract: create an external account binding (kid and HMAC key) on the contract's page in the customer portal, and give it to your ACME client",
        ));
    };
    let eab = Jws::parse(eab.to_string().as_bytes()).map_err(|_| {
        Problem::malformed("externalAccountBinding must be a JWS in flattened JSON serialization")
    })?;
    let want = st.url("new-account");
    if eab.protected.url.as_deref() != Some(want.as_str()) || eab.protected.nonce.is_some() {
        return Err(Problem::malformed(
            "the external account binding's protected header must have the newAccount url and no nonce",
        ));
    }
    let kid = eab
        .protected
        .kid
        .clone()
        .ok_or_else(|| Problem::malformed("the external account binding needs a kid"))?;
    let bound_key: serde_json::Value = serde_json::from_slice(&eab.payload).map_err(|_| {
        Problem::malformed("the external account binding's payload must be the account key")
    })?;
    if bound_key != jwk {
        return Err(Problem::malformed(
            "the external account binding's payload must be the same key as the request's jwk",
        ));
    }
    let mac = jws::b64(&eab.signature)?;
    let account = NewAcmeAccount {
        thumbprint,
        jwk: jwk.to_string(),
        eab_kid: kid.clone(),
        contact: serde_json::json!(contact).to_string(),
    };
    let binding = EabBinding {
        alg: &eab.protected.alg,
        kid: &kid,
        signing_input: eab.signing_input.as_bytes(),
        mac: &mac,
    };
    match st.ra.acme_register(&account, &binding).await? {
        Ok(a) => {
            let url = st.url(&format!("acct/{}", a.id));
            Ok(json(st, StatusCode::CREATED, account_body(st, &a), Some(url)).await)
        }
        Err(refusal) => Err(Problem::new(Kind::Unauthorized, refusal.detail())),
    }
}

/// A POST signed by an existing, valid account (`kid` = its URL): the JWS and the
/// account.
pub(crate) async fn signed_by_account(
    st: &AcmeState,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
) -> Result<(Jws, AcmeAccount), Problem> {
    let jws = request(st, headers, body, path).await?;
    let a = account_of_kid(st, &jws).await?;
    Ok((jws, a))
}

/// The valid account whose URL is the JWS's `kid` and whose key signed it.
pub(crate) async fn account_of_kid(st: &AcmeState, jws: &Jws) -> Result<AcmeAccount, Problem> {
    let kid = jws
        .protected
        .kid
        .clone()
        .filter(|_| jws.protected.jwk.is_none())
        .ok_or_else(|| Problem::malformed("sign with kid set to your account's URL, not jwk"))?;
    let id: i64 = kid
        .strip_prefix(&st.url("acct/"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Problem::new(
                Kind::AccountDoesNotExist,
                "the kid is not an account URL of this server",
            )
        })?;
    let a = st
        .ra
        .acme_account(id)
        .await?
        .ok_or_else(|| Problem::new(Kind::AccountDoesNotExist, "no such account"))?;
    let jwk: serde_json::Value = serde_json::from_str(&a.jwk)
        .map_err(|_| Problem::new(Kind::ServerInternal, "the stored account key does not read"))?;
    jws.verify(&jwk)?;
    if a.status != "valid" {
        return Err(Problem::new(
            Kind::Unauthorized,
            format!("this account is {}", a.status),
        ));
    }
    Ok(a)
}

/// POST /acme/acct/{id}: the account (POST-as-GET), a contact update (7.3.2) or
/// deactivation (7.3.6).
pub(crate) async fn account(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async { account_inner(&st, &id, &headers, &read(body)?).await }.await;
    answer(&st, r).await
}

async fn account_inner(
    st: &AcmeState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Problem> {
    let path = format!("acct/{id}");
    let (jws, a) = signed_by_account(st, headers, body, &path).await?;
    let url = st.url(&path);
    if a.id.to_string() != id {
        return Err(Problem::new(
            Kind::Unauthorized,
            "an account can read and change only itself",
        ));
    }
    let payload = jws.json()?;
    let change = if payload.get("status").and_then(serde_json::Value::as_str) == Some("deactivated")
    {
        Some(AcmeChange::Deactivate)
    } else if payload.get("status").is_some() {
        return Err(Problem::malformed(
            "the only status a client may set is \"deactivated\"",
        ));
    } else if payload.get("contact").is_some() {
        Some(AcmeChange::Contact(
            serde_json::json!(contacts(&payload)?).to_string(),
        ))
    } else {
        None
    };
    if let Some(change) = change
        && let Err(why) = st.ra.acme_update(&a, &change).await?
    {
        return Err(Problem::new(Kind::Conflict, why));
    }
    let a = st
        .ra
        .acme_account(a.id)
        .await?
        .ok_or_else(|| Problem::new(Kind::AccountDoesNotExist, "no such account"))?;
    Ok(json(st, StatusCode::OK, account_body(st, &a), Some(url)).await)
}

/// POST /acme/key-change (RFC 8555 7.3.5): the outer JWS signed by the old key, the
/// inner by the new key over `{account, oldKey}`.
pub(crate) async fn key_change(
    State(st): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async { key_change_inner(&st, &headers, &read(body)?).await }.await;
    answer(&st, r).await
}

async fn key_change_inner(
    st: &AcmeState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Problem> {
    let (outer, a) = signed_by_account(st, headers, body, "key-change").await?;
    let inner = Jws::parse(&outer.payload).map_err(|_| {
        Problem::malformed("the key-change payload must be a JWS signed by the new key")
    })?;
    let new_key = inner
        .protected
        .jwk
        .clone()
        .filter(|_| inner.protected.kid.is_none() && inner.protected.nonce.is_none())
        .ok_or_else(|| {
            Problem::malformed("the inner JWS has the new key as jwk, and no kid or nonce")
        })?;
    if inner.protected.url != outer.protected.url {
        return Err(Problem::malformed(
            "the inner and outer JWS must name the same url",
        ));
    }
    inner.verify(&new_key)?;
    let p = inner.json()?;
    let account_url = st.url(&format!("acct/{}", a.id));
    if p.get("account").and_then(serde_json::Value::as_str) != Some(account_url.as_str()) {
        return Err(Problem::malformed(
            "the inner payload's account must be the outer kid",
        ));
    }
    let old: serde_json::Value = serde_json::from_str(&a.jwk)
        .map_err(|_| Problem::new(Kind::ServerInternal, "the stored account key does not read"))?;
    let same_old =
        p.get("oldKey").map(jws::thumbprint).transpose()? == Some(jws::thumbprint(&old)?);
    if !same_old {
        return Err(Problem::malformed(
            "the inner payload's oldKey is not the account's key",
        ));
    }
    let change = AcmeChange::Key {
        thumbprint: jws::thumbprint(&new_key)?,
        jwk: new_key.to_string(),
    };
    if let Err(why) = st.ra.acme_update(&a, &change).await? {
        return Err(Problem::new(Kind::Conflict, why));
    }
    let a = st
        .ra
        .acme_account(a.id)
        .await?
        .ok_or_else(|| Problem::new(Kind::AccountDoesNotExist, "no such account"))?;
    Ok(json(st, StatusCode::OK, account_body(st, &a), Some(account_url)).await)
}
