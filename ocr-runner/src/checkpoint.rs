//! Page checkpoints, progress and the assembled result in storage (docs/architecture.md, "Storage layout").
//!
//! Every finished page is its own object, written atomically, so a crash loses
//! at most the pages in flight; a rerun lists `pages/` and skips what is there.
//! The result is assembled from the page objects one page at a time through
//! temporary files, so its size never has to fit in memory.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use pdfx_crd::layout::{ExtractionLayout, parse_page_object};
use pdfx_crd::result::{PageResult, ProgressDocument, Summary};
use pdfx_storage::Store;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::error::RunnerError;

/// Largest page checkpoint read back (a dense page with word boxes is well under 1 MiB).
const MAX_PAGE_OBJECT: usize = 64 << 20;
/// Page objects written or read at once: storage latency, not bandwidth, is
/// what limits a text-layer run on S3.
pub const PARALLEL_IO: usize = 16;
/// `progress.json` is rewritten at most this often.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

/// What the checkpoints of an output prefix were made from.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Fingerprint {
    pub version: u32,
    pub source_sha256: String,
    pub source_bytes: u64,
    pub languages: Vec<String>,
    pub dpi: u32,
    pub mode: String,
    pub engine: String,
    pub segmentation: String,
    pub min_text_chars: usize,
    pub max_pixels: u64,
}

/// SHA-256 of a file, streamed.
pub fn file_sha256(path: &Path) -> Result<(String, u64), RunnerError> {
    use sha2::Digest;
    use std::io::Read;
    let io = |e| RunnerError::io(format!("reading {}", path.display()), e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
    let digest = hasher.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), total))
}

pub struct Checkpoints {
    store: Store,
    layout: ExtractionLayout,
    last_progress: Option<Instant>,
}

impl Checkpoints {
    pub fn new(store: Store, layout: ExtractionLayout) -> Self {
        Self {
            store,
            layout,
            last_progress: None,
        }
    }

