//! Hydra collections in API Platform 3.4's `hydra:`-prefixed form, with partial-collection views
//! and the search template.

use serde::Serialize;
use url::form_urlencoded;

use super::OrgoError;

/// Items per page unless asked, and the most a client may ask for.
pub const DEFAULT_ITEMS_PER_PAGE: u64 = 30;
pub const MAX_ITEMS_PER_PAGE: u64 = 100;

/// Paging asked for in a query string.
#[derive(Debug, Clone, PartialEq)]
pub struct Paging {
    pub page: u64,
    pub per_page: u64,
    /// `page` was in the query string.
    pub page_requested: bool,
    /// The query's other parameters, in order, for the view's links.
    pub others: Vec<(String, String)>,
}

impl Paging {
    /// Reads `page`, `itemsPerPage` and `pagination` (which may not be disabled) as PHP and API
    /// Platform read them: a parameter given twice keeps its last value, and numbers are PHP's
    /// `(int)` of the text ([`php_int`]).
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, OrgoError> {
        let mut paging = Paging {
            page: 1,
            per_page: DEFAULT_ITEMS_PER_PAGE,
            page_requested: false,
            others: Vec::new(),
        };
        let (mut page, mut per_page, mut pagination) = (None, None, None);
        for (k, v) in pairs {
            match k.as_str() {
                "page" => page = Some(v),
                "itemsPerPage" | "pagination" => {
                    if k == "itemsPerPage" {
                        per_page = Some(v);
                    } else {
                        pagination = Some(v);
                    }
                    // The links name it once, with its last value, where it was first given.
                    match paging.others.iter_mut().find(|(o, _)| o == k) {
                        Some((_, old)) => old.clone_from(v),
                        None => paging.others.push((k.clone(), v.clone())),
                    }
                }
                _ => paging.others.push((k.clone(), v.clone())),
            }
        }
        if let Some(v) = page {
            let n = php_int(v);
            if n < 1 {
                return Err(OrgoError::bad_request("Page should not be less than 1"));
            }
            paging.page = n as u64;
            paging.page_requested = true;
        }
        if let Some(v) = per_page {
            let n = php_int(v);
            if n < 0 {
                return Err(OrgoError::bad_request(
                    "Item per page parameter should not be less than 0",
                ));
            }
            if n == 0 {
                return Err(OrgoError::bad_request(
                    "Item per page parameter should not be less than 1",
                ));
            }
            paging.per_page = (n as u64).min(MAX_ITEMS_PER_PAGE);
        }
        if pagination.is_some_and(|v| matches!(v.as_str(), "false" | "0")) {
            return Err(OrgoError::bad_request(
                "Pagination cannot be disabled for this resource.",
            ));
        }
        Ok(paging)
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// PHP's `(int)` cast of a string (what API Platform's pagination applies to `page` and
/// `itemsPerPage`): leading whitespace, then the longest numeric prefix — an integer, or a decimal
/// number with a fraction or an exponent (`1e1` is 10, `2.9` is 2) — and nothing else counts; no
/// number is 0. An integer beyond 64 bits, or a decimal one, is read as a double and capped to the
/// 64-bit range (PHP's `zend_dval_to_lval_cap`); an infinite one (`1e999`) is 0.
fn php_int(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut end = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let sign = end;
    end = digits_from(end);
    let whole = end > sign;
    let mut decimal = false;
    if b.get(end) == Some(&b'.') {
        let after = digits_from(end + 1);
        if whole || after > end + 1 {
            decimal = true;
            end = after;
        }
    }
    if !whole && !decimal {
        return 0;
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let from = end + 1 + usize::from(matches!(b.get(end + 1), Some(b'+' | b'-')));
        let after = digits_from(from);
        if after > from {
            decimal = true;
            end = after;
        }
    }
    let number = &s[..end];
    if !decimal && let Ok(n) = number.parse::<i64>() {
        return n;
    }
    match number.parse::<f64>() {
        Ok(d) if d.is_finite() => d as i64,
        _ => 0,
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct View {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "hydra:first")]
    pub first: String,
    #[serde(rename = "hydra:last")]
    pub last: String,
    #[serde(rename = "hydra:previous", skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(rename = "hydra:next", skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Mapping {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub variable: &'static str,
    pub property: &'static str,
    pub required: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Search {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "hydra:template")]
    pub template: String,
    #[serde(rename = "hydra:variableRepresentation")]
    pub representation: &'static str,
    #[serde(rename = "hydra:mapping")]
    pub mapping: Vec<Mapping>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Collection<T> {
    #[serde(rename = "@context")]
    pub context: &'static str,
    #[serde(rename = "@id")]
    pub id: &'static str,
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "hydra:totalItems")]
    pub total: u64,
    #[serde(rename = "hydra:member")]
    pub member: Vec<T>,
    #[serde(rename = "hydra:view", skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    #[serde(rename = "hydra:search", skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
}

