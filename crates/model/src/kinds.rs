//! The manual's vocabulary as types. Each enum has a stable `code()` stored in the
//! database and used as the message key suffix in the UI; labels live in the web
//! layer's message files, not here.

use serde::{Deserialize, Serialize};

macro_rules! coded_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in display order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The stable code stored in the database and used in message keys.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }
            /// Parses a stored code.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
            /// The codes of the values for which `pred` holds, as an SQL list
            /// (`('a', 'b')`): the store's queries are built from the same predicate
            /// the Rust code uses, so the two cannot drift apart.
            pub fn sql_list(pred: fn(Self) -> bool) -> String {
                let codes: Vec<String> = Self::ALL
                    .iter()
                    .filter(|v| pred(**v))
                    .map(|v| format!("'{}'", v.code()))
                    .collect();
                format!("({})", codes.join(", "))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}

coded_enum! {
    /// A certificate service (R-S1).
    Service {
        /// セコムパスポート for Web SR3.0: organisation-validated (OV).
        Sr30 = "SR3.0",
        /// EV2.0: extended validation.
        Ev20 = "EV2.0",
        /// SR2.0: only on old contracts; not offered for new applications.
        Sr20 = "SR2.0",
    }
}

impl Service {
    /// Services a customer can choose for a new application (R-N1).
    pub const FOR_NEW: &'static [Service] = &[Service::Sr30, Service::Ev20];

    /// Whether certificates of this service are extended validation.
    pub fn is_ev(self) -> bool {
        matches!(self, Service::Ev20)
    }
}

coded_enum! {
    /// The contract type (R-S1).
    ContractType {
        /// 期間固定タイプ
        FixedTerm = "fixed",
        /// 自動契約更新タイプ
        AutoRenew = "auto",
    }
}

coded_enum! {
    /// お申込種別: the kind of a record (R-A1).
    AppKind {
        /// 新規発行
        New = "new",
        /// 更新
        Renewal = "renewal",
        /// 再発行
        Reissue = "reissue",
        /// 担当者変更
        ContactChange = "contact_change",
        /// 失効
        Revocation = "revocation",
        /// 解約
        Cancellation = "cancellation",
        /// 継続発行: the next certificate of a contract longer than its certificates
        /// (CA/B Forum SC-081).
        Continuation = "continuation",
        /// サービス切替 (別サービスへ切り替えて申請, R-R5): the contract continues under
        /// another service, keeping its data and its remaining paid time.
        Switch = "switch",
        /// ACME 発行: a certificate an ACME client ordered under the contract (issue #10),
        /// validated by the CA's validation engine, issued without staff.
        Acme = "acme",
    }
}

impl AppKind {
    /// A certificate record the customer acts on in the portal (renew, reissue, switch,
    /// change contacts, continue, make ACME credentials): every issuing kind but
    /// ACME 発行, whose certificates the ACME client itself orders anew.
    pub fn portal_certificate(self) -> bool {
        self.issues_certificate() && self != AppKind::Acme
    }

    /// Whether a record of this kind asks for a certificate and, once 完了, holds one
    /// (everything but 担当者変更, 失効 and 解約).
    pub fn issues_certificate(self) -> bool {
        matches!(
            self,
            AppKind::New
                | AppKind::Renewal
                | AppKind::Reissue
                | AppKind::Continuation
                | AppKind::Switch
                | AppKind::Acme
        )
    }
}

coded_enum! {
    /// ステータス of a record (RULES.md "Statuses").
    AppStatus {
        /// 申込受付: received, waiting for staff.
        Received = "received",
        /// 書類提出待ち: waiting for documents from the customer ("!", R-LS3).
        DocumentsPending = "documents_pending",
        /// 審査中: under review.
        UnderReview = "under_review",
        /// 完了: done (certificate issued for issuing kinds).
        Completed = "completed",
        /// 取消: withdrawn by the customer.
        Withdrawn = "withdrawn",
        /// 却下: rejected by staff, with a reason.
        Rejected = "rejected",
        /// 電話確認待ち: a revocation waiting for the phone confirmation.
        PhoneConfirmationPending = "phone_pending",
    }
}

impl AppStatus {
    /// Whether staff still have to act on the record.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AppStatus::Received
                | AppStatus::DocumentsPending
                | AppStatus::UnderReview
                | AppStatus::PhoneConfirmationPending
        )
    }
    /// Waiting for staff to begin the review (申込受付, 書類提出待ち): the record may
    /// still be withdrawn, asked for documents, or taken under review.
    pub fn awaits_review(self) -> bool {
        matches!(self, AppStatus::Received | AppStatus::DocumentsPending)
    }
    /// R-A5 申請取消: only an application that is not done yet can be withdrawn.
    pub fn allows_withdrawal(self) -> bool {
        self.awaits_review()
    }
    /// Staff may reject a record still open, except a revocation waiting for its phone
    /// call (which has outcomes of its own, R-V4).
    pub fn allows_rejection(self) -> bool {
        self.is_open() && self != AppStatus::PhoneConfirmationPending
    }
    /// Withdrawn or rejected: the record never took effect.
    pub fn is_void(self) -> bool {
        matches!(self, AppStatus::Withdrawn | AppStatus::Rejected)
    }
    /// R-D2: downloads only while the status is 完了.
    pub fn allows_download(self) -> bool {
        self == AppStatus::Completed
    }
}

