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

/// Downscales 8-bit gray rows by `scale` (0 < scale ≤ 1) with area
/// averaging, into `out` (packed rows, stride = width). Returns (width, height).
pub fn downscale(
    pixels: &[u8],
    width: usize,
    height: usize,
    stride: usize,
    scale: f32,
    out: &mut Vec<u8>,
) -> (usize, usize) {
    let new_w = ((width as f32 * scale).round() as usize).max(1);
    let new_h = ((height as f32 * scale).round() as usize).max(1);
    let (fx, fy) = (width as f32 / new_w as f32, height as f32 / new_h as f32);
    // Horizontal pass into a float buffer of new_w × height, then vertical.
    let spans = |n_out: usize, factor: f32, n_in: usize| -> Vec<(usize, usize, Vec<f32>)> {
        (0..n_out)
            .map(|i| {
                let start = i as f32 * factor;
                let end = ((i + 1) as f32 * factor).min(n_in as f32);
                let first = start.floor() as usize;
                let last = (end.ceil() as usize).min(n_in).max(first + 1);
                let weights: Vec<f32> = (first..last)
                    .map(|j| {
                        let lo = (j as f32).max(start);
                        let hi = ((j + 1) as f32).min(end);
                        (hi - lo).max(0.0)
                    })
                    .collect();
                let sum: f32 = weights.iter().sum::<f32>().max(1e-6);
                (first, last, weights.into_iter().map(|w| w / sum).collect())
            })
            .collect()
    };
    let xs = spans(new_w, fx, width);
    let ys = spans(new_h, fy, height);
    let mut tmp = vec![0f32; new_w * height];
    for y in 0..height {
        let row = &pixels[y * stride..y * stride + width];
        let out_row = &mut tmp[y * new_w..(y + 1) * new_w];
        for (o, (first, _, weights)) in out_row.iter_mut().zip(&xs) {
            *o = weights
                .iter()
                .enumerate()
                .map(|(k, w)| f32::from(row[first + k]) * w)
                .sum();
        }
    }
    out.clear();
    out.resize(new_w * new_h, 0);
    for (y, (first, _, weights)) in ys.iter().enumerate() {
        let out_row = &mut out[y * new_w..(y + 1) * new_w];
        for (x, o) in out_row.iter_mut().enumerate() {
            let v: f32 = weights
                .iter()
                .enumerate()
                .map(|(k, w)| tmp[(first + k) * new_w + x] * w)
                .sum();
            *o = v.round().clamp(0.0, 255.0) as u8;
        }
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
pub fn deskew(image: &Gray<'_>, deg: f32, out: &mut Vec<u8>) {
    let (w, h) = (image.width, image.height);
    let (sin, cos) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    out.clear();
    out.resize(w * h, 255);
    let src = image.pixels;
    for y in 0..h {
        let dy = y as f32 - cy;
        for x in 0..w {
            let dx = x as f32 - cx;
            // The source of output (x, y): rotate back by the skew.
            let sx = cos * dx + sin * dy + cx;
            let sy = -sin * dx + cos * dy + cy;
            if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f32 || sy >= (h - 1) as f32 {
                continue;
            }
            let (x0, y0) = (sx as usize, sy as usize);
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let i = y0 * w + x0;
            let p = |i: usize| f32::from(src[i]);
            let top = p(i) + (p(i + 1) - p(i)) * fx;
            let bottom = p(i + w) + (p(i + w + 1) - p(i + w)) * fx;
            out[y * w + x] = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
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
        let mut out = Vec::new();
        let (w, h) = downscale(&pixels, 4, 2, 4, 0.5, &mut out);
        assert_eq!((w, h), (2, 1));
        assert!(out.iter().all(|&v| (127..=128).contains(&v)), "{out:?}");
        let (w, h) = downscale(&pixels, 4, 2, 4, 1.0, &mut out);
        assert_eq!((w, h, out.as_slice()), (4, 2, &pixels[..]));
    }
}
