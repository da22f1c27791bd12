//! `pdfx submit FILE… [--wait]`: uploads each file, prints its task id and,
//! with `--wait`, follows every task to its end with a progress bar each.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pdfx_crd::rest::{TaskState, TaskStatus};

use crate::cli::{Output, SubmitArgs};
use crate::client::{Client, ClientError, SubmitOptions};
use crate::format::summary_line;

/// How long one status request may wait for a change on the server.
const LONG_POLL: Duration = Duration::from_secs(30);

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

pub async fn run(args: SubmitArgs) -> Result<ExitCode, ClientError> {
    let client = super::client(&args.server)?;
    let bars = MultiProgress::new();
    let mut submitted: Vec<(PathBuf, Result<String, ClientError>)> = Vec::new();
    for (index, path) in args.files.iter().enumerate() {
        let options = SubmitOptions {
            languages: args.languages.clone(),
            pages: args.pages.clone(),
            dpi: args.dpi,
            mode: args.mode.clone(),
            engine: args.engine.clone(),
            idempotency_key: args.idempotency_key.as_ref().map(|key| {
                if args.files.len() > 1 {
                    format!("{key}-{}", index + 1)
                } else {
                    key.clone()
                }
            }),
        };
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let bar = bars.add(ProgressBar::new(size));
        bar.set_style(style("{prefix:30!} upload {bar:30} {bytes}/{total_bytes}"));
        bar.set_prefix(display_name(path));
        let progress = bar.clone();
        let outcome = client
            .submit(path, &options, move |sent| progress.set_position(sent))
            .await;
        bar.finish_and_clear();
        match &outcome {
            Ok(answer) => match args.server.output {
                Output::Json if !args.wait => super::print_json(&serde_json::json!({
                    "file": path, "task_id": answer.task_id, "status": answer.status
                })),
                Output::Json => {}
                Output::Text => {
                    // Through the bars (never torn by a redraw), and printed
                    // also when they are hidden: stdout is not a terminal.
                    bars.suspend(|| println!("{}  {}", answer.task_id, path.display()));
                }
            },
            Err(e) => {
                bars.suspend(|| eprintln!("error: {}: {e}", path.display()));
            }
        }
        submitted.push((path.clone(), outcome.map(|a| a.task_id)));
    }
    let mut failed = submitted.iter().any(|(_, r)| r.is_err());
    if !args.wait {
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }

    let followers = submitted.into_iter().filter_map(|(path, task)| {
        let task = task.ok()?;
        let bar = bars.add(ProgressBar::new(0));
        bar.set_style(style("{prefix:30!} {bar:30} {pos}/{len} pages  {msg}"));
        bar.set_prefix(display_name(&path));
        let client = client.clone();
        Some(async move { (path, follow(&client, &task, &bar).await) })
    });
    let outcomes = futures::future::join_all(followers).await;
    for (path, outcome) in outcomes {
        match outcome {
            Ok(status) => {
                failed |= status.status == TaskState::Failed;
                match args.server.output {
                    Output::Json => super::print_json(&serde_json::json!({
                        "file": path, "task": status
                    })),
                    Output::Text => println!("{}  {}", display_name(&path), summary_line(&status)),
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {}: {e}", path.display());
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Long-polls a task until it finishes, moving its bar as pages are done.
async fn follow(client: &Client, task: &str, bar: &ProgressBar) -> Result<TaskStatus, ClientError> {
    let mut unreachable_since: Option<std::time::Instant> = None;
    loop {
        match client.status(task, Some(LONG_POLL)).await {
            Ok(status) => {
                unreachable_since = None;
                if let (Some(total), Some(done)) = (status.pages_total, status.pages_done) {
                    bar.set_length(u64::from(total));
                    bar.set_position(u64::from(done));
                }
                bar.set_message(crate::format::state_word(status.status));
                if status.status.is_finished() {
                    bar.finish_and_clear();
                    return Ok(status);
                }
            }
            // A restarting server is not the task's end: keep asking for a while.
            Err(e @ ClientError::Unreachable { .. }) => {
                let since = *unreachable_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() > Duration::from_secs(120) {
                    bar.abandon();
                    return Err(e);
                }
                bar.set_message("server unreachable, retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                bar.abandon();
                return Err(e);
            }
        }
    }
}
