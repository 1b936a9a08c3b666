//! Field validation shared by every form. Errors carry a message key (rendered by the
//! web layer in Japanese or English) and never the value itself.

use thiserror::Error;

/// Why a field was refused. `key()` is the message key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FieldError {
    /// The field is required and empty.
    #[error("required")]
    Required,
    /// The field is longer than allowed.
    #[error("too long (max {0})")]
    TooLong(usize),
    /// The field holds control characters.
    #[error("control characters")]
    ControlChars,
    /// Not an e-mail address.
    #[error("invalid e-mail")]
    Email,
    /// Not a phone number.
    #[error("invalid phone")]
    Phone,
    /// Not a `NNN-NNNN` postal code.
    #[error("invalid postal code")]
    PostalCode,
    /// Not a registration number of the expected shape.
    #[error("invalid registration number")]
    RegistrationNumber,
    /// Not a two-letter country code.
    #[error("invalid country")]
    Country,
    /// Not one of the offered choices.
    #[error("invalid choice")]
    Choice,
    /// Must be full-width (全角).
    #[error("not full-width")]
    FullWidth,
    /// Must be full-width katakana (全角カタカナ).
    #[error("not full-width katakana")]
    Katakana,
    /// Not a 登記番号 of the form `xxxx-xx-xxxxxx`.
    #[error("invalid commercial registration number")]
    CorporateNumber,
}

impl FieldError {
    /// The message key for the web layer.
    pub fn key(&self) -> &'static str {
        match self {
            FieldError::Required => "err.required",
            FieldError::TooLong(_) => "err.too_long",
            FieldError::ControlChars => "err.control_chars",
            FieldError::Email => "err.email",
            FieldError::Phone => "err.phone",
            FieldError::PostalCode => "err.postal_code",
            FieldError::RegistrationNumber => "err.registration_number",
            FieldError::Country => "err.country",
            FieldError::Choice => "err.choice",
            FieldError::FullWidth => "err.full_width",
            FieldError::Katakana => "err.katakana",
            FieldError::CorporateNumber => "err.corporate_number",
        }
    }
}

/// Trims and checks a required text field of at most `max` characters.
pub fn required_text(value: &str, max: usize) -> Result<String, FieldError> {
    let v = optional_text(value, max)?;
    if v.is_empty() {
        Err(FieldError::Required)
    } else {
        Ok(v)
    }
}

/// Trims and checks an optional text field of at most `max` characters.
pub fn optional_text(value: &str, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(FieldError::TooLong(max));
    }
    if v.chars().any(char::is_control) {
        return Err(FieldError::ControlChars);
    }
    Ok(v.to_owned())
}

/// A plausible e-mail address: one `@`, a non-empty local part, a dotted domain, ASCII.
pub fn email(value: &str) -> Result<String, FieldError> {
    let v = required_text(value, 254)?;
    let (local, domain) = v.rsplit_once('@').ok_or(FieldError::Email)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.bytes().all(|b| b.is_ascii_graphic() && b != b'@');
    if domain_ok && local_ok {
        Ok(v)
    } else {
        Err(FieldError::Email)
    }
}

/// A phone number: digits with optional hyphens and a leading `+`, 10 to 15 digits.
pub fn phone(value: &str) -> Result<String, FieldError> {
    let v = required_text(&normalise(value), 20)?;
    let body = v.strip_prefix('+').unwrap_or(&v);
    let digits = body.bytes().filter(u8::is_ascii_digit).count();
    let ok = body.bytes().all(|b| b.is_ascii_digit() || b == b'-') && (10..=15).contains(&digits);
    if ok { Ok(v) } else { Err(FieldError::Phone) }
}

/// A Japanese postal code, `NNN-NNNN` (R-AI2).
pub fn postal_code(value: &str) -> Result<String, FieldError> {
    // Issue #8 item 13: full-width digits, a leading 〒 and seven digits without the
    // hyphen are accepted and written as NNN-NNNN.
    let n = normalise(value);
    let n = n.trim().trim_start_matches('〒').trim();
    let n = if n.len() == 7 && n.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}", &n[..3], &n[3..])
    } else {
        n.to_owned()
    };
    let v = required_text(&n, 8).map_err(|e| match e {
        FieldError::TooLong(_) => FieldError::PostalCode,
        other => other,
    })?;
    let b = v.as_bytes();
    let ok = b.len() == 8
        && b[3] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 3 || c.is_ascii_digit());
    if ok {
        Ok(v)
    } else {
        Err(FieldError::PostalCode)
    }
}

