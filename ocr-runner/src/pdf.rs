//! PDF access through pdfium: finding and binding the library, opening a
//! document from a file, reading a page's text layer and rendering a page to
//! 8-bit gray.
//!
//! Two facts about pdfium shape this module. Every call is serialised behind one
//! lock (pdfium is not thread-safe), so one thread does all PDF work. And an open
//! document keeps the parsed objects of every page it has visited (a 500-page
//! scan grows to ~465 MB), so [`PdfFile`] reopens the document every few pages
//! to keep memory flat whatever the page count.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pdfium_render::prelude::*;
use pdfx_crd::FailureReason;

use crate::decide::RenderSize;

/// Environment variable naming the pdfium library (a file, or a folder holding `libpdfium.so`).
pub const PDFIUM_ENV: &str = "PDFIUM_LIBRARY_PATH";

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the file is empty")]
    Empty,
    #[error("not a PDF: the file does not start with a %PDF- header")]
    NotPdf,
    #[error("the PDF is encrypted and no usable password was given")]
    Encrypted,
    #[error("the PDF is damaged and cannot be read: {0}")]
    Corrupt(String),
    #[error("the PDF has no pages")]
    NoPages,
    #[error("page {page}: {message}")]
    Page { page: u32, message: String },
    #[error("opening the document took longer than {seconds} s (pdfium did not finish)")]
    OpenTimeout { seconds: f32 },
    #[error("pdfium library not found: {0}")]
    LibraryMissing(String),
    #[error("pdfium: {0}")]
    Library(String),
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl PdfError {
    pub fn reason(&self) -> FailureReason {
        match self {
            PdfError::Empty
            | PdfError::NotPdf
            | PdfError::Corrupt(_)
            | PdfError::Page { .. }
            | PdfError::OpenTimeout { .. } => FailureReason::InvalidPdf,
            PdfError::Encrypted => FailureReason::EncryptedPdf,
            PdfError::NoPages => FailureReason::NoPages,
            PdfError::LibraryMissing(_) | PdfError::Library(_) | PdfError::Io { .. } => {
                FailureReason::Transient
            }
        }
    }
}

fn describe(error: &PdfiumError) -> String {
    format!("{error:?}")
}

