//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into exactly
//! the JSON a JSON client would have sent for the same object, so that they go through
//! the one create/update path.
//!
//! The wire form is the `k8s\0` magic followed by a `runtime.Unknown` envelope whose
//! `typeMeta` names the kind and whose `raw` holds the object's message. The message is
//! decoded dynamically against the descriptors of every Kubernetes built-in type
//! (compiled by build.rs from the .proto files proto/generate.py writes), and turned into JSON by
//! [`json`], which follows the Go JSON conventions of the API types (see `fields.txt`).
//! Custom resources have no protobuf form, as on a real API server.

mod body;
mod envelope;
mod fields;
mod json;
#[cfg(test)]
mod tests;
mod wellknown;

use std::sync::OnceLock;

pub use body::{accepts_json, not_acceptable, request_body};
pub use envelope::decode;
use prost_reflect::DescriptorPool;

/// The Kubernetes protobuf media type.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body does not start with the `k8s\0` magic.
    #[error(
        "provided object is not a protobuf-encoded Kubernetes object: the k8s\\0 prefix is missing"
    )]
    NoMagic,
    /// The envelope or the object message is not valid protobuf for its type.
    #[error("unable to decode {what} as protobuf: {source}")]
    Malformed {
        /// What was being decoded (`runtime.Unknown`, or the kind).
        what: String,
        /// The decoder's complaint.
        source: prost_reflect::prost::DecodeError,
    },
    /// The envelope names no kind.
    #[error("the protobuf envelope has no typeMeta.apiVersion/kind")]
    NoTypeMeta,
    /// The envelope's content is compressed or otherwise encoded.
    #[error("unsupported protobuf content encoding {0:?}")]
    ContentEncoding(String),
    /// The kind is not a Kubernetes built-in type (e.g. a custom resource).
    #[error("no protobuf serialization for {api_version}, Kind={kind}")]
    UnknownKind {
        /// `apiVersion` from the envelope.
        api_version: String,
        /// `kind` from the envelope.
        kind: String,
    },
    /// An embedded raw object (RawExtension, FieldsV1) is not valid JSON.
    #[error("embedded raw object in {0} is not JSON")]
    RawNotJson(String),
}

/// The descriptors of all Kubernetes built-in types; `None` if the embedded set is
/// unreadable, which build.rs makes impossible short of a corrupted build.
fn pool() -> Option<&'static DescriptorPool> {
    static POOL: OnceLock<Option<DescriptorPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let bytes: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/k8s.descriptor.bin"));
        DescriptorPool::decode(bytes)
            .map_err(|e| tracing::error!(error = %e, "embedded Kubernetes descriptors unreadable"))
            .ok()
    })
    .as_ref()
}

/// Whether `kind` in `api_version` has a protobuf form here (a Kubernetes built-in type).
pub fn is_builtin(api_version: &str, kind: &str) -> bool {
    envelope::message_for(api_version, kind).is_some()
}