/// `path?others…&page=n` (the other parameters first, `page` last).
fn page_url(path: &str, others: &[(String, String)], page: u64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in others {
        q.append_pair(k, v);
    }
    q.append_pair("page", &page.to_string());
    format!("{path}?{}", q.finish())
}

/// The partial-collection view; `None` when everything fits on one page and no page was asked.
pub fn view(path: &str, paging: &Paging, total: u64) -> Option<View> {
    let last = total.div_ceil(paging.per_page).max(1);
    if last == 1 && !paging.page_requested {
        return None;
    }
    Some(View {
        id: page_url(path, &paging.others, paging.page),
        kind: "hydra:PartialCollectionView",
        first: page_url(path, &paging.others, 1),
        last: page_url(path, &paging.others, last),
        // API Platform's PartialCollectionViewNormalizer: `current - 1` whenever the current page
        // is not the first, also past the end.
        previous: (paging.page > 1).then(|| page_url(path, &paging.others, paging.page - 1)),
        next: (paging.page < last).then(|| page_url(path, &paging.others, paging.page + 1)),
    })
}

/// The search template of the users collection: its filters and order parameters.
pub fn users_search() -> Search {
    let vars: [(&'static str, &'static str); 10] = [
        ("email", "email"),
        ("firstName", "firstName"),
        ("lastName", "lastName"),
        ("keyword", "keyword"),
        ("roles", "roles"),
        ("status", "status"),
        ("order[firstName]", "firstName"),
        ("order[lastName]", "lastName"),
        ("order[email]", "email"),
        ("order[id]", "id"),
    ];
    Search {
        kind: "hydra:IriTemplate",
        template: format!(
            "/api/v1/users{{?{}}}",
            vars.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(",")
        ),
        representation: "BasicRepresentation",
        mapping: vars
            .iter()
            .map(|(variable, property)| Mapping {
                kind: "IriTemplateMapping",
                variable,
                property,
                required: false,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(q: &str) -> Paging {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(q.as_bytes()).into_owned().collect();
        Paging::from_query(&pairs).unwrap()
    }

    #[test]
    fn views() {
        assert!(
            view("/api/v1/users", &paging(""), 30).is_none(),
            "one page, none asked"
        );
        let v = view("/api/v1/users", &paging("page=1"), 0).unwrap();
        assert_eq!(
            (v.first.as_str(), v.last.as_str()),
            ("/api/v1/users?page=1", "/api/v1/users?page=1")
        );
        assert!(v.previous.is_none() && v.next.is_none());
        let v = view(
            "/api/v1/users",
            &paging("email=a&page=2&itemsPerPage=10"),
            45,
        )
        .unwrap();
        assert_eq!(v.id, "/api/v1/users?email=a&itemsPerPage=10&page=2");
        assert_eq!(v.last, "/api/v1/users?email=a&itemsPerPage=10&page=5");
        assert_eq!(
            v.previous.as_deref(),
            Some("/api/v1/users?email=a&itemsPerPage=10&page=1")
        );
        assert_eq!(
            v.next.as_deref(),
            Some("/api/v1/users?email=a&itemsPerPage=10&page=3")
        );
        let v = view("/api/v1/users", &paging("order[id]=desc"), 31).unwrap();
        assert_eq!(v.id, "/api/v1/users?order%5Bid%5D=desc&page=1");
        assert_eq!(paging("itemsPerPage=500").per_page, 100);
        // Past the end, `previous` is the page before the asked one, not the last page.
        let v = view("/api/v1/users", &paging("page=5"), 3).unwrap();
        assert_eq!(v.last, "/api/v1/users?page=1");
        assert_eq!(v.previous.as_deref(), Some("/api/v1/users?page=4"));
        assert!(v.next.is_none());
        let pairs = vec![("pagination".to_owned(), "false".to_owned())];
        assert!(Paging::from_query(&pairs).is_err());
    }

    /// `page` and `itemsPerPage` are PHP's `(int)` of their last value.
    #[test]
    fn page_is_read_as_php_reads_it() {
        assert_eq!(php_int("7"), 7);
        assert_eq!(php_int("1e1"), 10);
        assert_eq!(php_int("1.5e3"), 1500);
        assert_eq!(php_int("5e-1"), 0);
        assert_eq!(php_int("2.9"), 2);
        assert_eq!(php_int(".5"), 0);
        assert_eq!(php_int("3."), 3);
        assert_eq!(php_int("4e"), 4);
        assert_eq!(php_int("4e+"), 4);
        assert_eq!(php_int("-.5e1"), -5);
        assert_eq!(php_int("1e999"), 0);
        assert_eq!(php_int("1e30"), i64::MAX);
        assert_eq!(php_int("."), 0);
        assert_eq!(php_int("+"), 0);
        assert_eq!(php_int("9223372036854775807"), i64::MAX);
        assert_eq!(php_int("-9223372036854775808"), i64::MIN);
        assert_eq!(php_int(" 12abc"), 12);
        assert_eq!(php_int("+3"), 3);
        assert_eq!(php_int("-4"), -4);
        assert_eq!(php_int("abc"), 0);
        assert_eq!(php_int(""), 0);
        assert_eq!(php_int("99999999999999999999"), i64::MAX);
        assert_eq!(php_int("-99999999999999999999"), i64::MIN);
        let p = paging("page=99999999999999999999");
        assert_eq!(p.page, i64::MAX as u64);
        assert_eq!(p.offset(), u64::MAX);
        let pairs = vec![("page".to_owned(), "-99999999999999999999".to_owned())];
        assert!(Paging::from_query(&pairs).is_err());
        let pairs = vec![("page".to_owned(), "x".to_owned())];
        assert!(Paging::from_query(&pairs).is_err());
        // The last of a repeated parameter counts; the links name it once.
        let p = paging("page=0&page=2&itemsPerPage=abc&email=a&itemsPerPage=10abc");
        assert_eq!((p.page, p.per_page), (2, 10));
        assert_eq!(
            p.others,
            [
                ("itemsPerPage".to_owned(), "10abc".to_owned()),
                ("email".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(paging("page=1e1").page, 10);
        let pairs = vec![("page".to_owned(), "5e-1".to_owned())];
        assert!(Paging::from_query(&pairs).is_err());
    }

    /// A number too large for 64 bits is capped like any too large value (PHP's `(int)`
    /// saturates); too small is negative.
    #[test]
    fn items_per_page_overflow() {
        assert_eq!(paging("itemsPerPage=99999999999999999999").per_page, 100);
        assert_eq!(
            paging("itemsPerPage=99999999999999999999").others,
            [("itemsPerPage".to_owned(), "99999999999999999999".to_owned())]
        );
        let pairs = vec![(
            "itemsPerPage".to_owned(),
            "-99999999999999999999".to_owned(),
        )];
        assert!(Paging::from_query(&pairs).is_err());
        let pairs = vec![("itemsPerPage".to_owned(), "many".to_owned())];
        assert!(Paging::from_query(&pairs).is_err());
    }
}
