//! Serves `zitadel.user.v2.UserService` with connectrpc inside an axum app on 127.0.0.1:0 (next to
//! a plain route and a REST-gateway-style route) and calls it over Connect JSON and binary, gRPC
//! (h2c), gRPC-Web and plain HTTP, checking status codes, error bodies and the
//! `zitadel.v1.ErrorDetail` detail.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected values")]

use std::sync::Arc;

use base64ct::{Base64Unpadded, Encoding};
use buffa::Message;
use connectrpc::client::{ClientConfig, Http2Connection};
use connectrpc::{
    ConnectError, ErrorCode, Protocol, RequestContext, Response, ServiceRequest, ServiceResult,
};
use usher_zitadel_proto::zitadel::object::v2::Details;
use usher_zitadel_proto::zitadel::user::v2::{
    GetUserByIDRequest, GetUserByIDResponse, RegisterPasskeyRequest, UpdateHumanUserRequest,
    UpdateHumanUserResponse, User, UserService, UserServiceClient, UserState,
};
use usher_zitadel_proto::zitadel::v1;
use usher_zitadel_proto::zitadel_error;

fn bearer(ctx: &RequestContext) -> Result<&str, ConnectError> {
    ctx.header("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| *t == "good")
        .ok_or_else(|| zitadel_error(ErrorCode::Unauthenticated, "AUTH-B7Hs1", "Token is invalid"))
}

struct Zitadel;

/// The logic shared by the Connect handler and the REST route takes the owned message.
fn update_human_user(
    org: &str,
    req: UpdateHumanUserRequest,
) -> Result<UpdateHumanUserResponse, ConnectError> {
    if req.user_id == "missing" {
        return Err(zitadel_error(
            ErrorCode::NotFound,
            "USER-abc12",
            "User could not be found",
        ));
    }
    Ok(UpdateHumanUserResponse {
        details: Details {
            sequence: 7,
            resource_owner: org.into(),
            ..Default::default()
        }
        .into(),
        email_code: req.email.as_option().map(|_| "ABC123".to_owned()),
        ..Default::default()
    })
}

// `async fn .. -> ServiceResult<Concrete>` refines the trait's `impl Encodable<..>` return type.
#[allow(
    refining_impl_trait,
    reason = "handlers return the concrete response message"
)]
impl UserService for Zitadel {
    usher_zitadel_proto::unserved_user_service_methods!();
    usher_zitadel_proto::unimplemented_user_service_methods!(
        add_human_user,
        list_users,
        set_email,
        resend_email_code,
        send_email_code,
        verify_email,
        set_phone,
        remove_phone,
        resend_phone_code,
        verify_phone,
        deactivate_user,
        reactivate_user,
        lock_user,
        unlock_user,
        delete_user,
        password_reset,
        set_password,
        create_invite_code,
        resend_invite_code,
        verify_invite_code,
    );

