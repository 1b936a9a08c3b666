//! The status and kind lists the queries use, built once from the model's predicates
//! (issue #9 item 4): a rule changed in `shomei_model` changes the SQL with it.

use shomei_model::{AppKind, AppStatus};
use std::fmt;
use std::sync::LazyLock;

/// An SQL list of codes, `('a', 'b')`, made on first use.
pub(crate) struct SqlList(LazyLock<String>);

impl fmt::Display for SqlList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Records staff still have to act on ([`AppStatus::is_open`]).
pub(crate) static OPEN: SqlList =
    SqlList(LazyLock::new(|| AppStatus::sql_list(AppStatus::is_open)));
/// Records waiting for the review to begin ([`AppStatus::awaits_review`]).
pub(crate) static AWAITING_REVIEW: SqlList = SqlList(LazyLock::new(|| {
    AppStatus::sql_list(AppStatus::awaits_review)
}));
/// Records staff may reject ([`AppStatus::allows_rejection`]).
pub(crate) static REJECTABLE: SqlList = SqlList(LazyLock::new(|| {
    AppStatus::sql_list(AppStatus::allows_rejection)
}));
/// Records that never took effect ([`AppStatus::is_void`]).
pub(crate) static VOID: SqlList =
    SqlList(LazyLock::new(|| AppStatus::sql_list(AppStatus::is_void)));
/// Kinds of record that hold a certificate ([`AppKind::issues_certificate`]).
pub(crate) static CERT_KINDS: SqlList = SqlList(LazyLock::new(|| {
    AppKind::sql_list(AppKind::issues_certificate)
}));
/// Kinds of record the customer manages a contract from ([`AppKind::portal_certificate`]:
/// not ACME 発行).
pub(crate) static PORTAL_CERT_KINDS: SqlList = SqlList(LazyLock::new(|| {
    AppKind::sql_list(AppKind::portal_certificate)
}));
