//! Quality metrics on a reduced copy (at most 1024 px on the long side).
//! See docs/imaging.md for the methods and the calibration of thresholds.

use serde::Serialize;

use crate::pixels::Rgb;

/// Long side of the analysis image. Thresholds are calibrated at this scale.
pub const ANALYSIS_LONG_SIDE: u32 = 1024;
/// Tile grid for the blur measures.
pub const GRID: usize = 4;

/// Numbers behind the verdict (all computed on the analysis image, inside
/// the dermoscopic field of view when one was detected).
#[derive(Debug, Clone, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Metrics {
    /// Size of the analysis image.
    pub analysis_width: u32,
    pub analysis_height: u32,
    /// EXIF orientation found in the file (1 when absent).
    pub exif_orientation: u32,
    /// Maximum over tiles of the contrast-normalised variance of the Laplacian.
    pub sharpness: f64,
    /// Same tile's raw variance of Laplacian (4-neighbour).
    pub laplacian_variance: f64,
    /// Maximum over tiles of the contrast-normalised Tenengrad (Sobel energy).
    pub tenengrad: f64,
    /// Ratio of horizontal to vertical gradient energy (or its inverse,
    /// whichever is >= 1) over the whole analysed area; high for motion blur.
    pub directionality: f64,
    pub mean_luma: f64,
    pub p1_luma: u8,
    pub p99_luma: u8,
    /// Fraction of pixels with Y <= 5.
    pub shadow_clip: f64,
    /// Fraction of pixels with Y >= 250.
    pub highlight_clip: f64,
    /// Fraction of pixels classified as skin (warn only).
    pub skin_fraction: f64,
    /// Corner darkness used for the dermoscopy test.
    pub corner_dark_fraction: f64,
    pub corner_centre_ratio: f64,
    /// Fraction of the image inside the field of view (1.0 when not dermoscopic).
    pub fov_fraction: f64,
    /// Individual typology angle of the skin pixels (degrees; higher = lighter).
    pub skin_ita: Option<f64>,
    /// The camera's own exposure error in stops, from the file's EXIF exposure record (APEX
    /// balance of ExposureTime, FNumber, ISO and BrightnessValue, else ExposureBiasValue);
    /// negative = less light than the camera's meter called for. `None` when the file does not
    /// say. Never estimated from skin colour.
    pub exposure_ev: Option<f64>,
}

pub struct Analysis {
    pub metrics: Metrics,
    pub dermoscopic: bool,
    /// Grey analysis image, for the face detector.
    pub grey: Vec<u8>,
}

#[inline]
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((77 * r as u32 + 150 * g as u32 + 29 * b as u32 + 128) >> 8) as u8
}

pub fn analyse(img: &Rgb) -> Analysis {
    let (w, h) = (img.w as usize, img.h as usize);
    let mut grey = Vec::with_capacity(w * h);
    for p in img.px.chunks_exact(3) {
        grey.push(luma(p[0], p[1], p[2]));
    }
    let mut m = Metrics { analysis_width: img.w, analysis_height: img.h, ..Default::default() };

    // --- Dermoscopy: dark corners + bright centre, then a circular FOV.
    let (dark, ratio) = corner_stats(&grey, w, h);
    m.corner_dark_fraction = round4(dark);
    m.corner_centre_ratio = round4(ratio);
    let dermoscopic = dark > 0.8 && ratio < 0.25;
    let mut mask: Option<Vec<bool>> = None;
    if dermoscopic {
        let r = fov_radius(&grey, w, h);
        let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
        let r_in = (r * 0.92 - 3.0).max(1.0);
        let mut mk = vec![false; w * h];
        let mut n = 0usize;
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
                if d < r_in {
                    mk[y * w + x] = true;
                    n += 1;
                }
            }
        }
        m.fov_fraction = round4(n as f64 / (w * h).max(1) as f64);
        if n > 64 {
            mask = Some(mk);
        }
    } else {
        m.fov_fraction = 1.0;
    }
    let inside = |i: usize| mask.as_ref().is_none_or(|mk| mk[i]);

    // --- Exposure.
    let mut hist = [0u64; 256];
    let mut n = 0u64;
    let mut sum = 0u64;
    for (i, &y) in grey.iter().enumerate() {
        if inside(i) {
            hist[y as usize] += 1;
            sum += y as u64;
            n += 1;
        }
    }
    let nf = n.max(1) as f64;
    m.mean_luma = round2(sum as f64 / nf);
    m.shadow_clip = round4(hist[..=5].iter().sum::<u64>() as f64 / nf);
    m.highlight_clip = round4(hist[250..].iter().sum::<u64>() as f64 / nf);
    m.p1_luma = percentile(&hist, n, 0.01);
    m.p99_luma = percentile(&hist, n, 0.99);

    // --- Skin fraction and ITA.
    let (skin, ita) = skin_stats(img, inside);
    m.skin_fraction = round4(skin);
    m.skin_ita = ita.map(round2);

    // --- Blur over a tile grid.
    let b = blur_tiles(&grey, w, h, mask.as_deref());
    m.sharpness = round2(b.0);
    m.laplacian_variance = round2(b.1);
    m.tenengrad = round2(b.2);
    m.directionality = round2(b.3);

    Analysis { metrics: m, dermoscopic, grey }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

