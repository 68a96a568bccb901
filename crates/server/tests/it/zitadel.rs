//! The Zitadel dialect end to end, on both databases: the official Rust SDK (`zitadel` crate, its
//! tonic `UserServiceClient`) over gRPC h2c; Connect JSON and binary over HTTP/1.1; gRPC-Web binary
//! and text with hand-made frames; the REST gateway with seed 003's body; every error code on every
//! protocol; the rules of UpdateHumanUser; the other calls with real SMTP and SMS peers; the same
//! users through Bold; `x-zitadel-orgid`; routing and CORS next to Bold.
//!
//! Messages are encoded and decoded with the SDK's prost types, never with usher's own code.

use base64ct::{Base64, Base64Unpadded, Encoding};
use prost::Message;
use reqwest::Method;
use serde_json::{Value, json};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use usher_core::types::{Timestamp, UserId};
use zitadel::api::clients::ClientBuilder;
use zitadel::api::interceptors::AccessTokenInterceptor;
use zitadel::api::zitadel::object::v2 as obj;
use zitadel::api::zitadel::user::v2 as zu;
use zitadel::api::zitadel::user::v2::user_service_client::UserServiceClient;
use zitadel::api::zitadel::v1::ErrorDetail;

use crate::sinks::{SmsSink, SmtpSink};
use crate::support::*;

const SERVICE: &str = "/zitadel.user.v2.UserService/";
const ERROR_DETAIL_URL: &str = "type.googleapis.com/zitadel.v1.ErrorDetail";
const ZITADEL_ALLOW_HEADERS: &str = "authorization, content-type, connect-protocol-version, \
    connect-timeout-ms, grpc-timeout, x-grpc-web, x-user-agent, x-zitadel-orgid";
/// Seed 003's URL template.
const SEED_TEMPLATE: &str =
    "https://example.com/email/verify?userID={{.UserID}}&code={{.Code}}&orgID={{.OrgID}}";
/// From crates/core/src/password/testdata/vectors.txt: python bcrypt 5.0.0, and htpasswd's
/// `$apr1$` (a format usher does not verify).
const BCRYPT_PASSWORD: &str = "correct horse battery staple";
const BCRYPT_HASH: &str = "$2b$10$DvRtqccYQXvaNF9YMKtS1ey5O6Tq0QJjDO.epnBbbpDbR12T0OuzG";
const APR1_HASH: &str = "$apr1$M.I51nFa$WrpVFqloVNY0SVqKiYVh2.";

/// `google.rpc.Status`, as carried by `grpc-status-details-bin`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct ProtoAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// The spec's table: a gRPC code's Connect name and HTTP status (REST and Connect).
fn code_row(code: Code) -> (&'static str, u16) {
    match code {
        Code::InvalidArgument => ("invalid_argument", 400),
        Code::FailedPrecondition => ("failed_precondition", 400),
        Code::Unauthenticated => ("unauthenticated", 401),
        Code::PermissionDenied => ("permission_denied", 403),
        Code::NotFound => ("not_found", 404),
        Code::AlreadyExists => ("already_exists", 409),
        Code::ResourceExhausted => ("resource_exhausted", 429),
        Code::Unimplemented => ("unimplemented", 501),
        other => panic!("no row for {other:?}"),
    }
}

/// Base64 that may or may not be padded.
fn b64(text: &str) -> Vec<u8> {
    Base64Unpadded::decode_vec(text.trim_end_matches('=')).expect("base64")
}

/// A one-time code: 6 characters `A-Z0-9`.
#[track_caller]
fn assert_code(code: &str) {
    assert_eq!(code.len(), 6, "{code}");
    assert!(
        code.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
        "{code}"
    );
}

fn secs_nanos(t: Timestamp) -> (i64, i32) {
    (t.0.timestamp(), t.0.timestamp_subsec_nanos() as i32)
}

fn at(secs: i64) -> Timestamp {
    start_time().plus(chrono::Duration::seconds(secs))
}

/// A proto3 JSON timestamp as a time.
#[track_caller]
fn json_time(v: &Value) -> Timestamp {
    Timestamp::parse(v.as_str().unwrap_or_else(|| panic!("a timestamp, got {v}")))
        .expect("RFC 3339")
}

// ---------------------------------------------------------------------------------------------
// The four protocols.

type Sdk = UserServiceClient<InterceptedService<Channel, AccessTokenInterceptor>>;

/// The SDK's own client: its `ClientBuilder` with a personal access token, on plain http (h2c).
async fn sdk(app: &TestApp, token: &str) -> Sdk {
    ClientBuilder::new(&app.base)
        .with_access_token(token)
        .build_user_client()
        .await
        .expect("the SDK connects over h2c")
}