/// Where the pdfium library is looked for, first match wins: `$PDFIUM_LIBRARY_PATH`
/// (file or folder), next to the executable (and `../lib`), then a project-local
/// `.pdfium/lib` in the working directory or any folder above the executable.
pub fn library_candidates() -> Vec<PathBuf> {
    let name = Pdfium::pdfium_platform_library_name();
    let mut candidates = Vec::new();
    if let Some(configured) = std::env::var_os(PDFIUM_ENV) {
        let configured = PathBuf::from(configured);
        if configured.is_dir() {
            candidates.push(configured.join(&name));
        } else {
            candidates.push(configured);
        }
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        candidates.push(dir.join(&name));
        candidates.push(dir.join("../lib").join(&name));
        roots.extend(dir.ancestors().map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    for root in roots {
        candidates.push(root.join(".pdfium/lib").join(&name));
    }
    candidates
}

static PDFIUM: OnceLock<Result<Pdfium, String>> = OnceLock::new();

/// The process-wide pdfium instance, bound on first use.
pub fn pdfium() -> Result<&'static Pdfium, PdfError> {
    let bound = PDFIUM.get_or_init(|| {
        let candidates = library_candidates();
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            return Err(format!(
                "looked in {}; run scripts/install-deps.sh or set {PDFIUM_ENV}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        Pdfium::bind_to_library(path)
            .map(Pdfium::new)
            .map_err(|e| format!("binding {}: {}", path.display(), describe(&e)))
    });
    bound
        .as_ref()
        .map_err(|e| PdfError::LibraryMissing(e.clone()))
}

/// Checks the `%PDF-` signature before pdfium sees the file, so that an HTML
/// error page or a PNG gets a precise error rather than a generic parse failure.
/// Like other readers, the signature may follow up to 1 KiB of leading junk.
pub fn check_signature(path: &Path) -> Result<(), PdfError> {
    let io = |source| PdfError::Io {
        path: path.to_owned(),
        source,
    };
    let mut head = Vec::with_capacity(1024);
    std::fs::File::open(path)
        .map_err(io)?
        .take(1024)
        .read_to_end(&mut head)
        .map_err(io)?;
    if head.is_empty() {
        return Err(PdfError::Empty);
    }
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfError::NotPdf);
    }
    Ok(())
}

/// A PDF opened from a file, reopened every `reopen_every` page visits.
pub struct PdfFile {
    path: PathBuf,
    password: Option<String>,
    document: Option<PdfDocument<'static>>,
    visits_since_open: u32,
    /// Reading then rendering a page visits it twice; that counts once.
    last_page: Option<u32>,
    reopen_every: u32,
    page_count: u32,
    /// Reused across pages by [`crate::pipeline::PageSource::render`].
    renderer: Option<Renderer>,
}

impl PdfFile {
    pub fn open(path: &Path, password: Option<&str>, reopen_every: u32) -> Result<Self, PdfError> {
        check_signature(path)?;
        let document = load(path, password)?;
        let count = document.pages().len();
        let page_count =
            u32::try_from(count).map_err(|_| PdfError::Corrupt(format!("page count {count}")))?;
        if page_count == 0 {
            return Err(PdfError::NoPages);
        }
        Ok(Self {
            path: path.to_owned(),
            password: password.map(str::to_owned),
            document: Some(document),
            visits_since_open: 0,
            last_page: None,
            reopen_every: reopen_every.max(1),
            page_count,
            renderer: None,
        })
    }

    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// The renderer kept with this file (its scratch buffer is reused).
    pub fn take_renderer(&mut self) -> Renderer {
        self.renderer.take().unwrap_or_default()
    }

    pub fn put_renderer(&mut self, renderer: Renderer) {
        self.renderer = Some(renderer);
    }

    /// Runs `f` on page `number` (1-based).
    pub fn with_page<R>(
        &mut self,
        number: u32,
        f: impl FnOnce(&PdfPage<'_>) -> R,
    ) -> Result<R, PdfError> {
        let new_page = self.last_page != Some(number);
        if new_page && self.visits_since_open >= self.reopen_every {
            // Dropping the document first releases everything it cached.
            self.document = None;
            self.visits_since_open = 0;
        }
        if self.document.is_none() {
            self.document = Some(load(&self.path, self.password.as_deref())?);
        }
        let document = self
            .document
            .as_ref()
            .ok_or_else(|| PdfError::Library("document not open".into()))?;
        if new_page {
            self.visits_since_open += 1;
            self.last_page = Some(number);
        }
        let index =
            PdfPageIndex::try_from(number.saturating_sub(1)).map_err(|_| PdfError::Page {
                page: number,
                message: "page number beyond pdfium's range".into(),
            })?;
        let page = document.pages().get(index).map_err(|e| PdfError::Page {
            page: number,
            message: describe(&e),
        })?;
        Ok(f(&page))
    }
}

fn load(path: &Path, password: Option<&str>) -> Result<PdfDocument<'static>, PdfError> {
    let pdfium = pdfium()?;
    pdfium
        .load_pdf_from_file(path, password)
        .map_err(|e| match e {
            PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::PasswordError)
            | PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::SecurityError) => {
                PdfError::Encrypted
            }
            PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::FormatError) => {
                PdfError::Corrupt("pdfium could not parse the file".into())
            }
            PdfiumError::IoError(source) => PdfError::Io {
                path: path.to_owned(),
                source,
            },
            other => PdfError::Corrupt(describe(&other)),
        })
}

/// Size of a page in points (1/72 inch), after its rotation.
pub fn page_size_points(page: &PdfPage<'_>) -> (f32, f32) {
    (page.width().value, page.height().value)
}

/// The page's text layer, normalised (see [`normalize_text_layer`]).
pub fn page_text(page: &PdfPage<'_>) -> Result<String, PdfiumError> {
    Ok(normalize_text_layer(&page.text()?.all()))
}

/// Normalises what pdfium returns: `\r\n` and `\r` become `\n`; the other
/// Unicode spaces (no-break, ideographic, thin…), which fonts often map their
/// space glyph to, become plain spaces; pdfium's marker for a soft hyphen at a
/// line end (U+0002) becomes `-`; byte-order marks are dropped.
pub fn normalize_text_layer(text: &str) -> String {
    normalize_line_endings(text)
        .chars()
        .filter(|c| !matches!(c, '\u{FEFF}' | '\u{FFFE}'))
        .map(|c| match c {
            '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}' => ' ',
            '\u{0002}' => '-',
            other => other,
        })
        .collect()
}

