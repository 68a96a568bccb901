//! Errors connectrpc answers by itself (a body that does not decode, an incomplete envelope, an
//! unknown method, an unsupported compression, a deadline) carry no `zitadel.v1.ErrorDetail`. Every
//! other error of the dialect does. This layer sits right around the connectrpc service and gives
//! such an error the detail and the `"<message> (<id>)"` message, each in its protocol's place:
//! - the Connect JSON body;
//! - the gRPC trailers;
//! - the gRPC-Web trailer frame.
//!
//! Errors that already carry a detail (usher's own) and successful answers pass through untouched.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use base64ct::{Base64Unpadded, Encoding};
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use usher_zitadel_proto::buffa::Message;
use usher_zitadel_proto::buffa_types::google::protobuf::Any;
use usher_zitadel_proto::connectrpc::ErrorCode;
use usher_zitadel_proto::google::rpc::Status;
use usher_zitadel_proto::zitadel::v1::ErrorDetail;

use super::ZError;

/// The type URL of the detail in a `google.rpc.Status`.
const DETAIL_TYPE_URL: &str = "type.googleapis.com/zitadel.v1.ErrorDetail";

/// What gRPC percent-encodes in `grpc-message`: controls, `%` and everything outside ASCII.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// An error body connectrpc writes is a few hundred bytes; a longer one is passed on as it is.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The flag of a gRPC-Web trailer frame.
const TRAILER_FLAG: u8 = 0x80;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protocol {
    Connect,
    Grpc,
    GrpcWeb,
}

fn protocol(headers: &HeaderMap) -> Protocol {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if ct.starts_with("application/grpc-web") {
        Protocol::GrpcWeb
    } else if ct.starts_with("application/grpc") {
        Protocol::Grpc
    } else {
        Protocol::Connect
    }
}

/// The id of an error connectrpc raised by itself, by its code.
fn id_for(code: ErrorCode) -> String {
    match code {
        ErrorCode::InvalidArgument => "INVALID-REQUEST".to_owned(),
        ErrorCode::Unimplemented => "UNIMPLEMENTED".to_owned(),
        // connectrpc's own limits are size limits (e.g. a decompressed message).
        ErrorCode::ResourceExhausted => "REQUEST-TOO-LARGE".to_owned(),
        ErrorCode::Unauthenticated => "AUTH-UNAUTHENTICATED".to_owned(),
        ErrorCode::PermissionDenied => "AUTH-PERMISSION-DENIED".to_owned(),
        other => other.as_str().to_ascii_uppercase().replace('_', "-"),
    }
}

/// `z` as gRPC trailers: `grpc-status`, `grpc-message` (percent-encoded) and
/// `grpc-status-details-bin` (a `google.rpc.Status` with one `zitadel.v1.ErrorDetail`).
fn set_trailers(trailers: &mut HeaderMap, z: &ZError) {
    let message = format!("{} ({})", z.message, z.id);
    let detail = ErrorDetail {
        id: z.id.clone(),
        message: z.message.clone(),
        ..Default::default()
    };
    let status = Status {
        code: i32::try_from(z.code.grpc_code()).unwrap_or(2),
        message: message.clone(),
        details: vec![Any {
            type_url: DETAIL_TYPE_URL.to_owned(),
            value: detail.encode_to_bytes(),
            ..Default::default()
        }],
        ..Default::default()
    };
    trailers.insert("grpc-status", z.code.grpc_code().into());
    if let Ok(v) = HeaderValue::from_str(&utf8_percent_encode(&message, GRPC_MESSAGE).to_string()) {
        trailers.insert("grpc-message", v);
    }
    if let Ok(v) = HeaderValue::from_str(&Base64Unpadded::encode_string(&status.encode_to_vec())) {
        trailers.insert("grpc-status-details-bin", v);
    }
}

/// Gives the error in gRPC `trailers` a detail when it has none; `false` when nothing changed
/// (no error, or one that has its detail).
fn complete_trailers(trailers: &mut HeaderMap) -> bool {
    let Some(code) = trailers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
    else {
        return false;
    };
    if code == 0 {
        return false;
    }
    let status = trailers
        .get("grpc-status-details-bin")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Base64Unpadded::decode_vec(v.trim().trim_end_matches('=')).ok())
        .and_then(|bytes| Status::decode_from_slice(&bytes).ok());
    if status.as_ref().is_some_and(|s| !s.details.is_empty()) {
        return false;
    }
    let message = trailers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| percent_decode_str(m).decode_utf8_lossy().into_owned())
        .or_else(|| status.map(|s| s.message))
        .unwrap_or_default();
    let code = ErrorCode::from_grpc_code(code).unwrap_or(ErrorCode::Unknown);
    set_trailers(trailers, &ZError::new(code, &id_for(code), message));
    true
}

