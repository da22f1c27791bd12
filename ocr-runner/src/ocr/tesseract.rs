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
    TessPageSegMode_PSM_SINGLE_COLUMN, TessPageSegMode_PSM_SINGLE_LINE,
};

use super::{
    GrayImage, OcrEngine, OcrError, OcrOutput, mean_confidence, prepare, script, tidy_text,
};

/// Where Debian's `tesseract-ocr-*` packages put their models.
pub const DEBIAN_TESSDATA: &str = "/usr/share/tesseract-ocr/5/tessdata";

/// Page segmentation: pdfx's own layout handling, or one of Tesseract's modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Segmentation {
    /// From the page's layout: a two-column page is split into its columns,
    /// each region is read as one column of text (PSM 4), and lines standing
    /// side by side (margin headings, option names, table cells) are put back
    /// in reading order.
    Layout,
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
            Segmentation::Layout | Segmentation::SingleColumn => TessPageSegMode_PSM_SINGLE_COLUMN,
            Segmentation::SingleBlock => TessPageSegMode_PSM_SINGLE_BLOCK,
        }
    }

    /// The default, chosen by measurement on realistic scans (see the
    /// README): [`Segmentation::Layout`] for every language. Tesseract's full
    /// layout analysis (PSM 3) reads tables column by column and splits
    /// Hangul lines; a single column (PSM 4) reads two-column pages across.
    pub fn default_for(_languages: &[String]) -> Self {
        Segmentation::Layout
    }
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

/// How pages are prepared and read. The defaults are what measured best on
/// the realistic scans of `ocr-runner/benches/scans.rs` (the README lists
/// what each step gave); every step can be turned off to measure it again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuning {
    /// Ink height of a text line, in pixels, that pages are scaled down to
    /// (never up); `None` reads pages as rendered.
    pub target_line_px: Option<f32>,
    /// Measure and undo the page's skew (up to 1.5°).
    pub deskew: bool,
    /// Read words in the wrong script again with a single-language model.
    pub reread: bool,
    /// With Korean and English asked for, read pages with the Korean model
    /// alone (it knows Latin letters too) and re-read doubtful Latin words
    /// with the English one, instead of letting Tesseract try both models
    /// on every word.
    pub korean_first: bool,
    /// Spell option dashes as hyphens and drop dust read as punctuation.
    pub clean: bool,
}

/// Lines of 10–12 pt text rendered at 300 DPI carry ~44 px of ink; fewer
/// read as well or better and cost less (see the README): 26 px (about 180
/// DPI) for Hangul, whose syllables pack more strokes into a line's height…
pub const TARGET_LINE_PX: f32 = 26.0;

/// …and 20 px (about 135 DPI) for Latin script: English read as well or
/// better at 20–22 px than at 26 (tuning set 0.38 and 0.39 % against 0.45 %)
/// and cost less.
pub const LATIN_TARGET_LINE_PX: f32 = 20.0;

/// Tesseract models of languages written in the Latin alphabet with few
/// stacked diacritics; pages read with these alone get [`LATIN_TARGET_LINE_PX`].
const LATIN_MODELS: &[&str] = &[
    "eng", "deu", "fra", "spa", "ita", "por", "nld", "dan", "nor", "swe", "fin", "isl", "pol",
    "ces", "slk", "slv", "hrv", "bos", "hun", "ron", "cat", "glg", "eus", "gle", "cym", "lat",
    "lit", "lav", "est", "sqi", "mlt", "ind", "msa", "tur", "afr", "swa",
];

impl Default for Tuning {
    fn default() -> Self {
        Self {
            target_line_px: Some(TARGET_LINE_PX),
            deskew: true,
            reread: true,
            korean_first: true,
            clean: true,
        }
    }
}

