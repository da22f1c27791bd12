//! A whole pdfx on one machine for the operator's tests: the devcluster API
//! emulator over real HTTP, its local executor running the real runner binary,
//! a storage folder, and the operator's controller in-process (stoppable, to
//! test restarts).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use pdfx_crd::{OcrOptions, PdfExtraction, PdfExtractionSpec, Phase, Source, StorageObject};
use pdfx_devcluster::executor::{Executor, ExecutorConfig};
use pdfx_devcluster::{ApiServer, Running};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};
use pdfx_operator::config::OperatorConfig;
use pdfx_operator::metrics::Metrics;

pub const WAIT: Duration = Duration::from_secs(240);
pub const RUNNER_IMAGE: &str = "pdfx-ocr-runner:test";

/// The runner binary of this workspace, which the test command builds first
/// (`scripts/test.sh`; by hand: `cargo build -p pdfx-ocr-runner`).
pub fn runner_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let runner = profile_dir.join("pdfx-ocr-runner");
    assert!(
        runner.is_file(),
        "{} is missing: build it first with `cargo build -p pdfx-ocr-runner` (scripts/test.sh does)",
        runner.display()
    );
    runner
}

pub struct Cluster {
    pub running: Running,
    pub server: ApiServer,
    pub client: Client,
    pub storage: tempfile::TempDir,
    pub pods: tempfile::TempDir,
    pub config: OperatorConfig,
    pub metrics: Arc<Metrics>,
    /// The operator's own S3 settings (for sources and outputs in S3).
    pub s3: pdfx_storage::S3Config,
    operator: Option<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Emulator, executor with `slots` pod slots, and a configuration whose
    /// storage is a temporary folder; the operator is not started yet.
    pub async fn new(slots: usize) -> Self {
        Self::with_executor(slots, |_| {}).await
    }

    /// As [`Cluster::new`], with the executor's settings adjusted by
    /// `configure` (node capacity, images) before it starts.
    pub async fn with_executor(slots: usize, configure: impl FnOnce(&mut ExecutorConfig)) -> Self {
        let server = ApiServer::in_memory();
        let mut running = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
            .await
            .unwrap();
        let pods = tempfile::tempdir().unwrap();
        let mut executor = ExecutorConfig {
            slots,
            work_dir: pods.path().to_path_buf(),
            ..ExecutorConfig::default()
        };
        executor
            .images
            .insert("pdfx-ocr-runner".into(), runner_binary());
        configure(&mut executor);
        running.attach(tokio::spawn(Executor::new(server.clone(), executor).run()));

        let config = kube::Config::new(running.url().parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        crds.create(&PostParams::default(), &pdfx_crd::crd::crd())
            .await
            .unwrap();
        tokio::time::timeout(
            WAIT,
            await_condition(
                crds,
                "pdfextractions.pdfx.dev",
                conditions::is_crd_established(),
            ),
        )
        .await
        .unwrap()
        .unwrap();

        let storage = tempfile::tempdir().unwrap();
        let mut config = OperatorConfig::new(
            RUNNER_IMAGE,
            pdfx_storage::StorageUri::from_path(storage.path()).unwrap(),
        );
        config.progress_interval = Duration::from_secs(1);
        config.retry_backoff = Duration::from_secs(1);
        config.retry_backoff_max = Duration::from_secs(2);
        config.default_memory = "1Gi".parse().unwrap();
        config.default_cpu = "1".parse().unwrap();
        Self {
            running,
            server,
            client,
            storage,
            pods,
            config,
            metrics: Arc::new(Metrics::new().unwrap()),
            s3: pdfx_storage::S3Config::default(),
            operator: None,
        }
    }

    pub fn start_operator(&mut self) {
        let (client, config, metrics, s3) = (
            self.client.clone(),
            self.config.clone(),
            self.metrics.clone(),
            self.s3.clone(),
        );
        self.operator = Some(tokio::spawn(async move {
            let shutdown = pdfx_runtime::Shutdown::new();
            pdfx_operator::controller::run(client, config, s3, metrics, shutdown).await;
        }));
    }

    /// Stops the operator abruptly, as a crash would.
    pub async fn kill_operator(&mut self) {
        if let Some(task) = self.operator.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn api(&self) -> Api<PdfExtraction> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Writes a generated sample where the gateway puts uploads:
    /// `extractions/default/<name>/source.pdf`.
    pub fn upload_sample(
        &self,
        name: &str,
        pages: u32,
        kind: SampleKind,
        language: SampleLanguage,
    ) -> String {
        let key = format!("extractions/default/{name}/source.pdf");
        let path = self.storage.path().join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_sample(&path, &SampleSpec::new(pages, kind, language)).unwrap();
        key
    }

    pub fn upload_bytes(&self, name: &str, bytes: &[u8]) -> String {
        let key = format!("extractions/default/{name}/source.pdf");
        let path = self.storage.path().join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        key
    }

    pub async fn create(
        &self,
        name: &str,
        key: &str,
        configure: impl FnOnce(&mut PdfExtractionSpec),
    ) -> PdfExtraction {
        let mut spec = PdfExtractionSpec {
            source: Source::Storage(StorageObject { key: key.into() }),
            output: None,
            ocr: OcrOptions::default(),
            resources: None,
            ttl_seconds_after_finished: None,
        };
        configure(&mut spec);
        self.api()
            .create(&PostParams::default(), &PdfExtraction::new(name, spec))
            .await
            .unwrap()
    }

    /// Waits until `name` reaches a terminal phase and returns it.
    pub async fn wait_finished(&self, name: &str) -> PdfExtraction {
        let api = self.api();
        let name = name.to_owned();
        tokio::time::timeout(WAIT, async move {
            loop {
                let r = api.get(&name).await.unwrap();
                if r.status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .is_some_and(Phase::is_terminal)
                {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("extraction did not finish within {WAIT:?}"))
    }

    /// Every file under the storage folder, relative to it.
    pub fn stored_files(&self) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.storage.path(), self.storage.path(), &mut out);
        out.sort();
        out
    }

    pub async fn job_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .jobs()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|j| j.name_any())
            .collect();
        names.sort();
        names
    }
}

/// A fake OCR server (the runner's `--engine http` contract) that answers the
/// first `free` requests at once and holds the others until released, so a
/// test can observe an extraction mid-way without depending on speed.
pub struct GatedOcr {
    pub endpoint: String,
    pub answered: Arc<std::sync::atomic::AtomicUsize>,
    release: Arc<tokio::sync::Notify>,
    released: Arc<std::sync::atomic::AtomicBool>,
}

impl GatedOcr {
    pub async fn start(free: usize) -> Self {
        use axum::routing::post;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let answered = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(tokio::sync::Notify::new());
        let released = Arc::new(AtomicBool::new(false));
        let (a, r, rd) = (answered.clone(), release.clone(), released.clone());
        let counter = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/ocr",
            post(move || {
                let (a, r, rd, counter) = (a.clone(), r.clone(), rd.clone(), counter.clone());
                async move {
                    let n = counter.fetch_add(1, Ordering::SeqCst);
                    if n >= free {
                        while !rd.load(Ordering::SeqCst) {
                            let notified = r.notified();
                            if rd.load(Ordering::SeqCst) {
                                break;
                            }
                            notified.await;
                        }
                    }
                    a.fetch_add(1, Ordering::SeqCst);
                    axum::Json(
                        serde_json::json!({"text": format!("page text {n}"), "confidence": 0.9}),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/ocr", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint,
            answered,
            release,
            released,
        }
    }

    pub fn release(&self) {
        self.released
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.release.notify_waiters();
    }
}
