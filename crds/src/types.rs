//! The `PdfExtraction` custom resource, `pdfx.dev/v1alpha1`.
//!
//! Doc comments on these types become the descriptions `kubectl explain` shows,
//! so they are written for the person reading them there.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::reasons::FailureReason;

/// API group of every pdfx resource.
pub const GROUP: &str = "pdfx.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";

/// Page selection syntax accepted by `spec.ocr.pages`: comma-separated 1-based
/// pages (`9`), closed ranges (`1-5`) and open ranges (`10-`, `-3`). Written for
/// Go's RE2 as well as Rust's `regex`, since the API server enforces it.
pub const PAGE_RANGE_PATTERN: &str =
    r"^\s*(\d+\s*(-\s*\d*)?|-\s*\d+)(\s*,\s*(\d+\s*(-\s*\d*)?|-\s*\d+))*\s*$";

/// A Tesseract language code: three letters plus optional script or variant
/// suffixes (`eng`, `kor`, `chi_sim`, `kor_vert`).
/// A namespace name (an RFC 1123 label): what a tenant is, and what the
/// operator's `--namespace` and the gateway's keys name.
pub fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

pub const LANGUAGE_PATTERN: &str = r"^[a-z]{3}(_[a-z]+)*$";

/// A Kubernetes resource quantity (`512Mi`, `2Gi`, `500m`, `1.5`), the pattern
/// the API server itself documents for `Quantity`.
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";

/// Extract the text of one PDF document, page by page, from its text layer where
/// it has one and by OCR elsewhere.
///
/// The operator runs the extraction as a Kubernetes Job under a memory limit,
/// retries transient failures, and reports progress and the outcome in `status`.
/// The text itself is written to object storage (`status.result.location`), never
/// into this object. Deleting the object cancels the extraction and deletes
/// everything pdfx created for it.
// clippy mistakes the repeated `type_ = …` of separate printcolumns for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "pdfx.dev",
    version = "v1alpha1",
    kind = "PdfExtraction",
    plural = "pdfextractions",
    singular = "pdfextraction",
    shortname = "pdfx",
    category = "pdfx",
    namespaced,
    status = "PdfExtractionStatus",
    derive = "PartialEq",
    doc = "A PDF text extraction: the document to read, how to read it, and (in status) how far it got.",
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Queued, Running, Succeeded or Failed"
    ),
    printcolumn(
        name = "Progress",
        type_ = "integer",
        json_path = ".status.progress.percent",
        description = "Percent of the selected pages finished"
    ),
    printcolumn(
        name = "Pages",
        type_ = "integer",
        json_path = ".status.progress.pagesTotal",
        description = "Number of pages selected for extraction"
    ),
    printcolumn(
        name = "Attempts",
        type_ = "integer",
        json_path = ".status.currentAttempt",
        description = "Number of Jobs started for this extraction so far"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.error.reason",
        description = "Machine-readable reason of a failure",
        priority = "1"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("spec is immutable: delete the PdfExtraction and create a new one to change it"))]
pub struct PdfExtractionSpec {
    /// The PDF to read. Exactly one of `s3`, `url` or `storage`.
    pub source: Source,

    /// Where the results are written. Default: the operator's configured bucket
    /// under the prefix `extractions/<namespace>/<name>/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Output>,

    /// How pages are read: languages, resolution, when to OCR, which pages, which engine.
    #[serde(default)]
    pub ocr: OcrOptions,

    /// Memory and CPU for the extraction Job. Default: the operator's configured
    /// defaults. After an out-of-memory kill the operator retries with a larger
    /// memory limit, up to its configured cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<RunnerResources>,

    /// Seconds after the extraction finishes (succeeded or failed) at which the
    /// PdfExtraction and everything pdfx created for it are deleted. Unset: kept
    /// until deleted by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,
}

/// The PDF to read: exactly one of `s3`, `url` or `storage`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// An object in an S3 bucket the runner can read. pdfx never deletes it.
    S3(S3Object),
    /// An https URL the runner downloads.
    Url(
        #[schemars(regex(pattern = r"^https://[^\s]+$"), length(max = 2048))]
        String,
    ),
    /// An object in the operator's configured bucket; the REST gateway stores
    /// uploads this way. pdfx deletes it with the extraction.
    Storage(StorageObject),
}

/// An object in an S3 bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Object key within the bucket.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
}

/// An object in the operator's configured bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageObject {
    /// Object key within the operator's configured bucket. It must lie under
    /// `extractions/<namespace>/`, the resource's own namespace (the gateway
    /// stores uploads at `extractions/<namespace>/<name>/source.pdf`).
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
}

/// Where the results of an extraction are written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// An S3 bucket and key prefix. The runner writes `pages/`, `progress.json`,
    /// `result.json` and `result.txt` under the prefix.
    pub s3: S3Prefix,
}

/// A key prefix in an S3 bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct S3Prefix {
    /// Bucket name.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// Key prefix; a trailing `/` is added when missing. In the operator's own
    /// bucket it must lie under `extractions/<namespace>/`.
    #[schemars(length(min = 1, max = 900))]
    pub prefix: String,
}

