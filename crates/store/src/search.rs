//! お申込一覧 and 検索 (R-LS1–R-LS6): filtering, sorting and paging in SQL, within one
//! account, so a large account stays fast (see docs/performance.md).

use crate::applications::{APP_COLS, Application, ApplicationList, app_of};
use crate::{Result, Store, Ts};
use shomei_model::{AppKind, ServerType, Service};

/// Which date a range applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateKind {
    /// お申込日.
    Applied,
    /// 更新日 (last change of the record).
    Updated,
}

/// A text field a "contains" condition looks in (絞込条件).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    /// 申請組織名.
    OrgName,
    /// サーバ名 (every DNS name of the record).
    ServerName,
    /// 契約コード.
    ContractCode,
    /// クーポン番号.
    Coupon,
}

/// A sortable column (R-LS2, △).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// お申込日.
    Applied,
    /// 更新日.
    Updated,
    /// サービス.
    Service,
    /// ステータス.
    Status,
    /// お申込種別.
    Kind,
    /// 証明書有効期間 (its end).
    Validity,
    /// 契約コード.
    Contract,
    /// 申請組織名.
    OrgName,
    /// サーバ名.
    Server,
    /// クーポン番号.
    Coupon,
}

impl SortKey {
    fn sql(self) -> &'static str {
        match self {
            SortKey::Applied => "a.created_at",
            SortKey::Updated => "a.updated_at",
            SortKey::Service => "a.service",
            SortKey::Status => "a.status",
            SortKey::Kind => "a.kind",
            SortKey::Validity => "ce.not_after",
            SortKey::Contract => "c.code",
            SortKey::OrgName => "a.org_name",
            SortKey::Server => "a.common_name",
            SortKey::Coupon => "a.coupon",
        }
    }
}

impl TextField {
    fn sql(self) -> &'static str {
        match self {
            TextField::OrgName => "a.org_name",
            TextField::ServerName => "a.names",
            TextField::ContractCode => "c.code",
            TextField::Coupon => "a.coupon",
        }
    }
}

/// The criteria of the list and the search form.
#[derive(Debug, Clone)]
pub struct Search {
    /// 過去案件表示: ended contracts and closed records instead of current ones (R-LS4).
    pub past: bool,
    /// A date range: which date, from (inclusive), to (exclusive), Unix seconds.
    pub dates: Option<(DateKind, Option<Ts>, Option<Ts>)>,
    /// 申請区分.
    pub kind: Option<AppKind>,
    /// サービス種別.
    pub service: Option<Service>,
    /// 証明書ダウンロード: downloaded or not.
    pub downloaded: Option<bool>,
    /// サーバタイプ.
    pub server_type: Option<ServerType>,
    /// Up to two "contains" conditions, joined by かつ (and).
    pub contains: Vec<(TextField, String)>,
    /// Sort column and direction (descending if true).
    pub sort: (SortKey, bool),
    /// Now (what is current or past).
    pub now: Ts,
    /// R-LS1: records whose certificate was issued at or before this are never shown.
    pub issued_cutoff: Ts,
}

enum Param {
    Int(i64),
    Text(String),
}

/// `%text%` for LIKE, with `\`, `%` and `_` escaped, lower-cased.
fn like(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '\\' | '%' | '_') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

/// The FROM clause of the list (the record, its contract and its issued certificate).
const FROM: &str = "applications a LEFT JOIN contracts c ON c.id = a.contract_id LEFT JOIN certificates ce ON ce.application_id = a.id AND ce.status = 'issued'";

impl Search {
    /// The WHERE clause and its parameters ($1 is the account).
    fn filter(&self, account_id: i64) -> (String, Vec<Param>) {
        let mut p = vec![Param::Int(account_id)];
        let mut w = vec!["a.account_id = $1".to_owned()];
        let next = |p: &mut Vec<Param>, v: Param| {
            p.push(v);
            format!("${}", p.len())
        };
        // R-LS1: issued 75 months ago or more: never shown.
        let n = next(&mut p, Param::Int(self.issued_cutoff));
        w.push(format!("(ce.issued_at IS NULL OR ce.issued_at > {n})"));
        // R-LS4: past = closed without a contract, or the contract has ended.
        let n = next(&mut p, Param::Int(self.now));
        let past = format!(
            "(a.status IN ('withdrawn', 'rejected') OR (c.ends_at IS NOT NULL AND c.ends_at <= {n}))"
        );
        w.push(if self.past {
            past
        } else {
            format!("NOT {past}")
        });
        if let Some((kind, from, to)) = self.dates {
            let col = match kind {
                DateKind::Applied => "a.created_at",
                DateKind::Updated => "a.updated_at",
            };
            if let Some(f) = from {
                let n = next(&mut p, Param::Int(f));
                w.push(format!("{col} >= {n}"));
            }
            if let Some(t) = to {
                let n = next(&mut p, Param::Int(t));
                w.push(format!("{col} < {n}"));
            }
        }
        if let Some(k) = self.kind {
            let n = next(&mut p, Param::Text(k.code().to_owned()));
            w.push(format!("a.kind = {n}"));
        }
        if let Some(s) = self.service {
            let n = next(&mut p, Param::Text(s.code().to_owned()));
            w.push(format!("a.service = {n}"));
        }
        if let Some(d) = self.downloaded {
            w.push(if d {
                "a.downloaded_at IS NOT NULL".to_owned()
            } else {
                "a.downloaded_at IS NULL".to_owned()
            });
        }
        if let Some(s) = self.server_type {
            let n = next(&mut p, Param::Text(s.code().to_owned()));
            w.push(format!("a.server_type = {n}"));
        }
        for (field, text) in self.contains.iter().take(2) {
            if text.trim().is_empty() {
                continue;
            }
            let n = next(&mut p, Param::Text(like(text.trim())));
            w.push(format!(
                "LOWER(COALESCE({}, '')) LIKE {n} ESCAPE '\\'",
                field.sql()
            ));
        }
        (w.join(" AND "), p)
    }
}

fn bind<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    params: &'q [Param],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for v in params {
        q = match v {
            Param::Int(i) => q.bind(*i),
            Param::Text(t) => q.bind(t.as_str()),
        };
    }
    q
}

impl Store {
    /// One page of an account's applications matching `s`, and how many match.
    pub async fn search_applications(
        &self,
        account_id: i64,
        s: &Search,
        offset: i64,
        limit: i64,
    ) -> Result<ApplicationList> {
        let (filter, params) = s.filter(account_id);
        let (key, desc) = s.sort;
        let dir = if desc { "DESC" } else { "ASC" };
        // NULLs (no contract yet, no certificate) sort last either way.
        let sql = format!(
            "SELECT {APP_COLS} FROM {FROM} WHERE {filter} ORDER BY ({col} IS NULL), {col} {dir}, a.id {dir} LIMIT {limit} OFFSET {offset}",
            col = key.sql(),
            limit = limit.clamp(1, 1000),
            offset = offset.max(0),
        );
        let rows = bind(sqlx::query(&sql), &params)
            .fetch_all(&self.pool)
            .await?;
        let count_sql = format!("SELECT COUNT(*) FROM {FROM} WHERE {filter}");
        let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
        for v in &params {
            cq = match v {
                Param::Int(i) => cq.bind(*i),
                Param::Text(t) => cq.bind(t.as_str()),
            };
        }
        let total = cq.fetch_one(&self.pool).await?;
        Ok(ApplicationList {
            items: rows
                .iter()
                .map(app_of)
                .collect::<Result<Vec<Application>>>()?,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
