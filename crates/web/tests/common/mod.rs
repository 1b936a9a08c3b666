//! Shared helpers of the web tests: an in-process client with cookies, CSRF and a
//! presented client certificate; logged-in customers and staff.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use shomei_ca::client::{PresentedCert, presented};
use shomei_ra::Ra;
use shomei_ra::accounts::{AccountInput, Created};
use shomei_store::Realm;
use shomei_web::tls::ClientCert;
use shomei_web::{AppState, WebConfig};
use std::sync::Arc;
use tower::ServiceExt;

pub const CSR: &str = include_str!("../../../ca/tests/data/rsa2048.csr");

pub struct Client {
    pub app: Router,
    pub cert: Option<PresentedCert>,
    pub cookie: String,
    pub csrf: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Client {
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if !self.cookie.is_empty() {
            b = b.header(header::COOKIE, self.cookie.clone());
        }
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        let mut req = b.body(Body::from(body)).unwrap_or_default();
        req.extensions_mut().insert(ClientCert(self.cert.clone()));
        let res = self
            .app
            .clone()
            .oneshot(req)
            .await
            .unwrap_or_else(|e| match e {});
        let status = res.status();
        let headers = res.headers().clone();
        if let Some(c) = headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            && c.starts_with("__Host-")
        {
            self.cookie = c.split(';').next().unwrap_or_default().to_owned();
        }
        let body = String::from_utf8_lossy(
            &res.into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default(),
        )
        .into_owned();
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            self.csrf = rest[..rest.find('"').unwrap_or(0)].to_owned();
        }
        Resp {
            status,
            headers,
            body,
        }
    }
    pub async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None, vec![]).await
    }
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            body.into_bytes(),
        )
        .await
    }
    pub async fn multipart(&mut self, path: &str, parts: &[(&str, &[u8])]) -> Resp {
        let mut body = Vec::new();
        for (k, v) in parts {
            body.extend_from_slice(
                format!("--XBOUNDARY\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(v);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XBOUNDARY--\r\n");
        self.send(
            "POST",
            path,
            Some("multipart/form-data; boundary=XBOUNDARY"),
            body,
        )
        .await
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn location(r: &Resp) -> String {
    r.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

pub fn cert_of(c: &Created) -> PresentedCert {
    let der = shomei_ca::pki::pem_to_der(&c.cert_pem, "CERTIFICATE").unwrap_or_default();
    presented(&der).unwrap_or_else(|e| panic!("{e}"))
}

pub fn portal(ra: &Ra) -> Router {
    let st = Arc::new(AppState {
        ra: ra.clone(),
        realm: Realm::Customer,
        cfg: WebConfig::default(),
        root_pem: String::new(),
        root_crl: None,
        throttle: Default::default(),
    });
    shomei_web::portal::router(st)
}

pub async fn account(ra: &Ra, org: &str) -> Created {
    ra.create_account(
        &AccountInput {
            org: org.into(),
            email: "ops@example.jp".into(),
            dealer_code: None,
        },
        shomei_model::Actor::Cli,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Logs in and changes the initial password; returns a ready client.
pub async fn logged_in(ra: &Ra, c: &Created) -> Client {
    let mut cl = Client {
        app: portal(ra),
        cert: Some(cert_of(c)),
        cookie: String::new(),
        csrf: String::new(),
    };
    let r = cl
        .post(
            "/login",
            &[("login", &c.login), ("password", &c.initial_password)],
        )
        .await;
    assert_eq!(
        (r.status, location(&r)),
        (StatusCode::SEE_OTHER, "/password".into())
    );
    cl.get("/password").await;
    let csrf = cl.csrf.clone();
    let r = cl
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", &c.initial_password),
                ("new", "Sakura-2026-blossom"),
                ("confirm", "Sakura-2026-blossom"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    cl
}

/// Walks choose → terms and returns the draft's input path.
pub async fn start_draft(cl: &mut Client, service: &str) -> String {
    cl.get("/apply").await;
    let csrf = cl.csrf.clone();
    let r = cl
        .post(
            "/apply",
            &[("csrf", &csrf), ("service", service), ("term", "1")],
        )
        .await;
    let terms = location(&r);
    assert!(terms.ends_with("/terms"), "{terms}");
    let r = cl.post(&terms, &[("csrf", &csrf)]).await;
    location(&r)
}

pub fn form_parts<'a>(csrf: &'a str, csr: &'a [u8]) -> Vec<(&'a str, &'a [u8])> {
    vec![
        ("csrf", csrf.as_bytes()),
        ("csr", csr),
        ("server_type", b"nginx"),
        ("org_name", "テスト株式会社".as_bytes()),
        ("org_country", b"JP"),
        ("org_state", b"Tokyo"),
        ("org_locality", b"Shibuya-ku"),
        ("reg_name", "登録 太郎".as_bytes()),
        ("reg_email", b"reg@example.jp"),
        ("reg_phone", b"03-1234-5678"),
        ("tech_name", "技術 花子".as_bytes()),
        ("tech_email", b"tech@example.jp"),
        ("tech_phone", b"03-1234-5679"),
        ("admin_name", "事務 次郎".as_bytes()),
        ("admin_email", b"admin@example.jp"),
        ("admin_phone", b"03-1234-5670"),
    ]
}

pub fn desk(ra: &Ra) -> Router {
    let st = Arc::new(AppState {
        ra: ra.clone(),
        realm: Realm::Staff,
        cfg: WebConfig::default(),
        root_pem: String::new(),
        root_crl: None,
        throttle: Default::default(),
    });
    shomei_web::desk::router(st)
}

/// A staff member logged in at the desk (initial password changed).
pub async fn desk_logged_in(ra: &Ra, login: &str) -> (Created, Client) {
    let s = ra
        .create_staff(login, "審査", "ra@example.jp", shomei_model::Actor::Cli)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut sc = Client {
        app: desk(ra),
        cert: Some(cert_of(&s)),
        cookie: String::new(),
        csrf: String::new(),
    };
    let r = sc
        .post(
            "/login",
            &[("login", login), ("password", &s.initial_password)],
        )
        .await;
    assert_eq!(location(&r), "/password");
    sc.get("/password").await;
    let csrf = sc.csrf.clone();
    let r = sc
        .post(
            "/password",
            &[
                ("csrf", &csrf),
                ("current", &s.initial_password),
                ("new", "Review-2026-desk-pass"),
                ("confirm", "Review-2026-desk-pass"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    (s, sc)
}
