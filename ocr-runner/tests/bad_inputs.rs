//! Every bad input ends in its documented exit code and reason (docs/architecture.md, "The runner contract"),
//! on stderr and in the termination message, within seconds, without a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Run, extract, result, sample};
use pdfx_crd::FailureReason;
use pdfx_crd::runner::TerminationMessage;
use pdfx_ocr_runner::sample::{ImagePdfWriter, SampleKind, SampleLanguage, deflate, page_text};

/// Generous: only there to catch a hang, not to measure speed.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn assert_fails(run: &Run, code: i32, reason: FailureReason, message_part: &str) {
    assert_eq!(run.code(), Some(code), "stderr: {}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains(reason.as_str()),
        "stderr lacks {reason}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    match &run.termination {
        Some(TerminationMessage::Failed {
            reason: got,
            message,
        }) => {
            assert_eq!(*got, reason);
            assert!(
                message.contains(message_part),
                "{message:?} lacks {message_part:?}"
            );
            assert!(!message.contains('\n'));
        }
        other => panic!("termination message: {other:?}"),
    }
    assert!(run.elapsed < HANG_GUARD, "took {:?}", run.elapsed);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn files_that_are_not_pdfs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let empty = write(dir.path(), "empty.pdf", b"");
    assert_fails(
        &extract(&empty, &out, &[]),
        2,
        FailureReason::InvalidPdf,
        "empty",
    );
    let png = write(
        dir.path(),
        "image.pdf",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89",
    );
    assert_fails(
        &extract(&png, &out, &[]),
        2,
        FailureReason::InvalidPdf,
        "not a PDF",
    );
    let html = write(
        dir.path(),
        "error.pdf",
        b"<html><body>404 Not Found</body></html>",
    );
    assert_fails(
        &extract(&html, &out, &[]),
        2,
        FailureReason::InvalidPdf,
        "not a PDF",
    );
    let garbage: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..20_000u32).map(|i| (i * 7919 % 251) as u8))
        .collect();
    let garbage = write(dir.path(), "garbage.pdf", &garbage);
    assert_fails(
        &extract(&garbage, &out, &[]),
        2,
        FailureReason::InvalidPdf,
        "damaged",
    );
    assert!(!out.join("result.json").exists());
}

#[test]
fn truncated_and_damaged_pdfs() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        3,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let bytes = std::fs::read(&pdf).unwrap();
    let out = dir.path().join("out");

    let truncated = write(dir.path(), "truncated.pdf", &bytes[..bytes.len() * 6 / 10]);
    assert_fails(
        &extract(&truncated, &out, &[]),
        2,
        FailureReason::InvalidPdf,
        "damaged",
    );
    let header_only = write(dir.path(), "header.pdf", &bytes[..200]);
    assert_fails(
        &extract(&header_only, &out, &[]),
        2,
        FailureReason::InvalidPdf,
        "damaged",
    );

    // A wrong startxref offset: pdfium rebuilds the cross-reference table, as
    // other readers do, and the text is intact.
    let at = bytes.windows(9).rposition(|w| w == b"startxref").unwrap();
    let mut broken = bytes[..at].to_vec();
    broken.extend_from_slice(b"startxref\n999999\n%%EOF\n");
    let broken = write(dir.path(), "broken-xref.pdf", &broken);
    let repaired = dir.path().join("repaired");
    let run = extract(&broken, &repaired, &[]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(
        result(&repaired).pages[2].text,
        page_text(SampleLanguage::English, 3)
    );
}

