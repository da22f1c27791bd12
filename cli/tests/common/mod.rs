//! `pdfx up` as a user runs it: a process started in a temporary folder,
//! reached only over HTTP (raw requests and the `pdfx` client), `kubectl` and
//! the files it keeps in its data directory.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pdfx_crd::rest::TaskStatus;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Generous: tests wait for outcomes, never for a speed.
pub const WAIT: Duration = Duration::from_secs(300);

pub fn pdfx_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pdfx"))
}

/// The workspace's runner, built by the test command beside `pdfx`.
pub fn runner_binary() -> PathBuf {
    let runner = pdfx_binary().with_file_name("pdfx-ocr-runner");
    assert!(
        runner.is_file(),
        "{} is missing: build it first with `cargo build -p pdfx-ocr-runner` (scripts/test.sh does)",
        runner.display()
    );
    runner
}

/// A running `pdfx up`.
pub struct Up {
    pub child: Child,
    pub dir: PathBuf,
    pub url: String,
    pub kubeconfig: PathBuf,
    pub http: reqwest::Client,
    stderr: tokio::task::JoinHandle<String>,
}

impl Up {
    /// Starts `pdfx up --data-dir DIR --listen 127.0.0.1:0 ARGS…` and waits
    /// for its banner.
    pub async fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(dir, args, &[]).await
    }

    pub async fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(pdfx_binary());
        command
            .arg("up")
            .arg("--data-dir")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .env("PDFX_LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut kept = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                kept.push_str(&line);
                kept.push('\n');
            }
            kept
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(WAIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.trim().strip_prefix("REST API") {
                    return Some(url.trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let Some(url) = url else {
            let _ = child.start_kill();
            let log = stderr.await.unwrap_or_default();
            panic!("pdfx up printed no banner; its log:\n{log}");
        };
        Self {
            child,
            dir: dir.to_owned(),
            url,
            kubeconfig: dir.join("kubeconfig"),
            http: reqwest::Client::new(),
            stderr,
        }
    }

    /// SIGKILL, as a crash or the OOM killer would; returns once it is gone.
    pub async fn kill_9(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM, as `kill` or a service manager would; returns its exit status and log.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("pdfx up did not stop after SIGTERM")
            .unwrap();
        (status, self.stderr.await.unwrap_or_default())
    }

    /// POST /extract/pdf as a multipart form, as curl -F does.
    pub async fn submit(&self, pdf: &Path, fields: &[(&str, &str)]) -> (u16, Value) {
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        let bytes = std::fs::read(pdf).unwrap();
        let name = pdf.file_name().unwrap().to_string_lossy().into_owned();
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name)
                .mime_str("application/pdf")
                .unwrap(),
        );
        let response = self
            .http
            .post(format!("{}/extract/pdf", self.url))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn status(&self, task: &str) -> TaskStatus {
        self.http
            .get(format!("{}/extract/status/{task}", self.url))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Long-polls until the task is completed or failed.
    pub async fn wait_finished(&self, task: &str) -> TaskStatus {
        tokio::time::timeout(WAIT, async {
            loop {
                let response = self
                    .http
                    .get(format!("{}/extract/status/{task}?wait=20", self.url))
                    .send()
                    .await;
                if let Ok(response) = response
                    && response.status().is_success()
                {
                    let status: TaskStatus = response.json().await.unwrap();
                    if status.status.is_finished() {
                        return status;
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("task {task} did not finish within {WAIT:?}"))
    }

    pub async fn result_json(&self, task: &str) -> Value {
        self.http
            .get(format!("{}/extract/result/{task}?format=json", self.url))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `kubectl --kubeconfig DIR/kubeconfig ARGS…`: its stdout.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = std::process::Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The `pdfx` client against this server.
    pub fn pdfx(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(pdfx_binary())
            .args(args)
            .env("PDFX_SERVER", &self.url)
            .env_remove("PDFX_API_KEY")
            .output()
            .unwrap()
    }

    /// The storage folder of pdfx up's default local storage.
    pub fn storage(&self) -> PathBuf {
        self.dir.join("storage")
    }
}

/// Runner processes working for this data directory (their output lies in it).
pub fn runner_processes(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("pdfx-ocr-runner")
            && String::from_utf8_lossy(&environ).contains(&needle)
        {
            found.push(pid);
        }
    }
    found
}
