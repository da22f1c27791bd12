//! `pdfx`: the pdfx command line.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod commands;
mod format;
mod up;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    if let Err(e) = cli.log.init() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
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
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up::run(args, pdfx_runtime::Shutdown::on_signals())
                .await
                .map(|()| ExitCode::SUCCESS),
            Command::Submit(args) => commands::submit::run(args)
                .await
                .map_err(anyhow::Error::from),
            Command::Status(args) => commands::status::run(args)
                .await
                .map_err(anyhow::Error::from),
            Command::Result(args) => commands::result::run(args)
                .await
                .map_err(anyhow::Error::from),
            Command::Ls(args) => commands::ls::run(args).await.map_err(anyhow::Error::from),
            Command::Cancel(args) => commands::cancel::run(args)
                .await
                .map_err(anyhow::Error::from),
        }
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` shows the context chain on one line: what failed and why.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
