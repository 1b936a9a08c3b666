//! One problem with one form field, as every front end shows it: the field's name, the
//! message key that says what is wrong, and a name or number the message is about.

use shomei_model::validate::FieldError;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    /// The form field's name.
    pub field: &'static str,
    /// The message key.
    pub key: &'static str,
    /// A name or number the message is about.
    pub detail: Option<String>,
}

/// Input checked: the value, or every problem found at once.
pub type Checked<T> = std::result::Result<T, Vec<FieldIssue>>;

impl FieldIssue {
    /// The problem `key` with `field`.
    pub fn new(field: &'static str, key: &'static str) -> FieldIssue {
        FieldIssue {
            field,
            key,
            detail: None,
        }
    }

    /// The problem `key` with `field`, about `detail`.
    pub fn with_detail(
        field: &'static str,
        key: &'static str,
        detail: Option<String>,
    ) -> FieldIssue {
        FieldIssue { field, key, detail }
    }

    /// A field check's error (a length limit carries its number).
    pub fn of_error(field: &'static str, e: FieldError) -> FieldIssue {
        FieldIssue {
            field,
            key: e.key(),
            detail: match e {
                FieldError::TooLong(n) => Some(n.to_string()),
                _ => None,
            },
        }
    }

    /// Input refused for this one problem.
    pub fn refuse<T>(field: &'static str, key: &'static str) -> Checked<T> {
        Err(vec![FieldIssue::new(field, key)])
    }
}
