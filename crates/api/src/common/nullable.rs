//! A JSON field that can be absent, `null`, or a value — the three states a partial update needs.

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Nullable<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only called when the key is present (use with `#[serde(default)]`).
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Nullable::Value(v),
            None => Nullable::Null,
        })
    }
}

impl<T> Nullable<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, Nullable::Absent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        a: Nullable<String>,
    }

    #[test]
    fn three_states() {
        let b: Body = serde_json::from_str("{}").unwrap();
        assert_eq!(b.a, Nullable::Absent);
        let b: Body = serde_json::from_str(r#"{"a": null}"#).unwrap();
        assert_eq!(b.a, Nullable::Null);
        let b: Body = serde_json::from_str(r#"{"a": "x"}"#).unwrap();
        assert_eq!(b.a, Nullable::Value("x".to_owned()));
        assert!(serde_json::from_str::<Body>(r#"{"a": 1}"#).is_err());
    }
}