/// An ISO 3166-1 alpha-2 country code (issue #8 item 1): full-width letters and lower
/// case are normalised (ｊｐ → JP); anything not in ISO 3166-1 is refused ("JA", "UK").
pub fn country(value: &str) -> Result<String, FieldError> {
    let v = normalise(value).to_ascii_uppercase();
    let v = required_text(&v, 2).map_err(|e| match e {
        FieldError::TooLong(_) => FieldError::Country,
        other => other,
    })?;
    if crate::countries::is_code(&v) {
        Ok(v)
    } else {
        Err(FieldError::Country)
    }
}

/// Half-width katakana in their full-width form (issue #8 item 13): ﾃﾞﾓ → デモ, voiced
/// marks joined; everything else as it is (half-width letters in a 全角 field are still
/// refused: the customer decides how a Latin name is written).
pub fn to_full_width(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let mut out = String::with_capacity(value.len());
    let mut kana = String::new();
    let flush = |kana: &mut String, out: &mut String| {
        out.extend(kana.nfkc());
        kana.clear();
    };
    for c in value.trim().chars() {
        match c {
            '\u{FF61}'..='\u{FF9F}' => kana.push(c),
            _ => {
                flush(&mut kana, &mut out);
                out.push(c);
            }
        }
    }
    flush(&mut kana, &mut out);
    out
}

/// NFKC (issue #8 item 1): half-width katakana become full-width (ﾃﾞﾓ → デモ), full-width
/// ASCII becomes ASCII (ＡＢＣ１ → ABC1), compatibility characters their plain form.
/// Everything that goes into a certificate's subject passes through this first, so
/// what the customer confirms is what the certificate carries.
pub fn normalise(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    value.nfkc().collect()
}

/// Whether text is already in the form [`normalise`] gives (NFKC).
pub fn is_normalised(value: &str) -> bool {
    unicode_normalization::is_nfkc(value)
}

/// A required text that goes into a certificate: normalised, then checked.
pub fn subject_text(value: &str, max: usize) -> Result<String, FieldError> {
    required_text(&normalise(value), max)
}

/// An optional text that goes into a certificate: normalised, then checked.
pub fn optional_subject_text(value: &str, max: usize) -> Result<String, FieldError> {
    optional_text(&normalise(value), max)
}

/// A company registration number (登記番号): half-width digits with optional hyphens,
/// e.g. `xxxx-xx-xxxxxx` (R-AI2) or the 13-digit corporate number.
pub fn registration_number(value: &str) -> Result<String, FieldError> {
    let v = required_text(&normalise(value), 20)?;
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let ok = v.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        && (6..=13).contains(&digits)
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(v)
    } else {
        Err(FieldError::RegistrationNumber)
    }
}

/// Why a new password was refused (R-P1; CA-RULES "The portal").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// Shorter than 12 characters.
    #[error("too short")]
    TooShort,
    /// Longer than 128 characters.
    #[error("too long")]
    TooLong,
    /// The two entries differ.
    #[error("mismatch")]
    Mismatch,
    /// Equal to or containing the access key or login name.
    #[error("contains the login id")]
    ContainsLogin,
    /// Same as the current password.
    #[error("same as the old one")]
    SameAsOld,
    /// Only one kind of character, or one character repeated.
    #[error("too simple")]
    TooSimple,
}

impl PasswordError {
    /// The message key for the web layer.
    pub fn key(&self) -> &'static str {
        match self {
            PasswordError::TooShort => "err.pw_short",
            PasswordError::TooLong => "err.pw_long",
            PasswordError::Mismatch => "err.pw_mismatch",
            PasswordError::ContainsLogin => "err.pw_login",
            PasswordError::SameAsOld => "err.pw_same",
            PasswordError::TooSimple => "err.pw_simple",
        }
    }
}

