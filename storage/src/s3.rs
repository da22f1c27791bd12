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

use std::fmt;
use std::io;
use std::ops::Range;
use std::pin::pin;
use std::time::{Duration, SystemTime};

use crate::env;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use md5::{Digest as _, Md5};
use tokio::task::JoinSet;
use url::Url;

use crate::error::{Result, StorageError};
use crate::{BodyStream, GetObject, ObjectMeta, ObjectSummary};

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

/// Static credentials for S3. `Debug` does not print the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Credentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// How to reach an S3 service. The bucket is not part of it: it comes from the
/// storage URI (see [`crate::Store::from_uri`]), so one configuration serves
/// every bucket pdfx touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL of an S3-compatible server (e.g. `http://minio:9000`); `None`
    /// for AWS itself.
    pub endpoint: Option<String>,
    /// Region; `None` means: [`DEFAULT_COMPATIBLE_REGION`] when `endpoint` is set,
    /// else the AWS default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted ones.
    pub force_path_style: bool,
    /// Static credentials; `None` uses the AWS default credential chain
    /// (environment, profile, web identity / IRSA, container and instance roles).
    pub credentials: Option<S3Credentials>,
    /// Keys per `ListObjectsV2` page; `None` for the server's default (1000).
    /// A tuning and testing knob: tests set it small to exercise pagination.
    pub list_page_size: Option<i32>,
    /// Keys per `DeleteObjects` request, capped at [`MAX_DELETE_BATCH`]; `None`
    /// for the cap.
    pub delete_batch_size: Option<usize>,
}

impl S3Config {
    /// A configuration for an S3-compatible server with static credentials:
    /// path-style, explicit region.
    pub fn compatible(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        S3Config {
            endpoint: Some(endpoint.into()),
            region: Some(region.into()),
            force_path_style: true,
            credentials: Some(S3Credentials {
                access_key_id: access_key_id.into(),
                secret_access_key: secret_access_key.into(),
                session_token: None,
            }),
            ..S3Config::default()
        }
    }

    /// Reads the configuration from the process environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `PDFX_S3_ENDPOINT` | endpoint URL of an S3-compatible server (`http://…` or `https://…`) | AWS |
    /// | `PDFX_S3_REGION` | region | `us-east-1` with an endpoint, else the AWS chain (`AWS_REGION`, …) |
    /// | `PDFX_S3_ACCESS_KEY_ID` | static access key id (with the secret) | the AWS credential chain |
    /// | `PDFX_S3_SECRET_ACCESS_KEY` | static secret access key (with the id) | the AWS credential chain |
    /// | `PDFX_S3_SESSION_TOKEN` | session token for temporary static credentials | none |
    /// | `PDFX_S3_FORCE_PATH_STYLE` | `true`/`false` (also `1`/`0`, `yes`/`no`) | `true` with an endpoint, else `false` |
    ///
    /// Empty values count as unset. An access key without its secret (or the
    /// reverse), a malformed endpoint or a malformed boolean is an error rather
    /// than a silent fallback to other credentials.
    pub fn from_env() -> Result<Self> {
        Self::from_env_vars(|name| std::env::var(name).ok())
    }

    /// [`S3Config::from_env`] with the variables read through `get`: for tests,
    /// and for callers that take settings from elsewhere (e.g. CLI flags).
    pub fn from_env_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let endpoint = get(env::ENDPOINT);
        if let Some(endpoint) = &endpoint {
            let url = Url::parse(endpoint).map_err(|e| {
                StorageError::Config(format!("{} {endpoint:?} is not a URL: {e}", env::ENDPOINT))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(StorageError::Config(format!(
                    "{} {endpoint:?} must be an http:// or https:// URL",
                    env::ENDPOINT
                )));
            }
        }
        let credentials = match (get(env::ACCESS_KEY_ID), get(env::SECRET_ACCESS_KEY)) {
            (Some(access_key_id), Some(secret_access_key)) => Some(S3Credentials {
                access_key_id,
                secret_access_key,
                session_token: get(env::SESSION_TOKEN),
            }),
            (None, None) => None,
            _ => {
                return Err(StorageError::Config(format!(
                    "{} and {} must be set together",
                    env::ACCESS_KEY_ID,
                    env::SECRET_ACCESS_KEY
                )));
            }
        };
        let force_path_style = match get(env::FORCE_PATH_STYLE) {
            None => endpoint.is_some(),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(StorageError::Config(format!(
                        "{} {v:?} is not a boolean",
                        env::FORCE_PATH_STYLE
                    )));
                }
            },
        };
        Ok(S3Config {
            endpoint,
            region: get(env::REGION),
            force_path_style,
            credentials,
            ..S3Config::default()
        })
    }

    /// Builds an SDK client with the settings S3-compatible servers need (see the
    /// [module docs](self)).
    ///
    /// With static credentials and a known region the client is built without
    /// `aws-config`'s default chains, so nothing probes instance metadata or reads
    /// profile files; otherwise the default chains supply what is missing.
    pub async fn client(&self) -> Result<Client> {
        let region = self.region.clone().or_else(|| {
            self.endpoint
                .as_ref()
                .map(|_| DEFAULT_COMPATIBLE_REGION.to_owned())
        });
        let mut builder = match (&self.credentials, region) {
            (Some(creds), Some(region)) => aws_sdk_s3::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(static_credentials(creds)),
            (creds, region) => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = region {
                    loader = loader.region(Region::new(region));
                }
                if let Some(creds) = creds {
                    loader = loader.credentials_provider(static_credentials(creds));
                }
                let shared = loader.load().await;
                if shared.region().is_none() {
                    return Err(StorageError::Config(
                        "no S3 region: set PDFX_S3_REGION (or AWS_REGION)".into(),
                    ));
                }
                aws_sdk_s3::config::Builder::from(&shared)
            }
        };
        builder = builder
            .force_path_style(self.force_path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Ok(Client::from_conf(builder.build()))
    }
}

