//! Shomei's ACME front end (RFC 8555), issue #10: an ACME account exists only bound to
//! a contract through an external account binding credential the customer made in the
//! portal (or the operator with `shomei acme eab create`). Like the portal and the desk,
//! it reaches the store only through the RA.
//!
//! Served so far: the directory (`meta.externalAccountRequired`), newNonce (stored,
//! single use), newAccount with EAB (RFC 8555 7.3, 7.3.4) and the account URL
//! (POST-as-GET, contact update, deactivation) and key rollover. Orders,
//! authorizations, challenges, finalize and revocation answer a problem that says they
//! are not served yet.
#![deny(missing_docs)]

pub mod jws;
pub mod problem;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jws::Jws;
use problem::{Kind, Problem};
use shomei_ra::Ra;
use shomei_ra::acme::EabBinding;
use shomei_store::acme::{AcmeAccount, AcmeChange, NewAcmeAccount};
use std::sync::Arc;

/// What the handlers share.
#[derive(Clone)]
pub struct AcmeState {
    /// The RA.
    pub ra: Ra,
    /// The server's base URL as clients reach it, e.g. `https://127.0.0.1:8445`.
    pub base: String,
    /// The terms of service URL shown in the directory.
    pub terms_of_service: String,
    /// The CA's website, shown in the directory.
    pub website: String,
}

impl AcmeState {
    fn url(&self, path: &str) -> String {
        format!("{}/acme/{path}", self.base)
    }
}

type Shared = Arc<AcmeState>;

/// A POST body, or why it could not be read (too large, broken): answered as an ACME
/// problem, never a bare 413.
type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

fn body_problem(e: &axum::extract::rejection::BytesRejection) -> Problem {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Problem::new(
            Kind::TooLarge,
            format!("the request body is larger than {} bytes", jws::MAX_BODY),
        )
    } else {
        Problem::malformed("the request body could not be read")
    }
}

/// The ACME router (mounted at the root of the ACME listener).
pub fn router(state: AcmeState) -> Router {
    Router::new()
        .route("/acme/directory", get(directory))
        .route("/acme/new-nonce", get(nonce_get).head(nonce_head))
        .route("/acme/new-account", post(new_account))
        .route("/acme/acct/{id}", post(account))
        .route("/acme/new-order", post(not_yet))
        .route("/acme/revoke-cert", post(not_yet))
        .route("/acme/key-change", post(key_change))
        .route("/acme/renewal-info/{id}", get(renewal_info))
        .fallback(unknown)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::extract::DefaultBodyLimit::max(jws::MAX_BODY))
        .with_state(Arc::new(state))
}

/// Adds a fresh nonce, the index link and no-store to a response.
async fn finish(st: &AcmeState, mut res: Response) -> Response {
    let h = res.headers_mut();
    if let Ok(n) = st.ra.acme_nonce().await
        && let Ok(v) = HeaderValue::from_str(&n)
    {
        h.insert("replay-nonce", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>;rel=\"index\"", st.url("directory"))) {
        h.insert(header::LINK, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn problem(st: &AcmeState, p: &Problem) -> Response {
    let mut res = (p.status(), p.body().to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    finish(st, res).await
}

async fn json(
    st: &AcmeState,
    status: StatusCode,
    body: serde_json::Value,
    location: Option<String>,
) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, l);
    }
    finish(st, res).await
}

async fn answer(st: &AcmeState, r: Result<Response, Problem>) -> Response {
    match r {
        Ok(res) => res,
        Err(p) => problem(st, &p).await,
    }
}

/// GET /acme/directory (RFC 8555 7.1.1).
async fn directory(State(st): State<Shared>) -> Response {
    let body = serde_json::json!({
        "newNonce": st.url("new-nonce"),
        "newAccount": st.url("new-account"),
        "newOrder": st.url("new-order"),
        "revokeCert": st.url("revoke-cert"),
        "keyChange": st.url("key-change"),
        "renewalInfo": st.url("renewal-info"),
        "meta": {
            "termsOfService": st.terms_of_service,
            "website": st.website,
            "externalAccountRequired": true,
        },
    });
    let mut res = (StatusCode::OK, body.to_string()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// HEAD /acme/new-nonce: 200 with a fresh nonce.
async fn nonce_head(State(st): State<Shared>) -> Response {
    finish(&st, StatusCode::OK.into_response()).await
}

/// GET /acme/new-nonce: 204 with a fresh nonce.
async fn nonce_get(State(st): State<Shared>) -> Response {
    finish(&st, StatusCode::NO_CONTENT.into_response()).await
}

/// Parses a POST: its content type, JWS, URL and nonce (RFC 8555 6.2–6.5).
async fn request(
    st: &AcmeState,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
) -> Result<Jws, Problem> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct != "application/jose+json" {
        return Err(Problem::malformed(
            "the Content-Type of an ACME POST must be application/jose+json",
        ));
    }
    let jws = Jws::parse(body)?;
    jws.algorithm()?;
    let want = st.url(path);
    if jws.protected.url.as_deref() != Some(want.as_str()) {
        return Err(Problem::new(
            Kind::Unauthorized,
            format!("the protected header's url must be {want}"),
        ));
    }
    let nonce = jws.protected.nonce.as_deref().unwrap_or("");
    if nonce.is_empty() || !st.ra.acme_use_nonce(nonce).await? {
        return Err(Problem::new(
            Kind::BadNonce,
            "the nonce is unknown, already used or expired; retry with the Replay-Nonce of this answer",
        ));
    }
    Ok(jws)
}

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
async fn new_account(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let r = match body {
        Ok(b) => new_account_inner(&st, &headers, &b).await,
        Err(e) => Err(body_problem(&e)),
    };
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
async fn signed_by_account(
    st: &AcmeState,
    headers: &HeaderMap,
    body: &[u8],
    path: &str,
) -> Result<(Jws, AcmeAccount), Problem> {
    let jws = request(st, headers, body, path).await?;
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
    Ok((jws, a))
}

/// POST /acme/acct/{id}: the account (POST-as-GET), a contact update (7.3.2) or
/// deactivation (7.3.6).
async fn account(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = match body {
        Ok(b) => account_inner(&st, &id, &headers, &b).await,
        Err(e) => Err(body_problem(&e)),
    };
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
async fn key_change(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let r = match body {
        Ok(b) => key_change_inner(&st, &headers, &b).await,
        Err(e) => Err(body_problem(&e)),
    };
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
async fn renewal_info(State(st): State<Shared>, Path(id): Path<String>) -> Response {
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

/// Anything else: 404 as a problem document.
async fn unknown(State(st): State<Shared>) -> Response {
    problem(
        &st,
        &Problem::new(
            Kind::NotFound,
            "no such ACME resource; start from the directory",
        ),
    )
    .await
}

/// A method the resource does not take: 405 as a problem document.
async fn wrong_method(State(st): State<Shared>) -> Response {
    problem(
        &st,
        &Problem::new(
            Kind::MethodNotAllowed,
            "this ACME resource does not take that method (ACME requests are POSTs)",
        ),
    )
    .await
}

/// Endpoints of RFC 8555 not served yet.
async fn not_yet(State(st): State<Shared>) -> Response {
    problem(
        &st,
        &Problem::new(
            Kind::ServerInternal,
            "orders and revocation are not served yet by this ACME server",
        ),
    )
    .await
}
