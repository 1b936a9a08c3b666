//! お申込一覧 and 申込情報検索 (R-LS1–R-LS6): the wide list with every column sortable
//! both ways, "!" marks, paging (`N/M頁 K件数`), 過去案件表示, the search form, and the
//! same results as CSV. The criteria travel in the query string, so they survive paging,
//! sorting and reloads; filtering, sorting and paging happen in SQL.

use crate::error::WebResult;
use crate::form::{server_type_key, service_label};
use crate::page::{Page, date};
use crate::session::Authed;
use crate::words::{kind_key, status_key, validity};
use crate::{Shared, html};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shomei_model::{AppKind, AppStatus, ServerType, Service};
use shomei_store::search::{DateKind, Search, SortKey, TextField};

const PAGE_SIZE: i64 = 20;
/// At most this many rows in one CSV.
const CSV_MAX: i64 = 100_000;

/// The list's and the search form's query string.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct ListQuery {
    past: String,
    date: String,
    from: String,
    to: String,
    kind: String,
    service: String,
    dl: String,
    st: String,
    f1: String,
    q1: String,
    f2: String,
    q2: String,
    sort: String,
    dir: String,
    page: String,
}

const SORTS: &[(&str, SortKey, &str)] = &[
    ("applied", SortKey::Applied, "col.date"),
    ("updated", SortKey::Updated, "search.updated"),
    ("service", SortKey::Service, "col.service"),
    ("status", SortKey::Status, "col.status"),
    ("kind", SortKey::Kind, "col.kind"),
    ("validity", SortKey::Validity, "col.validity"),
    ("contract", SortKey::Contract, "col.contract"),
    ("org", SortKey::OrgName, "field.org_name"),
    ("server", SortKey::Server, "col.server"),
    ("coupon", SortKey::Coupon, "coupon.number"),
];

const TEXT_FIELDS: &[(&str, TextField, &str)] = &[
    ("org", TextField::OrgName, "field.org_name"),
    ("server", TextField::ServerName, "col.server"),
    ("contract", TextField::ContractCode, "col.contract"),
    ("coupon", TextField::Coupon, "coupon.number"),
];

