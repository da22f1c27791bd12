//! `pdfx cancel ID`.

use std::process::ExitCode;

use crate::cli::{CancelArgs, Output};
use crate::client::ClientError;

pub async fn run(args: CancelArgs) -> Result<ExitCode, ClientError> {
    let client = super::client(&args.server)?;
    let status = client.cancel(&args.task_id).await?;
    match args.server.output {
        Output::Json => super::print_json(&status),
        Output::Text => println!("{}  cancelled", status.task_id),
    }
    Ok(ExitCode::SUCCESS)
}
