//! The operator's configuration: what every Job gets unless the resource says
//! otherwise, the caps it may never exceed, and the retry policy.
//!
//! [`OperatorArgs`] is the command line (flattened into `pdfx-operator` and
//! `pdfx up`); [`OperatorConfig`] is the same settings checked and typed,
//! built once with `OperatorConfig::try_from(args)`.

use std::time::Duration;

use pdfx_runtime::quantity::{ByteQuantity, CpuQuantity, QuantityError};
use pdfx_storage::StorageUri;

/// The operator's settings on the command line, each with its environment variable.
#[derive(clap::Args, Clone, Debug)]
pub struct OperatorArgs {
    /// Namespaces to watch, comma-separated or the flag repeated; all
    /// namespaces when unset (namespaced RBAC: Roles in exactly these).
    #[arg(long, env = "PDFX_NAMESPACE", value_delimiter = ',')]
    pub namespace: Vec<String>,
    /// Where `spec.source.storage` keys and default outputs live: `s3://bucket[/prefix]` or `file:///dir`
    /// (required; `pdfx up` defaults it to a folder in its data directory).
    #[arg(long, env = "PDFX_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// Secret (in each extraction's namespace) whose keys become the runner's environment (PDFX_S3_* credentials).
    #[arg(long, env = "PDFX_STORAGE_SECRET")]
    pub storage_secret: Option<String>,
    /// S3 endpoint the runner uses; default: the operator's own PDFX_S3_ENDPOINT.
    #[arg(long, env = "PDFX_RUNNER_S3_ENDPOINT")]
    pub runner_s3_endpoint: Option<String>,
    /// Container image of the runner.
    #[arg(
        long,
        env = "PDFX_RUNNER_IMAGE",
        default_value = "pdfx/ocr-runner:0.1.0"
    )]
    pub runner_image: String,
    /// `imagePullPolicy` of the runner container; default: the cluster's.
    #[arg(long, env = "PDFX_RUNNER_IMAGE_PULL_POLICY")]
    pub runner_image_pull_policy: Option<String>,
    /// Service account of runner pods (no token is mounted).
    #[arg(long, env = "PDFX_RUNNER_SERVICE_ACCOUNT")]
    pub runner_service_account: Option<String>,
    /// Memory limit of a first attempt when the resource sets none.
    #[arg(long, env = "PDFX_DEFAULT_MEMORY", default_value = "1Gi")]
    pub default_memory: String,
    /// CPU limit when the resource sets none.
    #[arg(long, env = "PDFX_DEFAULT_CPU", default_value = "2")]
    pub default_cpu: String,
    /// Largest memory limit out-of-memory retries may reach.
    #[arg(long, env = "PDFX_MAX_MEMORY", default_value = "8Gi")]
    pub max_memory: String,
    /// Memory multiplier after an out-of-memory kill (at least 1.1).
    #[arg(long, env = "PDFX_OOM_MEMORY_FACTOR", default_value_t = 2.0)]
    pub oom_memory_factor: f64,
    /// Jobs running at once; further extractions queue, oldest first.
    #[arg(long, env = "PDFX_MAX_CONCURRENT_JOBS", default_value_t = 10)]
    pub max_concurrent_jobs: usize,
    /// Attempts per extraction for transient failures, the first included.
    #[arg(long, env = "PDFX_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: u32,
    /// Wait before the second attempt, in seconds; doubled for each further one.
    #[arg(long, env = "PDFX_RETRY_BACKOFF_SECS", default_value_t = 10)]
    pub retry_backoff_secs: u64,
    /// Longest wait between two attempts, in seconds.
    #[arg(long, env = "PDFX_RETRY_BACKOFF_MAX_SECS", default_value_t = 300)]
    pub retry_backoff_max_secs: u64,
    /// `activeDeadlineSeconds` of every Job.
    #[arg(long, env = "PDFX_ACTIVE_DEADLINE_SECS", default_value_t = 21600)]
    pub active_deadline_secs: i64,
    /// Size limit of the runner's /tmp emptyDir.
    #[arg(long, env = "PDFX_TMP_SIZE_LIMIT", default_value = "10Gi")]
    pub tmp_size_limit: String,
    /// OCR server for `engine: http`.
    #[arg(long, env = "PDFX_OCR_ENDPOINT")]
    pub ocr_endpoint: Option<String>,
    /// Non-public address ranges (CIDRs) that `spec.source.url` may reach,
    /// e.g. an internal file server; every other loopback, private,
    /// link-local or metadata address is refused by the runner.
    #[arg(long, env = "PDFX_URL_ALLOWED_RANGES", value_delimiter = ',')]
    pub url_allowed_ranges: Vec<String>,
    /// An attempt whose pod has not started this long after its Job began
    /// (unsuspended) is ended as Unschedulable, ImagePullFailed or
    /// StartTimeout and retried: e.g. `10m`, `90s`.
    #[arg(long, env = "PDFX_POD_START_TIMEOUT", default_value = "10m", value_parser = pdfx_runtime::args::parse_duration)]
    pub pod_start_timeout: Duration,
    /// Least time between two progress updates of one extraction's status, in seconds.
    #[arg(long, env = "PDFX_PROGRESS_INTERVAL_SECS", default_value_t = 2)]
    pub progress_interval_secs: u64,
    /// Take a Lease before acting (needed when more than one replica runs).
    #[arg(long, env = "PDFX_LEADER_ELECTION")]
    pub leader_election: bool,
    /// Namespace of the Lease; default: the operator's own (`POD_NAMESPACE`), else `default`.
    #[arg(long, env = "PDFX_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Name of the Lease.
    #[arg(long, env = "PDFX_LEASE_NAME", default_value = "pdfx-operator")]
    pub lease_name: String,
}

