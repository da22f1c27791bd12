//! `pdfx-gateway`: the REST API (docs/architecture.md, "The REST API").

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use pdfx_gateway::{GatewayArgs, GatewayConfig};
use pdfx_runtime::args::{KubeArgs, LogArgs};
use pdfx_runtime::{Admin, Shutdown};
use pdfx_storage::{S3Config, StorageUri};

#[derive(Parser, Debug)]
#[command(
    name = "pdfx-gateway",
    version,
    about = "The pdfx REST API: uploads become PdfExtraction resources."
)]
struct Cli {
    /// Address of the API and the admin endpoints (/healthz, /readyz, /metrics).
    #[arg(long, env = "PDFX_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Where uploads go and results are read: the operator's --storage-url
    /// (`s3://bucket[/prefix]` or `file:///dir`).
    #[arg(long, env = "PDFX_STORAGE_URL")]
    storage_url: String,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    log: LogArgs,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let storage = StorageUri::parse(&cli.storage_url).context("--storage-url")?;
    let config = GatewayConfig::new(cli.gateway, storage).context("invalid setting")?;
    let s3 = S3Config::from_env().context("reading PDFX_S3_* settings")?;
    let client = cli.kube.client().await?;
    let shutdown = Shutdown::on_signals();
    let admin = Admin::with_process_metrics()?;
    pdfx_gateway::run(cli.listen, client, config, s3, &admin, shutdown).await?;
    Ok(())
}

/// glibc raises its mmap threshold each time a large block is freed, after
/// which the 8 MiB parts of streamed S3 uploads are recycled inside the heap
/// instead of being returned: a 1 GiB upload then peaked at 76 MiB of RSS
/// instead of 45 MiB (`cargo bench -p pdfx-gateway --bench polls`). A fixed
/// threshold keeps part buffers in their own mappings. glibc reads it only
/// from the environment at start, so the gateway re-executes itself once with
/// it set; an explicit value (or any `MALLOC_MMAP_THRESHOLD_`) is respected.
fn fix_malloc_threshold() {
    use std::os::unix::process::CommandExt as _;
    const VAR: &str = "MALLOC_MMAP_THRESHOLD_";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let error = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(VAR, "131072")
        .exec();
    // exec returns only on failure; run on with glibc's default.
    eprintln!("warning: re-executing with {VAR} set failed: {error}");
}

fn main() -> ExitCode {
    fix_malloc_threshold();
    let cli = Cli::parse();
    let log = cli.log.clone();
    pdfx_runtime::process::main("gateway", &log, || async {
        run(cli).await.map(|()| ExitCode::SUCCESS)
    })
}
