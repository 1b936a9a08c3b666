//! Japanese (default) and English, from message files: no UI text in templates or
//! handlers, only keys.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 日本語 (default).
    Ja,
    /// English.
    En,
}

impl Lang {
    /// `ja` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
    /// Parses a code; anything else is Japanese.
    pub fn from_code(s: &str) -> Lang {
        if s == "en" { Lang::En } else { Lang::Ja }
    }
    /// The other language (for the switch link).
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

type Catalog = HashMap<String, String>;

fn load(src: &str) -> Catalog {
    toml::from_str::<Catalog>(src).unwrap_or_else(|e| {
        tracing::error!("message file does not parse: {e}");
        Catalog::new()
    })
}

fn catalogs() -> &'static (Catalog, Catalog) {
    static C: OnceLock<(Catalog, Catalog)> = OnceLock::new();
    C.get_or_init(|| {
        (
            load(include_str!("../messages/ja.toml")),
            load(include_str!("../messages/en.toml")),
        )
    })
}

/// The translator handed to every template.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    /// The language.
    pub lang: Lang,
}

impl Tr {
    /// The message for `key`; the Japanese one if English lacks it; a visible marker
    /// if both lack it (a test keeps both files complete).
    pub fn t(&self, key: &str) -> &'static str {
        let (ja, en) = catalogs();
        let primary = if self.lang == Lang::En { en } else { ja };
        primary
            .get(key)
            .or_else(|| ja.get(key))
            .map(String::as_str)
            .unwrap_or("[?]")
    }
    /// The message for `key` with `{}` replaced by `arg`.
    pub fn t1(&self, key: &str, arg: &str) -> String {
        self.t(key).replace("{}", arg)
    }
}

/// Every key of a language's catalog (tests).
pub fn keys(lang: Lang) -> Vec<String> {
    let (ja, en) = catalogs();
    let cat = if lang == Lang::En { en } else { ja };
    cat.keys().cloned().collect()
}
