//! Synthetic clinical photos for tests, calibration and the benchmark.
//!
//! Not a model of real skin: a base colour per Fitzpatrick type, modulated by
//! low-frequency shading, pore-scale texture, an irregular pigmented lesion,
//! hairs and sensor noise, with optional defects (defocus, motion blur,
//! exposure change, dermoscopic vignette). A red marker sits in the top-left
//! corner of the *upright* scene so tests can check orientation.
//! Deterministic for a given seed.

use crate::pixels::Rgb;

/// Representative sRGB colours for Fitzpatrick skin types I-VI.
pub const SKIN_TONES: [(&str, [f32; 3]); 6] = [
    ("I", [245.0, 214.0, 196.0]),
    ("II", [230.0, 188.0, 162.0]),
    ("III", [205.0, 158.0, 128.0]),
    ("IV", [168.0, 118.0, 88.0]),
    ("V", [118.0, 78.0, 56.0]),
    ("VI", [66.0, 40.0, 29.0]),
];

/// The 10 swatches of the Monk Skin Tone scale (Monk 2019; sRGB as published by Google with the
/// scale), lightest first.
pub const MONK_TONES: [(&str, [f32; 3]); 10] = [
    ("MST1", [246.0, 237.0, 228.0]),
    ("MST2", [243.0, 231.0, 219.0]),
    ("MST3", [247.0, 234.0, 208.0]),
    ("MST4", [234.0, 218.0, 186.0]),
    ("MST5", [215.0, 189.0, 150.0]),
    ("MST6", [160.0, 126.0, 86.0]),
    ("MST7", [130.0, 92.0, 67.0]),
    ("MST8", [96.0, 65.0, 52.0]),
    ("MST9", [58.0, 49.0, 42.0]),
    ("MST10", [41.0, 36.0, 32.0]),
];

/// Every tone the fairness tests and benchmark cover: the 10 Monk swatches, then Fitzpatrick
/// I-VI (`FST1`..`FST6`), as (label, sRGB skin colour).
pub fn fairness_tones() -> Vec<(String, [f32; 3])> {
    MONK_TONES
        .iter()
        .map(|(n, c)| (n.to_string(), *c))
        .chain(SKIN_TONES.iter().enumerate().map(|(i, (_, c))| (format!("FST{}", i + 1), *c)))
        .collect()
}

/// How the scene is lit, after the camera's automatic exposure and white balance have done what
/// they can: a residual colour cast (linear gains), where auto-exposure lands (in stops from a
/// colorimetrically exact exposure), the sensor noise that goes with it and, for flash, the
/// fall-off from the centre and specular glints on the skin. None of these is a defect: a photo
/// under any of them is a good photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lighting {
    /// Diffuse daylight near a window: neutral, exact exposure.
    #[default]
    Daylight,
    /// Tungsten / warm LED room light: orange cast, -0.3 EV, more noise (higher ISO).
    WarmIndoor,
    /// Open shade outdoors: blue cast, -0.5 EV, a little more noise.
    Shade,
    /// Phone flash at about 30 cm: bright centre falling off to the corners, specular glints,
    /// +0.2 EV at the centre.
    Flash,
}

impl Lighting {
    pub const ALL: [Lighting; 4] = [Lighting::Daylight, Lighting::WarmIndoor, Lighting::Shade, Lighting::Flash];

    pub fn as_str(self) -> &'static str {
        match self {
            Lighting::Daylight => "daylight",
            Lighting::WarmIndoor => "warm indoor",
            Lighting::Shade => "shade",
            Lighting::Flash => "flash",
        }
    }

    /// (linear R, G, B gains, exposure in stops, noise multiplier).
    fn params(self) -> ([f32; 3], f32, f32) {
        match self {
            Lighting::Daylight => ([1.0, 1.0, 1.0], 0.0, 1.0),
            Lighting::WarmIndoor => ([1.10, 1.0, 0.82], -0.3, 1.4),
            Lighting::Shade => ([0.93, 1.0, 1.10], -0.5, 1.2),
            Lighting::Flash => ([1.0, 1.0, 1.0], 0.2, 1.0),
        }
    }
}

/// The defects of the fairness set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    None,
    /// Defocus, Gaussian sigma 0.4 % of the long side.
    Blur,
    /// Horizontal camera shake over 1.5 % of the long side.
    Motion,
    /// Two stops less light (linear), on top of the lighting's own exposure.
    UnderTwo,
    /// Two stops more light.
    OverTwo,
}

