//! What a flatbed scanner and an office printer do to a clean page: paper that
//! is not white and not evenly lit, ink that is not black, a slight rotation,
//! optical blur, dust specks, sensor noise, and JPEG compression at quality 75.

use super::Rng;

/// The degradations of one page, drawn from a seeded [`Rng`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Degradation {
    /// Gaussian blur, standard deviation in pixels (0.5–1.1).
    pub blur_sigma: f32,
    /// Additive Gaussian noise, standard deviation in gray levels (3–6).
    pub noise_sigma: f32,
    /// Rotation in degrees (within ±1).
    pub rotation_deg: f32,
    /// Mean paper gray level and the amplitude of its uneven lighting.
    pub paper: f32,
    pub paper_unevenness: f32,
    /// Gray level of full ink coverage.
    pub ink: f32,
    /// Number of dust specks.
    pub specks: u32,
    pub jpeg_quality: u8,
}

impl Degradation {
    pub fn draw(rng: &mut Rng) -> Self {
        Self {
            blur_sigma: rng.range(0.5, 1.1) as f32,
            noise_sigma: rng.range(3.0, 6.0) as f32,
            rotation_deg: rng.range(-1.0, 1.0) as f32,
            paper: rng.range(222.0, 248.0) as f32,
            paper_unevenness: rng.range(4.0, 18.0) as f32,
            ink: rng.range(12.0, 55.0) as f32,
            specks: 15 + rng.below(110) as u32,
            jpeg_quality: 75,
        }
    }
}

/// A gray image as floating-point levels 0–255, rows packed.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

