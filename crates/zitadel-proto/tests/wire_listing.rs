//! Checks the compiled descriptors against the wire listing (tests/fixtures/zitadel-wire.txt, a copy
//! of /work/shared/spec/zitadel-wire.txt): every message and enum listed there must exist with
//! exactly the listed fields (name, number, type, label, oneof, declaration order) and values, every
//! `rpc` line must match the service's method types, and the service must declare every call of
//! the REST mapping section, in that order and nothing else.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

use std::collections::BTreeMap;

use buffa::Message;
use buffa_descriptor::generated::descriptor::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorSet, field_descriptor_proto::Label,
    field_descriptor_proto::Type,
};

const LISTING: &str = include_str!("fixtures/zitadel-wire.txt");

fn scalar_name(t: Type) -> &'static str {
    match t {
        Type::TYPE_DOUBLE => "double",
        Type::TYPE_FLOAT => "float",
        Type::TYPE_INT64 => "int64",
        Type::TYPE_UINT64 => "uint64",
        Type::TYPE_INT32 => "int32",
        Type::TYPE_FIXED64 => "fixed64",
        Type::TYPE_FIXED32 => "fixed32",
        Type::TYPE_BOOL => "bool",
        Type::TYPE_STRING => "string",
        Type::TYPE_BYTES => "bytes",
        Type::TYPE_UINT32 => "uint32",
        Type::TYPE_SFIXED32 => "sfixed32",
        Type::TYPE_SFIXED64 => "sfixed64",
        Type::TYPE_SINT32 => "sint32",
        Type::TYPE_SINT64 => "sint64",
        other => panic!("unexpected field type {other:?}"),
    }
}

/// Renders a message's fields the way the listing does, one string per field.
fn render_message(m: &DescriptorProto) -> Vec<String> {
    m.field
        .iter()
        .map(|f| {
            let proto3_optional = f.proto3_optional.unwrap_or(false);
            let label = if proto3_optional {
                "optional ".to_owned()
            } else if f.label == Some(Label::LABEL_REPEATED) {
                "repeated ".to_owned()
            } else if let Some(i) = f.oneof_index {
                let oneof = m.oneof_decl[usize::try_from(i).unwrap()]
                    .name
                    .clone()
                    .unwrap();
                format!("oneof {oneof}: ")
            } else {
                String::new()
            };
            let ty = match f.r#type.unwrap() {
                Type::TYPE_MESSAGE | Type::TYPE_ENUM => f
                    .type_name
                    .as_deref()
                    .unwrap()
                    .trim_start_matches('.')
                    .to_owned(),
                scalar => scalar_name(scalar).to_owned(),
            };
            format!(
                "{label}{ty} {} = {};",
                f.name.as_deref().unwrap(),
                f.number.unwrap()
            )
        })
        .collect()
}

fn render_enum(e: &EnumDescriptorProto) -> Vec<String> {
    e.value
        .iter()
        .map(|v| format!("{}={}", v.name.as_deref().unwrap(), v.number.unwrap()))
        .collect()
}

struct Compiled {
    messages: BTreeMap<String, Vec<String>>,
    enums: BTreeMap<String, Vec<String>>,
    /// (method name, input type, output type) of zitadel.user.v2.UserService, in order.
    methods: Vec<(String, String, String)>,
}

fn compiled() -> Compiled {
    let set = FileDescriptorSet::decode_from_slice(usher_zitadel_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    let mut out = Compiled {
        messages: BTreeMap::new(),
        enums: BTreeMap::new(),
        methods: vec![],
    };
    for file in &set.file {
        let package = file.package.clone().unwrap_or_default();
        for m in &file.message_type {
            assert!(
                m.nested_type.is_empty() && m.enum_type.is_empty(),
                "no nested types expected"
            );
            out.messages.insert(
                format!("{package}.{}", m.name.as_deref().unwrap()),
                render_message(m),
            );
        }
        for e in &file.enum_type {
            out.enums.insert(
                format!("{package}.{}", e.name.as_deref().unwrap()),
                render_enum(e),
            );
        }
        for s in &file.service {
            assert_eq!(
                format!("{package}.{}", s.name.as_deref().unwrap()),
                "zitadel.user.v2.UserService"
            );
            for m in &s.method {
                out.methods.push((
                    m.name.clone().unwrap(),
                    m.input_type
                        .as_deref()
                        .unwrap()
                        .trim_start_matches('.')
                        .to_owned(),
                    m.output_type
                        .as_deref()
                        .unwrap()
                        .trim_start_matches('.')
                        .to_owned(),
                ));
            }
        }
    }
    out
}

#[test]
fn every_listed_message_and_enum_matches_exactly() {
    let compiled = compiled();
    let mut lines = LISTING.lines().map(str::trim);
    let (mut n_messages, mut n_enums) = (0, 0);
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("message ") {
            let (name, body) = rest.split_once(" {").unwrap();
            let fields: Vec<String> = if body.trim().is_empty() {
                // Multi-line block up to the closing brace.
                lines
                    .by_ref()
                    .take_while(|l| *l != "}")
                    .map(str::to_owned)
                    .collect()
            } else {
                // One-line form: `message X { a = 1; b = 2; }   (note)`.
                let inner = body.split_once('}').unwrap().0;
                inner
                    .split(';')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(|f| format!("{f};"))
                    .collect()
            };
            let got = compiled
                .messages
                .get(name)
                .unwrap_or_else(|| panic!("message {name} missing"));
            assert_eq!(got, &fields, "message {name}");
            n_messages += 1;
        } else if let Some(rest) = line.strip_prefix("enum ") {
            let (name, body) = rest.split_once(" {").unwrap();
            let values: Vec<String> = body
                .trim_end_matches('}')
                .split(';')
                .map(|v| v.trim().replace(' ', ""))
                .filter(|v| !v.is_empty())
                .collect();
            let got = compiled
                .enums
                .get(name)
                .unwrap_or_else(|| panic!("enum {name} missing"));
            assert_eq!(got, &values, "enum {name}");
            n_enums += 1;
        } else if let Some(rest) = line.strip_prefix("rpc ") {
            let (method, rest) = rest.split_once('(').unwrap();
            let (input, rest) = rest.split_once(')').unwrap();
            let output = rest
                .trim()
                .trim_start_matches("returns (")
                .trim_end_matches(')');
            let got = compiled
                .methods
                .iter()
                .find(|m| m.0 == method)
                .unwrap_or_else(|| panic!("rpc {method} missing"));
            assert_eq!(
                (got.1.as_str(), got.2.as_str()),
                (input, output),
                "rpc {method}"
            );
        }
    }
    // Guards against the parser silently skipping the listing.
    assert_eq!(n_messages, 89);
    assert_eq!(n_enums, 7);
}

#[test]
fn service_declares_every_call_of_the_rest_mapping_in_order() {
    let compiled = compiled();
    let mapping: Vec<&str> = LISTING
        .lines()
        .skip_while(|l| !l.starts_with("# REST mapping"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(mapping.len(), 58);
    let declared: Vec<&str> = compiled.methods.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(declared, mapping);
    // Calls usher does not serve use field-less placeholders named after the call.
    for (method, input, output) in &compiled.methods {
        assert_eq!(input, &format!("zitadel.user.v2.{method}Request"));
        assert_eq!(output, &format!("zitadel.user.v2.{method}Response"));
    }
}