/// A setting that cannot be used; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--storage-url: {0}")]
    StorageUrl(#[from] pdfx_storage::StorageError),
    #[error("--storage-url is required: s3://bucket[/prefix] or file:///dir")]
    NoStorageUrl,
    #[error("--{flag}: {source}")]
    Quantity {
        flag: &'static str,
        source: QuantityError,
    },
    #[error("--{flag}: {message}")]
    Invalid { flag: &'static str, message: String },
}

/// Taking the Lease before acting, when more than one replica runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
}

/// Settings that shape Jobs and decisions, checked and typed. Built from the
/// command line with `try_from`; tests build it with [`OperatorConfig::new`].
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// Container image of the runner.
    pub runner_image: String,
    pub image_pull_policy: Option<String>,
    /// Memory limit (= request) of a first attempt when the resource sets none.
    pub default_memory: ByteQuantity,
    /// CPU limit (= request) when the resource sets none.
    pub default_cpu: CpuQuantity,
    /// Largest memory limit an out-of-memory retry may ask for.
    pub max_memory: ByteQuantity,
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
    pub tmp_size_limit: ByteQuantity,
    /// Where `spec.source.storage` keys and default outputs live: `s3://bucket`
    /// (or `s3://bucket/prefix`) in a cluster, `file:///dir` in single-machine mode.
    pub storage: StorageUri,
    /// Name of a Secret (in the resource's namespace) whose keys become the
    /// runner's environment: `PDFX_S3_ACCESS_KEY_ID`, `PDFX_S3_SECRET_ACCESS_KEY`…
    pub storage_secret: Option<String>,
    /// S3 endpoint for the runner (`PDFX_S3_ENDPOINT`), when not AWS; default:
    /// the operator's own endpoint.
    pub storage_endpoint: Option<String>,
    pub storage_region: Option<String>,
    /// The OCR server for `engine: http`.
    pub ocr_endpoint: Option<String>,
    /// Non-public ranges a URL source may reach, validated CIDRs.
    pub url_allowed_ranges: Vec<String>,
    /// Service account of runner pods (its token is never mounted).
    pub runner_service_account: Option<String>,
    /// `progress.json` is mirrored into status at most this often per extraction.
    pub progress_interval: Duration,
    /// An attempt whose pod has not started within this is ended and retried.
    pub pod_start_timeout: Duration,
    /// Namespaces to watch; all when empty.
    pub namespaces: Vec<String>,
    /// Leader election, when enabled.
    pub leader_election: Option<LeaderElectionConfig>,
}

fn memory(flag: &'static str, text: &str) -> Result<ByteQuantity, ConfigError> {
    text.parse()
        .map_err(|source| ConfigError::Quantity { flag, source })
}

