//! Reads: GET (whole or ranged), HEAD, LIST and presigned GET URLs.

use std::io;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use url::Url;

use super::S3Store;
use crate::error::{Result, StorageError};
use crate::{BodyStream, GetObject, ObjectMeta, ObjectSummary};

impl S3Store {
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
    pub(super) fn list_request(
        &self,
        prefix: &str,
    ) -> aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .set_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
            .set_max_keys(self.list_page_size)
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
}
