//! The page pipeline ends, with the right outcome, when its consumer goes away
//! or an OCR worker panics: nothing waits forever on a queue slot or a buffer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use pdfx_ocr_runner::RunnerError;
use pdfx_ocr_runner::ocr::{GrayImage, OcrEngine, OcrError, OcrOutput};
use pdfx_ocr_runner::pdf::PdfFile;
use pdfx_ocr_runner::pipeline::{self, DEFAULT_MAX_PIXELS, EngineFactory, PipelineOptions};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

struct Slow {
    panic: bool,
}

impl OcrEngine for Slow {
    fn recognize(&mut self, _image: &GrayImage<'_>) -> Result<OcrOutput, OcrError> {
        assert!(!self.panic, "engine failure");
        std::thread::sleep(Duration::from_millis(50));
        Ok(OcrOutput {
            text: "x".into(),
            confidence: Some(1.0),
            words: vec![],
        })
    }
}

fn run_pipeline(panic: bool, consume: usize) -> (Result<(), RunnerError>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.pdf");
    write_sample(
        &path,
        &SampleSpec::new(8, SampleKind::Scanned, SampleLanguage::English),
    )
    .unwrap();
    let factory: EngineFactory =
        Arc::new(move || Ok(Box::new(Slow { panic }) as Box<dyn OcrEngine>));
    let options = PipelineOptions {
        mode: pdfx_crd::OcrMode::Auto,
        dpi: 72,
        min_text_chars: 10,
        max_pixels: DEFAULT_MAX_PIXELS,
        workers: 2,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut pdf = PdfFile::open(&path, None, 16).unwrap();
        let pages: Vec<u32> = (1..=8).collect();
        let _ = done_tx.send(pipeline::run(&mut pdf, &pages, &options, factory, tx));
    });
    let mut received = 0;
    while received < consume {
        match rx.blocking_recv() {
            Some(_) => received += 1,
            None => break,
        }
    }
    drop(rx);
    let outcome = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the pipeline hung");
    (outcome, received)
}

#[test]
fn a_consumer_that_goes_away_stops_the_pipeline() {
    let (outcome, received) = run_pipeline(false, 1);
    assert_eq!(received, 1);
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn a_panicking_worker_ends_the_run_with_an_error() {
    let (outcome, _) = run_pipeline(true, usize::MAX);
    assert!(
        matches!(outcome, Err(RunnerError::Internal(ref m)) if m.contains("panicked")),
        "{outcome:?}"
    );
}
