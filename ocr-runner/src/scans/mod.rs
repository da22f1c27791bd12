//! Realistic scans for tests and benchmarks, seeded and deterministic: pages of
//! Korean or English prose, manual pages with indented option lists, two
//! columns or tables, in several fonts at 8, 10–12 and 24 pt, typeset with
//! pdfium, rendered at 300 DPI and degraded as a scanner does (see
//! [`degrade`]), then stored as JPEG images in an image-only PDF, so that the
//! runner reads them exactly as it reads a real scan.
//!
//! The text is split in a tuning half and a held-out half ([`Pool`]); the
//! benchmark's held-out set ([`held_out_set`]) uses seeds and text that
//! tuning ([`tuning_set`]) never sees.

pub mod corpus;
mod corpus_en;
mod corpus_ko;
pub mod degrade;
pub mod typeset;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pdfium_render::prelude::*;

use corpus::Corpus;
pub use corpus::Pool;
use degrade::{Canvas, Degradation};
use typeset::{PAGE, PageLayout, layout_page};

use crate::decide::render_size;
use crate::pdf;
use crate::sample::{ImageFilter, ImagePdfWriter, SampleError};

/// Resolution of every generated scan.
pub const SCAN_DPI: u32 = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Korean,
    English,
}

impl Language {
    /// The Tesseract languages a user would ask for.
    pub fn tesseract(self) -> &'static str {
        match self {
            Language::Korean => "kor+eng",
            Language::English => "eng",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layout {
    Prose,
    /// A manual page: headings, indented paragraphs, an option list with hanging tags.
    Manual,
    TwoColumn,
    Table,
}

pub const LAYOUTS: [Layout; 4] = [
    Layout::Prose,
    Layout::Manual,
    Layout::TwoColumn,
    Layout::Table,
];

/// Body text sizes, in points.
pub const SIZES: [f32; 5] = [11.0, 8.0, 12.0, 24.0, 10.0];

const KOREAN_FONTS: &[(&str, &str)] = &[
    ("nanum/NanumGothic.ttf", "nanum/NanumGothicBold.ttf"),
    ("nanum/NanumMyeongjo.ttf", "nanum/NanumMyeongjoBold.ttf"),
    (
        "nanum/NanumBarunGothic.ttf",
        "nanum/NanumBarunGothicBold.ttf",
    ),
    ("nanum/NanumSquareR.ttf", "nanum/NanumSquareB.ttf"),
    ("unfonts-core/UnBatang.ttf", "unfonts-core/UnBatangBold.ttf"),
    ("unfonts-core/UnDotum.ttf", "unfonts-core/UnDotumBold.ttf"),
];

const LATIN_FONTS: &[(&str, &str)] = &[
    (
        "liberation2/LiberationSerif-Regular.ttf",
        "liberation2/LiberationSerif-Bold.ttf",
    ),
    (
        "liberation2/LiberationSans-Regular.ttf",
        "liberation2/LiberationSans-Bold.ttf",
    ),
    ("dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSerif-Bold.ttf"),
    ("dejavu/DejaVuSans.ttf", "dejavu/DejaVuSans-Bold.ttf"),
    ("nanum/NanumGothic.ttf", "nanum/NanumGothicBold.ttf"),
];

/// Debian's TrueType folder (fonts-nanum, fonts-nanum-extra, fonts-unfonts-core,
/// fonts-liberation2, fonts-dejavu-core; scripts/install-deps.sh installs them).
pub const FONT_DIR: &str = "/usr/share/fonts/truetype";

/// Small, fast, seedable generator (SplitMix64): the same seed gives the same
/// page on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n (0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Everything that decides one generated page.
#[derive(Clone, Debug, PartialEq)]
pub struct PageSpec {
    pub seed: u64,
    pub pool: Pool,
    pub language: Language,
    pub layout: Layout,
    /// Body text size in points.
    pub size: f32,
    /// Regular and bold font files.
    pub fonts: (PathBuf, PathBuf),
    pub degradation: Degradation,
}

impl PageSpec {
    /// The page of `seed`: layouts and sizes cycle with the seed so that a run
    /// of 20 consecutive seeds covers every layout at every size; fonts and
    /// degradations are drawn at random from the seed.
    pub fn new(seed: u64, pool: Pool, language: Language) -> Self {
        let layout = LAYOUTS[(seed % 4) as usize];
        let mut size = SIZES[((seed / 4) % SIZES.len() as u64) as usize];
        if size > 20.0 && matches!(layout, Layout::TwoColumn | Layout::Table) {
            // Six table columns or two text columns of 24 pt do not fit on A4.
            size = 16.0;
        }
        let mut rng = Rng::new(seed.wrapping_mul(31).wrapping_add(language as u64));
        let fonts = match language {
            Language::Korean => KOREAN_FONTS,
            Language::English => LATIN_FONTS,
        };
        let (regular, bold) = fonts[rng.below(fonts.len())];
        Self {
            seed,
            pool,
            language,
            layout,
            size,
            fonts: (
                Path::new(FONT_DIR).join(regular),
                Path::new(FONT_DIR).join(bold),
            ),
            degradation: Degradation::draw(&mut rng),
        }
    }

    /// A short label: `kor/manual/11pt/NanumGothic`.
    pub fn label(&self) -> String {
        let font = self
            .fonts
            .0
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "{}/{:?}/{}pt/{font}",
            self.language.tesseract(),
            self.layout,
            self.size
        )
    }
}

/// Seeds of the held-out set: never used while tuning.
pub const HELD_OUT_SEEDS: std::ops::Range<u64> = 10_000..10_040;
/// Seeds for tuning.
pub const TUNING_SEEDS: std::ops::Range<u64> = 1..41;

/// The first `pages` pages of the held-out set in `language`.
pub fn held_out_set(language: Language, pages: usize) -> Vec<PageSpec> {
    HELD_OUT_SEEDS
        .take(pages)
        .map(|seed| PageSpec::new(seed, Pool::HeldOut, language))
        .collect()
}

/// The first `pages` pages of the tuning set in `language`.
pub fn tuning_set(language: Language, pages: usize) -> Vec<PageSpec> {
    TUNING_SEEDS
        .take(pages)
        .map(|seed| PageSpec::new(seed, Pool::Tuning, language))
        .collect()
}

/// A generated scan.
pub struct ScanPage {
    pub spec: PageSpec,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
    /// What a perfect reader returns, lines in reading order.
    pub truth: String,
}

fn pdfium_error(e: PdfiumError) -> SampleError {
    SampleError::Pdfium(format!("{e:?}"))
}

/// Typesets, renders and degrades one page.
pub fn generate(spec: &PageSpec) -> Result<ScanPage, SampleError> {
    let pdfium = pdf::pdfium()?;
    let mut document = pdfium.create_new_pdf().map_err(pdfium_error)?;
    let load = |document: &mut PdfDocument<'_>, path: &Path| {
        document
            .fonts_mut()
            .load_true_type_from_file(path, true)
            .map_err(|e| {
                SampleError::Pdfium(format!(
                    "loading font {} (run scripts/install-deps.sh): {e:?}",
                    path.display()
                ))
            })
    };
    let regular = load(&mut document, &spec.fonts.0)?;
    let bold = load(&mut document, &spec.fonts.1)?;

