//! The documents the runner writes: `pages/NNNNNN.json`, `progress.json`,
//! `result.json` (docs/architecture.md, "Storage layout"). The gateway serves them and the operator reads
//! `progress.json`, so their shapes are defined once, here.

use serde::{Deserialize, Serialize};

/// How a page's text was obtained.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PageMethod {
    /// The page's embedded text layer.
    TextLayer,
    /// OCR of the rendered page.
    Ocr,
    /// The page could not be read (see its `error`); the other pages were.
    Failed,
}

/// Why a page has no text (method `failed`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PageError {
    /// Machine-readable: `PageTimeout` (pdfium did not finish within the page
    /// deadline, with and without form data), `PageCrashed` (pdfium crashed on
    /// it), `PageUnreadable` (pdfium reported an error).
    pub reason: String,
    /// One line, human readable.
    pub message: String,
}

/// A recognised word with its box in rendered-page pixels (`x0, y0, x1, y1`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Word {
    pub text: String,
    pub bbox: [u32; 4],
    /// 0 to 1.
    pub confidence: f32,
}

/// One page of a result; also the checkpoint object `pages/NNNNNN.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PageResult {
    /// 1-based page number in the document.
    pub page: u32,
    pub method: PageMethod,
    /// The page's text, lines separated by `\n`.
    pub text: String,
    /// Mean word confidence, 0 to 1; OCR pages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Size of the rendered page image (OCR), or of the page at the requested DPI (text layer).
    pub width_px: u32,
    pub height_px: u32,
    /// Words with boxes; OCR pages only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<Word>,
    /// Why the page failed; `failed` pages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<PageError>,
}

/// Totals over a whole result.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub pages: u32,
    pub ocr_pages: u32,
    pub text_layer_pages: u32,
    /// Pages that could not be read (method `failed`); absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed_pages: u32,
    /// Characters (Unicode scalar values) of text, whitespace included.
    pub characters: u64,
    /// Mean of the OCR pages' confidences; absent when no page was OCR'd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_confidence: Option<f64>,
    pub languages: Vec<String>,
    pub engine: String,
    pub duration_ms: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Summary {
    /// Adds one page to the totals. `mean_confidence` is kept as a running mean
    /// so that a result of any length is summarised without holding its pages.
    pub fn add_page(&mut self, page: &PageResult) {
        self.pages += 1;
        self.characters += page.text.chars().count() as u64;
        match page.method {
            PageMethod::TextLayer => self.text_layer_pages += 1,
            PageMethod::Failed => self.failed_pages += 1,
            PageMethod::Ocr => {
                self.ocr_pages += 1;
                if let Some(confidence) = page.confidence {
                    let previous = self.mean_confidence.unwrap_or(0.0);
                    let n = f64::from(self.ocr_pages);
                    self.mean_confidence = Some(previous + (f64::from(confidence) - previous) / n);
                }
            }
        }
    }

    /// The summary as the resource's `status.result`.
    pub fn to_status(&self, location: String) -> crate::ResultSummary {
        crate::ResultSummary {
            location,
            pages: self.pages,
            ocr_pages: self.ocr_pages,
            text_layer_pages: self.text_layer_pages,
            characters: self.characters,
            mean_confidence: self.mean_confidence,
        }
    }
}

/// `result.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ResultDocument {
    pub pages: Vec<PageResult>,
    pub summary: Summary,
}

/// `progress.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProgressDocument {
    pub pages_total: u32,
    pub pages_done: u32,
    /// RFC 3339.
    pub updated_at: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn page(n: u32, method: PageMethod, text: &str, confidence: Option<f32>) -> PageResult {
        PageResult {
            page: n,
            method,
            text: text.into(),
            confidence,
            width_px: 10,
            height_px: 20,
            words: vec![],
            error: None,
        }
    }

    #[test]
    fn pages_serialize_with_the_documented_field_names() {
        let json = serde_json::to_value(page(1, PageMethod::TextLayer, "안녕", None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"page": 1, "method": "text-layer", "text": "안녕", "width_px": 10, "height_px": 20})
        );
        let ocr = serde_json::to_value(page(2, PageMethod::Ocr, "x", Some(0.5))).unwrap();
        assert_eq!(ocr["method"], "ocr");
        assert_eq!(ocr["confidence"], 0.5);
        let mut failed = page(3, PageMethod::Failed, "", None);
        failed.error = Some(PageError {
            reason: "PageTimeout".into(),
            message: "pdfium did not finish".into(),
        });
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["method"], "failed");
        assert_eq!(json["error"]["reason"], "PageTimeout");
        let back: PageResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, failed);
        let mut summary = Summary::default();
        assert!(
            serde_json::to_value(&summary)
                .unwrap()
                .get("failedPages")
                .is_none()
        );
        summary.add_page(&failed);
        assert_eq!((summary.pages, summary.failed_pages), (1, 1));
        assert_eq!(serde_json::to_value(&summary).unwrap()["failedPages"], 1);
    }

    #[test]
    fn the_summary_counts_characters_methods_and_mean_confidence() {
        let mut summary = Summary::default();
        summary.add_page(&page(1, PageMethod::TextLayer, "한국어 text", None));
        summary.add_page(&page(2, PageMethod::Ocr, "ab", Some(0.5)));
        summary.add_page(&page(3, PageMethod::Ocr, "c", Some(1.0)));
        assert_eq!(
            (summary.pages, summary.text_layer_pages, summary.ocr_pages),
            (3, 1, 2)
        );
        assert_eq!(summary.characters, 8 + 2 + 1);
        assert_eq!(summary.mean_confidence, Some(0.75));
        let json = serde_json::to_value(&summary).unwrap();
        assert!(
            json.get("ocrPages").is_some()
                && json.get("meanConfidence").is_some()
                && json.get("durationMs").is_some()
        );
    }
}