fn static_credentials(creds: &S3Credentials) -> Credentials {
    Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "pdfx-static",
    )
}

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

    pub(crate) async fn put_stream<S>(
        &self,
        key: &str,
        body: S,
        content_type: Option<&str>,
    ) -> Result<u64>
    where
        S: Stream<Item = io::Result<Bytes>> + Send,
    {
        let input_err = |source| StorageError::Input {
            key: key.to_owned(),
            source,
        };
        let body = pin!(body);
        let mut reader = PartReader::new(body);
        // The first part grows as data arrives, so a small body (a progress.json)
        // does not cost a whole part's allocation.
        let first = reader
            .next_part(64 * 1024)
            .await
            .map_err(input_err)?
            .unwrap_or_default();
        if first.len() < PART_SIZE || reader.at_eof().await.map_err(input_err)? {
            let len = first.len() as u64;
            self.put_bytes(key, first, content_type).await?;
            return Ok(len);
        }

        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_content_type(content_type.map(str::to_owned))
            .send()
            .await
            .map_err(|e| self.err("CreateMultipartUpload", key, e))?;
        let upload_id = created.upload_id.ok_or_else(|| StorageError::Backend {
            op: "CreateMultipartUpload",
            status: None,
            code: None,
            message: "the response has no upload id".into(),
            transient: false,
        })?;
        tracing::debug!(bucket = %self.bucket, key, %upload_id, "multipart upload started");
        let mut guard = AbortOnDrop {
            store: Some(self.clone()),
            key: key.to_owned(),
            upload_id: upload_id.clone(),
        };

        let result = async {
            let (parts, total) = self
                .upload_parts(&mut reader, key, &upload_id, first)
                .await?;
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| self.err("CompleteMultipartUpload", key, e))?;
            Ok(total)
        }
        .await;

        match result {
            Ok(total) => {
                guard.disarm();
                tracing::debug!(bucket = %self.bucket, key, total, "multipart upload completed");
                Ok(total)
            }
            Err(err) => {
                guard.disarm();
                tracing::warn!(bucket = %self.bucket, key, %upload_id, %err, "multipart upload failed; aborting it");
                self.abort_upload(key, &upload_id).await;
                Err(err)
            }
        }
    }

    /// Uploads `first` and the rest of `reader` as parts, at most
    /// [`MAX_PARTS_IN_FLIGHT`] at a time; returns the parts in order and the total
    /// size. Each part runs as its own task so it makes progress while this one
    /// waits for the input.
    async fn upload_parts<S>(
        &self,
        reader: &mut PartReader<'_, S>,
        key: &str,
        upload_id: &str,
        first: Bytes,
    ) -> Result<(Vec<CompletedPart>, u64)>
    where
        S: Stream<Item = io::Result<Bytes>> + Send,
    {
        let mut tasks: JoinSet<Result<CompletedPart>> = JoinSet::new();
        let mut done = Vec::new();
        let mut total = 0u64;
        let mut part_number = 1;
        let mut next = Some(first);
        let result: Result<()> = async {
            while let Some(part) = next.take() {
                if part_number > MAX_PARTS {
                    return Err(StorageError::TooLarge {
                        key: key.to_owned(),
                        limit: PART_SIZE as u64 * MAX_PARTS as u64,
                    });
                }
                while tasks.len() >= MAX_PARTS_IN_FLIGHT {
                    if let Some(joined) = tasks.join_next().await {
                        done.push(joined_part(joined)?);
                    }
                }
                total += part.len() as u64;
                tasks.spawn(upload_part(
                    self.clone(),
                    key.to_owned(),
                    upload_id.to_owned(),
                    part_number,
                    part,
                ));
                part_number += 1;
                next = reader
                    .next_part(PART_SIZE)
                    .await
                    .map_err(|source| StorageError::Input {
                        key: key.to_owned(),
                        source,
                    })?;
                while let Some(joined) = tasks.try_join_next() {
                    done.push(joined_part(joined)?);
                }
            }
            while let Some(joined) = tasks.join_next().await {
                done.push(joined_part(joined)?);
            }
            Ok(())
        }
        .await;
        if let Err(err) = result {
            // Stop the parts still in flight before the caller aborts the upload,
            // so none lands after the abort.
            tasks.shutdown().await;
            return Err(err);
        }
        done.sort_by_key(|p| p.part_number);
        Ok((done, total))
    }

    async fn abort_upload(&self, key: &str, upload_id: &str) {
        let aborted = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await;
        if let Err(err) = aborted {
            tracing::warn!(bucket = %self.bucket, key, upload_id, err = %DisplayErrorContext(&err), "could not abort multipart upload; a bucket lifecycle rule must clean it up");
        }
    }

    pub(crate) async fn put_bytes(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<()> {
        let len = body.len() as i64;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len)
            .set_content_type(content_type.map(str::to_owned))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.err("PutObject", key, e))?;
        tracing::debug!(bucket = %self.bucket, key, len, "object stored");
        Ok(())
    }

    pub(crate) async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetObject> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(
                range
                    .as_ref()
                    .map(|r| format!("bytes={}-{}", r.start, r.end - 1)),
            )
            .send()
            .await
            .map_err(
                |e| match (&range, e.raw_response().map(|r| r.status().as_u16())) {
                    (Some(r), Some(416)) => StorageError::InvalidRange {
                        key: key.to_owned(),
                        start: r.start,
                        end: r.end,
                    },
                    _ => self.err("GetObject", key, e),
                },
            )?;
        let length = non_negative(out.content_length);
        let (range, size) = match (
            range,
            out.content_range.as_deref().and_then(parse_content_range),
        ) {
            (Some(_), Some((range, size))) => (range, size),
            // A server that ignores the Range header sends the whole object.
            _ => (0..length, length),
        };
        let meta = ObjectMeta {
            key: key.to_owned(),
            size,
            etag: out.e_tag,
            last_modified: out.last_modified.and_then(|t| SystemTime::try_from(t).ok()),
            content_type: out.content_type,
        };
        Ok(GetObject {
            meta,
            range,
            body: body_stream(out.body),
        })
    }

    pub(crate) async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("HeadObject", key, e))?;
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: non_negative(out.content_length),
            etag: out.e_tag,
            last_modified: out.last_modified.and_then(|t| SystemTime::try_from(t).ok()),
            content_type: out.content_type,
        })
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        let mut out = Vec::new();
        let mut pages = self.list_request(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListObjectsV2", prefix, e))?;
            out.extend(
                page.contents
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|o| {
                        Some(ObjectSummary {
                            size: non_negative(o.size),
                            key: o.key?,
                        })
                    }),
            );
        }
        // S3 lists in UTF-8 byte order already; sorting makes that a guarantee
        // for servers that do not.
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// A `ListObjectsV2` request for `prefix`; callers paginate it.
    fn list_request(
        &self,
        prefix: &str,
    ) -> aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
            .set_max_keys(self.list_page_size)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        match self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.err("DeleteObject", key, e))
        {
            Ok(_) | Err(StorageError::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }

    pub(crate) async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let mut deleted = 0;
        let mut batch: Vec<String> = Vec::new();
        // Deleting while paginating is safe: the continuation token marks a
        // position in key order, not an offset.
        let mut pages = self.list_request(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err("ListObjectsV2", prefix, e))?;
            for object in page.contents.unwrap_or_default() {
                if let Some(key) = object.key {
                    batch.push(key);
                }
                if batch.len() >= self.delete_batch_size {
                    deleted += self.delete_batch(std::mem::take(&mut batch)).await?;
                }
            }
        }
        if !batch.is_empty() {
            deleted += self.delete_batch(batch).await?;
        }
        tracing::debug!(bucket = %self.bucket, prefix, deleted, "prefix deleted");
        Ok(deleted)
    }

    /// One `DeleteObjects` request, with the `Content-MD5` header that AWS and
    /// several compatible servers require; falls back to one `DeleteObject` per
    /// key on a server that does not implement it.
    async fn delete_batch(&self, keys: Vec<String>) -> Result<usize> {
        let count = keys.len();
        let build_err = |e: aws_sdk_s3::error::BuildError| StorageError::Backend {
            op: "DeleteObjects",
            status: None,
            code: None,
            message: e.to_string(),
            transient: false,
        };
        let objects = keys
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(build_err)?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(build_err)?;
        let sent = self
            .client
            .delete_objects()
            .bucket(&self.bucket)
            .delete(delete)
            .customize()
            .mutate_request(|req| {
                if let Some(body) = req.body().bytes() {
                    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body));
                    if let Err(err) = req.headers_mut().try_insert("content-md5", md5) {
                        tracing::warn!(%err, "could not set Content-MD5 on DeleteObjects");
                    }
                }
            })
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(err) if err.code() == Some("NotImplemented") => {
                tracing::debug!(bucket = %self.bucket, "DeleteObjects not implemented; deleting one by one");
                for key in &keys {
                    self.delete(key).await?;
                }
                return Ok(count);
            }
            Err(err) => return Err(self.err("DeleteObjects", keys.first().map_or("", |k| k), err)),
        };
        let failures: Vec<_> = out
            .errors
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.code.as_deref() != Some("NoSuchKey"))
            .collect();
        if let Some(first) = failures.first() {
            let key = first.key.clone().unwrap_or_default();
            return Err(match first.code.as_deref() {
                Some("AccessDenied") => StorageError::AccessDenied { key },
                code => StorageError::Backend {
                    op: "DeleteObjects",
                    status: None,
                    code: code.map(str::to_owned),
                    message: format!(
                        "{} of {count} keys not deleted; first: {key}: {}",
                        failures.len(),
                        first.message.as_deref().unwrap_or("no message")
                    ),
                    transient: matches!(
                        code,
                        Some("InternalError" | "SlowDown" | "ServiceUnavailable")
                    ),
                },
            });
        }
        Ok(count)
    }

    pub(crate) async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Url> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| StorageError::Config(format!("presigned URL lifetime {ttl:?}: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| self.err("GetObject (presign)", key, e))?;
        Url::parse(request.uri()).map_err(|e| StorageError::Backend {
            op: "GetObject (presign)",
            status: None,
            code: None,
            message: format!("the SDK produced an unparsable URL: {e}"),
            transient: false,
        })
    }
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

async fn upload_part(
    store: S3Store,
    key: String,
    upload_id: String,
    part_number: i32,
    body: Bytes,
) -> Result<CompletedPart> {
    let len = body.len() as i64;
    let out = store
        .client
        .upload_part()
        .bucket(&store.bucket)
        .key(&key)
        .upload_id(upload_id)
        .part_number(part_number)
        .content_length(len)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| store.err("UploadPart", &key, e))?;
    tracing::trace!(key, part_number, len, "part uploaded");
    Ok(CompletedPart::builder()
        .part_number(part_number)
        .set_e_tag(out.e_tag)
        .build())
}

