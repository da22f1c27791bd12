//! `pdfx-devcluster serve`: the emulator (and optionally the local executor) as a process.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pdfx_devcluster::executor::runtime::RuntimeArgs;
use pdfx_devcluster::executor::{Executor, ExecutorConfig};
use pdfx_devcluster::{ApiServer, Config};
use pdfx_runtime::Shutdown;
use pdfx_runtime::args::LogArgs;

#[derive(Parser)]
#[command(
    name = "pdfx-devcluster",
    about = "A Kubernetes API emulator and local Job executor for pdfx"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    log: LogArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the Kubernetes API on an address, persisting to a data directory.
    Serve {
        /// Directory holding the persistent store.
        #[arg(long, env = "DEVCLUSTER_DATA_DIR")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: String,
        /// Where to write a kubeconfig for kubectl and kube clients.
        #[arg(long)]
        kubeconfig: Option<PathBuf>,
        /// Do not install the PdfExtraction CRD on start.
        #[arg(long)]
        no_crd: bool,
        /// Run Jobs as local processes (the local executor).
        #[arg(long)]
        executor: bool,
        /// Map a container image to a local program: `IMAGE=PATH` (repeatable). The
        /// image name without tag is also matched.
        #[arg(long = "image", value_name = "IMAGE=PATH")]
        images: Vec<String>,
        /// How many pods may run at once (the node's allocatable pod count).
        #[arg(long, default_value_t = 2)]
        slots: usize,
        /// Memory the node offers pods (a quantity: `8Gi`); pods are started
        /// only while their memory requests fit. Default: this machine's.
        #[arg(long, env = "DEVCLUSTER_NODE_MEMORY", value_parser = parse_memory)]
        node_memory: Option<u64>,
        /// CPU the node offers pods (a quantity: `4`, `2500m`); pods are
        /// started only while their CPU requests fit. Default: this machine's
        /// CPU count is reported, and CPU requests do not hold pods back.
        #[arg(long, env = "DEVCLUSTER_NODE_CPU", value_parser = parse_cpu)]
        node_cpu: Option<u64>,
        #[command(flatten)]
        runtime: RuntimeArgs,
    },
}

fn parse_memory(text: &str) -> Result<u64, String> {
    pdfx_runtime::quantity::parse_bytes(text).map_err(|e| e.to_string())
}

fn parse_cpu(text: &str) -> Result<u64, String> {
    let amount = pdfx_runtime::quantity::Amount::parse(text).map_err(|e| e.to_string())?;
    amount
        .ceil_scaled(3)
        .filter(|m| !amount.is_negative() && *m > 0)
        .and_then(|m| u64::try_from(m).ok())
        .ok_or_else(|| format!("{text:?} is not a positive CPU quantity (e.g. 4, 2500m)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli.log.init()?;
    let shutdown = Shutdown::on_signals();
    match cli.cmd {
        Cmd::Serve {
            data_dir,
            listen,
            kubeconfig,
            no_crd,
            executor,
            images,
            slots,
            node_memory,
            node_cpu,
            runtime,
        } => {
            let server = ApiServer::new(Config {
                data_dir: Some(data_dir.clone()),
                ..Config::default()
            })
            .with_context(|| format!("opening the store in {}", data_dir.display()))?;
            if !no_crd {
                pdfx_devcluster::install_pdfx_crd(&server)
                    .await
                    .context("installing the PdfExtraction CRD")?;
            }
            let mut running = pdfx_devcluster::start(server.clone(), &listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            if let Some(path) = kubeconfig {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&path, pdfx_devcluster::kubeconfig(&running.url()))
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "kubeconfig written");
            }
            if executor {
                let mut cfg = ExecutorConfig {
                    slots,
                    node_memory,
                    node_cpu_millis: node_cpu,
                    work_dir: data_dir.join("pods"),
                    container_runtime: runtime.container_runtime(Vec::new()).await?,
                    ..ExecutorConfig::default()
                };
                for m in images {
                    let (image, path) = m
                        .split_once('=')
                        .with_context(|| format!("--image {m:?}: expected IMAGE=PATH"))?;
                    cfg.images.insert(image.to_string(), PathBuf::from(path));
                }
                let ex = Executor::new(server.clone(), cfg);
                running.attach(tokio::spawn(ex.run()));
            }
            // Ready: print the URL on stdout so wrappers (and tests) can pick it up.
            println!("{}", running.url());
            shutdown.wait().await;
            running.shutdown();
        }
    }
    Ok(())
}