fn enc(s: &str) -> String {
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

/// `YYYY-MM-DD` (or `YYYY/MM/DD`) as the start of that day in JST.
fn day_start(s: &str) -> Option<i64> {
    let s = s.trim().replace('/', "-");
    let d = time::Date::parse(
        &s,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(
        d.midnight()
            .assume_offset(time::macros::offset!(+9))
            .unix_timestamp(),
    )
}

impl ListQuery {
    /// The query string of these criteria, without the page (and with `sort`/`dir`
    /// replaced when given).
    fn qs(&self, sort: Option<(&str, &str)>) -> String {
        let (s, d) = sort.unwrap_or((&self.sort, &self.dir));
        let pairs = [
            ("past", self.past.as_str()),
            ("date", &self.date),
            ("from", &self.from),
            ("to", &self.to),
            ("kind", &self.kind),
            ("service", &self.service),
            ("dl", &self.dl),
            ("st", &self.st),
            ("f1", &self.f1),
            ("q1", &self.q1),
            ("f2", &self.f2),
            ("q2", &self.q2),
            ("sort", s),
            ("dir", d),
        ];
        pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The active conditions in words, as the result page repeats them (issue #8 item 12).
    fn conditions(&self, t: crate::i18n::Tr) -> Vec<String> {
        let mut out = Vec::new();
        let date = match self.date.as_str() {
            "applied" => Some(t.t("col.date")),
            "updated" => Some(t.t("search.updated")),
            _ => None,
        };
        if let Some(d) = date
            && (!self.from.trim().is_empty() || !self.to.trim().is_empty())
        {
            out.push(format!("{d}: {} – {}", self.from.trim(), self.to.trim()));
        }
        if let Some(k) = AppKind::from_code(&self.kind) {
            out.push(format!("{}: {}", t.t("search.kind"), t.t(kind_key(k))));
        }
        if !self.service.is_empty() {
            out.push(format!(
                "{}: {}",
                t.t("search.service"),
                crate::form::service_label(t, &self.service, "")
            ));
        }
        match self.dl.as_str() {
            "yes" => out.push(format!(
                "{}: {}",
                t.t("search.download"),
                t.t("search.downloaded")
            )),
            "no" => out.push(format!(
                "{}: {}",
                t.t("search.download"),
                t.t("search.not_downloaded")
            )),
            _ => {}
        }
        if let Some(st) = ServerType::from_code(&self.st) {
            out.push(format!(
                "{}: {}",
                t.t("field.server_type"),
                t.t(server_type_key(st))
            ));
        }
        let texts: Vec<String> = [(&self.f1, &self.q1), (&self.f2, &self.q2)]
            .iter()
            .filter_map(|(f, q)| {
                let label = TEXT_FIELDS.iter().find(|x| x.0 == f.as_str())?.2;
                (!q.trim().is_empty())
                    .then(|| format!("{}「{}」{}", t.t(label), q.trim(), t.t("search.contains")))
            })
            .collect();
        if !texts.is_empty() {
            out.push(texts.join(&format!(" {} ", t.t("search.and"))));
        }
        out
    }

    /// The store's criteria, and the message keys of what could not be understood.
    fn search(&self, now: i64) -> (Search, Vec<&'static str>) {
        let mut errors = Vec::new();
        let date_kind = match self.date.as_str() {
            "applied" => Some(DateKind::Applied),
            "updated" => Some(DateKind::Updated),
            _ => None,
        };
        let from = (!self.from.trim().is_empty())
            .then(|| day_start(&self.from))
            .and_then(|d| {
                if d.is_none() {
                    errors.push("search.bad_date");
                }
                d
            });
        let to = (!self.to.trim().is_empty())
            .then(|| day_start(&self.to).map(|t| t + 86_400))
            .and_then(|d| {
                if d.is_none() {
                    errors.push("search.bad_date");
                }
                d
            });
        // Issue #8 item 12: a reversed range is said as such, not shown as "no records".
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            errors.push("search.reversed_dates");
        }
        let contains = [(&self.f1, &self.q1), (&self.f2, &self.q2)]
            .iter()
            .filter_map(|(f, q)| {
                let field = TEXT_FIELDS.iter().find(|t| t.0 == f.as_str())?.1;
                (!q.trim().is_empty()).then(|| (field, q.chars().take(100).collect()))
            })
            .collect();
        let sort = SORTS
            .iter()
            .find(|s| s.0 == self.sort)
            .map(|s| s.1)
            .unwrap_or(SortKey::Applied);
        let cutoff = time::OffsetDateTime::from_unix_timestamp(now)
            .map(|t| {
                shomei_model::months_before(t, shomei_model::LIST_HIDE_AFTER_MONTHS)
                    .unix_timestamp()
            })
            .unwrap_or(0);
        (
            Search {
                past: self.past == "1",
                dates: date_kind.map(|k| (k, from, to)),
                kind: AppKind::from_code(&self.kind),
                service: Service::from_code(&self.service),
                downloaded: match self.dl.as_str() {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                },
                server_type: ServerType::from_code(&self.st),
                contains,
                sort: (sort, self.dir != "asc"),
                now,
                issued_cutoff: cutoff,
            },
            errors,
        )
    }
}

/// One row of the list.
pub struct Row {
    id: i64,
    date: String,
    service: String,
    status: String,
    kind: String,
    validity: String,
    contract: String,
    org: String,
    server: String,
    coupon: String,
    docs: bool,
}

/// A sortable column heading: its label, the link, and its mark (△ ascending, ▽
/// descending, empty when not sorted by it).
pub struct Heading {
    label: &'static str,
    href: String,
    mark: &'static str,
    aria: &'static str,
}

#[derive(Template)]
#[template(path = "portal/list.html")]
struct ListPage {
    p: Page,
    rows: Vec<Row>,
    headings: Vec<Heading>,
    page_no: i64,
    pages: i64,
    total: i64,
    past: bool,
    qs: String,
    toggle: String,
    errors: Vec<&'static str>,
    searched: bool,
    /// The active search conditions in words.
    conditions: Vec<String>,
}

fn rows(t: crate::i18n::Tr, items: &[shomei_store::Application]) -> Vec<Row> {
    items
        .iter()
        .map(|x| Row {
            id: x.id,
            date: date(x.created_at),
            service: service_label(t, x.service.code(), &x.term_years.to_string()),
            status: t.t(status_key(x.status)).to_owned(),
            kind: t.t(kind_key(x.kind)).to_owned(),
            validity: validity(x),
            contract: x.contract_code.clone().unwrap_or_else(|| "-".into()),
            org: x.details.organisation.name.clone(),
            server: x.common_name.clone(),
            coupon: x.coupon.clone().unwrap_or_else(|| "-".into()),
            docs: x.status == AppStatus::DocumentsPending,
        })
        .collect()
}

/// GET /applications: お申込一覧, with the criteria of the query string.
pub async fn list(
    State(st): State<Shared>,
    a: Authed,
    Query(q): Query<ListQuery>,
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let (search, errors) = q.search(st.ra.now());
    let page_no = q.page.parse::<i64>().unwrap_or(1).clamp(1, 1_000_000);
    let mut list = st
        .ra
        .search_applications(a.id(), &search, (page_no - 1) * PAGE_SIZE, PAGE_SIZE)
        .await?;
    let pages = ((list.total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    if page_no > pages {
        // A page past the end (the list shrank): show the last one.
        list = st
            .ra
            .search_applications(a.id(), &search, (pages - 1) * PAGE_SIZE, PAGE_SIZE)
            .await?;
    }
    let (sort_key, desc) = search.sort;
    let headings = SORTS
        .iter()
        .filter(|s| s.0 != "updated")
        .map(|(code, key, label)| {
            let current = *key == sort_key;
            // Clicking the sorted column reverses it; another column sorts ascending.
            let dir = if current && !desc { "desc" } else { "asc" };
            Heading {
                label: t.t(label),
                href: format!("/applications?{}", q.qs(Some((code, dir)))),
                mark: match (current, desc) {
                    (true, false) => "△",
                    (true, true) => "▽",
                    _ => "",
                },
                aria: match (current, desc) {
                    (true, false) => "ascending",
                    (true, true) => "descending",
                    _ => "none",
                },
            }
        })
        .collect();
    let toggle = ListQuery {
        past: if search.past {
            String::new()
        } else {
            "1".into()
        },
        ..q.clone()
    }
    .qs(None);
    let searched = search.dates.is_some()
        || search.kind.is_some()
        || search.service.is_some()
        || search.downloaded.is_some()
        || search.server_type.is_some()
        || !search.contains.is_empty();
    html(&ListPage {
        p: Page::new(&a.ctx, "portal", "list.title"),
        rows: rows(t, &list.items),
        headings,
        page_no: page_no.min(pages),
        pages,
        total: list.total,
        past: search.past,
        qs: q.qs(None),
        toggle,
        errors,
        searched,
        conditions: q.conditions(t),
    })
}

#[derive(Template)]
#[template(path = "portal/search.html")]
struct SearchPage {
    p: Page,
    q: ListQuery,
    dates: Vec<(String, String, bool)>,
    kinds: Vec<(String, String, bool)>,
    services: Vec<(String, String, bool)>,
    downloads: Vec<(String, String, bool)>,
    server_types: Vec<(String, String, bool)>,
    fields1: Vec<(String, String, bool)>,
    fields2: Vec<(String, String, bool)>,
    sorts: Vec<(String, String, bool)>,
    dirs: Vec<(String, String, bool)>,
}

fn opts(items: &[(&str, &str)], t: crate::i18n::Tr, value: &str) -> Vec<(String, String, bool)> {
    items
        .iter()
        .map(|(v, k)| ((*v).to_owned(), t.t(k).to_owned(), *v == value))
        .collect()
}

/// GET /applications/search: 申込情報検索 検索条件入力画面, filled with the current
/// criteria; it sends them to the list (GET).
pub async fn search_form(a: Authed, Query(q): Query<ListQuery>) -> WebResult<Response> {
    let t = a.ctx.tr;
    let kinds: Vec<(String, String, bool)> = AppKind::ALL
        .iter()
        .map(|k| {
            (
                k.code().to_owned(),
                t.t(kind_key(*k)).to_owned(),
                q.kind == k.code(),
            )
        })
        .collect();
    let services = crate::form::service_options(t, Service::ALL, &q.service);
    let server_types = ServerType::ALL
        .iter()
        .map(|s| {
            (
                s.code().to_owned(),
                t.t(server_type_key(*s)).to_owned(),
                q.st == s.code(),
            )
        })
        .collect();
    let fields: Vec<(&str, &str)> = TEXT_FIELDS.iter().map(|f| (f.0, f.2)).collect();
    let sorts: Vec<(&str, &str)> = SORTS.iter().map(|s| (s.0, s.2)).collect();
    html(&SearchPage {
        p: Page::new(&a.ctx, "portal", "search.title"),
        dates: opts(
            &[("applied", "col.date"), ("updated", "search.updated")],
            t,
            &q.date,
        ),
        kinds,
        services,
        downloads: opts(
            &[
                ("yes", "search.downloaded"),
                ("no", "search.not_downloaded"),
            ],
            t,
            &q.dl,
        ),
        server_types,
        fields1: opts(&fields, t, &q.f1),
        fields2: opts(&fields, t, &q.f2),
        sorts: opts(&sorts, t, &q.sort),
        dirs: opts(
            &[("asc", "search.asc"), ("desc", "search.desc")],
            t,
            if q.dir.is_empty() { "desc" } else { &q.dir },
        ),
        q,
    })
}

/// One CSV field, quoted when it must be (RFC 4180), with formula triggers neutralised
/// for spreadsheet software.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s != "-" {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// GET /applications.csv: the list's results (every page) as CSV, UTF-8 with a BOM so
/// spreadsheet software reads the Japanese correctly.
pub async fn csv(
    State(st): State<Shared>,
    a: Authed,
    Query(q): Query<ListQuery>,
) -> WebResult<Response> {
    let t = a.ctx.tr;
    let (search, _) = q.search(st.ra.now());
    let mut out = String::from("\u{feff}");
    let head = [
        "done.number",
        "col.date",
        "col.service",
        "col.status",
        "col.kind",
        "col.validity",
        "col.contract",
        "field.org_name",
        "col.server",
        "coupon.number",
        "search.download_col",
    ];
    out.push_str(
        &head
            .iter()
            .map(|k| csv_field(t.t(k)))
            .collect::<Vec<_>>()
            .join(","),
    );
    out.push_str("\r\n");
    let mut offset = 0;
    while offset < CSV_MAX {
        let list = st
            .ra
            .search_applications(a.id(), &search, offset, 1000)
            .await?;
        for x in &list.items {
            let cells = [
                x.id.to_string(),
                date(x.created_at),
                service_label(t, x.service.code(), &x.term_years.to_string()),
                t.t(status_key(x.status)).to_owned(),
                t.t(kind_key(x.kind)).to_owned(),
                validity(x),
                x.contract_code.clone().unwrap_or_default(),
                x.details.organisation.name.clone(),
                x.names.join(" "),
                x.coupon.clone().unwrap_or_default(),
                t.t(if x.downloaded_at.is_some() {
                    "search.downloaded"
                } else {
                    "search.not_downloaded"
                })
                .to_owned(),
            ];
            out.push_str(
                &cells
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push_str("\r\n");
        }
        offset += 1000;
        if list.items.len() < 1000 {
            break;
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"applications.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-"), "-");
    }

    #[test]
    fn criteria_survive_in_the_query_string() {
        let q = ListQuery {
            q1: "株式会社 A&B".into(),
            f1: "org".into(),
            sort: "org".into(),
            dir: "asc".into(),
            ..Default::default()
        };
        let qs = q.qs(None);
        assert!(qs.contains("f1=org") && qs.contains("sort=org") && qs.contains("dir=asc"));
        assert!(qs.contains("q1=%E6%A0%AA") && qs.contains("%26B"), "{qs}");
    }
}
