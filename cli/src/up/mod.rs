//! `pdfx up`: the whole of pdfx in one process on one machine — the Kubernetes
//! API emulator (persisted in the data directory, the CRD installed), the local
//! executor running runner Jobs as child processes under their memory limits,
//! the operator, and the gateway. Each part is the same library the cluster
//! deployment runs; this module only wires them together.

mod banner;
mod lock;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use pdfx_devcluster::executor::runtime::{RuntimeArgs, RuntimeKind};
use pdfx_devcluster::executor::{Executor, ExecutorConfig};
use pdfx_devcluster::{ApiServer, Config as ClusterConfig};
use pdfx_gateway::{GatewayArgs, GatewayConfig};
use pdfx_operator::config::{OperatorArgs, OperatorConfig};
use pdfx_runtime::{Admin, Shutdown};
use pdfx_storage::{S3Config, StorageUri};

use lock::DataDirLock;

/// The runner image the operator names in its Jobs; the executor maps it to
/// the local runner program.
const RUNNER_IMAGE: &str = "pdfx/ocr-runner";

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Folder for everything pdfx up keeps: the cluster's state, storage,
    /// pods' scratch space and the kubeconfig. Reused on restart.
    #[arg(long, env = "PDFX_DATA_DIR", default_value = ".pdfx")]
    pub data_dir: PathBuf,
    /// Runner processes at once (the executor's pod slots); default: the CPU count.
    #[arg(long, env = "PDFX_SLOTS")]
    pub slots: Option<usize>,
    /// The runner program; default: `pdfx-ocr-runner` beside this binary, else on PATH.
    #[arg(long, env = "PDFX_RUNNER_BIN", value_name = "PATH")]
    pub runner: Option<PathBuf>,
    /// Address of the REST gateway (and its /healthz, /readyz, /metrics).
    #[arg(long, env = "PDFX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the Kubernetes API emulator (kubectl finds it through DIR/kubeconfig).
    #[arg(long, env = "PDFX_KUBE_API_LISTEN", default_value = "127.0.0.1:0")]
    pub kube_api_listen: SocketAddr,
    /// How runner pods run: `process` (the runner program, the default) or
    /// `docker` (the `pdfx/ocr-runner` image on the local Docker engine, with
    /// the Job's security settings and memory limit enforced by the engine).
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// The runner program: the flag, else beside this executable, else `PATH`.
fn runner_program(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        anyhow::ensure!(path.is_file(), "--runner {} does not exist", path.display());
        return Ok(path.to_owned());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("pdfx-ocr-runner")));
    if let Some(path) = beside.filter(|p| p.is_file()) {
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pdfx-ocr-runner"))
            .find(|p| p.is_file())
    });
    on_path.context(
        "cannot find the runner program pdfx-ocr-runner (beside pdfx or on PATH); build it with `cargo build -p pdfx-ocr-runner` or pass --runner",
    )
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir()
            .context("reading the current directory")?
            .join(path)
    };
    Ok(path)
}

/// Writes `contents` to `path` through a temporary file and a rename, so
/// that kubectl never reads half a kubeconfig.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let partial = path.with_extension("tmp");
    std::fs::write(&partial, contents).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// A local storage folder, which runner containers must reach at the path
/// their Job names; S3 needs nothing. The containers run as the Job's
/// non-root UID, and the gateway and operator as this process's user: POSIX
/// default ACLs give both of them access to everything either creates there
/// (plain modes cannot, with 0755 directories from either side).
fn shared_storage_folder(storage: &StorageUri) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let StorageUri::File { path: folder } = storage else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let own_uid = std::fs::metadata(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .uid();
    let runner = pdfx_operator::job::RUNNER_UID;
    let spec = format!("u:{runner}:rwX,d:u:{runner}:rwX,d:u:{own_uid}:rwX,m::rwX,d:m::rwX");
    let status = std::process::Command::new("setfacl")
        .args(["-R", "-m", &spec])
        .arg(folder)
        .status()
        .context("--runtime docker shares local storage through ACLs and needs setfacl (Debian package acl)")?;
    anyhow::ensure!(
        status.success(),
        "setfacl on {} failed: does its file system support POSIX ACLs?",
        folder.display()
    );
    Ok(vec![folder.clone()])
}