    async fn get_user_by_id(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, GetUserByIDRequest>,
    ) -> ServiceResult<GetUserByIDResponse> {
        bearer(&ctx)?;
        let org = ctx
            .header("x-zitadel-orgid")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("default-org");
        // `request` derefs to the zero-copy view: `request.user_id` is a `&str`.
        if request.user_id == "missing" {
            return Err(zitadel_error(
                ErrorCode::NotFound,
                "USER-abc12",
                "User could not be found",
            ));
        }
        Response::ok(GetUserByIDResponse {
            details: Details {
                sequence: 3,
                resource_owner: org.into(),
                ..Default::default()
            }
            .into(),
            user: User {
                user_id: request.user_id.to_owned(),
                state: UserState::USER_STATE_ACTIVE.into(),
                username: "ada".into(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        })
    }

    async fn update_human_user(
        &self,
        ctx: RequestContext,
        request: ServiceRequest<'_, UpdateHumanUserRequest>,
    ) -> ServiceResult<UpdateHumanUserResponse> {
        bearer(&ctx)?;
        update_human_user("org1", request.to_owned_message()).map(Response::new)
    }
}

/// REST gateway style: `PUT /v2/users/human/{user_id}` with the message minus `userId` as body.
async fn rest_update_human_user(
    axum::extract::Path(user_id): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // The same proto3 JSON codec the Connect JSON path uses (serde_json underneath); a bad body is
    // a ConnectError with code InvalidArgument.
    let result =
        connectrpc::codec::decode_json::<UpdateHumanUserRequest>(&body).and_then(|mut req| {
            req.user_id = user_id;
            update_human_user("org1", req)
        });
    match result.and_then(|resp| connectrpc::codec::encode_json(&resp)) {
        Ok(json) => ([("content-type", "application/json")], json).into_response(),
        // usher renders {"code": <grpc code>, "message", "details": [{"@type", ..}]} here.
        Err(e) => {
            let body = serde_json::json!({"code": e.code.grpc_code(), "message": e.message});
            (e.code.http_status(), axum::Json(body)).into_response()
        }
    }
}

/// A plain-HTTP client; installs the ring provider first in case reqwest was built without one.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn start() -> String {
    let connect = connectrpc::Router::new().add_service(Arc::new(Zitadel));
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/v2/users/human/{user_id}",
            axum::routing::put(rest_update_human_user),
        )
        .fallback_service(connect.into_axum_service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn decode_detail(value: &str) -> v1::ErrorDetail {
    v1::ErrorDetail::decode_from_slice(&Base64Unpadded::decode_vec(value).unwrap()).unwrap()
}

#[tokio::test]
async fn connect_json_unimplemented_unknown_method_errors_and_success() {
    let base = start().await;
    let http = http_client();
    let post = |path: &str, body: &str| {
        http.post(format!("{base}/zitadel.user.v2.UserService/{path}"))
            .header("content-type", "application/json")
            .body(body.to_owned())
    };

    // A declared call whose handler answers unimplemented: 501. No Connect-Protocol-Version sent;
    // the placeholder request has no fields, so the client's fields are ignored as unknown.
    let resp = post(
        "RegisterPasskey",
        r#"{"userId": "u1", "code": {"id": "x"}}"#,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 501);
    let body = resp.json::<serde_json::Value>().await.unwrap();
    assert_eq!(body["code"], "unimplemented");
    assert_eq!(
        body["message"],
        "zitadel.user.v2.UserService.RegisterPasskey is not implemented (UNIMPLEMENTED)"
    );
    assert_eq!(body["details"][0]["type"], "zitadel.v1.ErrorDetail");
    let detail = decode_detail(
        body["details"][0]["value"]
            .as_str()
            .unwrap()
            .trim_end_matches('='),
    );
    assert_eq!(detail.id, "UNIMPLEMENTED");

    // A method that is not declared at all: 404, still Connect code "unimplemented".
    let resp = post("NoSuchMethod", "{}").send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"code": "unimplemented", "message": "method not found: zitadel.user.v2.UserService/NoSuchMethod"})
    );

    // Error with a zitadel.v1.ErrorDetail: Connect JSON `details` = [{type, value: base64(proto)}].
    let resp = post("GetUserByID", r#"{"userId": "u1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(body["message"], "Token is invalid (AUTH-B7Hs1)");
    assert_eq!(body["details"][0]["type"], "zitadel.v1.ErrorDetail");
    let detail = decode_detail(body["details"][0]["value"].as_str().unwrap());
    assert_eq!(
        (detail.id.as_str(), detail.message.as_str()),
        ("AUTH-B7Hs1", "Token is invalid")
    );

    // Success; headers reach the handler.
    let resp = post("GetUserByID", r#"{"user_id": "u1"}"#)
        .header("authorization", "Bearer good")
        .header("x-zitadel-orgid", "org9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({
            "details": {"sequence": "3", "resourceOwner": "org9"},
            "user": {"userId": "u1", "state": "USER_STATE_ACTIVE", "username": "ada"}
        })
    );

    // Two members of one oneof: 400 invalid_argument before the handler runs.
    let resp = post(
        "UpdateHumanUser",
        r#"{"userId": "u1", "email": {"email": "a@b", "sendCode": {}, "isVerified": true}}"#,
    )
    .header("authorization", "Bearer good")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "invalid_argument", "{body}");

    // An explicit Connect-Protocol-Version: 1 is accepted as well.
    let resp = post(
        "UpdateHumanUser",
        r#"{"userId": "u1", "email": {"email": "a@b"}}"#,
    )
    .header("authorization", "Bearer good")
    .header("connect-protocol-version", "1")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"details": {"sequence": "7", "resourceOwner": "org1"}, "emailCode": "ABC123"})
    );

    // Connect with binary proto.
    let body = GetUserByIDRequest {
        user_id: "u2".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let resp = http
        .post(format!("{base}/zitadel.user.v2.UserService/GetUserByID"))
        .header("content-type", "application/proto")
        .header("authorization", "Bearer good")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let msg = GetUserByIDResponse::decode_from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(msg.user.as_option().unwrap().user_id, "u2");

    // Other routes of the same axum app still work, on the same port.
    let resp = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok");
    let resp = http
        .put(format!("{base}/v2/users/human/u1"))
        .body(r#"{"profile": {"givenName": "Ada", "familyName": "L"}, "email": {"email": "a@b", "returnCode": {}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"details": {"sequence": "7", "resourceOwner": "org1"}, "emailCode": "ABC123"})
    );
    let resp = http
        .put(format!("{base}/v2/users/human/u1"))
        .body(r#"{"email": {"email": "a@b", "returnCode": {}, "is_verified": true}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 3);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("multiple oneof fields"),
        "{body}"
    );
}

