//! `pdfx status ID`.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Output, StatusArgs};
use crate::client::ClientError;
use crate::format::summary_line;

pub async fn run(args: StatusArgs) -> Result<ExitCode, ClientError> {
    let client = super::client(&args.server)?;
    let status = client
        .status(&args.task_id, args.wait.map(Duration::from_secs))
        .await?;
    match args.server.output {
        Output::Json => super::print_json(&status),
        Output::Text => println!("{}  {}", status.task_id, summary_line(&status)),
    }
    Ok(ExitCode::SUCCESS)
}
