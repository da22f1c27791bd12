//! Tesseract through `tesseract-plumbing` (the binding over Debian's libtesseract).
//!
//! The page goes in as the raw gray buffer (no image files), words come back from
//! Tesseract's TSV output with their boxes and confidences.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use pdfx_crd::result::Word;
use tesseract_plumbing::TessBaseApi;
use tesseract_plumbing::tesseract_sys::{
    TessPageSegMode, TessPageSegMode_PSM_AUTO, TessPageSegMode_PSM_SINGLE_BLOCK,
    TessPageSegMode_PSM_SINGLE_COLUMN,
};

use super::{GrayImage, OcrEngine, OcrError, OcrOutput, mean_confidence, tidy_text};

/// Where Debian's `tesseract-ocr-*` packages put their models.
pub const DEBIAN_TESSDATA: &str = "/usr/share/tesseract-ocr/5/tessdata";

/// Tesseract page segmentation modes pdfx offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Segmentation {
    /// PSM 3: fully automatic layout analysis.
    Auto,
    /// PSM 4: a single column of text of variable sizes.
    SingleColumn,
    /// PSM 6: a single uniform block of text.
    SingleBlock,
}

impl Segmentation {
    fn psm(self) -> TessPageSegMode {
        match self {
            Segmentation::Auto => TessPageSegMode_PSM_AUTO,
            Segmentation::SingleColumn => TessPageSegMode_PSM_SINGLE_COLUMN,
            Segmentation::SingleBlock => TessPageSegMode_PSM_SINGLE_BLOCK,
        }
    }

    /// The default for a language set, chosen by measurement (see the README):
    /// Korean needs column-wise segmentation (full layout analysis splits
    /// Hangul lines into fragments); other scripts do best with full analysis.
    pub fn default_for(languages: &[String]) -> Self {
        if languages.iter().any(|l| is_cjk(l)) {
            Segmentation::SingleColumn
        } else {
            Segmentation::Auto
        }
    }
}

fn is_cjk(language: &str) -> bool {
    let base = language.split('_').next().unwrap_or(language);
    matches!(base, "kor" | "jpn" | "chi")
}

/// The tessdata folder: `$TESSDATA_PREFIX` when set, else Debian's.
pub fn tessdata_dir() -> PathBuf {
    std::env::var_os("TESSDATA_PREFIX")
        .map_or_else(|| PathBuf::from(DEBIAN_TESSDATA), PathBuf::from)
}

/// Fails with a precise error when a language has no model, before any engine
/// starts (Tesseract itself only prints to stderr and fails to initialise).
pub fn check_languages(tessdata: &Path, languages: &[String]) -> Result<(), OcrError> {
    for language in languages {
        if !tessdata.join(format!("{language}.traineddata")).is_file() {
            return Err(OcrError::LanguageUnavailable {
                language: language.clone(),
                tessdata: tessdata.display().to_string(),
            });
        }
    }
    Ok(())
}

pub struct Tesseract {
    api: TessBaseApi,
    segmentation: Segmentation,
}

impl Tesseract {
    pub fn new(
        tessdata: &Path,
        languages: &[String],
        segmentation: Segmentation,
    ) -> Result<Self, OcrError> {
        check_languages(tessdata, languages)?;
        let joined = languages.join("+");
        let init = || OcrError::Init {
            languages: joined.clone(),
        };
        let datapath = CString::new(tessdata.as_os_str().as_encoded_bytes()).map_err(|_| init())?;
        let language = CString::new(joined.as_str()).map_err(|_| init())?;
        let mut api = TessBaseApi::create();
        api.init_2(Some(&datapath), Some(&language))
            .map_err(|_| init())?;
        // Keeps the spaces Tesseract sees between words; Korean and tables rely on them.
        let name = CString::new("preserve_interword_spaces").map_err(|_| init())?;
        let value = CString::new("1").map_err(|_| init())?;
        api.set_variable(&name, &value).map_err(|_| init())?;
        Ok(Self { api, segmentation })
    }
}