fn joined_part(
    joined: std::result::Result<Result<CompletedPart>, tokio::task::JoinError>,
) -> Result<CompletedPart> {
    joined.map_err(|e| StorageError::Backend {
        op: "UploadPart",
        status: None,
        code: None,
        message: format!("the part upload task failed: {e}"),
        transient: false,
    })?
}

/// Aborts the multipart upload if the `put_stream` future is dropped before it
/// finished (a client disconnecting from the gateway cancels the handler), so no
/// invisible parts linger and bill storage. Error paths abort explicitly and
/// disarm it.
struct AbortOnDrop {
    store: Option<S3Store>,
    key: String,
    upload_id: String,
}

impl AbortOnDrop {
    fn disarm(&mut self) {
        self.store = None;
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        let Some(store) = self.store.take() else {
            return;
        };
        let key = std::mem::take(&mut self.key);
        let upload_id = std::mem::take(&mut self.upload_id);
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                tracing::warn!(bucket = %store.bucket, key, upload_id, "upload cancelled; aborting multipart upload");
                handle.spawn(async move { store.abort_upload(&key, &upload_id).await });
            }
            Err(_) => {
                tracing::warn!(bucket = %store.bucket, key, upload_id, "upload cancelled outside a runtime; multipart upload left for the lifecycle rule");
            }
        }
    }
}