impl OperatorConfig {
    /// A configuration with the documented defaults for a runner image and storage location.
    pub fn new(runner_image: impl Into<String>, storage: StorageUri) -> Self {
        Self {
            runner_image: runner_image.into(),
            image_pull_policy: None,
            default_memory: ByteQuantity::from_bytes(1 << 30),
            default_cpu: CpuQuantity::new(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
                "2".into(),
            ))
            .unwrap_or_else(|_| unreachable!("2 is a CPU quantity")),
            max_memory: ByteQuantity::from_bytes(8 << 30),
            oom_memory_factor: 2.0,
            max_oom_attempts: 6,
            max_concurrent_jobs: 10,
            max_attempts: 3,
            retry_backoff: Duration::from_secs(10),
            retry_backoff_max: Duration::from_secs(300),
            active_deadline_seconds: 6 * 3600,
            tmp_size_limit: ByteQuantity::from_bytes(10 << 30),
            storage,
            storage_secret: None,
            storage_endpoint: None,
            storage_region: None,
            ocr_endpoint: None,
            url_allowed_ranges: Vec::new(),
            runner_service_account: None,
            progress_interval: Duration::from_secs(2),
            pod_start_timeout: Duration::from_secs(600),
            namespaces: Vec::new(),
            leader_election: None,
        }
    }

    /// The bucket of S3 storage and its base prefix (ending in `/`, or empty);
    /// `None` for local storage.
    pub fn storage_bucket(&self) -> Option<(&str, String)> {
        match &self.storage {
            StorageUri::S3 { bucket, key } => {
                Some((bucket, pdfx_crd::layout::normalize_prefix(key)))
            }
            StorageUri::File { .. } => None,
        }
    }
}

/// A name for this replica in the Lease: the pod's name where Kubernetes gives one.
fn replica_identity() -> String {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            format!("pdfx-operator-{}-{nanos:08x}", std::process::id())
        })
}

impl TryFrom<OperatorArgs> for OperatorConfig {
    type Error = ConfigError;

