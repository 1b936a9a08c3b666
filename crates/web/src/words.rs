//! The words of the manual for the model's values, as message keys: a record's kind
//! and status, a revocation reason, a certificate's validity. Shared by the portal and
//! the desk.

use crate::page::date;
use shomei_model::{AppKind, AppStatus, RevocationReason};
use shomei_store::Application;

/// The message key of a status.
pub fn status_key(s: AppStatus) -> &'static str {
    match s {
        AppStatus::Received => "status.received",
        AppStatus::DocumentsPending => "status.documents_pending",
        AppStatus::UnderReview => "status.under_review",
        AppStatus::Completed => "status.completed",
        AppStatus::Withdrawn => "status.withdrawn",
        AppStatus::Rejected => "status.rejected",
        AppStatus::PhoneConfirmationPending => "status.phone_pending",
    }
}

/// The message key of a kind.
pub fn kind_key(k: AppKind) -> &'static str {
    match k {
        AppKind::New => "kind.new",
        AppKind::Renewal => "kind.renewal",
        AppKind::Reissue => "kind.reissue",
        AppKind::ContactChange => "kind.contact_change",
        AppKind::Revocation => "kind.revocation",
        AppKind::Cancellation => "kind.cancellation",
        AppKind::Continuation => "kind.continuation",
        AppKind::Switch => "kind.switch",
        AppKind::Acme => "kind.acme",
    }
}

/// "YYYY/MM/DD～YYYY/MM/DD" or "-".
pub fn validity(a: &Application) -> String {
    match (a.cert_not_before, a.cert_not_after) {
        (Some(b), Some(e)) => format!("{}～{}", date(b), date(e)),
        _ => "-".into(),
    }
}

/// The message key of a revocation reason, as the manual words it (R-V2).
pub fn reason_key(r: RevocationReason) -> &'static str {
    match r {
        RevocationReason::ContentChange => "reason.content_change",
        RevocationReason::Switching => "reason.switching",
        RevocationReason::EndOfService => "reason.end_of_service",
        RevocationReason::KeyCompromise => "reason.key_compromise",
    }
}

/// The message key of an ACME credential's state at `now` (issue #10).
pub fn eab_state_key(e: &shomei_store::acme::EabCredential, now: i64) -> &'static str {
    if e.disabled_at.is_some() {
        "acme.state.disabled"
    } else if e.contract_ends_at <= now {
        "acme.state.ended"
    } else if e.acme_account.is_some() {
        "acme.state.bound"
    } else {
        "acme.state.unused"
    }
}