/// Cuts a byte stream of arbitrary chunk sizes into parts of a fixed size.
struct PartReader<'a, S> {
    stream: std::pin::Pin<&'a mut S>,
    pending: Option<Bytes>,
    eof: bool,
}

impl<'a, S> PartReader<'a, S>
where
    S: Stream<Item = io::Result<Bytes>>,
{
    fn new(stream: std::pin::Pin<&'a mut S>) -> Self {
        PartReader {
            stream,
            pending: None,
            eof: false,
        }
    }

    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        if let Some(chunk) = self.pending.take() {
            return Ok(Some(chunk));
        }
        while !self.eof {
            match self.stream.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => return Ok(Some(chunk)),
                Some(Err(err)) => return Err(err),
                None => self.eof = true,
            }
        }
        Ok(None)
    }

    /// Reads up to [`PART_SIZE`] bytes; `None` at the end of the input.
    /// `initial_capacity` below `PART_SIZE` lets the buffer grow with the data.
    async fn next_part(&mut self, initial_capacity: usize) -> io::Result<Option<Bytes>> {
        let mut buf: Option<BytesMut> = None;
        while let Some(mut chunk) = self.next_chunk().await? {
            let buf =
                buf.get_or_insert_with(|| BytesMut::with_capacity(initial_capacity.min(PART_SIZE)));
            let room = PART_SIZE - buf.len();
            if chunk.len() > room {
                self.pending = Some(chunk.split_off(room));
            }
            buf.extend_from_slice(&chunk);
            if buf.len() == PART_SIZE {
                break;
            }
        }
        Ok(buf.map(BytesMut::freeze))
    }

    /// Whether the input is exhausted (reads ahead one chunk if needed).
    async fn at_eof(&mut self) -> io::Result<bool> {
        match self.next_chunk().await? {
            Some(chunk) => {
                self.pending = Some(chunk);
                Ok(false)
            }
            None => Ok(true),
        }
    }
}