impl Defect {
    pub const ALL: [Defect; 5] = [Defect::None, Defect::Blur, Defect::Motion, Defect::UnderTwo, Defect::OverTwo];

    pub fn as_str(self) -> &'static str {
        match self {
            Defect::None => "none",
            Defect::Blur => "blur",
            Defect::Motion => "motion",
            Defect::UnderTwo => "-2 EV",
            Defect::OverTwo => "+2 EV",
        }
    }

    /// Exposure change in stops.
    pub fn ev(self) -> f32 {
        match self {
            Defect::UnderTwo => -2.0,
            Defect::OverTwo => 2.0,
            _ => 0.0,
        }
    }
}

/// One photo of the tone x lighting x defect set (upright, no marker).
pub fn fairness_scene(skin: [f32; 3], lighting: Lighting, defect: Defect, width: u32, height: u32, seed: u64) -> Scene {
    Scene {
        width,
        height,
        skin: Some(skin),
        lighting,
        seed,
        marker: false,
        defocus: if defect == Defect::Blur { 0.004 } else { 0.0 },
        motion: if defect == Defect::Motion { 0.015 } else { 0.0 },
        ev: defect.ev(),
        ..Default::default()
    }
}

#[derive(Debug, Clone)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    /// Index into [`SKIN_TONES`] (ignored when `skin` is set).
    pub tone: usize,
    /// sRGB skin colour (e.g. from [`MONK_TONES`]); overrides `tone`.
    pub skin: Option<[f32; 3]>,
    pub lighting: Lighting,
    pub seed: u64,
    /// Gaussian defocus sigma as a fraction of the long side (0 = sharp).
    pub defocus: f32,
    /// Horizontal motion-blur length as a fraction of the long side.
    pub motion: f32,
    /// Exposure change in stops, applied in linear light.
    pub ev: f32,
    pub dermoscopic: bool,
    /// Draw the red orientation marker in the top-left corner.
    pub marker: bool,
    /// Sensor noise (sRGB units, sigma).
    pub noise: f32,
}