/// pdfium ends lines with `\r\n` (and sometimes a lone `\r`).
pub fn normalize_line_endings(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A page rendered to 8-bit gray: row `y` starts at `y * stride` in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrayImageLayout {
    pub width: u32,
    pub height: u32,
    pub stride: u32,
}

/// Bytes per row pdfium uses for an 8-bit gray bitmap: rounded up to 4.
pub fn gray_stride(width: u32) -> u32 {
    width.div_ceil(4) * 4
}

/// Renders pages to 8-bit gray. pdfium's own gray bitmaps lose most of the
/// anti-aliased text (measured: a page rendered to `Gray` had 2% of the dark
/// pixels of the same page in `BGR`), so pages are rendered to BGR into a
/// reused scratch buffer and converted.
#[derive(Default)]
pub struct Renderer {
    scratch: Vec<u8>,
}

impl Renderer {
    /// Renders `page` at `size` into `gray` (resized, reused across pages),
    /// form data included.
    pub fn render_gray(
        &mut self,
        page: &PdfPage<'_>,
        size: RenderSize,
        gray: &mut Vec<u8>,
    ) -> Result<GrayImageLayout, PdfiumError> {
        self.render_gray_with_forms(page, size, gray, true)
    }

    /// As [`Self::render_gray`], drawing form data only when `forms`.
    pub fn render_gray_with_forms(
        &mut self,
        page: &PdfPage<'_>,
        size: RenderSize,
        gray: &mut Vec<u8>,
        forms: bool,
    ) -> Result<GrayImageLayout, PdfiumError> {
        let width = i32::try_from(size.width).map_err(|_| PdfiumError::ImageSizeOutOfBounds)?;
        let height = i32::try_from(size.height).map_err(|_| PdfiumError::ImageSizeOutOfBounds)?;
        let bgr_stride = (size.width as usize * 3).div_ceil(4) * 4;
        self.scratch.clear();
        self.scratch.resize(bgr_stride * size.height as usize, 0xff);
        {
            let mut bitmap = PdfBitmap::from_bytes(
                width,
                height,
                PdfBitmapFormat::BGR,
                self.scratch.as_mut_slice(),
            )?;
            let config = PdfRenderConfig::new()
                .set_fixed_size(width, height)
                .set_format(PdfBitmapFormat::BGR)
                // pdfium-render asks for RGB order by default; the conversion below reads BGR.
                .set_reverse_byte_order(false)
                .clear_before_rendering(true)
                .set_clear_color(PdfColor::WHITE)
                .render_form_data(forms)
                .render_annotations(true);
            page.render_into_bitmap_with_config(&mut bitmap, &config)?;
        }
        let stride = gray_stride(size.width);
        gray.clear();
        gray.resize(stride as usize * size.height as usize, 0xff);
        for (out_row, in_row) in gray
            .chunks_mut(stride as usize)
            .zip(self.scratch.chunks(bgr_stride))
        {
            for (out, bgr) in out_row.iter_mut().zip(in_row.chunks_exact(3)) {
                *out = luminance(bgr[0], bgr[1], bgr[2]);
            }
        }
        Ok(GrayImageLayout {
            width: size.width,
            height: size.height,
            stride,
        })
    }
}

/// Whether drawing the page's form data is safe: every widget on it belongs
/// to a field pdfium resolves, and every field has a name. pdfium's form
/// filler identifies fields by their full names, and a real-world form whose
/// unnamed field was shared by two widgets sent it into an endless loop
/// (pdfium does not resolve such widgets to a field at all). Such a page is
/// drawn without its form data; the widgets' saved appearances are still drawn
/// as annotations.
pub fn forms_are_safe(page: &PdfPage<'_>) -> bool {
    page.annotations().iter().all(|annotation| {
        if annotation.annotation_type() != PdfPageAnnotationType::Widget {
            return true;
        }
        annotation
            .as_form_field()
            .is_some_and(|field| field.name().is_some_and(|n| !n.is_empty()))
    })
}

/// ITU-R BT.601 luma in integer arithmetic.
fn luminance(b: u8, g: u8, r: u8) -> u8 {
    ((u32::from(r) * 77 + u32::from(g) * 150 + u32::from(b) * 29) >> 8) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_normalised() {
        assert_eq!(normalize_line_endings("a\r\nb\rc\n"), "a\nb\nc\n");
    }

    #[test]
    fn text_layers_are_normalised() {
        assert_eq!(
            normalize_text_layer("보고서\u{a0}1쪽\r\nnext\u{3000}line\u{2}\r\n\u{feff}x"),
            "보고서 1쪽\nnext line-\nx"
        );
    }

    #[test]
    fn luminance_spans_black_to_white() {
        assert_eq!(luminance(0, 0, 0), 0);
        assert_eq!(luminance(255, 255, 255), 255);
        assert!(luminance(0, 255, 0) > luminance(0, 0, 255));
    }

    #[test]
    fn gray_rows_are_padded_to_four_bytes() {
        assert_eq!(gray_stride(1), 4);
        assert_eq!(gray_stride(2480), 2480);
        assert_eq!(gray_stride(2481), 2484);
    }

    #[test]
    fn signatures_are_checked_before_parsing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
            path
        };
        assert!(matches!(
            check_signature(&write("empty.pdf", b"")),
            Err(PdfError::Empty)
        ));
        assert!(matches!(
            check_signature(&write("png.pdf", b"\x89PNG\r\n\x1a\n....")),
            Err(PdfError::NotPdf)
        ));
        assert!(check_signature(&write("ok.pdf", b"%PDF-1.7\n...")).is_ok());
        assert!(check_signature(&write("junk.pdf", b"garbage\n%PDF-1.4\n")).is_ok());
    }
}