/// How the pages of the document are read.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OcrOptions {
    /// Tesseract language codes, e.g. `["kor", "eng"]`. Languages the runner has
    /// no data for fail the extraction.
    #[serde(default = "default_languages")]
    #[schemars(length(min = 1, max = 8), inner(regex(pattern = LANGUAGE_PATTERN)))]
    pub languages: Vec<String>,

    /// Resolution, in dots per inch, at which pages are rendered for OCR.
    #[serde(default = "default_dpi")]
    #[schemars(range(min = 72, max = 600))]
    pub dpi: u32,

    /// When to OCR a page: `auto` takes the embedded text layer where a page has
    /// one and OCRs the rest; `always` OCRs every page; `never` only reads text
    /// layers.
    #[serde(default)]
    pub mode: OcrMode,

    /// Pages to read, 1-based: e.g. `1-5,9`, `10-` (10 to the end), `-3` (1 to 3).
    /// Default: every page. Pages beyond the end of the document fail the
    /// extraction with reason `PageRangeOutOfBounds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = PAGE_RANGE_PATTERN),
        length(max = 1024)
    )]
    pub pages: Option<String>,

    /// OCR engine: `tesseract` runs inside the Job; `http` sends rendered pages
    /// to the external OCR server configured in the operator.
    #[serde(default)]
    pub engine: OcrEngine,
}

impl Default for OcrOptions {
    fn default() -> Self {
        Self {
            languages: default_languages(),
            dpi: default_dpi(),
            mode: OcrMode::default(),
            pages: None,
            engine: OcrEngine::default(),
        }
    }
}

fn default_languages() -> Vec<String> {
    vec!["eng".to_owned()]
}

fn default_dpi() -> u32 {
    300
}

/// When a page is OCR'd.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OcrMode {
    /// Text layer where a page has one, OCR otherwise.
    #[default]
    Auto,
    /// OCR every page, ignoring text layers.
    Always,
    /// Never OCR: read text layers only.
    Never,
}

/// The OCR engine.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum OcrEngine {
    /// Tesseract, inside the extraction Job.
    #[default]
    Tesseract,
    /// The external OCR server configured in the operator, over HTTP.
    Http,
}

/// Memory and CPU for the extraction Job's container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunnerResources {
    /// Memory limit (also the request), e.g. `1Gi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = QUANTITY_PATTERN))]
    pub memory: Option<Quantity>,
    /// CPU limit (also the request), e.g. `2` or `500m`. It also decides how many
    /// pages are OCR'd in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = QUANTITY_PATTERN))]
    pub cpu: Option<Quantity>,
}

/// The observed state of an extraction. Written by the operator only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PdfExtractionStatus {
    /// Where the extraction is: `Pending` → `Queued` → `Running` → `Succeeded` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// Conditions after the Kubernetes API conventions: `Accepted`, `Running`,
    /// `Succeeded` and `Failed`, each with a machine-readable reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Number of the latest attempt (1 for the first Job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_attempt: Option<u32>,

    /// Every Job started for this extraction, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,

    /// Name of the Job of the current attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,

    /// Pages finished so far, updated at most every two seconds while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,

    /// When the first attempt started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// When the extraction reached `Succeeded` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// Summary of the result, once `Succeeded`. The text is in storage at `location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultSummary>,

    /// Why the extraction failed, once `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExtractionError>,
}

/// The lifecycle phase of an extraction.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Accepted, not yet admitted.
    Pending,
    /// Waiting for a free slot: more extractions are running than the operator allows.
    Queued,
    /// A Job is working on it (or waiting to retry).
    Running,
    /// Finished; the result is in storage.
    Succeeded,
    /// Finished without a result; see `error`.
    Failed,
}

impl Phase {
    /// Succeeded and Failed are final: nothing moves an extraction out of them.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// One Job run for an extraction.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1 for the first attempt, then counting up.
    pub number: u32,
    /// Name of the Job.
    pub job_name: String,
    /// Memory limit the Job ran with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<Quantity>,
    /// When the Job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Job finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<Time>,
    /// How the attempt went.
    pub outcome: AttemptOutcome,
    /// Machine-readable reason of a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    /// One-line description of a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The outcome of one attempt.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AttemptOutcome {
    /// The Job is still running.
    Running,
    /// The Job finished the extraction.
    Succeeded,
    /// The Job failed; `reason` says why.
    Failed,
}

/// Pages finished so far.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Number of pages selected for extraction.
    pub pages_total: u32,
    /// Number of those pages finished.
    pub pages_done: u32,
    /// `pagesDone` as a percentage of `pagesTotal`, rounded down.
    #[schemars(range(max = 100))]
    pub percent: u8,
}

impl Progress {
    /// Progress from page counts; the percentage is rounded down so that 100 means done.
    pub fn new(pages_done: u32, pages_total: u32) -> Self {
        let done = pages_done.min(pages_total);
        let percent = if pages_total == 0 {
            0
        } else {
            // At most 100, so the narrowing cannot truncate.
            (u64::from(done) * 100 / u64::from(pages_total)) as u8
        };
        Self {
            pages_total,
            pages_done: done,
            percent,
        }
    }
}

/// Summary of a finished extraction. The text itself is at `location`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultSummary {
    /// URI of `result.json` (`s3://bucket/key` or `file:///path`).
    pub location: String,
    /// Pages extracted.
    pub pages: u32,
    /// Pages read by OCR.
    pub ocr_pages: u32,
    /// Pages read from their embedded text layer.
    pub text_layer_pages: u32,
    /// Characters of text extracted, whitespace included.
    pub characters: u64,
    /// Mean OCR confidence over OCR'd pages, 0 to 1; absent when no page was OCR'd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_confidence: Option<f64>,
}

/// Why an extraction failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExtractionError {
    /// Machine-readable reason.
    pub reason: FailureReason,
    /// One line for people.
    pub message: String,
}