fn percentile(hist: &[u64; 256], n: u64, q: f64) -> u8 {
    let target = (n as f64 * q).ceil() as u64;
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= target.max(1) {
            return v as u8;
        }
    }
    255
}

/// (fraction of corner pixels with Y < 30, mean corner Y / mean centre Y).
fn corner_stats(g: &[u8], w: usize, h: usize) -> (f64, f64) {
    let s = (w.min(h) / 20).max(1);
    let mut dark = 0usize;
    let mut tot = 0usize;
    let mut csum = 0u64;
    for &(x0, y0) in &[(0, 0), (w - s, 0), (0, h - s), (w - s, h - s)] {
        for y in y0..y0 + s {
            for x in x0..x0 + s {
                let v = g[y * w + x];
                dark += (v < 30) as usize;
                csum += v as u64;
                tot += 1;
            }
        }
    }
    let (cx0, cy0, cw, ch) = (w * 3 / 8, h * 3 / 8, (w / 4).max(1), (h / 4).max(1));
    let mut msum = 0u64;
    let mut mn = 0u64;
    for y in cy0..(cy0 + ch).min(h) {
        for x in cx0..(cx0 + cw).min(w) {
            msum += g[y * w + x] as u64;
            mn += 1;
        }
    }
    let corner = csum as f64 / tot.max(1) as f64;
    let centre = msum as f64 / mn.max(1) as f64;
    (dark as f64 / tot.max(1) as f64, corner / centre.max(1.0))
}

/// Radius where the ring mean first drops below half the centre mean.
fn fov_radius(g: &[u8], w: usize, h: usize) -> f64 {
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let rmax = ((cx * cx + cy * cy).sqrt()).ceil() as usize + 1;
    let mut sum = vec![0u64; rmax + 1];
    let mut cnt = vec![0u64; rmax + 1];
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2)).sqrt() as usize;
            let d = d.min(rmax);
            sum[d] += g[y * w + x] as u64;
            cnt[d] += 1;
        }
    }
    let c0 = (w.min(h) / 8).max(1).min(rmax);
    let centre = sum[..c0].iter().sum::<u64>() as f64 / cnt[..c0].iter().sum::<u64>().max(1) as f64;
    for r in c0..=rmax {
        if cnt[r] > 0 && (sum[r] as f64 / cnt[r] as f64) < centre * 0.5 {
            return r as f64;
        }
    }
    rmax as f64
}

/// Skin pixels by a YCbCr box (Chai & Ngan 1999, widened: [`is_skin`]); returns the fraction
/// and the individual typology angle (ITA) of the skin pixels' mean colour.
/// Used for the `no_skin_detected` warning and equity reporting only, never
/// for the exposure verdict.
fn skin_stats(img: &Rgb, inside: impl Fn(usize) -> bool) -> (f64, Option<f64>) {
    let mut n = 0u64;
    let mut s = 0u64;
    let (mut lr, mut lg, mut lb) = (0f64, 0f64, 0f64);
    for (i, p) in img.px.chunks_exact(3).enumerate() {
        if i % 2 == 1 || !inside(i) {
            continue; // every other pixel is plenty
        }
        n += 1;
        let (r, g, b) = (p[0] as f64, p[1] as f64, p[2] as f64);
        if is_skin(r, g, b) {
            s += 1;
            lr += r;
            lg += g;
            lb += b;
        }
    }
    let frac = s as f64 / n.max(1) as f64;
    if s < 100 {
        return (frac, None);
    }
    let sf = s as f64;
    let (l, _a, bb) = lab(lr / sf, lg / sf, lb / sf);
    let ita = ((l - 50.0) / bb.max(1e-3)).atan().to_degrees();
    (frac, Some(ita))
}