impl Default for Scene {
    fn default() -> Self {
        Scene {
            width: 1600,
            height: 1200,
            tone: 2,
            skin: None,
            lighting: Lighting::Daylight,
            seed: 1,
            defocus: 0.0,
            motion: 0.0,
            ev: 0.0,
            dermoscopic: false,
            marker: true,
            noise: 2.5,
        }
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn normal(&mut self) -> f32 {
        // sum of 4 uniforms, variance-normalised: cheap and good enough
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

fn srgb_to_lin(c: f32) -> f32 {
    let c = c / 255.0;
    if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
}
fn lin_to_srgb(c: f32) -> f32 {
    let c = c.clamp(0.0, 1.0);
    255.0 * if c <= 0.003_130_8 { c * 12.92 } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 }
}

/// Renders the upright scene.
pub fn render(s: &Scene) -> Rgb {
    let (w, h) = (s.width.max(8) as usize, s.height.max(8) as usize);
    let long = w.max(h) as f32;
    let mut rng = Rng(s.seed ^ 0xA5A5_5A5A);
    let base = s.skin.unwrap_or(SKIN_TONES[s.tone.min(5)].1);
    // Reflectance map (multiplier of the base colour), one channel.
    let mut refl = vec![1.0f32; w * h];
    // Pore texture: value noise on a grid of ~long/500 px cells, bilinear.
    let cell = (long / 500.0).max(2.0);
    let gw = (w as f32 / cell) as usize + 2;
    let gh = (h as f32 / cell) as usize + 2;
    let grid: Vec<f32> = (0..gw * gh).map(|_| rng.normal()).collect();
    for y in 0..h {
        let fy = y as f32 / cell;
        let (y0, ty) = (fy as usize, fy.fract());
        for x in 0..w {
            let fx = x as f32 / cell;
            let (x0, tx) = (fx as usize, fx.fract());
            let a = grid[y0 * gw + x0] * (1.0 - tx) + grid[y0 * gw + x0 + 1] * tx;
            let b = grid[(y0 + 1) * gw + x0] * (1.0 - tx) + grid[(y0 + 1) * gw + x0 + 1] * tx;
            let n = a * (1.0 - ty) + b * ty;
            let (xf, yf) = (x as f32 / long, y as f32 / long);
            let shade = 1.0 + 0.08 * (xf * 4.4).sin() * (yf * 3.4).cos() + 0.05 * (xf - yf);
            refl[y * w + x] = shade * (1.0 + 0.05 * n);
        }
    }
    // Lesion: irregular blob, darker and browner.
    let (cx, cy) = (w as f32 * 0.52, h as f32 * 0.48);
    let r0 = w.min(h) as f32 * 0.14;
    let mut lesion = vec![0.0f32; w * h];
    let x_lo = (cx - r0 * 1.6).max(0.0) as usize;
    let x_hi = ((cx + r0 * 1.6) as usize).min(w);
    let y_lo = (cy - r0 * 1.6).max(0.0) as usize;
    let y_hi = ((cy + r0 * 1.6) as usize).min(h);
    for y in y_lo..y_hi {
        for x in x_lo..x_hi {
            let (dx, dy) = (x as f32 - cx, (y as f32 - cy) / 0.85);
            let r = (dx * dx + dy * dy).sqrt();
            let ang = dy.atan2(dx);
            let edge = r0 * (1.0 + 0.14 * (5.0 * ang).sin() + 0.07 * (9.0 * ang).cos());
            lesion[y * w + x] = ((edge - r) / (r0 * 0.08)).clamp(0.0, 1.0);
        }
    }
    // Hairs: dark curved lines.
    let hair_w = (long / 1500.0).max(1.0);
    for _ in 0..30 {
        let (x0, y0, th) = (rng.unit() * w as f32, rng.unit() * h as f32, rng.unit() * std::f32::consts::PI);
        let len = long * 0.3;
        let mut t = -len / 2.0;
        while t < len / 2.0 {
            let xs = x0 + t * th.cos() + long * 0.01 * (t / (long * 0.05)).sin();
            let ys = y0 + t * th.sin();
            let rad = hair_w as i32;
            for dy in -rad..=rad {
                for dx in -rad..=rad {
                    let (xx, yy) = (xs as i32 + dx, ys as i32 + dy);
                    if xx >= 0 && yy >= 0 && (xx as usize) < w && (yy as usize) < h {
                        refl[yy as usize * w + xx as usize] *= 0.75;
                    }
                }
            }
            t += 0.7;
        }
    }
    // Compose in linear light.
    let (cast, light_ev, noise_k) = s.lighting.params();
    // The camera's auto-exposure protects highlights: when the lit skin (with its shading,
    // texture and, for flash, the bright centre) would clip, the exposure comes down until its
    // brightest channel peaks at sRGB 235. It never brightens dark skin (the hardest case for
    // the gate: a well-exposed photo of Monk 10 skin keeps a mean luma of about 35).
    let flash_peak = if s.lighting == Lighting::Flash { 1.15 } else { 1.0 };
    let peak = (0..3).map(|c| srgb_to_lin(base[c]) * cast[c]).fold(0.0f32, f32::max) * 2f32.powf(light_ev) * flash_peak * 1.2;
    let protect = (srgb_to_lin(235.0) / peak).min(1.0);
    let gain = 2f32.powf(s.ev + light_ev) * protect;
    let lesion_col = [base[0] * 0.45, base[1] * 0.33, base[2] * 0.3];
    let lin_base = [srgb_to_lin(base[0]), srgb_to_lin(base[1]), srgb_to_lin(base[2])];
    let lin_les = [srgb_to_lin(lesion_col[0]), srgb_to_lin(lesion_col[1]), srgb_to_lin(lesion_col[2])];
    let mut lin = vec![0f32; w * h * 3];
    for i in 0..w * h {
        let l = lesion[i];
        for c in 0..3 {
            let v = lin_base[c] * (1.0 - l) + lin_les[c] * l;
            lin[i * 3 + c] = v * refl[i] * refl[i] * cast[c];
        }
    }
    if s.lighting == Lighting::Flash {
        // Fall-off from the centre (about 1.15x at the centre, 0.7x in the corners), then small
        // specular glints (sebum, moisture) that may clip, as flash photos of skin do.
        let (fx, fy) = (w as f32 / 2.0, h as f32 / 2.0);
        let dmax2 = fx * fx + fy * fy;
        for y in 0..h {
            for x in 0..w {
                let d2 = ((x as f32 - fx).powi(2) + (y as f32 - fy).powi(2)) / dmax2;
                let k = 1.15 - 0.45 * d2;
                for c in 0..3 {
                    lin[(y * w + x) * 3 + c] *= k;
                }
            }
        }
        let gr = (long * 0.0025).max(1.0);
        for _ in 0..80 {
            let (gx, gy) = (rng.unit() * w as f32, rng.unit() * h as f32);
            let r = gr * (0.5 + rng.unit());
            let ri = r.ceil() as i32 + 1;
            for dy in -ri..=ri {
                for dx in -ri..=ri {
                    let (xx, yy) = (gx as i32 + dx, gy as i32 + dy);
                    if xx < 0 || yy < 0 || xx as usize >= w || yy as usize >= h {
                        continue;
                    }
                    let d = ((dx * dx + dy * dy) as f32).sqrt() / r;
                    let add = 0.6 * (1.0 - d * d).max(0.0);
                    for c in 0..3 {
                        lin[(yy as usize * w + xx as usize) * 3 + c] += add;
                    }
                }
            }
        }
    }
    if s.marker {
        let m = (w.min(h) / 12).max(4);
        for y in 0..m {
            for x in 0..m {
                lin[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[0.8, 0.0, 0.0]);
            }
        }
    }
    // Optical defects act on linear light before the sensor.
    if s.defocus > 0.0 {
        let sigma = s.defocus * long;
        gaussian(&mut lin, w, h, sigma);
    }
    if s.motion > 0.0 {
        let len = (s.motion * long).max(2.0) as usize;
        box_h(&mut lin, w, h, len);
    }
    if s.dermoscopic {
        let (fx, fy) = (w as f32 / 2.0, h as f32 / 2.0);
        let rad = w.min(h) as f32 * 0.47;
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f32 - fx).powi(2) + (y as f32 - fy).powi(2)).sqrt();
                let k = ((rad - d) / (long * 0.008)).clamp(0.0, 1.0);
                for c in 0..3 {
                    let i = (y * w + x) * 3 + c;
                    lin[i] = lin[i] * k + 0.002 * (1.0 - k);
                }
            }
        }
    }
    let lut: Vec<f32> = (0..=4096).map(|i| lin_to_srgb(i as f32 / 4096.0)).collect();
    let mut px = vec![0u8; w * h * 3];
    for (i, v) in lin.iter().enumerate() {
        let n = if s.noise > 0.0 { rng.normal() * s.noise * noise_k } else { 0.0 };
        let k = ((v * gain).clamp(0.0, 1.0) * 4096.0) as usize;
        px[i] = (lut[k] + n).round().clamp(0.0, 255.0) as u8;
    }
    Rgb { w: w as u32, h: h as u32, px }
}