fn body_stream(body: ByteStream) -> BodyStream {
    Box::pin(futures::stream::try_unfold(body, |mut body| async move {
        match body.try_next().await {
            Ok(Some(chunk)) => Ok(Some((chunk, body))),
            Ok(None) => Ok(None),
            Err(err) => Err(io::Error::other(err)),
        }
    }))
}

fn non_negative(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or_default()
}

/// Parses `bytes 0-9/100` into (`0..10`, `100`).
fn parse_content_range(value: &str) -> Option<(Range<u64>, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, size) = rest.split_once('/')?;
    let (start, last) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    let size: u64 = size.trim().parse().ok()?;
    Some((start..last.checked_add(1)?, size))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("bytes 0-9/100"), Some((0..10, 100)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some((5..6, 6)));
        assert_eq!(parse_content_range("bytes */100"), None);
        assert_eq!(parse_content_range("nonsense"), None);
    }

    #[test]
    fn env_config() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let cfg = S3Config::from_env_vars(env(&[
            ("PDFX_S3_ENDPOINT", "http://127.0.0.1:9000"),
            ("PDFX_S3_ACCESS_KEY_ID", "ak"),
            ("PDFX_S3_SECRET_ACCESS_KEY", "sk"),
        ]));
        let cfg = cfg.ok();
        assert_eq!(
            cfg.as_ref().map(|c| (c.force_path_style, c.region.clone())),
            Some((true, None))
        );
        assert!(format!("{cfg:?}").contains("<redacted>"));
        assert!(!format!("{cfg:?}").contains("sk\""));

        let cfg = S3Config::from_env_vars(env(&[("PDFX_S3_REGION", "eu-west-1")])).ok();
        assert_eq!(
            cfg,
            Some(S3Config {
                region: Some("eu-west-1".into()),
                ..S3Config::default()
            })
        );
        for bad in [
            &[("PDFX_S3_ACCESS_KEY_ID", "ak")][..],
            &[("PDFX_S3_SECRET_ACCESS_KEY", "sk")][..],
            &[("PDFX_S3_ENDPOINT", "minio:9000")][..],
            &[("PDFX_S3_ENDPOINT", "ftp://minio:9000")][..],
            &[("PDFX_S3_FORCE_PATH_STYLE", "maybe")][..],
        ] {
            let bad: &'static [(&'static str, &'static str)] = bad;
            assert!(
                matches!(
                    S3Config::from_env_vars(env(bad)),
                    Err(StorageError::Config(_))
                ),
                "{bad:?}"
            );
        }
        let cfg = S3Config::from_env_vars(env(&[
            ("PDFX_S3_ENDPOINT", "https://s3.example"),
            ("PDFX_S3_FORCE_PATH_STYLE", "no"),
            ("PDFX_S3_ACCESS_KEY_ID", ""),
        ]))
        .ok();
        assert_eq!(cfg.map(|c| c.force_path_style), Some(false));
    }
}
