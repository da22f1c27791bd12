//! Synthetic documents with known text: born-digital pages (a real text layer),
//! scanned-like pages (the same pages rendered to 300 DPI images, no text layer)
//! and mixed documents, in English or Korean.
//!
//! The quick start, the tests and the benchmarks all use them, so the expected
//! text of every page is available through [`page_lines`] and nothing has to be
//! downloaded or checked in.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use pdfium_render::prelude::*;

use crate::decide::render_size;
use crate::pdf::{self, PdfError};

/// Where Debian's fonts-nanum puts the Korean font.
pub const NANUM_GOTHIC: &str = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf";

/// Distinct page texts; longer documents repeat them.
pub const DISTINCT_PAGES: u32 = 20;
const LINES_PER_PAGE: usize = 30;
const A4: (f32, f32) = (595.276, 841.89);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleKind {
    /// Every page has a text layer.
    Text,
    /// Every page is an image of text, with no text layer.
    Scanned,
    /// Odd pages have a text layer, even pages are images.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleLanguage {
    English,
    Korean,
}

#[derive(Clone, Debug)]
pub struct SampleSpec {
    pub pages: u32,
    pub kind: SampleKind,
    pub language: SampleLanguage,
    /// Resolution of the page images of scanned pages.
    pub scan_dpi: u32,
    /// Korean font file (TrueType); default [`NANUM_GOTHIC`].
    pub korean_font: Option<PathBuf>,
}

impl SampleSpec {
    pub fn new(pages: u32, kind: SampleKind, language: SampleLanguage) -> Self {
        Self {
            pages,
            kind,
            language,
            scan_dpi: 300,
            korean_font: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error("pdfium: {0}")]
    Pdfium(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("a sample needs at least one page")]
    NoPages,
}

fn pdfium_error(e: PdfiumError) -> SampleError {
    SampleError::Pdfium(format!("{e:?}"))
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SampleError {
    let context = context.into();
    move |source| SampleError::Io { context, source }
}

const ENGLISH_WORDS: &[&str] = &[
    "the",
    "report",
    "shows",
    "that",
    "annual",
    "revenue",
    "grew",
    "by",
    "twelve",
    "percent",
    "while",
    "costs",
    "remained",
    "stable",
    "across",
    "all",
    "regions",
    "customers",
    "asked",
    "for",
    "faster",
    "delivery",
    "and",
    "better",
    "support",
    "our",
    "team",
    "answered",
    "with",
    "new",
    "tools",
    "each",
    "quarter",
    "brought",
    "steady",
    "progress",
    "in",
    "sales",
    "research",
    "and",
    "service",
    "management",
    "expects",
    "further",
    "growth",
    "next",
    "year",
    "if",
    "market",
    "conditions",
    "hold",
    "document",
    "pages",
    "contain",
    "numbers",
    "like",
    "2026",
    "and",
    "417",
    "which",
    "must",
    "survive",
    "extraction",
    "exactly",
];

const KOREAN_SENTENCES: &[&str] = &[
    "대한민국은 민주공화국이다",
    "모든 국민은 법 앞에 평등하다",
    "올해 매출은 작년보다 십이 퍼센트 증가했다",
    "고객들은 더 빠른 배송과 친절한 상담을 원했다",
    "우리 팀은 새로운 도구로 문제를 해결했다",
    "분기마다 판매와 연구 부문에서 꾸준한 성과가 있었다",
    "경영진은 내년에도 성장을 기대하고 있다",
    "이 문서의 모든 쪽은 정확하게 추출되어야 한다",
    "서울과 부산의 지점이 함께 보고서를 작성했다",
    "회의는 오후 세 시에 본사 회의실에서 열린다",
    "자료를 검토한 뒤 다음 주까지 의견을 보내 주십시오",
    "한국어 문자 인식은 이 서비스의 중요한 기능이다",
];

/// Small deterministic generator: the same page always gets the same text.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as usize
    }
}

