//! The options of `POST /extract/pdf` (form fields or query parameters),
//! checked with the CRD's own rules before anything is stored.

use pdfx_crd::runner::{ENGINE_NAMES, MODE_NAMES, parse_wire, split_languages};
use pdfx_crd::{OcrEngine, OcrMode, OcrOptions, PageRange};

use crate::lang::Lang;

/// The option names a request may carry.
pub const FIELDS: [&str; 5] = ["languages", "dpi", "pages", "ocr_mode", "engine"];
/// The CRD's bounds (crds/src/types.rs, `OcrOptions`).
const DPI_MIN: u32 = 72;
const DPI_MAX: u32 = 600;
const MAX_LANGUAGES: usize = 8;
const MAX_PAGES_LEN: usize = 1024;

/// Options as they arrive, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct RawOptions {
    pub languages: Option<String>,
    pub dpi: Option<String>,
    pub pages: Option<String>,
    pub ocr_mode: Option<String>,
    pub engine: Option<String>,
}

/// An option that the CRD would refuse; `field` names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {en}")]
pub struct OptionError {
    pub field: &'static str,
    pub en: String,
    pub ko: String,
}

impl OptionError {
    pub fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::En => format!("invalid option `{}`: {}", self.field, self.en),
            Lang::Ko => format!("잘못된 옵션 `{}`: {}", self.field, self.ko),
        }
    }
}