    let mut rng = Rng::new(spec.seed.wrapping_mul(7919).wrapping_add(11));
    let corpus = Corpus::new(spec.language, spec.pool);
    let mut widths: HashMap<(String, bool, u32), f32> = HashMap::new();
    let mut failure: Option<PdfiumError> = None;
    let layout: PageLayout = {
        let document = &document;
        let mut measure = |text: &str, is_bold: bool, size: f32| -> f32 {
            let key = (text.to_owned(), is_bold, size.to_bits());
            if let Some(&w) = widths.get(&key) {
                return w;
            }
            let font = if is_bold { bold } else { regular };
            let width = PdfPageTextObject::new(document, text, font, PdfPoints::new(size))
                .and_then(|o| o.width())
                .map(|w| w.value);
            match width {
                Ok(w) => {
                    widths.insert(key, w);
                    w
                }
                Err(e) => {
                    failure.get_or_insert(e);
                    f32::MAX
                }
            }
        };
        layout_page(spec.layout, &corpus, spec.size, &mut rng, &mut measure)
    };
    if let Some(e) = failure {
        return Err(pdfium_error(e));
    }

    let mut page = document
        .pages_mut()
        .create_page_at_end(PdfPagePaperSize::a4())
        .map_err(pdfium_error)?;
    for run in &layout.runs {
        page.objects_mut()
            .create_text_object(
                PdfPoints::new(run.x),
                PdfPoints::new(PAGE.1 - run.baseline),
                &run.text,
                if run.bold { bold } else { regular },
                PdfPoints::new(run.size),
            )
            .map_err(pdfium_error)?;
    }
    for rule in &layout.rules {
        page.objects_mut()
            .create_path_object_line(
                PdfPoints::new(rule.x0),
                PdfPoints::new(PAGE.1 - rule.y0),
                PdfPoints::new(rule.x1),
                PdfPoints::new(PAGE.1 - rule.y1),
                PdfColor::BLACK,
                PdfPoints::new(0.75),
            )
            .map_err(pdfium_error)?;
    }
    let size = render_size(PAGE.0, PAGE.1, SCAN_DPI, u64::MAX);
    let mut gray = Vec::new();
    let rendered = pdf::Renderer::default()
        .render_gray(&page, size, &mut gray)
        .map_err(pdfium_error)?;
    let (width, height) = (rendered.width as usize, rendered.height as usize);
    let mut canvas = Canvas::from_gray(&gray, width, height, rendered.stride as usize);
    drop(gray);
    degrade::degrade(&mut canvas, &spec.degradation, &mut rng);
    let jpeg = degrade::encode_jpeg(
        &canvas.to_gray(),
        width,
        height,
        spec.degradation.jpeg_quality,
    )
    .map_err(SampleError::Pdfium)?;
    Ok(ScanPage {
        spec: spec.clone(),
        width: rendered.width,
        height: rendered.height,
        jpeg,
        truth: layout.truth.join("\n"),
    })
}

