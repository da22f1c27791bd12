//! The page pipeline's decisions as pure functions: whether a text layer is
//! usable, how large to render a page, how many OCR workers fit the limits.
//! No pdfium, no Tesseract: everything here is unit-tested with plain values.

use pdfx_crd::OcrMode;

/// Characters that mean a text layer is garbage: the replacement character,
/// private-use code points (unmapped glyphs) and control characters.
fn is_garbage(c: char) -> bool {
    c == '\u{FFFD}'
        || ('\u{E000}'..='\u{F8FF}').contains(&c)
        || (c.is_control() && !c.is_whitespace())
}

/// Whether a page's text layer carries real text: at least `min_chars`
/// letters or digits (any script), with garbage under a tenth of the
/// non-space characters. Pages with a stray header or a broken font encoding
/// fail this and get OCR'd instead.
pub fn text_layer_is_usable(text: &str, min_chars: usize) -> bool {
    let mut real = 0usize;
    let mut garbage = 0usize;
    let mut visible = 0usize;
    for c in text.chars() {
        if c.is_whitespace() {
            continue;
        }
        visible += 1;
        if is_garbage(c) {
            garbage += 1;
        } else if c.is_alphanumeric() {
            real += 1;
        }
    }
    real >= min_chars.max(1) && garbage * 10 < visible
}

/// How a page is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageAction {
    TextLayer,
    Ocr,
}

/// The action for a page given the mode and whether its text layer is usable.
pub fn page_action(mode: OcrMode, text_layer_usable: bool) -> PageAction {
    match mode {
        OcrMode::Auto if text_layer_usable => PageAction::TextLayer,
        OcrMode::Auto | OcrMode::Always => PageAction::Ocr,
        OcrMode::Never => PageAction::TextLayer,
    }
}

/// Largest side of a rendered page. Tesseract's image size checks multiply in
/// 32 bits, and no real page needs more.
pub const MAX_RENDER_SIDE: u32 = 20_000;

/// Pixel size of a rendered page and the resolution it corresponds to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderSize {
    pub width: u32,
    pub height: u32,
    /// The resolution actually used: below the requested one when the page was
    /// downscaled to fit the pixel cap. Tesseract needs it to judge text size.
    pub dpi: f32,
}

/// The render size of a `width_pt` × `height_pt` page at `dpi`, downscaled
/// (keeping the aspect ratio) so that it has at most `max_pixels` pixels and no
/// side over [`MAX_RENDER_SIDE`]. Degenerate sizes (zero, negative, NaN) become
/// one point, so nothing here can fail or allocate absurdly.
pub fn render_size(width_pt: f32, height_pt: f32, dpi: u32, max_pixels: u64) -> RenderSize {
    let sane = |v: f32| {
        if v.is_finite() && v >= 1.0 {
            f64::from(v)
        } else {
            1.0
        }
    };
    let (w_pt, h_pt) = (sane(width_pt), sane(height_pt));
    let mut dpi = f64::from(dpi.max(1));
    let px = |pt: f64, dpi: f64| (pt * dpi / 72.0).round().max(1.0);
    let (w, h) = (px(w_pt, dpi), px(h_pt, dpi));
    let max_pixels = max_pixels.max(1) as f64;
    let mut scale: f64 = 1.0;
    if w * h > max_pixels {
        scale = scale.min((max_pixels / (w * h)).sqrt());
    }
    let side = f64::from(MAX_RENDER_SIDE);
    if w.max(h) * scale > side {
        scale = scale.min(side / w.max(h));
    }
    dpi *= scale;
    // After downscaling, rounding up could overshoot the cap by a row or column.
    let fit = |pt: f64| {
        let exact = pt * dpi / 72.0;
        let px = if scale < 1.0 {
            exact.floor()
        } else {
            exact.round()
        };
        px.max(1.0).min(side) as u32
    };
    RenderSize {
        width: fit(w_pt),
        height: fit(h_pt),
        dpi: dpi as f32,
    }
}

/// Resource limits of the process's cgroup (None: unlimited or unknown).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    pub cpus: Option<f64>,
    pub memory_bytes: Option<u64>,
}

/// Memory a worker needs beyond the process's base, and the base itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryModel {
    pub base_bytes: u64,
    pub per_worker_bytes: u64,
}

impl MemoryModel {
    /// The memory a run needs when pages render to `pixels` pixels: the base
    /// holds the process and its pdfium child (with the child's BGR scratch,
    /// 3 bytes a pixel, and a gray buffer); each worker its engine (models
    /// included), the two single-language engines it loads to re-read words,
    /// its scaled and deskewed copies of the page (2 bytes a pixel) and
    /// Tesseract's working copies (about 9 bytes a pixel). Measured: see the
    /// README ("worker count"); the model errs on the side of fewer workers.
    pub fn for_pixels(pixels: u64) -> Self {
        Self {
            base_bytes: (80 << 20) + 4 * pixels,
            per_worker_bytes: (100 << 20) + 11 * pixels,
        }
    }
}

