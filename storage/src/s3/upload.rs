//! Uploads: one `PutObject` for a body that fits in a part, else a streamed
//! multipart upload with bounded parts in flight, aborted on error or cancellation.

use std::io;
use std::pin::pin;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::task::JoinSet;

use super::{MAX_PARTS, MAX_PARTS_IN_FLIGHT, PART_SIZE, S3Store};
use crate::error::{Result, StorageError};

impl S3Store {
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
}

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