impl Canvas {
    /// From 8-bit gray rows `stride` bytes apart, treated as ink coverage
    /// (255 = no ink) over paper.
    pub fn from_gray(gray: &[u8], width: usize, height: usize, stride: usize) -> Self {
        let mut pixels = Vec::with_capacity(width * height);
        for row in gray.chunks(stride).take(height) {
            pixels.extend(row[..width].iter().map(|&v| f32::from(v)));
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    pub fn to_gray(&self) -> Vec<u8> {
        self.pixels
            .iter()
            .map(|&v| v.round().clamp(0.0, 255.0) as u8)
            .collect()
    }
}

/// Applies every degradation but the JPEG compression.
pub fn degrade(canvas: &mut Canvas, d: &Degradation, rng: &mut Rng) {
    specks(canvas, d.specks, rng);
    ink_on_paper(canvas, d, rng);
    rotate(canvas, d.rotation_deg, d.paper);
    blur(canvas, d.blur_sigma);
    noise(canvas, d.noise_sigma, rng);
}

/// Maps clean coverage to ink on unevenly lit paper: a smooth field of a few
/// low-frequency waves and a gradient, as a lid that does not close flat gives.
fn ink_on_paper(canvas: &mut Canvas, d: &Degradation, rng: &mut Rng) {
    let (w, h) = (canvas.width as f32, canvas.height as f32);
    let waves: Vec<(f32, f32, f32, f32)> = (0..3)
        .map(|_| {
            (
                rng.range(0.3, 1.6) as f32 * std::f32::consts::TAU / w,
                rng.range(0.3, 1.6) as f32 * std::f32::consts::TAU / h,
                rng.range(0.0, std::f64::consts::TAU) as f32,
                rng.range(0.3, 1.0) as f32,
            )
        })
        .collect();
    let gradient = (rng.range(-1.0, 1.0) as f32, rng.range(-1.0, 1.0) as f32);
    let norm: f32 = waves.iter().map(|w| w.3).sum::<f32>() + 1.0;
    for y in 0..canvas.height {
        let fy = y as f32;
        let row = &mut canvas.pixels[y * canvas.width..(y + 1) * canvas.width];
        // Evaluated every 8 pixels and held: the field is far smoother than that.
        let mut light = 0.0;
        for (x, value) in row.iter_mut().enumerate() {
            if x % 8 == 0 {
                let fx = x as f32;
                let mut field = gradient.0 * (fx / w - 0.5) + gradient.1 * (fy / h - 0.5);
                for &(kx, ky, phase, amplitude) in &waves {
                    field += amplitude * (kx * fx + ky * fy + phase).sin();
                }
                light = d.paper + d.paper_unevenness * field / norm;
            }
            let coverage = 1.0 - *value / 255.0;
            *value = light + (d.ink - light) * coverage;
        }
    }
}

/// Dark dust specks and a few light ones, 1–5 pixels across, drawn as coverage.
fn specks(canvas: &mut Canvas, count: u32, rng: &mut Rng) {
    for _ in 0..count {
        let cx = rng.range(0.0, canvas.width as f64) as f32;
        let cy = rng.range(0.0, canvas.height as f64) as f32;
        let radius = rng.range(0.5, 2.5) as f32;
        let level = rng.range(0.0, 170.0) as f32;
        let r = radius.ceil() as i64 + 1;
        for dy in -r..=r {
            for dx in -r..=r {
                let (x, y) = (cx as i64 + dx, cy as i64 + dy);
                if x < 0 || y < 0 || x >= canvas.width as i64 || y >= canvas.height as i64 {
                    continue;
                }
                let dist = ((dx * dx + dy * dy) as f32).sqrt();
                if dist <= radius {
                    let p = &mut canvas.pixels[y as usize * canvas.width + x as usize];
                    *p = p.min(level);
                }
            }
        }
    }
}

/// Rotates about the centre with bilinear sampling; uncovered corners get paper.
fn rotate(canvas: &mut Canvas, degrees: f32, paper: f32) {
    if degrees.abs() < 1e-3 {
        return;
    }
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (w, h) = (canvas.width, canvas.height);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let src = &canvas.pixels;
    let mut out = vec![paper; w * h];
    for y in 0..h {
        let dy = y as f32 - cy;
        for x in 0..w {
            let dx = x as f32 - cx;
            let sx = cos * dx + sin * dy + cx;
            let sy = -sin * dx + cos * dy + cy;
            if sx < 0.0 || sy < 0.0 || sx >= (w - 1) as f32 || sy >= (h - 1) as f32 {
                continue;
            }
            let (x0, y0) = (sx as usize, sy as usize);
            let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
            let i = y0 * w + x0;
            let top = src[i] + (src[i + 1] - src[i]) * fx;
            let bottom = src[i + w] + (src[i + w + 1] - src[i + w]) * fx;
            out[y * w + x] = top + (bottom - top) * fy;
        }
    }
    canvas.pixels = out;
}

/// Separable Gaussian blur.
pub fn blur(canvas: &mut Canvas, sigma: f32) {
    if sigma <= 0.0 {
        return;
    }
    let radius = (sigma * 3.0).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let (w, h) = (canvas.width, canvas.height);
    let mut tmp = vec![0f32; w * h];
    for y in 0..h {
        let row = &canvas.pixels[y * w..(y + 1) * w];
        for x in 0..w {
            let mut acc = 0.0;
            for (k, &weight) in kernel.iter().enumerate() {
                let sx = (x + k).saturating_sub(radius).min(w - 1);
                acc += row[sx] * weight;
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, &weight) in kernel.iter().enumerate() {
                let sy = (y + k).saturating_sub(radius).min(h - 1);
                acc += tmp[sy * w + x] * weight;
            }
            canvas.pixels[y * w + x] = acc;
        }
    }
}

fn noise(canvas: &mut Canvas, sigma: f32, rng: &mut Rng) {
    for p in &mut canvas.pixels {
        *p += rng.gauss() as f32 * sigma;
    }
}

/// Baseline JPEG of 8-bit gray rows.
pub fn encode_jpeg(
    gray: &[u8],
    width: usize,
    height: usize,
    quality: u8,
) -> Result<Vec<u8>, String> {
    let (w, h) = (
        u16::try_from(width).map_err(|_| format!("width {width} too large for JPEG"))?,
        u16::try_from(height).map_err(|_| format!("height {height} too large for JPEG"))?,
    );
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(gray, w, h, jpeg_encoder::ColorType::Luma)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_the_mean_and_softens_edges() {
        let mut canvas = Canvas {
            width: 20,
            height: 1,
            pixels: (0..20).map(|x| if x < 10 { 0.0 } else { 255.0 }).collect(),
        };
        blur(&mut canvas, 1.0);
        assert!(canvas.pixels[9] > 20.0 && canvas.pixels[10] < 235.0);
        assert!(canvas.pixels[0] < 1.0 && canvas.pixels[19] > 254.0);
    }

    #[test]
    fn degradations_are_deterministic_and_in_range() {
        let draw = |seed| Degradation::draw(&mut Rng::new(seed));
        assert_eq!(draw(3), draw(3));
        for seed in 0..200 {
            let d = draw(seed);
            assert!((0.5..=1.1).contains(&d.blur_sigma));
            assert!((3.0..=6.0).contains(&d.noise_sigma));
            assert!(d.rotation_deg.abs() <= 1.0);
        }
    }

    #[test]
    fn a_page_becomes_paper_and_ink() {
        let mut canvas = Canvas {
            width: 64,
            height: 64,
            pixels: vec![255.0; 64 * 64],
        };
        canvas.pixels[32 * 64 + 32] = 0.0;
        let d = Degradation::draw(&mut Rng::new(1));
        degrade(&mut canvas, &d, &mut Rng::new(2));
        let gray = canvas.to_gray();
        let mean = gray.iter().map(|&v| f64::from(v)).sum::<f64>() / gray.len() as f64;
        assert!(mean > 200.0 && mean < 250.0, "{mean}");
        let jpeg = encode_jpeg(&gray, 64, 64, 75).unwrap_or_default();
        assert!(jpeg.starts_with(&[0xff, 0xd8]));
    }
}
