//! The Zitadel dialect's operations, generated rather than annotated:
//!
//! - **Schemas** come from the protobuf descriptors the service code is generated from
//!   (`usher_zitadel_proto::FILE_DESCRIPTOR_SET`), mapped to JSON Schema by the proto3 JSON rules
//!   (lowerCamelCase names, 64-bit integers as strings, enums by name, `Timestamp` as RFC 3339,
//!   every field optional); the `.proto` comments become descriptions. The generated buffa types
//!   are not `ToSchema`, and hand-written copies of ~60 messages would drift.
//! - **REST operations**: [`SERVED`] lists each served call's method, path and summary; the
//!   request body is the request message minus the path's `userId`, the answer the response
//!   message. Calls usher does not implement come from the gateway's own table
//!   (`zitadel::unserved_rest_calls`) and are documented as 501. Every path at the root is
//!   documented again under `/zitadel`, where the complete gateway lives (with the three calls
//!   Bold owns at the root: ListUsers, GetUserByID, DeleteUser).
//! - **Connect / gRPC / gRPC-Web**: one `POST /zitadel.user.v2.UserService/{method}` operation
//!   whose `method` parameter is the enum of the served calls.
//!
//! The route-coverage test (`openapi::tests`) holds this table to the router like the annotated
//! dialects.

use std::collections::{BTreeMap, BTreeSet};

use buffa_descriptor::generated::descriptor::field_descriptor_proto::{Label, Type};
use buffa_descriptor::generated::descriptor::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorProto, FileDescriptorSet,
};
use serde_json::{Map, Value, json};
use usher_zitadel_proto::buffa::Message;
use usher_zitadel_proto::json_shape::json_name;

use crate::zitadel::{REST_PREFIX, RPC_PATH, unserved_rest_calls};

/// A served call's REST mapping: method, path (relative to the gateway's root), call, summary,
/// and whether it lives at the root too (false: only under `/zitadel`, where Bold owns the root).
pub const SERVED: &[(&str, &str, &str, &str, bool)] = &[
    (
        "POST",
        "/v2/users/human",
        "AddHumanUser",
        "Create a human user",
        true,
    ),
    (
        "PUT",
        "/v2/users/human/{id}",
        "UpdateHumanUser",
        "Update a human user",
        true,
    ),
    ("POST", "/v2/users", "ListUsers", "Search users", false),
    ("GET", "/v2/users/{id}", "GetUserByID", "Get a user", false),
    (
        "DELETE",
        "/v2/users/{id}",
        "DeleteUser",
        "Delete a user",
        false,
    ),
    (
        "POST",
        "/v2/users/{id}/email",
        "SetEmail",
        "Change the email address",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/email/resend",
        "ResendEmailCode",
        "Resend the email code",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/email/send",
        "SendEmailCode",
        "Send a new email code",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/email/verify",
        "VerifyEmail",
        "Verify the email address",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/phone",
        "SetPhone",
        "Change the phone number",
        true,
    ),
    (
        "DELETE",
        "/v2/users/{id}/phone",
        "RemovePhone",
        "Remove the phone number",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/phone/resend",
        "ResendPhoneCode",
        "Resend the phone code",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/phone/verify",
        "VerifyPhone",
        "Verify the phone number",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/password",
        "SetPassword",
        "Change the password",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/password_reset",
        "PasswordReset",
        "Request a password reset",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/deactivate",
        "DeactivateUser",
        "Deactivate a user",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/reactivate",
        "ReactivateUser",
        "Reactivate a user",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/lock",
        "LockUser",
        "Lock a user",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/unlock",
        "UnlockUser",
        "Unlock a user",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/invite_code",
        "CreateInviteCode",
        "Create an invite code",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/invite_code/resend",
        "ResendInviteCode",
        "Resend the invite code",
        true,
    ),
    (
        "POST",
        "/v2/users/{id}/invite_code/verify",
        "VerifyInviteCode",
        "Verify an invite code",
        true,
    ),
];

const SERVICE: &str = "zitadel.user.v2.UserService";
const TAG: &str = "Zitadel";

/// A message with its `.proto` comments (its own, and one per field).
struct MessageInfo {
    proto: DescriptorProto,
    doc: Option<String>,
    field_docs: Vec<Option<String>>,
}

/// The descriptors, indexed by full name (no leading dot).
struct Descriptors {
    messages: BTreeMap<String, MessageInfo>,
    enums: BTreeMap<String, (EnumDescriptorProto, Option<String>)>,
    /// call → (request, response) full names.
    methods: BTreeMap<String, (String, String)>,
    /// call → the comment above its `rpc` line (its REST mapping).
    method_docs: BTreeMap<String, String>,
}

