//! `pdfx-operator`: reconciles PdfExtraction resources into Jobs.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use pdfx_operator::config::{OperatorArgs, OperatorConfig};
use pdfx_runtime::args::{AdminAddress, AdminArgs, KubeArgs, LogArgs};
use pdfx_runtime::{Admin, Shutdown};
use pdfx_storage::S3Config;

/// The operator keeps the admin flag it has always documented.
#[derive(Clone, Debug)]
struct OperatorAdmin;

impl AdminAddress for OperatorAdmin {
    const FLAG: &'static str = "listen";
    const ENV: &'static str = "PDFX_OPERATOR_LISTEN";
    const DEFAULT: &'static str = "0.0.0.0:8080";
}

#[derive(Parser, Debug)]
#[command(
    name = "pdfx-operator",
    version,
    about = "Runs PdfExtraction resources as Kubernetes Jobs."
)]
struct Cli {
    #[command(flatten)]
    operator: OperatorArgs,
    #[command(flatten)]
    admin: AdminArgs<OperatorAdmin>,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    log: LogArgs,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = OperatorConfig::try_from(cli.operator).context("invalid setting")?;
    let s3 = S3Config::from_env().context("reading PDFX_S3_* settings")?;
    let client = cli.kube.client().await?;
    let shutdown = Shutdown::on_signals();
    let admin = Admin::with_process_metrics()?;
    let server = tokio::spawn(pdfx_runtime::admin::serve(
        cli.admin.listen,
        admin.clone(),
        shutdown.clone(),
    ));
    let outcome = pdfx_operator::run(client, config, s3, &admin, shutdown.clone()).await;
    shutdown.trigger();
    // The admin server's own error (its address taken) matters only if the operator ran fine.
    let served = server.await.context("the admin server panicked")?;
    outcome?;
    served?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = cli.log.clone();
    pdfx_runtime::process::main("operator", &log, || async {
        run(cli).await.map(|()| ExitCode::SUCCESS)
    })
}