    pub fn layout(&self) -> &ExtractionLayout {
        &self.layout
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Keeps the existing checkpoints when they were made from the same source
    /// and options, otherwise removes them (result first, so a stale result is
    /// never taken for a finished one) and records the new fingerprint.
    /// Returns whether the old checkpoints were discarded.
    pub async fn prepare(&self, fingerprint: &Fingerprint) -> Result<bool, RunnerError> {
        let key = self.layout.checkpoint();
        let stored = match self.store.get_bytes(&key, 1 << 20).await {
            Ok(bytes) => Some(serde_json::from_slice::<Fingerprint>(&bytes).ok()),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        if stored.as_ref().and_then(Option::as_ref) == Some(fingerprint) {
            return Ok(false);
        }
        let pages: Vec<String> = self
            .store
            .list(&self.layout.pages_prefix())
            .await?
            .into_iter()
            .map(|o| o.key)
            .filter(|k| parse_page_object(k).is_some())
            .collect();
        // Without a checkpoint.json the output is not one of ours: never delete
        // what is there (it may be someone's own `pages/` folder), and never
        // mix page objects of unknown origin into a result.
        if stored.is_none() && !pages.is_empty() {
            return Err(RunnerError::InvalidOptions(format!(
                "the output {} already holds page files but no {}; use an empty output",
                self.layout.pages_prefix(),
                pdfx_crd::layout::CHECKPOINT_JSON
            )));
        }
        let discarded = stored.is_some();
        if discarded {
            tracing::info!("source or options changed since the last run: starting over");
            self.store.delete(&self.layout.result_json()).await?;
            self.store.delete(&self.layout.result_txt()).await?;
            for page in &pages {
                self.store.delete(page).await?;
            }
        }
        let body =
            serde_json::to_vec(fingerprint).map_err(|e| RunnerError::Internal(e.to_string()))?;
        self.store
            .put_bytes(&key, Bytes::from(body), Some("application/json"))
            .await?;
        Ok(discarded)
    }

    /// Pages whose checkpoint exists.
    pub async fn done_pages(&self) -> Result<BTreeSet<u32>, RunnerError> {
        Ok(self
            .store
            .list(&self.layout.pages_prefix())
            .await?
            .iter()
            .filter_map(|o| parse_page_object(&o.key))
            .collect())
    }

    /// A future that stores one page checkpoint; it owns what it needs, so
    /// several can be in flight while progress is written.
    pub fn page_writer(
        &self,
        page: PageResult,
    ) -> impl std::future::Future<Output = Result<u32, RunnerError>> + use<> {
        let (store, key) = (self.store.clone(), self.layout.page(page.page));
        async move {
            let body =
                serde_json::to_vec(&page).map_err(|e| RunnerError::Internal(e.to_string()))?;
            store
                .put_bytes(&key, Bytes::from(body), Some("application/json"))
                .await?;
            Ok(page.page)
        }
    }

    /// Writes `progress.json` unless it was written less than a second ago
    /// (`force` writes regardless); returns whether it wrote.
    pub async fn write_progress(
        &mut self,
        done: u32,
        total: u32,
        force: bool,
    ) -> Result<bool, RunnerError> {
        if !force
            && self
                .last_progress
                .is_some_and(|t| t.elapsed() < PROGRESS_INTERVAL)
        {
            return Ok(false);
        }
        let document = ProgressDocument {
            pages_total: total,
            pages_done: done,
            updated_at: now_rfc3339(),
        };
        let body =
            serde_json::to_vec(&document).map_err(|e| RunnerError::Internal(e.to_string()))?;
        self.store
            .put_bytes(
                &self.layout.progress(),
                Bytes::from(body),
                Some("application/json"),
            )
            .await?;
        self.last_progress = Some(Instant::now());
        Ok(true)
    }

    async fn read_page(&self, page: u32) -> Result<PageResult, RunnerError> {
        let key = self.layout.page(page);
        let bad = |message: String| RunnerError::BadCheckpoint { page, message };
        let parsed = match self.store.get_bytes(&key, MAX_PAGE_OBJECT).await {
            Ok(bytes) => serde_json::from_slice::<PageResult>(&bytes).map_err(|e| e.to_string()),
            Err(e) if e.is_not_found() => return Err(bad("missing".into())),
            Err(e) => return Err(e.into()),
        };
        match parsed {
            Ok(result) if result.page == page => Ok(result),
            Ok(result) => {
                self.store.delete(&key).await?;
                Err(bad(format!("it holds page {}", result.page)))
            }
            Err(message) => {
                self.store.delete(&key).await?;
                Err(bad(message))
            }
        }
    }

    /// Builds `result.txt` and then `result.json` (its existence means done)
    /// from the checkpoints of `pages`, in order. Returns the summary.
    pub async fn assemble(
        &self,
        pages: &[u32],
        mut summary: Summary,
        started: Instant,
        workdir: &Path,
    ) -> Result<Summary, RunnerError> {
        let json_path = workdir.join("result.json.part");
        let txt_path = workdir.join("result.txt.part");
        let io = |what: &Path| {
            let context = format!("writing {}", what.display());
            move |e| RunnerError::io(context, e)
        };
        let mut json = tokio::io::BufWriter::new(
            tokio::fs::File::create(&json_path)
                .await
                .map_err(io(&json_path))?,
        );
        let mut txt = tokio::io::BufWriter::new(
            tokio::fs::File::create(&txt_path)
                .await
                .map_err(io(&txt_path))?,
        );
        json.write_all(b"{\"pages\":[")
            .await
            .map_err(io(&json_path))?;
        // Reads run ahead of the writing, a bounded number at a time, in order.
        let mut reads = futures::stream::iter(pages.iter().copied())
            .map(|page| self.read_page(page))
            .buffered(PARALLEL_IO);
        let mut index = 0usize;
        while let Some(result) = reads.next().await {
            let result = result?;
            summary.add_page(&result);
            if index > 0 {
                json.write_all(b",").await.map_err(io(&json_path))?;
                txt.write_all(b"\x0c").await.map_err(io(&txt_path))?;
            }
            let encoded =
                serde_json::to_vec(&result).map_err(|e| RunnerError::Internal(e.to_string()))?;
            json.write_all(&encoded).await.map_err(io(&json_path))?;
            txt.write_all(result.text.as_bytes())
                .await
                .map_err(io(&txt_path))?;
            index += 1;
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        let encoded =
            serde_json::to_vec(&summary).map_err(|e| RunnerError::Internal(e.to_string()))?;
        json.write_all(b"],\"summary\":")
            .await
            .map_err(io(&json_path))?;
        json.write_all(&encoded).await.map_err(io(&json_path))?;
        json.write_all(b"}").await.map_err(io(&json_path))?;
        json.flush().await.map_err(io(&json_path))?;
        txt.flush().await.map_err(io(&txt_path))?;
        drop((json, txt));

        self.upload(
            &txt_path,
            &self.layout.result_txt(),
            "text/plain; charset=utf-8",
        )
        .await?;
        self.upload(&json_path, &self.layout.result_json(), "application/json")
            .await?;
        Ok(summary)
    }

    async fn upload(&self, path: &Path, key: &str, content_type: &str) -> Result<(), RunnerError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| RunnerError::io(format!("reading {}", path.display()), e))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        self.store
            .put_stream(key, stream, Some(content_type))
            .await?;
        Ok(())
    }
}

/// The current time as RFC 3339 UTC with seconds, without a date-time dependency.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_rfc3339(secs)
}

/// Formats seconds since the Unix epoch (civil-from-days, proleptic Gregorian).
pub fn format_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