    fn try_from(args: OperatorArgs) -> Result<Self, Self::Error> {
        let storage = StorageUri::parse(
            args.storage_url
                .as_deref()
                .ok_or(ConfigError::NoStorageUrl)?,
        )?;
        let mut config = OperatorConfig::new(args.runner_image, storage);
        config.image_pull_policy = args.runner_image_pull_policy;
        config.default_memory = memory("default-memory", &args.default_memory)?;
        config.default_cpu = args
            .default_cpu
            .parse()
            .map_err(|source| ConfigError::Quantity {
                flag: "default-cpu",
                source,
            })?;
        config.max_memory = memory("max-memory", &args.max_memory)?;
        config.tmp_size_limit = memory("tmp-size-limit", &args.tmp_size_limit)?;
        if config.default_memory.bytes() > config.max_memory.bytes() {
            return Err(ConfigError::Invalid {
                flag: "default-memory",
                message: format!(
                    "{} is above --max-memory {}",
                    config.default_memory, config.max_memory
                ),
            });
        }
        if !(args.oom_memory_factor.is_finite() && args.oom_memory_factor >= 1.1) {
            return Err(ConfigError::Invalid {
                flag: "oom-memory-factor",
                message: format!("{} must be at least 1.1", args.oom_memory_factor),
            });
        }
        config.oom_memory_factor = args.oom_memory_factor;
        if args.active_deadline_secs <= 0 {
            return Err(ConfigError::Invalid {
                flag: "active-deadline-secs",
                message: format!("{} must be positive", args.active_deadline_secs),
            });
        }
        config.active_deadline_seconds = args.active_deadline_secs;
        config.max_concurrent_jobs = args.max_concurrent_jobs.max(1);
        config.max_attempts = args.max_attempts.max(1);
        config.retry_backoff = Duration::from_secs(args.retry_backoff_secs);
        config.retry_backoff_max = Duration::from_secs(args.retry_backoff_max_secs);
        config.storage_secret = args.storage_secret;
        config.storage_endpoint = args.runner_s3_endpoint;
        config.ocr_endpoint = args.ocr_endpoint;
        config.url_allowed_ranges = args
            .url_allowed_ranges
            .iter()
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
            .map(|r| {
                r.parse::<pdfx_crd::ip_range::IpRange>()
                    .map(|range| range.to_string())
                    .map_err(|e| ConfigError::Invalid {
                        flag: "url-allowed-ranges",
                        message: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        config.runner_service_account = args.runner_service_account;
        config.progress_interval = Duration::from_secs(args.progress_interval_secs.max(1));
        if args.pod_start_timeout.is_zero() {
            return Err(ConfigError::Invalid {
                flag: "pod-start-timeout",
                message: "must be positive".into(),
            });
        }
        config.pod_start_timeout = args.pod_start_timeout;
        let mut namespaces: Vec<String> = args
            .namespace
            .iter()
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        namespaces.sort();
        namespaces.dedup();
        if let Some(bad) = namespaces
            .iter()
            .find(|n| !pdfx_crd::types::is_dns_label(n))
        {
            return Err(ConfigError::Invalid {
                flag: "namespace",
                message: format!("{bad:?} is not a namespace name (a DNS label)"),
            });
        }
        config.namespaces = namespaces;
        if args.leader_election {
            config.leader_election = Some(LeaderElectionConfig {
                namespace: args
                    .lease_namespace
                    .or_else(|| std::env::var("POD_NAMESPACE").ok())
                    .unwrap_or_else(|| "default".to_owned()),
                name: args.lease_name,
                identity: replica_identity(),
            });
        }
        Ok(config)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        operator: OperatorArgs,
    }

    fn config(args: &[&str]) -> Result<OperatorConfig, ConfigError> {
        let mut argv = vec!["pdfx-operator", "--storage-url", "s3://pdfx-data/base"];
        argv.extend_from_slice(args);
        OperatorConfig::try_from(Cli::try_parse_from(argv).unwrap().operator)
    }

    #[test]
    fn flags_become_typed_settings() {
        let c = config(&[
            "--default-memory",
            "512Mi",
            "--max-memory",
            "4Gi",
            "--leader-election",
        ])
        .unwrap();
        assert_eq!(c.default_memory.bytes(), 512 << 20);
        assert_eq!(c.max_memory.to_string(), "4Gi");
        assert_eq!(c.default_cpu.millicores(), 2000);
        assert_eq!(c.storage_bucket(), Some(("pdfx-data", "base/".to_owned())));
        assert_eq!(c.leader_election.unwrap().name, "pdfx-operator");
        assert!(config(&[]).unwrap().leader_election.is_none());
    }

    #[test]
    fn namespaces_are_a_list_comma_separated_or_repeated() {
        assert!(config(&[]).unwrap().namespaces.is_empty());
        let c = config(&["--namespace", "team-b,team-a", "--namespace", "team-a"]).unwrap();
        assert_eq!(c.namespaces, ["team-a", "team-b"]);
        let err = config(&["--namespace", "team-a,Team_B"]).unwrap_err();
        assert!(err.to_string().contains("--namespace"), "{err}");
        assert!(err.to_string().contains("Team_B"), "{err}");
    }

    #[test]
    fn url_allowed_ranges_are_validated_cidrs() {
        let c = config(&["--url-allowed-ranges", "10.20.0.0/16, fd00::/8"]).unwrap();
        assert_eq!(c.url_allowed_ranges, ["10.20.0.0/16", "fd00::/8"]);
        let err = config(&["--url-allowed-ranges", "10.0.0.0/40"]).unwrap_err();
        assert!(err.to_string().contains("--url-allowed-ranges"), "{err}");
    }

    #[test]
    fn bad_settings_name_their_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--default-memory", "lots"], "--default-memory"),
            (&["--max-memory=-1Gi"], "--max-memory"),
            (&["--default-cpu", "2 cores"], "--default-cpu"),
            (&["--tmp-size-limit", "10Gb"], "--tmp-size-limit"),
            (&["--oom-memory-factor", "1.0"], "--oom-memory-factor"),
            (&["--active-deadline-secs", "0"], "--active-deadline-secs"),
            (&["--default-memory", "16Gi"], "--default-memory"),
        ];
        for (args, flag) in cases {
            let error = config(args).unwrap_err().to_string();
            assert!(error.starts_with(flag), "{args:?}: {error}");
        }
        for argv in [
            vec!["pdfx-operator", "--storage-url", "ftp://x"],
            vec!["pdfx-operator"],
        ] {
            let error =
                OperatorConfig::try_from(Cli::try_parse_from(argv).unwrap().operator).unwrap_err();
            assert!(error.to_string().starts_with("--storage-url"), "{error}");
        }
    }
}