#[tokio::test]
async fn grpc_over_h2c_carries_the_error_detail() {
    let base = start().await;
    let uri: axum::http::Uri = base.parse().unwrap();
    let conn = Http2Connection::connect_plaintext(uri.clone())
        .await
        .unwrap()
        .shared(16);
    let config = ClientConfig::new(uri).with_protocol(Protocol::Grpc);
    let client = UserServiceClient::new(conn, config);

    let err = client
        .get_user_by_id(GetUserByIDRequest {
            user_id: "u1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unauthenticated);
    assert_eq!(
        err.message.as_deref(),
        Some("Token is invalid (AUTH-B7Hs1)")
    );
    // Decoded from grpc-status-details-bin (a google.rpc.Status with one Any).
    assert_eq!(err.details.len(), 1);
    assert_eq!(
        err.details[0].type_url,
        "type.googleapis.com/zitadel.v1.ErrorDetail"
    );
    let detail = decode_detail(err.details[0].value.as_deref().unwrap());
    assert_eq!(detail.id, "AUTH-B7Hs1");

    let err = client
        .register_passkey(RegisterPasskeyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unimplemented);
}

#[tokio::test]
async fn grpc_web_binary_and_text() {
    let base = start().await;
    let http = http_client();
    let msg = GetUserByIDRequest {
        user_id: "missing".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&msg);

    let resp = http
        .post(format!("{base}/zitadel.user.v2.UserService/GetUserByID"))
        .header("content-type", "application/grpc-web+proto")
        .header("authorization", "Bearer good")
        .body(frame.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    // The status is either in the headers (trailers-only) or in the trailer frame (flag 0x80).
    let trailer_text = if let Some(status) = headers.get("grpc-status") {
        format!(
            "grpc-status:{}\r\ngrpc-status-details-bin:{}\r\n",
            status.to_str().unwrap(),
            headers
                .get("grpc-status-details-bin")
                .map(|v| v.to_str().unwrap())
                .unwrap_or("")
        )
    } else {
        assert_eq!(body[0], 0x80, "trailer frame expected: {body:?}");
        String::from_utf8(body[5..].to_vec()).unwrap()
    };
    let trailer_text = trailer_text.replace(": ", ":");
    assert!(
        trailer_text.to_ascii_lowercase().contains("grpc-status:5"),
        "{trailer_text}"
    );
    let details_b64 = trailer_text
        .lines()
        .find_map(|l| l.strip_prefix("grpc-status-details-bin:"))
        .unwrap()
        .trim();
    // google.rpc.Status { code = 1: 5, message = 2, details = 3: Any { type_url = 1, value = 2 } }.
    let status = Base64Unpadded::decode_vec(details_b64.trim_end_matches('=')).unwrap();
    let detail = v1::ErrorDetail {
        id: "USER-abc12".into(),
        message: "User could not be found".into(),
        ..Default::default()
    };
    for needle in [
        &b"type.googleapis.com/zitadel.v1.ErrorDetail"[..],
        &detail.encode_to_vec(),
    ] {
        assert!(
            status.windows(needle.len()).any(|w| w == needle),
            "{status:?}"
        );
    }

    // gRPC-Web text mode is not supported by connectrpc 0.9: it answers unimplemented (12).
    let resp = http
        .post(format!("{base}/zitadel.user.v2.UserService/GetUserByID"))
        .header("content-type", "application/grpc-web-text")
        .body(Base64Unpadded::encode_string(&frame))
        .send()
        .await
        .unwrap();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    let status = headers
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let in_body = String::from_utf8_lossy(&body).contains("grpc-status: 12");
    assert!(status.as_deref() == Some("12") || in_body);
}