fn comment(file: &FileDescriptorProto, path: &[i32]) -> Option<String> {
    let info = file.source_code_info.as_option()?;
    let text = info
        .location
        .iter()
        .find(|l| l.path == path)?
        .leading_comments
        .as_deref()?
        .trim()
        .replace('\n', " ");
    (!text.is_empty()).then_some(text)
}

fn index(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

impl Descriptors {
    fn load() -> Descriptors {
        // The set is compiled into the binary by build.rs; a decoding failure is a build bug that
        // every test of the document catches.
        let set = FileDescriptorSet::decode_from_slice(usher_zitadel_proto::FILE_DESCRIPTOR_SET)
            .unwrap_or_default();
        let mut d = Descriptors {
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            methods: BTreeMap::new(),
            method_docs: BTreeMap::new(),
        };
        for file in &set.file {
            let package = file.package.clone().unwrap_or_default();
            for (i, m) in file.message_type.iter().enumerate() {
                let fields = (0..m.field.len())
                    .map(|j| comment(file, &[4, index(i), 2, index(j)]))
                    .collect();
                d.messages.insert(
                    format!("{package}.{}", m.name.as_deref().unwrap_or_default()),
                    MessageInfo {
                        proto: m.clone(),
                        doc: comment(file, &[4, index(i)]),
                        field_docs: fields,
                    },
                );
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                d.enums.insert(
                    format!("{package}.{}", e.name.as_deref().unwrap_or_default()),
                    (e.clone(), comment(file, &[5, index(i)])),
                );
            }
            for (si, s) in file.service.iter().enumerate() {
                if format!("{package}.{}", s.name.as_deref().unwrap_or_default()) != SERVICE {
                    continue;
                }
                for (j, m) in s.method.iter().enumerate() {
                    if let Some(doc) = comment(file, &[6, index(si), 2, index(j)]) {
                        d.method_docs
                            .insert(m.name.clone().unwrap_or_default(), doc);
                    }
                    let name = |t: &Option<String>| {
                        t.as_deref()
                            .unwrap_or("")
                            .trim_start_matches('.')
                            .to_owned()
                    };
                    d.methods.insert(
                        m.name.clone().unwrap_or_default(),
                        (name(&m.input_type), name(&m.output_type)),
                    );
                }
            }
        }
        d
    }
}

fn schema_ref(full_name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{full_name}")})
}

/// The JSON Schema of one field's value (without `repeated`).
fn field_type(f: &buffa_descriptor::generated::descriptor::FieldDescriptorProto) -> Value {
    let int64 = json!({"type": "string", "pattern": "^-?[0-9]+$",
        "description": "A 64-bit integer as a JSON string (numbers are accepted too)."});
    match f.r#type {
        Some(Type::TYPE_STRING) => json!({"type": "string"}),
        Some(Type::TYPE_BYTES) => json!({"type": "string", "contentEncoding": "base64"}),
        Some(Type::TYPE_BOOL) => json!({"type": "boolean"}),
        Some(Type::TYPE_INT32 | Type::TYPE_SINT32 | Type::TYPE_SFIXED32) => {
            json!({"type": "integer", "format": "int32"})
        }
        Some(Type::TYPE_UINT32 | Type::TYPE_FIXED32) => {
            json!({"type": "integer", "format": "int64", "minimum": 0})
        }
        Some(
            Type::TYPE_INT64
            | Type::TYPE_UINT64
            | Type::TYPE_SINT64
            | Type::TYPE_FIXED64
            | Type::TYPE_SFIXED64,
        ) => int64,
        Some(Type::TYPE_DOUBLE | Type::TYPE_FLOAT) => json!({"type": "number"}),
        Some(Type::TYPE_ENUM | Type::TYPE_MESSAGE) => {
            match f.type_name.as_deref().unwrap_or("").trim_start_matches('.') {
                "google.protobuf.Timestamp" => {
                    json!({"type": "string", "format": "date-time"})
                }
                "google.protobuf.Duration" => {
                    json!({"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?s$"})
                }
                "google.protobuf.Struct" => json!({"type": "object"}),
                "google.protobuf.Value" => json!({}),
                name => schema_ref(name),
            }
        }
        _ => json!({}),
    }
}

