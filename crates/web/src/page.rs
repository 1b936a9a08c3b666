//! What every page shows (header, menu, language switch) and form field views.

use crate::i18n::Tr;
use crate::session::Ctx;
use shomei_ra::field_issue::FieldIssue;

/// The frame of every page.
#[derive(Debug, Clone)]
pub struct Page {
    /// The translator.
    pub t: Tr,
    /// `portal`, `desk` or `public`.
    pub area: &'static str,
    /// The session's CSRF token ("" when logged out).
    pub csrf: String,
    /// Whether logged in (shows the menu and logout).
    pub logged_in: bool,
    /// Whether the menu is usable (not while the initial password must be changed).
    pub menu: bool,
    /// The path, for the language switch.
    pub path: String,
    /// The page title's message key.
    pub title: &'static str,
}

impl Page {
    /// A page for this request.
    pub fn new(ctx: &Ctx, area: &'static str, title: &'static str) -> Page {
        Page {
            t: ctx.tr,
            area,
            csrf: ctx
                .session
                .as_ref()
                .map(|s| s.csrf_token.clone())
                .unwrap_or_default(),
            logged_in: ctx.session.is_some(),
            menu: ctx.session.is_some(),
            path: ctx.path.clone(),
            title,
        }
    }
    /// Without the menu (forced password change).
    pub fn without_menu(mut self) -> Page {
        self.menu = false;
        self
    }
    /// The other language's code.
    pub fn other_lang(&self) -> &'static str {
        self.t.lang.other().code()
    }
    /// This page's language code.
    pub fn lang(&self) -> &'static str {
        self.t.lang.code()
    }
}

/// One form control with its label, value and error.
#[derive(Debug, Clone)]
pub struct FieldView {
    /// The control's name (and id).
    pub name: &'static str,
    /// Its visible label.
    pub label: &'static str,
    /// A hint under the label ("" for none).
    pub hint: &'static str,
    /// The current value.
    pub value: String,
    /// The error message ("" for none).
    pub error: String,
    /// `text`, `email`, `tel`, `select`, `textarea`.
    pub input: &'static str,
    /// Whether required.
    pub required: bool,
    /// Choices for a select: (value, label, selected).
    pub options: Vec<(String, String, bool)>,
    /// Maximum length (0 for none).
    pub maxlength: usize,
}

impl FieldView {
    /// The value as a confirmation or detail page shows it: a choice's label, or the text.
    pub fn shown(&self) -> String {
        if self.input == "select" {
            self.options
                .iter()
                .find(|o| o.2)
                .map(|o| o.1.clone())
                .unwrap_or_default()
        } else {
            self.value.clone()
        }
    }
}

/// A group of fields.
#[derive(Debug, Clone)]
pub struct Fieldset {
    /// The legend.
    pub legend: &'static str,
    /// The fields.
    pub fields: Vec<FieldView>,
}

/// Translates field issues; looked up by field name.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    /// Translates issues.
    pub fn from_issues(t: Tr, issues: &[FieldIssue]) -> Errors {
        Errors(
            issues
                .iter()
                .map(|i| {
                    let msg = match &i.detail {
                        Some(d) => t.t1(i.key, d),
                        None => t.t(i.key).to_owned(),
                    };
                    (i.field.to_owned(), msg)
                })
                .collect(),
        )
    }
    /// The message for a field, "" if none.
    pub fn msg(&self, field: &str) -> String {
        self.0
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
    /// Whether there is any error.
    pub fn any(&self) -> bool {
        !self.0.is_empty()
    }
}

/// Formats Unix seconds as `YYYY/MM/DD` in JST, as the manual's lists do.
pub fn date(ts: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ts)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+9));
    format!("{:04}/{:02}/{:02}", t.year(), u8::from(t.month()), t.day())
}

/// Formats Unix seconds as `YYYY/MM/DD HH:MM:SS JST`.
pub fn datetime(ts: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ts)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+9));
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02} JST",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
