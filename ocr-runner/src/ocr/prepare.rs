//! Page images prepared for Tesseract: measuring the height of the text and
//! scaling the page so that its lines reach the height Tesseract's LSTM
//! models read best, whatever the render resolution.
//!
//! Tesseract normalises every text line to a fixed height (36 px for the
//! models Debian ships) before recognising it, so pixels beyond what that needs
//! only cost time in binarisation and layout analysis, and large glyphs are
//! segmented worse. A page of 10–12 pt text rendered at 300 DPI has lines of
//! ~45 px of ink; of 24 pt, ~95 px.

/// Gray level below which a pixel counts as ink when measuring lines.
fn ink_threshold(pixels: &[u8], width: usize, height: usize, stride: usize) -> u8 {
    // Otsu's threshold over a sample of the page (every 4th pixel of every 4th row).
    let mut histogram = [0u64; 256];
    for row in pixels.chunks(stride).take(height).step_by(4) {
        for &p in row[..width.min(row.len())].iter().step_by(4) {
            histogram[p as usize] += 1;
        }
    }
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return 128;
    }
    let sum_all: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut weight_bg, mut sum_bg) = (0f64, 0f64);
    let (mut best, mut best_between) = (128u8, -1f64);
    for (level, &count) in histogram.iter().enumerate() {
        weight_bg += count as f64;
        if weight_bg == 0.0 {
            continue;
        }
        let weight_fg = total as f64 - weight_bg;
        if weight_fg == 0.0 {
            break;
        }
        sum_bg += level as f64 * count as f64;
        let mean_bg = sum_bg / weight_bg;
        let mean_fg = (sum_all - sum_bg) / weight_fg;
        let between = weight_bg * weight_fg * (mean_bg - mean_fg).powi(2);
        if between > best_between {
            best_between = between;
            best = level as u8;
        }
    }
    best
}

/// The typical height in pixels of a text line's ink (ascenders to
/// descenders), or `None` when the page shows no text lines.
///
/// The page is cut into vertical strips narrow enough that a slightly
/// rotated line stays level within one; in each strip, runs of rows holding
/// ink are the lines, and the median run over all strips is the answer.
/// Runs shorter than `min_run` rows (specks, rules) are ignored.
pub fn line_height(pixels: &[u8], width: usize, height: usize, stride: usize) -> Option<f32> {
    const STRIP: usize = 192;
    if width < 16 || height < 16 {
        return None;
    }
    let threshold = ink_threshold(pixels, width, height, stride);
    let min_run = (height / 600).max(5);
    let max_run = height / 4;
    let mut runs: Vec<u32> = Vec::new();
    let mut counts = vec![0u16; height];
    for x0 in (0..width).step_by(STRIP) {
        let x1 = (x0 + STRIP).min(width);
        for (y, count) in counts.iter_mut().enumerate() {
            let row = &pixels[y * stride + x0..y * stride + x1];
            *count = row.iter().filter(|&&p| p < threshold).count() as u16;
        }
        // A row belongs to a line when it holds more ink than a speck leaves.
        let mut run = 0usize;
        for &count in counts.iter().chain(std::iter::once(&0)) {
            if count >= 2 {
                run += 1;
            } else {
                if run >= min_run && run <= max_run {
                    runs.push(run as u32);
                }
                run = 0;
            }
        }
    }
    if runs.len() < 3 {
        return None;
    }
    runs.sort_unstable();
    Some(runs[runs.len() / 2] as f32)
}

/// The scale (at most 1) that brings lines of `line_px` pixels to `target_px`,
/// never below `min_scale`.
pub fn scale_for(line_px: Option<f32>, target_px: f32, min_scale: f32) -> f32 {
    match line_px {
        Some(h) if h > target_px => (target_px / h).clamp(min_scale, 1.0),
        _ => 1.0,
    }
}

/// Fixed-point weights of [`downscale`]: every output pixel's weights add up to this.
const WEIGHT_ONE: u32 = 256;