impl Tuning {
    /// The defaults for reading `languages`: the line height suits the
    /// scripts asked for (any model outside [`LATIN_MODELS`] keeps the larger
    /// target, which was chosen for Hangul).
    pub fn for_languages(languages: &[String]) -> Self {
        let latin =
            !languages.is_empty() && languages.iter().all(|l| LATIN_MODELS.contains(&l.as_str()));
        Self {
            target_line_px: Some(if latin {
                LATIN_TARGET_LINE_PX
            } else {
                TARGET_LINE_PX
            }),
            ..Self::default()
        }
    }

    /// Tesseract as it is: no step of pdfx's own.
    pub fn plain() -> Self {
        Self {
            target_line_px: None,
            deskew: false,
            reread: false,
            korean_first: false,
            clean: false,
        }
    }
}

/// A single-language engine for re-reading words, created on first need.
struct Rereader {
    language: &'static str,
    api: Option<TessBaseApi>,
    /// The page number whose image the engine holds.
    page: u64,
}

pub struct Tesseract {
    api: TessBaseApi,
    segmentation: Segmentation,
    tuning: Tuning,
    tessdata: PathBuf,
    korean: Option<Rereader>,
    latin: Option<Rereader>,
    /// The page pass uses the Korean model alone (see [`Tuning::korean_first`]).
    korean_first: bool,
    /// Pages recognised so far (tells re-readers when the image changed).
    pages: u64,
    /// The page as Tesseract reads it (scaled, deskewed), packed rows.
    work: Vec<u8>,
    spare: Vec<u8>,
    /// The intermediate row of [`prepare::downscale`].
    scratch: Vec<u32>,
    /// The region of the page being read, packed rows.
    region: Vec<u8>,
}

fn new_api(tessdata: &Path, joined: &str) -> Result<TessBaseApi, OcrError> {
    let init = || OcrError::Init {
        languages: joined.to_owned(),
    };
    let datapath = CString::new(tessdata.as_os_str().as_encoded_bytes()).map_err(|_| init())?;
    let language = CString::new(joined).map_err(|_| init())?;
    let mut api = TessBaseApi::create();
    api.init_2(Some(&datapath), Some(&language))
        .map_err(|_| init())?;
    let variables = [
        // Keeps the spaces Tesseract sees between words; Korean and tables rely on them.
        ("preserve_interword_spaces", "1"),
        // Tesseract reads each doubtful line again as white on black and keeps
        // the surer reading; scans have no inverted text, and on noisy ones
        // the inverted reading won where it was wrong (see the README).
        ("tessedit_do_invert", "0"),
        // Tesseract tests every text row for a fixed pitch (typewriter or
        // monospace text) to place spaces by character cells; the LSTM finds
        // the spaces itself, and the test cost ~2 % of the CPU on English
        // pages while changing no character, monospace pages included (see
        // the README).
        ("textord_all_prop", "1"),
    ];
    for (name, value) in variables {
        let name = CString::new(name).map_err(|_| init())?;
        let value = CString::new(value).map_err(|_| init())?;
        api.set_variable(&name, &value).map_err(|_| init())?;
    }
    Ok(api)
}

impl Tesseract {
    pub fn new(
        tessdata: &Path,
        languages: &[String],
        segmentation: Segmentation,
    ) -> Result<Self, OcrError> {
        Self::with_tuning(
            tessdata,
            languages,
            segmentation,
            Tuning::for_languages(languages),
        )
    }

    pub fn with_tuning(
        tessdata: &Path,
        languages: &[String],
        segmentation: Segmentation,
        tuning: Tuning,
    ) -> Result<Self, OcrError> {
        check_languages(tessdata, languages)?;
        let has = |l: &str| languages.iter().any(|x| x == l);
        // Re-reading only makes sense when both scripts were asked for.
        let both = has("kor") && has("eng") && tuning.reread;
        let korean_first = both && tuning.korean_first && languages.len() == 2;
        let primary = if korean_first {
            "kor".to_owned()
        } else {
            languages.join("+")
        };
        let api = new_api(tessdata, &primary)?;
        let rereader = |language| Rereader {
            language,
            api: None,
            page: 0,
        };
        Ok(Self {
            api,
            segmentation,
            tuning,
            tessdata: tessdata.to_owned(),
            korean: (both && !korean_first).then(|| rereader("kor")),
            latin: both.then(|| rereader("eng")),
            korean_first,
            pages: 0,
            work: Vec::new(),
            spare: Vec::new(),
            scratch: Vec::new(),
            region: Vec::new(),
        })
    }
}

