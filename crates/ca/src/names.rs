//! Which DNS names a public TLS certificate may carry (BR 3.2.2.6, 4.2.2, 7.1.2.7.12).

use crate::CsrError;
use std::net::IpAddr;

/// Checks one name and returns it in its canonical (lower-case) form.
///
/// Refused: IP addresses, single labels, names outside the public suffix list
/// (internal names such as `intranet.local`), public suffixes themselves,
/// reverse-DNS zones, non-LDH labels, a wildcard anywhere but as the whole leftmost
/// label or directly on a public suffix, and non-ASCII (IDNs must be in A-label form).
pub fn check_dns_name(raw: &str) -> Result<String, CsrError> {
    let name = raw.trim().to_ascii_lowercase();
    let shown = || name.clone();
    if name.is_empty() {
        return Err(CsrError::InvalidName(shown()));
    }
    if name.parse::<IpAddr>().is_ok() || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return Err(CsrError::IpAddress(shown()));
    }
    if !name.is_ascii() {
        return Err(CsrError::NotAscii(shown()));
    }
    if name.ends_with('.') || name.len() > 253 {
        return Err(CsrError::InvalidName(shown()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 {
        return Err(CsrError::SingleLabel(shown()));
    }
    let (wildcard, rest) = match labels.split_first() {
        Some((&"*", rest)) => (true, rest),
        _ => (false, &labels[..]),
    };
    for label in rest {
        if !is_ldh_label(label) {
            return Err(CsrError::InvalidName(shown()));
        }
        check_label_form(label).map_err(|e| e(shown()))?;
    }
    let base = rest.join(".");
    if base.ends_with(".in-addr.arpa") || base.ends_with(".ip6.arpa") || base == "in-addr.arpa" {
        return Err(CsrError::InternalName(shown()));
    }
    let suffix = psl::suffix(base.as_bytes()).ok_or_else(|| CsrError::InternalName(shown()))?;
    if !suffix.is_known() {
        return Err(CsrError::InternalName(shown()));
    }
    if suffix.as_bytes() == base.as_bytes() {
        // The name is a public suffix itself (or a wildcard directly on one).
        return Err(CsrError::PublicSuffix(shown()));
    }
    if rest.len() < 2 || (wildcard && rest.len() < 2) {
        return Err(CsrError::SingleLabel(shown()));
    }
    Ok(name)
}

/// RFC 5890 2.3.1: a label with `--` in positions 3–4 is reserved; only `xn--` labels
/// (A-labels) may have it, and an A-label must be the Punycode of a valid IDNA2008
/// U-label that encodes back to exactly the same A-label.
fn check_label_form(label: &str) -> Result<(), fn(String) -> CsrError> {
    if label.get(2..4) != Some("--") {
        return Ok(());
    }
    if !label.starts_with("xn--") {
        return Err(CsrError::ReservedLabel);
    }
    if is_valid_a_label(label) {
        Ok(())
    } else {
        Err(CsrError::InvalidIdn)
    }
}

/// Whether an `xn--` label decodes to a U-label that UTS 46 (non-transitional, STD3,
/// hyphens checked, bidi and joiner rules) accepts, that round-trips to the same
/// A-label, and whose code points are of the kinds IDNA2008 allows (letters, marks,
/// digits, the hyphen and the contextual characters) — the UTS 46 tables alone also
/// let through symbols IDNA2008 disallows (NV8).
fn is_valid_a_label(label: &str) -> bool {
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    let uts46 = Uts46::new();
    let (unicode, result) = uts46.to_unicode(label.as_bytes(), AsciiDenyList::STD3, Hyphens::Check);
    if result.is_err() || unicode.is_ascii() || unicode.contains('.') {
        return false;
    }
    let Ok(back) = uts46.to_ascii(
        unicode.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::Check,
        DnsLength::Verify,
    ) else {
        return false;
    };
    if back != label {
        return false;
    }
    unicode.chars().all(|c| {
        c.is_alphanumeric()
            || unicode_normalization::char::is_combining_mark(c)
            || matches!(
                c,
                '-' | '\u{00B7}'
                    | '\u{0375}'
                    | '\u{05F3}'
                    | '\u{05F4}'
                    | '\u{30FB}'
                    | '\u{200C}'
                    | '\u{200D}'
            )
    })
}

/// A letter-digit-hyphen label of 1 to 63 characters, not starting or ending with `-`.
fn is_ldh_label(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_public_names() {
        for n in [
            "www.example.jp",
            "Example.CO.JP",
            "a.b.example.com",
            "*.example.jp",
            "xn--eckwd4c7c.xn--zckzah.jp",
            "xn--r8jz45g.jp",
            "www.xn--bcher-kva.example.com",
            "a-b--c.example.jp",
        ] {
            assert!(check_dns_name(n).is_ok(), "{n}");
        }
        assert_eq!(
            check_dns_name("WWW.Example.JP").ok(),
            Some("www.example.jp".into())
        );
    }

    #[test]
    fn refuses_non_public_names() {
        use CsrError as E;
        type Check = fn(&CsrError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("192.0.2.1", |e| matches!(e, E::IpAddress(_))),
            ("::1", |e| matches!(e, E::IpAddress(_))),
            ("localhost", |e| matches!(e, E::SingleLabel(_))),
            ("intranet.local", |e| matches!(e, E::InternalName(_))),
            ("server.corp", |e| matches!(e, E::InternalName(_))),
            ("co.jp", |e| matches!(e, E::PublicSuffix(_))),
            ("*.co.jp", |e| matches!(e, E::PublicSuffix(_))),
            ("www.*.example.jp", |e| matches!(e, E::InvalidName(_))),
            ("-bad.example.jp", |e| matches!(e, E::InvalidName(_))),
            ("under_score.example.jp", |e| matches!(e, E::InvalidName(_))),
            ("www.example.jp.", |e| matches!(e, E::InvalidName(_))),
            ("例え.jp", |e| matches!(e, E::NotAscii(_))),
            // Issue #7 item 2 (BR 7.1.2.7.12, RFC 5890): not Punycode, a reserved LDH
            // label, and an A-label of U+2488 (refused by IDNA2008).
            ("xn--zz.example.jp", |e| matches!(e, E::InvalidIdn(_))),
            ("ab--cd.example.jp", |e| matches!(e, E::ReservedLabel(_))),
            ("www.ab--cd.example.jp", |e| {
                matches!(e, E::ReservedLabel(_))
            }),
            ("xn--a-ecp.example.jp", |e| matches!(e, E::InvalidIdn(_))),
            ("xn--.example.jp", |e| matches!(e, E::InvalidName(_))),
            // A symbol (U+2603 snowman) is NV8: UTS 46 allows it, IDNA2008 does not.
            ("xn--n3h.example.jp", |e| matches!(e, E::InvalidIdn(_))),
            ("1.2.0.192.in-addr.arpa", |e| {
                matches!(e, E::InternalName(_))
            }),
        ];
        for (name, ok) in cases {
            match check_dns_name(name) {
                Err(e) => assert!(ok(&e), "{name}: unexpected {e:?}"),
                Ok(v) => panic!("{name} accepted as {v}"),
            }
        }
    }
}
