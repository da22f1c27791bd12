//! No PDF can hang the runner: pdfium runs in a child process whose every
//! answer has a deadline (see `ocr-runner/src/pdf_process/mod.rs`). A page
//! that does not finish is retried without form data, then recorded as a
//! failed page while the other pages are read; an open that does not finish
//! ends the run as invalid input. The endless loops come from the worker's
//! fault hook (`PDFX_PDF_WORKER_FAULT`), standing in for pdfium.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Run, result, runner, sample};
use pdfx_crd::FailureReason;
use pdfx_crd::result::PageMethod;
use pdfx_crd::runner::TerminationMessage;
use pdfx_ocr_runner::sample::{
    SampleKind, SampleLanguage, page_text, write_shared_unnamed_field_pdf,
};

/// Deadline of each page step in these tests: thousands of times what reading
/// a generated page takes, so only a hang exceeds it.
const PAGE_TIMEOUT: &str = "3";
/// Generous bound on a whole run with one hanging page: two deadlines, two
/// restarts of the worker, and the rest of the document.
const RUN_BOUND: Duration = Duration::from_secs(45);

fn extract_with(source: &Path, out: &Path, fault: Option<&str>, args: &[&str]) -> Run {
    let termination = out.with_extension("termination");
    let _ = std::fs::remove_file(&termination);
    let mut command: Command = runner();
    command
        .arg("extract")
        .arg(source)
        .arg("--out")
        .arg(out)
        .arg("--termination-log")
        .arg(&termination)
        .args(["--page-timeout-secs", PAGE_TIMEOUT])
        .args(args);
    if let Some(fault) = fault {
        command.env("PDFX_PDF_WORKER_FAULT", fault);
    }
    let started = Instant::now();
    let output = command.output().unwrap();
    let termination = std::fs::read_to_string(&termination)
        .ok()
        .and_then(|t| TerminationMessage::parse(&t));
    Run {
        output,
        termination,
        elapsed: started.elapsed(),
    }
}

#[test]
fn a_page_that_loops_forever_becomes_a_failed_page_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        4,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    let run = extract_with(&pdf, &out, Some("hang-page=2"), &[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert!(run.elapsed < RUN_BOUND, "took {:?}", run.elapsed);
    let doc = result(&out);
    assert_eq!(doc.pages.len(), 4);
    for page in &doc.pages {
        if page.page == 2 {
            assert_eq!(page.method, PageMethod::Failed);
            assert_eq!(page.text, "");
            let error = page.error.as_ref().unwrap();
            assert_eq!(error.reason, "PageTimeout");
            assert!(error.message.contains("without form data"), "{error:?}");
        } else {
            assert_eq!(page.method, PageMethod::TextLayer);
            assert_eq!(page.text, page_text(SampleLanguage::English, page.page));
            assert!(page.error.is_none());
        }
    }
    assert_eq!(doc.summary.failed_pages, 1);
    assert_eq!(doc.summary.text_layer_pages, 3);
    match run.termination {
        Some(TerminationMessage::Succeeded { summary, .. }) => assert_eq!(summary.failed_pages, 1),
        other => panic!("termination message: {other:?}"),
    }
}

#[test]
fn a_page_that_hangs_only_with_form_data_is_rendered_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        3,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    // OCR every page at a low resolution: the hang is in rendering.
    let run = extract_with(
        &pdf,
        &out,
        Some("hang-forms-page=2"),
        &["--mode", "always", "--dpi", "150", "--workers", "1"],
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert!(run.elapsed < RUN_BOUND, "took {:?}", run.elapsed);
    let doc = result(&out);
    assert!(
        doc.pages.iter().all(|p| p.method == PageMethod::Ocr),
        "{:?}",
        doc.pages
            .iter()
            .map(|p| (p.page, p.method))
            .collect::<Vec<_>>()
    );
    assert!(
        doc.pages[1].text.contains("sample report"),
        "{}",
        doc.pages[1].text
    );
    assert_eq!(doc.summary.failed_pages, 0);
}

#[test]
fn a_page_that_crashes_pdfium_becomes_a_failed_page() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        3,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    let run = extract_with(&pdf, &out, Some("crash-page=3"), &[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let doc = result(&out);
    assert_eq!(doc.pages[2].method, PageMethod::Failed);
    assert_eq!(doc.pages[2].error.as_ref().unwrap().reason, "PageCrashed");
    assert_eq!(doc.pages[0].text, page_text(SampleLanguage::English, 1));
    assert_eq!(doc.pages[1].text, page_text(SampleLanguage::English, 2));
}

#[test]
fn an_open_that_never_finishes_ends_the_run_as_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        2,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    let run = extract_with(&pdf, &out, Some("hang-open"), &["--open-timeout-secs", "3"]);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
    assert!(run.elapsed < RUN_BOUND, "took {:?}", run.elapsed);
    match &run.termination {
        Some(TerminationMessage::Failed { reason, message }) => {
            assert_eq!(*reason, FailureReason::InvalidPdf);
            assert!(message.contains("longer than 3 s"), "{message}");
        }
        other => panic!("termination message: {other:?}"),
    }
    assert!(!out.join("result.json").exists());
}

/// The real-world form that hung pdfium's form filler: one unnamed field
/// shared by two widgets. Its text layer is read, and rendering it (OCR)
/// finishes too, because its form data is not drawn.
#[test]
fn a_form_whose_unnamed_field_is_shared_by_two_widgets_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("form.pdf");
    write_shared_unnamed_field_pdf(&pdf, "Application for a library card").unwrap();
    for (mode, method) in [("auto", PageMethod::TextLayer), ("always", PageMethod::Ocr)] {
        let out = dir.path().join(format!("out-{mode}"));
        let run = extract_with(
            &pdf,
            &out,
            None,
            &["--mode", mode, "--open-timeout-secs", "10"],
        );
        assert_eq!(run.code(), Some(0), "{mode}: {}", run.stderr());
        assert!(run.elapsed < RUN_BOUND, "took {:?}", run.elapsed);
        let doc = result(&out);
        assert_eq!(doc.pages[0].method, method, "{mode}");
        assert!(
            doc.pages[0].text.contains("library card"),
            "{mode}: {:?}",
            doc.pages[0].text
        );
    }
}

/// The form's shape is recognised before any form data is drawn.
#[test]
fn pages_with_unresolved_or_unnamed_fields_are_drawn_without_form_data() {
    let dir = tempfile::tempdir().unwrap();
    let form = dir.path().join("form.pdf");
    write_shared_unnamed_field_pdf(&form, "Application for a library card").unwrap();
    let plain = sample(
        dir.path(),
        "plain.pdf",
        1,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let safe = |path: &Path| {
        let mut file = pdfx_ocr_runner::pdf::PdfFile::open(path, None, 16).unwrap();
        file.with_page(1, pdfx_ocr_runner::pdf::forms_are_safe)
            .unwrap()
    };
    assert!(!safe(&form));
    assert!(safe(&plain));
}
