//! OCR engines: Tesseract in-process, or an external OCR server over HTTP.
//! Each OCR worker thread owns one engine for its whole life, because creating
//! one costs 0.2–2 s (Tesseract loads its models).

pub mod http;
pub mod prepare;
pub mod script;
pub mod tesseract;

use pdfx_crd::FailureReason;
use pdfx_crd::result::Word;

/// A rendered page handed to an engine: 8-bit gray, rows `stride` bytes apart.
#[derive(Clone, Copy, Debug)]
pub struct GrayImage<'a> {
    pub pixels: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    /// Resolution the page was rendered at.
    pub dpi: f32,
}

/// What an engine read from a page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OcrOutput {
    /// Lines separated by `\n`, no trailing whitespace.
    pub text: String,
    /// Mean word confidence, 0 to 1; `None` when no word was found.
    pub confidence: Option<f32>,
    pub words: Vec<Word>,
}

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(
        "no Tesseract data for language {language:?} in {tessdata} (install tesseract-ocr-{language})"
    )]
    LanguageUnavailable { language: String, tessdata: String },
    #[error("Tesseract could not start with languages {languages:?}")]
    Init { languages: String },
    #[error("OCR of the page failed: {0}")]
    Recognize(String),
    #[error("OCR server {endpoint}: {message}")]
    Server { endpoint: String, message: String },
    #[error("OCR server {endpoint} rejected the request: {message}")]
    Rejected { endpoint: String, message: String },
}

impl OcrError {
    pub fn reason(&self) -> FailureReason {
        match self {
            OcrError::LanguageUnavailable { .. } => FailureReason::InvalidSpec,
            OcrError::Init { .. }
            | OcrError::Recognize(_)
            | OcrError::Server { .. }
            | OcrError::Rejected { .. } => FailureReason::Transient,
        }
    }
}

/// An OCR engine owned by one worker thread.
pub trait OcrEngine: Send {
    fn recognize(&mut self, image: &GrayImage<'_>) -> Result<OcrOutput, OcrError>;
}

/// Trims trailing whitespace from every line and drops trailing empty lines,
/// so that engines that pad differently produce the same text.
pub fn tidy_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines[..end].join("\n")
}

/// Mean of word confidences, `None` for no words.
pub fn mean_confidence(words: &[Word]) -> Option<f32> {
    (!words.is_empty())
        .then(|| words.iter().map(|w| w.confidence).sum::<f32>() / words.len() as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_tidied() {
        assert_eq!(tidy_text("a  \nb\n\n\n"), "a\nb");
        assert_eq!(tidy_text("\n\n"), "");
        assert_eq!(tidy_text("x\n\ny"), "x\n\ny");
    }

    #[test]
    fn mean_of_word_confidences() {
        let w = |c| Word {
            text: "w".into(),
            bbox: [0, 0, 1, 1],
            confidence: c,
        };
        assert_eq!(mean_confidence(&[]), None);
        assert_eq!(mean_confidence(&[w(0.5), w(1.0)]), Some(0.75));
    }
}
