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

/// Numbered placeholders for `rows` rows of `cols` values, after the first `before`
/// parameters: `($3, $4), ($5, $6)` for `(2, 2, 2)`. For multi-row inserts and `IN`
/// lists, which both backends read the same way.
pub(crate) fn placeholders(rows: usize, cols: usize, before: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(before + r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

#[cfg(test)]
mod placeholder_tests {
    #[test]
    fn numbered_after_the_leading_parameters() {
        assert_eq!(super::placeholders(2, 2, 2), "($3, $4), ($5, $6)");
        assert_eq!(super::placeholders(1, 3, 0), "($1, $2, $3)");
        assert_eq!(super::placeholders(0, 3, 0), "");
    }
}