/// The lines typeset on page `page` (1-based).
pub fn page_lines(language: SampleLanguage, page: u32) -> Vec<String> {
    let distinct = (page.max(1) - 1) % DISTINCT_PAGES;
    let mut rng = Lcg(u64::from(distinct) * 7919 + 17);
    let mut lines = vec![match language {
        SampleLanguage::English => format!("Page {} of the sample report", distinct + 1),
        SampleLanguage::Korean => format!("보고서 {}쪽", distinct + 1),
    }];
    while lines.len() < LINES_PER_PAGE {
        let line = match language {
            SampleLanguage::English => {
                let mut line = String::new();
                while line.len() < 56 {
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(ENGLISH_WORDS[rng.next() % ENGLISH_WORDS.len()]);
                }
                line
            }
            SampleLanguage::Korean => {
                KOREAN_SENTENCES[rng.next() % KOREAN_SENTENCES.len()].to_owned()
            }
        };
        lines.push(line);
    }
    lines
}

/// The text a perfect reader returns for page `page`.
pub fn page_text(language: SampleLanguage, page: u32) -> String {
    page_lines(language, page).join("\n")
}

/// Whether page `page` of a sample of `kind` is an image (no text layer).
pub fn is_scanned(kind: SampleKind, page: u32) -> bool {
    match kind {
        SampleKind::Text => false,
        SampleKind::Scanned => true,
        SampleKind::Mixed => page.is_multiple_of(2),
    }
}

/// Writes the sample document to `path`.
pub fn write_sample(path: &Path, spec: &SampleSpec) -> Result<(), SampleError> {
    if spec.pages == 0 {
        return Err(SampleError::NoPages);
    }
    match spec.kind {
        SampleKind::Scanned => write_scanned(path, spec),
        SampleKind::Text | SampleKind::Mixed => write_with_pdfium(path, spec),
    }
}

/// Born-digital pages built with pdfium: one text object per line.
fn add_text_page<'a>(
    document: &mut PdfDocument<'a>,
    font: PdfFontToken,
    language: SampleLanguage,
    page_number: u32,
) -> Result<(), SampleError> {
    let mut page = document
        .pages_mut()
        .create_page_at_end(PdfPagePaperSize::a4())
        .map_err(pdfium_error)?;
    let size = match language {
        SampleLanguage::English => 12.0,
        SampleLanguage::Korean => 13.0,
    };
    for (index, line) in page_lines(language, page_number).iter().enumerate() {
        let y = A4.1 - 72.0 - (index as f32) * size * 1.6;
        page.objects_mut()
            .create_text_object(
                PdfPoints::new(72.0),
                PdfPoints::new(y),
                line,
                font,
                PdfPoints::new(size),
            )
            .map_err(pdfium_error)?;
    }
    Ok(())
}

fn load_font(
    document: &mut PdfDocument<'_>,
    spec: &SampleSpec,
) -> Result<PdfFontToken, SampleError> {
    match spec.language {
        SampleLanguage::English => Ok(document.fonts_mut().helvetica()),
        SampleLanguage::Korean => {
            let path = spec
                .korean_font
                .clone()
                .unwrap_or_else(|| PathBuf::from(NANUM_GOTHIC));
            document
                .fonts_mut()
                .load_true_type_from_file(&path, true)
                .map_err(|e| {
                    SampleError::Pdfium(format!(
                        "loading Korean font {} (install fonts-nanum): {e:?}",
                        path.display()
                    ))
                })
        }
    }
}

/// Renders the born-digital version of a page to an 8-bit gray image.
struct RenderedPage {
    width: u32,
    height: u32,
    /// Rows packed without padding.
    pixels: Vec<u8>,
}

fn render_text_pages(
    spec: &SampleSpec,
    pages: impl Iterator<Item = u32>,
) -> Result<Vec<(u32, RenderedPage)>, SampleError> {
    let pdfium = pdf::pdfium()?;
    let mut document = pdfium.create_new_pdf().map_err(pdfium_error)?;
    let font = load_font(&mut document, spec)?;
    let numbers: Vec<u32> = pages.collect();
    for &number in &numbers {
        add_text_page(&mut document, font, spec.language, number)?;
    }
    let mut out = Vec::with_capacity(numbers.len());
    let mut buffer = Vec::new();
    let mut renderer = pdf::Renderer::default();
    for (index, &number) in numbers.iter().enumerate() {
        let page = document
            .pages()
            .get(index as PdfPageIndex)
            .map_err(pdfium_error)?;
        let size = render_size(A4.0, A4.1, spec.scan_dpi, u64::MAX);
        let layout = renderer
            .render_gray(&page, size, &mut buffer)
            .map_err(pdfium_error)?;
        let mut pixels = Vec::with_capacity(layout.width as usize * layout.height as usize);
        for row in buffer.chunks(layout.stride as usize) {
            pixels.extend_from_slice(&row[..layout.width as usize]);
        }
        out.push((
            number,
            RenderedPage {
                width: layout.width,
                height: layout.height,
                pixels,
            },
        ));
    }
    Ok(out)
}

