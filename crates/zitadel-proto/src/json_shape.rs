//! The shape of a proto3 JSON request, checked against the descriptors before it is decoded.
//!
//! proto3 JSON writes a message as an object and a repeated field as an array. The serde derive
//! of the generated messages is more lenient than that: it would also read a message given as an
//! array, field by field in declaration order (`"profile": ["Ann", "Lee"]` as given name and
//! family name). [`shape_error`] finds such a value anywhere in a request, with the path to it,
//! so that the caller refuses the request as undecodable, as Zitadel's own decoder does.
//! Scalars, enums and well-known types (`google.protobuf.*`) are left to the decoder.

use std::collections::HashMap;
use std::sync::LazyLock;

use buffa::Message;
use buffa_descriptor::generated::descriptor::FileDescriptorSet;
use buffa_descriptor::generated::descriptor::field_descriptor_proto::{Label, Type};
use serde_json::Value;

use crate::FILE_DESCRIPTOR_SET;

struct Field {
    /// The proto name (`given_name`); its JSON name is the other key of the same field.
    name: String,
    repeated: bool,
    /// The full name of its message type, for message fields that are not well-known types.
    message: Option<String>,
}

#[derive(Default)]
struct Index {
    /// Message full name → its fields by JSON name and by proto name.
    messages: HashMap<String, HashMap<String, Field>>,
    /// `UserService` method name → the full name of its request message.
    inputs: HashMap<String, String>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    // The descriptor set is compiled in; a set that did not decode would check nothing.
    FileDescriptorSet::decode_from_slice(FILE_DESCRIPTOR_SET)
        .map(|set| index(&set))
        .unwrap_or_default()
});

fn index(set: &FileDescriptorSet) -> Index {
    let mut out = Index::default();
    for file in &set.file {
        let package = file.package.clone().unwrap_or_default();
        for m in &file.message_type {
            let mut fields = HashMap::new();
            for f in &m.field {
                let Some(name) = f.name.clone() else { continue };
                let message = match (f.r#type, f.type_name.as_deref()) {
                    (Some(Type::TYPE_MESSAGE), Some(t)) => {
                        let t = t.trim_start_matches('.');
                        (!t.starts_with("google.protobuf.")).then(|| t.to_owned())
                    }
                    _ => None,
                };
                let json_name = f.json_name.clone().unwrap_or_else(|| json_name(&name));
                let field = || Field {
                    name: name.clone(),
                    repeated: f.label == Some(Label::LABEL_REPEATED),
                    message: message.clone(),
                };
                fields.insert(json_name, field());
                fields.insert(name.clone(), field());
            }
            let Some(name) = m.name.as_deref() else {
                continue;
            };
            out.messages.insert(format!("{package}.{name}"), fields);
        }
        for s in &file.service {
            for m in &s.method {
                if let (Some(name), Some(input)) = (&m.name, &m.input_type) {
                    out.inputs
                        .insert(name.clone(), input.trim_start_matches('.').to_owned());
                }
            }
        }
    }
    out
}

/// protoc's JSON name of a field (what a descriptor without `json_name` means): `given_name` →
/// `givenName`.
pub fn json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The full name of the request message of the `UserService` call `method` (`AddHumanUser` →
/// `zitadel.user.v2.AddHumanUserRequest`).
pub fn input_type(method: &str) -> Option<&'static str> {
    INDEX.inputs.get(method).map(String::as_str)
}

/// Why the JSON text `json` cannot be the message `message` (a full name), when it or a message
/// in it is given as an array: `"profile: a message is a JSON object, not an array"`. `None`
/// otherwise, also when `json` is not JSON at all, a value has another wrong type, or the message
/// is unknown: the decoder refuses those by itself.
pub fn shape_error(message: &str, json: &[u8]) -> Option<String> {
    // An array needs a `[`: most requests are decided without parsing.
    if !json.contains(&b'[') {
        return None;
    }
    let value: Value = serde_json::from_slice(json).ok()?;
    let mut path = String::new();
    check_message(message, &value, &mut path)
}

fn check_message(message: &str, value: &Value, path: &mut String) -> Option<String> {
    let fields = INDEX.messages.get(message)?;
    let object = match value {
        Value::Object(o) => o,
        Value::Null => return None,
        Value::Array(_) => return Some(at(path, "a message is a JSON object, not an array")),
        // A scalar is no message to the decoder either.
        _ => return None,
    };
    for (key, v) in object {
        let Some(field) = fields.get(key) else {
            continue;
        };
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&json_name(&field.name));
        let error = if field.repeated {
            match v {
                Value::Array(items) => field.message.as_deref().and_then(|m| {
                    items.iter().enumerate().find_map(|(i, item)| {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        let e = check_message(m, item, path);
                        path.truncate(len);
                        e
                    })
                }),
                // Nor is anything else an array to it.
                _ => None,
            }
        } else {
            field
                .message
                .as_deref()
                .and_then(|m| check_message(m, v, path))
        };
        path.truncate(len);
        if error.is_some() {
            return error;
        }
    }
    None
}

fn at(path: &str, why: &str) -> String {
    if path.is_empty() {
        why.to_owned()
    } else {
        format!("{path}: {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD: &str = "zitadel.user.v2.AddHumanUserRequest";
    const LIST: &str = "zitadel.user.v2.ListUsersRequest";

    #[test]
    fn methods_name_their_requests() {
        assert_eq!(input_type("AddHumanUser"), Some(ADD));
        assert_eq!(input_type("ListUsers"), Some(LIST));
        assert_eq!(input_type("NoSuchCall"), None);
    }

    #[test]
    fn messages_given_as_arrays_are_found() {
        let err = |json: &str| shape_error(ADD, json.as_bytes());
        assert_eq!(err(r#"{"profile": {"givenName": "Ann"}}"#), None);
        assert_eq!(err(r#"{"profile": null, "metadata": []}"#), None);
        assert_eq!(
            err(r#"{"profile": ["Ann", "Lee"]}"#),
            Some("profile: a message is a JSON object, not an array".into())
        );
        // By proto name too, and the path uses the JSON name.
        assert_eq!(
            err(r#"{"email": {"send_code": ["x"]}}"#),
            Some("email.sendCode: a message is a JSON object, not an array".into())
        );
        assert_eq!(
            err(r#"{"metadata": [{"key": "k", "value": "dg=="}, ["k", "dg=="]]}"#),
            Some("metadata[1]: a message is a JSON object, not an array".into())
        );
        assert_eq!(
            err(r#"[{"profile": {}}]"#),
            Some("a message is a JSON object, not an array".into())
        );
        // Unknown members, scalars and well-known types are the decoder's.
        assert_eq!(err(r#"{"unknown": [1], "username": ["a"]}"#), None);
        assert_eq!(err("[not json"), None);
    }

    #[test]
    fn nested_queries_are_walked() {
        let err = |json: &str| shape_error(LIST, json.as_bytes());
        assert_eq!(
            err(
                r#"{"queries": [{"orQuery": {"queries": [{"userNameQuery": {"userName": "a"}}]}}]}"#
            ),
            None
        );
        assert_eq!(
            err(r#"{"queries": [{"orQuery": {"queries": [{"userNameQuery": ["a", 1]}]}}]}"#),
            Some(
                "queries[0].orQuery.queries[0].userNameQuery: a message is a JSON object, not an array"
                    .into()
            )
        );
        assert_eq!(
            err(r#"{"query": [2, 10, true]}"#),
            Some("query: a message is a JSON object, not an array".into())
        );
    }
}