/// For each of `n_out` output pixels along one axis, the first input pixel it
/// covers and the share of each covered pixel, in units of [`WEIGHT_ONE`]
/// (summing to exactly that), appended to `weights`.
fn area_spans(n_out: usize, n_in: usize, weights: &mut Vec<u16>) -> Vec<(usize, usize, usize)> {
    let factor = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|i| {
            let start = i as f64 * factor;
            let end = ((i + 1) as f64 * factor).min(n_in as f64);
            let first = start.floor() as usize;
            let last = (end.ceil() as usize).min(n_in).max(first + 1);
            let covered = |j: usize| ((j + 1) as f64).min(end) - (j as f64).max(start);
            let total: f64 = (first..last).map(covered).sum::<f64>().max(1e-9);
            let at = weights.len();
            weights.extend(
                (first..last)
                    .map(|j| (covered(j).max(0.0) / total * f64::from(WEIGHT_ONE)).round() as u16),
            );
            // Rounding may leave the sum a unit off; the largest share absorbs it.
            let taps = &mut weights[at..];
            let sum: u32 = taps.iter().map(|&w| u32::from(w)).sum();
            if let Some(largest) = taps.iter_mut().max() {
                *largest = (u32::from(*largest) + WEIGHT_ONE).saturating_sub(sum) as u16;
            }
            (first, at, last - first)
        })
        .collect()
}

/// Downscales 8-bit gray rows by `scale` (0 < scale ≤ 1) with area
/// averaging, into `out` (packed rows, stride = width), using `scratch` for
/// the intermediate row. Returns (width, height).
///
/// In fixed point: a page is tens of millions of pixels, and floating-point
/// resampling cost as much as a tenth of the time Tesseract spent on it.
pub fn downscale(
    pixels: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    scale: f32,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u32>,
) -> (usize, usize) {
    let new_w = ((width as f32 * scale).round() as usize).clamp(1, width.max(1));
    let new_h = ((height as f32 * scale).round() as usize).clamp(1, height.max(1));
    let mut weights = Vec::new();
    let xs = area_spans(new_w, width, &mut weights);
    let ys = area_spans(new_h, height, &mut weights);
    // Vertical pass first, a whole row at a time so that the inner loop
    // vectorises over the full-resolution pixels: one row of `width` values
    // scaled by WEIGHT_ONE, then the horizontal pass over it.
    out.clear();
    out.reserve(new_w * new_h);
    let half = WEIGHT_ONE * WEIGHT_ONE / 2;
    for &(first, at, taps) in &ys {
        scratch.clear();
        scratch.resize(width, 0);
        for (k, &w) in weights[at..at + taps].iter().enumerate() {
            let row = &pixels[(first + k) * stride..(first + k) * stride + width];
            for (sum, &p) in scratch.iter_mut().zip(row) {
                *sum += u32::from(p) * u32::from(w);
            }
        }
        out.extend(xs.iter().map(|&(first, at, taps)| {
            let sum: u32 = scratch[first..first + taps]
                .iter()
                .zip(&weights[at..at + taps])
                .map(|(&v, &w)| v * u32::from(w))
                .sum();
            ((sum + half) / (WEIGHT_ONE * WEIGHT_ONE)).min(255) as u8
        }));
    }
    (new_w, new_h)
}

/// A packed 8-bit gray image (stride = width).
pub struct Gray<'a> {
    pub pixels: &'a [u8],
    pub width: usize,
    pub height: usize,
}

/// The skew of the text in degrees (positive: lines rise to the right), found
/// as the shear that makes the rows' ink profile sharpest, within ±`max_deg`.
/// Measured on a 4× reduced ink map, so it costs a few milliseconds.
pub fn skew_angle(image: &Gray<'_>, threshold: u8, max_deg: f32) -> f32 {
    const REDUCE: usize = 4;
    let (w, h) = (image.width / REDUCE, image.height / REDUCE);
    if w < 8 || h < 8 {
        return 0.0;
    }
    let mut ink: Vec<(f32, f32)> = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let p = image.pixels[(y * REDUCE) * image.width + x * REDUCE];
            if p < threshold {
                ink.push((x as f32, y as f32));
            }
        }
    }
    if ink.len() < 50 {
        return 0.0;
    }
    let score = |deg: f32| -> f64 {
        let t = deg.to_radians().tan();
        let mut rows = vec![0u32; h * 2 + w];
        let offset = (w as f32 * max_deg.to_radians().tan()).ceil() + 1.0;
        for &(x, y) in &ink {
            let r = (y + x * t + offset).round();
            if r >= 0.0 && (r as usize) < rows.len() {
                rows[r as usize] += 1;
            }
        }
        rows.iter().map(|&c| f64::from(c) * f64::from(c)).sum()
    };
    let mut best = (0.0f32, score(0.0));
    let mut step = 0.2f32;
    let mut centre = 0.0f32;
    while step >= 0.025 {
        for k in -5..=5 {
            let deg = centre + k as f32 * step;
            if deg.abs() > max_deg {
                continue;
            }
            let s = score(deg);
            if s > best.1 * 1.000_001 {
                best = (deg, s);
            }
        }
        centre = best.0;
        step /= 4.0;
    }
    best.0
}