/// Full names a field refers to (messages and enums).
fn referenced(m: &DescriptorProto) -> Vec<String> {
    m.field
        .iter()
        .filter(|f| matches!(f.r#type, Some(Type::TYPE_ENUM | Type::TYPE_MESSAGE)))
        .filter_map(|f| f.type_name.as_deref())
        .map(|n| n.trim_start_matches('.').to_owned())
        .filter(|n| !n.starts_with("google.protobuf."))
        .collect()
}

/// The JSON Schema of a message, leaving out `skip` (a property set from the path).
fn message_schema(d: &Descriptors, name: &str, skip: Option<&str>) -> Value {
    let Some(MessageInfo {
        proto: m,
        doc: description,
        field_docs: field_comments,
    }) = d.messages.get(name)
    else {
        return json!({"type": "object"});
    };
    let mut properties = Map::new();
    let mut oneofs: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (f, doc) in m.field.iter().zip(field_comments) {
        let proto_name = f.name.as_deref().unwrap_or_default();
        let json = f.json_name.clone().unwrap_or_else(|| json_name(proto_name));
        if skip == Some(json.as_str()) {
            continue;
        }
        let mut schema = field_type(f);
        if f.label == Some(Label::LABEL_REPEATED) {
            schema = json!({"type": "array", "items": schema});
        }
        if let Some(i) = f.oneof_index
            && !f.proto3_optional.unwrap_or(false)
        {
            oneofs.entry(i).or_default().push(json.clone());
        }
        if let Some(doc) = doc {
            schema = if schema.get("$ref").is_some() {
                json!({"allOf": [schema], "description": doc})
            } else {
                let mut s = schema;
                s["description"] = Value::String(doc.clone());
                s
            };
        }
        properties.insert(json, schema);
    }
    let mut out = json!({"type": "object", "properties": properties});
    let mut notes: Vec<String> = description.iter().cloned().collect();
    for (i, members) in oneofs {
        let oneof = m
            .oneof_decl
            .get(usize::try_from(i).unwrap_or(usize::MAX))
            .and_then(|o| o.name.clone())
            .unwrap_or_default();
        notes.push(format!(
            "oneof `{oneof}`: at most one of `{}`.",
            members.join("`, `")
        ));
        if members.len() > 1 {
            let pairs: Vec<Value> = members
                .iter()
                .enumerate()
                .flat_map(|(a, x)| {
                    members[a + 1..]
                        .iter()
                        .map(move |y| json!({"required": [x, y]}))
                })
                .collect();
            if let Some(Value::Array(all)) = out
                .as_object_mut()
                .map(|o| o.entry("allOf").or_insert_with(|| json!([])))
            {
                all.push(json!({"not": {"anyOf": pairs}}));
            }
        }
    }
    if !notes.is_empty() {
        out["description"] = Value::String(notes.join(" "));
    }
    out
}

fn enum_schema(e: &EnumDescriptorProto, description: &Option<String>) -> Value {
    let names: Vec<&str> = e.value.iter().filter_map(|v| v.name.as_deref()).collect();
    let mut doc = description.clone().unwrap_or_default();
    if !doc.is_empty() {
        doc.push(' ');
    }
    doc.push_str("By name; the numbers are accepted too.");
    json!({"type": "string", "enum": names, "description": doc})
}

/// Every message and enum reachable from `roots`, as component schemas.
fn components(d: &Descriptors, roots: &BTreeSet<String>) -> Map<String, Value> {
    let mut out = Map::new();
    let mut todo: Vec<String> = roots.iter().cloned().collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(info) = d.messages.get(&name) {
            out.insert(name.clone(), message_schema(d, &name, None));
            todo.extend(referenced(&info.proto));
        } else if let Some((e, doc)) = d.enums.get(&name) {
            out.insert(name, enum_schema(e, doc));
        }
    }
    out
}

/// `{id}` and friends of a path, in order.
fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

fn path_param(name: &str) -> Value {
    let description = match name {
        "id" => "The user's id (`userId` of the request message).".to_owned(),
        other => format!(
            "`{}` of the request message (from the call's REST path).",
            json_name(other)
        ),
    };
    json!({"name": name, "in": "path", "required": true, "description": description,
        "schema": {"type": "string"}})
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {
        "schema": schema_ref("ZitadelError")}}})
}

