//! The operator's configuration: what every Job gets unless the resource says
//! otherwise, the caps it may never exceed, and the retry policy.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Settings that shape Jobs and decisions. Built from the command line in
/// `main.rs`; tests build it directly.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Container image of the runner.
    pub runner_image: String,
    pub image_pull_policy: Option<String>,
    /// Memory limit (= request) of a first attempt when the resource sets none.
    pub default_memory: Quantity,
    /// CPU limit (= request) when the resource sets none.
    pub default_cpu: Quantity,
    /// Largest memory limit an out-of-memory retry may ask for.
    pub max_memory: Quantity,
    /// Factor applied to the memory limit after an out-of-memory kill (at least 1.1).
    pub oom_memory_factor: f64,
    /// Attempts an extraction may make when each is killed for memory.
    pub max_oom_attempts: u32,
    /// Jobs running at once, across all watched namespaces; the rest queue.
    pub max_concurrent_jobs: usize,
    /// Attempts per extraction, the first included, for transient failures.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub retry_backoff: Duration,
    /// Longest wait between attempts.
    pub retry_backoff_max: Duration,
    /// `activeDeadlineSeconds` of every Job.
    pub active_deadline_seconds: i64,
    /// Size limit of the Job's `/tmp` emptyDir (the downloaded PDF lives there).
    pub tmp_size_limit: Quantity,
    /// Where `spec.source.storage` keys and default outputs live: `s3://bucket`
    /// (or `s3://bucket/prefix`) in a cluster, `file:///dir` in single-machine mode.
    pub storage_url: String,
    /// Name of a Secret (in the resource's namespace) whose keys become the
    /// runner's environment: `PDFX_S3_ACCESS_KEY_ID`, `PDFX_S3_SECRET_ACCESS_KEY`…
    pub storage_secret: Option<String>,
    /// S3 endpoint for the runner (`PDFX_S3_ENDPOINT`), when not AWS.
    pub storage_endpoint: Option<String>,
    pub storage_region: Option<String>,
    /// The OCR server for `engine: http`.
    pub ocr_endpoint: Option<String>,
    /// Service account of runner pods (its token is never mounted).
    pub runner_service_account: Option<String>,
    /// `progress.json` is mirrored into status at most this often per extraction.
    pub progress_interval: Duration,
}

impl OperatorConfig {
    /// A configuration with the documented defaults for a runner image and storage location.
    pub fn new(runner_image: impl Into<String>, storage_url: impl Into<String>) -> Self {
        Self {
            runner_image: runner_image.into(),
            image_pull_policy: None,
            default_memory: Quantity("1Gi".into()),
            default_cpu: Quantity("2".into()),
            max_memory: Quantity("8Gi".into()),
            oom_memory_factor: 2.0,
            max_oom_attempts: 6,
            max_concurrent_jobs: 10,
            max_attempts: 3,
            retry_backoff: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(300),
            active_deadline_seconds: 6 * 3600,
            tmp_size_limit: Quantity("10Gi".into()),
            storage_url: storage_url.into(),
            storage_secret: None,
            storage_endpoint: None,
            storage_region: None,
            ocr_endpoint: None,
            runner_service_account: None,
            progress_interval: Duration::from_secs(2),
        }
    }
}