/// Rotates by `-deg` about the centre (undoing a skew of `deg` as measured by
/// [`skew_angle`]), bilinear, uncovered pixels white; into `out`.
///
/// The source position advances by a constant step along each output row, so
/// it is tracked in 16.16 fixed point and interpolated with 8-bit weights.
pub fn deskew(image: &Gray<'_>, deg: f32, out: &mut Vec<u8>) {
    const ONE: i64 = 1 << 16;
    let (w, h) = (image.width, image.height);
    out.clear();
    out.resize(w * h, 255);
    if w < 2 || h < 2 {
        out.copy_from_slice(&image.pixels[..w * h]);
        return;
    }
    let (sin, cos) = f64::from(deg).to_radians().sin_cos();
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let fixed = |v: f64| (v * ONE as f64).round() as i64;
    let (step_x, step_y) = (fixed(cos), fixed(-sin));
    let (max_x, max_y) = ((w as i64 - 1) * ONE, (h as i64 - 1) * ONE);
    let src = image.pixels;
    for (y, out_row) in out.chunks_exact_mut(w).enumerate() {
        let dy = y as f64 - cy;
        // The source of output (0, y): rotate back by the skew.
        let mut sx = fixed(-cos * cx + sin * dy + cx);
        let mut sy = fixed(sin * cx + cos * dy + cy);
        for o in out_row.iter_mut() {
            if sx >= 0 && sy >= 0 && sx < max_x && sy < max_y {
                let (x0, y0) = ((sx >> 16) as usize, (sy >> 16) as usize);
                let (fx, fy) = ((sx >> 8) & 0xff, (sy >> 8) & 0xff);
                let i = y0 * w + x0;
                let p = |i: usize| i64::from(src[i]);
                let top = p(i) * 256 + (p(i + 1) - p(i)) * fx;
                let bottom = p(i + w) * 256 + (p(i + w + 1) - p(i + w)) * fx;
                let v = top * 256 + (bottom - top) * fy;
                *o = ((v + (1 << 15)) >> 16).clamp(0, 255) as u8;
            }
            sx += step_x;
            sy += step_y;
        }
    }
}

/// A rectangle of the page to recognise on its own, in reading order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub left: usize,
    pub top: usize,
    pub width: usize,
    pub height: usize,
}

/// Copies `region` of the rows of `pixels` (`stride` bytes apart) into
/// `out` as packed rows (stride = the region's width).
pub fn copy_region(pixels: &[u8], stride: usize, region: Region, out: &mut Vec<u8>) {
    out.clear();
    for row in pixels.chunks(stride).skip(region.top).take(region.height) {
        out.extend_from_slice(&row[region.left..region.left + region.width]);
    }
}

/// Ink map helpers for [`regions`].
fn ink_rows(image: &Gray<'_>, threshold: u8, x0: usize, x1: usize) -> Vec<u32> {
    (0..image.height)
        .map(|y| {
            image.pixels[y * image.width + x0..y * image.width + x1]
                .iter()
                .filter(|&&p| p < threshold)
                .count() as u32
        })
        .collect()
}