/// Documents with text layers. pdfium's page creation slows down with every
/// page already in the document (200 pages took 28 s here), so at most
/// [`DISTINCT_PAGES`] pages are built and longer documents are assembled by
/// importing that block repeatedly: the content repeats with the same period
/// anyway.
fn write_with_pdfium(path: &Path, spec: &SampleSpec) -> Result<(), SampleError> {
    if spec.pages <= DISTINCT_PAGES {
        return build_with_pdfium(path, spec);
    }
    let block_path = path.with_extension("block.pdf");
    let block_spec = SampleSpec {
        pages: DISTINCT_PAGES,
        ..spec.clone()
    };
    build_with_pdfium(&block_path, &block_spec)?;
    let result = (|| {
        let pdfium = pdf::pdfium()?;
        let block = pdfium
            .load_pdf_from_file(&block_path, None)
            .map_err(pdfium_error)?;
        let mut document = pdfium.create_new_pdf().map_err(pdfium_error)?;
        let mut written = 0;
        while written < spec.pages {
            let take = (spec.pages - written).min(DISTINCT_PAGES);
            let at = document.pages().len();
            document
                .pages_mut()
                .copy_page_range_from_document(&block, 0..=(take as PdfPageIndex - 1), at)
                .map_err(pdfium_error)?;
            written += take;
        }
        document.save_to_file(path).map_err(pdfium_error)
    })();
    let _ = std::fs::remove_file(&block_path);
    result
}

fn build_with_pdfium(path: &Path, spec: &SampleSpec) -> Result<(), SampleError> {
    let scanned: Vec<(u32, RenderedPage)> = if spec.kind == SampleKind::Mixed {
        let distinct = (1..=spec.pages.min(DISTINCT_PAGES)).filter(|&p| is_scanned(spec.kind, p));
        render_text_pages(spec, distinct)?
    } else {
        Vec::new()
    };
    let pdfium = pdf::pdfium()?;
    let mut document = pdfium.create_new_pdf().map_err(pdfium_error)?;
    let font = load_font(&mut document, spec)?;
    for number in 1..=spec.pages {
        if !is_scanned(spec.kind, number) {
            add_text_page(&mut document, font, spec.language, number)?;
            continue;
        }
        let distinct = (number - 1) % DISTINCT_PAGES + 1;
        let Some((_, image)) = scanned.iter().find(|(n, _)| *n == distinct) else {
            return Err(SampleError::Pdfium(format!(
                "no rendered image for page {distinct}"
            )));
        };
        let mut pixels = image.pixels.clone();
        let width = image.width as i32;
        let height = image.height as i32;
        let stride = pdf::gray_stride(image.width) as usize;
        let mut padded = vec![0xffu8; stride * image.height as usize];
        for (dst, src) in padded
            .chunks_mut(stride)
            .zip(pixels.chunks(image.width as usize))
        {
            dst[..src.len()].copy_from_slice(src);
        }
        pixels.clear();
        let bitmap = PdfBitmap::from_bytes(width, height, PdfBitmapFormat::Gray, &mut padded)
            .map_err(pdfium_error)?;
        let mut object = PdfPageImageObject::new(&document).map_err(pdfium_error)?;
        object.set_bitmap(&bitmap).map_err(pdfium_error)?;
        object.scale(A4.0, A4.1).map_err(pdfium_error)?;
        let mut page = document
            .pages_mut()
            .create_page_at_end(PdfPagePaperSize::a4())
            .map_err(pdfium_error)?;
        page.objects_mut()
            .add_image_object(object)
            .map_err(pdfium_error)?;
    }
    document.save_to_file(path).map_err(pdfium_error)
}