/// One gRPC-Web trailer frame holding `trailers` (`name: value` lines).
fn trailer_frame(trailers: &HeaderMap) -> Bytes {
    let mut payload = Vec::new();
    for (name, value) in trailers {
        payload.extend_from_slice(name.as_str().as_bytes());
        payload.extend_from_slice(b": ");
        payload.extend_from_slice(value.as_bytes());
        payload.extend_from_slice(b"\r\n");
    }
    let mut frame = BytesMut::with_capacity(5 + payload.len());
    frame.put_u8(TRAILER_FLAG);
    frame.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    frame.extend_from_slice(&payload);
    frame.freeze()
}

/// `z` as a gRPC-Web body: one trailer frame.
pub(super) fn grpc_web_error_frame(z: &ZError) -> Bytes {
    let mut trailers = HeaderMap::new();
    set_trailers(&mut trailers, z);
    trailer_frame(&trailers)
}

/// A chunk of a gRPC-Web body with its trailer frame completed (see [`complete_trailers`]), or
/// `None` to leave the chunk as it is: no trailer frame, nothing to add, or frames that do not
/// parse (split across chunks).
fn complete_web_chunk(chunk: &[u8]) -> Option<Bytes> {
    let mut at = 0;
    while at < chunk.len() {
        let header = chunk.get(at..at + 5)?;
        let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        let end = at.checked_add(5)?.checked_add(len)?;
        let payload = chunk.get(at + 5..end)?;
        if header[0] & TRAILER_FLAG != 0 {
            let mut trailers = HeaderMap::new();
            for line in std::str::from_utf8(payload).ok()?.split("\r\n") {
                let Some((name, value)) = line.split_once(':') else {
                    continue;
                };
                let name = axum::http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
                trailers.append(name, HeaderValue::from_str(value.trim()).ok()?);
            }
            if !complete_trailers(&mut trailers) {
                return None;
            }
            let mut out = BytesMut::from(&chunk[..at]);
            out.extend_from_slice(&trailer_frame(&trailers));
            out.extend_from_slice(&chunk[end..]);
            return Some(out.freeze());
        }
        at = end;
    }
    None
}

/// A Connect error body with the detail added; `None` when it has one or is not connectrpc's
/// `{"code", "message"}`.
fn complete_connect_body(body: &[u8]) -> Option<Bytes> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    if v.get("details")
        .and_then(|d| d.as_array())
        .is_some_and(|d| !d.is_empty())
    {
        return None;
    }
    let code: ErrorCode = v.get("code")?.as_str()?.parse().ok()?;
    let message = v
        .get("message")
        .and_then(|m| m.as_str())
        .unwrap_or_default();
    let z = ZError::new(code, &id_for(code), message);
    Some(z.into_connect().to_json())
}

/// The layer's function (`axum::middleware::from_fn`, applied right around connectrpc): answers
/// pass through, an error without a detail gets one.
pub(super) async fn complete_errors(req: Request, next: Next) -> Response {
    let protocol = protocol(req.headers());
    let res = next.run(req).await;
    match protocol {
        Protocol::Connect => complete_connect(res).await,
        Protocol::Grpc => res.map(|body| {
            Body::new(body.map_frame(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    complete_trailers(&mut trailers);
                    http_body::Frame::trailers(trailers)
                }
                Err(frame) => frame,
            }))
        }),
        Protocol::GrpcWeb => res.map(|body| {
            Body::new(body.map_frame(|frame| match frame.into_data() {
                Ok(data) if data.first().is_some_and(|f| f & TRAILER_FLAG != 0) => {
                    http_body::Frame::data(complete_web_chunk(&data).unwrap_or(data))
                }
                Ok(data) => http_body::Frame::data(data),
                Err(frame) => frame,
            }))
        }),
    }
}