/// Chai & Ngan's box (Cr 133-173, Cb 77-127), widened: Cr down to 129 for the low chroma of
/// the darkest skin (Monk 10: Cr ~131, ~130 in shade) and pale skin under a cool cast, Cr up to
/// 180 and Cb down to 70 for saturated Fitzpatrick V-VI; red must lead green and blue.
fn is_skin(r: f64, g: f64, b: f64) -> bool {
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b;
    y > 15.0 && (129.0..=180.0).contains(&cr) && (70.0..=127.5).contains(&cb) && r > b && r >= g
}

fn lab(r: f64, g: f64, b: f64) -> (f64, f64, f64) {
    fn lin(c: f64) -> f64 {
        let c = c / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    }
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    fn f(t: f64) -> f64 {
        if t > 0.008856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 }
    }
    let (fx, fy, fz) = (f(x), f(y), f(z));
    (116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz))
}

/// Per tile: variance of the 4-neighbour Laplacian and Tenengrad (mean
/// squared Sobel magnitude), each divided by the tile's local contrast
/// reference so that low-albedo (dark) skin with the same focus scores the
/// same as light skin. Returns (max normalised VoL, its raw VoL, max
/// normalised Tenengrad, directionality of the best tile).
fn blur_tiles(g: &[u8], w: usize, h: usize, mask: Option<&[bool]>) -> (f64, f64, f64, f64) {
    if w < 8 || h < 8 {
        return (0.0, 0.0, 0.0, 1.0);
    }
    let mut best = (0f64, 0f64, 0f64, 1f64);
    let (mut all_gx2, mut all_gy2) = (0f64, 0f64);
    let (tw, th) = (w / GRID, h / GRID);
    for ty in 0..GRID {
        for tx in 0..GRID {
            let x0 = (tx * tw).max(1);
            let y0 = (ty * th).max(1);
            let x1 = if tx == GRID - 1 { w - 1 } else { (tx + 1) * tw };
            let y1 = if ty == GRID - 1 { h - 1 } else { (ty + 1) * th };
            let mut t = Totals::default();
            for y in y0..y1 {
                let r0 = &g[(y - 1) * w..y * w];
                let r1 = &g[y * w..(y + 1) * w];
                let r2 = &g[(y + 1) * w..(y + 2) * w];
                if let Some(mk) = mask {
                    for x in x0..x1 {
                        // the whole 3x3 neighbourhood must be inside the FOV
                        if !(mk[(y - 1) * w + x] && mk[(y + 1) * w + x] && mk[y * w + x - 1] && mk[y * w + x + 1]) {
                            continue;
                        }
                        t.add(Sums::at(r0, r1, r2, x), 1);
                    }
                } else {
                    // Whole row segments, summed in i32 (exact: a segment of at most
                    // SEGMENT pixels cannot overflow), which the compiler vectorises.
                    let mut x = x0;
                    while x < x1 {
                        let end = (x + SEGMENT).min(x1);
                        t.add(Sums::segment(r0, r1, r2, x, end), (end - x) as u64);
                        x = end;
                    }
                }
            }
            let Totals { n, ls, ls2, gx2, gy2, ys } = t;
            let area = ((x1 - x0) * (y1 - y0)).max(1) as u64;
            if n < 64 || n * 2 < area {
                continue;
            }
            let nf = n as f64;
            let mean_l = ls as f64 / nf;
            let vol = ls2 as f64 / nf - mean_l * mean_l;
            let ten = (gx2 + gy2) as f64 / nf;
            let mean_y = ys as f64 / nf;
            if !(12.0..=243.0).contains(&mean_y) {
                continue; // clipped tile: no focus information
            }
            let k = contrast_norm(mean_y);
            all_gx2 += gx2 as f64 * k;
            all_gy2 += gy2 as f64 * k;
            // Sensor noise adds a floor that does not scale with albedo: only
            // the part above it is normalised.
            let s = (vol - NOISE_FLOOR).max(0.0) * k + vol.min(NOISE_FLOOR);
            let t = (ten / 16.0 - NOISE_FLOOR).max(0.0) * k + (ten / 16.0).min(NOISE_FLOOR);
            if s > best.0 {
                best.0 = s;
                best.1 = vol;
            }
            best.2 = best.2.max(t);
        }
    }
    let (a, b) = (all_gx2.max(1.0), all_gy2.max(1.0));
    best.3 = if a > b { a / b } else { b / a };
    best
}

/// Longest row segment summed in i32 by [`Sums::segment`]: a squared Laplacian or Sobel
/// component is at most 1020², so 1024 of them stay below 2³¹.
const SEGMENT: usize = 1024;