/// Image-only documents are written directly, page by page, so that a
/// 1,000-page scan is produced in bounded memory; each page is a Flate-compressed
/// DeviceGray image filling an A4 page.
fn write_scanned(path: &Path, spec: &SampleSpec) -> Result<(), SampleError> {
    let distinct = render_text_pages(spec, 1..=spec.pages.min(DISTINCT_PAGES))?;
    let compressed: Vec<(u32, u32, Vec<u8>)> = distinct
        .into_iter()
        .map(|(_, page)| Ok((page.width, page.height, deflate(&page.pixels)?)))
        .collect::<Result<_, SampleError>>()?;
    let mut writer = ImagePdfWriter::create(path)?;
    for number in 1..=spec.pages {
        let (width, height, data) =
            &compressed[((number - 1) % DISTINCT_PAGES) as usize % compressed.len()];
        writer.add_page(A4.0, A4.1, *width, *height, data)?;
    }
    writer.finish()
}

/// Flate-compresses image rows for a PDF stream.
pub fn deflate(data: &[u8]) -> Result<Vec<u8>, SampleError> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(data)
        .map_err(io("compressing a page image"))?;
    encoder.finish().map_err(io("compressing a page image"))
}

/// How a page image is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFilter {
    /// Rows compressed with zlib (see [`deflate`]).
    Flate,
    /// A baseline JPEG file, as scanners write.
    Jpeg,
}

/// A minimal PDF writer for image-only documents: objects are written as pages
/// arrive and the page tree and cross-reference table at the end.
pub struct ImagePdfWriter {
    out: BufWriter<File>,
    path: PathBuf,
    offset: u64,
    offsets: Vec<u64>,
    pages: Vec<u32>,
}

impl ImagePdfWriter {
    const CATALOG: u32 = 1;
    const PAGES: u32 = 2;

    pub fn create(path: &Path) -> Result<Self, SampleError> {
        let file = File::create(path).map_err(io(format!("creating {}", path.display())))?;
        let mut writer = Self {
            out: BufWriter::new(file),
            path: path.to_owned(),
            offset: 0,
            offsets: vec![0; 3],
            pages: Vec::new(),
        };
        writer.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")?;
        writer.object(
            Self::CATALOG,
            format!("<< /Type /Catalog /Pages {} 0 R >>", Self::PAGES).as_bytes(),
        )?;
        Ok(writer)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SampleError> {
        self.out
            .write_all(bytes)
            .map_err(io(format!("writing {}", self.path.display())))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    fn next_id(&mut self) -> u32 {
        self.offsets.push(0);
        (self.offsets.len() - 1) as u32
    }

    fn object(&mut self, id: u32, body: &[u8]) -> Result<(), SampleError> {
        self.offsets[id as usize] = self.offset;
        self.write(format!("{id} 0 obj\n").as_bytes())?;
        self.write(body)?;
        self.write(b"\nendobj\n")
    }

    fn stream(&mut self, id: u32, dict: &str, data: &[u8]) -> Result<(), SampleError> {
        let mut body = format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.object(id, &body)
    }

    /// A page of `width_pt` × `height_pt` points showing a gray image of
    /// `image_width` × `image_height` pixels whose rows are `flate_data`.
    pub fn add_page(
        &mut self,
        width_pt: f32,
        height_pt: f32,
        image_width: u32,
        image_height: u32,
        flate_data: &[u8],
    ) -> Result<(), SampleError> {
        self.add_image_page(
            width_pt,
            height_pt,
            image_width,
            image_height,
            ImageFilter::Flate,
            flate_data,
        )
    }

    /// A page showing a gray image stored as `data` in the `filter` encoding.
    pub fn add_image_page(
        &mut self,
        width_pt: f32,
        height_pt: f32,
        image_width: u32,
        image_height: u32,
        filter: ImageFilter,
        data: &[u8],
    ) -> Result<(), SampleError> {
        let filter = match filter {
            ImageFilter::Flate => "/FlateDecode",
            ImageFilter::Jpeg => "/DCTDecode",
        };
        let (page, content, image) = (self.next_id(), self.next_id(), self.next_id());
        self.stream(
            image,
            &format!(
                "/Type /XObject /Subtype /Image /Width {image_width} /Height {image_height} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter {filter}"
            ),
            data,
        )?;
        let draw = format!("q {width_pt:.3} 0 0 {height_pt:.3} 0 0 cm /Im0 Do Q");
        self.stream(content, "", draw.as_bytes())?;
        self.object(
            page,
            format!(
                "<< /Type /Page /Parent {} 0 R /MediaBox [0 0 {width_pt:.3} {height_pt:.3}] /Resources << /XObject << /Im0 {image} 0 R >> >> /Contents {content} 0 R >>",
                Self::PAGES
            )
            .as_bytes(),
        )?;
        self.pages.push(page);
        Ok(())
    }

    pub fn finish(mut self) -> Result<(), SampleError> {
        let kids: Vec<String> = self.pages.iter().map(|id| format!("{id} 0 R")).collect();
        let tree = format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            self.pages.len()
        );
        self.object(Self::PAGES, tree.as_bytes())?;
        let xref_at = self.offset;
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len());
        for offset in &self.offsets[1..] {
            xref.push_str(&format!("{offset:010} 00000 n \n"));
        }
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root {} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len(),
            Self::CATALOG
        ));
        self.write(xref.as_bytes())?;
        self.out
            .flush()
            .map_err(io(format!("writing {}", self.path.display())))
    }
}