/// One word of a recognised line.
#[derive(Clone, Debug)]
struct LineWord {
    text: String,
    bbox: [u32; 4],
    confidence: f32,
}

/// A word with its box in the rendered page's pixels.
fn scaled_word(word: LineWord, scale: f32, image: &GrayImage<'_>) -> Word {
    let mut bbox = word.bbox;
    if scale < 1.0 {
        for (i, v) in bbox.iter_mut().enumerate() {
            let limit = if i % 2 == 0 {
                image.width
            } else {
                image.height
            };
            *v = ((*v as f32 / scale).round() as u32).min(limit);
        }
    }
    Word {
        text: word.text,
        bbox,
        confidence: word.confidence,
    }
}

/// A line of Tesseract's text with the words that were read again (or
/// dropped as specks, when `clean`) replaced in place: each word is found
/// from where the previous one ended, so repeated words stay in order.
fn apply_changes(line: &str, before: &[LineWord], after: &[LineWord], clean: bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    for old in before {
        let Some(at) = rest.find(old.text.as_str()) else {
            continue;
        };
        out.push_str(&rest[..at]);
        // The word at the same place after re-reading (specks are gone from `after` only later).
        let new = after
            .iter()
            .find(|w| w.bbox == old.bbox)
            .map_or(old.text.as_str(), |w| w.text.as_str());
        if !(clean && script::is_speck(&old.text, old.confidence)) {
            out.push_str(new);
        }
        rest = &rest[at + old.text.len()..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The box around `words`.
fn words_box(words: &[LineWord]) -> [u32; 4] {
    words.iter().fold([u32::MAX, u32::MAX, 0, 0], |b, w| {
        [
            b[0].min(w.bbox[0]),
            b[1].min(w.bbox[1]),
            b[2].max(w.bbox[2]),
            b[3].max(w.bbox[3]),
        ]
    })
}

/// Puts a region's lines in reading order: top to bottom, and lines that
/// stand side by side on the same row (a heading in the margin beside an
/// indented paragraph, an option name beside its description, the cells of a
/// table row), which Tesseract reports as separate blocks, joined left to
/// right. Within one region the text is a single column, so this is the order
/// a reader follows.
fn reading_order<T>(lines: Vec<(T, Vec<LineWord>)>) -> Vec<Vec<(T, Vec<LineWord>)>> {
    type Boxed<T> = ([u32; 4], (T, Vec<LineWord>));
    let mut boxed: Vec<Boxed<T>> = lines
        .into_iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|entry| (words_box(&entry.1), entry))
        .collect();
    // Stable: lines Tesseract put in order stay so when their centres tie.
    boxed.sort_by_key(|(b, _)| b[1] + b[3]);
    let mut rows: Vec<([u32; 4], Vec<Boxed<T>>)> = Vec::new();
    for (b, entry) in boxed {
        if let Some((rb, row)) = rows.last_mut() {
            let overlap = rb[3].min(b[3]).saturating_sub(rb[1].max(b[1]));
            let smaller = (rb[3] - rb[1]).min(b[3] - b[1]).max(1);
            let apart = row.iter().all(|(ob, _)| ob[2] <= b[0] || b[2] <= ob[0]);
            if apart && overlap * 2 >= smaller {
                *rb = [
                    rb[0].min(b[0]),
                    rb[1].min(b[1]),
                    rb[2].max(b[2]),
                    rb[3].max(b[3]),
                ];
                row.push((b, entry));
                continue;
            }
        }
        rows.push((b, vec![(b, entry)]));
    }
    rows.into_iter()
        .map(|(_, mut row)| {
            row.sort_by_key(|(b, _)| b[0]);
            row.into_iter().map(|(_, e)| e).collect()
        })
        .collect()
}

/// Words grouped by line from Tesseract's TSV, in reading order.
fn tsv_lines(tsv: &str) -> Vec<Vec<LineWord>> {
    let mut lines: Vec<Vec<LineWord>> = Vec::new();
    let mut key = None;
    for row in tsv.lines() {
        let cols: Vec<&str> = row.splitn(12, '\t').collect();
        if cols.len() < 12 || cols[0] != "5" {
            continue;
        }
        let Some(word) = parse_tsv_word(&cols) else {
            continue;
        };
        let this = (cols[2], cols[3], cols[4]);
        if key != Some(this) || lines.is_empty() {
            lines.push(Vec::new());
            key = Some(this);
        }
        if let Some(line) = lines.last_mut() {
            line.push(LineWord {
                text: word.text,
                bbox: word.bbox,
                confidence: word.confidence,
            });
        }
    }
    lines
}

impl Tesseract {
    /// Recognises `rect` of the image set on `api` as one line; its words.
    fn read_box_words(api: &mut TessBaseApi, rect: [u32; 4]) -> Option<Vec<Word>> {
        let [x0, y0, x1, y1] = rect.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
        api.set_rectangle(x0, y0, (x1 - x0).max(1), (y1 - y0).max(1));
        api.set_page_seg_mode(TessPageSegMode_PSM_SINGLE_LINE);
        api.recognize().ok()?;
        let tsv = api
            .get_tsv_text(0)
            .ok()?
            .as_ref()
            .to_string_lossy()
            .into_owned();
        let words = parse_tsv_words(&tsv);
        (!words.is_empty()).then_some(words)
    }

    /// Recognises `rect` of the image set on `api` as one line; (text, confidence).
    fn read_box(api: &mut TessBaseApi, rect: [u32; 4]) -> Option<(String, f32)> {
        let words = Self::read_box_words(api, rect)?;
        let text = words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        Some((text, mean_confidence(&words).unwrap_or(0.0)))
    }

    /// Reads doubtful words again, in up to three passes over each line: a word's
    /// context is its neighbours, and the first pass may turn them from the
    /// Korean model's digits (`166 046` for `fee due`) into English words.
    fn reread_words(&mut self, lines: &mut [Vec<LineWord>], width: i32, height: i32, dpi: i32) {
        for line in lines.iter_mut() {
            let original: Vec<String> = line.iter().map(|w| w.text.clone()).collect();
            let mut tried = vec![false; line.len()];
            for _pass in 0..3 {
                let contexts = script::WordContext::of_line(
                    &line.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(),
                );
                let mut changed = false;
                for ((word, context), tried) in line.iter_mut().zip(contexts).zip(&mut tried) {
                    if *tried {
                        continue;
                    }
                    let Some(kind) =
                        script::reread(&word.text, word.confidence, context, self.korean_first)
                    else {
                        continue;
                    };
                    *tried = true;
                    changed |= self.reread_word(word, kind, width, height, dpi);
                }
                if !changed {
                    break;
                }
            }
            drop_absorbed_tails(line, &original);
        }
    }

    /// The re-reader for `kind`, made on first use, with this page's image set.
    fn rereader(
        &mut self,
        kind: script::Reread,
        width: i32,
        height: i32,
        dpi: i32,
    ) -> Option<&mut TessBaseApi> {
        let page = self.pages;
        let reader = match kind {
            script::Reread::AsKorean => self.korean.as_mut(),
            script::Reread::AsLatin => self.latin.as_mut(),
        }?;
        if reader.api.is_none() {
            match new_api(&self.tessdata, reader.language) {
                Ok(api) => reader.api = Some(api),
                Err(e) => {
                    tracing::warn!(error = %e, "no engine to re-read words with");
                    return None;
                }
            }
        }
        let api = reader.api.as_mut()?;
        if reader.page != page {
            api.set_image(&self.work, width, height, 1, width).ok()?;
            api.set_source_resolution(dpi);
            reader.page = page;
        }
        Some(api)
    }

    /// Reads `word` again with the model `kind` asks for; whether it changed.
    fn reread_word(
        &mut self,
        word: &mut LineWord,
        kind: script::Reread,
        width: i32,
        height: i32,
        dpi: i32,
    ) -> bool {
        let Some(api) = self.rereader(kind, width, height, dpi) else {
            return false;
        };
        match Self::read_box(api, padded(word.bbox, width, height)) {
            Some((text, confidence))
                if script::accept(kind, &word.text, word.confidence, &text, confidence) =>
            {
                word.text = text;
                word.confidence = confidence;
                true
            }
            _ => false,
        }
    }

    /// Reads again with the English model the runs of words the Korean model
    /// seems to have misread (see [`script::misread_spans`]), mending `line`
    /// (Tesseract's text of it) and `words` in place where the English wins.
    fn reread_spans(
        &mut self,
        line: &mut String,
        words: &mut Vec<LineWord>,
        width: i32,
        height: i32,
        dpi: i32,
    ) {
        if !self.korean_first {
            return;
        }
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        let spans = script::misread_spans(&texts);
        if spans.is_empty() {
            return;
        }
        let Some(places) = word_places(line, &texts) else {
            return;
        };
        // From the last run back, so the places of earlier runs stay valid.
        for span in spans.into_iter().rev() {
            let first = &words[span.clone()];
            let bbox = words_box(first);
            let confidence = first.iter().map(|w| w.confidence).sum::<f32>() / first.len() as f32;
            let Some(api) = self.rereader(script::Reread::AsLatin, width, height, dpi) else {
                return;
            };
            let Some(read) = Self::read_box_words(api, padded(bbox, width, height)) else {
                continue;
            };
            let first_texts: Vec<&str> = first.iter().map(|w| w.text.as_str()).collect();
            let read_texts: Vec<&str> = read.iter().map(|w| w.text.as_str()).collect();
            let read_confidence = mean_confidence(&read).unwrap_or(0.0);
            let accepted =
                script::accept_span(&first_texts, confidence, &read_texts, read_confidence);
            tracing::debug!(
                first = first_texts.join(" "),
                confidence,
                read = read_texts.join(" "),
                read_confidence,
                accepted,
                "run of words read again as English"
            );
            if !accepted {
                continue;
            }
            let (start, end) = (places[span.start].0, places[span.end - 1].1);
            line.replace_range(start..end, &read_texts.join(" "));
            words.splice(
                span,
                read.into_iter().map(|w| LineWord {
                    text: w.text,
                    bbox: w.bbox,
                    confidence: w.confidence,
                }),
            );
        }
    }
}

/// Byte ranges of `words` in `line`, each found after the previous one.
fn word_places(line: &str, words: &[&str]) -> Option<Vec<(usize, usize)>> {
    let mut from = 0;
    words
        .iter()
        .map(|word| {
            let at = from + line.get(from..)?.find(word)?;
            from = at + word.len();
            Some((at, from))
        })
        .collect()
}

/// Empties the words whose boxes lie mostly within the box of a re-read word
/// before them. The Korean model splits a Latin word into overlapping pieces
/// (`--016=48` over the whole of `--file=ARCHIVE`, `CH` and `HIVE` within it);
/// the re-read of the first piece's box reads the whole word, and keeping the
/// other pieces would write its tail twice. An empty word writes nothing.
fn drop_absorbed_tails(line: &mut [LineWord], original: &[String]) {
    let mut reread_box: Option<[u32; 4]> = None;
    for (word, first) in line.iter_mut().zip(original) {
        if let Some(owner) = reread_box {
            let inside = word.bbox[2]
                .min(owner[2])
                .saturating_sub(word.bbox[0].max(owner[0]));
            let width = word.bbox[2].saturating_sub(word.bbox[0]).max(1);
            if inside * 2 >= width {
                word.text.clear();
                continue;
            }
        }
        reread_box = (word.text != *first).then_some(word.bbox);
    }
}

/// `bbox` grown by a quarter of its height (at least 2 px), within the image:
/// Tesseract reads a tight box's edge strokes badly.
fn padded(bbox: [u32; 4], width: i32, height: i32) -> [u32; 4] {
    let [x0, y0, x1, y1] = bbox;
    let pad = ((y1 - y0) / 4).max(2);
    [
        x0.saturating_sub(pad),
        y0.saturating_sub(pad),
        (x1 + pad).min(width as u32),
        (y1 + pad).min(height as u32),
    ]
}

impl OcrEngine for Tesseract {
    fn recognize(&mut self, image: &GrayImage<'_>) -> Result<OcrOutput, OcrError> {
        let (w, h, stride) = (
            image.width as usize,
            image.height as usize,
            image.stride as usize,
        );
        if stride.checked_mul(h).is_none_or(|n| n > image.pixels.len()) || stride < w {
            return Err(OcrError::Recognize(
                "image buffer smaller than its dimensions".into(),
            ));
        }
        self.pages += 1;
        let line_px = prepare::line_height(image.pixels, w, h, stride);
        let scale = match self.tuning.target_line_px {
            Some(target) => prepare::scale_for(line_px, target, 0.25),
            None => 1.0,
        };
        let scale = if scale < 0.97 { scale } else { 1.0 };
        let (w, h) = if scale < 1.0 {
            prepare::downscale(
                image.pixels,
                w,
                h,
                stride,
                scale,
                &mut self.work,
                &mut self.scratch,
            )
        } else {
            let whole = prepare::Region {
                left: 0,
                top: 0,
                width: w,
                height: h,
            };
            prepare::copy_region(image.pixels, stride, whole, &mut self.work);
            (w, h)
        };
        let threshold = prepare::threshold(&prepare::Gray {
            pixels: &self.work,
            width: w,
            height: h,
        });
        if self.tuning.deskew {
            let gray = prepare::Gray {
                pixels: &self.work,
                width: w,
                height: h,
            };
            let angle = prepare::skew_angle(&gray, threshold, 1.5);
            if angle.abs() >= 0.1 {
                prepare::deskew(&gray, angle, &mut self.spare);
                std::mem::swap(&mut self.work, &mut self.spare);
            }
        }
        let layout = self.segmentation == Segmentation::Layout;
        let regions = if layout {
            let gray = prepare::Gray {
                pixels: &self.work,
                width: w,
                height: h,
            };
            prepare::regions(&gray, threshold, line_px.unwrap_or(40.0) * scale)
        } else {
            Vec::new()
        };
        tracing::debug!(
            line_px = ?line_px,
            scale,
            regions = regions.len(),
            width = w,
            height = h,
            "page prepared"
        );
        let dims = |v: usize| {
            i32::try_from(v)
                .map_err(|_| OcrError::Recognize(format!("image dimension {v} too large")))
        };
        let (wi, hi) = (dims(w)?, dims(h)?);
        let dpi = (image.dpi * scale).round().max(1.0) as i32;
        self.api
            .set_image(&self.work, wi, hi, 1, wi)
            .map_err(|e| OcrError::Recognize(format!("{e:?}")))?;
        self.api.set_source_resolution(dpi);
        // Per region: Tesseract's text (its spacing decisions, which TSV
        // lacks: Korean words come as separate syllable groups there) and its
        // words by line, so that a word read again can be put back in place.
        let mut regions_read: Vec<(String, Vec<Vec<LineWord>>)> = Vec::new();
        let passes: Vec<Option<prepare::Region>> = if regions.len() > 1 {
            regions.into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        for region in passes {
            if let Some(r) = region {
                // The region goes in as an image of its own, not as a
                // rectangle of the page: on a rectangle one line high (a
                // title across two columns) Tesseract 5.3 read bold type as
                // garbage (`IE SEN US Na a ere`) that it read right from the
                // same pixels cropped (see the README).
                prepare::copy_region(&self.work, w, r, &mut self.region);
                self.api
                    .set_image(
                        &self.region,
                        dims(r.width)?,
                        dims(r.height)?,
                        1,
                        dims(r.width)?,
                    )
                    .map_err(|e| OcrError::Recognize(format!("{e:?}")))?;
                self.api.set_source_resolution(dpi);
            }
            self.api.set_page_seg_mode(self.segmentation.psm());
            self.api.recognize().map_err(|_| {
                OcrError::Recognize("Tesseract could not recognise the page".into())
            })?;
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
            let mut lines = tsv_lines(&tsv);
            if let Some(r) = region {
                let (dx, dy) = (r.left as u32, r.top as u32);
                for word in lines.iter_mut().flatten() {
                    word.bbox = [
                        word.bbox[0] + dx,
                        word.bbox[1] + dy,
                        word.bbox[2] + dx,
                        word.bbox[3] + dy,
                    ];
                }
            }
            regions_read.push((text, lines));
        }
        let mut words = Vec::new();
        let mut text_lines: Vec<String> = Vec::new();
        for (text, mut lines) in regions_read {
            let original = lines.clone();
            if self.korean.is_some() || self.latin.is_some() {
                self.reread_words(&mut lines, wi, hi, dpi);
            }
            let text_only: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            // Tesseract's text carries its word spacing (TSV does not: a Korean
            // word comes as several syllable groups there); its lines match
            // the TSV's one for one, which is what allows fixing words and
            // reordering lines. If they do not match, its text stands as is.
            if text_only.len() != lines.len() {
                tracing::debug!(
                    text_lines = text_only.len(),
                    tsv_lines = lines.len(),
                    "lines do not match; text kept as Tesseract gave it"
                );
                text_lines.extend(text_only.iter().map(|l| (*l).to_owned()));
                words.extend(
                    original
                        .into_iter()
                        .flatten()
                        .map(|w| scaled_word(w, scale, image)),
                );
                continue;
            }
            let mut entries: Vec<(String, Vec<LineWord>)> = Vec::with_capacity(lines.len());
            for ((line_text, before), mut after) in text_only.iter().zip(&original).zip(lines) {
                let mut line = apply_changes(line_text, before, &after, self.tuning.clean);
                after.retain(|w| !w.text.is_empty());
                self.reread_spans(&mut line, &mut after, wi, hi, dpi);
                if self.tuning.clean {
                    after.retain(|w| !script::is_speck(&w.text, w.confidence));
                    line = line
                        .split(' ')
                        .map(script::normalize_option)
                        .collect::<Vec<_>>()
                        .join(" ");
                    for word in &mut after {
                        word.text = script::normalize_option(&word.text);
                    }
                }
                entries.push((line, after));
            }
            let rows = if layout {
                reading_order(entries)
            } else {
                entries.into_iter().map(|e| vec![e]).collect()
            };
            for row in rows {
                let line = row
                    .iter()
                    .map(|(t, _)| t.as_str())
                    .filter(|t| !t.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                if !line.trim().is_empty() {
                    text_lines.push(line);
                }
                words.extend(
                    row.into_iter()
                        .flat_map(|(_, w)| w)
                        .map(|w| scaled_word(w, scale, image)),
                );
            }
        }
        Ok(OcrOutput {
            text: tidy_text(&text_lines.join("\n")),
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
            parse_tsv_word(&cols)
        })
        .collect()
}

fn parse_tsv_word(cols: &[&str]) -> Option<Word> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_pages_are_read_at_smaller_lines_than_hangul() {
        let target = |languages: &[&str]| {
            let languages: Vec<String> = languages.iter().map(|l| (*l).to_owned()).collect();
            Tuning::for_languages(&languages).target_line_px
        };
        assert_eq!(target(&["eng"]), Some(LATIN_TARGET_LINE_PX));
        assert_eq!(target(&["eng", "deu"]), Some(LATIN_TARGET_LINE_PX));
        assert_eq!(target(&["kor", "eng"]), Some(TARGET_LINE_PX));
        assert_eq!(target(&["kor"]), Some(TARGET_LINE_PX));
        // A script nobody measured keeps the larger, safer target.
        assert_eq!(target(&["tha"]), Some(TARGET_LINE_PX));
        assert_eq!(target(&[]), Some(TARGET_LINE_PX));
    }

    #[test]
    fn pieces_within_a_reread_word_are_dropped() {
        let word = |text: &str, x0, x1| LineWord {
            text: text.to_owned(),
            bbox: [x0, 0, x1, 20],
            confidence: 0.9,
        };
        let original: Vec<String> = ["-[,", "--016=48", "CH", "HIVE", "name"]
            .map(String::from)
            .to_vec();
        let mut line = vec![
            word("-[,", 232, 261),
            word("--file=ARCHIVE", 271, 464),
            word("CH", 396, 416),
            word("HIVE", 418, 470),
            word("name", 480, 540),
        ];
        drop_absorbed_tails(&mut line, &original);
        let texts: Vec<&str> = line.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["-[,", "--file=ARCHIVE", "", "", "name"]);
        // Without a re-read, overlapping pieces stay as Tesseract gave them.
        let mut untouched = line.clone();
        untouched[1].text = "--016=48".into();
        untouched[2].text = "CH".into();
        drop_absorbed_tails(&mut untouched, &original);
        assert_eq!(untouched[2].text, "CH");
    }

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

    /// Issue 14 replaced the per-script choice (PSM 4 for Korean, PSM 3 for
    /// the rest) by pdfx's layout handling for every language.
    #[test]
    fn every_language_gets_layout_segmentation() {
        let langs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Segmentation::default_for(&langs(&["kor", "eng"])),
            Segmentation::Layout
        );
        assert_eq!(
            Segmentation::default_for(&langs(&["eng"])),
            Segmentation::Layout
        );
    }

    fn word(text: &str, bbox: [u32; 4]) -> LineWord {
        LineWord {
            text: text.into(),
            bbox,
            confidence: 0.9,
        }
    }

    #[test]
    fn lines_side_by_side_are_joined_in_reading_order() {
        // Tesseract's block order: the margin headings first, then the body.
        let lines = vec![
            ("NAME", vec![word("NAME", [10, 10, 60, 30])]),
            ("OPTIONS", vec![word("OPTIONS", [10, 100, 90, 120])]),
            (
                "ls - list",
                vec![
                    word("ls", [100, 40, 120, 60]),
                    word("list", [130, 40, 170, 60]),
                ],
            ),
            (
                "-l long",
                vec![
                    word("-l", [100, 130, 120, 150]),
                    word("long", [200, 131, 260, 151]),
                ],
            ),
            ("first", vec![word("first", [100, 12, 150, 32])]),
        ];
        let rows: Vec<String> = reading_order(lines)
            .into_iter()
            .map(|row| row.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(rows, ["NAME first", "ls - list", "OPTIONS", "-l long"]);
    }

    #[test]
    fn reread_words_replace_their_first_reading_in_place() {
        let before = vec![
            word("파일", [0, 0, 10, 10]),
            word("SAS", [20, 0, 40, 10]),
            word(":", [50, 0, 52, 10]),
        ];
        let mut after = before.clone();
        after[1].text = "공간을".into();
        let mut speck = before.clone();
        speck[2].confidence = 0.2;
        let mut speck_after = after.clone();
        speck_after[2].confidence = 0.2;
        assert_eq!(
            apply_changes("파일 SAS :", &before, &after, false),
            "파일 공간을 :"
        );
        assert_eq!(
            apply_changes("파일 SAS :", &speck, &speck_after, true),
            "파일 공간을"
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