/// Per pixel of a grey image: the 4-neighbour Laplacian, its square, the squared Sobel x and y
/// components and the centre value.
struct Sums(i32, i32, i32, i32, i32);

impl Sums {
    /// At column `x` of row `r1` (rows `r0` above and `r2` below; 1 <= x < width - 1).
    #[inline]
    fn at(r0: &[u8], r1: &[u8], r2: &[u8], x: usize) -> Sums {
        Sums::of([r0[x - 1], r0[x], r0[x + 1]], [r1[x - 1], r1[x], r1[x + 1]], [r2[x - 1], r2[x], r2[x + 1]])
    }

    #[inline]
    fn of(t: [u8; 3], m: [u8; 3], b: [u8; 3]) -> Sums {
        let (t, m, b) = (t.map(i32::from), m.map(i32::from), b.map(i32::from));
        let lap = t[1] + b[1] + m[0] + m[2] - 4 * m[1];
        let gx = (t[2] + 2 * m[2] + b[2]) - (t[0] + 2 * m[0] + b[0]);
        let gy = (b[0] + 2 * b[1] + b[2]) - (t[0] + 2 * t[1] + t[2]);
        Sums(lap, lap * lap, gx * gx, gy * gy, m[1])
    }

    /// Summed over columns `x0..x1` (at most [`SEGMENT`] of them).
    fn segment(r0: &[u8], r1: &[u8], r2: &[u8], x0: usize, x1: usize) -> Sums {
        let n = x1 - x0;
        let (t, m, b) = (&r0[x0 - 1..x1 + 1], &r1[x0 - 1..x1 + 1], &r2[x0 - 1..x1 + 1]);
        let mut acc = Sums(0, 0, 0, 0, 0);
        for i in 0..n {
            let s = Sums::of([t[i], t[i + 1], t[i + 2]], [m[i], m[i + 1], m[i + 2]], [b[i], b[i + 1], b[i + 2]]);
            acc = Sums(acc.0 + s.0, acc.1 + s.1, acc.2 + s.2, acc.3 + s.3, acc.4 + s.4);
        }
        acc
    }
}

/// A tile's totals of [`Sums`] over its `n` pixels.
#[derive(Default)]
struct Totals {
    n: u64,
    ls: i64,
    ls2: i64,
    gx2: u64,
    gy2: u64,
    ys: u64,
}

impl Totals {
    /// Adds `s`, the sums over `count` pixels.
    #[inline]
    fn add(&mut self, s: Sums, count: u64) {
        self.n += count;
        self.ls += s.0 as i64;
        self.ls2 += s.1 as i64;
        self.gx2 += s.2 as u64;
        self.gy2 += s.3 as u64;
        self.ys += s.4 as u64;
    }
}

/// Variance of the Laplacian contributed by sensor noise and JPEG artefacts
/// at the analysis scale (synthetic sigma 2.5 noise gives 7.5-14).
pub const NOISE_FLOOR: f64 = 12.0;

/// Multiplier that maps a tile's gradient energy to what the same surface
/// would give at mid-grey. Reflectance scales gradients with the local mean,
/// so energy scales with mean^2; the square root is used because noise (which
/// does not scale with albedo) would otherwise be amplified on dark skin.
/// Calibrated in docs/imaging.md.
fn contrast_norm(mean_y: f64) -> f64 {
    let m = mean_y.clamp(24.0, 232.0);
    let lift = 128.0 / m.min(128.0);
    lift * lift.sqrt() // (128/m)^1.5 below mid-grey, 1 above
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unmasked path sums whole row segments in i32; with a mask that keeps every pixel the
    /// per-pixel path must give the same numbers (also at the segment limit: a row wider than
    /// `SEGMENT` and the largest gradients, a black and white checkerboard).
    #[test]
    fn segment_sums_are_the_per_pixel_sums() {
        for (w, h) in [(1024usize, 768usize), (4200, 64), (97, 41)] {
            let mut g = vec![0u8; w * h];
            let mut s = 12345u32;
            for (i, v) in g.iter_mut().enumerate() {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *v = if (i / w) < h / 2 { (s >> 16) as u8 } else if ((i % w) + i / w) % 2 == 0 { 255 } else { 0 };
            }
            let all = vec![true; w * h];
            let a = blur_tiles(&g, w, h, None);
            let b = blur_tiles(&g, w, h, Some(&all));
            assert_eq!(a, b, "{w}x{h}");
            assert!(a.0 > 0.0 && a.2 > 0.0);
        }
    }
}
