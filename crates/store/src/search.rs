//! お申込一覧 and 検索 (R-LS1–R-LS6): filtering, sorting and paging in SQL, within one
//! account, so a large account stays fast (see docs/performance.md).

use crate::applications::{APP_COLS, APP_FROM, ApplicationList, app_of};
use crate::{Backend, Result, Store, Ts};
use shomei_model::{AppKind, ServerType, Service};
use std::collections::HashMap;

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
            SortKey::Validity => "a.cert_not_after",
            SortKey::Contract => "a.contract_code",
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
            TextField::ContractCode => "a.contract_code",
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

#[derive(Debug)]
enum Param {
    Int(i64),
    Text(String),
}

/// `%text%` for LIKE, with `\`, `%` and `_` escaped.
fn like(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('%');
    for ch in text.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('%');
    s
}

/// Days a rejected application stays in the current list (issue #8 item 4).
pub const REJECTED_KEPT_DAYS: i64 = 30;

/// The three times a list's filter compares records with (R-LS1, R-LS4, issue #8
/// item 4): now, the end of a rejected record's 30 days, the 75-month cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListTimes {
    now: Ts,
    rejected_kept: Ts,
    issued_cutoff: Ts,
}

impl ListTimes {
    /// Whether every one of `self` lies in `[from, to)`.
    fn within(self, from: ListTimes, to: ListTimes) -> bool {
        (from.now..to.now).contains(&self.now)
            && (from.rejected_kept..to.rejected_kept).contains(&self.rejected_kept)
            && (from.issued_cutoff..to.issued_cutoff).contains(&self.issued_cutoff)
    }
}

/// The totals behind "N件", kept per account and filter with the account's
/// applications version and the span of times over which no record moves between the
/// lists: a count is reused only while both hold, so it is always the count the query
/// would give. At most [`COUNTS_KEPT`] are kept.
#[derive(Debug, Default)]
pub(crate) struct Counts(std::sync::Mutex<HashMap<(i64, String), KeptCount>>);

#[derive(Debug, Clone, Copy)]
struct KeptCount {
    version: i64,
    from: ListTimes,
    to: ListTimes,
    total: i64,
}

/// How many counts are kept.
const COUNTS_KEPT: usize = 10_000;

impl Counts {
    fn get(&self, account_id: i64, key: &str, version: i64, at: ListTimes) -> Option<i64> {
        let map = self.0.lock().ok()?;
        map.get(&(account_id, key.to_owned()))
            .filter(|k| k.version == version && at.within(k.from, k.to))
            .map(|k| k.total)
    }

    fn put(
        &self,
        account_id: i64,
        key: String,
        version: i64,
        from: ListTimes,
        to: ListTimes,
        total: i64,
    ) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= COUNTS_KEPT {
                map.clear();
            }
            map.insert(
                (account_id, key),
                KeptCount {
                    version,
                    from,
                    to,
                    total,
                },
            );
        }
    }
}

impl Search {
    fn times(&self) -> ListTimes {
        ListTimes {
            now: self.now,
            rejected_kept: self.now - REJECTED_KEPT_DAYS * 86_400,
            issued_cutoff: self.issued_cutoff,
        }
    }

    /// The WHERE clause and its parameters ($1 is the account; $2–$4 the times).
    fn filter(&self, account_id: i64, backend: Backend) -> (String, Vec<Param>) {
        let mut p = vec![Param::Int(account_id)];
        let mut w = vec!["a.account_id = $1".to_owned()];
        let next = |p: &mut Vec<Param>, v: Param| {
            p.push(v);
            format!("${}", p.len())
        };
        // R-LS1: issued 75 months ago or more: never shown.
        let n = next(&mut p, Param::Int(self.issued_cutoff));
        w.push(format!(
            "(a.cert_issued_at IS NULL OR a.cert_issued_at > {n})"
        ));
        // R-LS4: past = closed without a contract, or the contract has ended.
        // Issue #8 item 4: a rejected application stays in the current list for
        // REJECTED_KEPT_DAYS after its rejection, so the customer sees it and its reason.
        let n = next(&mut p, Param::Int(self.now));
        let kept = next(&mut p, Param::Int(self.now - REJECTED_KEPT_DAYS * 86_400));
        let past = format!(
            "(a.status = 'withdrawn' OR (a.status = 'rejected' AND a.updated_at <= {kept}) OR (a.contract_ends_at IS NOT NULL AND a.contract_ends_at <= {n}))"
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
            // Case-insensitive: SQLite's LIKE is, for ASCII (the rest has no case in
            // practice here); PostgreSQL's ILIKE, served by trigram indexes.
            let op = match backend {
                Backend::Sqlite => "LIKE",
                Backend::Postgres => "ILIKE",
            };
            w.push(format!("{} {op} {n} ESCAPE '\\'", field.sql()));
        }
        (w.join(" AND "), p)
    }
}

