//! The translation catalogues: one TOML file per language, compiled into the binary.
//!
//! Nested tables become dotted keys (`[error] csrf = "…"` is `error.csrf`). A string may hold
//! `{placeholders}` (lower-case letters and `_`), filled by [`interpolate`]. A key missing in a
//! language falls back to English, and a key missing in English is shown as the key itself.

#[cfg(test)]
use std::collections::BTreeSet;
use std::collections::{BTreeMap, HashMap};

use usher_core::types::Language;

/// The source of each language's catalogue, in the order of [`Language::ALL`].
pub(crate) const SOURCES: [(Language, &str); 9] = [
    (Language::Ar, include_str!("../i18n/ar.toml")),
    (Language::De, include_str!("../i18n/de.toml")),
    (Language::En, include_str!("../i18n/en.toml")),
    (Language::Es, include_str!("../i18n/es.toml")),
    (Language::Fr, include_str!("../i18n/fr.toml")),
    (Language::It, include_str!("../i18n/it.toml")),
    (Language::Nl, include_str!("../i18n/nl.toml")),
    (Language::Pl, include_str!("../i18n/pl.toml")),
    (Language::Cs, include_str!("../i18n/cs.toml")),
];

/// All strings of all languages.
#[derive(Debug, Clone, Default)]
pub(crate) struct Catalog {
    strings: HashMap<Language, BTreeMap<String, String>>,
}

impl Catalog {
    /// Parses the embedded catalogues. A catalogue that does not parse is left empty (English
    /// then stands in for it) and reported in the returned list of problems.
    pub(crate) fn load() -> (Catalog, Vec<String>) {
        let mut catalog = Catalog::default();
        let mut problems = Vec::new();
        for (lang, source) in SOURCES {
            match parse(source) {
                Ok(map) => {
                    catalog.strings.insert(lang, map);
                }
                Err(e) => problems.push(format!("i18n/{lang}.toml: {e}")),
            }
        }
        (catalog, problems)
    }

    /// The string for `key` in `lang`, else in English.
    pub(crate) fn get(&self, lang: Language, key: &str) -> Option<&str> {
        self.strings
            .get(&lang)
            .and_then(|m| m.get(key))
            .or_else(|| self.strings.get(&Language::En).and_then(|m| m.get(key)))
            .map(String::as_str)
    }

    /// The string for `key` (see [`Catalog::get`]), or the key itself when no language has it.
    pub(crate) fn text(&self, lang: Language, key: &str) -> String {
        self.get(lang, key).unwrap_or(key).to_owned()
    }

    /// The keys of one language's own catalogue (no fallback).
    #[cfg(test)]
    pub(crate) fn keys(&self, lang: Language) -> BTreeSet<&str> {
        self.strings
            .get(&lang)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The string of one language's own catalogue (no fallback).
    #[cfg(test)]
    pub(crate) fn own(&self, lang: Language, key: &str) -> Option<&str> {
        self.strings
            .get(&lang)
            .and_then(|m| m.get(key))
            .map(String::as_str)
    }
}

fn parse(source: &str) -> Result<BTreeMap<String, String>, String> {
    let table: toml::Table = source.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = BTreeMap::new();
    flatten("", &table, &mut out)?;
    Ok(out)
}

fn flatten(
    prefix: &str,
    table: &toml::Table,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::String(s) => {
                out.insert(full, s.clone());
            }
            toml::Value::Table(t) => flatten(&full, t, out)?,
            _ => return Err(format!("{full}: only strings and tables are allowed")),
        }
    }
    Ok(())
}

fn is_placeholder_char(c: char) -> bool {
    c.is_ascii_lowercase() || c == '_'
}

/// Replaces each `{name}` in `text` by `value(name)`; a name without a value becomes empty.
/// Braces that do not enclose a placeholder name are kept as they are.
pub(crate) fn interpolate(text: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if close > 0 && after[..close].chars().all(is_placeholder_char) => {
                if let Some(v) = value(&after[..close]) {
                    out.push_str(&v);
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The placeholder names a string uses.
#[cfg(test)]
pub(crate) fn placeholders(text: &str) -> BTreeSet<String> {
    let names = std::cell::RefCell::new(BTreeSet::new());
    interpolate(text, |name| {
        names.borrow_mut().insert(name.to_owned());
        None
    });
    names.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let (catalog, problems) = Catalog::load();
        assert!(problems.is_empty(), "{problems:?}");
        catalog
    }

    #[test]
    fn every_language_has_exactly_the_english_keys() {
        let catalog = catalog();
        let english = catalog.keys(Language::En);
        assert!(english.len() > 50, "{}", english.len());
        for lang in Language::ALL {
            let keys = catalog.keys(lang);
            let missing: Vec<_> = english.difference(&keys).collect();
            let extra: Vec<_> = keys.difference(&english).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{lang}: missing {missing:?}, extra {extra:?}"
            );
        }
    }

    #[test]
    fn every_translation_keeps_the_english_placeholders() {
        let catalog = catalog();
        for key in catalog.keys(Language::En) {
            let english = placeholders(catalog.own(Language::En, key).unwrap_or_default());
            for lang in Language::ALL {
                let text = catalog.own(lang, key).unwrap_or_default();
                assert_eq!(placeholders(text), english, "{lang} {key}: {text}");
            }
        }
    }

    #[test]
    fn no_string_is_empty_or_padded() {
        let catalog = catalog();
        for lang in Language::ALL {
            for key in catalog.keys(lang) {
                let text = catalog.own(lang, key).unwrap_or_default();
                assert!(!text.trim().is_empty(), "{lang} {key}");
                assert_eq!(text.trim(), text, "{lang} {key}");
            }
        }
    }

    #[test]
    fn fallback_and_unknown_keys() {
        let mut catalog = catalog();
        if let Some(de) = catalog.strings.get_mut(&Language::De) {
            de.remove("error.csrf");
        }
        assert_eq!(
            catalog.text(Language::De, "error.csrf"),
            catalog.text(Language::En, "error.csrf")
        );
        assert_eq!(catalog.text(Language::De, "no.such.key"), "no.such.key");
        assert_eq!(
            catalog.text(Language::De, "error.password_mismatch"),
            "Die beiden Passwörter stimmen nicht überein."
        );
    }

    #[test]
    fn interpolation() {
        let v = |name: &str| (name == "name").then(|| "Anna".to_owned());
        assert_eq!(interpolate("Hello {name},", v), "Hello Anna,");
        assert_eq!(interpolate("{name}{name}", v), "AnnaAnna");
        assert_eq!(interpolate("a {other} b", v), "a  b");
        assert_eq!(interpolate("{ x } {} {Name} {", v), "{ x } {} {Name} {");
        assert_eq!(interpolate("plain", v), "plain");
        assert_eq!(
            placeholders("{a} and {b_c} but not {D}"),
            BTreeSet::from(["a".to_owned(), "b_c".to_owned()])
        );
    }

    #[test]
    fn bad_sources_are_reported() {
        assert!(parse("a = 1").is_err());
        assert!(parse("a = \"x").is_err());
        let map = parse("[x]\ny = \"z\"\n[x.w]\nv = \"u\"").unwrap_or_default();
        assert_eq!(map.get("x.y").map(String::as_str), Some("z"));
        assert_eq!(map.get("x.w.v").map(String::as_str), Some("u"));
    }
}