fn box_h(img: &mut [f32], w: usize, h: usize, len: usize) {
    let len = len.min(w).max(1);
    let mut row = vec![0f32; w * 3];
    for y in 0..h {
        let r = &mut img[y * w * 3..(y + 1) * w * 3];
        for c in 0..3 {
            let mut acc = 0f32;
            for x in 0..w + len {
                if x < w {
                    acc += r[x * 3 + c];
                }
                if x >= len {
                    acc -= r[(x - len) * 3 + c];
                }
                if x >= len / 2 && x - len / 2 < w {
                    let n = (x + 1).min(len).min(w + len - x) as f32;
                    row[(x - len / 2) * 3 + c] = acc / n.max(1.0);
                }
            }
        }
        r.copy_from_slice(&row);
    }
}

fn transpose(img: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0f32; img.len()];
    for y in 0..h {
        for x in 0..w {
            out[(x * h + y) * 3..(x * h + y) * 3 + 3].copy_from_slice(&img[(y * w + x) * 3..(y * w + x) * 3 + 3]);
        }
    }
    out
}

/// Gaussian approximated by three box passes each way.
fn gaussian(img: &mut [f32], w: usize, h: usize, sigma: f32) {
    let n = 3.0;
    let wl = ((12.0 * sigma * sigma / n + 1.0).sqrt()).floor().max(1.0) as usize;
    let len = if wl.is_multiple_of(2) { wl + 1 } else { wl };
    for _ in 0..3 {
        box_h(img, w, h, len);
    }
    let mut t = transpose(img, w, h);
    for _ in 0..3 {
        box_h(&mut t, h, w, len);
    }
    img.copy_from_slice(&transpose(&t, h, w));
}

