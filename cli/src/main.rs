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
    let cli = Cli::parse();
    let log = cli.log.clone();
    pdfx_runtime::process::main("pdfx", &log, || async {
        match cli.command {
            Command::Up(args) => up::run(*args, pdfx_runtime::Shutdown::on_signals())
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
    })
}
