//! `pdfx result ID [--format text|json] [-o FILE]`: streamed, never held whole.

use std::process::ExitCode;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use crate::cli::ResultArgs;
use crate::client::ClientError;

pub async fn run(args: ResultArgs) -> Result<ExitCode, ClientError> {
    let client = super::client(&args.server)?;
    let mut body = Box::pin(client.result(&args.task_id, args.format.as_str()).await?);
    let write_error = |path: &str, source| ClientError::File {
        path: path.to_owned(),
        source,
    };
    match &args.out {
        Some(path) => {
            // Written beside the target and renamed, so a broken download never
            // leaves a truncated file under the requested name.
            let shown = path.display().to_string();
            let partial = path.with_extension(format!(
                "{}.part",
                path.extension().and_then(|e| e.to_str()).unwrap_or("")
            ));
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(|e| write_error(&shown, e))?;
            let written: Result<(), ClientError> = async {
                while let Some(chunk) = body.next().await {
                    file.write_all(&chunk?)
                        .await
                        .map_err(|e| write_error(&shown, e))?;
                }
                file.flush().await.map_err(|e| write_error(&shown, e))
            }
            .await;
            if let Err(e) = written {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(e);
            }
            tokio::fs::rename(&partial, path)
                .await
                .map_err(|e| write_error(&shown, e))?;
            eprintln!("wrote {shown}");
        }
        None => {
            let mut stdout = tokio::io::stdout();
            while let Some(chunk) = body.next().await {
                stdout
                    .write_all(&chunk?)
                    .await
                    .map_err(|e| write_error("stdout", e))?;
            }
            stdout.flush().await.map_err(|e| write_error("stdout", e))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