/// Splits a page into the regions Tesseract should read one after another:
/// the whole page, or, when the text stands in two columns (one vertical
/// gutter near the middle, wide text on both sides), bands of full-width
/// lines (titles) and, between them, the left column and then the right one.
/// Tables (several gutters, narrow columns) and indented lists stay whole.
pub fn regions(image: &Gray<'_>, threshold: u8, line_px: f32) -> Vec<Region> {
    let (w, h) = (image.width, image.height);
    let whole = vec![Region {
        left: 0,
        top: 0,
        width: w,
        height: h,
    }];
    let rows = ink_rows(image, threshold, 0, w);
    let text_rows: Vec<usize> = (0..h).filter(|&y| rows[y] >= 3).collect();
    let (Some(&top), Some(&bottom)) = (text_rows.first(), text_rows.last()) else {
        return whole;
    };
    // For each x, the number of text lines with ink there: a gutter is crossed
    // by a title or two at most, however large their type.
    let mut cols = vec![0u32; w];
    let mut lines = 0u32;
    let mut inked = vec![false; w];
    let mut y = top;
    while y <= bottom {
        if rows[y] < 3 {
            y += 1;
            continue;
        }
        inked.iter_mut().for_each(|v| *v = false);
        while y <= bottom && rows[y] >= 3 {
            for (x, v) in inked.iter_mut().enumerate() {
                if image.pixels[y * w + x] < threshold {
                    *v = true;
                }
            }
            y += 1;
        }
        lines += 1;
        for (c, &v) in cols.iter_mut().zip(&inked) {
            *c += u32::from(v);
        }
    }
    let quiet = (lines / 20).max(2);
    let (Some(left), Some(right)) = (
        cols.iter().position(|&c| c > quiet),
        cols.iter().rposition(|&c| c > quiet),
    ) else {
        return whole;
    };
    let text_width = right - left;
    let min_gutter = (line_px * 0.9).max(12.0) as usize;
    let mut gutters = Vec::new();
    let mut x = left;
    while x < right {
        if cols[x] <= quiet {
            let start = x;
            while x < right && cols[x] <= quiet {
                x += 1;
            }
            if x - start >= min_gutter {
                gutters.push((start, x));
            }
        }
        x += 1;
    }
    let [(g0, g1)] = gutters[..] else {
        return whole;
    };
    if (g0 - left) * 10 < text_width * 3 || (right - g1) * 10 < text_width * 3 {
        return whole;
    }
    // Lines are runs of inked rows; one with ink in the gutter spans both columns.
    let gutter_rows = ink_rows(image, threshold, g0, g1);
    let mid = (g0 + g1) / 2;
    let mut out = Vec::new();
    let mut split_from: Option<usize> = None;
    let mut y = top;
    let flush = |out: &mut Vec<Region>, from: usize, to: usize| {
        if to > from {
            out.push(Region {
                left: 0,
                top: from,
                width: mid,
                height: to - from,
            });
            out.push(Region {
                left: mid,
                top: from,
                width: w - mid,
                height: to - from,
            });
        }
    };
    while y <= bottom {
        if rows[y] < 3 {
            y += 1;
            continue;
        }
        let start = y;
        while y <= bottom && rows[y] >= 3 {
            y += 1;
        }
        // Ink across most of the gutter's width (a title), not a speck in it
        // or the end of a long line reaching into it.
        let inked = (g0..g1)
            .filter(|&x| (start..y).any(|yy| image.pixels[yy * w + x] < threshold))
            .count();
        let spans = gutter_rows[start..y].iter().any(|&c| c > 0) && inked * 2 >= g1 - g0;
        if spans {
            if let Some(from) = split_from.take() {
                flush(&mut out, from, start);
            }
            let (t, b) = (start.saturating_sub(4), (y + 4).min(h));
            out.push(Region {
                left: 0,
                top: t,
                width: w,
                height: b - t,
            });
        } else if split_from.is_none() {
            split_from = Some(start.saturating_sub(4));
        }
    }
    if let Some(from) = split_from {
        flush(&mut out, from, (bottom + 5).min(h));
    }
    if out.is_empty() { whole } else { out }
}