/// A unary gRPC call of any method with the SDK's message types (for calls made generically).
pub(crate) async fn grpc<Req, Resp>(
    app: &TestApp,
    method: &str,
    token: Option<&str>,
    headers: &[(&'static str, &str)],
    req: Req,
) -> Result<Resp, tonic::Status>
where
    Req: Message + Send + Sync + 'static,
    Resp: Message + Default + Send + Sync + 'static,
{
    let channel = Channel::from_shared(app.base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let mut request = tonic::Request::new(req);
    if let Some(t) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    for (name, value) in headers {
        request.metadata_mut().insert(*name, value.parse().unwrap());
    }
    let path = PathAndQuery::try_from(format!("{SERVICE}{method}")).unwrap();
    client
        .unary(request, path, tonic_prost::ProstCodec::default())
        .await
        .map(tonic::Response::into_inner)
}

/// Connect unary with JSON, as the Python SDK sends it (optionally with
/// `Connect-Protocol-Version: 1`, which the Python SDK leaves out).
pub(crate) async fn connect_json(
    app: &TestApp,
    method: &str,
    token: Option<&str>,
    body: &Value,
    protocol_version: bool,
) -> Resp {
    connect_json_with(app, method, token, &[], body, protocol_version).await
}

async fn connect_json_with(
    app: &TestApp,
    method: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &Value,
    protocol_version: bool,
) -> Resp {
    let mut req = app
        .client
        .post(format!("{}{SERVICE}{method}", app.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if protocol_version {
        req = req.header("connect-protocol-version", "1");
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    TestApp::read(req.send().await.unwrap()).await
}

/// Connect unary with binary proto: the status, content type and raw body.
pub(crate) async fn connect_proto(
    app: &TestApp,
    method: &str,
    token: Option<&str>,
    req: &impl Message,
) -> (u16, String, Vec<u8>) {
    let mut r = app
        .client
        .post(format!("{}{SERVICE}{method}", app.base))
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .body(req.encode_to_vec());
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

/// A gRPC-Web answer: HTTP status, content type, the data frame and the trailers.
#[derive(Debug)]
pub(crate) struct WebAnswer {
    http: u16,
    content_type: String,
    message: Option<Vec<u8>>,
    trailers: Vec<(String, String)>,
}

impl WebAnswer {
    fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    fn status(&self) -> i32 {
        self.trailer("grpc-status")
            .unwrap_or_else(|| panic!("no grpc-status: {self:?}"))
            .parse()
            .unwrap()
    }

    #[track_caller]
    fn decode<M: Message + Default>(&self) -> M {
        assert_eq!(self.status(), 0, "{self:?}");
        M::decode(self.message.as_deref().expect("a data frame")).unwrap()
    }
}

/// One gRPC-Web frame: flag, 4-byte big-endian length, payload.
fn frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![flag];
    f.extend((payload.len() as u32).to_be_bytes());
    f.extend(payload);
    f
}

/// Base64 text made of one or more padded chunks.
fn decode_text_chunks(text: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(text).unwrap().trim();
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = match rest.find('=') {
            Some(i) => i + rest[i..].chars().take_while(|c| *c == '=').count(),
            None => rest.len(),
        };
        out.extend(Base64::decode_vec(&rest[..end]).expect("base64 chunk"));
        rest = &rest[end..];
    }
    out
}

/// A gRPC-Web call, binary (`application/grpc-web+proto`) or text (`application/grpc-web-text`).
pub(crate) async fn grpc_web(
    app: &TestApp,
    method: &str,
    token: Option<&str>,
    req: &impl Message,
    text: bool,
) -> WebAnswer {
    let body = frame(0, &req.encode_to_vec());
    let (ct, body) = if text {
        (
            "application/grpc-web-text",
            Base64::encode_string(&body).into_bytes(),
        )
    } else {
        ("application/grpc-web+proto", body)
    };
    let mut r = app
        .client
        .post(format!("{}{SERVICE}{method}", app.base))
        .header("content-type", ct)
        .header("x-grpc-web", "1")
        .body(body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let res = r.send().await.unwrap();
    let http = res.status().as_u16();
    let headers = res.headers().clone();
    let content_type = headers
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let raw = res.bytes().await.unwrap().to_vec();
    let bytes = if text { decode_text_chunks(&raw) } else { raw };
    let mut answer = WebAnswer {
        http,
        content_type,
        message: None,
        trailers: Vec::new(),
    };
    // A trailers-only answer carries grpc-status in the headers.
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        if let Some(v) = headers.get(name) {
            answer
                .trailers
                .push((name.to_owned(), v.to_str().unwrap().to_owned()));
        }
    }
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let flag = rest[0];
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let payload = &rest[5..5 + len];
        if flag & 0x80 != 0 {
            for line in std::str::from_utf8(payload).unwrap().split("\r\n") {
                if let Some((n, v)) = line.split_once(':') {
                    answer
                        .trailers
                        .push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
        } else {
            assert!(answer.message.is_none(), "one data frame");
            answer.message = Some(payload.to_vec());
        }
        rest = &rest[5 + len..];
    }
    answer
}

// ---------------------------------------------------------------------------------------------
// Error shapes of each protocol. Each returns the message, so callers can compare protocols.

/// Decodes a `google.rpc.Status`: exactly one detail, a `zitadel.v1.ErrorDetail` with `id`.
#[track_caller]
fn assert_status_details(bytes: &[u8], code: Code, id: &str) -> ErrorDetail {
    let status = RpcStatus::decode(bytes).expect("google.rpc.Status");
    assert_eq!(status.code, code as i32, "{status:?}");
    assert_eq!(status.details.len(), 1, "{status:?}");
    assert_eq!(status.details[0].type_url, ERROR_DETAIL_URL);
    let detail = ErrorDetail::decode(status.details[0].value.as_slice()).unwrap();
    assert_eq!(detail.id, id);
    assert_eq!(status.message, format!("{} ({id})", detail.message));
    detail
}

#[track_caller]
pub(crate) fn assert_grpc_error(s: &tonic::Status, code: Code, id: &str) -> String {
    assert_eq!(s.code(), code, "{s:?}");
    let detail = assert_status_details(s.details(), code, id);
    assert_eq!(s.message(), format!("{} ({id})", detail.message));
    s.message().to_owned()
}

#[track_caller]
pub(crate) fn assert_connect_error(r: &Resp, code: Code, id: &str) -> String {
    assert_connect_error_at(r, code, code_row(code).1, id)
}

/// [`assert_connect_error`] with an HTTP status outside the table (Connect's 404 for an unknown
/// method).
#[track_caller]
fn assert_connect_error_at(r: &Resp, code: Code, http: u16, id: &str) -> String {
    let (name, _) = code_row(code);
    assert_eq!(r.status, http, "{}", r.text);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(r.body["code"], name, "{}", r.text);
    let details = r.body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {}", r.text));
    assert_eq!(details.len(), 1, "{}", r.text);
    assert_eq!(details[0]["type"], "zitadel.v1.ErrorDetail");
    let detail =
        ErrorDetail::decode(b64(details[0]["value"].as_str().unwrap()).as_slice()).unwrap();
    assert_eq!(detail.id, id, "{}", r.text);
    let message = r.body["message"].as_str().unwrap().to_owned();
    assert_eq!(message, format!("{} ({id})", detail.message));
    message
}

#[track_caller]
pub(crate) fn assert_web_error(w: &WebAnswer, code: Code, id: &str) -> String {
    assert_eq!(w.http, 200, "{w:?}");
    assert_eq!(w.status(), code as i32, "{w:?}");
    assert!(w.message.is_none(), "{w:?}");
    let bin = w
        .trailer("grpc-status-details-bin")
        .unwrap_or_else(|| panic!("no details: {w:?}"));
    let detail = assert_status_details(&b64(bin), code, id);
    let message = format!("{} ({id})", detail.message);
    // grpc-message is percent-encoded; these messages are plain ASCII.
    assert_eq!(
        w.trailer("grpc-message").map(|m| m.replace("%20", " ")),
        Some(message.clone()),
        "{w:?}"
    );
    message
}

/// grpc-gateway's body, keys in order: `code`, `message`, `details: [{"@type", "id", "message"}]`.
#[track_caller]
pub(crate) fn assert_rest_error(r: &Resp, code: Code, id: &str) -> String {
    assert_rest_error_at(r, code, code_row(code).1, id)
}

/// [`assert_rest_error`] with an HTTP status outside the table (grpc-gateway's 405 for a wrong
/// method, with code 12).
#[track_caller]
fn assert_rest_error_at(r: &Resp, code: Code, http: u16, id: &str) -> String {
    assert_eq!(r.status, http, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/json");
    let keys: Vec<&String> = r.body.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["code", "message", "details"], "{}", r.text);
    assert_eq!(r.body["code"], code as i32, "{}", r.text);
    let details = r.body["details"].as_array().unwrap();
    assert_eq!(details.len(), 1);
    let dkeys: Vec<&String> = details[0].as_object().unwrap().keys().collect();
    assert_eq!(dkeys, ["@type", "id", "message"], "{}", r.text);
    assert_eq!(details[0]["@type"], ERROR_DETAIL_URL);
    assert_eq!(details[0]["id"], id, "{}", r.text);
    let message = r.body["message"].as_str().unwrap().to_owned();
    assert_eq!(
        message,
        format!("{} ({id})", details[0]["message"].as_str().unwrap())
    );
    message
}

/// One call as every protocol sends it.
pub(crate) struct Call<Req> {
    pub(crate) method: &'static str,
    /// The whole request message in proto3 JSON (Connect).
    pub(crate) json: Value,
    /// The same message for gRPC and gRPC-Web.
    pub(crate) proto: Req,
    /// The REST gateway's request: method, path, body.
    pub(crate) rest: (Method, String, Option<Value>),
}

/// Sends `call` over Connect JSON, gRPC, gRPC-Web binary and text, and REST: each must fail with
/// `code` and an ErrorDetail `id`, with one message.
pub(crate) async fn fails_everywhere<Req>(
    app: &TestApp,
    token: Option<&str>,
    call: &Call<Req>,
    code: Code,
    id: &str,
) -> String
where
    Req: Message + Clone + Send + Sync + 'static,
{
    let r = connect_json(app, call.method, token, &call.json, false).await;
    let message = assert_connect_error(&r, code, id);
    let s = grpc::<Req, ()>(app, call.method, token, &[], call.proto.clone())
        .await
        .expect_err("gRPC fails");
    assert_eq!(assert_grpc_error(&s, code, id), message);
    for text in [false, true] {
        let w = grpc_web(app, call.method, token, &call.proto, text).await;
        assert_eq!(assert_web_error(&w, code, id), message, "text: {text}");
    }
    let (m, path, body) = &call.rest;
    let r = app.send(m.clone(), path, token, body.as_ref()).await;
    assert_eq!(assert_rest_error(&r, code, id), message);
    message
}

// ---------------------------------------------------------------------------------------------
// Small conveniences over Connect JSON.

/// A Connect JSON call that must succeed; its body.
pub(crate) async fn call_ok(app: &TestApp, token: &str, method: &str, body: Value) -> Value {
    let r = connect_json(app, method, Some(token), &body, true).await;
    assert_eq!(r.status, 200, "{method}: {}", r.text);
    r.body
}

/// A Connect JSON call that must fail with `code` and `id`; its message.
pub(crate) async fn call_err(
    app: &TestApp,
    token: &str,
    method: &str,
    body: Value,
    code: Code,
    id: &str,
) -> String {
    let r = connect_json(app, method, Some(token), &body, true).await;
    assert_connect_error(&r, code, id)
}

/// AddHumanUser over Connect JSON; the new user's id.
pub(crate) async fn add_user(app: &TestApp, token: &str, body: Value) -> String {
    let b = call_ok(app, token, "AddHumanUser", body).await;
    b["userId"].as_str().expect("userId").to_owned()
}

/// A person with a verified email (so nothing is sent), optionally with a password.
pub(crate) fn person(given: &str, family: &str, email: &str, password: Option<&str>) -> Value {
    let mut b = json!({
        "profile": {"givenName": given, "familyName": family},
        "email": {"email": email, "isVerified": true}
    });
    if let Some(p) = password {
        b["password"] = json!({"password": p});
    }
    b
}

/// The user's state by name.
async fn state(app: &TestApp, token: &str, id: &str) -> String {
    get_user(app, token, id).await["user"]["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn get_user(app: &TestApp, token: &str, id: &str) -> Value {
    call_ok(app, token, "GetUserByID", json!({"userId": id})).await
}

/// `details.sequence` of a user now (a proto3 JSON uint64: a string).
async fn sequence(app: &TestApp, token: &str, id: &str) -> u64 {
    let b = get_user(app, token, id).await;
    b["details"]["sequence"]
        .as_str()
        .expect("sequence as a string")
        .parse()
        .unwrap()
}

fn seq_of(details: &Value) -> u64 {
    details["sequence"].as_str().unwrap().parse().unwrap()
}

async fn audit_count(app: &TestApp, id: &str) -> usize {
    app.services()
        .store()
        .audit_events("user", id.parse().unwrap())
        .await
        .unwrap()
        .len()
}

async fn stored_user(app: &TestApp, id: &str) -> usher_core::model::User {
    app.services()
        .store()
        .user(UserId(id.parse().unwrap()))
        .await
        .unwrap()
        .expect("stored")
}

async fn with_sinks(backend: Backend, smtp: &SmtpSink, sms: Option<&SmsSink>) -> Option<TestApp> {
    let smtp_url = smtp.url();
    let sms_url = sms.map(SmsSink::url);
    TestApp::start_with(backend, |c| {
        c.smtp_url = Some(smtp_url);
        c.sms_webhook_url = sms_url;
    })
    .await
}

/// The value of `name` in a link's query.
fn query_param(link: &str, name: &str) -> String {
    let url = url_parse(link);
    url.1
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {name} in {link}"))
}

/// (path, query pairs) of a URL, without a URL crate.
fn url_parse(link: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = link.split_once('?').unwrap_or((link, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (path.to_owned(), pairs)
}

// ---------------------------------------------------------------------------------------------
// 1. The official Rust SDK over gRPC.

#[track_caller]
fn assert_details(d: &Option<obj::Details>, sequence: u64, changed: Timestamp, created: Timestamp) {
    let d = d.as_ref().expect("details");
    assert_eq!(d.sequence, sequence, "{d:?}");
    assert_eq!(d.resource_owner, "1", "{d:?}");
    assert_eq!(
        d.change_date.as_ref().map(|t| (t.seconds, t.nanos)),
        Some(secs_nanos(changed)),
        "{d:?}"
    );
    assert_eq!(
        d.creation_date.as_ref().map(|t| (t.seconds, t.nanos)),
        Some(secs_nanos(created)),
        "{d:?}"
    );
}

fn text_query(method: obj::TextQueryMethod) -> i32 {
    method as i32
}

fn q(query: zu::search_query::Query) -> zu::SearchQuery {
    zu::SearchQuery { query: Some(query) }
}

fn ids_of(list: &zu::ListUsersResponse) -> Vec<String> {
    list.result.iter().map(|u| u.user_id.clone()).collect()
}

/// AddHumanUser → UpdateHumanUser (profile, email with returnCode, phone, password set and then
/// changed with the current one) → GetUserByID (every field) → ListUsers (nested or/and/not,
/// sorted) → DeleteUser → GetUserByID is NOT_FOUND with a `zitadel.v1.ErrorDetail`.
async fn sdk_drives_a_user_through_its_life(app: TestApp) {
    use zu::search_query::Query;
    let admin = app.org_admin().await;
    let mut c = sdk(&app, &admin).await;

    let added = c
        .add_human_user(zu::AddHumanUserRequest {
            username: Some("minnie".into()),
            profile: Some(zu::SetHumanProfile {
                given_name: "Minnie".into(),
                family_name: "Mouse".into(),
                ..Default::default()
            }),
            email: Some(zu::SetHumanEmail {
                email: "minnie@example.com".into(),
                verification: Some(zu::set_human_email::Verification::ReturnCode(
                    zu::ReturnEmailVerificationCode {},
                )),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = added.user_id.clone();
    assert!(id.parse::<i64>().unwrap() > 0, "{id}");
    assert_details(&added.details, 1, start_time(), start_time());
    assert_code(added.email_code.as_deref().expect("emailCode"));
    assert_eq!(added.phone_code, None);

    // Profile.
    app.clock.advance(chrono::Duration::seconds(10));
    let r = c
        .update_human_user(zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            profile: Some(zu::SetHumanProfile {
                given_name: "Minerva".into(),
                family_name: "Maus".into(),
                nick_name: Some("Min".into()),
                display_name: Some("Minerva M.".into()),
                preferred_language: Some("de".into()),
                gender: Some(zu::Gender::Female as i32),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&r.details, 2, at(10), start_time());
    assert_eq!((r.email_code, r.phone_code), (None, None));

    // Email with returnCode: a 6-character code comes back and nothing is sent.
    app.clock.advance(chrono::Duration::seconds(10));
    let r = c
        .update_human_user(zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            email: Some(zu::SetHumanEmail {
                email: "minerva@example.org".into(),
                verification: Some(zu::set_human_email::Verification::ReturnCode(
                    zu::ReturnEmailVerificationCode {},
                )),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&r.details, 3, at(20), start_time());
    assert_code(r.email_code.as_deref().expect("emailCode"));
    assert_eq!(r.phone_code, None);

    // Phone, vouched for by the admin; a national number is read in CH.
    app.clock.advance(chrono::Duration::seconds(10));
    let r = c
        .update_human_user(zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            phone: Some(zu::SetHumanPhone {
                phone: "079 123 45 67".into(),
                verification: Some(zu::set_human_phone::Verification::IsVerified(true)),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&r.details, 4, at(30), start_time());
    assert_eq!((r.email_code, r.phone_code), (None, None));

    // A password set by the admin, then changed with the current one.
    app.clock.advance(chrono::Duration::seconds(10));
    let r = c
        .update_human_user(zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            password: Some(zu::SetPassword {
                password_type: Some(zu::set_password::PasswordType::Password(zu::Password {
                    password: "Old-Passw0rd-xyz".into(),
                    change_required: true,
                })),
                verification: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&r.details, 5, at(40), start_time());
    app.clock.advance(chrono::Duration::seconds(10));
    let r = c
        .update_human_user(zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            password: Some(zu::SetPassword {
                password_type: Some(zu::set_password::PasswordType::Password(zu::Password {
                    password: "New-Passw0rd-xyz".into(),
                    change_required: false,
                })),
                verification: Some(zu::set_password::Verification::CurrentPassword(
                    "Old-Passw0rd-xyz".into(),
                )),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&r.details, 6, at(50), start_time());

    // GetUserByID: every field.
    let got = c
        .get_user_by_id(zu::GetUserByIdRequest {
            user_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&got.details, 6, at(50), start_time());
    let user = got.user.expect("user");
    assert_eq!(user.user_id, id);
    assert_eq!(user.details, got.details);
    assert_eq!(user.state, zu::UserState::Active as i32);
    assert_eq!(user.username, "minnie");
    assert_eq!(user.login_names, ["minnie"]);
    assert_eq!(user.preferred_login_name, "minnie");
    let Some(zu::user::Type::Human(h)) = user.r#type else {
        panic!("a human: {:?}", user.r#type)
    };
    assert_eq!(
        h,
        zu::HumanUser {
            user_id: id.clone(),
            state: zu::UserState::Active as i32,
            username: "minnie".into(),
            login_names: vec!["minnie".into()],
            preferred_login_name: "minnie".into(),
            profile: Some(zu::HumanProfile {
                given_name: "Minerva".into(),
                family_name: "Maus".into(),
                nick_name: Some("Min".into()),
                display_name: Some("Minerva M.".into()),
                preferred_language: Some("de".into()),
                gender: Some(zu::Gender::Female as i32),
                avatar_url: String::new(),
            }),
            email: Some(zu::HumanEmail {
                email: "minerva@example.org".into(),
                is_verified: false,
            }),
            phone: Some(zu::HumanPhone {
                phone: "+41791234567".into(),
                is_verified: true,
            }),
            password_change_required: false,
            password_changed: h.password_changed,
            mfa_init_skipped: None,
        }
    );
    assert_eq!(
        h.password_changed.as_ref().map(|t| (t.seconds, t.nanos)),
        Some(secs_nanos(at(50)))
    );

    // ListUsers: more people, then nested queries and sorting.
    let mut ids = Vec::new();
    for (given, family, email, password) in [
        ("Daisy", "Duck", "daisy@example.org", None),
        (
            "Donald",
            "Duck",
            "donald@example.com",
            Some("Donald-Passw0rd-1"),
        ),
        ("Goofy", "Goof", "goofy@example.org", None),
    ] {
        ids.push(add_user(&app, &admin, person(given, family, email, password)).await);
    }
    let (daisy, donald, goofy) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    // first name "minerva" (ignoring case) OR (last name Duck AND NOT state INITIAL)
    let nested = vec![q(Query::OrQuery(zu::OrQuery {
        queries: vec![
            q(Query::FirstNameQuery(zu::FirstNameQuery {
                first_name: "minerva".into(),
                method: text_query(obj::TextQueryMethod::EqualsIgnoreCase),
            })),
            q(Query::AndQuery(zu::AndQuery {
                queries: vec![
                    q(Query::LastNameQuery(zu::LastNameQuery {
                        last_name: "Duck".into(),
                        method: text_query(obj::TextQueryMethod::Equals),
                    })),
                    q(Query::NotQuery(Box::new(zu::NotQuery {
                        query: Some(Box::new(q(Query::StateQuery(zu::StateQuery {
                            state: zu::UserState::Initial as i32,
                        })))),
                    }))),
                ],
            })),
        ],
    }))];
    let list = |asc: bool,
                offset: u64,
                limit: u32,
                column: zu::UserFieldName,
                queries: Vec<zu::SearchQuery>| {
        zu::ListUsersRequest {
            query: Some(obj::ListQuery { offset, limit, asc }),
            sorting_column: column as i32,
            queries,
        }
    };
    let r = c
        .list_users(list(
            true,
            0,
            0,
            zu::UserFieldName::FirstName,
            nested.clone(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids_of(&r), [donald.clone(), id.clone()]);
    assert_eq!(r.details.as_ref().unwrap().total_result, 2);
    assert_eq!(r.sorting_column, zu::UserFieldName::FirstName as i32);
    let r = c
        .list_users(list(
            false,
            0,
            0,
            zu::UserFieldName::FirstName,
            nested.clone(),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids_of(&r), [id.clone(), donald.clone()]);
    let r = c
        .list_users(list(true, 1, 1, zu::UserFieldName::FirstName, nested))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids_of(&r), std::slice::from_ref(&id));
    assert_eq!(r.details.as_ref().unwrap().total_result, 2);
    // Email ends with example.org, sorted by email descending; and a list of ids by username.
    let r = c
        .list_users(list(
            false,
            0,
            0,
            zu::UserFieldName::Email,
            vec![q(Query::EmailQuery(zu::EmailQuery {
                email_address: "@EXAMPLE.ORG".into(),
                method: text_query(obj::TextQueryMethod::EndsWithIgnoreCase),
            }))],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ids_of(&r), [id.clone(), goofy.clone(), daisy.clone()]);
    let r = c
        .list_users(list(
            true,
            0,
            0,
            zu::UserFieldName::UserName,
            vec![
                q(Query::InUserIdsQuery(zu::InUserIdQuery {
                    user_ids: vec![goofy.clone(), id.clone(), daisy.clone()],
                })),
                q(Query::TypeQuery(zu::TypeQuery {
                    r#type: zu::Type::Human as i32,
                })),
            ],
        ))
        .await
        .unwrap()
        .into_inner();
    // Usernames default to the email address.
    assert_eq!(ids_of(&r), [daisy.clone(), goofy.clone(), id.clone()]);
    assert_eq!(r.result[0].username, "daisy@example.org");
    // A listed user is the user GetUserByID shows.
    assert_eq!(r.result[2], got_user(&mut c, &id).await);

    // DeleteUser, then the user is gone with Zitadel's error detail.
    app.clock.advance(chrono::Duration::seconds(10));
    let d = c
        .delete_user(zu::DeleteUserRequest {
            user_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_details(&d.details, 7, at(60), start_time());
    let s = c
        .get_user_by_id(zu::GetUserByIdRequest {
            user_id: id.clone(),
        })
        .await
        .expect_err("deleted");
    assert_grpc_error(&s, Code::NotFound, "USER-NOTFOUND");
    assert_eq!(s.message(), "User could not be found (USER-NOTFOUND)");
    let s = c
        .delete_user(zu::DeleteUserRequest { user_id: id })
        .await
        .expect_err("deleted");
    assert_grpc_error(&s, Code::NotFound, "USER-NOTFOUND");
}

async fn got_user(c: &mut Sdk, id: &str) -> zu::User {
    c.get_user_by_id(zu::GetUserByIdRequest {
        user_id: id.to_owned(),
    })
    .await
    .unwrap()
    .into_inner()
    .user
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// 2. Connect over HTTP/1.1: JSON (with and without Connect-Protocol-Version) and binary.

/// proto3 JSON: uint64 as a string, enums by name, unset fields omitted, camelCase out and both
/// spellings in, integers for enums accepted, unknown fields ignored, two members of a oneof
/// refused; binary bodies encoded and decoded with the SDK's prost types.
async fn connect_json_and_binary(app: TestApp) {
    let admin = app.org_admin().await;
    // The Python SDK's request: no Connect-Protocol-Version.
    let r = connect_json(
        &app,
        "AddHumanUser",
        Some(&admin),
        &json!({"username": "ada", "profile": {"givenName": "Ada", "familyName": "Lovelace",
                "gender": "GENDER_FEMALE"}, "email": {"email": "ada@example.com", "isVerified": true},
                "someFieldUsherDoesNotKnow": 1}),
        false,
    )
    .await;
    r.expect(200);
    assert_eq!(r.headers["content-type"], "application/json");
    let id = r.body["userId"]
        .as_str()
        .expect("userId is a string")
        .to_owned();
    let created = start_time().rfc3339();
    let details = json!({"sequence": "1", "changeDate": created, "resourceOwner": "1",
                         "creationDate": created});
    // emailCode and phoneCode are unset, so absent.
    assert_eq!(r.body, json!({"userId": id, "details": details}));
    assert_eq!(json_time(&r.body["details"]["changeDate"]), start_time());

    // snake_case in, with the protocol header.
    let r = connect_json(
        &app,
        "GetUserByID",
        Some(&admin),
        &json!({"user_id": id}),
        true,
    )
    .await;
    r.expect(200);
    let common = json!({"userId": id, "state": "USER_STATE_INITIAL", "username": "ada",
                        "loginNames": ["ada"], "preferredLoginName": "ada"});
    let mut human = common.clone();
    human["profile"] = json!({"givenName": "Ada", "familyName": "Lovelace",
                              "displayName": "Ada Lovelace", "gender": "GENDER_FEMALE"});
    human["email"] = json!({"email": "ada@example.com", "isVerified": true});
    human["phone"] = json!({});
    let mut user = common.clone();
    user["details"] = details.clone();
    user["human"] = human;
    assert_eq!(
        r.body,
        json!({"details": details, "user": user}),
        "{}",
        r.text
    );
    // camelCase out, in the declared order.
    let keys: Vec<&String> = r.body["user"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "userId",
            "details",
            "state",
            "username",
            "loginNames",
            "preferredLoginName",
            "human"
        ]
    );
    assert!(
        !r.text.contains("user_id") && !r.text.contains("avatarUrl"),
        "{}",
        r.text
    );

    // An enum as an integer in; the answer names it.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"given_name": "Ada", "familyName": "King", "gender": 2}}),
    )
    .await;
    assert_eq!(b["details"]["sequence"], "2");
    assert!(
        b.get("emailCode").is_none() && b.get("phoneCode").is_none(),
        "{b}"
    );
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(u["user"]["human"]["profile"]["gender"], "GENDER_MALE");
    assert_eq!(u["user"]["human"]["profile"]["familyName"], "King");

    // Two members of one oneof: 400, nothing written.
    for cpv in [false, true] {
        let r = connect_json(
            &app,
            "UpdateHumanUser",
            Some(&admin),
            &json!({"userId": id, "email": {"email": "ada@example.net", "returnCode": {},
                    "isVerified": true}}),
            cpv,
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["code"], "invalid_argument", "{}", r.text);
    }
    assert_eq!(sequence(&app, &admin, &id).await, 2);

    // Binary: the SDK's messages, prost-encoded.
    let (status, ct, body) = connect_proto(
        &app,
        "GetUserByID",
        Some(&admin),
        &zu::GetUserByIdRequest {
            user_id: id.clone(),
        },
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ct, "application/proto");
    let got = zu::GetUserByIdResponse::decode(body.as_slice()).unwrap();
    let d = got.details.clone().unwrap();
    assert_eq!((d.sequence, d.resource_owner.as_str()), (2, "1"));
    let user = got.user.unwrap();
    assert_eq!(user.user_id, id);
    let Some(zu::user::Type::Human(h)) = user.r#type else {
        panic!("a human")
    };
    let p = h.profile.unwrap();
    assert_eq!(
        (p.given_name.as_str(), p.family_name.as_str(), p.gender),
        ("Ada", "King", Some(zu::Gender::Male as i32))
    );
    assert_eq!(p.nick_name, None);
    assert_eq!(h.email.unwrap().email, "ada@example.com");

    let (status, ct, body) = connect_proto(
        &app,
        "UpdateHumanUser",
        Some(&admin),
        &zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            email: Some(zu::SetHumanEmail {
                email: "ada.king@example.com".into(),
                verification: Some(zu::set_human_email::Verification::ReturnCode(
                    zu::ReturnEmailVerificationCode {},
                )),
            }),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/proto"));
    let r = zu::UpdateHumanUserResponse::decode(body.as_slice()).unwrap();
    assert_eq!(r.details.unwrap().sequence, 3);
    assert_code(&r.email_code.unwrap());

    // A binary call's error is Connect's JSON error.
    let (status, ct, body) = connect_proto(
        &app,
        "GetUserByID",
        Some(&admin),
        &zu::GetUserByIdRequest {
            user_id: "424242".into(),
        },
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(ct, "application/json");
    let v: Value = serde_json::from_slice(&body).unwrap();
    let resp = Resp {
        status,
        headers: {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("content-type", ct.parse().unwrap());
            h
        },
        text: String::from_utf8(body).unwrap(),
        body: v,
    };
    assert_connect_error(&resp, Code::NotFound, "USER-NOTFOUND");
    // The JSON error in full.
    let r = connect_json(
        &app,
        "GetUserByID",
        Some(&admin),
        &json!({"userId": "424242"}),
        false,
    )
    .await;
    assert_eq!(r.body["message"], "User could not be found (USER-NOTFOUND)");
    assert_eq!(
        ErrorDetail::decode(b64(r.body["details"][0]["value"].as_str().unwrap()).as_slice())
            .unwrap(),
        ErrorDetail {
            id: "USER-NOTFOUND".into(),
            message: "User could not be found".into()
        }
    );
}

// ---------------------------------------------------------------------------------------------
// 3. gRPC-Web, binary and text.

/// Frames both ways (data 0x00, trailers 0x80 with grpc-status), base64 for text mode, and an
/// error whose `grpc-status-details-bin` is a google.rpc.Status with one ErrorDetail.
async fn grpc_web_binary_and_text(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        person("Grace", "Hopper", "grace@example.com", None),
    )
    .await;
    for text in [false, true] {
        let w = grpc_web(
            &app,
            "GetUserByID",
            Some(&admin),
            &zu::GetUserByIdRequest {
                user_id: id.clone(),
            },
            text,
        )
        .await;
        assert_eq!(w.http, 200, "{w:?}");
        let ct = if text {
            "application/grpc-web-text"
        } else {
            "application/grpc-web+proto"
        };
        assert!(w.content_type.starts_with(ct), "{w:?}");
        let got: zu::GetUserByIdResponse = w.decode();
        let user = got.user.unwrap();
        assert_eq!(
            (user.user_id.as_str(), user.username.as_str()),
            (id.as_str(), "grace@example.com")
        );
        assert_eq!(user.state, zu::UserState::Initial as i32);
        assert_eq!(w.trailer("grpc-status"), Some("0"));
    }
    // A write over each mode.
    let mut seq = 1;
    for (text, given) in [(false, "Grace B."), (true, "Grace M.")] {
        let w = grpc_web(
            &app,
            "UpdateHumanUser",
            Some(&admin),
            &zu::UpdateHumanUserRequest {
                user_id: id.clone(),
                profile: Some(zu::SetHumanProfile {
                    given_name: given.into(),
                    family_name: "Hopper".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            text,
        )
        .await;
        let r: zu::UpdateHumanUserResponse = w.decode();
        seq += 1;
        assert_eq!(r.details.unwrap().sequence, seq);
        let u = get_user(&app, &admin, &id).await;
        assert_eq!(u["user"]["human"]["profile"]["givenName"], given);
    }
    // Errors: not found, unauthenticated.
    for text in [false, true] {
        let w = grpc_web(
            &app,
            "GetUserByID",
            Some(&admin),
            &zu::GetUserByIdRequest {
                user_id: "777777".into(),
            },
            text,
        )
        .await;
        assert_eq!(
            assert_web_error(&w, Code::NotFound, "USER-NOTFOUND"),
            "User could not be found (USER-NOTFOUND)"
        );
        let bin = b64(w.trailer("grpc-status-details-bin").unwrap());
        let st = RpcStatus::decode(bin.as_slice()).unwrap();
        assert_eq!(st.code, 5);
        assert_eq!(st.message, "User could not be found (USER-NOTFOUND)");
        let w = grpc_web(
            &app,
            "GetUserByID",
            Some("not-a-token"),
            &zu::GetUserByIdRequest {
                user_id: id.clone(),
            },
            text,
        )
        .await;
        assert_web_error(&w, Code::Unauthenticated, "AUTH-UNAUTHENTICATED");
    }
}

/// GetUserByIdRequest's field 1 (`user_id`, a string) sent as a number: a body that does not
/// decode as the call's message.
#[derive(Clone, PartialEq, prost::Message)]
struct WrongWireType {
    #[prost(uint64, tag = "1")]
    user_id: u64,
}

/// Errors connectrpc raises before usher's handler runs (a body that does not decode, an unknown
/// method, a broken envelope, base64 that is not) carry a `zitadel.v1.ErrorDetail` like every other
/// error, on every protocol.
async fn rpc_layer_errors_carry_details(app: TestApp) {
    let admin = app.org_admin().await;
    let wrong = WrongWireType { user_id: 7 };

    // Connect JSON: not JSON, and JSON of the wrong type.
    for body in [r#"{"userId": "#, r#"{"userId": 7}"#] {
        let res = post_raw(&app, &admin, "application/json", body).await;
        let r = TestApp::read(res).await;
        assert_connect_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
    }
    // Connect binary: the wrong wire type; an error body is JSON.
    let (status, ct, body) = connect_proto(&app, "GetUserByID", Some(&admin), &wrong).await;
    assert_eq!((status, ct.as_str()), (400, "application/json"));
    let r = Resp {
        status,
        headers: {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("content-type", ct.parse().unwrap());
            h
        },
        text: String::from_utf8(body.clone()).unwrap(),
        body: serde_json::from_slice(&body).unwrap(),
    };
    assert_connect_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
    // Connect, an unknown method: 404 as connect-go answers it, code unimplemented.
    let r = connect_json(&app, "NoSuchCall", Some(&admin), &json!({}), true).await;
    let message = assert_connect_error_at(&r, Code::Unimplemented, 404, "UNIMPLEMENTED");
    assert!(message.contains("NoSuchCall"), "{message}");

    // gRPC (tonic): the wrong wire type, and an unknown method.
    let s = grpc::<WrongWireType, ()>(&app, "GetUserByID", Some(&admin), &[], wrong.clone())
        .await
        .expect_err("does not decode");
    assert_grpc_error(&s, Code::InvalidArgument, "INVALID-REQUEST");
    let s = grpc::<zu::GetUserByIdRequest, ()>(
        &app,
        "NoSuchCall",
        Some(&admin),
        &[],
        zu::GetUserByIdRequest {
            user_id: "1".into(),
        },
    )
    .await
    .expect_err("no such call");
    assert_grpc_error(&s, Code::Unimplemented, "UNIMPLEMENTED");

    // gRPC-Web, binary and text: the same two.
    for text in [false, true] {
        let w = grpc_web(&app, "GetUserByID", Some(&admin), &wrong, text).await;
        assert_web_error(&w, Code::InvalidArgument, "INVALID-REQUEST");
        let w = grpc_web(&app, "NoSuchCall", Some(&admin), &wrong, text).await;
        assert_web_error(&w, Code::Unimplemented, "UNIMPLEMENTED");
    }
    // gRPC-Web: an envelope that promises more bytes than it brings.
    let res = post_raw(
        &app,
        &admin,
        "application/grpc-web+proto",
        vec![0u8, 0, 0, 0, 9, 1, 2],
    )
    .await;
    assert_eq!(res.status(), 200);
    let bytes = res.bytes().await.unwrap();
    assert_trailer_frame_error(&bytes, Code::InvalidArgument, "INVALID-REQUEST");
    // gRPC-Web text: a body that is not base64.
    let res = post_raw(&app, &admin, "application/grpc-web-text", "@@@@").await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/grpc-web-text+proto"
    );
    let bytes = decode_text_chunks(&res.bytes().await.unwrap());
    assert_trailer_frame_error(&bytes, Code::InvalidArgument, "INVALID-REQUEST");
}

/// GetUserByID with a body as given.
async fn post_raw(
    app: &TestApp,
    token: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(format!("{}{SERVICE}GetUserByID", app.base))
        .header("content-type", content_type)
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A gRPC-Web body that is one trailer frame: `grpc-status` is `code` and
/// `grpc-status-details-bin` carries the ErrorDetail `id`.
#[track_caller]
fn assert_trailer_frame_error(bytes: &[u8], code: Code, id: &str) {
    assert_eq!(bytes[0], 0x80, "a trailer frame");
    let trailers = std::str::from_utf8(&bytes[5..]).unwrap();
    let value = |name: &str| {
        trailers
            .split("\r\n")
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
            .unwrap_or_else(|| panic!("no {name}: {trailers}"))
    };
    assert_eq!(value("grpc-status"), (code as i32).to_string());
    assert_status_details(&b64(value("grpc-status-details-bin")), code, id);
}

// ---------------------------------------------------------------------------------------------
// 4. The REST gateway.

/// Seed 003's request with real values and one choice per oneof; the same under `/zitadel`;
/// GetUserByID and ListUsers under `/zitadel`; the error body, checked as raw text.
async fn rest_gateway_seed_003(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        person(
            "Mickey",
            "Mouse",
            "mickey@example.com",
            Some("Old-Passw0rd-xyz"),
        ),
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(5));
    // The seed's curl: every part at once, one choice per oneof.
    let seed = json!({
        "username": "minnie-mouse",
        "profile": {"givenName": "Minnie", "familyName": "Mouse", "nickName": "Mini",
                    "displayName": "Minnie Mouse", "preferredLanguage": "en", "gender": "GENDER_FEMALE"},
        "email": {"email": "mini@mouse.com", "returnCode": {}},
        "phone": {"phone": "+41791234567", "returnCode": {}},
        "password": {"password": {"password": "Secr3tP4ssw0rd!", "changeRequired": true},
                     "currentPassword": "Old-Passw0rd-xyz"}
    });
    let r = app
        .put(&format!("/v2/users/human/{id}"), &admin, seed)
        .await;
    r.expect(200);
    assert_eq!(r.headers["content-type"], "application/json");
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["details", "emailCode", "phoneCode"], "{}", r.text);
    // One call, one transaction, one step of the sequence.
    assert_eq!(
        r.body["details"],
        json!({"sequence": "2", "changeDate": at(5).rfc3339(), "resourceOwner": "1",
               "creationDate": start_time().rfc3339()})
    );
    assert_code(r.body["emailCode"].as_str().unwrap());
    assert_code(r.body["phoneCode"].as_str().unwrap());
    assert_eq!(audit_count(&app, &id).await, 2);

    // The same route under /zitadel; password with changeRequired and the admin's say-so.
    app.clock.advance(chrono::Duration::seconds(5));
    let r = app
        .put(
            &format!("/zitadel/v2/users/human/{id}"),
            &admin,
            json!({"profile": {"givenName": "Minnie", "familyName": "Maus"},
                   "email": {"email": "mini@mouse.com", "isVerified": true},
                   "phone": {"phone": "+41791234567", "isVerified": true}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        r.body,
        json!({"details": {"sequence": "3", "changeDate": at(10).rfc3339(),
        "resourceOwner": "1", "creationDate": start_time().rfc3339()}})
    );

    let r = app.get(&format!("/zitadel/v2/users/{id}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["details"]["sequence"], "3");
    let u = &r.body["user"];
    assert_eq!(u["userId"], id.as_str());
    assert_eq!(u["username"], "minnie-mouse");
    assert_eq!(u["state"], "USER_STATE_ACTIVE");
    let h = &u["human"];
    assert_eq!(
        h["profile"],
        json!({"givenName": "Minnie", "familyName": "Maus", "nickName": "Mini",
               "displayName": "Minnie Mouse", "preferredLanguage": "en", "gender": "GENDER_FEMALE"})
    );
    assert_eq!(
        h["email"],
        json!({"email": "mini@mouse.com", "isVerified": true})
    );
    assert_eq!(
        h["phone"],
        json!({"phone": "+41791234567", "isVerified": true})
    );
    assert_eq!(h["passwordChangeRequired"], true);
    assert_eq!(json_time(&h["passwordChanged"]), at(5));
    // The new password is the one in force.
    let stored = stored_user(&app, &id).await;
    assert!(stored.password_hash.unwrap().starts_with("$argon2id$"));

    // ListUsers under /zitadel.
    let other = add_user(
        &app,
        &admin,
        person("Pluto", "Dog", "pluto@example.com", None),
    )
    .await;
    let r = app
        .post(
            "/zitadel/v2/users",
            &admin,
            json!({"query": {"offset": "0", "limit": 10, "asc": true},
                   "sortingColumn": "USER_FIELD_NAME_LAST_NAME",
                   "queries": [{"orQuery": {"queries": [
                        {"userNameQuery": {"userName": "minnie-mouse", "method": "TEXT_QUERY_METHOD_EQUALS"}},
                        {"emailQuery": {"emailAddress": "pluto@", "method": "TEXT_QUERY_METHOD_STARTS_WITH"}}]}}]}),
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["details"]["totalResult"], "2", "{}", r.text);
    assert_eq!(r.body["sortingColumn"], "USER_FIELD_NAME_LAST_NAME");
    let got: Vec<&str> = r.body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userId"].as_str().unwrap())
        .collect();
    assert_eq!(got, [other.as_str(), id.as_str()]);

    // The error body, exactly.
    let r = app.get("/zitadel/v2/users/999999", &admin).await;
    assert_rest_error(&r, Code::NotFound, "USER-NOTFOUND");
    assert_eq!(
        r.text,
        r#"{"code":5,"message":"User could not be found (USER-NOTFOUND)","details":[{"@type":"type.googleapis.com/zitadel.v1.ErrorDetail","id":"USER-NOTFOUND","message":"User could not be found"}]}"#
    );
    let r = app
        .put("/v2/users/human/999999", &admin, json!({"username": "x"}))
        .await;
    assert_rest_error(&r, Code::NotFound, "USER-NOTFOUND");
    // DELETE under /zitadel.
    let r = app
        .delete(&format!("/zitadel/v2/users/{other}"), &admin)
        .await;
    r.expect(200);
    assert_eq!(r.body["details"]["sequence"], "2");
    let r = app.get(&format!("/zitadel/v2/users/{other}"), &admin).await;
    assert_rest_error(&r, Code::NotFound, "USER-NOTFOUND");
}

// ---------------------------------------------------------------------------------------------
// 5. Every error code on every protocol.

fn update_call(
    id: &str,
    json_rest: Value,
    proto: zu::UpdateHumanUserRequest,
) -> Call<zu::UpdateHumanUserRequest> {
    let mut whole = json_rest.clone();
    whole["userId"] = json!(id);
    Call {
        method: "UpdateHumanUser",
        json: whole,
        proto,
        rest: (
            Method::PUT,
            format!("/v2/users/human/{id}"),
            Some(json_rest),
        ),
    }
}

fn get_call(id: &str) -> Call<zu::GetUserByIdRequest> {
    Call {
        method: "GetUserByID",
        json: json!({"userId": id}),
        proto: zu::GetUserByIdRequest {
            user_id: id.to_owned(),
        },
        rest: (Method::GET, format!("/zitadel/v2/users/{id}"), None),
    }
}

pub(crate) fn set_password_call(
    id: &str,
    new: &str,
    current: Option<&str>,
) -> Call<zu::SetPasswordRequest> {
    let mut rest = json!({"newPassword": {"password": new}});
    if let Some(c) = current {
        rest["currentPassword"] = json!(c);
    }
    let mut whole = rest.clone();
    whole["userId"] = json!(id);
    Call {
        method: "SetPassword",
        json: whole,
        proto: zu::SetPasswordRequest {
            user_id: id.to_owned(),
            new_password: Some(zu::Password {
                password: new.to_owned(),
                change_required: false,
            }),
            verification: current
                .map(|c| zu::set_password_request::Verification::CurrentPassword(c.to_owned())),
        },
        rest: (Method::POST, format!("/v2/users/{id}/password"), Some(rest)),
    }
}

fn profile(given: &str, family: &str) -> zu::SetHumanProfile {
    zu::SetHumanProfile {
        given_name: given.into(),
        family_name: family.into(),
        ..Default::default()
    }
}

/// invalid_argument (bad email, a template with `{{.Email}}` — nothing written), failed_precondition
/// (same password; reactivating an active user), unauthenticated (no or unknown token),
/// permission_denied (read-only key; a user's own key on a field it may not change), not_found
/// (unknown and non-numeric ids), already_exists (username taken), unimplemented (RegisterPasskey
/// and its REST path): HTTP status, gRPC/Connect code and ErrorDetail id on each protocol.
async fn every_error_on_every_protocol(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        person("Ann", "Lee", "ann@example.com", Some("Ann-Passw0rd-99")),
    )
    .await;
    let other = add_user(&app, &admin, person("Bob", "Ray", "bob@example.com", None)).await;
    let before = (
        sequence(&app, &admin, &id).await,
        audit_count(&app, &id).await,
    );

    // invalid_argument: a bad email; a URL template naming another field. Nothing is written.
    let m = fails_everywhere(
        &app,
        Some(&admin),
        &update_call(
            &id,
            json!({"email": {"email": "not an email"}}),
            zu::UpdateHumanUserRequest {
                user_id: id.clone(),
                email: Some(zu::SetHumanEmail {
                    email: "not an email".into(),
                    verification: None,
                }),
                ..Default::default()
            },
        ),
        Code::InvalidArgument,
        "INVALID-EMAIL",
    )
    .await;
    assert!(m.starts_with("email.email: "), "{m}");
    let template = "https://example.com/verify?email={{.Email}}";
    let m = fails_everywhere(
        &app,
        Some(&admin),
        &update_call(
            &id,
            json!({"profile": {"givenName": "Anne", "familyName": "Lee"},
                   "email": {"email": "anne@example.com", "sendCode": {"urlTemplate": template}}}),
            zu::UpdateHumanUserRequest {
                user_id: id.clone(),
                profile: Some(profile("Anne", "Lee")),
                email: Some(zu::SetHumanEmail {
                    email: "anne@example.com".into(),
                    verification: Some(zu::set_human_email::Verification::SendCode(
                        zu::SendEmailVerificationCode {
                            url_template: Some(template.into()),
                        },
                    )),
                }),
                ..Default::default()
            },
        ),
        Code::InvalidArgument,
        "INVALID-URL-TEMPLATE",
    )
    .await;
    assert!(m.starts_with("email.sendCode.urlTemplate: "), "{m}");
    assert_eq!(
        (
            sequence(&app, &admin, &id).await,
            audit_count(&app, &id).await
        ),
        before
    );
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(u["user"]["human"]["profile"]["givenName"], "Ann");
    assert_eq!(u["user"]["human"]["email"]["email"], "ann@example.com");
    assert!(app.outbox_of(id.parse().unwrap()).await.is_empty());

    // failed_precondition: the same password as now; reactivating an active user.
    fails_everywhere(
        &app,
        Some(&admin),
        &set_password_call(&id, "Ann-Passw0rd-99", None),
        Code::FailedPrecondition,
        "PRECONDITION-PASSWORD-UNCHANGED",
    )
    .await;
    fails_everywhere(
        &app,
        Some(&admin),
        &Call {
            method: "ReactivateUser",
            json: json!({"userId": id}),
            proto: zu::ReactivateUserRequest {
                user_id: id.clone(),
            },
            rest: (
                Method::POST,
                format!("/v2/users/{id}/reactivate"),
                Some(json!({})),
            ),
        },
        Code::FailedPrecondition,
        "PRECONDITION-NOT-INACTIVE",
    )
    .await;
    assert_eq!(sequence(&app, &admin, &id).await, before.0);

    // unauthenticated: no token, an unknown token.
    for token in [None, Some("not-a-key-of-usher")] {
        let m = fails_everywhere(
            &app,
            token,
            &get_call(&id),
            Code::Unauthenticated,
            "AUTH-UNAUTHENTICATED",
        )
        .await;
        assert_eq!(
            m,
            "Token is missing, invalid or expired (AUTH-UNAUTHENTICATED)"
        );
    }

    // permission_denied: a read-only admin key writing; the user's own key changing its
    // username (a user edits only its names, language, email and password).
    let read_only = app.key(1, None, true).await;
    let rename = |given: &str| {
        update_call(
            &id,
            json!({"profile": {"givenName": given, "familyName": "Lee"}}),
            zu::UpdateHumanUserRequest {
                user_id: id.clone(),
                profile: Some(profile(given, "Lee")),
                ..Default::default()
            },
        )
    };
    fails_everywhere(
        &app,
        Some(&read_only),
        &rename("Annie"),
        Code::PermissionDenied,
        "AUTH-PERMISSION-DENIED",
    )
    .await;
    // ... while reading works with it.
    assert_eq!(
        get_user(&app, &read_only, &id).await["user"]["userId"],
        id.as_str()
    );
    let own = app.key(1, Some(id.parse().unwrap()), false).await;
    fails_everywhere(
        &app,
        Some(&own),
        &update_call(
            &id,
            json!({"username": "ann-the-great"}),
            zu::UpdateHumanUserRequest {
                user_id: id.clone(),
                username: Some("ann-the-great".into()),
                ..Default::default()
            },
        ),
        Code::PermissionDenied,
        "AUTH-PERMISSION-DENIED",
    )
    .await;
    // Its own names it may change.
    let b = call_ok(
        &app,
        &own,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Annie", "familyName": "Lee"}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), before.0 + 1);
    // Another user is invisible to it: not found.
    fails_everywhere(
        &app,
        Some(&own),
        &get_call(&other),
        Code::NotFound,
        "USER-NOTFOUND",
    )
    .await;

    // not_found: an unknown id, an id that is not a number.
    for missing in ["987654321", "not-a-number"] {
        let m = fails_everywhere(
            &app,
            Some(&admin),
            &get_call(missing),
            Code::NotFound,
            "USER-NOTFOUND",
        )
        .await;
        assert_eq!(m, "User could not be found (USER-NOTFOUND)");
        fails_everywhere(
            &app,
            Some(&admin),
            &rename("Nobody").with_id(missing),
            Code::NotFound,
            "USER-NOTFOUND",
        )
        .await;
    }

    // already_exists: a username another user has (Bob's defaults to his email).
    let before = sequence(&app, &admin, &id).await;
    fails_everywhere(
        &app,
        Some(&admin),
        &update_call(
            &id,
            json!({"username": "bob@example.com"}),
            zu::UpdateHumanUserRequest {
                user_id: id.clone(),
                username: Some("bob@example.com".into()),
                ..Default::default()
            },
        ),
        Code::AlreadyExists,
        "USER-USERNAME-TAKEN",
    )
    .await;
    assert_eq!(sequence(&app, &admin, &id).await, before);

    // unimplemented: RegisterPasskey, and its REST path.
    // (after authentication, like every call).
    let passkey = Call {
        method: "RegisterPasskey",
        json: json!({"userId": id}),
        proto: zu::RegisterPasskeyRequest {
            user_id: id.clone(),
            ..Default::default()
        },
        rest: (
            Method::POST,
            format!("/v2/users/{id}/passkeys"),
            Some(json!({})),
        ),
    };
    let m = fails_everywhere(
        &app,
        Some(&admin),
        &passkey,
        Code::Unimplemented,
        "UNIMPLEMENTED",
    )
    .await;
    assert_eq!(
        m,
        "zitadel.user.v2.UserService.RegisterPasskey is not implemented (UNIMPLEMENTED)"
    );
    let r = app
        .post(
            &format!("/zitadel/v2/users/{id}/passkeys"),
            &admin,
            json!({}),
        )
        .await;
    assert_rest_error(&r, Code::Unimplemented, "UNIMPLEMENTED");
    for token in [None, Some("not-a-key-of-usher")] {
        fails_everywhere(
            &app,
            token,
            &passkey,
            Code::Unauthenticated,
            "AUTH-UNAUTHENTICATED",
        )
        .await;
    }
}

impl Call<zu::UpdateHumanUserRequest> {
    /// The same call on another user id.
    fn with_id(mut self, id: &str) -> Self {
        self.json["userId"] = json!(id);
        self.proto.user_id = id.to_owned();
        self.rest.1 = format!("/v2/users/human/{id}");
        self
    }
}

/// resource_exhausted: ten wrong current passwords in a row (each invalid_argument, spread over
/// the protocols) make the account wait; the eleventh try answers resource_exhausted on every
/// protocol, even with the right password, until the wait is over.
async fn wrong_passwords_exhaust_on_every_protocol(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        person("Cy", "Press", "cy@example.com", Some("Right-Passw0rd-1")),
    )
    .await;
    let wrong = set_password_call(&id, "Brand-New-Passw0rd", Some("wrong-password-xx"));
    // 2 × 5 protocols = 10 wrong attempts.
    for _ in 0..2 {
        let m = fails_everywhere(
            &app,
            Some(&admin),
            &wrong,
            Code::InvalidArgument,
            "INVALID-WRONG-PASSWORD",
        )
        .await;
        assert!(m.contains("current password is wrong"), "{m}");
    }
    assert_eq!(stored_user(&app, &id).await.failed_password_attempts, 10);
    let m = fails_everywhere(
        &app,
        Some(&admin),
        &wrong,
        Code::ResourceExhausted,
        "AUTH-RATE-LIMITED",
    )
    .await;
    assert_eq!(
        m,
        "Too many attempts; try again in 60 s (AUTH-RATE-LIMITED)"
    );
    let right = set_password_call(&id, "Brand-New-Passw0rd", Some("Right-Passw0rd-1"));
    fails_everywhere(
        &app,
        Some(&admin),
        &right,
        Code::ResourceExhausted,
        "AUTH-RATE-LIMITED",
    )
    .await;
    // Through UpdateHumanUser too.
    call_err(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "password": {"password": {"password": "Brand-New-Passw0rd"},
               "currentPassword": "Right-Passw0rd-1"}}),
        Code::ResourceExhausted,
        "AUTH-RATE-LIMITED",
    )
    .await;
    // After the wait the right password works and the count is reset.
    app.clock.advance(chrono::Duration::seconds(61));
    let b = call_ok(&app, &admin, "SetPassword", right.json.clone()).await;
    assert_eq!(seq_of(&b["details"]), 2);
    let u = stored_user(&app, &id).await;
    assert_eq!(
        (u.failed_password_attempts, u.password_locked_until),
        (0, None)
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The rules of UpdateHumanUser (spec "Semantics of UpdateHumanUser").

/// Validation before lookup; a no-op writes nothing and answers the current details; email with
/// isVerified (admin), with sendCode and a URL template (a real email whose link is the template
/// filled in), and the same address with isVerified; phone isVerified=false refused.
async fn update_rules_contact(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let Some(app) = with_sinks(backend, &smtp, None).await else {
        return;
    };
    let admin = app.org_admin().await;

    // Validation comes before the lookup: a bad email on an unknown (or non-numeric) id is
    // invalid_argument, not not_found.
    for missing in ["987654321", "no-such-user"] {
        call_err(
            &app,
            &admin,
            "UpdateHumanUser",
            json!({"userId": missing, "email": {"email": "@@"}}),
            Code::InvalidArgument,
            "INVALID-EMAIL",
        )
        .await;
        let r = app
            .put(
                &format!("/v2/users/human/{missing}"),
                &admin,
                json!({"profile": {"givenName": "", "familyName": "X"}}),
            )
            .await;
        let m = assert_rest_error(&r, Code::InvalidArgument, "INVALID-REQUIRED");
        assert!(m.starts_with("profile.givenName: "), "{m}");
        call_err(
            &app,
            &admin,
            "UpdateHumanUser",
            json!({"userId": missing, "phone": {"phone": "+41791234567", "isVerified": false}}),
            Code::InvalidArgument,
            "INVALID-VALUE",
        )
        .await;
    }

    let id = add_user(
        &app,
        &admin,
        json!({"username": "ada", "profile": {"givenName": "Ada", "familyName": "Lovelace",
               "nickName": "Countess"}, "email": {"email": "ada@example.com", "isVerified": true}}),
    )
    .await;
    app.clock.advance(chrono::Duration::seconds(30));

    // A no-op: the same values again. Nothing is written; the current details come back.
    let audits = audit_count(&app, &id).await;
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "username": "ada",
               "profile": {"givenName": "Ada", "familyName": "Lovelace", "nickName": "Countess"},
               "email": {"email": "ada@example.com"}}),
    )
    .await;
    let created = start_time().rfc3339();
    assert_eq!(
        b,
        json!({"details": {"sequence": "1", "changeDate": created, "resourceOwner": "1",
                           "creationDate": created}})
    );
    assert_eq!(audit_count(&app, &id).await, audits);
    assert!(app.outbox_of(id.parse().unwrap()).await.is_empty());
    let b = call_ok(&app, &admin, "UpdateHumanUser", json!({"userId": id})).await;
    assert_eq!(seq_of(&b["details"]), 1);

    // phone isVerified=false on a real user: refused, nothing written.
    call_err(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "phone": {"phone": "+41791234567", "isVerified": false}}),
        Code::InvalidArgument,
        "INVALID-VALUE",
    )
    .await;
    assert_eq!(sequence(&app, &admin, &id).await, 1);

    // A new address marked verified by the admin: verified, no code, nothing sent.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "email": {"email": "ada@lovelace.org", "isVerified": true}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 2);
    assert!(b.get("emailCode").is_none(), "{b}");
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(
        u["user"]["human"]["email"],
        json!({"email": "ada@lovelace.org", "isVerified": true})
    );
    assert!(app.outbox_of(id.parse().unwrap()).await.is_empty());

    // sendCode with seed 003's template: an email whose link is the template filled in.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "email": {"email": "ada@analytical.engine",
               "sendCode": {"urlTemplate": SEED_TEMPLATE}}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 3);
    assert!(b.get("emailCode").is_none(), "{b}");
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["ada@analytical.engine"]);
    let link = mail.link("https://example.com/email/verify");
    let code = query_param(&link, "code");
    assert_code(&code);
    assert_eq!(
        link,
        format!("https://example.com/email/verify?userID={id}&code={code}&orgID=1")
    );
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(
        u["user"]["human"]["email"],
        json!({"email": "ada@analytical.engine"})
    );

    // The same address with isVerified on the unverified email: verified.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "email": {"email": "ada@analytical.engine", "isVerified": true}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 4);
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(u["user"]["human"]["email"]["isVerified"], true);
    // Again: nothing left to do.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "email": {"email": "ada@analytical.engine", "isVerified": true}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 4);

    // A template naming another field fails the whole call: the profile is not changed either.
    call_err(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Augusta", "familyName": "King"},
               "email": {"email": "augusta@example.com",
                         "sendCode": {"urlTemplate": "https://x.example/?e={{.Email}}"}}}),
        Code::InvalidArgument,
        "INVALID-URL-TEMPLATE",
    )
    .await;
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(seq_of(&u["details"]), 4);
    assert_eq!(u["user"]["human"]["profile"]["givenName"], "Ada");
    // No second email was queued.
    assert_eq!(app.outbox_of(id.parse().unwrap()).await.len(), 1);
}

/// hashedPassword: a bcrypt hash made by an independent tool is stored as given and verifies
/// (proved by a password change with it as currentPassword; then the stored hash is argon2id);
/// an unsupported format (`$apr1$`) is refused; a user changing its own password needs proof;
/// a reset code (PasswordReset returnCode) is proof, once.
async fn update_rules_password(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(&app, &admin, person("Hal", "Lab", "hal@example.com", None)).await;
    let own = app.key(1, Some(id.parse().unwrap()), false).await;

    // An unsupported hash format.
    for token in [&admin, &own] {
        let m = call_err(
            &app,
            token,
            "UpdateHumanUser",
            json!({"userId": id, "password": {"hashedPassword": {"hash": APR1_HASH}}}),
            Code::InvalidArgument,
            "INVALID-PASSWORD-HASH-NOT-SUPPORTED",
        )
        .await;
        assert_eq!(
            m,
            "password hash not supported (INVALID-PASSWORD-HASH-NOT-SUPPORTED)"
        );
    }
    let r = app
        .put(
            &format!("/v2/users/human/{id}"),
            &admin,
            json!({"password": {"hashedPassword": {"hash": APR1_HASH}}}),
        )
        .await;
    assert_rest_error(
        &r,
        Code::InvalidArgument,
        "INVALID-PASSWORD-HASH-NOT-SUPPORTED",
    );
    assert_eq!(
        r.body["details"][0]["message"],
        "password hash not supported"
    );
    assert_eq!(sequence(&app, &admin, &id).await, 1);

    // The bcrypt vector, imported by the admin: stored as given, the user is active.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "password": {"hashedPassword": {"hash": BCRYPT_HASH, "changeRequired": true}}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 2);
    let stored = stored_user(&app, &id).await;
    assert_eq!(stored.password_hash.as_deref(), Some(BCRYPT_HASH));
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(u["user"]["state"], "USER_STATE_ACTIVE");
    assert_eq!(u["user"]["human"]["passwordChangeRequired"], true);

    // The user changing its own password without proof: permission_denied.
    call_err(
        &app,
        &own,
        "UpdateHumanUser",
        json!({"userId": id, "password": {"password": {"password": "Hal-9000-Passw0rd"}}}),
        Code::PermissionDenied,
        "AUTH-PERMISSION-DENIED",
    )
    .await;
    call_err(
        &app,
        &own,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Hal-9000-Passw0rd"}}),
        Code::PermissionDenied,
        "AUTH-PERMISSION-DENIED",
    )
    .await;
    // A wrong current password: invalid_argument.
    call_err(
        &app,
        &own,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Hal-9000-Passw0rd"},
               "currentPassword": "not the password"}),
        Code::InvalidArgument,
        "INVALID-WRONG-PASSWORD",
    )
    .await;
    assert_eq!(
        stored_user(&app, &id).await.password_hash.as_deref(),
        Some(BCRYPT_HASH)
    );
    // The vector's password as the current one: the imported hash verifies.
    let b = call_ok(
        &app,
        &own,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Hal-9000-Passw0rd"},
               "currentPassword": BCRYPT_PASSWORD}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 3);
    let stored = stored_user(&app, &id).await;
    assert!(
        stored
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$"),
        "{:?}",
        stored.password_hash
    );
    assert!(!stored.password_change_required);
    // The same password as now: failed_precondition.
    call_err(
        &app,
        &own,
        "UpdateHumanUser",
        json!({"userId": id, "password": {"password": {"password": "Hal-9000-Passw0rd"},
               "currentPassword": "Hal-9000-Passw0rd"}}),
        Code::FailedPrecondition,
        "PRECONDITION-PASSWORD-UNCHANGED",
    )
    .await;

    // A reset code is proof, once.
    let b = call_ok(
        &app,
        &own,
        "PasswordReset",
        json!({"userId": id, "returnCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 4);
    let code = b["verificationCode"].as_str().unwrap().to_owned();
    assert_code(&code);
    let change = json!({"userId": id, "password": {"password": {"password": "Hal-Reset-Passw0rd"},
                        "verificationCode": code}});
    let b = call_ok(&app, &own, "UpdateHumanUser", change.clone()).await;
    assert_eq!(seq_of(&b["details"]), 5);
    call_err(
        &app,
        &own,
        "UpdateHumanUser",
        json!({"userId": id, "password": {"password": {"password": "Hal-Other-Passw0rd"},
               "verificationCode": code}}),
        Code::InvalidArgument,
        "INVALID-CODE",
    )
    .await;
    // The password in force is the one set with the code.
    let b = call_ok(
        &app,
        &own,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Hal-Final-Passw0rd"},
               "currentPassword": "Hal-Reset-Passw0rd"}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 6);
}

// ---------------------------------------------------------------------------------------------
// 7. The other calls.

/// SetEmail, ResendEmailCode, SendEmailCode, VerifyEmail; SetPhone, ResendPhoneCode, VerifyPhone,
/// RemovePhone — with returnCode, and sent through a real SMTP server and SMS webhook.
async fn email_and_phone_calls(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let sms = SmsSink::start().await;
    let Some(app) = with_sinks(backend, &smtp, Some(&sms)).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        json!({"profile": {"givenName": "Eve", "familyName": "Ng"},
               "email": {"email": "eve@example.com", "returnCode": {}}}),
    )
    .await;
    let mut seq = 1;
    let mut next = || {
        seq += 1;
        seq
    };

    // Email.
    let b = call_ok(
        &app,
        &admin,
        "ResendEmailCode",
        json!({"userId": id, "returnCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    let resent = b["verificationCode"].as_str().unwrap().to_owned();
    assert_code(&resent);
    let b = call_ok(
        &app,
        &admin,
        "ResendEmailCode",
        json!({"userId": id, "sendCode": {"urlTemplate": "https://app.example/verify/{{.Code}}?u={{.UserID}}"}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    assert!(b.get("verificationCode").is_none(), "{b}");
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["eve@example.com"]);
    let link = mail.link("https://app.example/verify/");
    let mailed = link
        .trim_start_matches("https://app.example/verify/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert_code(&mailed);
    assert_eq!(link, format!("https://app.example/verify/{mailed}?u={id}"));
    let b = call_ok(
        &app,
        &admin,
        "SendEmailCode",
        json!({"userId": id, "returnCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    let code = b["verificationCode"].as_str().unwrap().to_owned();
    call_err(
        &app,
        &admin,
        "VerifyEmail",
        json!({"userId": id, "verificationCode": if code == "AAAAAA" { "BBBBBB" } else { "AAAAAA" }}),
        Code::InvalidArgument,
        "INVALID-CODE",
    )
    .await;
    let b = call_ok(
        &app,
        &admin,
        "VerifyEmail",
        json!({"userId": id, "verificationCode": code}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(
        u["user"]["human"]["email"],
        json!({"email": "eve@example.com", "isVerified": true})
    );
    // A verified address has nothing to send.
    for method in ["SendEmailCode", "ResendEmailCode"] {
        call_err(
            &app,
            &admin,
            method,
            json!({"userId": id, "returnCode": {}}),
            Code::FailedPrecondition,
            "PRECONDITION-ALREADY-VERIFIED",
        )
        .await;
    }
    // SetEmail with returnCode, then VerifyEmail with it.
    let b = call_ok(
        &app,
        &admin,
        "SetEmail",
        json!({"userId": id, "email": "eve@ng.example", "returnCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    let code = b["verificationCode"].as_str().unwrap().to_owned();
    assert_code(&code);
    assert_eq!(
        get_user(&app, &admin, &id).await["user"]["human"]["email"],
        json!({"email": "eve@ng.example"})
    );
    let b = call_ok(
        &app,
        &admin,
        "VerifyEmail",
        json!({"userId": id, "verificationCode": code}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    assert_eq!(
        get_user(&app, &admin, &id).await["user"]["human"]["email"]["isVerified"],
        true
    );
    // SetEmail by REST with sendCode: an email to the new address.
    let r = app
        .post(
            &format!("/v2/users/{id}/email"),
            &admin,
            json!({"email": "eve@mail.example", "sendCode": {}}),
        )
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), next());
    let mail = smtp.wait_for(2).await.remove(1);
    assert_eq!(mail.to, ["eve@mail.example"]);
    let link = mail.link("/verify-email");
    assert!(
        link.starts_with(&format!("{PUBLIC_URL}/verify-email?userId={id}&code=")),
        "{link}"
    );
    assert_code(&query_param(&link, "code"));
    // SetEmail with isVerified by the admin.
    let b = call_ok(
        &app,
        &admin,
        "SetEmail",
        json!({"userId": id, "email": "eve@final.example", "isVerified": true}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    assert!(b.get("verificationCode").is_none());

    // Phone: SetPhone sends an SMS code.
    let b = call_ok(
        &app,
        &admin,
        "SetPhone",
        json!({"userId": id, "phone": "+41 79 123 45 67", "sendCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    assert!(b.get("verificationCode").is_none());
    let call = sms.wait_for(1).await.remove(0);
    assert_eq!(call.body["to"], "+41791234567");
    let text = call.body["body"].as_str().unwrap().to_owned();
    let sent = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() == 6
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_owned();
    // ResendPhoneCode by SMS and with returnCode (field numbers 3 and 4).
    let b = call_ok(
        &app,
        &admin,
        "ResendPhoneCode",
        json!({"userId": id, "sendCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    sms.wait_for(2).await;
    let w = grpc_web(
        &app,
        "ResendPhoneCode",
        Some(&admin),
        &zu::ResendPhoneCodeRequest {
            user_id: id.clone(),
            verification: Some(zu::resend_phone_code_request::Verification::ReturnCode(
                zu::ReturnPhoneVerificationCode {},
            )),
        },
        false,
    )
    .await;
    let r: zu::ResendPhoneCodeResponse = w.decode();
    assert_eq!(r.details.unwrap().sequence, next());
    let code = r.verification_code.unwrap();
    assert_code(&code);
    // The older code no longer works (unless the dice repeated it).
    if sent != code {
        call_err(
            &app,
            &admin,
            "VerifyPhone",
            json!({"userId": id, "verificationCode": sent}),
            Code::InvalidArgument,
            "INVALID-CODE",
        )
        .await;
    }
    let r = app
        .post(
            &format!("/v2/users/{id}/phone/verify"),
            &admin,
            json!({"verificationCode": code}),
        )
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), next());
    assert_eq!(
        get_user(&app, &admin, &id).await["user"]["human"]["phone"],
        json!({"phone": "+41791234567", "isVerified": true})
    );
    // RemovePhone (REST DELETE), then again: nothing to remove.
    let r = app.delete(&format!("/v2/users/{id}/phone"), &admin).await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), next());
    assert_eq!(
        get_user(&app, &admin, &id).await["user"]["human"]["phone"],
        json!({})
    );
    call_err(
        &app,
        &admin,
        "RemovePhone",
        json!({"userId": id}),
        Code::FailedPrecondition,
        "PRECONDITION-NO-PHONE",
    )
    .await;
    // SetPhone with returnCode → VerifyPhone.
    let b = call_ok(
        &app,
        &admin,
        "SetPhone",
        json!({"userId": id, "phone": "+41 44 668 18 00", "returnCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    let code = b["verificationCode"].as_str().unwrap().to_owned();
    let b = call_ok(
        &app,
        &admin,
        "VerifyPhone",
        json!({"userId": id, "verificationCode": code}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), next());
    assert_eq!(
        get_user(&app, &admin, &id).await["user"]["human"]["phone"],
        json!({"phone": "+41446681800", "isVerified": true})
    );
    assert_eq!(sms.calls().len(), 2);
}

/// SetPassword, PasswordReset (a link by email through SMTP; returnCode), the account states
/// (with a key bound to a deactivated user refused), invite codes, DeleteUser.
async fn password_state_and_invite_calls(backend: Backend) {
    let smtp = SmtpSink::start().await;
    let Some(app) = with_sinks(backend, &smtp, None).await else {
        return;
    };
    let admin = app.org_admin().await;
    let id = add_user(
        &app,
        &admin,
        person("Ivy", "Stone", "ivy@example.com", None),
    )
    .await;
    let own = app.key(1, Some(id.parse().unwrap()), false).await;
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_INITIAL");
    // INITIAL users cannot be deactivated.
    call_err(
        &app,
        &admin,
        "DeactivateUser",
        json!({"userId": id}),
        Code::FailedPrecondition,
        "PRECONDITION-INITIAL",
    )
    .await;

    // SetPassword by the admin: ACTIVE.
    let b = call_ok(
        &app,
        &admin,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Ivy-First-Passw0rd", "changeRequired": true}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 2);
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_ACTIVE");

    // PasswordReset by email with a template: the link reaches the SMTP server.
    let r = app
        .post(
            &format!("/v2/users/{id}/password_reset"),
            &admin,
            json!({"sendLink": {"notificationType": "NOTIFICATION_TYPE_Email",
                                "urlTemplate": "https://app.example/reset?user={{.UserID}}&code={{.Code}}&org={{.OrgID}}"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), 3);
    assert!(r.body.get("verificationCode").is_none(), "{}", r.text);
    let mail = smtp.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["ivy@example.com"]);
    let link = mail.link("https://app.example/reset");
    let code = query_param(&link, "code");
    assert_code(&code);
    assert_eq!(
        link,
        format!("https://app.example/reset?user={id}&code={code}&org=1")
    );
    let b = call_ok(
        &app,
        &own,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Ivy-Reset-Passw0rd"}, "verificationCode": code}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 4);
    // PasswordReset with returnCode over gRPC (the SDK).
    let mut c = sdk(&app, &own).await;
    let r = c
        .password_reset(zu::PasswordResetRequest {
            user_id: id.clone(),
            medium: Some(zu::password_reset_request::Medium::ReturnCode(
                zu::ReturnPasswordResetCode {},
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.details.unwrap().sequence, 5);
    let code = r.verification_code.unwrap();
    assert_code(&code);
    let r = c
        .set_password(zu::SetPasswordRequest {
            user_id: id.clone(),
            new_password: Some(zu::Password {
                password: "Ivy-Third-Passw0rd".into(),
                change_required: false,
            }),
            verification: Some(zu::set_password_request::Verification::VerificationCode(
                code,
            )),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.details.unwrap().sequence, 6);
    // ... and the current password proves it too.
    let b = call_ok(
        &app,
        &own,
        "SetPassword",
        json!({"userId": id, "newPassword": {"password": "Ivy-Fourth-Passw0rd"},
               "currentPassword": "Ivy-Third-Passw0rd"}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 7);

    // States: deactivate (the user's own key stops working), reactivate, lock, unlock.
    let b = call_ok(&app, &admin, "DeactivateUser", json!({"userId": id})).await;
    assert_eq!(seq_of(&b["details"]), 8);
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_INACTIVE");
    let r = connect_json(
        &app,
        "GetUserByID",
        Some(&own),
        &json!({"userId": id}),
        false,
    )
    .await;
    assert_connect_error(&r, Code::Unauthenticated, "AUTH-UNAUTHENTICATED");
    let s = c
        .get_user_by_id(zu::GetUserByIdRequest {
            user_id: id.clone(),
        })
        .await
        .expect_err("inactive");
    assert_grpc_error(&s, Code::Unauthenticated, "AUTH-UNAUTHENTICATED");
    call_err(
        &app,
        &admin,
        "DeactivateUser",
        json!({"userId": id}),
        Code::FailedPrecondition,
        "PRECONDITION-ALREADY-INACTIVE",
    )
    .await;
    let r = app
        .post(&format!("/v2/users/{id}/reactivate"), &admin, json!({}))
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), 9);
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_ACTIVE");
    assert_eq!(got_user(&mut c, &id).await.user_id, id);
    let b = call_ok(&app, &admin, "LockUser", json!({"userId": id})).await;
    assert_eq!(seq_of(&b["details"]), 10);
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_LOCKED");
    let r = connect_json(
        &app,
        "GetUserByID",
        Some(&own),
        &json!({"userId": id}),
        false,
    )
    .await;
    assert_connect_error(&r, Code::Unauthenticated, "AUTH-UNAUTHENTICATED");
    call_err(
        &app,
        &admin,
        "LockUser",
        json!({"userId": id}),
        Code::FailedPrecondition,
        "PRECONDITION-ALREADY-LOCKED",
    )
    .await;
    let r = app
        .post(&format!("/v2/users/{id}/unlock"), &admin, json!({}))
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), 11);
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_ACTIVE");
    call_err(
        &app,
        &admin,
        "UnlockUser",
        json!({"userId": id}),
        Code::FailedPrecondition,
        "PRECONDITION-NOT-LOCKED",
    )
    .await;
    let r = app
        .post(&format!("/v2/users/{id}/lock"), &admin, json!({}))
        .await;
    r.expect(200);
    let r = app
        .post(&format!("/v2/users/{id}/deactivate"), &admin, json!({}))
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), 13);
    assert_eq!(state(&app, &admin, &id).await, "USER_STATE_INACTIVE");

    // Invite codes: returned, then verified → ACTIVE with the address verified.
    let inv = add_user(
        &app,
        &admin,
        json!({"profile": {"givenName": "Ian", "familyName": "Vite"},
               "email": {"email": "ian@example.com", "returnCode": {}}}),
    )
    .await;
    let b = call_ok(
        &app,
        &admin,
        "CreateInviteCode",
        json!({"userId": inv, "returnCode": {}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 2);
    let invite = b["inviteCode"].as_str().unwrap().to_owned();
    assert!(!invite.is_empty());
    call_err(
        &app,
        &admin,
        "VerifyInviteCode",
        json!({"userId": inv, "verificationCode": "not-the-code"}),
        Code::InvalidArgument,
        "INVALID-CODE",
    )
    .await;
    let r = app
        .post(
            &format!("/v2/users/{inv}/invite_code/verify"),
            &admin,
            json!({"verificationCode": invite}),
        )
        .await;
    r.expect(200);
    assert_eq!(seq_of(&r.body["details"]), 3);
    let u = get_user(&app, &admin, &inv).await;
    assert_eq!(u["user"]["state"], "USER_STATE_ACTIVE");
    assert_eq!(u["user"]["human"]["email"]["isVerified"], true);

    // Sent by email with a template, and sent again.
    let guest = add_user(
        &app,
        &admin,
        person("Gus", "Guest", "gus@example.com", None),
    )
    .await;
    let b = call_ok(
        &app,
        &admin,
        "CreateInviteCode",
        json!({"userId": guest, "sendCode": {"urlTemplate": "https://app.example/invite?u={{.UserID}}&c={{.Code}}",
               "applicationName": "Usher Test"}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), 2);
    assert!(b.get("inviteCode").is_none(), "{b}");
    let mail = smtp.wait_for(2).await.remove(1);
    assert_eq!(mail.to, ["gus@example.com"]);
    let link = mail.link("https://app.example/invite");
    let token = query_param(&link, "c");
    assert_eq!(
        link,
        format!("https://app.example/invite?u={guest}&c={token}")
    );
    let r = app
        .post(
            &format!("/v2/users/{guest}/invite_code/resend"),
            &admin,
            json!({}),
        )
        .await;
    r.expect(200);
    let resent = smtp.wait_for(3).await.remove(2);
    assert_eq!(resent.to, ["gus@example.com"]);
    // The resend links where the first message did: the invitation keeps its template.
    assert_eq!(
        resent.link("https://app.example/invite"),
        format!("https://app.example/invite?u={guest}&c={token}")
    );
    let b = call_ok(
        &app,
        &admin,
        "VerifyInviteCode",
        json!({"userId": guest, "verificationCode": token}),
    )
    .await;
    assert!(seq_of(&b["details"]) >= 3);
    assert_eq!(state(&app, &admin, &guest).await, "USER_STATE_ACTIVE");
    // A user that has signed up gets no invite code.
    call_err(
        &app,
        &admin,
        "CreateInviteCode",
        json!({"userId": guest, "returnCode": {}}),
        Code::FailedPrecondition,
        "PRECONDITION-ALREADY-REGISTERED",
    )
    .await;

    // DeleteUser: gone for every protocol; its key with it.
    let b = call_ok(&app, &admin, "DeleteUser", json!({"userId": id})).await;
    assert_eq!(seq_of(&b["details"]), 14);
    fails_everywhere(
        &app,
        Some(&admin),
        &get_call(&id),
        Code::NotFound,
        "USER-NOTFOUND",
    )
    .await;
    let r = connect_json(
        &app,
        "GetUserByID",
        Some(&own),
        &json!({"userId": inv}),
        false,
    )
    .await;
    assert_connect_error(&r, Code::Unauthenticated, "AUTH-UNAUTHENTICATED");
}

// ---------------------------------------------------------------------------------------------
// 8. One user, two dialects.

/// A user made through Bold is the same user through GetUserByID and the other way round; an
/// update through either is seen through the other; `details.sequence` grows by one per writing
/// call whichever dialect made it.
async fn cross_dialect_same_user(app: TestApp) {
    let admin = app.org_admin().await;
    // Bold → Zitadel.
    let bold_id = app
        .create_user(
            &admin,
            json!({"firstName": "Bea", "lastName": "Bold", "emailAddress": "bea@example.com",
                   "phoneNumber": "+41791234567"}),
        )
        .await;
    let id = bold_id.to_string();
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(u["details"]["sequence"], "1");
    assert_eq!(u["details"]["resourceOwner"], "1");
    assert_eq!(json_time(&u["details"]["creationDate"]), start_time());
    let user = &u["user"];
    assert_eq!(user["userId"], id.as_str());
    assert_eq!(user["username"], "bea@example.com");
    assert_eq!(user["state"], "USER_STATE_INITIAL");
    assert_eq!(user["human"]["profile"]["givenName"], "Bea");
    assert_eq!(user["human"]["profile"]["familyName"], "Bold");
    assert_eq!(user["human"]["email"], json!({"email": "bea@example.com"}));
    assert_eq!(user["human"]["phone"], json!({"phone": "+41791234567"}));

    // An update through Bold, seen through Zitadel: one step.
    app.clock.advance(chrono::Duration::seconds(7));
    app.put(
        &format!("/v2/users/{id}"),
        &admin,
        json!({"firstName": "Beatrix"}),
    )
    .await
    .expect(200);
    let u = get_user(&app, &admin, &id).await;
    assert_eq!(u["details"]["sequence"], "2");
    assert_eq!(json_time(&u["details"]["changeDate"]), at(7));
    assert_eq!(u["user"]["human"]["profile"]["givenName"], "Beatrix");
    // Through Zitadel, seen through Bold: one step.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Beatrix", "familyName": "Bolder"},
               "phone": {"phone": "+41446681800", "isVerified": true}}),
    )
    .await;
    assert_eq!(b["details"]["sequence"], "3");
    let g = app.get(&format!("/v2/users/{id}"), &admin).await;
    g.expect(200);
    assert_eq!(g.body["id"], bold_id);
    assert_eq!(g.body["firstName"], "Beatrix");
    assert_eq!(g.body["lastName"], "Bolder");
    assert_eq!(g.body["phoneNumber"], "+41446681800");
    assert_eq!(g.body["phoneNumberVerified"], true);
    // Bold again, then Zitadel: 4, 5.
    app.put(
        &format!("/v2/users/{id}"),
        &admin,
        json!({"lastName": "Boldest"}),
    )
    .await
    .expect(200);
    assert_eq!(sequence(&app, &admin, &id).await, 4);
    let b = call_ok(
        &app,
        &admin,
        "SetEmail",
        json!({"userId": id, "email": "bea@bold.example", "isVerified": true}),
    )
    .await;
    assert_eq!(b["details"]["sequence"], "5");
    let g = app.get(&format!("/v2/users/{id}"), &admin).await;
    assert_eq!(g.body["emailAddress"], "bea@bold.example");
    assert_eq!(g.body["emailAddressVerified"], true);
    assert_eq!(g.body["lastName"], "Boldest");

    // Zitadel → Bold.
    let zid = add_user(
        &app,
        &admin,
        json!({"profile": {"givenName": "Zed", "familyName": "Zitadel"},
               "email": {"email": "zed@example.com", "isVerified": true},
               "phone": {"phone": "+41791112233", "returnCode": {}},
               "password": {"password": "Zed-Passw0rd-123"}}),
    )
    .await;
    let g = app.get(&format!("/v2/users/{zid}"), &admin).await;
    g.expect(200);
    assert_eq!(g.body["id"], zid.parse::<i64>().unwrap());
    assert_eq!(g.body["organizationId"], 1);
    assert_eq!(g.body["firstName"], "Zed");
    assert_eq!(g.body["lastName"], "Zitadel");
    assert_eq!(g.body["emailAddress"], "zed@example.com");
    assert_eq!(g.body["emailAddressVerified"], true);
    assert_eq!(g.body["phoneNumber"], "+41791112233");
    assert_eq!(g.body["phoneNumberVerified"], false);
    assert_eq!(g.body["registered"], true);
    assert_eq!(g.body["dateModified"], at(7).rfc3339());
    // Deleted through Bold: gone through Zitadel.
    app.delete(&format!("/v2/users/{zid}"), &admin)
        .await
        .expect(200);
    call_err(
        &app,
        &admin,
        "GetUserByID",
        json!({"userId": zid}),
        Code::NotFound,
        "USER-NOTFOUND",
    )
    .await;
    let mut c = sdk(&app, &admin).await;
    let s = c
        .get_user_by_id(zu::GetUserByIdRequest { user_id: zid })
        .await
        .expect_err("deleted");
    assert_grpc_error(&s, Code::NotFound, "USER-NOTFOUND");

    // A Bold user named by its phone number alone keeps it: RemovePhone would leave nobody.
    let only_phone = app
        .create_user(&admin, json!({"phoneNumber": "+41791234568"}))
        .await
        .to_string();
    call_err(
        &app,
        &admin,
        "RemovePhone",
        json!({"userId": only_phone}),
        Code::InvalidArgument,
        "INVALID-REQUIRED",
    )
    .await;
    let u = get_user(&app, &admin, &only_phone).await;
    assert_eq!(u["user"]["human"]["phone"]["phone"], "+41791234568");
    // With a first name beside it, the phone may go.
    app.put(
        &format!("/v2/users/{only_phone}"),
        &admin,
        json!({"firstName": "Pho"}),
    )
    .await
    .expect(200);
    call_ok(&app, &admin, "RemovePhone", json!({"userId": only_phone})).await;
}

// ---------------------------------------------------------------------------------------------
// 9. x-zitadel-orgid.

/// The header picks the organization of AddHumanUser when the body names none (instance admin);
/// the body wins over it; it never widens rights: an org admin of A naming B gets not_found.
async fn org_header_selects_never_widens(app: TestApp) {
    let beta = app.create_org("beta").await.to_string();
    let root = app.admin.clone();
    let body = person("Olga", "Org", "olga@example.com", None);
    // Connect JSON.
    let r = connect_json_with(
        &app,
        "AddHumanUser",
        Some(&root),
        &[("x-zitadel-orgid", &beta)],
        &body,
        false,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["details"]["resourceOwner"], beta.as_str());
    let olga = r.body["userId"].as_str().unwrap().to_owned();
    assert_eq!(
        get_user(&app, &root, &olga).await["details"]["resourceOwner"],
        beta.as_str()
    );
    // gRPC, the SDK with the header as metadata.
    let mut c = sdk(&app, &root).await;
    let mut req = tonic::Request::new(zu::AddHumanUserRequest {
        profile: Some(profile("Oleg", "Org")),
        email: Some(zu::SetHumanEmail {
            email: "oleg@example.com".into(),
            verification: Some(zu::set_human_email::Verification::IsVerified(true)),
        }),
        ..Default::default()
    });
    req.metadata_mut()
        .insert("x-zitadel-orgid", beta.parse().unwrap());
    let r = c.add_human_user(req).await.unwrap().into_inner();
    assert_eq!(r.details.unwrap().resource_owner, beta);
    // REST.
    let r = app
        .client
        .post(format!("{}/v2/users/human", app.base))
        .bearer_auth(&root)
        .header("x-zitadel-orgid", &beta)
        .json(&person("Otto", "Org", "otto@example.com", None))
        .send()
        .await
        .unwrap();
    let r = TestApp::read(r).await;
    // AddHumanUser over REST answers 201, as upstream's gateway does.
    r.expect(201);
    assert_eq!(r.body["details"]["resourceOwner"], beta.as_str());
    // The body's organization wins over the header.
    let mut named = person("Ona", "Org", "ona@example.com", None);
    named["organization"] = json!({"orgId": "1"});
    let r = connect_json_with(
        &app,
        "AddHumanUser",
        Some(&root),
        &[("x-zitadel-orgid", &beta)],
        &named,
        true,
    )
    .await;
    r.expect(200);
    assert_eq!(r.body["details"]["resourceOwner"], "1");

    // An admin of the default organization naming beta: not found, on every protocol.
    let admin = app.org_admin().await;
    let body = person("Mal", "Ory", "mal@example.com", None);
    let r = connect_json_with(
        &app,
        "AddHumanUser",
        Some(&admin),
        &[("x-zitadel-orgid", &beta)],
        &body,
        false,
    )
    .await;
    assert_connect_error(&r, Code::NotFound, "ORG-NOTFOUND");
    let s = grpc::<_, zu::AddHumanUserResponse>(
        &app,
        "AddHumanUser",
        Some(&admin),
        &[("x-zitadel-orgid", &beta)],
        zu::AddHumanUserRequest {
            profile: Some(profile("Mal", "Ory")),
            email: Some(zu::SetHumanEmail {
                email: "mal@example.com".into(),
                verification: None,
            }),
            ..Default::default()
        },
    )
    .await
    .expect_err("not found");
    assert_grpc_error(&s, Code::NotFound, "ORG-NOTFOUND");
    let r = app
        .client
        .post(format!("{}/v2/users/human", app.base))
        .bearer_auth(&admin)
        .header("x-zitadel-orgid", &beta)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_rest_error(&TestApp::read(r).await, Code::NotFound, "ORG-NOTFOUND");
    let mut named = body.clone();
    named["organization"] = json!({"orgId": beta});
    call_err(
        &app,
        &admin,
        "AddHumanUser",
        named,
        Code::NotFound,
        "ORG-NOTFOUND",
    )
    .await;
    // Nor does the header open beta's users to it.
    let r = connect_json_with(
        &app,
        "GetUserByID",
        Some(&admin),
        &[("x-zitadel-orgid", &beta)],
        &json!({"userId": olga}),
        false,
    )
    .await;
    assert_connect_error(&r, Code::NotFound, "USER-NOTFOUND");
    let r = connect_json_with(
        &app,
        "ListUsers",
        Some(&admin),
        &[("x-zitadel-orgid", &beta)],
        &json!({"queries": [{"organizationIdQuery": {"organizationId": beta}}]}),
        false,
    )
    .await;
    r.expect(200);
    // Nothing found: zero and the empty list are proto3 defaults, so omitted.
    assert!(r.body["details"].get("totalResult").is_none(), "{}", r.text);
    assert!(r.body.get("result").is_none(), "{}", r.text);
    // Its own organization is still its default.
    let r = connect_json(&app, "AddHumanUser", Some(&admin), &body, false).await;
    r.expect(200);
    assert_eq!(r.body["details"]["resourceOwner"], "1");
}

// ---------------------------------------------------------------------------------------------
// 10. Routing and CORS next to Bold.

/// Bold keeps `POST /v2/users`, `GET /v2/users/{id}`, `DELETE /v2/users/{id}` at the root with its
/// shapes; `/zitadel/v2/...` answers Zitadel's; a Zitadel path's preflight allows Zitadel's
/// headers, a Bold path's keeps Bold's exact `authorization, content-type`.
async fn routing_and_cors_next_to_bold(app: TestApp) {
    let admin = app.org_admin().await;
    let r = app
        .post(
            "/v2/users",
            &admin,
            json!({"firstName": "Rae", "emailAddress": "rae@example.com"}),
        )
        .await;
    r.expect(201);
    assert_eq!(
        r.body,
        json!({"userId": r.body["userId"].as_i64().unwrap()})
    );
    let id = r.body["userId"].as_i64().unwrap();
    // Bold shape at the root, Zitadel's under /zitadel.
    let bold = app.get(&format!("/v2/users/{id}"), &admin).await;
    bold.expect(200);
    assert_eq!(bold.body["id"], id);
    assert_eq!(bold.body["firstName"], "Rae");
    assert!(bold.body.get("details").is_none());
    let z = app.get(&format!("/zitadel/v2/users/{id}"), &admin).await;
    z.expect(200);
    assert_eq!(z.body["user"]["userId"], id.to_string());
    assert_eq!(z.body["user"]["human"]["profile"]["givenName"], "Rae");
    let keys: Vec<&String> = z.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["details", "user"]);
    // ListUsers only under /zitadel; POST /v2/users at the root stays Bold's create.
    let z = app.post("/zitadel/v2/users", &admin, json!({})).await;
    z.expect(200);
    assert_eq!(z.body["details"]["totalResult"], "1");
    assert_eq!(z.body["result"][0]["userId"], id.to_string());
    // Bold errors at the root, Zitadel errors under /zitadel.
    app.get("/v2/users/999999", &admin)
        .await
        .bold_error(404, "UserNotFound");
    assert_rest_error(
        &app.get("/zitadel/v2/users/999999", &admin).await,
        Code::NotFound,
        "USER-NOTFOUND",
    );
    assert_rest_error(
        &app.send(Method::GET, &format!("/zitadel/v2/users/{id}"), None, None)
            .await,
        Code::Unauthenticated,
        "AUTH-UNAUTHENTICATED",
    );
    app.send(Method::GET, &format!("/v2/users/{id}"), None, None)
        .await
        .bold_error(401, "InvalidToken");
    // An unknown path under /zitadel is Zitadel's not found.
    let r = app.get("/zitadel/v2/nothing-here", &admin).await;
    assert_rest_error(&r, Code::NotFound, "NOT-FOUND");
    // DELETE: Bold's `{}` at the root, Zitadel's details under /zitadel.
    let other = app
        .create_user(
            &admin,
            json!({"firstName": "Del", "emailAddress": "del@example.com"}),
        )
        .await;
    let r = app.delete(&format!("/v2/users/{other}"), &admin).await;
    r.expect(200);
    assert_eq!(r.text, "{}");
    let r = app.delete(&format!("/zitadel/v2/users/{id}"), &admin).await;
    r.expect(200);
    assert_eq!(r.body["details"]["sequence"], "2");
    assert_eq!(r.body["details"]["resourceOwner"], "1");

    // Preflights.
    for path in [
        "/zitadel.user.v2.UserService/UpdateHumanUser",
        "/v2/users/human/5",
        "/v2/users/5/email",
        "/zitadel/v2/users/5",
        "/zitadel/v2/users",
    ] {
        let r = app.send(Method::OPTIONS, path, None, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.headers["access-control-allow-headers"], ZITADEL_ALLOW_HEADERS,
            "{path}"
        );
        assert_eq!(
            r.headers["access-control-allow-methods"],
            "GET, POST, DELETE, OPTIONS, PUT"
        );
        assert_eq!(
            r.headers["access-control-expose-headers"],
            "authorization, content-type, grpc-status, grpc-message, grpc-status-details-bin"
        );
        assert_eq!(r.headers["access-control-allow-origin"], "*");
    }
    for path in [
        "/v2/users",
        "/v2/users/5",
        "/v2/users/5/invitation",
        "/v1/user-groups",
    ] {
        let r = app.send(Method::OPTIONS, path, None, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.headers["access-control-allow-headers"], "authorization, content-type",
            "{path}"
        );
        assert_eq!(
            r.headers["access-control-expose-headers"], "authorization, content-type",
            "{path}"
        );
    }
    // The answers themselves carry the dialect's CORS headers too.
    let r = connect_json(
        &app,
        "GetUserByID",
        Some(&admin),
        &json!({"userId": "1"}),
        false,
    )
    .await;
    assert_eq!(
        r.headers["access-control-allow-headers"],
        ZITADEL_ALLOW_HEADERS
    );
    let r = app.get("/v2/users/1", &admin).await;
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "authorization, content-type"
    );
}

// ---------------------------------------------------------------------------------------------
// 11. Findings of the wire review (2026-xx): each pinned on the protocols it was found on.

/// A NUL (or any control character) in a `urlTemplate` or an AddHumanUser metadata key is an
/// invalid argument before anything is written; PostgreSQL answered 500 (it keeps no NUL in
/// JSON).
async fn control_characters_in_templates_and_metadata_keys(app: TestApp) {
    let admin = app.org_admin().await;
    let id = add_user(&app, &admin, person("Nul", "Char", "nul@example.com", None)).await;
    let before = sequence(&app, &admin, &id).await;
    let users = |b: Value| b["details"]["totalResult"].as_str().unwrap().to_owned();
    let count = users(call_ok(&app, &admin, "ListUsers", json!({})).await);
    let nul = "https://x.example/\u{0}{{.Code}}";
    for (method, body) in [
        (
            "SetEmail",
            json!({"userId": id, "email": "nul2@example.com", "sendCode": {"urlTemplate": nul}}),
        ),
        (
            "UpdateHumanUser",
            json!({"userId": id, "email": {"email": "nul2@example.com",
                                           "sendCode": {"urlTemplate": nul}}}),
        ),
        (
            "PasswordReset",
            json!({"userId": id, "sendLink": {"notificationType": "NOTIFICATION_TYPE_Email",
                                              "urlTemplate": nul}}),
        ),
        (
            "CreateInviteCode",
            json!({"userId": id, "sendCode": {"urlTemplate": nul}}),
        ),
        (
            "AddHumanUser",
            json!({"profile": {"givenName": "New", "familyName": "Nul"},
                   "email": {"email": "nul3@example.com", "sendCode": {"urlTemplate": nul}}}),
        ),
    ] {
        let m = call_err(
            &app,
            &admin,
            method,
            body,
            Code::InvalidArgument,
            "INVALID-URL-TEMPLATE",
        )
        .await;
        assert!(
            m.contains("control characters are not allowed"),
            "{method}: {m}"
        );
    }
    // Over REST and gRPC too, and any control character (a tab here).
    let r = app
        .post(
            &format!("/v2/users/{id}/email"),
            &admin,
            json!({"email": "nul2@example.com",
                   "sendCode": {"urlTemplate": "https://x.example/\t{{.Code}}"}}),
        )
        .await;
    assert_rest_error(&r, Code::InvalidArgument, "INVALID-URL-TEMPLATE");
    let s = grpc::<_, zu::SetEmailResponse>(
        &app,
        "SetEmail",
        Some(&admin),
        &[],
        zu::SetEmailRequest {
            user_id: id.clone(),
            email: "nul2@example.com".into(),
            verification: Some(zu::set_email_request::Verification::SendCode(
                zu::SendEmailVerificationCode {
                    url_template: Some(nul.into()),
                },
            )),
        },
    )
    .await
    .expect_err("refused");
    assert_grpc_error(&s, Code::InvalidArgument, "INVALID-URL-TEMPLATE");
    // Metadata keys.
    let mut body = person("Meta", "Nul", "meta@example.com", None);
    body["metadata"] = json!([{"key": "k\u{0}", "value": "dmFs"}]);
    let m = call_err(
        &app,
        &admin,
        "AddHumanUser",
        body.clone(),
        Code::InvalidArgument,
        "INVALID-TEXT",
    )
    .await;
    assert!(m.starts_with("metadata: control characters"), "{m}");
    let r = app.post("/v2/users/human", &admin, body.clone()).await;
    assert_rest_error(&r, Code::InvalidArgument, "INVALID-TEXT");
    // Nothing was written.
    assert_eq!(sequence(&app, &admin, &id).await, before);
    assert_eq!(
        users(call_ok(&app, &admin, "ListUsers", json!({})).await),
        count
    );
    // A plain key and template still work.
    body["metadata"] = json!([{"key": "k", "value": "dmFs"}]);
    add_user(&app, &admin, body).await;
    call_ok(
        &app,
        &admin,
        "SetEmail",
        json!({"userId": id, "email": "nul2@example.com", "returnCode": {}}),
    )
    .await;
}

/// Wrong methods on the gateway's paths (at the root and under `/zitadel`) and unknown paths
/// below a Zitadel path at the root answer in the gateway's shape: 405 with code 12, 404 with
/// code 5. Paths Bold owns keep Bold's.
async fn gateway_routing_errors_in_its_shape(app: TestApp) {
    let admin = app.org_admin().await;
    for (method, path) in [
        (Method::GET, "/zitadel/v2/users/human/3"),
        (Method::GET, "/v2/users/human/3"),
        (Method::DELETE, "/v2/users/human"),
        (Method::GET, "/zitadel/v2/users"),
        (Method::PUT, "/zitadel/v2/users/3"),
        (Method::DELETE, "/zitadel/v2/users/3/email"),
        (Method::GET, "/v2/users/3/email"),
        (Method::PUT, "/v2/users/3/phone"),
        (Method::GET, "/v2/users/3/passkeys"),
    ] {
        let r = app.send(method.clone(), path, Some(&admin), None).await;
        let m = assert_rest_error_at(&r, Code::Unimplemented, 405, "METHOD-NOT-ALLOWED");
        assert_eq!(
            m, "Method Not Allowed (METHOD-NOT-ALLOWED)",
            "{method} {path}"
        );
    }
    for (method, path) in [
        (Method::POST, "/v2/users/3/foo"),
        (Method::GET, "/v2/users/3/email/nothing"),
        (Method::POST, "/v2/users/human/3/more"),
        (Method::POST, "/zitadel/v2/users/3/foo"),
    ] {
        let r = app.send(method.clone(), path, Some(&admin), None).await;
        assert_rest_error(&r, Code::NotFound, "NOT-FOUND");
    }
    // A user id that is not UTF-8 once decoded names no user (it was axum's plain-text 400).
    for (method, path) in [
        (Method::PUT, "/v2/users/human/%ff"),
        (Method::POST, "/zitadel/v2/users/%ff/email"),
        (Method::POST, "/v2/users/%C3%28/deactivate"),
    ] {
        let r = app
            .send(method.clone(), path, Some(&admin), Some(&json!({})))
            .await;
        assert_rest_error(&r, Code::NotFound, "USER-NOTFOUND");
    }
    // Bold's paths keep Bold's shape.
    for (method, path) in [
        (Method::POST, "/v2/users/3"),
        (Method::PATCH, "/v2/users"),
        (Method::DELETE, "/v2/users/3/invitation"),
    ] {
        app.send(method, path, Some(&admin), None)
            .await
            .bold_error(405, "MethodNotAllowed");
    }
    for path in ["/v2/nothing", "/v1/users/3/foo", "/v2/users/3/invitation/x"] {
        app.get(path, &admin).await.bold_error(404, "NotFound");
    }
}

/// UpdateHumanUser: an optional profile field sent as `""` is present and clears the value
/// (JSON and binary alike); an absent one keeps it; `phone: {phone: ""}` is no phone, as in
/// AddHumanUser.
async fn update_clears_optional_profile_fields(app: TestApp) {
    let admin = app.org_admin().await;
    let mut body = person("Minnie", "Mouse", "minnie@example.com", None);
    body["profile"]["nickName"] = json!("M9");
    body["profile"]["displayName"] = json!("Minnie M.");
    body["profile"]["preferredLanguage"] = json!("de");
    let id = add_user(&app, &admin, body).await;
    let seq = sequence(&app, &admin, &id).await;
    // Absent: kept, nothing written.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Minnie", "familyName": "Mouse"}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), seq);
    // `null` is absent in proto3 JSON.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Minnie", "familyName": "Mouse",
                                          "nickName": null}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), seq);
    let p = &get_user(&app, &admin, &id).await["user"]["human"]["profile"];
    assert_eq!(p["nickName"], "M9");
    // Connect JSON: "" clears the nick name, one change.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Minnie", "familyName": "Mouse",
                                          "nickName": ""}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), seq + 1);
    let u = stored_user(&app, &id).await;
    assert_eq!(u.nick_name, None);
    assert_eq!(u.display_name.as_deref(), Some("Minnie M."));
    assert_eq!(u.preferred_language.as_deref(), Some("de"));
    let p = &get_user(&app, &admin, &id).await["user"]["human"]["profile"];
    assert!(p.get("nickName").is_none(), "{p}");
    // Clearing again changes nothing.
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "profile": {"givenName": "Minnie", "familyName": "Mouse",
                                          "nickName": ""}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), seq + 1);
    // gRPC (explicit presence on the wire): display name and language.
    let r: zu::UpdateHumanUserResponse = grpc(
        &app,
        "UpdateHumanUser",
        Some(&admin),
        &[],
        zu::UpdateHumanUserRequest {
            user_id: id.clone(),
            profile: Some(zu::SetHumanProfile {
                display_name: Some(String::new()),
                preferred_language: Some(String::new()),
                ..profile("Minnie", "Mouse")
            }),
            ..Default::default()
        },
    )
    .await
    .expect("updated");
    assert_eq!(r.details.unwrap().sequence, seq + 2);
    let u = stored_user(&app, &id).await;
    assert_eq!((u.display_name, u.preferred_language), (None, None));
    // The display name shown falls back to "given family".
    let p = &get_user(&app, &admin, &id).await["user"]["human"]["profile"];
    assert_eq!(p["displayName"], "Minnie Mouse");
    assert!(p.get("preferredLanguage").is_none(), "{p}");
    // Set again over REST.
    let r = app
        .put(
            &format!("/v2/users/human/{id}"),
            &admin,
            json!({"profile": {"givenName": "Minnie", "familyName": "Mouse", "nickName": "M10"}}),
        )
        .await;
    r.expect(200);
    assert_eq!(
        stored_user(&app, &id).await.nick_name.as_deref(),
        Some("M10")
    );
    // An empty phone number is no phone: nothing changes, no error.
    let seq = sequence(&app, &admin, &id).await;
    let b = call_ok(
        &app,
        &admin,
        "UpdateHumanUser",
        json!({"userId": id, "phone": {"phone": ""}}),
    )
    .await;
    assert_eq!(seq_of(&b["details"]), seq);
    assert!(b.get("phoneCode").is_none(), "{b}");
    let r = app
        .put(
            &format!("/v2/users/human/{id}"),
            &admin,
            json!({"phone": {"phone": "", "returnCode": {}}}),
        )
        .await;
    r.expect(200);
    assert!(stored_user(&app, &id).await.phone.is_none());
}

/// A JSON array is not a request message (Connect and REST); the decode error has one id,
/// `INVALID-REQUEST`, on every protocol.
async fn json_arrays_and_decode_errors(app: TestApp) {
    let admin = app.org_admin().await;
    add_user(&app, &admin, person("Arr", "Ay", "arr@example.com", None)).await;
    for body in ["[]", "[{\"limit\":2,\"asc\":true}]", " \n[{}]"] {
        let r = app
            .raw(
                Method::POST,
                &format!("{SERVICE}ListUsers"),
                Some(&admin),
                Some("application/json"),
                body,
            )
            .await;
        let m = assert_connect_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
        assert!(m.starts_with("failed to decode JSON: "), "{m}");
        // Decode errors come before authentication, as connectrpc's own do.
        let r = app
            .raw(
                Method::POST,
                &format!("{SERVICE}ListUsers"),
                None,
                Some("application/json"),
                body,
            )
            .await;
        assert_connect_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
        for path in ["/zitadel/v2/users", "/v2/users/human"] {
            let r = app
                .raw(
                    Method::POST,
                    path,
                    Some(&admin),
                    Some("application/json"),
                    body,
                )
                .await;
            let rm = assert_rest_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
            assert_eq!(rm, m, "{path} {body}");
        }
    }
    // The same undecodable body: one id and one message over Connect and REST.
    let bad = json!({"email": "a@b.example", "sendCode": {}, "returnCode": {}});
    let mut with_id = bad.clone();
    with_id["userId"] = json!("1");
    let r = connect_json(&app, "SetEmail", Some(&admin), &with_id, false).await;
    let m = assert_connect_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
    let r = app.post("/v2/users/1/email", &admin, bad).await;
    let rm = assert_rest_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
    assert!(m.starts_with("failed to decode JSON: "), "{m}");
    assert!(rm.starts_with("failed to decode JSON: "), "{rm}");
    assert!(m.contains("oneof") && rm.contains("oneof"), "{m} / {rm}");
    // Objects still work, and so do `"x"` and `null` fail as before.
    for body in ["\"x\"", "null"] {
        let r = app
            .raw(
                Method::POST,
                "/zitadel/v2/users",
                Some(&admin),
                Some("application/json"),
                body,
            )
            .await;
        assert_rest_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
    }
    call_ok(&app, &admin, "ListUsers", json!({"query": {"limit": 2}})).await;

    // Nor is a message inside the request read from an array, at any depth, on any protocol.
    let nested = [
        (
            "AddHumanUser",
            "/v2/users/human",
            json!({"profile": ["Ann", "Lee"], "email": {"email": "ann@example.com"}}),
            "profile: a message is a JSON object, not an array",
        ),
        (
            "AddHumanUser",
            "/v2/users/human",
            json!({"profile": {"givenName": "Ann", "familyName": "Lee"},
                   "email": {"email": "ann@example.com"},
                   "metadata": [{"key": "k", "value": "dg=="}, ["k", "dg=="]]}),
            "metadata[1]: a message is a JSON object, not an array",
        ),
        (
            "ListUsers",
            "/zitadel/v2/users",
            json!({"queries": [{"orQuery": {"queries": [{"emailQuery": ["ann", 1]}]}}]}),
            "queries[0].orQuery.queries[0].emailQuery: a message is a JSON object, not an array",
        ),
        (
            "ListUsers",
            "/zitadel/v2/users",
            json!({"query": [0, 1, true]}),
            "query: a message is a JSON object, not an array",
        ),
    ];
    for (method, path, body, why) in nested {
        let want = format!("failed to decode JSON: {why} (INVALID-REQUEST)");
        let r = connect_json(&app, method, Some(&admin), &body, true).await;
        let m = assert_connect_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
        assert_eq!(m, want, "{body}");
        let framed = {
            let json = body.to_string();
            let mut f = vec![0u8];
            f.extend_from_slice(&u32::try_from(json.len()).unwrap().to_be_bytes());
            f.extend_from_slice(json.as_bytes());
            f
        };
        let r = app
            .client
            .post(format!("{}{SERVICE}{method}", app.base))
            .header("content-type", "application/grpc-web+json")
            .bearer_auth(&admin)
            .body(framed)
            .send()
            .await
            .unwrap();
        // The status and message are in the headers (trailers-only) or in the trailer frame
        // (grpc-message percent-encoded in the headers: here only its spaces need it).
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (status, message) = (header("grpc-status"), header("grpc-message"));
        let text = String::from_utf8_lossy(&r.bytes().await.unwrap()).into_owned();
        let encoded = want.replace(' ', "%20");
        assert!(
            (status.as_deref() == Some("3") && message.is_some_and(|m| m == encoded || m == want))
                || (text.contains("grpc-status: 3")
                    && text.contains(&format!("grpc-message: {want}"))),
            "{body}: {text}"
        );
        let r = app.post(path, &admin, body.clone()).await;
        let rm = assert_rest_error(&r, Code::InvalidArgument, "INVALID-REQUEST");
        assert_eq!(rm, want, "{path} {body}");
    }
    // Nothing of it was written.
    let r = call_ok(&app, &admin, "ListUsers", json!({})).await;
    assert_eq!(r["details"]["totalResult"], "1", "{r}");
}

/// An instance admin that names no organization gets the missing organization (400), also when
/// it marks contact details verified, which it may.
async fn instance_admin_without_org_is_invalid_not_forbidden(app: TestApp) {
    let body = json!({"username": "bob", "profile": {"givenName": "Bob", "familyName": "Builder"},
                      "email": {"email": "bob@example.com", "isVerified": true}});
    let m = call_err(
        &app,
        &app.admin,
        "AddHumanUser",
        body.clone(),
        Code::InvalidArgument,
        "INVALID-REQUIRED",
    )
    .await;
    assert!(m.starts_with("organization: "), "{m}");
    let mut phone = body.clone();
    phone["email"] = json!({"email": "bob@example.com", "returnCode": {}});
    phone["phone"] = json!({"phone": "+41791234567", "isVerified": true});
    call_err(
        &app,
        &app.admin,
        "AddHumanUser",
        phone,
        Code::InvalidArgument,
        "INVALID-REQUIRED",
    )
    .await;
    // Naming one, it may.
    let mut named = body;
    named["organization"] = json!({"orgId": "1"});
    let b = call_ok(&app, &app.admin, "AddHumanUser", named).await;
    let id = b["userId"].as_str().unwrap();
    assert_eq!(
        get_user(&app, &app.admin, id).await["user"]["human"]["email"]["isVerified"],
        true
    );
    // A user key still may not vouch for an address (403), organization or not.
    let admin = app.org_admin().await;
    let own = add_user(
        &app,
        &admin,
        person("Self", "Only", "self@example.com", None),
    )
    .await;
    let user_key = app.key(1, Some(own.parse().unwrap()), false).await;
    call_err(
        &app,
        &user_key,
        "AddHumanUser",
        json!({"profile": {"givenName": "No", "familyName": "Way"},
               "email": {"email": "noway@example.com", "isVerified": true}}),
        Code::PermissionDenied,
        "AUTH-PERMISSION-DENIED",
    )
    .await;
}

/// REST AddHumanUser answers 201 (upstream's `success_code`); the other calls 200.
async fn rest_add_human_user_is_created(app: TestApp) {
    let admin = app.org_admin().await;
    for prefix in ["", "/zitadel"] {
        let r = app
            .post(
                &format!("{prefix}/v2/users/human"),
                &admin,
                json!({"organization": {"orgId": "1"}, "username": format!("rest{}", prefix.len()),
                       "profile": {"givenName": "R", "familyName": "One"},
                       "email": {"email": format!("r{}@example.com", prefix.len()), "returnCode": {}}}),
            )
            .await;
        r.expect(201);
        let id = r.body["userId"].as_str().unwrap().to_owned();
        assert_code(r.body["emailCode"].as_str().unwrap());
        assert_eq!(r.body["details"]["resourceOwner"], "1");
        // Errors keep their status; other calls stay 200.
        let r = app
            .post(&format!("{prefix}/v2/users/human"), &admin, json!({}))
            .await;
        assert_rest_error(&r, Code::InvalidArgument, "INVALID-REQUIRED");
        app.post(&format!("{prefix}/v2/users/{id}/lock"), &admin, json!({}))
            .await
            .expect(200);
    }
    // Connect answers 200.
    let r = connect_json(
        &app,
        "AddHumanUser",
        Some(&admin),
        &person("Con", "Nect", "connect@example.com", None),
        false,
    )
    .await;
    r.expect(200);
}

both_backends!(
    sdk_drives_a_user_through_its_life,
    connect_json_and_binary,
    grpc_web_binary_and_text,
    rpc_layer_errors_carry_details,
    rest_gateway_seed_003,
    every_error_on_every_protocol,
    wrong_passwords_exhaust_on_every_protocol,
    update_rules_password,
    cross_dialect_same_user,
    org_header_selects_never_widens,
    routing_and_cors_next_to_bold,
    control_characters_in_templates_and_metadata_keys,
    gateway_routing_errors_in_its_shape,
    update_clears_optional_profile_fields,
    json_arrays_and_decode_errors,
    instance_admin_without_org_is_invalid_not_forbidden,
    rest_add_human_user_is_created,
);

each_backend!(
    update_rules_contact,
    email_and_phone_calls,
    password_state_and_invite_calls,
);
