//! `pdfx cancel ID`.

use std::process::ExitCode;

use crate::cli::{CancelArgs, Output};
use crate::client::ClientError;

pub async fn run(args: CancelArgs) -> Result<ExitCode, ClientError> {
    let client = super::client(&args.server)?;
    client.cancel(&args.task_id).await?;
    match args.server.output {
        Output::Json => super::print_json(&serde_json::json!({
            "task_id": args.task_id,
            "cancelled": true,
        })),
        Output::Text => println!("{}  cancelled", args.task_id),
    }
    Ok(ExitCode::SUCCESS)
}