/// A Connect answer, its error body completed when it is an error without a detail.
async fn complete_connect(res: Response) -> Response {
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if res.status() == StatusCode::OK || !json {
        return res;
    }
    let (mut parts, mut body) = res.into_parts();
    let mut read = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            // A body that broke off: nothing to complete, nothing left to send.
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::empty());
        };
        if let Ok(data) = frame.into_data() {
            read.extend_from_slice(&data);
        }
        if read.len() > MAX_ERROR_BODY {
            // Not an error body connectrpc wrote: passed on as it is, what was read first.
            let head = futures::stream::once(std::future::ready(Ok(read.freeze())));
            let rest = body.into_data_stream();
            return Response::from_parts(parts, Body::from_stream(head.chain(rest)));
        }
    }
    let bytes = read.freeze();
    match complete_connect_body(&bytes) {
        Some(completed) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(completed))
        }
        None => Response::from_parts(parts, Body::from(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail_of(trailers: &HeaderMap) -> (Status, ErrorDetail) {
        let bin = trailers["grpc-status-details-bin"].to_str().unwrap();
        let status = Status::decode_from_slice(&Base64Unpadded::decode_vec(bin).unwrap()).unwrap();
        assert_eq!(status.details.len(), 1);
        assert_eq!(status.details[0].type_url, DETAIL_TYPE_URL);
        let detail = ErrorDetail::decode_from_slice(&status.details[0].value).unwrap();
        (status, detail)
    }

    #[test]
    fn a_bare_grpc_error_gets_its_detail() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("3"));
        t.insert(
            "grpc-message",
            HeaderValue::from_static("failed to decode: 100%25 bad"),
        );
        assert!(complete_trailers(&mut t));
        let (status, detail) = detail_of(&t);
        assert_eq!(status.code, 3);
        assert_eq!(detail.id, "INVALID-REQUEST");
        assert_eq!(detail.message, "failed to decode: 100% bad");
        assert_eq!(
            status.message,
            "failed to decode: 100% bad (INVALID-REQUEST)"
        );
        assert_eq!(
            t["grpc-message"],
            "failed to decode: 100%25 bad (INVALID-REQUEST)"
        );
        // Completed once: the second pass finds the detail.
        assert!(!complete_trailers(&mut t));
    }

    #[test]
    fn usher_errors_and_successes_pass() {
        let mut ok = HeaderMap::new();
        ok.insert("grpc-status", HeaderValue::from_static("0"));
        assert!(!complete_trailers(&mut ok));
        assert_eq!(ok.len(), 1);
        let mut own = HeaderMap::new();
        set_trailers(
            &mut own,
            &ZError::new(
                ErrorCode::NotFound,
                "USER-NOTFOUND",
                "User could not be found",
            ),
        );
        let before = own.clone();
        assert!(!complete_trailers(&mut own));
        assert_eq!(own, before);
        assert!(complete_connect_body(&own_connect_body()).is_none());
    }

    fn own_connect_body() -> Bytes {
        ZError::new(
            ErrorCode::NotFound,
            "USER-NOTFOUND",
            "User could not be found",
        )
        .into_connect()
        .to_json()
    }

    #[test]
    fn a_bare_connect_error_gets_its_detail() {
        let body = br#"{"code":"unimplemented","message":"method not found: /x/Y"}"#;
        let completed = complete_connect_body(body).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&completed).unwrap();
        assert_eq!(v["code"], "unimplemented");
        assert_eq!(v["message"], "method not found: /x/Y (UNIMPLEMENTED)");
        assert_eq!(v["details"][0]["type"], "zitadel.v1.ErrorDetail");
        let value = v["details"][0]["value"].as_str().unwrap();
        let detail =
            ErrorDetail::decode_from_slice(&Base64Unpadded::decode_vec(value).unwrap()).unwrap();
        assert_eq!(detail.id, "UNIMPLEMENTED");
        assert_eq!(detail.message, "method not found: /x/Y");
        assert!(complete_connect_body(b"not json").is_none());
    }

    #[test]
    fn a_web_trailer_frame_after_a_message_is_completed() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("12"));
        t.insert("grpc-message", HeaderValue::from_static("nope"));
        let mut chunk = vec![0u8, 0, 0, 0, 2, 8, 1];
        chunk.extend_from_slice(&trailer_frame(&t));
        let done = complete_web_chunk(&chunk).unwrap();
        assert_eq!(&done[..7], &chunk[..7]);
        let payload = std::str::from_utf8(&done[12..]).unwrap();
        assert!(
            payload.contains("grpc-message: nope (UNIMPLEMENTED)\r\n"),
            "{payload}"
        );
        assert!(payload.contains("grpc-status-details-bin: "), "{payload}");
        // A frame split across chunks is left alone.
        assert!(complete_web_chunk(&done[..done.len() - 3]).is_none());
    }

    #[tokio::test]
    async fn connect_error_bodies_are_completed_unless_too_long() {
        let answer = |body: String| {
            Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .header(header::CONTENT_TYPE, "application/json")
                // In chunks and without a size, as a streamed body comes.
                .body(Body::from_stream(futures::stream::iter(
                    body.into_bytes()
                        .chunks(1000)
                        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                        .collect::<Vec<_>>(),
                )))
                .unwrap()
        };
        let read = |res: Response| async move {
            String::from_utf8(
                axum::body::to_bytes(res.into_body(), usize::MAX)
                    .await
                    .unwrap()
                    .to_vec(),
            )
            .unwrap()
        };
        let small = r#"{"code":"invalid_argument","message":"bad"}"#.to_owned();
        let v: serde_json::Value =
            serde_json::from_str(&read(complete_connect(answer(small)).await).await).unwrap();
        assert_eq!(v["message"], "bad (INVALID-REQUEST)");
        let long = format!(
            r#"{{"code":"invalid_argument","message":"{}"}}"#,
            "x".repeat(MAX_ERROR_BODY)
        );
        assert_eq!(
            read(complete_connect(answer(long.clone())).await).await,
            long
        );
    }

    #[test]
    fn ids_by_code() {
        assert_eq!(id_for(ErrorCode::DeadlineExceeded), "DEADLINE-EXCEEDED");
        assert_eq!(id_for(ErrorCode::Internal), "INTERNAL");
        assert_eq!(id_for(ErrorCode::ResourceExhausted), "REQUEST-TOO-LARGE");
    }
}
