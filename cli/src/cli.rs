//! The command line of `pdfx`, in one place; each subcommand's work is in
//! `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pdfx_runtime::args::LogArgs;

#[derive(Parser, Debug)]
#[command(
    name = "pdfx",
    version,
    about = "PDF text extraction on Kubernetes: run it on this machine (`pdfx up`) and use it (`pdfx submit …`).",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run all of pdfx on this machine: the Kubernetes API emulator, the local
    /// executor, the operator and the REST gateway, in one process.
    Up(Box<crate::up::UpArgs>),
    /// Upload PDFs for extraction and print their task ids.
    Submit(SubmitArgs),
    /// Show a task's status.
    Status(StatusArgs),
    /// Write a finished task's result (text or JSON).
    Result(ResultArgs),
    /// List your tasks, newest first.
    Ls(LsArgs),
    /// Cancel a task and delete what pdfx made for it.
    Cancel(CancelArgs),
}

/// Where the pdfx REST API is and how to authenticate.
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// URL of the pdfx gateway.
    #[arg(
        long,
        env = "PDFX_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// API key (sent as a bearer token); not needed when the server runs without auth.
    #[arg(long, env = "PDFX_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// `text` for people, `json` for scripts (one JSON document per line).
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// PDF files to extract.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Tesseract languages, e.g. `kor+eng`.
    #[arg(long)]
    pub languages: Option<String>,
    /// Pages, e.g. `1-5,9`.
    #[arg(long)]
    pub pages: Option<String>,
    /// Rendering resolution for OCR (72–600).
    #[arg(long)]
    pub dpi: Option<u32>,
    /// When to OCR: `auto` (text layer where a page has one), `always`, `never`.
    #[arg(long, value_parser = ["auto", "always", "never"])]
    pub mode: Option<String>,
    /// OCR engine: `tesseract` or `http` (the server's OCR endpoint).
    #[arg(long, value_parser = ["tesseract", "http"])]
    pub engine: Option<String>,
    /// Make the submission safe to repeat: the same key gives the same task.
    /// With several files, the key is suffixed with each file's position.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Wait for every task to finish, with a progress bar each, then print a
    /// summary per file; exits non-zero if any failed.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub task_id: String,
    /// Wait up to this many seconds for the status to change first.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ResultFormat {
    Text,
    Json,
}

impl ResultFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ResultFormat::Text => "text",
            ResultFormat::Json => "json",
        }
    }
}

#[derive(Args, Debug)]
pub struct ResultArgs {
    pub task_id: String,
    /// `text` (pages separated by form feeds) or `json` (pages, words, confidences).
    #[arg(long, value_enum, default_value_t = ResultFormat::Text)]
    pub format: ResultFormat,
    /// Write to this file instead of stdout.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only tasks in this state.
    #[arg(long, value_parser = ["pending", "processing", "completed", "failed"])]
    pub status: Option<String>,
    /// At most this many tasks (all when unset).
    #[arg(long)]
    pub limit: Option<u32>,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug)]
pub struct CancelArgs {
    pub task_id: String,
    #[command(flatten)]
    pub server: ServerArgs,
}