/// Number of OCR workers: one per CPU the cgroup allows (at least one), but no
/// more than fit into the memory limit with the model's per-worker cost, and
/// no more than the machine has cores.
pub fn choose_workers(limits: Limits, available_cores: usize, model: MemoryModel) -> usize {
    let cores = available_cores.max(1);
    let by_cpu = limits
        .cpus
        .map_or(cores, |c| (c.floor() as usize).clamp(1, cores));
    let by_memory = limits.memory_bytes.map_or(usize::MAX, |limit| {
        let spare = limit.saturating_sub(model.base_bytes);
        usize::try_from(spare / model.per_worker_bytes.max(1))
            .unwrap_or(usize::MAX)
            .max(1)
    });
    by_cpu.min(by_memory).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_layers_need_enough_real_characters() {
        assert!(text_layer_is_usable("The quick brown fox jumps", 10));
        assert!(text_layer_is_usable(
            "대한민국 헌법 제1조 대한민국은 민주공화국이다",
            10
        ));
        assert!(!text_layer_is_usable("   \n\n  ", 10));
        assert!(!text_layer_is_usable("Page 3", 10));
        assert!(!text_layer_is_usable("", 1));
    }

    #[test]
    fn garbage_text_layers_are_ocrd() {
        let garbage: String = std::iter::repeat_n('\u{E001}', 30)
            .chain("abcdefghijkl".chars())
            .collect();
        assert!(!text_layer_is_usable(&garbage, 10));
        let replacement: String = "abcdefghijklmnop"
            .chars()
            .chain(std::iter::repeat_n('\u{FFFD}', 5))
            .collect();
        assert!(!text_layer_is_usable(&replacement, 10));
        let one_bad = "abcdefghijklmnopqrstu\u{FFFD}";
        assert!(text_layer_is_usable(one_bad, 10));
    }

    #[test]
    fn modes_decide_the_action() {
        assert_eq!(page_action(OcrMode::Auto, true), PageAction::TextLayer);
        assert_eq!(page_action(OcrMode::Auto, false), PageAction::Ocr);
        assert_eq!(page_action(OcrMode::Always, true), PageAction::Ocr);
        assert_eq!(page_action(OcrMode::Never, false), PageAction::TextLayer);
    }

    #[test]
    fn a4_at_300_dpi_is_2480_by_3508() {
        let size = render_size(595.276, 841.89, 300, 40_000_000);
        assert_eq!((size.width, size.height), (2480, 3508));
        assert_eq!(size.dpi, 300.0);
    }

    #[test]
    fn huge_pages_are_downscaled_to_the_pixel_cap() {
        // A 200 x 200 inch page at 300 DPI would be 3.6 gigapixels.
        let size = render_size(14_400.0, 14_400.0, 300, 25_000_000);
        assert!(
            u64::from(size.width) * u64::from(size.height) <= 25_000_000,
            "{size:?}"
        );
        assert!(size.width >= 4999 && size.dpi < 300.0, "{size:?}");
        // A 1 x 5000 point strip hits the side cap, not the pixel cap.
        let strip = render_size(72.0, 360_000.0, 300, u64::MAX);
        assert!(strip.height <= MAX_RENDER_SIDE, "{strip:?}");
    }

    #[test]
    fn degenerate_sizes_do_not_fail() {
        for (w, h) in [(0.0, 0.0), (-5.0, 10.0), (f32::NAN, f32::INFINITY)] {
            let size = render_size(w, h, 300, 25_000_000);
            assert!(size.width >= 1 && size.height >= 1, "{size:?}");
        }
    }

    #[test]
    fn bigger_pages_mean_fewer_workers_for_the_same_memory() {
        let a4_300 = MemoryModel::for_pixels(2480 * 3508);
        let capped = MemoryModel::for_pixels(25_000_000);
        let limits = Limits {
            cpus: Some(8.0),
            memory_bytes: Some(1 << 30),
        };
        assert!(choose_workers(limits, 8, a4_300) > choose_workers(limits, 8, capped));
        // Issue 14's re-reading engines and page copies cost a worker here.
        assert_eq!(choose_workers(limits, 8, capped), 2);
    }

    #[test]
    fn workers_follow_cpu_and_memory_limits() {
        let model = MemoryModel {
            base_bytes: 100 << 20,
            per_worker_bytes: 200 << 20,
        };
        assert_eq!(choose_workers(Limits::default(), 2, model), 2);
        assert_eq!(
            choose_workers(
                Limits {
                    cpus: Some(4.0),
                    memory_bytes: None
                },
                2,
                model
            ),
            2
        );
        assert_eq!(
            choose_workers(
                Limits {
                    cpus: Some(0.5),
                    memory_bytes: None
                },
                8,
                model
            ),
            1
        );
        assert_eq!(
            choose_workers(
                Limits {
                    cpus: Some(8.0),
                    memory_bytes: Some(512 << 20)
                },
                8,
                model
            ),
            2
        );
        assert_eq!(
            choose_workers(
                Limits {
                    cpus: None,
                    memory_bytes: Some(64 << 20)
                },
                8,
                model
            ),
            1
        );
    }
}
