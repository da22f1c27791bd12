//! Writes generated scans to look at or to try other OCR tools on:
//! `cargo run --release -p pdfx-ocr-runner --example scan_pages -- DIR [kor|eng] [tuning|held-out] [PAGES]`
//! writes `DIR/scans.pdf`, the raw JPEG of every page and its ground truth.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pdfx_ocr_runner::scans::{self, Language};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::path::PathBuf::from(
        args.first()
            .expect("usage: scan_pages DIR [kor|eng] [tuning|held-out] [PAGES]"),
    );
    let language = match args.get(1).map(String::as_str) {
        Some("eng") => Language::English,
        _ => Language::Korean,
    };
    let held_out = args.get(2).map(String::as_str) == Some("held-out");
    let pages: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(4);
    let specs = if held_out {
        scans::held_out_set(language, pages)
    } else {
        scans::tuning_set(language, pages)
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (i, spec) in specs.iter().enumerate() {
        let page = scans::generate(spec).unwrap();
        std::fs::write(dir.join(format!("page-{:03}.jpg", i + 1)), &page.jpeg).unwrap();
        std::fs::write(dir.join(format!("page-{:03}.txt", i + 1)), &page.truth).unwrap();
        println!("page {}: {} {:?}", i + 1, spec.label(), spec.degradation);
    }
    scans::write_pdf(&dir.join("scans.pdf"), &specs).unwrap();
}