#[test]
fn encrypted_pdfs_need_their_password() {
    if std::process::Command::new("qpdf")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("qpdf is required (scripts/install-deps.sh installs it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = sample(
        dir.path(),
        "plain.pdf",
        2,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let encrypted = dir.path().join("encrypted.pdf");
    let status = std::process::Command::new("qpdf")
        .args(["--encrypt", "s3cret", "owner", "256", "--"])
        .arg(&plain)
        .arg(&encrypted)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("out");

    assert_fails(
        &extract(&encrypted, &out, &[]),
        2,
        FailureReason::EncryptedPdf,
        "password",
    );

    let wrong = write(dir.path(), "wrong.txt", b"not-it\n");
    let run = extract(
        &encrypted,
        &out,
        &["--password-file", wrong.to_str().unwrap()],
    );
    assert_fails(&run, 2, FailureReason::EncryptedPdf, "password");

    let right = write(dir.path(), "right.txt", b"s3cret\n");
    let run = extract(
        &encrypted,
        &out,
        &["--password-file", right.to_str().unwrap()],
    );
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(
        result(&out).pages[1].text,
        page_text(SampleLanguage::English, 2)
    );
}

#[test]
fn documents_without_pages_and_ranges_outside_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let empty = dir.path().join("no-pages.pdf");
    ImagePdfWriter::create(&empty).unwrap().finish().unwrap();
    assert_fails(
        &extract(&empty, &out, &[]),
        2,
        FailureReason::NoPages,
        "no pages",
    );

    let pdf = sample(
        dir.path(),
        "three.pdf",
        3,
        SampleKind::Text,
        SampleLanguage::English,
    );
    assert_fails(
        &extract(&pdf, &out, &["--pages", "2-5"]),
        2,
        FailureReason::PageRangeOutOfBounds,
        "page 5",
    );
    assert_fails(
        &extract(&pdf, &out, &["--pages", "x"]),
        2,
        FailureReason::InvalidSpec,
        "cannot read",
    );
    assert_fails(
        &extract(&pdf, &out, &["--languages", "xyz"]),
        2,
        FailureReason::InvalidSpec,
        "xyz",
    );
    assert_fails(
        &extract(&pdf, &out, &["--dpi", "5000"]),
        2,
        FailureReason::InvalidSpec,
        "dpi",
    );
}

#[test]
fn missing_sources_fail_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    assert_fails(
        &extract(&dir.path().join("absent.pdf"), &out, &[]),
        3,
        FailureReason::SourceNotFound,
        "no such file",
    );
    let uri = format!("file://{}/absent.pdf", dir.path().display());
    assert_fails(
        &extract(Path::new(&uri), &out, &[]),
        3,
        FailureReason::SourceNotFound,
        "absent.pdf",
    );
}

/// A 200 × 200 inch page would be 3.6 gigapixels at 300 DPI: it is downscaled
/// to the pixel cap and read, not allocated.
#[test]
fn huge_pages_are_downscaled_not_allocated() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("poster.pdf");
    let mut writer = ImagePdfWriter::create(&pdf).unwrap();
    let (w, h) = (64u32, 64u32);
    writer
        .add_page(
            14_400.0,
            14_400.0,
            w,
            h,
            &deflate(&vec![0x80; (w * h) as usize]).unwrap(),
        )
        .unwrap();
    writer.finish().unwrap();
    let out = dir.path().join("out");
    let run = extract(&pdf, &out, &["--max-pixels", "4000000"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let page = &result(&out).pages[0];
    assert!(
        u64::from(page.width_px) * u64::from(page.height_px) <= 4_000_000,
        "{}x{}",
        page.width_px,
        page.height_px
    );
    assert!(run.elapsed < HANG_GUARD);
}

/// An output folder that is not one of the runner's (no checkpoint.json) is
/// never cleaned: files that look like page checkpoints there stop the run.
#[test]
fn a_foreign_output_folder_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        1,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let out = dir.path().join("site");
    std::fs::create_dir_all(out.join("pages")).unwrap();
    std::fs::write(out.join("pages/000001.json"), b"{\"mine\": true}").unwrap();
    std::fs::write(out.join("pages/index.html"), b"<html>").unwrap();
    assert_fails(
        &extract(&pdf, &out, &[]),
        2,
        FailureReason::InvalidSpec,
        "page files",
    );
    assert_eq!(
        std::fs::read(out.join("pages/000001.json")).unwrap(),
        b"{\"mine\": true}"
    );
    assert!(out.join("pages/index.html").exists());
}