/// Stores the upright image so that applying EXIF `orientation` shows it
/// upright (the inverse of [`crate::orient`]).
pub fn store_for_orientation(upright: &Rgb, orientation: u32) -> Rgb {
    // inverse transforms: 6 <-> 8, others are self-inverse
    let inv = match orientation {
        6 => 8,
        8 => 6,
        o => o,
    };
    crate::pixels::orient(upright, inv)
}

/// The camera's own exposure record, as phones write it in EXIF (APEX: Av + Tv = Bv + Sv for an
/// exposure that matches the metered scene brightness).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraExposure {
    /// ExposureTime, seconds.
    pub exposure_time: f64,
    /// FNumber.
    pub f_number: f64,
    /// PhotographicSensitivity (ISO).
    pub iso: u16,
    /// BrightnessValue (APEX Bv) of the metered scene, when written.
    pub brightness: Option<f64>,
    /// ExposureBiasValue (stops of exposure compensation), when written.
    pub bias: Option<f64>,
}

impl CameraExposure {
    /// What a phone (f/1.8, ISO 100) writes for a scene it metered at Bv 4 (a bright room) when
    /// the exposure it took is `stops` away from its meter (negative = less light), with that
    /// offset also recorded as exposure compensation.
    pub fn off_by(stops: f64) -> Self {
        let (bv, f, iso) = (4.0f64, 1.8f64, 100u16);
        let sv = (iso as f64 / 3.125).log2();
        let tv = bv + sv - 2.0 * f.log2() - stops;
        CameraExposure { exposure_time: 2f64.powf(-tv), f_number: f, iso, brightness: Some(bv), bias: Some(stops) }
    }
}

/// Minimal little-endian TIFF/EXIF block with device tags and, optionally,
/// GPS, for tests.
pub fn exif_block(orientation: u16, gps: bool) -> Vec<u8> {
    exif_block_with(orientation, gps, None)
}

/// [`exif_block`] plus, optionally, the camera's exposure record.
pub fn exif_block_with(orientation: u16, gps: bool, camera: Option<&CameraExposure>) -> Vec<u8> {
    type E = (u16, u16, u32, Vec<u8>);
    fn ascii(tag: u16, s: &str) -> E {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        (tag, 2, v.len() as u32, v)
    }
    fn rationals(tag: u16, r: &[(u32, u32)]) -> E {
        let mut v = Vec::new();
        for (a, b) in r {
            v.extend_from_slice(&a.to_le_bytes());
            v.extend_from_slice(&b.to_le_bytes());
        }
        (tag, 5, r.len() as u32, v)
    }
    fn size(e: &[E]) -> u32 {
        let mut s = 2 + 12 * e.len() as u32 + 4;
        for (_, _, _, d) in e {
            if d.len() > 4 {
                s += (d.len() as u32 + 1) & !1;
            }
        }
        s
    }
    fn write(e: &[E], base: u32) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(e.len() as u16).to_le_bytes());
        let mut data = Vec::new();
        let data_base = base + 2 + 12 * e.len() as u32 + 4;
        for (tag, ty, count, d) in e {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&ty.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            if d.len() <= 4 {
                let mut v = d.clone();
                v.resize(4, 0);
                out.extend_from_slice(&v);
            } else {
                out.extend_from_slice(&(data_base + data.len() as u32).to_le_bytes());
                data.extend_from_slice(d);
                if data.len() % 2 == 1 {
                    data.push(0);
                }
            }
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&data);
        out
    }
    fn srational(tag: u16, v: f64) -> E {
        let mut d = ((v * 1000.0).round() as i32).to_le_bytes().to_vec();
        d.extend_from_slice(&1000i32.to_le_bytes());
        (tag, 10, 1, d)
    }
    let mut exif_ifd: Vec<E> = vec![
        ascii(0x9003, "2026:01:02 03:04:05"),
        ascii(0xA431, "SN-1234567890"),
    ];
    if let Some(c) = camera {
        // Tags in ascending order, as TIFF requires.
        let mut tags = vec![
            rationals(0x829A, &[((c.exposure_time * 1_000_000.0).round().max(1.0) as u32, 1_000_000)]),
            rationals(0x829D, &[((c.f_number * 100.0).round() as u32, 100)]),
            (0x8827, 3, 1, c.iso.to_le_bytes().to_vec()),
        ];
        if let Some(bv) = c.brightness {
            tags.push(srational(0x9203, bv));
        }
        if let Some(b) = c.bias {
            tags.push(srational(0x9204, b));
        }
        exif_ifd.extend(tags);
        exif_ifd.sort_by_key(|e| e.0);
    }
    let gps_ifd: Vec<E> = vec![
        ascii(0x0001, "N"),
        rationals(0x0002, &[(51, 1), (30, 1), (125, 10)]),
        ascii(0x0003, "W"),
        rationals(0x0004, &[(0, 1), (7, 1), (39, 1)]),
    ];
    let mut ifd0: Vec<E> = vec![
        ascii(0x010F, "TestPhoneMaker"),
        ascii(0x0110, "TestPhone 12 Pro"),
        (0x0112, 3, 1, orientation.to_le_bytes().to_vec()),
        (0x8769, 4, 1, vec![0; 4]),
    ];
    if gps {
        ifd0.push((0x8825, 4, 1, vec![0; 4]));
    }
    let s0 = size(&ifd0);
    let exif_off = 8 + s0;
    let gps_off = exif_off + size(&exif_ifd);
    for e in ifd0.iter_mut() {
        if e.0 == 0x8769 {
            e.3 = exif_off.to_le_bytes().to_vec();
        }
        if e.0 == 0x8825 {
            e.3 = gps_off.to_le_bytes().to_vec();
        }
    }
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend(write(&ifd0, 8));
    out.extend(write(&exif_ifd, exif_off));
    if gps {
        out.extend(write(&gps_ifd, gps_off));
    }
    out
}

