//! Deletes: one key, or every key under a prefix in `DeleteObjects` batches.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use base64::Engine as _;
use md5::{Digest as _, Md5};

use super::S3Store;
use crate::error::{Result, StorageError};

impl S3Store {
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
}