/// [`ink_threshold`] for packed images.
pub fn threshold(image: &Gray<'_>) -> u8 {
    ink_threshold(image.pixels, image.width, image.height, image.width)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page of `lines` black bars `h` rows high every `pitch` rows, with gaps between words.
    fn page(width: usize, height: usize, h: usize, pitch: usize) -> Vec<u8> {
        let mut pixels = vec![235u8; width * height];
        let mut top = 100;
        while top + h < height - 100 {
            for y in top..top + h {
                for x in 100..width - 100 {
                    if (x / 37) % 5 != 4 && x % 3 != 0 {
                        // Two ink levels, as anti-aliased print has.
                        pixels[y * width + x] = if x % 9 == 1 { 60 } else { 30 };
                    }
                }
            }
            top += pitch;
        }
        pixels
    }

    #[test]
    fn a_skew_is_measured_and_undone() {
        let (w, h) = (800, 600);
        let straight = page(w, h, 20, 40);
        let image = Gray {
            pixels: &straight,
            width: w,
            height: h,
        };
        assert!(skew_angle(&image, 128, 1.5).abs() < 0.05);
        // Skew it by rotating with the inverse of deskew.
        let mut skewed = Vec::new();
        deskew(&image, -0.8, &mut skewed);
        let skewed_image = Gray {
            pixels: &skewed,
            width: w,
            height: h,
        };
        let angle = skew_angle(&skewed_image, 128, 1.5);
        assert!((angle - 0.8).abs() < 0.1, "{angle}");
        let mut fixed = Vec::new();
        deskew(&skewed_image, angle, &mut fixed);
        let fixed_image = Gray {
            pixels: &fixed,
            width: w,
            height: h,
        };
        assert!(skew_angle(&fixed_image, 128, 1.5).abs() < 0.1);
    }

    #[test]
    fn two_columns_are_read_one_after_the_other() {
        let (w, h) = (1000, 800);
        let mut pixels = vec![240u8; w * h];
        for top in (100..700).step_by(40) {
            for y in top..top + 20 {
                for x in (60..460).chain(540..940) {
                    if x % 7 != 0 {
                        pixels[y * w + x] = 20;
                    }
                }
            }
        }
        // A title across both columns.
        for y in 40..70 {
            for x in 60..940 {
                if x % 5 != 0 {
                    pixels[y * w + x] = 20;
                }
            }
        }
        let image = Gray {
            pixels: &pixels,
            width: w,
            height: h,
        };
        let found = regions(&image, 128, 20.0);
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].width, w);
        assert!(found[1].left == 0 && found[1].width <= 500 && found[1].top >= 70);
        assert!(found[2].left >= 460 && found[2].top == found[1].top);
        // One column with an indented block stays whole.
        let single = page(w, h, 20, 40);
        let image = Gray {
            pixels: &single,
            width: w,
            height: h,
        };
        assert_eq!(regions(&image, 128, 20.0).len(), 1);
    }

    #[test]
    fn line_heights_are_measured() {
        let pixels = page(1200, 1600, 46, 70);
        let h = line_height(&pixels, 1200, 1600, 1200);
        assert_eq!(h, Some(46.0));
        assert_eq!(line_height(&vec![240u8; 400 * 400], 400, 400, 400), None);
    }

    #[test]
    fn scales_bring_lines_to_the_target_but_never_enlarge() {
        assert_eq!(scale_for(Some(46.0), 23.0, 0.3), 0.5);
        assert_eq!(scale_for(Some(20.0), 30.0, 0.3), 1.0);
        assert_eq!(scale_for(Some(400.0), 30.0, 0.3), 0.3);
        assert_eq!(scale_for(None, 30.0, 0.3), 1.0);
    }

    #[test]
    fn downscaling_averages_areas() {
        let pixels = [0u8, 255, 0, 255, 0, 255, 0, 255];
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        let (w, h) = downscale(&pixels, 4, 2, 4, 0.5, &mut out, &mut scratch);
        assert_eq!((w, h), (2, 1));
        assert!(out.iter().all(|&v| (127..=128).contains(&v)), "{out:?}");
        let (w, h) = downscale(&pixels, 4, 2, 4, 1.0, &mut out, &mut scratch);
        assert_eq!((w, h, out.as_slice()), (4, 2, &pixels[..]));
        // At a scale that does not divide the page, flat areas stay exactly
        // flat and a ramp stays a ramp (each output is its area's mean).
        let (width, height) = (997, 31);
        let ramp: Vec<u8> = (0..height)
            .flat_map(|_| (0..width).map(|x| (x * 255 / (width - 1)) as u8))
            .collect();
        let (w, h) = downscale(&ramp, width, height, width, 0.59, &mut out, &mut scratch);
        assert_eq!((w, h), (588, 18));
        for row in out.chunks(w) {
            for (x, &v) in row.iter().enumerate() {
                let centre = (x as f64 + 0.5) * width as f64 / w as f64;
                let expected = centre * 255.0 / (width - 1) as f64;
                assert!(
                    (f64::from(v) - expected).abs() <= 1.5,
                    "{x}: {v} vs {expected}"
                );
            }
        }
        let flat = vec![201u8; width * height];
        downscale(&flat, width, height, width, 0.37, &mut out, &mut scratch);
        assert!(out.iter().all(|&v| v == 201));
    }

    #[test]
    fn deskewing_by_nothing_changes_nothing() {
        let pixels = page(400, 400, 12, 30);
        let image = Gray {
            pixels: &pixels,
            width: 400,
            height: 400,
        };
        let mut out = Vec::new();
        deskew(&image, 0.0, &mut out);
        let inside = |v: &[u8]| -> Vec<u8> {
            v.chunks(400)
                .take(399)
                .flat_map(|r| r[..399].to_vec())
                .collect()
        };
        assert!(pixels.iter().any(|&p| p < 100));
        assert_eq!(inside(&out), inside(&pixels));
    }
}
