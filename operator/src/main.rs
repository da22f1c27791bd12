//! `pdfx-operator`: reconciles PdfExtraction resources into Jobs.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client};
use pdfx_operator::config::OperatorConfig;
use pdfx_operator::controller;
use pdfx_operator::leader::LeaderElection;
use pdfx_operator::metrics::Metrics;
use pdfx_storage::S3Config;

#[derive(Parser, Debug)]
#[command(
    name = "pdfx-operator",
    version,
    about = "Runs PdfExtraction resources as Kubernetes Jobs."
)]
struct Args {
    /// Namespace to watch; all namespaces when unset.
    #[arg(long, env = "PDFX_NAMESPACE")]
    namespace: Option<String>,
    /// Where `spec.source.storage` keys and default outputs live: `s3://bucket[/prefix]` or `file:///dir`.
    #[arg(long, env = "PDFX_STORAGE_URL")]
    storage_url: String,
    /// Secret (in each extraction's namespace) whose keys become the runner's environment (PDFX_S3_* credentials).
    #[arg(long, env = "PDFX_STORAGE_SECRET")]
    storage_secret: Option<String>,
    /// S3 endpoint the runner uses; default: the operator's own PDFX_S3_ENDPOINT.
    #[arg(long, env = "PDFX_RUNNER_S3_ENDPOINT")]
    runner_s3_endpoint: Option<String>,
    /// Container image of the runner.
    #[arg(
        long,
        env = "PDFX_RUNNER_IMAGE",
        default_value = "pdfx/ocr-runner:0.1.0"
    )]
    runner_image: String,
    #[arg(long, env = "PDFX_RUNNER_IMAGE_PULL_POLICY")]
    runner_image_pull_policy: Option<String>,
    /// Service account of runner pods (no token is mounted).
    #[arg(long, env = "PDFX_RUNNER_SERVICE_ACCOUNT")]
    runner_service_account: Option<String>,
    /// Memory limit of a first attempt when the resource sets none.
    #[arg(long, env = "PDFX_DEFAULT_MEMORY", default_value = "1Gi")]
    default_memory: String,
    /// CPU limit when the resource sets none.
    #[arg(long, env = "PDFX_DEFAULT_CPU", default_value = "2")]
    default_cpu: String,
    /// Largest memory limit out-of-memory retries may reach.
    #[arg(long, env = "PDFX_MAX_MEMORY", default_value = "8Gi")]
    max_memory: String,
    /// Memory multiplier after an out-of-memory kill.
    #[arg(long, env = "PDFX_OOM_MEMORY_FACTOR", default_value_t = 2.0)]
    oom_memory_factor: f64,
    /// Jobs running at once; further extractions queue, oldest first.
    #[arg(long, env = "PDFX_MAX_CONCURRENT_JOBS", default_value_t = 10)]
    max_concurrent_jobs: usize,
    /// Attempts per extraction for transient failures, the first included.
    #[arg(long, env = "PDFX_MAX_ATTEMPTS", default_value_t = 3)]
    max_attempts: u32,
    /// Wait before the second attempt, in seconds; doubled for each further one.
    #[arg(long, env = "PDFX_RETRY_BACKOFF_SECS", default_value_t = 10)]
    retry_backoff_secs: u64,
    #[arg(long, env = "PDFX_RETRY_BACKOFF_MAX_SECS", default_value_t = 300)]
    retry_backoff_max_secs: u64,
    /// `activeDeadlineSeconds` of every Job.
    #[arg(long, env = "PDFX_ACTIVE_DEADLINE_SECS", default_value_t = 21600)]
    active_deadline_secs: i64,
    /// Size limit of the runner's /tmp emptyDir.
    #[arg(long, env = "PDFX_TMP_SIZE_LIMIT", default_value = "10Gi")]
    tmp_size_limit: String,
    /// OCR server for `engine: http`.
    #[arg(long, env = "PDFX_OCR_ENDPOINT")]
    ocr_endpoint: Option<String>,
    /// Least time between two progress updates of one extraction's status, in seconds.
    #[arg(long, env = "PDFX_PROGRESS_INTERVAL_SECS", default_value_t = 2)]
    progress_interval_secs: u64,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "PDFX_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Take a Lease before acting (needed when more than one replica runs).
    #[arg(long, env = "PDFX_LEADER_ELECTION")]
    leader_election: bool,
    /// Namespace of the Lease; default: the operator's own (`POD_NAMESPACE`), else `default`.
    #[arg(long, env = "PDFX_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    #[arg(long, env = "PDFX_LEASE_NAME", default_value = "pdfx-operator")]
    lease_name: String,
}