/// One served REST operation.
fn served_operation(
    d: &Descriptors,
    method: &str,
    path: &str,
    call: &str,
    summary: &str,
    operation_id: String,
    note: Option<String>,
) -> Value {
    let (request, response) = d.methods.get(call).cloned().unwrap_or_default();
    let mut parameters: Vec<Value> = path_params(path).iter().map(|p| path_param(p)).collect();
    if call == "AddHumanUser" {
        parameters.push(
            json!({"name": "x-zitadel-orgid", "in": "header", "required": false,
            "description": "The organization of the new user when the body names none; never \
                widens the caller's rights.",
            "schema": {"type": "string"}}),
        );
    }
    let mut description = format!(
        "`{SERVICE}.{call}` over the REST gateway: the request message{} as proto3 JSON, the \
         response message as proto3 JSON.",
        if path.contains("{id}") {
            " minus the path's `userId`"
        } else {
            ""
        }
    );
    if let Some(note) = note {
        description.push(' ');
        description.push_str(&note);
    }
    let mut op = json!({
        "tags": [TAG],
        "summary": format!("{summary} ({call})"),
        "description": description,
        "operationId": operation_id,
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {
                "schema": schema_ref(&response)}}},
            "400": error_response("Invalid argument or failed precondition"),
            "401": error_response("Missing or unknown token"),
            "403": error_response("Permission denied"),
            "404": error_response("Not found"),
            "default": error_response(
                "Another error (409 already exists, 429 resource exhausted, 500 internal)"),
        },
        "security": [{"bearer": []}],
    });
    if call == "AddHumanUser" {
        // Upstream's `success_code: 201` for this call.
        let ok = op["responses"]
            .as_object_mut()
            .and_then(|r| r.remove("200"))
            .unwrap_or_default();
        op["responses"]["201"] = ok;
        op["responses"]["201"]["description"] = json!("Created");
    }
    let body = message_schema(d, &request, path.contains("{id}").then_some("userId"));
    let has_fields = body["properties"]
        .as_object()
        .is_some_and(|p| !p.is_empty());
    if has_fields && !matches!(method, "GET" | "DELETE") {
        op["requestBody"] = json!({"required": false,
            "description": "An empty body is `{}`.",
            "content": {"application/json": {"schema": body}}});
    }
    op
}

fn unserved_operation(path: &str, call: &str, operation_id: String) -> Value {
    let parameters: Vec<Value> = path_params(path).iter().map(|p| path_param(p)).collect();
    json!({
        "tags": [TAG],
        "summary": format!("{call}: not implemented"),
        "description": format!("`{SERVICE}.{call}` is not implemented by usher: after \
            authentication it answers 501 `unimplemented`."),
        "operationId": operation_id,
        "parameters": parameters,
        "responses": {
            "401": error_response("Missing or unknown token"),
            "501": error_response("Not implemented"),
        },
        "security": [{"bearer": []}],
    })
}

fn served_calls() -> Vec<&'static str> {
    SERVED.iter().map(|(_, _, call, _, _)| *call).collect()
}

fn rpc_operation(d: &Descriptors) -> Value {
    let calls = served_calls();
    let pick = |response: bool| -> Vec<Value> {
        calls
            .iter()
            .filter_map(|c| d.methods.get(*c))
            .map(|(req, resp)| schema_ref(if response { resp } else { req }))
            .collect()
    };
    let binary = json!({"schema": {}});
    json!({
        "tags": [TAG],
        "summary": "Call zitadel.user.v2.UserService over Connect, gRPC or gRPC-Web",
        "description": "One path per call, all protocols on this port: Connect (unary; \
            `application/json` with the whole request message in proto3 JSON — `userId` \
            included — or `application/proto`), gRPC over HTTP/2 (`application/grpc`), gRPC-Web \
            (`application/grpc-web+proto`, `application/grpc-web-text`). The calls usher does \
            not implement answer `unimplemented`. Connect errors are \
            `{\"code\", \"message\", \"details\"}`; gRPC errors travel in `grpc-status`, \
            `grpc-message` and `grpc-status-details-bin`.",
        "operationId": "zitadel_rpc",
        "parameters": [{
            "name": "method", "in": "path", "required": true,
            "description": "The call (the calls usher serves).",
            "schema": {"type": "string", "enum": calls},
        }],
        "requestBody": {"required": true, "content": {
            "application/json": {"schema": {"anyOf": pick(false)}},
            "application/proto": binary.clone(),
            "application/grpc": binary.clone(),
            "application/grpc-web+proto": binary.clone(),
            "application/grpc-web-text": binary.clone(),
        }},
        "responses": {
            "200": {"description": "The response message", "content": {
                "application/json": {"schema": {"anyOf": pick(true)}},
                "application/proto": binary.clone(),
                "application/grpc": binary.clone(),
                "application/grpc-web+proto": binary.clone(),
                "application/grpc-web-text": binary,
            }},
            "415": {"description": "No or an unsupported `Content-Type` (no body; connect-go \
                answers the same)"},
            "default": {"description": "A Connect error (HTTP status from the code)",
                "content": {"application/json": {"schema": schema_ref("ZitadelConnectError")}}},
        },
        "security": [{"bearer": []}],
    })
}