/// Writes a PDF from numbered object bodies (object `i + 1` is `objects[i]`),
/// with a correct cross-reference table; object 1 must be the catalog.
pub fn write_raw_pdf(path: &Path, objects: &[Vec<u8>]) -> Result<(), SampleError> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref_at = out.len();
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        xref.push_str(&format!("{offset:010} 00000 n \n"));
    }
    xref.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
        objects.len() + 1
    ));
    out.extend_from_slice(xref.as_bytes());
    std::fs::write(path, out).map_err(io(format!("writing {}", path.display())))
}

/// The shape of a real-world form that hangs pdfium's form environment: one
/// AcroForm text field with no name (`/T`), shared by two widgets on the same
/// page, with appearances to be generated (`/NeedAppearances`). The page also
/// carries a line of ordinary text, so a reader that skips the form still
/// finds `text` on it.
pub fn write_shared_unnamed_field_pdf(path: &Path, text: &str) -> Result<(), SampleError> {
    let escaped: String = text
        .chars()
        .flat_map(|c| match c {
            '(' | ')' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    let content = format!("BT /F1 14 Tf 72 720 Td ({escaped}) Tj ET");
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] /NeedAppearances true /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv 8 0 R >> >> >> >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 8 0 R >> >> /Annots [6 0 R 7 0 R] >>".to_vec(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes(),
        // The field: a value, kids, and no /T.
        b"<< /FT /Tx /V (shared value) /Kids [6 0 R 7 0 R] /DA (/Helv 12 Tf 0 g) >>".to_vec(),
        b"<< /Type /Annot /Subtype /Widget /Parent 5 0 R /P 3 0 R /Rect [72 600 300 624] /F 4 >>".to_vec(),
        b"<< /Type /Annot /Subtype /Widget /Parent 5 0 R /P 3 0 R /Rect [72 500 300 524] /F 4 >>".to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    write_raw_pdf(path, &objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_texts_are_deterministic_and_cycle() {
        assert_eq!(
            page_lines(SampleLanguage::English, 3),
            page_lines(SampleLanguage::English, 3)
        );
        assert_ne!(
            page_lines(SampleLanguage::English, 3),
            page_lines(SampleLanguage::English, 4)
        );
        assert_eq!(
            page_lines(SampleLanguage::Korean, 2),
            page_lines(SampleLanguage::Korean, 2 + DISTINCT_PAGES)
        );
        assert_eq!(page_lines(SampleLanguage::English, 1).len(), LINES_PER_PAGE);
        assert!(page_text(SampleLanguage::Korean, 1).starts_with("보고서 1쪽\n"));
    }

    #[test]
    fn mixed_documents_alternate() {
        assert!(!is_scanned(SampleKind::Mixed, 1));
        assert!(is_scanned(SampleKind::Mixed, 2));
        assert!(is_scanned(SampleKind::Scanned, 1));
        assert!(!is_scanned(SampleKind::Text, 2));
    }
}