/// Options for [`jpeg`].
#[derive(Debug, Clone, Copy)]
pub struct JpegOpts {
    pub quality: u8,
    pub progressive: bool,
    /// `Some((orientation, with_gps))` embeds an EXIF block with device tags.
    pub exif: Option<(u16, bool)>,
    /// The camera's exposure record in that EXIF block (an EXIF block with orientation 1 is
    /// written when `exif` is `None`).
    pub camera: Option<CameraExposure>,
    pub grey: bool,
    pub cmyk: bool,
    /// Add an XMP packet with a GPS position and a trailing blob after EOI.
    pub extras: bool,
}

impl Default for JpegOpts {
    fn default() -> Self {
        JpegOpts { quality: 92, progressive: false, exif: None, camera: None, grey: false, cmyk: false, extras: false }
    }
}

/// Encodes `img` (already stored in file orientation) as a JPEG.
pub fn jpeg(img: &Rgb, o: JpegOpts) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = jpeg_encoder::Encoder::new(&mut out, o.quality);
        e.set_progressive(o.progressive);
        if o.exif.is_some() || o.camera.is_some() {
            let (or, gps) = o.exif.unwrap_or((1, false));
            let _ = e.add_exif_metadata(&exif_block_with(or, gps, o.camera.as_ref()));
        }
        if o.extras {
            let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description exif:GPSLatitude=\"51,30.2N\" exif:GPSLongitude=\"0,7.6W\" tiff:Make=\"TestPhoneMaker\"/></x:xmpmeta>";
            let _ = e.add_app_segment(1, xmp.to_vec());
            let _ = e.add_app_segment(13, b"Photoshop 3.0\0IPTC-by-line:Dr Example".to_vec());
        }
        let (w, h) = (img.w as u16, img.h as u16);
        let r = if o.grey {
            let g: Vec<u8> = img
                .px
                .chunks_exact(3)
                .map(|p| ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8) as u8)
                .collect();
            e.encode(&g, w, h, jpeg_encoder::ColorType::Luma)
        } else if o.cmyk {
            let c: Vec<u8> = img.px.chunks_exact(3).flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0]).collect();
            e.encode(&c, w, h, jpeg_encoder::ColorType::Cmyk)
        } else {
            e.encode(&img.px, w, h, jpeg_encoder::ColorType::Rgb)
        };
        if r.is_err() {
            return Vec::new();
        }
    }
    if o.extras {
        out.extend_from_slice(b"MOTION-PHOTO-TRAILER-with-secret-gps-51.5N");
    }
    out
}

/// Encodes `img` as PNG with a tEXt chunk (and an eXIf chunk with GPS).
pub fn png_with_text(img: &Rgb) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, img.w, img.h);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        let _ = e.add_text_chunk("Comment".to_string(), "GPS 51.5N 0.12W patient at home".to_string());
        let Ok(mut wr) = e.write_header() else { return Vec::new() };
        let _ = wr.write_chunk(png::chunk::ChunkType(*b"eXIf"), &exif_block(1, true));
        let _ = wr.write_image_data(&img.px);
        let _ = wr.finish();
    }
    out
}