/// The password policy: 12 to 128 characters, both entries equal, not containing the
/// login id, not the old password, more than one distinct character.
/// `same_as_old` is decided by the caller, who holds the old hash.
pub fn new_password(
    password: &str,
    confirm: &str,
    login_id: &str,
    same_as_old: bool,
) -> Result<(), PasswordError> {
    if password != confirm {
        return Err(PasswordError::Mismatch);
    }
    let n = password.chars().count();
    if n < 12 {
        return Err(PasswordError::TooShort);
    }
    if n > 128 {
        return Err(PasswordError::TooLong);
    }
    if !login_id.is_empty() && password.to_lowercase().contains(&login_id.to_lowercase()) {
        return Err(PasswordError::ContainsLogin);
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 5 {
        return Err(PasswordError::TooSimple);
    }
    if same_as_old {
        return Err(PasswordError::SameAsOld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields() {
        assert_eq!(required_text("  a ", 3), Ok("a".into()));
        assert_eq!(required_text("   ", 3), Err(FieldError::Required));
        assert_eq!(
            required_text("テスト株式会社", 5),
            Err(FieldError::TooLong(5))
        );
        assert_eq!(optional_text("a\u{0}b", 5), Err(FieldError::ControlChars));
    }

    #[test]
    fn formats() {
        assert!(email("ops@example.jp").is_ok());
        assert!(email("ops@localhost").is_err());
        assert!(email("no-at.example.jp").is_err());
        assert!(phone("03-1234-5678").is_ok());
        assert!(phone("+81-3-1234-5678").is_ok());
        assert!(phone("12-34").is_err());
        assert!(postal_code("150-0001").is_ok());
        assert_eq!(postal_code("1500001").ok().as_deref(), Some("150-0001"));
        assert!(country("jp").is_ok());
        assert!(country("JPN").is_err());
        // Issue #8 item 1: only ISO 3166-1 codes; full-width normalised.
        assert_eq!(country("ｊｐ").ok().as_deref(), Some("JP"));
        assert!(country("Ja").is_err() && country("UK").is_err() && country("ZZ").is_err());
        assert_eq!(
            subject_text("ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ", 64).ok().as_deref(),
            Some("デモカブシキガイシャ")
        );
        assert_eq!(
            subject_text("ＡＢＣ株式会社", 64).ok().as_deref(),
            Some("ABC株式会社")
        );
        assert!(!is_normalised("ﾃﾞﾓ") && is_normalised("デモ"));
        // Issue #8 item 13.
        assert_eq!(postal_code("1500041").ok().as_deref(), Some("150-0041"));
        assert_eq!(
            postal_code("〒１５０－００４１").ok().as_deref(),
            Some("150-0041")
        );
        assert!(postal_code("150004").is_err());
        assert_eq!(
            katakana("ﾃﾞﾓｶﾌﾞｼｷｶﾞｲｼｬ", 64).ok().as_deref(),
            Some("デモカブシキガイシャ")
        );
        assert_eq!(
            katakana("でもかぶしきがいしゃ", 64).ok().as_deref(),
            Some("デモカブシキガイシャ")
        );
        assert_eq!(
            full_width("ﾃﾞﾓ株式会社", 64).ok().as_deref(),
            Some("デモ株式会社")
        );
        assert_eq!(full_width("ﾃﾞﾓ Co.", 64), Err(FieldError::FullWidth));
        assert_eq!(
            corporate_number("０１１００１０１２３４５").ok().as_deref(),
            Some("0110-01-012345")
        );
        assert_eq!(
            phone("０３－１２３４－５６７８").ok().as_deref(),
            Some("03-1234-5678")
        );
        assert_eq!(
            registration_number("０１１０-０１-０１２３４５")
                .ok()
                .as_deref(),
            Some("0110-01-012345")
        );
        assert!(registration_number("0100-01-012345").is_ok());
        assert!(registration_number("abc").is_err());
    }

    /// R-P1: the password policy.
    #[test]
    fn r_p1_password_policy() {
        let ok = "correct horse battery";
        assert_eq!(new_password(ok, ok, "AB12CD34", false), Ok(()));
        assert_eq!(
            new_password(ok, "other", "AB12CD34", false),
            Err(PasswordError::Mismatch)
        );
        assert_eq!(
            new_password("short", "short", "x", false),
            Err(PasswordError::TooShort)
        );
        let with_key = "xxAB12CD34yyzz";
        assert_eq!(
            new_password(with_key, with_key, "ab12cd34", false),
            Err(PasswordError::ContainsLogin)
        );
        assert_eq!(
            new_password("aaaaaaaaaaaaaa", "aaaaaaaaaaaaaa", "k", false),
            Err(PasswordError::TooSimple)
        );
        assert_eq!(
            new_password(ok, ok, "AB12CD34", true),
            Err(PasswordError::SameAsOld)
        );
    }
}

/// An optional field: empty is fine (""), anything else must pass `check` (R-AI3).
pub fn optional(
    value: &str,
    check: impl Fn(&str) -> Result<String, FieldError>,
) -> Result<String, FieldError> {
    if value.trim().is_empty() {
        Ok(String::new())
    } else {
        check(value)
    }
}

/// Whether `c` is half-width: ASCII, or half-width katakana and symbols (U+FF61–U+FF9F).
fn half_width(c: char) -> bool {
    c.is_ascii() || ('\u{FF61}'..='\u{FF9F}').contains(&c)
}

/// 全角: at most `max` characters, none half-width (R-AI2 法人名, 住所).
pub fn full_width(value: &str, max: usize) -> Result<String, FieldError> {
    let v = required_text(&to_full_width(value), max)?;
    if v.chars().any(half_width) {
        return Err(FieldError::FullWidth);
    }
    Ok(v)
}

/// 全角カタカナ: katakana, the long vowel mark, the middle dot and the full-width space.
pub fn katakana(value: &str, max: usize) -> Result<String, FieldError> {
    // Half-width katakana and hiragana are written in full-width katakana (item 13).
    let v: String = to_full_width(value)
        .chars()
        .map(|c| match c {
            'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect();
    let v = required_text(&v, max)?;
    let ok = v
        .chars()
        .all(|c| ('\u{30A1}'..='\u{30FA}').contains(&c) || matches!(c, 'ー' | '・' | '\u{3000}'));
    if ok { Ok(v) } else { Err(FieldError::Katakana) }
}

/// 登記番号: `xxxx-xx-xxxxxx`, half-width digits (R-AI2).
pub fn corporate_number(value: &str) -> Result<String, FieldError> {
    // Full-width digits and twelve digits without hyphens are accepted (item 13).
    let n = normalise(value);
    let n = n.trim();
    let n = if n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()) {
        format!("{}-{}-{}", &n[..4], &n[4..6], &n[6..])
    } else {
        n.to_owned()
    };
    let v = required_text(&n, 14)?;
    let b = v.as_bytes();
    let ok = b.len() == 14
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if ok {
        Ok(v)
    } else {
        Err(FieldError::CorporateNumber)
    }
}

#[cfg(test)]
mod account_info_tests {
    use super::*;

    #[test]
    fn full_width_and_katakana() {
        assert!(full_width("テスト株式会社", 100).is_ok());
        assert_eq!(full_width("テストCo.", 100), Err(FieldError::FullWidth));
        assert_eq!(
            full_width("ﾃｽﾄ", 100).ok().as_deref(),
            Some("テスト"),
            "half-width katakana"
        );
        assert!(katakana("テストカブシキガイシャ", 100).is_ok());
        assert!(katakana("テスト　カブシキガイシャ・ー", 100).is_ok());
        assert_eq!(katakana("てすと", 100).ok().as_deref(), Some("テスト"));
        assert_eq!(katakana("ﾃｽﾄ", 100).ok().as_deref(), Some("テスト"));
        assert_eq!(katakana("テスト株式会社", 100), Err(FieldError::Katakana));
    }

    #[test]
    fn corporate_numbers() {
        assert!(corporate_number("0110-01-012345").is_ok());
        assert_eq!(
            corporate_number("011001012345").ok().as_deref(),
            Some("0110-01-012345")
        );
        assert_eq!(
            corporate_number("０１１０-01-012345").ok().as_deref(),
            Some("0110-01-012345")
        );
        for bad in ["0110-01-01234", "0110-01-01234a", "01100101234"] {
            assert_eq!(
                corporate_number(bad),
                Err(FieldError::CorporateNumber),
                "{bad}"
            );
        }
        assert_eq!(optional("", corporate_number), Ok(String::new()));
    }
}