coded_enum! {
    /// サーバタイプ: the web server the certificate is for (R-N1, R-LS5).
    ServerType {
        /// Apache HTTP Server
        Apache = "apache",
        /// nginx
        Nginx = "nginx",
        /// Microsoft IIS
        Iis = "iis",
        /// A load balancer or appliance
        Appliance = "appliance",
        /// Anything else
        Other = "other",
    }
}

/// A contract term in years (R-S1: "1年").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Term(u8);

impl Term {
    /// Terms offered to customers.
    pub const OFFERED: &'static [Term] = &[Term(1), Term(2), Term(3)];
    /// A term of `years`, if offered.
    pub fn years(years: u8) -> Option<Term> {
        Term::OFFERED.iter().copied().find(|t| t.0 == years)
    }
    /// The number of years.
    pub fn in_years(self) -> u8 {
        self.0
    }
}

/// 契約コード: "B" and 7 digits, given once the contract is established (R-A2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContractCode(String);

impl ContractCode {
    /// Builds a code from a number below 10^7.
    pub fn from_number(n: u32) -> Option<ContractCode> {
        (n < 10_000_000).then(|| ContractCode(format!("B{n:07}")))
    }
    /// The code of the `n`-th contract (n ≥ 1): a bijection of 0..10^7, so codes are
    /// unique without a retry loop, and do not reveal how many contracts exist.
    pub fn for_sequence(n: i64) -> Option<ContractCode> {
        const M: i64 = 10_000_000;
        if !(1..M).contains(&n) {
            return None;
        }
        // 7_654_321 is coprime with 10^7, so multiplication permutes the residues.
        let v = (n * 7_654_321 + 1_234_567) % M;
        ContractCode::from_number(u32::try_from(v).ok()?)
    }
    /// Parses and checks a code.
    pub fn parse(s: &str) -> Option<ContractCode> {
        let digits = s.strip_prefix('B')?;
        (digits.len() == 7 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| ContractCode(s.to_owned()))
    }
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ContractCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in AppStatus::ALL {
            assert_eq!(AppStatus::from_code(s.code()), Some(*s));
        }
        for s in Service::ALL {
            assert_eq!(Service::from_code(s.code()), Some(*s));
        }
        assert_eq!(AppKind::from_code("nonsense"), None);
    }

    /// R-A2: "B" and 7 digits.
    #[test]
    fn r_a2_contract_code_shape() {
        assert_eq!(
            ContractCode::from_number(499311).map(|c| c.0),
            Some("B0499311".into())
        );
        assert!(ContractCode::from_number(10_000_000).is_none());
        assert!(ContractCode::parse("B0499311").is_some());
        assert!(ContractCode::parse("B049931").is_none());
        assert!(ContractCode::parse("C0499311").is_none());
        assert!(ContractCode::parse("B04993x1").is_none());
    }

    #[test]
    fn r_a2_contract_codes_unique_for_sequence() {
        let mut seen = std::collections::HashSet::new();
        for n in 1..20_000 {
            let c = ContractCode::for_sequence(n)
                .map(|c| c.0)
                .unwrap_or_default();
            assert!(ContractCode::parse(&c).is_some());
            assert!(seen.insert(c));
        }
        assert!(ContractCode::for_sequence(0).is_none());
    }

    /// R-D2: download only when 完了.
    #[test]
    fn r_d2_download_only_when_completed() {
        for s in AppStatus::ALL {
            assert_eq!(s.allows_download(), *s == AppStatus::Completed);
        }
    }
}

#[cfg(test)]
mod sql_list_tests {
    use super::{AppKind, AppStatus};

    /// The SQL lists the store builds from the predicates.
    #[test]
    fn sql_lists_follow_the_predicates() {
        assert_eq!(
            AppStatus::sql_list(AppStatus::is_open),
            "('received', 'documents_pending', 'under_review', 'phone_pending')"
        );
        assert_eq!(
            AppStatus::sql_list(AppStatus::awaits_review),
            "('received', 'documents_pending')"
        );
        assert_eq!(
            AppStatus::sql_list(AppStatus::allows_rejection),
            "('received', 'documents_pending', 'under_review')"
        );
        assert_eq!(
            AppStatus::sql_list(AppStatus::is_void),
            "('withdrawn', 'rejected')"
        );
        assert_eq!(
            AppKind::sql_list(AppKind::issues_certificate),
            "('new', 'renewal', 'reissue', 'continuation', 'switch', 'acme')"
        );
        assert_eq!(
            AppKind::sql_list(AppKind::portal_certificate),
            "('new', 'renewal', 'reissue', 'continuation', 'switch')"
        );
    }
}
