//! Which media types a request body may have, and the JSON each decodes to.

use serde_json::{Value, json};

use super::{MEDIA_TYPE, ProtoError, decode};
use crate::error::{ApiError, ApiResult};

/// What the 415 lists: the types a built-in resource's body may have.
const ACCEPTED: &str = "application/json, application/yaml, application/vnd.kubernetes.protobuf";

/// The media type without parameters, lower-cased.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A create/update/delete body as JSON, whatever media type it came in. An empty body is
/// `{}`; a missing Content-Type means JSON (curl, old clients).
pub fn request_body(content_type: &str, body: &[u8]) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    let media = essence(content_type);
    tracing::debug!(media_type = %media, bytes = body.len(), "request body");
    match media.as_str() {
        "" | "application/json" => serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding request body: {e}"))),
        "application/yaml" => serde_yaml::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML request body: {e}"))),
        MEDIA_TYPE => decode(body).map_err(|e| match e {
            // A real server has no protobuf form for custom resources either.
            ProtoError::UnknownKind { .. } => {
                tracing::debug!(error = %e, "protobuf body of a kind without a protobuf form");
                ApiError::UnsupportedMediaType("application/json, application/yaml".into())
            }
            other => ApiError::BadRequest(format!("error decoding protobuf request body: {other}")),
        }),
        _ => Err(ApiError::UnsupportedMediaType(ACCEPTED.into())),
    }
}

/// Whether a client with this `Accept` header takes the JSON answers this server gives.
/// Only one that lists protobuf and nothing JSON-compatible does not (a real server would
/// answer protobuf there; this one answers 406, as a real server does for a type it cannot
/// encode).
pub fn accepts_json(accept: &str) -> bool {
    let types: Vec<String> = accept
        .split(',')
        .map(essence)
        .filter(|t| !t.is_empty())
        .collect();
    types.is_empty()
        || types.iter().any(|t| {
            matches!(t.as_str(), "application/json" | "*/*" | "application/*")
                || t.ends_with("+json")
        })
        || !types.iter().any(|t| t == MEDIA_TYPE)
}

/// The 406 for a client that takes only protobuf.
pub fn not_acceptable() -> ApiError {
    ApiError::NotAcceptable(
        "only the following media types are accepted: application/json, application/yaml".into(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_media_types_are_415_not_parse_errors() {
        for ct in ["application/cbor", "application/xml", "text/plain"] {
            let e = request_body(ct, b"<x/>").unwrap_err();
            assert_eq!(e.code(), 415, "{ct}");
        }
        assert_eq!(
            request_body("application/json", b"{").unwrap_err().code(),
            400
        );
        assert_eq!(
            request_body("application/yaml", b"a: 1\n").unwrap(),
            json!({"a": 1})
        );
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts_json(""));
        assert!(accepts_json(
            "application/vnd.kubernetes.protobuf, application/json"
        ));
        assert!(accepts_json("application/json;as=Table;v=v1;g=meta.k8s.io"));
        assert!(!accepts_json("application/vnd.kubernetes.protobuf"));
        assert!(!accepts_json(
            "application/vnd.kubernetes.protobuf;stream=watch"
        ));
    }
}