pub async fn run(args: UpArgs, shutdown: Shutdown) -> anyhow::Result<()> {
    let dir = absolute(&args.data_dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = DataDirLock::acquire(&dir)?;
    // With the container runtime the image runs, not a local program.
    let runner = match args.runtime.kind {
        RuntimeKind::Process => Some(runner_program(args.runner.as_deref())?),
        RuntimeKind::Docker => None,
    };
    let slots = args.slots.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2)
    });
    let admin = Admin::with_process_metrics()?;
    let s3 = S3Config::from_env().context("reading PDFX_S3_* settings")?;

    // Storage: a folder of the data directory unless told otherwise.
    let mut operator_args = args.operator;
    let storage_url = match operator_args.storage_url.take() {
        Some(url) => url,
        None => {
            let folder = dir.join("storage");
            std::fs::create_dir_all(&folder)
                .with_context(|| format!("creating {}", folder.display()))?;
            StorageUri::from_path(&folder)
                .context("the data directory must be an absolute UTF-8 path")?
                .to_string()
        }
    };
    let storage = StorageUri::parse(&storage_url).context("--storage-url")?;
    let container_runtime = args
        .runtime
        .container_runtime(shared_storage_folder(&storage)?)
        .await?;
    operator_args.storage_url = Some(storage_url);
    let mut operator_config =
        OperatorConfig::try_from(operator_args).context("invalid operator setting")?;
    // Jobs name the runner by image; the executor maps the image to the program.
    operator_config.runner_image = format!("{RUNNER_IMAGE}:{}", env!("CARGO_PKG_VERSION"));
    // One machine, one user: auth is off unless keys are given.
    let mut gateway_args = args.gateway;
    if gateway_args.api_keys_file.is_none() && gateway_args.api_keys_secret.is_none() {
        gateway_args.auth_disabled = true;
    }
    let gateway_config =
        GatewayConfig::new(gateway_args, storage).context("invalid gateway setting")?;

    // The Kubernetes API emulator, persisted in the data directory.
    let cluster = ApiServer::new(ClusterConfig {
        data_dir: Some(dir.join("cluster")),
        ..ClusterConfig::default()
    })
    .with_context(|| {
        format!(
            "opening the cluster state in {}",
            dir.join("cluster").display()
        )
    })?;
    pdfx_devcluster::install_pdfx_crd(&cluster)
        .await
        .context("installing the PdfExtraction CRD")?;
    let mut running = pdfx_devcluster::start(cluster.clone(), &args.kube_api_listen.to_string())
        .await
        .with_context(|| format!("listening on {}", args.kube_api_listen))?;
    let kubeconfig = dir.join("kubeconfig");
    write_atomically(&kubeconfig, &pdfx_devcluster::kubeconfig(&running.url()))?;

    let mut executor = ExecutorConfig {
        slots: slots.max(1),
        work_dir: dir.join("pods"),
        container_runtime,
        ..ExecutorConfig::default()
    };
    if let Some(runner) = runner {
        executor.images.insert(RUNNER_IMAGE.to_owned(), runner);
    }
    running.attach(tokio::spawn(Executor::new(cluster.clone(), executor).run()));

    let client = kube::Client::try_from(kube::Config::new(
        running.url().parse().context("the emulator's URL")?,
    ))
    .context("connecting to the emulator")?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let gateway_addr = listener.local_addr().context("the gateway's address")?;
    let auth_disabled = gateway_config.auth_disabled();

    let operator = {
        let (client, s3, admin, shutdown) =
            (client.clone(), s3.clone(), admin.clone(), shutdown.clone());
        tokio::spawn(async move {
            pdfx_operator::run(client, operator_config, s3, &admin, shutdown).await
        })
    };
    let gateway = {
        let (admin, shutdown) = (admin.clone(), shutdown.clone());
        tokio::spawn(async move {
            pdfx_gateway::run_with_listener(listener, client, gateway_config, s3, &admin, shutdown)
                .await
        })
    };

    let banner = banner::Banner {
        gateway: gateway_addr,
        kubeconfig: kubeconfig.clone(),
        data_dir: dir.clone(),
        auth_disabled,
        slots,
    };
    let ready = async {
        while !admin.readiness().is_ready() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut operator = operator;
    let mut gateway = gateway;
    tokio::select! {
        () = ready => banner.print(),
        outcome = &mut operator => return stopped("the operator", outcome),
        outcome = &mut gateway => return stopped("the gateway", outcome),
        () = shutdown.wait() => {}
    }
    let outcome = tokio::select! {
        outcome = &mut operator => stopped("the operator", outcome),
        outcome = &mut gateway => stopped("the gateway", outcome),
        () = shutdown.wait() => Ok(()),
    };
    shutdown.trigger();
    eprintln!("pdfx: stopping");
    // A part whose outcome was taken above is finished; awaiting its handle
    // again would panic.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        if !operator.is_finished() {
            let _ = operator.await;
        }
        if !gateway.is_finished() {
            let _ = gateway.await;
        }
    })
    .await;
    running.shutdown();
    outcome
}

/// A part that returned on its own: an error unless the process is stopping.
fn stopped<E: std::error::Error + Send + Sync + 'static>(
    part: &str,
    outcome: Result<Result<(), E>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!("{part} stopped"))),
        Err(e) => Err(anyhow::anyhow!("{part} panicked: {e}")),
    }
}
