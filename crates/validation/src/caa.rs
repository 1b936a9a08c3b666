//! CAA evaluation (RFC 8659 4, with RFC 8657's `accounturi` and `validationmethods`;
//! BR 3.2.2.8): whether the relevant record set lets this CA issue.

/// One CAA record, as far as issuance cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaaRecord {
    /// The issuer critical flag.
    pub critical: bool,
    /// The property tag, lower case.
    pub tag: String,
    /// For `issue` and `issuewild`: the value, or `None` if it does not parse (such a
    /// record grants nothing).
    pub issue: Option<IssueValue>,
}

/// The value of an `issue` or `issuewild` property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueValue {
    /// The issuer domain name; `None` for `";"` (no CA may issue).
    pub issuer: Option<String>,
    /// The parameters (tag, value).
    pub params: Vec<(String, String)>,
}

impl CaaRecord {
    pub(crate) fn from_hickory(c: &hickory_resolver::proto::rr::rdata::CAA) -> CaaRecord {
        let tag = c.tag.to_ascii_lowercase();
        let issue = if tag == "issue" || tag == "issuewild" {
            c.value_as_issue().ok().map(|(name, kv)| IssueValue {
                issuer: name.map(|n| crate::normal(&n.to_ascii())),
                params: kv
                    .iter()
                    .map(|p| (p.key().to_ascii_lowercase(), p.value().to_owned()))
                    .collect(),
            })
        } else {
            None
        };
        CaaRecord {
            critical: c.issuer_critical,
            tag,
            issue,
        }
    }

    /// An `issue` record for `issuer` with parameters (tests and examples).
    pub fn issue(tag: &str, issuer: Option<&str>, params: &[(&str, &str)]) -> CaaRecord {
        CaaRecord {
            critical: false,
            tag: tag.into(),
            issue: Some(IssueValue {
                issuer: issuer.map(crate::normal),
                params: params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            }),
        }
    }
}

const KNOWN: &[&str] = &["issue", "issuewild", "iodef"];

/// Whether `records` (the relevant RRset) permit issuance by a CA known by one of
/// `identities`, for a wildcard or not, to `account_uri` by `method`. `Err` says why not.
pub fn permits(
    records: &[CaaRecord],
    identities: &[String],
    wildcard: bool,
    account_uri: Option<&str>,
    method: &str,
) -> Result<(), String> {
    if let Some(r) = records
        .iter()
        .find(|r| r.critical && !KNOWN.contains(&r.tag.as_str()))
    {
        return Err(format!(
            "a critical property this CA does not know: {}",
            r.tag
        ));
    }
    let wild: Vec<&CaaRecord> = records.iter().filter(|r| r.tag == "issuewild").collect();
    let plain: Vec<&CaaRecord> = records.iter().filter(|r| r.tag == "issue").collect();
    let (set, tag) = if wildcard && !wild.is_empty() {
        (wild, "issuewild")
    } else {
        (plain, "issue")
    };
    if set.is_empty() {
        return Ok(());
    }
    let mut why = format!("no {tag} record names this CA");
    for r in set {
        let Some(v) = &r.issue else { continue };
        let Some(issuer) = &v.issuer else { continue };
        if !identities.iter().any(|i| crate::normal(i) == *issuer) {
            continue;
        }
        let param = |k: &str| v.params.iter().find(|(pk, _)| pk == k).map(|(_, pv)| pv);
        if let Some(want) = param("accounturi")
            && Some(want.as_str()) != account_uri
        {
            why = format!("the {tag} record for this CA is limited to another account");
            continue;
        }
        if let Some(list) = param("validationmethods")
            && !list.split(',').any(|m| m.trim() == method)
        {
            why = format!("the {tag} record for this CA does not allow the method {method}");
            continue;
        }
        return Ok(());
    }
    Err(why)
}
