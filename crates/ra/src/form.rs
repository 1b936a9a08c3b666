//! The text fields of the application and contact-change forms, by name. Both forms
//! are flat (one string per input, kept in the draft as typed); the contacts of R-AI1
//! repeat the same parts under a prefix (`reg_name`, `tech_email`, …). The field list
//! is written once, in the `text_form!` macro, which makes the struct and lets the pages and
//! the checks reach every field by its name.

use crate::field_issue::FieldIssue;
use shomei_model::details::{Contact, Contacts};
use shomei_model::validate::{self, FieldError};

/// A form whose text fields can be read and written by their input names.
pub trait TextFields {
    /// Every text field's name, in the order of the form.
    const TEXT_FIELDS: &'static [&'static str];
    /// The value of the field `name`, if the form has it.
    fn text(&self, name: &str) -> Option<&str>;
    /// The slot of the field `name`, if the form has it.
    fn text_mut(&mut self, name: &str) -> Option<&mut String>;
}

/// Defines a form struct: its other fields first, then after `;` its text fields (each
/// a `String`), with [`TextFields`] over the text fields.
macro_rules! text_form {
    // `..contacts` at the end of the text fields stands for the four contact blocks of
    // R-AI1 (their fields named `{prefix}_{part}` after CONTACTS and CONTACT_PARTS).
    (
        $(#[$sm:meta])*
        pub struct $name:ident {
            $( $(#[$om:meta])* pub $of:ident : $ot:ty, )*
            ;
            $( $(#[$fm:meta])* $f:ident, )*
            ..contacts
        }
    ) => {
        $crate::form::text_form! {
            $(#[$sm])*
            pub struct $name {
                $( $(#[$om])* pub $of: $ot, )*
                ;
                $( $(#[$fm])* $f, )*
                /// 登録担当者 氏名
                reg_name,
                /// 登録担当者 部署
                reg_dept,
                /// 登録担当者 E-mail
                reg_email,
                /// 登録担当者 電話番号
                reg_phone,
                /// 登録担当者 FAX番号 (optional)
                reg_fax,
                /// 登録担当者 郵便番号 (optional)
                reg_postal,
                /// 登録担当者 住所 (optional)
                reg_address,
                /// 登録担当者 更新のご案内メール: `yes`, `no` or empty (no)
                reg_renewal_mail,
                /// 技術担当者 氏名
                tech_name,
                /// 技術担当者 部署
                tech_dept,
                /// 技術担当者 E-mail
                tech_email,
                /// 技術担当者 電話番号
                tech_phone,
                /// 技術担当者 FAX番号 (optional)
                tech_fax,
                /// 技術担当者 郵便番号 (optional)
                tech_postal,
                /// 技術担当者 住所 (optional)
                tech_address,
                /// 技術担当者 更新のご案内メール: `yes`, `no` or empty (no)
                tech_renewal_mail,
                /// 事務担当者 氏名
                admin_name,
                /// 事務担当者 部署
                admin_dept,
                /// 事務担当者 E-mail
                admin_email,
                /// 事務担当者 電話番号
                admin_phone,
                /// 事務担当者 FAX番号 (optional)
                admin_fax,
                /// 事務担当者 郵便番号 (optional)
                admin_postal,
                /// 事務担当者 住所 (optional)
                admin_address,
                /// 事務担当者 更新のご案内メール: `yes`, `no` or empty (no)
                admin_renewal_mail,
                /// 契約責任者 (A-3 contracts; the block is optional) 氏名
                officer_name,
                /// 契約責任者 (A-3 contracts; the block is optional) 部署
                officer_dept,
                /// 契約責任者 (A-3 contracts; the block is optional) E-mail
                officer_email,
                /// 契約責任者 (A-3 contracts; the block is optional) 電話番号
                officer_phone,
                /// 契約責任者 (A-3 contracts; the block is optional) FAX番号 (optional)
                officer_fax,
                /// 契約責任者 (A-3 contracts; the block is optional) 郵便番号 (optional)
                officer_postal,
                /// 契約責任者 (A-3 contracts; the block is optional) 住所 (optional)
                officer_address,
                /// 契約責任者 (A-3 contracts; the block is optional) 更新のご案内メール: `yes`, `no` or empty (no)
                officer_renewal_mail,
            }
        }
    };
    (
        $(#[$sm:meta])*
        pub struct $name:ident {
            $( $(#[$om:meta])* pub $of:ident : $ot:ty, )*
            ;
            $( $(#[$fm:meta])* $f:ident, )*
        }
    ) => {
        $(#[$sm])*
        pub struct $name {
            $( $(#[$om])* pub $of: $ot, )*
            $( $(#[$fm])* pub $f: String, )*
        }
        impl $crate::form::TextFields for $name {
            const TEXT_FIELDS: &'static [&'static str] = &[$(stringify!($f)),*];
            fn text(&self, name: &str) -> Option<&str> {
                match name {
                    $( stringify!($f) => Some(&self.$f), )*
                    _ => None,
                }
            }
            fn text_mut(&mut self, name: &str) -> Option<&mut String> {
                match name {
                    $( stringify!($f) => Some(&mut self.$f), )*
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use text_form;

/// One contact block of R-AI1: its prefix in the forms, its prefix in account
/// information, its legend's message key, and whether the block may be left empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    /// The forms' prefix: `reg`, `tech`, `admin`, `officer`.
    pub prefix: &'static str,
    /// Account information's prefix: `registrant`, `technical`, …
    pub info: &'static str,
    /// The legend's message key.
    pub legend: &'static str,
    /// Only A-3 contracts have a 契約責任者: the block is optional.
    pub optional: bool,
}

/// The contacts in the order of the form: 登録担当者, 技術担当者, 事務担当者, 契約責任者.
pub const CONTACTS: [Who; 4] = [
    Who {
        prefix: "reg",
        info: "registrant",
        legend: "contact.registrant",
        optional: false,
    },
    Who {
        prefix: "tech",
        info: "technical",
        legend: "contact.technical",
        optional: false,
    },
    Who {
        prefix: "admin",
        info: "administrative",
        legend: "contact.administrative",
        optional: false,
    },
    Who {
        prefix: "officer",
        info: "officer",
        legend: "contact.officer",
        optional: true,
    },
];

/// The parts of one contact, as the suffixes of its fields' names; account information
/// names them the same way.
pub const CONTACT_PARTS: [&str; 8] = [
    "name",
    "dept",
    "email",
    "phone",
    "fax",
    "postal",
    "address",
    "renewal_mail",
];

/// The input name `{prefix}_{part}` as a static string ("" if no form has it).
pub fn field_name(prefix: &str, part: &str) -> &'static str {
    let name = format!("{prefix}_{part}");
    <crate::apply::ApplicationForm as TextFields>::TEXT_FIELDS
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("")
}

/// The value of `{prefix}_{part}` ("" if the form has no such field).
pub fn part<'a, F: TextFields>(f: &'a F, prefix: &str, part: &str) -> &'a str {
    f.text(&format!("{prefix}_{part}")).unwrap_or("")
}

/// The form value of a 更新のご案内メール choice.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

/// Writes a contact into the form's fields under `prefix`.
pub fn put_contact<F: TextFields>(f: &mut F, prefix: &str, c: &Contact) {
    for (p, v) in [
        ("name", &c.name),
        ("dept", &c.department),
        ("email", &c.email),
        ("phone", &c.phone),
        ("fax", &c.fax),
        ("postal", &c.postal),
        ("address", &c.address),
        ("renewal_mail", &yes_no(c.renewal_mail)),
    ] {
        if let Some(slot) = f.text_mut(&format!("{prefix}_{p}")) {
            slot.clone_from(v);
        }
    }
}

/// Writes every contact of `c` into the form's contact fields.
pub fn put_contacts<F: TextFields>(f: &mut F, c: &Contacts) {
    for (who, contact) in CONTACTS.iter().zip([
        Some(&c.registrant),
        Some(&c.technical),
        Some(&c.administrative),
        c.officer.as_ref(),
    ]) {
        if let Some(contact) = contact {
            put_contact(f, who.prefix, contact);
        }
    }
}

/// Copies every text field the two forms share from `from` into `to`.
pub fn copy_shared<A: TextFields, B: TextFields>(from: &A, to: &mut B) {
    for name in A::TEXT_FIELDS {
        if let (Some(v), Some(slot)) = (from.text(name), to.text_mut(name)) {
            slot.clear();
            slot.push_str(v);
        }
    }
}

/// Adds one field's problem to `issues` and gives "" in its place.
pub(crate) fn field_value(
    issues: &mut Vec<FieldIssue>,
    name: &'static str,
    r: std::result::Result<String, FieldError>,
) -> String {
    r.unwrap_or_else(|e| {
        issues.push(FieldIssue::of_error(name, e));
        String::new()
    })
}

/// Checks one contact block (R-AI1, R-AI2): name, e-mail and phone required, 部署,
/// FAX, 郵便番号 and 住所 optional, 更新のご案内メール `yes`, `no` or empty (no).
/// An optional block left wholly empty is `None`.
pub fn check_contact<F: TextFields>(
    f: &F,
    who: Who,
    issues: &mut Vec<FieldIssue>,
) -> Option<Contact> {
    let p = who.prefix;
    let v = |part_name: &str| part(f, p, part_name);
    if who.optional
        && CONTACT_PARTS
            .iter()
            .all(|x| matches!(v(x).trim(), "" | "no"))
    {
        return None;
    }
    let mut field = |part_name: &str, r| field_value(issues, field_name(p, part_name), r);
    let renewal_mail = match v("renewal_mail") {
        "yes" => true,
        "no" | "" => false,
        _ => {
            field("renewal_mail", Err(FieldError::Choice));
            false
        }
    };
    Some(Contact {
        name: field("name", validate::required_text(v("name"), 64)),
        department: field(
            "dept",
            validate::optional(v("dept"), |x| validate::required_text(x, 64)),
        ),
        email: field("email", validate::email(v("email"))),
        phone: field("phone", validate::phone(v("phone"))),
        renewal_mail,
        fax: field("fax", validate::optional(v("fax"), validate::phone)),
        address: field(
            "address",
            validate::optional(v("address"), |x| validate::full_width(x, 200)),
        ),
        postal: field(
            "postal",
            validate::optional(v("postal"), validate::postal_code),
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::apply::{ApplicationForm, check_form};
    use crate::contacts::check_contacts;

    fn issues_of(f: &ApplicationForm) -> Vec<(&'static str, &'static str)> {
        check_contacts(f)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|i| (i.field, i.key))
            .collect()
    }

    /// R-AI1: the 契約責任者 block (A-3 contracts) may be left empty; once begun, it
    /// needs its name, e-mail and phone as the other contacts do.
    #[test]
    fn r_ai1_officer_block_is_optional_but_whole() {
        let mut f = crate::testing::sr30_form("");
        let c = check_contacts(&f).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.officer, None);
        f.officer_renewal_mail = "no".into();
        assert_eq!(check_contacts(&f).map(|c| c.officer), Ok(None));
        f.officer_name = "責任 五郎".into();
        assert_eq!(
            issues_of(&f),
            vec![
                ("officer_email", "err.required"),
                ("officer_phone", "err.required")
            ]
        );
        f.officer_email = "goro@example.jp".into();
        f.officer_phone = "03-5555-0000".into();
        f.officer_dept = "総務部".into();
        let c = check_contacts(&f).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.all().count(), 4);
        let officer = c.officer.unwrap_or_default();
        assert_eq!(
            (officer.name.as_str(), officer.department.as_str()),
            ("責任 五郎", "総務部")
        );
    }

    /// Issue #8 item 20: 部署 is optional and bounded on every contact.
    #[test]
    fn issue8_item20_department_checked() {
        let mut f = crate::testing::sr30_form("");
        f.tech_dept = "部".repeat(65);
        assert_eq!(issues_of(&f), vec![("tech_dept", "err.too_long")]);
    }

    /// Issue #8 item 20: the OV form's 登記番号, 現住所 and its 郵便番号 are checked
    /// and normalised as account information's are (R-AI2).
    #[test]
    fn issue8_item20_registration_number_and_current_address() {
        let keys = shomei_ca::KeyPolicy::default();
        let mut f = crate::testing::sr30_form("");
        f.org_registration_number = "12345".into();
        f.org_current_postal = "150-00431".into();
        f.org_current_address = "Shibuya".into();
        let got: Vec<&str> = check_form(&f, &keys)
            .err()
            .unwrap_or_default()
            .iter()
            .map(|i| i.field)
            .collect();
        for field in [
            "org_registration_number",
            "org_current_postal",
            "org_current_address",
        ] {
            assert!(got.contains(&field), "{field} refused: {got:?}");
        }
    }

    /// Records and drafts stored before these fields existed still read.
    #[test]
    fn older_details_still_read() {
        let json = r#"{"organisation":{"name":"O","country":"JP","state":"S","locality":"L"},
            "contacts":{"registrant":{"name":"a","email":"a@x.jp","phone":"1"},
            "technical":{"name":"b","email":"b@x.jp","phone":"2"},
            "administrative":{"name":"c","email":"c@x.jp","phone":"3"}},"ev":null}"#;
        let d: shomei_model::details::ApplicationDetails =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.contacts.officer, None);
        assert_eq!(d.contacts.technical.department, "");
        let form: ApplicationForm = serde_json::from_str(r#"{"service":"SR3.0","reg_name":"a"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (form.reg_name.as_str(), form.officer_name.as_str()),
            ("a", "")
        );
    }
}