impl Store {
    /// One page of an account's applications matching `s`, and how many match. The
    /// filter, the sort and the count read the record's own columns through the
    /// account's indexes; only the page's rows are joined for display.
    pub async fn search_applications(
        &self,
        account_id: i64,
        s: &Search,
        offset: i64,
        limit: i64,
    ) -> Result<ApplicationList> {
        let (filter, params) = s.filter(account_id, self.backend());
        let (key, desc) = s.sort;
        // "No value" is the smallest: first ascending, last descending — SQLite's native
        // index order, and PostgreSQL's indexes are declared NULLS FIRST (migration 0009).
        let order = if desc {
            format!("{col} DESC NULLS LAST, a.id DESC", col = key.sql())
        } else {
            format!("{col} ASC NULLS FIRST, a.id ASC", col = key.sql())
        };
        // With a "contains" condition every row of the account is read anyway: count in
        // the same pass (a window); otherwise the page comes from an index and the count
        // from the list index alone.
        // On SQLite so does a sort on a column with few values (it reads every match;
        // the covering index is cheaper than the rows).
        let scan = s.contains.iter().any(|(_, t)| !t.trim().is_empty())
            || (self.backend() == Backend::Sqlite
                && matches!(key, SortKey::Status | SortKey::Kind | SortKey::Service));
        // SQLite reads the narrow covering index for such a scan (migration 0009);
        // PostgreSQL's trigram indexes find the rows.
        let hint = if scan && self.backend() == Backend::Sqlite {
            " INDEXED BY applications_account_search"
        } else {
            ""
        };
        let ids_sql = format!(
            "SELECT a.id, {total} AS total FROM applications a{hint} WHERE {filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            total = if scan { "COUNT(*) OVER ()" } else { "0" },
            limit = limit.clamp(1, 1000),
            offset = offset.max(0),
        );
        let mut q = sqlx::query_as::<_, (i64, i64)>(&ids_sql);
        for v in &params {
            q = match v {
                Param::Int(i) => q.bind(*i),
                Param::Text(t) => q.bind(t.as_str()),
            };
        }
        let page = q.fetch_all(self.reader()).await?;
        let counted = match page.first() {
            Some(r) if scan => Some(r.1),
            None if offset <= 0 => Some(0),
            _ => None,
        };
        let ids: Vec<i64> = page.iter().map(|r| r.0).collect();
        let mut items = Vec::with_capacity(ids.len());
        if !ids.is_empty() {
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let rows = sqlx::query(&format!(
                "SELECT {APP_COLS} FROM {APP_FROM} WHERE a.id IN ({list})"
            ))
            .fetch_all(self.reader())
            .await?;
            let mut by_id = std::collections::HashMap::new();
            for r in &rows {
                let app = app_of(r)?;
                by_id.insert(app.id, app);
            }
            items.extend(ids.iter().filter_map(|id| by_id.remove(id)));
        }
        let total = match counted {
            Some(n) => n,
            None => {
                // Kept from an earlier count while no record of the account changed and
                // no record's time to move between the lists has come (issue #11).
                let version: i64 =
                    sqlx::query_scalar("SELECT applications_version FROM accounts WHERE id = $1")
                        .bind(account_id)
                        .fetch_optional(self.reader())
                        .await?
                        .unwrap_or(-1);
                let key = format!("{filter}|{:?}", params.get(4..));
                let times = s.times();
                if let Some(n) = self.counts.get(account_id, &key, version, times) {
                    n
                } else {
                    let count_sql =
                        format!("SELECT COUNT(*) FROM applications a{hint} WHERE {filter}");
                    let mut cq = sqlx::query_scalar::<_, i64>(&count_sql);
                    for v in &params {
                        cq = match v {
                            Param::Int(i) => cq.bind(*i),
                            Param::Text(t) => cq.bind(t.as_str()),
                        };
                    }
                    let n = cq.fetch_one(self.reader()).await?;
                    let next = self.next_moves(account_id, times).await?;
                    self.counts.put(account_id, key, version, times, next, n);
                    n
                }
            }
        };
        Ok(ApplicationList { items, total })
    }

    /// The first time after `times` at which a record of the account would move between
    /// the current and past lists or drop off them: the earliest contract end still to
    /// come, the earliest update of a rejected record still in the current list, the
    /// earliest certificate still shown (R-LS1).
    async fn next_moves(&self, account_id: i64, times: ListTimes) -> Result<ListTimes> {
        let r = sqlx::query(
            "SELECT MIN(CASE WHEN contract_ends_at > $2 THEN contract_ends_at END) AS e, \
             MIN(CASE WHEN status = 'rejected' AND updated_at > $3 THEN updated_at END) AS r, \
             MIN(CASE WHEN cert_issued_at > $4 THEN cert_issued_at END) AS i \
             FROM applications WHERE account_id = $1",
        )
        .bind(account_id)
        .bind(times.now)
        .bind(times.rejected_kept)
        .bind(times.issued_cutoff)
        .fetch_one(self.reader())
        .await?;
        use sqlx::Row;
        Ok(ListTimes {
            now: r.try_get::<Option<i64>, _>("e")?.unwrap_or(i64::MAX),
            rejected_kept: r.try_get::<Option<i64>, _>("r")?.unwrap_or(i64::MAX),
            issued_cutoff: r.try_get::<Option<i64>, _>("i")?.unwrap_or(i64::MAX),
        })
    }
}

/// Inside a transaction that ended the contract of record `target` at `now`: the
/// records of that contract are past now (R-LS4).
pub(crate) async fn contract_ended<E: crate::exec::Exec>(
    tx: &mut E,
    target: i64,
    now: Ts,
) -> Result<()> {
    tx.run("UPDATE applications SET contract_ends_at = $2 WHERE contract_id = (SELECT contract_id FROM applications WHERE id = $1) AND (contract_ends_at IS NULL OR contract_ends_at > $2)", vec![target.into(), now.into()])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like("A_b%c\\"), "%A\\_b\\%c\\\\%");
    }
}
