//! Hydra collections in API Platform 3.4's `hydra:`-prefixed form, with partial-collection views
//! and the search template.

use std::num::IntErrorKind;

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
    /// Reads `page`, `itemsPerPage` and `pagination` (which may not be disabled).
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, OrgoError> {
        let mut paging = Paging {
            page: 1,
            per_page: DEFAULT_ITEMS_PER_PAGE,
            page_requested: false,
            others: Vec::new(),
        };
        for (k, v) in pairs {
            match k.as_str() {
                "page" => {
                    // PHP's `(int)`: leading digits count, none is 0, too many saturate.
                    let n = php_int(v);
                    if n < 1 {
                        return Err(OrgoError::bad_request("Page should not be less than 1"));
                    }
                    paging.page = n as u64;
                    paging.page_requested = true;
                }
                "itemsPerPage" => {
                    // PHP's `(int)` saturates: a number too large for 64 bits is just too large
                    // (capped below), one too small is negative.
                    let n: i64 =
                        v.parse()
                            .or_else(|e: std::num::ParseIntError| match e.kind() {
                                IntErrorKind::PosOverflow => Ok(i64::MAX),
                                IntErrorKind::NegOverflow => Ok(i64::MIN),
                                _ => Err(OrgoError::bad_request(
                                    "Item per page parameter should not be less than 0",
                                )),
                            })?;
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
                    paging.others.push((k.clone(), v.clone()));
                }
                "pagination" => {
                    if matches!(v.as_str(), "false" | "0") {
                        return Err(OrgoError::bad_request(
                            "Pagination cannot be disabled for this resource.",
                        ));
                    }
                    paging.others.push((k.clone(), v.clone()));
                }
                _ => paging.others.push((k.clone(), v.clone())),
            }
        }
        Ok(paging)
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.per_page)
    }
}

/// PHP's `(int)` cast of a string: leading whitespace, a sign and the digits that follow; no
/// digits is 0; a number beyond 64 bits saturates.
fn php_int(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        let d = i64::from(b - b'0');
        n = match n.checked_mul(10).and_then(|n| {
            if negative {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        }) {
            Some(n) => n,
            None => return if negative { i64::MIN } else { i64::MAX },
        };
    }
    n
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

    /// A number too large for 64 bits is capped like any too large value (PHP's `(int)`
    /// saturates); too small is negative.
    #[test]
    fn page_is_read_as_php_reads_it() {
        assert_eq!(php_int("7"), 7);
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
    }

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
