//! Revocation (R-V1–R-V4; CA-RULES "Revocation (4.9.1.1, 4.9.5, 7.2.2)").

use crate::{AppKind, AppStatus};
use serde::{Deserialize, Serialize};

/// The four reasons of the manual's form (R-V2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationReason {
    /// 証明書の内容を変更するため
    ContentChange,
    /// 証明書切り替えのため
    Switching,
    /// サービス終了など、証明書の利用を停止するため
    EndOfService,
    /// 秘密鍵が危殆化したため
    KeyCompromise,
}

impl RevocationReason {
    /// In the manual's order.
    pub const ALL: &'static [RevocationReason] = &[
        RevocationReason::ContentChange,
        RevocationReason::Switching,
        RevocationReason::EndOfService,
        RevocationReason::KeyCompromise,
    ];
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            RevocationReason::ContentChange => "content_change",
            RevocationReason::Switching => "switching",
            RevocationReason::EndOfService => "end_of_service",
            RevocationReason::KeyCompromise => "key_compromise",
        }
    }
    /// Parses [`Self::code`].
    pub fn from_code(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.code() == s)
    }
    /// The RFC 5280 CRLReason: content change and switching → superseded (4); ending
    /// the service → cessationOfOperation (5); key compromise → keyCompromise (1).
    pub fn crl_reason(self) -> u8 {
        match self {
            RevocationReason::ContentChange | RevocationReason::Switching => 4,
            RevocationReason::EndOfService => 5,
            RevocationReason::KeyCompromise => 1,
        }
    }
    /// The CA/Browser Forum deadline from the request (BR 4.9.1.1): 24 hours for key
    /// compromise, 5 days otherwise. The phone confirmation must fit inside it.
    pub fn deadline_seconds(self) -> i64 {
        match self {
            RevocationReason::KeyCompromise => 24 * 3600,
            _ => 5 * 24 * 3600,
        }
    }
}

/// R-V1, R-A5: whether a record may start a revocation: an issuing record (new,
/// renewal, reissue — never 担当者変更) that is 完了 with a certificate that is
/// neither revoked nor expired, and no revocation already under way.
pub fn may_revoke(
    kind: AppKind,
    status: AppStatus,
    cert_live: bool,
    revocation_pending: bool,
) -> bool {
    kind.issues_certificate() && status == AppStatus::Completed && cert_live && !revocation_pending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_v2_reasons_map_to_rfc5280_codes() {
        assert_eq!(RevocationReason::ContentChange.crl_reason(), 4);
        assert_eq!(RevocationReason::Switching.crl_reason(), 4);
        assert_eq!(RevocationReason::EndOfService.crl_reason(), 5);
        assert_eq!(RevocationReason::KeyCompromise.crl_reason(), 1);
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(r.code()), Some(*r));
        }
    }

    #[test]
    fn br_4_9_1_1_deadlines() {
        assert_eq!(RevocationReason::KeyCompromise.deadline_seconds(), 86_400);
        assert_eq!(
            RevocationReason::EndOfService.deadline_seconds(),
            5 * 86_400
        );
    }

    /// R-V1: never from a 担当者変更 record; only 完了 with a live certificate.
    #[test]
    fn r_v1_who_may_revoke() {
        assert!(may_revoke(AppKind::New, AppStatus::Completed, true, false));
        assert!(!may_revoke(
            AppKind::ContactChange,
            AppStatus::Completed,
            true,
            false
        ));
        assert!(!may_revoke(AppKind::New, AppStatus::Received, true, false));
        assert!(!may_revoke(
            AppKind::New,
            AppStatus::Completed,
            false,
            false
        ));
        assert!(!may_revoke(AppKind::New, AppStatus::Completed, true, true));
    }
}