impl RawOptions {
    /// Sets a field by its form or query name; false for an unknown name.
    pub fn set(&mut self, name: &str, value: String) -> bool {
        let slot = match name {
            "languages" => &mut self.languages,
            "dpi" => &mut self.dpi,
            "pages" => &mut self.pages,
            "ocr_mode" => &mut self.ocr_mode,
            "engine" => &mut self.engine,
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    /// Form fields win over query parameters.
    pub fn or(self, fallback: RawOptions) -> RawOptions {
        RawOptions {
            languages: self.languages.or(fallback.languages),
            dpi: self.dpi.or(fallback.dpi),
            pages: self.pages.or(fallback.pages),
            ocr_mode: self.ocr_mode.or(fallback.ocr_mode),
            engine: self.engine.or(fallback.engine),
        }
    }

    /// The resource's `spec.ocr`, or the first option the CRD would refuse.
    /// Empty values mean "the default", as an empty form field usually does.
    pub fn validate(&self) -> Result<OcrOptions, OptionError> {
        let mut ocr = OcrOptions::default();
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        if let Some(text) = given(&self.languages) {
            let languages = split_languages(text);
            if languages.is_empty() || languages.len() > MAX_LANGUAGES {
                return Err(OptionError {
                    field: "languages",
                    en: format!("give 1 to {MAX_LANGUAGES} language codes, e.g. kor+eng"),
                    ko: format!("언어 코드를 1~{MAX_LANGUAGES}개 지정하세요 (예: kor+eng)"),
                });
            }
            if let Some(bad) = languages.iter().find(|l| !is_language_code(l)) {
                return Err(OptionError {
                    field: "languages",
                    en: format!(
                        "{bad:?} is not a Tesseract language code (e.g. eng, kor, chi_sim)"
                    ),
                    ko: format!(
                        "{bad:?}은(는) Tesseract 언어 코드가 아닙니다 (예: eng, kor, chi_sim)"
                    ),
                });
            }
            ocr.languages = languages;
        }
        if let Some(text) = given(&self.dpi) {
            match text.parse::<u32>() {
                Ok(dpi) if (DPI_MIN..=DPI_MAX).contains(&dpi) => ocr.dpi = dpi,
                _ => {
                    return Err(OptionError {
                        field: "dpi",
                        en: format!("{text:?} is not a whole number from {DPI_MIN} to {DPI_MAX}"),
                        ko: format!("{text:?}은(는) {DPI_MIN}~{DPI_MAX} 사이의 정수가 아닙니다"),
                    });
                }
            }
        }
        if let Some(text) = given(&self.pages) {
            if text.len() > MAX_PAGES_LEN {
                return Err(OptionError {
                    field: "pages",
                    en: format!("longer than {MAX_PAGES_LEN} characters"),
                    ko: format!("{MAX_PAGES_LEN}자를 넘습니다"),
                });
            }
            if let Err(e) = PageRange::parse(text) {
                return Err(OptionError {
                    field: "pages",
                    en: e.to_string(),
                    ko: format!("페이지 범위를 읽을 수 없습니다 (예: 1-5,9 / 10- / -3): {e}"),
                });
            }
            ocr.pages = Some(text.to_owned());
        }
        if let Some(text) = given(&self.ocr_mode) {
            ocr.mode = parse_wire::<OcrMode>(text).map_err(|_| OptionError {
                field: "ocr_mode",
                en: format!("{text:?} is not one of {}", MODE_NAMES.join(", ")),
                ko: format!(
                    "{text:?}은(는) {} 중 하나가 아닙니다",
                    MODE_NAMES.join(", ")
                ),
            })?;
        }
        if let Some(text) = given(&self.engine) {
            ocr.engine = parse_wire::<OcrEngine>(text).map_err(|_| OptionError {
                field: "engine",
                en: format!("{text:?} is not one of {}", ENGINE_NAMES.join(", ")),
                ko: format!(
                    "{text:?}은(는) {} 중 하나가 아닙니다",
                    ENGINE_NAMES.join(", ")
                ),
            })?;
        }
        Ok(ocr)
    }
}

/// `pdfx_crd::LANGUAGE_PATTERN` (`^[a-z]{3}(_[a-z]+)*$`) without a regex engine.
fn is_language_code(code: &str) -> bool {
    let mut parts = code.split('_');
    let first = parts.next().unwrap_or("");
    first.len() == 3
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawOptions {
        let mut options = RawOptions::default();
        for (k, v) in pairs {
            assert!(options.set(k, (*v).to_owned()));
        }
        options
    }

    #[test]
    fn valid_options_become_the_spec() {
        let ocr = raw(&[
            ("languages", "kor+eng"),
            ("dpi", "200"),
            ("pages", "1-5,9"),
            ("ocr_mode", "always"),
            ("engine", "http"),
        ])
        .validate()
        .unwrap();
        assert_eq!(ocr.languages, vec!["kor", "eng"]);
        assert_eq!(ocr.dpi, 200);
        assert_eq!(ocr.pages.as_deref(), Some("1-5,9"));
        assert_eq!(ocr.mode, OcrMode::Always);
        assert_eq!(ocr.engine, OcrEngine::Http);
        assert_eq!(
            RawOptions::default().validate().unwrap(),
            OcrOptions::default()
        );
        assert_eq!(raw(&[("dpi", " ")]).validate().unwrap().dpi, 300);
    }

    #[test]
    fn each_refusal_names_its_field() {
        for (field, value) in [
            ("languages", "KOR"),
            ("languages", "a+b+c+d+e+f+g+h+i"),
            ("languages", "+"),
            ("dpi", "71"),
            ("dpi", "601"),
            ("dpi", "high"),
            ("pages", "0-3"),
            ("pages", "5-2"),
            ("pages", "x"),
            ("ocr_mode", "sometimes"),
            ("engine", "gpu"),
        ] {
            let err = raw(&[(field, value)]).validate().unwrap_err();
            assert_eq!(err.field, field, "{field}={value}");
            assert!(err.message(Lang::En).contains(field));
            assert!(err.message(Lang::Ko).starts_with("잘못된 옵션"));
        }
        assert!(!RawOptions::default().set("colour", "red".into()));
    }

    #[test]
    fn language_codes_follow_the_crd_pattern() {
        for ok in ["eng", "kor", "chi_sim", "kor_vert"] {
            assert!(is_language_code(ok), "{ok}");
        }
        for bad in ["en", "engl", "chi_", "Eng", "kor-vert", ""] {
            assert!(!is_language_code(bad), "{bad}");
        }
    }
}
