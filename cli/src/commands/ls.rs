//! `pdfx ls [--status S]`: every page of the list, newest first.

use std::process::ExitCode;

use crate::cli::{LsArgs, Output};
use crate::client::ClientError;
use crate::format::{state_word, summary_line};

pub async fn run(args: LsArgs) -> Result<ExitCode, ClientError> {
    let client = super::client(&args.server)?;
    let mut tasks = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page_limit = args
            .limit
            .map(|limit| (limit - tasks.len() as u32).min(500));
        let page = client
            .list(
                args.status.as_deref(),
                page_limit.or(Some(500)),
                next.as_deref(),
            )
            .await?;
        tasks.extend(page.tasks);
        next = page.next;
        let full = args.limit.is_some_and(|l| tasks.len() as u32 >= l);
        if next.is_none() || full {
            break;
        }
    }
    match args.server.output {
        Output::Json => {
            for task in &tasks {
                super::print_json(task);
            }
        }
        Output::Text => {
            if tasks.is_empty() {
                eprintln!("no tasks");
            }
            let width = tasks.iter().map(|t| t.task_id.len()).max().unwrap_or(0);
            for task in &tasks {
                println!(
                    "{:<width$}  {:<10}  {:<20}  {}",
                    task.task_id,
                    state_word(task.status),
                    task.created_at.as_deref().unwrap_or("-"),
                    summary_line(task)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
