//! Runner benchmark: prints numbers, asserts nothing (see the README).
//!
//! `cargo bench -p pdfx-ocr-runner --bench runner -- [--ocr-pages N] [--text-pages N] [--rss-pages A,B]`
//!
//! 1. OCR throughput of the runner on a generated image-only A4 document at
//!    300 DPI with 2 workers, and in the same run the ceiling: Tesseract alone on
//!    the same pages pre-rendered in memory, two single-threaded engines in
//!    parallel (engine start-up excluded from the ceiling, included for the runner).
//! 2. Text-layer throughput on a born-digital document, one worker.
//! 3. Peak RSS of the runner on image-only documents of different lengths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pdfx_ocr_runner::decide::render_size;
use pdfx_ocr_runner::ocr::tesseract::{Segmentation, Tesseract, tessdata_dir};
use pdfx_ocr_runner::ocr::{GrayImage, OcrEngine};
use pdfx_ocr_runner::pdf::{PdfFile, Renderer};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

const RUNNER: &str = env!("CARGO_BIN_EXE_pdfx-ocr-runner");

struct Options {
    ocr_pages: u32,
    text_pages: u32,
    rss_pages: Vec<u32>,
}

fn options() -> Options {
    let mut options = Options {
        ocr_pages: 40,
        text_pages: 1000,
        rss_pages: vec![10, 1000],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--ocr-pages" => options.ocr_pages = value.parse().unwrap(),
            "--text-pages" => options.text_pages = value.parse().unwrap(),
            "--rss-pages" => {
                options.rss_pages = value.split(',').map(|v| v.parse().unwrap()).collect()
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

/// Runs the runner binary, sampling its peak RSS (VmHWM) until it exits.
fn run_runner(pdf: &Path, out: &Path, workers: u32) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new(RUNNER)
        .args([
            "extract",
            pdf.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .args(["--workers", &workers.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "runner failed on {}", pdf.display());
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (started.elapsed(), peak_kib * 1024)
}

fn ceiling(pdf: &Path, pages: u32) -> Duration {
    let mut file = PdfFile::open(pdf, None, 16).unwrap();
    let mut renderer = Renderer::default();
    let mut images = Vec::new();
    for page in 1..=pages {
        let mut buffer = Vec::new();
        let layout = file
            .with_page(page, |p| {
                let size = render_size(p.width().value, p.height().value, 300, u64::MAX);
                renderer.render_gray(p, size, &mut buffer)
            })
            .unwrap()
            .unwrap();
        images.push((buffer, layout));
    }
    let languages = vec!["eng".to_string()];
    let engines: Vec<Tesseract> = (0..2)
        .map(|_| Tesseract::new(&tessdata_dir(), &languages, Segmentation::Auto).unwrap())
        .collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for mut engine in engines {
            let (next, images) = (&next, &images);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((buffer, layout)) = images.get(i) else {
                        break;
                    };
                    let image = GrayImage {
                        pixels: buffer,
                        width: layout.width,
                        height: layout.height,
                        stride: layout.stride,
                        dpi: 300.0,
                    };
                    engine.recognize(&image).unwrap();
                }
            });
        }
    });
    started.elapsed()
}

fn main() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
        let error = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("OMP_THREAD_LIMIT", "1")
            .exec();
        panic!("re-exec with OMP_THREAD_LIMIT=1 failed: {error}");
    }
    let options = options();
    let dir = tempfile::tempdir().unwrap();
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);

    println!(
        "# pdfx-ocr-runner benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let scan = dir.path().join("scan.pdf");
    write_sample(
        &scan,
        &SampleSpec::new(
            options.ocr_pages,
            SampleKind::Scanned,
            SampleLanguage::English,
        ),
    )
    .unwrap();
    let (runner_time, runner_rss) = run_runner(&scan, &dir.path().join("out-ocr"), 2);
    let ceiling_time = ceiling(&scan, options.ocr_pages);
    let runner_rate = f64::from(options.ocr_pages) / runner_time.as_secs_f64();
    let ceiling_rate = f64::from(options.ocr_pages) / ceiling_time.as_secs_f64();
    println!(
        "ocr: {} image-only A4 pages at 300 DPI, eng, 2 workers",
        options.ocr_pages
    );
    println!(
        "  runner:  {runner_rate:.3} pages/s ({:.1} s wall, peak RSS {:.0} MiB)",
        runner_time.as_secs_f64(),
        mib(runner_rss)
    );
    println!(
        "  ceiling: {ceiling_rate:.3} pages/s (Tesseract alone, 2 engines on pre-rendered pages, {:.1} s)",
        ceiling_time.as_secs_f64()
    );
    println!(
        "  runner / ceiling = {:.3} (target >= 0.9)",
        runner_rate / ceiling_rate
    );

    let text = dir.path().join("text.pdf");
    write_sample(
        &text,
        &SampleSpec::new(
            options.text_pages,
            SampleKind::Text,
            SampleLanguage::English,
        ),
    )
    .unwrap();
    let (text_time, text_rss) = run_runner(&text, &dir.path().join("out-text"), 1);
    println!(
        "text layer: {} born-digital pages: {:.0} pages/s end to end, checkpoints and result included ({:.2} s, peak RSS {:.0} MiB; target >= 250)",
        options.text_pages,
        f64::from(options.text_pages) / text_time.as_secs_f64(),
        text_time.as_secs_f64(),
        mib(text_rss)
    );

    let mut peaks = Vec::new();
    for &pages in &options.rss_pages {
        let pdf = dir.path().join(format!("scan-{pages}.pdf"));
        write_sample(
            &pdf,
            &SampleSpec::new(pages, SampleKind::Scanned, SampleLanguage::English),
        )
        .unwrap();
        let (time, rss) = run_runner(&pdf, &dir.path().join(format!("out-rss-{pages}")), 2);
        println!(
            "peak RSS: {pages} image-only pages, 2 workers, 300 DPI: {:.0} MiB ({:.0} s)",
            mib(rss),
            time.as_secs_f64()
        );
        peaks.push(rss);
        std::fs::remove_file(&pdf).ok();
    }
    if let (Some(first), Some(last)) = (peaks.first(), peaks.last())
        && peaks.len() > 1
    {
        println!(
            "  longest / shortest = {:.3} (target <= 1.15)",
            *last as f64 / *first as f64
        );
    }
}