#[derive(Clone)]
struct Health {
    ready: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
}

fn config_from(args: &Args) -> OperatorConfig {
    let mut config = OperatorConfig::new(args.runner_image.clone(), args.storage_url.clone());
    config.image_pull_policy = args.runner_image_pull_policy.clone();
    config.default_memory = Quantity(args.default_memory.clone());
    config.default_cpu = Quantity(args.default_cpu.clone());
    config.max_memory = Quantity(args.max_memory.clone());
    config.oom_memory_factor = args.oom_memory_factor;
    config.max_concurrent_jobs = args.max_concurrent_jobs.max(1);
    config.max_attempts = args.max_attempts.max(1);
    config.retry_backoff = Duration::from_secs(args.retry_backoff_secs);
    config.retry_backoff_max = Duration::from_secs(args.retry_backoff_max_secs);
    config.active_deadline_seconds = args.active_deadline_secs;
    config.tmp_size_limit = Quantity(args.tmp_size_limit.clone());
    config.storage_secret = args.storage_secret.clone();
    config.ocr_endpoint = args.ocr_endpoint.clone();
    config.runner_service_account = args.runner_service_account.clone();
    config.progress_interval = Duration::from_secs(args.progress_interval_secs.max(1));
    config
}

async fn serve_health(listen: SocketAddr, health: Health) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State(h): State<Health>| async move {
                if h.ready.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "starting")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(h): State<Health>| async move { h.metrics.render() }),
        )
        .with_state(health);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    axum::serve(listener, app).await.context("serving /metrics")
}

async fn run(args: Args) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the Kubernetes API (KUBECONFIG or in-cluster)")?;
    let s3 = S3Config::from_env().context("reading PDFX_S3_* settings")?;
    let mut config = config_from(&args);
    config.storage_endpoint = args
        .runner_s3_endpoint
        .clone()
        .or_else(|| s3.endpoint.clone());
    config.storage_region = s3.region.clone();
    anyhow::ensure!(
        config.oom_memory_factor >= 1.1,
        "--oom-memory-factor must be at least 1.1"
    );
    anyhow::ensure!(
        config.active_deadline_seconds > 0,
        "--active-deadline-secs must be positive"
    );
    pdfx_operator::quantity::parse(&config.default_cpu).context("the default cpu setting")?;
    for (name, value) in [
        ("tmp size limit", &config.tmp_size_limit),
        ("default memory", &config.default_memory),
        ("max memory", &config.max_memory),
    ] {
        pdfx_operator::quantity::bytes(value).with_context(|| format!("the {name} setting"))?;
    }

    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let health = Health {
        ready: Arc::new(AtomicBool::new(false)),
        metrics: metrics.clone(),
    };
    let server = tokio::spawn(serve_health(args.listen, health.clone()));

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    tracing::info!("waiting for the pdfextractions.pdfx.dev CRD to be established");
    tokio::time::timeout(Duration::from_secs(300), await_condition(crds, "pdfextractions.pdfx.dev", conditions::is_crd_established()))
        .await
        .context("the PdfExtraction CRD was not established within 5 minutes (install crds/pdfextraction.yaml)")?
        .context("watching the CRD")?;

    // Ready once the CRD is there: a standby replica is healthy and ready too,
    // or a rolling update with maxUnavailable 0 would never finish.
    health.ready.store(true, Ordering::SeqCst);
    let election = if args.leader_election {
        let identity = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                format!("pdfx-operator-{}-{nanos:08x}", std::process::id())
            });
        let namespace = args
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".to_owned());
        let election = LeaderElection::new(
            client.clone(),
            &namespace,
            &args.lease_name,
            &identity,
            Duration::from_secs(15),
        );
        election
            .acquire()
            .await
            .context("acquiring the leader lease")?;
        Some(election)
    } else {
        None
    };
    tracing::info!(
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
        "operator running"
    );
    let controller = controller::run(client, config, s3, args.namespace.clone(), metrics);
    match election {
        Some(election) => tokio::select! {
            () = controller => {},
            () = election.keep() => anyhow::bail!("lost the leader lease; exiting so that only the new leader acts"),
        },
        None => controller.await,
    }
    server.abort();
    Ok(())
}

fn main() -> ExitCode {
    // Both kube and the S3 client use rustls; name the provider once for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,kube=warn,aws=warn,hyper=warn")
            }),
        )
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "operator stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