/// Writes an image-only PDF of `pages`, one JPEG per A4 page, and returns
/// the pages' ground truth in page order.
pub fn write_pdf(path: &Path, specs: &[PageSpec]) -> Result<Vec<String>, SampleError> {
    let mut writer = ImagePdfWriter::create(path)?;
    let mut truths = Vec::with_capacity(specs.len());
    for spec in specs {
        let page = generate(spec)?;
        writer.add_image_page(
            PAGE.0,
            PAGE.1,
            page.width,
            page.height,
            ImageFilter::Jpeg,
            &page.jpeg,
        )?;
        truths.push(page.truth);
    }
    writer.finish()?;
    Ok(truths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_seeds_cover_every_layout_and_size() {
        let specs = tuning_set(Language::Korean, 20);
        for layout in LAYOUTS {
            let sizes: std::collections::BTreeSet<u32> = specs
                .iter()
                .filter(|s| s.layout == layout)
                .map(|s| s.size as u32)
                .collect();
            assert!(sizes.len() >= 4, "{layout:?}: {sizes:?}");
        }
        assert_eq!(
            PageSpec::new(5, Pool::HeldOut, Language::English),
            PageSpec::new(5, Pool::HeldOut, Language::English)
        );
    }

    #[test]
    fn the_generator_is_seeded() {
        let mut a = Rng::new(9);
        let mut b = Rng::new(9);
        assert_eq!(a.next_u64(), b.next_u64());
        let mean = (0..10_000).map(|_| a.gauss()).sum::<f64>() / 10_000.0;
        assert!(mean.abs() < 0.05, "{mean}");
    }
}
