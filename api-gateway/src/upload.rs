//! The request body on its way to storage: counted against the size limit,
//! its first bytes checked for the `%PDF-` signature, hashed with SHA-256.
//! A refusal is an error of the stream itself, so `Store::put_stream` aborts
//! and leaves nothing behind.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};

/// What every PDF starts with.
pub const SIGNATURE: &[u8] = b"%PDF-";

/// Why the stream stopped an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("the upload is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the upload does not start with %PDF-")]
    NotPdf,
}

impl Rejected {
    /// The rejection inside a storage error, if the stream caused it.
    pub fn find(error: &pdfx_storage::StorageError) -> Option<Rejected> {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(r) = e.downcast_ref::<Rejected>() {
                return Some(*r);
            }
            if let Some(io) = e.downcast_ref::<io::Error>()
                && let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<Rejected>())
            {
                return Some(*r);
            }
            source = e.source();
        }
        None
    }
}

/// What the stream saw, read after the upload.
#[derive(Debug, Default)]
pub struct Seen {
    pub bytes: u64,
    hasher: Sha256,
    head: Vec<u8>,
    pub rejected: Option<Rejected>,
    pub input_failed: bool,
}

impl Seen {
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

/// Wraps a body stream; see the module docs.
pub struct Inspect<S> {
    inner: S,
    limit: u64,
    seen: Arc<Mutex<Seen>>,
    verified: bool,
    done: bool,
    /// Counts bytes as they arrive (`pdfx_gateway_upload_bytes_total`).
    counter: Option<prometheus::IntCounter>,
}

impl<S> Inspect<S> {
    pub fn new(inner: S, limit: u64) -> (Self, Arc<Mutex<Seen>>) {
        Self::counted(inner, limit, None)
    }

    pub fn counted(
        inner: S,
        limit: u64,
        counter: Option<prometheus::IntCounter>,
    ) -> (Self, Arc<Mutex<Seen>>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Self {
                inner,
                limit,
                seen: seen.clone(),
                verified: false,
                done: false,
                counter,
            },
            seen,
        )
    }

    fn reject(&mut self, why: Rejected) -> Poll<Option<io::Result<Bytes>>> {
        self.done = true;
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .rejected = Some(why);
        Poll::Ready(Some(Err(io::Error::other(why))))
    }
}

impl<S, E> Stream for Inspect<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                self.seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .input_failed = true;
                Poll::Ready(Some(Err(io::Error::other(format!(
                    "reading the request body: {e}"
                )))))
            }
            Poll::Ready(None) => {
                if !self.verified {
                    return self.reject(Rejected::NotPdf);
                }
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(chunk))) => {
                let limit = self.limit;
                if let Some(counter) = &self.counter {
                    counter.inc_by(chunk.len() as u64);
                }
                let verdict = {
                    let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                    seen.bytes += chunk.len() as u64;
                    seen.hasher.update(&chunk);
                    if seen.bytes > limit {
                        Err(Rejected::TooLarge(limit))
                    } else if self.verified {
                        Ok(true)
                    } else {
                        let want = SIGNATURE.len() - seen.head.len();
                        let take = want.min(chunk.len());
                        seen.head.extend_from_slice(&chunk[..take]);
                        if !SIGNATURE.starts_with(&seen.head) {
                            Err(Rejected::NotPdf)
                        } else {
                            Ok(seen.head.len() == SIGNATURE.len())
                        }
                    }
                };
                match verdict {
                    Err(why) => self.reject(why),
                    Ok(verified) => {
                        self.verified = verified;
                        Poll::Ready(Some(Ok(chunk)))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use futures::StreamExt;

    async fn run(chunks: &[&[u8]], limit: u64) -> (Vec<io::Result<Bytes>>, Arc<Mutex<Seen>>) {
        let input = futures::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, io::Error>(Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let (stream, seen) = Inspect::new(input, limit);
        (stream.collect().await, seen)
    }

    #[tokio::test]
    async fn a_pdf_passes_through_counted_and_hashed() {
        let (out, seen) = run(&[b"%P", b"DF-1.7\n", b"rest"], 100).await;
        assert!(out.iter().all(Result::is_ok));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.bytes, 13);
        assert_eq!(seen.rejected, None);
        assert_eq!(
            seen.sha256_hex(),
            hex::encode(Sha256::digest(b"%PDF-1.7\nrest"))
        );
    }

    #[tokio::test]
    async fn not_a_pdf_or_too_short_or_too_large_is_an_error() {
        for (chunks, limit, why) in [
            (vec![&b"GIF89a"[..]], 100, Rejected::NotPdf),
            (vec![&b"%PD"[..]], 100, Rejected::NotPdf),
            (vec![], 100, Rejected::NotPdf),
            (
                vec![&b"%PDF-1.7"[..], &b"0123456789"[..]],
                10,
                Rejected::TooLarge(10),
            ),
        ] {
            let (out, seen) = run(&chunks, limit).await;
            let err = out.into_iter().find_map(Result::err).unwrap();
            assert_eq!(
                err.get_ref().unwrap().downcast_ref::<Rejected>(),
                Some(&why)
            );
            assert_eq!(seen.lock().unwrap().rejected, Some(why));
        }
    }

    #[test]
    fn a_rejection_is_found_inside_the_storage_error() {
        let error = pdfx_storage::StorageError::Input {
            key: "k".into(),
            source: io::Error::other(Rejected::NotPdf),
        };
        assert_eq!(Rejected::find(&error), Some(Rejected::NotPdf));
    }
}
