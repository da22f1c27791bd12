//! Measures the client's memory while `Store::put_stream` uploads a large body
//! of unknown length to S3.
//!
//! ```text
//! cargo run --release -p pdfx-storage --example upload_memory [-- --size-mib 300]
//! ```
//!
//! The S3 server (s3s-fs from pdfx-testkit) runs in a child process (this same
//! binary, re-executed with `--serve-s3 DIR`), so the peak RSS read from
//! `/proc/self/status` (`VmHWM`) is the client's alone: the generated body, the
//! part buffers, the SDK and its HTTP client. The child exits when its stdin
//! closes, i.e. when this process ends for whatever reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use pdfx_storage::Store;
use pdfx_testkit::{S3Server, generated_body};

const BUCKET: &str = "pdfx-bench";
const KEY: &str = "uploads/big.pdf";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve-s3") {
        serve(args.get(i + 1).expect("--serve-s3 DIR"));
        return;
    }
    let size_mib: u64 = args
        .iter()
        .position(|a| a == "--size-mib")
        .and_then(|i| args.get(i + 1))
        .map_or(300, |v| v.parse().expect("--size-mib takes a number"));
    client(size_mib);
}

/// Child: serve S3 over DIR until stdin closes.
fn serve(dir: &str) {
    let server = S3Server::start_in(dir).expect("start the S3 server");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(server.create_bucket(BUCKET))
        .expect("create the bucket");
    println!("ENDPOINT {}", server.endpoint());
    std::io::stdout().flush().unwrap();
    // Blocks until the parent closes our stdin (or dies).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// Parent: start the server child, upload, report.
fn client(size_mib: u64) {
    let data = tempfile::TempDir::new().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--serve-s3")
        .arg(data.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line
        .trim()
        .strip_prefix("ENDPOINT ")
        .unwrap_or_else(|| panic!("unexpected server output: {line:?}"))
        .to_owned();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = pdfx_storage::S3Config::compatible(
            &endpoint,
            pdfx_testkit::REGION,
            pdfx_testkit::ACCESS_KEY,
            pdfx_testkit::SECRET_KEY,
        );
        let store = Store::s3(&config, BUCKET).await.unwrap();
        // Warm up the client (connection, TLS-less HTTP stack, signing) so the
        // "before" figure includes what any client carries.
        store
            .put_bytes("warmup", bytes::Bytes::from_static(b"x"), None)
            .await
            .unwrap();

        let len = size_mib * 1024 * 1024;
        let (hwm_before, rss_before) = memory();
        println!("server:        {endpoint} (child process {})", child.id());
        println!(
            "body:          {size_mib} MiB generated on the fly, unknown length, odd-sized chunks"
        );
        println!("before upload: VmHWM {hwm_before} kB, VmRSS {rss_before} kB");

        let started = Instant::now();
        let written = store
            .put_stream(KEY, generated_body(len, 42), Some("application/pdf"))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        let (hwm_after, rss_after) = memory();
        assert_eq!(written, len);
        assert_eq!(store.head(KEY).await.unwrap().size, len);

        println!("after upload:  VmHWM {hwm_after} kB, VmRSS {rss_after} kB");
        println!(
            "peak RSS:      {:.1} MiB (grew {:.1} MiB during the upload)",
            hwm_after as f64 / 1024.0,
            (hwm_after - hwm_before) as f64 / 1024.0
        );
        println!(
            "throughput:    {:.1} MiB/s ({size_mib} MiB in {:.2} s)",
            len as f64 / 1024.0 / 1024.0 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        let verdict = if hwm_after < 64 * 1024 { "OK" } else { "OVER" };
        println!("target:        peak RSS < 64 MiB: {verdict}");
    });

    drop(child.stdin.take());
    let _ = child.wait();
}

/// (VmHWM, VmRSS) of this process in kB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
