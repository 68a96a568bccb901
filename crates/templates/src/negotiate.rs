//! Choosing the language of a page.

use usher_core::types::Language;

/// Picks the language for a page: the explicit one if given, else the best of an
/// `Accept-Language` header value (q-values honoured, region subtags ignored, so
/// `"fr-CH, fr;q=0.9, en;q=0.8"` gives French), else English.
///
/// Ranges with `q=0`, a malformed q-value, `*` or a language usher does not speak are skipped.
/// Among equal q-values the one listed first wins.
pub fn negotiate(explicit: Option<Language>, accept_language: Option<&str>) -> Language {
    if let Some(lang) = explicit {
        return lang;
    }
    accept_language.and_then(best_of).unwrap_or(Language::En)
}

fn best_of(header: &str) -> Option<Language> {
    let mut best: Option<(u16, Language)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let Some(lang) = Language::from_tag(tag) else {
            continue;
        };
        let mut quality = Some(1000);
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                quality = parse_quality(value.trim());
            }
        }
        let Some(quality) = quality.filter(|q| *q > 0) else {
            continue;
        };
        if best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// A q-value (`0`, `0.5`, `1.000` …) in thousandths; `None` when malformed.
fn parse_quality(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_wins() {
        assert_eq!(
            negotiate(Some(Language::Pl), Some("fr-CH, fr;q=0.9")),
            Language::Pl
        );
        assert_eq!(negotiate(Some(Language::Ar), None), Language::Ar);
    }

    #[test]
    fn header_cases() {
        let n = |h: &str| negotiate(None, Some(h));
        assert_eq!(
            n("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"),
            Language::Fr
        );
        assert_eq!(n("en;q=0.8, de"), Language::De);
        assert_eq!(n("pt-BR, pt;q=0.9, nl;q=0.4, en;q=0.3"), Language::Nl);
        assert_eq!(n("de;q=0, cs;q=0.1"), Language::Cs);
        assert_eq!(n("it;q=0.5, es;q=0.5"), Language::It);
        assert_eq!(n("AR-eg"), Language::Ar);
        assert_eq!(n("zh-Hant, ja;q=0.9"), Language::En);
        assert_eq!(n("*"), Language::En);
        assert_eq!(n(""), Language::En);
        assert_eq!(
            n("de;q=2, pl;q=abc, fr;q=0.0001, es ; Q = 0.25"),
            Language::Es
        );
        assert_eq!(n("cs_CZ"), Language::Cs);
        assert_eq!(negotiate(None, None), Language::En);
    }

    #[test]
    fn qualities() {
        assert_eq!(parse_quality("1"), Some(1000));
        assert_eq!(parse_quality("1.000"), Some(1000));
        assert_eq!(parse_quality("0.5"), Some(500));
        assert_eq!(parse_quality("0.05"), Some(50));
        assert_eq!(parse_quality("0"), Some(0));
        assert_eq!(parse_quality("0."), Some(0));
        assert_eq!(parse_quality("1.5"), None);
        assert_eq!(parse_quality("-1"), None);
        assert_eq!(parse_quality(""), None);
        assert_eq!(parse_quality("0.1234"), None);
    }
}