impl OcrEngine for Tesseract {
    fn recognize(&mut self, image: &GrayImage<'_>) -> Result<OcrOutput, OcrError> {
        let dims = |v: u32| {
            i32::try_from(v)
                .map_err(|_| OcrError::Recognize(format!("image dimension {v} too large")))
        };
        let (width, height, stride) =
            (dims(image.width)?, dims(image.height)?, dims(image.stride)?);
        if (stride as usize)
            .checked_mul(height as usize)
            .is_none_or(|n| n > image.pixels.len())
        {
            return Err(OcrError::Recognize(
                "image buffer smaller than its dimensions".into(),
            ));
        }
        self.api.set_page_seg_mode(self.segmentation.psm());
        self.api
            .set_image(image.pixels, width, height, 1, stride)
            .map_err(|e| OcrError::Recognize(format!("{e:?}")))?;
        self.api
            .set_source_resolution(image.dpi.round().max(1.0) as i32);
        self.api
            .recognize()
            .map_err(|_| OcrError::Recognize("Tesseract could not recognise the page".into()))?;
        let text = self
            .api
            .get_utf8_text()
            .map_err(|_| OcrError::Recognize("no text from Tesseract".into()))?
            .as_ref()
            .to_string_lossy()
            .into_owned();
        let tsv = self
            .api
            .get_tsv_text(0)
            .map_err(|_| OcrError::Recognize("no TSV from Tesseract".into()))?
            .as_ref()
            .to_string_lossy()
            .into_owned();
        let words = parse_tsv_words(&tsv);
        Ok(OcrOutput {
            text: tidy_text(&text),
            confidence: mean_confidence(&words),
            words,
        })
    }
}

/// Words (level 5 rows) of Tesseract's TSV output:
/// `level page block par line word left top width height conf text`.
pub fn parse_tsv_words(tsv: &str) -> Vec<Word> {
    tsv.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.splitn(12, '\t').collect();
            if cols.len() < 12 || cols[0] != "5" {
                return None;
            }
            let num = |i: usize| cols[i].trim().parse::<i64>().ok();
            let (left, top, width, height) = (num(6)?, num(7)?, num(8)?, num(9)?);
            let confidence: f32 = cols[10].trim().parse().ok()?;
            let text = cols[11].trim();
            if text.is_empty() || confidence < 0.0 {
                return None;
            }
            let clamp = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
            Some(Word {
                text: text.to_owned(),
                bbox: [
                    clamp(left),
                    clamp(top),
                    clamp(left + width),
                    clamp(top + height),
                ],
                confidence: (confidence / 100.0).clamp(0.0, 1.0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_words_are_parsed_with_boxes_and_confidences() {
        let tsv = "1\t1\t0\t0\t0\t0\t0\t0\t2480\t3508\t-1\t\n\
                   4\t1\t1\t1\t1\t0\t10\t20\t300\t40\t-1\t\n\
                   5\t1\t1\t1\t1\t1\t10\t20\t100\t40\t96.5\tHello\n\
                   5\t1\t1\t1\t1\t2\t120\t20\t190\t40\t88\t세계\n\
                   5\t1\t1\t1\t1\t3\t0\t0\t1\t1\t95\t \n";
        let words = parse_tsv_words(tsv);
        assert_eq!(words.len(), 2);
        assert_eq!(words[0].text, "Hello");
        assert_eq!(words[0].bbox, [10, 20, 110, 60]);
        assert!((words[0].confidence - 0.965).abs() < 1e-6);
        assert_eq!(words[1].text, "세계");
    }

    #[test]
    fn korean_gets_column_segmentation() {
        let langs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Segmentation::default_for(&langs(&["kor", "eng"])),
            Segmentation::SingleColumn
        );
        assert_eq!(
            Segmentation::default_for(&langs(&["eng"])),
            Segmentation::Auto
        );
    }

    #[test]
    fn missing_language_data_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let err = check_languages(dir.path(), &["kor".to_string()]);
        assert!(
            matches!(err, Err(OcrError::LanguageUnavailable { ref language, .. }) if language == "kor")
        );
    }
}