fn insert(paths: &mut Map<String, Value>, path: &str, method: &str, op: Value) {
    let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
    item[method.to_ascii_lowercase()] = op;
}

/// The dialect's paths and component schemas.
pub fn paths_and_schemas() -> (Map<String, Value>, Map<String, Value>) {
    let d = Descriptors::load();
    let mut paths = Map::new();
    for (method, path, call, summary, at_root) in SERVED {
        let full = format!("{REST_PREFIX}{path}");
        if *at_root {
            insert(
                &mut paths,
                path,
                method,
                served_operation(
                    &d,
                    method,
                    path,
                    call,
                    summary,
                    format!("zitadel_{call}"),
                    Some(format!("Also at `{full}`.")),
                ),
            );
        }
        let note = (!*at_root).then(|| {
            format!("Only under `{REST_PREFIX}`: the Bold dialect owns `{method} {path}`.")
        });
        insert(
            &mut paths,
            &full,
            method,
            served_operation(
                &d,
                method,
                &full,
                call,
                summary,
                format!("zitadel_full_{call}"),
                note,
            ),
        );
    }
    for (method, path, call) in unserved_rest_calls() {
        insert(
            &mut paths,
            path,
            method,
            unserved_operation(path, call, format!("zitadel_{call}")),
        );
        let full = format!("{REST_PREFIX}{path}");
        insert(
            &mut paths,
            &full,
            method,
            unserved_operation(&full, call, format!("zitadel_full_{call}")),
        );
    }
    insert(&mut paths, RPC_PATH, "POST", rpc_operation(&d));

    let roots: BTreeSet<String> = served_calls()
        .iter()
        .filter_map(|c| d.methods.get(*c))
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let mut schemas = components(&d, &roots);
    schemas.insert(
        "ZitadelError".into(),
        json!({
            "type": "object",
            "description": "A REST gateway error.",
            "properties": {
                "code": {"type": "integer", "description": "The gRPC code (5 = not found …)."},
                "message": {"type": "string", "description": "`<message> (<id>)`."},
                "details": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "@type": {"type": "string",
                            "const": "type.googleapis.com/zitadel.v1.ErrorDetail"},
                        "id": {"type": "string", "description": "A stable error id."},
                        "message": {"type": "string"},
                    },
                }},
            },
            "required": ["code", "message", "details"],
            "example": {"code": 5, "message": "User could not be found (USER-abc12)",
                "details": [{"@type": "type.googleapis.com/zitadel.v1.ErrorDetail",
                    "id": "USER-abc12", "message": "User could not be found"}]},
        }),
    );
    schemas.insert(
        "ZitadelConnectError".into(),
        json!({
            "type": "object",
            "description": "A Connect error.",
            "properties": {
                "code": {"type": "string", "description": "`not_found`, `invalid_argument` …"},
                "message": {"type": "string"},
                "details": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "const": "zitadel.v1.ErrorDetail"},
                        "value": {"type": "string", "contentEncoding": "base64",
                            "description": "The `zitadel.v1.ErrorDetail` message, base64."},
                    },
                }},
            },
            "required": ["code"],
        }),
    );
    (paths, schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `user_service.proto` notes each call's REST mapping above its `rpc` line (`// POST
    /// /v2/users/{user_id}/email`, `// Not served: …`); the served table and the gateway's
    /// unserved table must say the same.
    #[test]
    fn tables_follow_the_proto_rest_mapping() {
        let d = Descriptors::load();
        let mapping = |call: &str| {
            let doc = d.method_docs.get(call).cloned().unwrap_or_default();
            let doc = doc.split(" (").next().unwrap_or_default().to_owned();
            doc.replace("{user_id}", "{id}")
        };
        for (method, path, call, _, _) in SERVED {
            assert_eq!(mapping(call), format!("{method} {path}"), "{call}");
        }
        for (method, path, call) in unserved_rest_calls() {
            let expected = format!("Not served: {method} {path}");
            // The gateway names the other ids freely (`{passkey_id}` …); compare the shape.
            let shape = |s: &str| {
                s.split('/')
                    .map(|seg| if seg.starts_with('{') { "{}" } else { seg })
                    .collect::<Vec<_>>()
                    .join("/")
            };
            assert_eq!(shape(&mapping(call)), shape(&expected), "{call}");
        }
        let served: BTreeSet<&str> = served_calls().into_iter().collect();
        assert_eq!(served.len(), 22, "the served calls");
    }
}
