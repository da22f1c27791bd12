//! The S3 backend (aws-sdk-s3), for AWS and S3-compatible servers alike.
//!
//! Settings that matter against S3-compatible servers (MinIO, Ceph, s3s, …),
//! measured on this project's machine (docs/architecture.md, "Dependencies and
//! facts measured on the development machine"):
//! - path-style addressing (`force_path_style`), because such servers rarely
//!   have wildcard DNS for virtual-hosted buckets;
//! - an explicit region, because there is no IMDS or profile to find one;
//! - `request_checksum_calculation` / `response_checksum_validation` set to
//!   `WhenRequired`: the SDK's default (flexible checksums with trailers on
//!   every upload) is refused or mis-validated by many of them;
//! - `DeleteObjects` with a `Content-MD5` header, which some servers require.

mod config;
mod delete;
mod read;
mod upload;

pub use config::{S3Config, S3Credentials};

use std::fmt;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::{Result, StorageError};

/// Size of each part of a multipart upload, and the threshold above which an
/// upload of unknown length becomes multipart. 8 MiB is the SDKs' usual choice:
/// comfortably above S3's 5 MiB minimum, small enough to bound memory.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts uploaded concurrently. With one more part being filled from the input,
/// an upload holds at most `(MAX_PARTS_IN_FLIGHT + 1) * PART_SIZE` = 24 MiB of
/// body in memory, whatever the object's size.
pub const MAX_PARTS_IN_FLIGHT: usize = 2;

/// S3's limit on the number of parts, which with [`PART_SIZE`] caps an upload
/// at 80 GiB (far above any PDF the gateway accepts).
pub const MAX_PARTS: i32 = 10_000;

/// S3's limit on keys per `DeleteObjects` request.
pub const MAX_DELETE_BATCH: usize = 1000;

/// Region used when an endpoint is configured but no region is: S3-compatible
/// servers accept any region in the signature, and `us-east-1` is what they
/// conventionally expect.
pub const DEFAULT_COMPATIBLE_REGION: &str = "us-east-1";

/// One bucket of an S3 service. Cheap to clone (the SDK client is shared).
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    list_page_size: Option<i32>,
    delete_batch_size: usize,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// Builds a client from `config` for `bucket`. Does not contact the server.
    pub async fn new(config: &S3Config, bucket: impl Into<String>) -> Result<Self> {
        let client = config.client().await?;
        Ok(Self::with_client(client, config, bucket))
    }

    /// Reuses an existing client (one client can serve many buckets); takes the
    /// tuning knobs from `config`.
    pub fn with_client(client: Client, config: &S3Config, bucket: impl Into<String>) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            list_page_size: config.list_page_size,
            delete_batch_size: config
                .delete_batch_size
                .unwrap_or(MAX_DELETE_BATCH)
                .clamp(1, MAX_DELETE_BATCH),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The SDK client, for operations this crate does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn err<E>(&self, op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> StorageError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        map_sdk_error(op, &self.bucket, key, err)
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Maps an SDK error to the crate's kinds. HEAD responses have no body, so a
/// missing object there is a bare 404 with no error code; forbidden ones a bare 403.
fn map_sdk_error<E>(
    op: &'static str,
    bucket: &str,
    key: &str,
    err: SdkError<E, HttpResponse>,
) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    match (code.as_deref(), status) {
        (Some("NoSuchBucket"), _) => StorageError::BucketNotFound {
            bucket: bucket.to_owned(),
        },
        (Some("NoSuchKey" | "NotFound"), _) | (None, Some(404)) => StorageError::NotFound {
            key: key.to_owned(),
        },
        (Some("AccessDenied" | "Forbidden" | "AllAccessDisabled"), _) | (_, Some(403)) => {
            StorageError::AccessDenied {
                key: key.to_owned(),
            }
        }
        _ => {
            let transient = match &err {
                SdkError::TimeoutError(_)
                | SdkError::DispatchFailure(_)
                | SdkError::ResponseError(_) => true,
                SdkError::ServiceError(_) => {
                    matches!(status, Some(408 | 429 | 500..=599))
                        || matches!(
                            code.as_deref(),
                            Some(
                                "SlowDown"
                                    | "RequestTimeout"
                                    | "InternalError"
                                    | "ServiceUnavailable"
                                    | "Throttling"
                                    | "ThrottlingException"
                            )
                        )
                }
                _ => false,
            };
            StorageError::Backend {
                op,
                status,
                code,
                message: DisplayErrorContext(&err).to_string(),
                transient,
            }
        }
    }
}
