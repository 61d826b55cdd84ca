//! RGB8 buffers, orientation, resizing and JPEG/PNG encoding of derivatives.

use fast_image_resize as fr;

use crate::ljpeg::RowsIn;

/// A packed RGB8 image.
#[derive(Clone)]
pub struct Rgb {
    pub w: u32,
    pub h: u32,
    pub px: Vec<u8>,
}

/// EXIF orientation (1..=8) applied to a buffer so the result is upright.
pub fn orient(img: &Rgb, o: u32) -> Rgb {
    if !(2..=8).contains(&o) {
        return img.clone();
    }
    let (ow, oh) = upright_dims(img.w, img.h, o);
    let mut out = vec![0u8; ow as usize * oh as usize * 3];
    orient_rows(img, o, 0, oh as usize, &mut out);
    Rgb { w: ow, h: oh, px: out }
}

/// Size of `w` x `h` once EXIF orientation `o` is applied.
pub fn upright_dims(w: u32, h: u32, o: u32) -> (u32, u32) {
    if (5..=8).contains(&o) { (h, w) } else { (w, h) }
}

/// Rows `y0..y1` of the upright image (orientation `o` applied to `img`), packed into `out`.
fn orient_rows(img: &Rgb, o: u32, y0: usize, y1: usize, out: &mut [u8]) {
    let (w, h) = (img.w as isize, img.h as isize);
    let ow = upright_dims(img.w, img.h, o).0 as usize;
    // The source pixel of upright (x, y) is `base + x * sx + y * sy` (in pixels).
    let (base, sx, sy) = match o {
        2 => (w - 1, -1, w),
        3 => ((h - 1) * w + w - 1, -1, -w),
        4 => ((h - 1) * w, 1, -w),
        5 => (0, w, 1),
        6 => ((h - 1) * w, -w, 1),
        7 => ((h - 1) * w + w - 1, -w, -1),
        8 => (w - 1, w, -1),
        _ => (0, 1, w),
    };
    if sy.abs() == 1 {
        // A transpose (orientations 5-8): R upright rows at a time, so that each upright column
        // of the band is R neighbouring pixels of one stored row, read as one slice.
        const R: usize = 16;
        let row_bytes = ow * 3;
        let done = y0 + (y1 - y0) / R * R;
        for (band, rows) in out[..(done - y0) * row_bytes].chunks_exact_mut(R * row_bytes).enumerate() {
            let y = y0 + band * R;
            let mut s = base + y as isize * sy;
            for x in 0..ow {
                let first = if sy == 1 { s } else { s - (R as isize - 1) } as usize * 3;
                let src = &img.px[first..first + R * 3];
                for k in 0..R {
                    let j = if sy == 1 { k } else { R - 1 - k };
                    let at = k * row_bytes + x * 3;
                    rows[at..at + 3].copy_from_slice(&src[j * 3..j * 3 + 3]);
                }
                s += sx;
            }
        }
        let rest = (done - y0) * row_bytes;
        orient_rows_blocked(img, (base, sx, sy), ow, done, y1, &mut out[rest..]);
    } else {
        orient_rows_blocked(img, (base, sx, sy), ow, y0, y1, out);
    }
}

/// [`orient_rows`] a pixel at a time, in blocks, for upright rows `y0..y1` into `out`; the
/// source of upright (x, y) is pixel `base + x * sx + y * sy`.
fn orient_rows_blocked(img: &Rgb, (base, sx, sy): (isize, isize, isize), ow: usize, y0: usize, y1: usize, out: &mut [u8]) {
    // Blocked so that the source columns a block reads stay in cache.
    const B: usize = 64;
    for by in (y0..y1).step_by(B) {
        for bx in (0..ow).step_by(B) {
            let x1 = (bx + B).min(ow);
            for y in by..(by + B).min(y1) {
                let row = &mut out[(y - y0) * ow * 3 + bx * 3..(y - y0) * ow * 3 + x1 * 3];
                let mut s = base + bx as isize * sx + y as isize * sy;
                for px in row.chunks_exact_mut(3) {
                    let i = s as usize * 3;
                    px.copy_from_slice(&img.px[i..i + 3]);
                    s += sx;
                }
            }
        }
    }
}

/// Size that fits `long` on the long side, never upscaling.
pub fn fit(w: u32, h: u32, long: u32) -> (u32, u32) {
    let m = w.max(h);
    if m <= long {
        return (w.max(1), h.max(1));
    }
    if w >= h {
        (long, ((h as u64 * long as u64 + m as u64 / 2) / m as u64).max(1) as u32)
    } else {
        (((w as u64 * long as u64 + m as u64 / 2) / m as u64).max(1) as u32, long)
    }
}

/// Rows of the destination resized per pass: fast_image_resize's intermediate buffer is
/// (source width x destination rows), so resizing in bands keeps it small (a whole 64 MP
/// photo's pass would need a buffer as wide as the photo and as tall as the result).
const RESIZE_BAND_ROWS: u32 = 256;

pub fn resize_rgb(src: &Rgb, w: u32, h: u32, alg: fr::ResizeAlg) -> Rgb {
    if src.w == w && src.h == h {
        return src.clone();
    }
    // `resize_typed` with the one pixel type we use: the untyped `resize`
    // monomorphises all 13 pixel types into this crate (minutes of build).
    let mut out = vec![0u8; w as usize * h as usize * 3];
    let Ok(s) = fr::images::TypedImageRef::<fr::pixels::U8x3>::from_buffer(src.w, src.h, &src.px) else {
        return nearest(src, w, h);
    };
    let mut resizer = fr::Resizer::new();
    let scale_y = src.h as f64 / h as f64;
    let row_bytes = w as usize * 3;
    let mut ok = true;
    for y0 in (0..h).step_by(RESIZE_BAND_ROWS as usize) {
        let y1 = (y0 + RESIZE_BAND_ROWS).min(h);
        let band = &mut out[y0 as usize * row_bytes..y1 as usize * row_bytes];
        // The band's source rows as a crop box; the filter still reads rows just outside it.
        let opts = fr::ResizeOptions::new()
            .resize_alg(alg)
            .crop(0.0, y0 as f64 * scale_y, src.w as f64, (y1 - y0) as f64 * scale_y);
        ok = match fr::images::TypedImage::<fr::pixels::U8x3>::from_buffer(w, y1 - y0, band) {
            Ok(mut d) => resizer.resize_typed(&s, &mut d, &opts).is_ok(),
            Err(_) => false,
        };
        if !ok {
            break;
        }
    }
    if !ok {
        // Cannot happen for consistent buffers; fall back to nearest neighbour.
        return nearest(src, w, h);
    }
    Rgb { w, h, px: out }
}

/// [`resize_rgb`] to a smaller size that reuses `src`'s buffer instead of allocating a second
/// image: each band of the result is resized into a small buffer, then copied to the front of
/// the big one, over source rows that no later band reads (Lanczos3 reads 3 source rows per
/// destination row either side, scaled). Falls back to [`resize_rgb`] when the reduction is too
/// slight for that to hold.
pub fn shrink_in_place(mut src: Rgb, w: u32, h: u32, alg: fr::ResizeAlg) -> Rgb {
    if w == src.w && h == src.h {
        return src;
    }
    let band = RESIZE_BAND_ROWS;
    let scale_y = src.h as f64 / h as f64;
    let fx = w as f64 / src.w as f64;
    let reach = 3.0 * scale_y + 3.0;
    if w > src.w || h > src.h || band as f64 * (scale_y - fx) < reach {
        return resize_rgb(&src, w, h, alg);
    }
    let row_bytes = w as usize * 3;
    let mut tmp = vec![0u8; band as usize * row_bytes];
    let mut resizer = fr::Resizer::new();
    for y0 in (0..h).step_by(band as usize) {
        let y1 = (y0 + band).min(h);
        let n = (y1 - y0) as usize * row_bytes;
        let ok = {
            let opts = fr::ResizeOptions::new()
                .resize_alg(alg)
                .crop(0.0, y0 as f64 * scale_y, src.w as f64, (y1 - y0) as f64 * scale_y);
            match (
                fr::images::TypedImageRef::<fr::pixels::U8x3>::from_buffer(src.w, src.h, &src.px),
                fr::images::TypedImage::<fr::pixels::U8x3>::from_buffer(w, y1 - y0, &mut tmp[..n]),
            ) {
                (Ok(s), Ok(mut d)) => resizer.resize_typed(&s, &mut d, &opts).is_ok(),
                _ => false,
            }
        };
        if !ok {
            // Cannot happen for consistent buffers (and nothing was overwritten before a failure
            // of the first band); the nearest-neighbour fallback of `resize_rgb` on what is left.
            return nearest(&src, w, h);
        }
        // Rows written so far end before the first source row any later band reads.
        src.px[y0 as usize * row_bytes..y0 as usize * row_bytes + n].copy_from_slice(&tmp[..n]);
    }
    src.px.truncate(h as usize * row_bytes);
    src.px.shrink_to_fit();
    Rgb { w, h, px: src.px }
}

/// Half the size (rounded down) by averaging each 2x2 block: what a half-scale JPEG decode gives
/// (its 4x4 inverse DCT keeps the same frequencies), from a full-size decode.
pub fn halve(src: &Rgb) -> Rgb {
    let (w, h) = ((src.w / 2) as usize, (src.h / 2) as usize);
    let sw = src.w as usize * 3;
    let mut px = vec![0u8; w * h * 3];
    for (y, out) in px.chunks_exact_mut(w * 3).enumerate() {
        let top = &src.px[2 * y * sw..2 * y * sw + 6 * w];
        let bottom = &src.px[(2 * y + 1) * sw..(2 * y + 1) * sw + 6 * w];
        for (x, o) in out.chunks_exact_mut(3).enumerate() {
            for c in 0..3 {
                let i = 6 * x + c;
                let sum = top[i] as u16 + top[i + 3] as u16 + bottom[i] as u16 + bottom[i + 3] as u16;
                o[c] = ((sum + 2) / 4) as u8;
            }
        }
    }
    Rgb { w: w as u32, h: h as u32, px }
}

fn nearest(src: &Rgb, w: u32, h: u32) -> Rgb {
    if src.w == 0 || src.h == 0 || src.px.len() < src.w as usize * src.h as usize * 3 {
        return Rgb { w, h, px: vec![0; w as usize * h as usize * 3] };
    }
    let mut px = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h as usize {
        let sy = (y * src.h as usize / h as usize).min(src.h as usize - 1);
        for x in 0..w as usize {
            let sx = (x * src.w as usize / w as usize).min(src.w as usize - 1);
            let s = (sy * src.w as usize + sx) * 3;
            px.extend_from_slice(&src.px[s..s + 3]);
        }
    }
    Rgb { w, h, px }
}

pub const LANCZOS: fr::ResizeAlg = fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3);
pub const BILINEAR: fr::ResizeAlg = fr::ResizeAlg::Convolution(fr::FilterType::Bilinear);

/// Baseline JPEG, 4:2:0, standard Huffman tables, no metadata (JFIF only).
///
/// Large images are encoded in horizontal strips on the rayon pool: each
/// strip (a multiple of 16 rows) is a complete JPEG with the same tables, so
/// its entropy-coded segment starts with reset DC predictors, exactly as after
/// a restart marker. The strips' segments are joined with RSTn markers and a
/// DRI header giving the per-strip MCU count: a single standard baseline JPEG.
pub fn encode_jpeg(img: &Rgb, quality: u8) -> Vec<u8> {
    encode_jpeg_oriented(img, 1, quality)
}

/// [`encode_jpeg`] of `img` with EXIF orientation `o` applied, without an upright copy of the
/// pixels: the encoder reads the rotated rows a band at a time.
pub fn encode_jpeg_oriented(img: &Rgb, o: u32, quality: u8) -> Vec<u8> {
    encode_strips(img, o, quality, encode_rows)
}

/// [`encode_jpeg_oriented`] with the pure-Rust encoder (`jpeg-encoder`): about 25% more CPU
/// time, but a lower peak of memory over the e-RS attachment's repeated attempts on a photo too
/// big to be its own attachment (bench: a 16 MP photo of noise peaked at 86 MB on one thread,
/// 122 MB with libjpeg's encoder; the intake memory budget is sized for this one).
pub fn encode_jpeg_oriented_lean(img: &Rgb, o: u32, quality: u8) -> Vec<u8> {
    encode_strips(img, o, quality, encode_rows_rust)
}

/// Encodes big images in strips on the rayon pool, joined into one JPEG (see [`encode_jpeg`]).
fn encode_strips(img: &Rgb, o: u32, quality: u8, encode_rows: fn(&Rgb, u32, usize, usize, u8) -> Vec<u8>) -> Vec<u8> {
    let o = if (2..=8).contains(&o) { o } else { 1 };
    let (uw, uh) = upright_dims(img.w, img.h, o);
    let (w, h) = (uw as usize, uh as usize);
    let mcus_per_row = w.div_ceil(16);
    let threads = rayon::current_num_threads().max(1);
    // Strips only for big images; restart interval must fit in u16.
    let mut rows_per_strip = h.div_ceil(threads).div_ceil(16) * 16;
    while mcus_per_row * (rows_per_strip / 16) > 65535 && rows_per_strip > 16 {
        rows_per_strip = (rows_per_strip / 2).div_ceil(16) * 16;
    }
    if threads == 1 || w * h < 1_500_000 || rows_per_strip >= h || w > 65535 || h > 65535 {
        return encode_rows(img, o, 0, h, quality);
    }
    let strips: Vec<(usize, usize)> =
        (0..h).step_by(rows_per_strip).map(|y| (y, (y + rows_per_strip).min(h))).collect();
    let parts: Vec<Vec<u8>> = {
        use rayon::prelude::*;
        strips.par_iter().map(|&(y0, y1)| encode_rows(img, o, y0, y1, quality)).collect()
    };
    if parts.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    match stitch(&parts, w, h, (mcus_per_row * rows_per_strip / 16) as u16) {
        Some(v) => v,
        None => encode_rows(img, o, 0, h, quality),
    }
}

/// Upright rows `y0..y1` of `img` (orientation `o`) as one JPEG (libjpeg-turbo's encoder, which
/// reads rotated rows a band at a time: no upright copy of the pixels); empty if it failed.
fn encode_rows(img: &Rgb, o: u32, y0: usize, y1: usize, quality: u8) -> Vec<u8> {
    let (uw, _) = upright_dims(img.w, img.h, o);
    let w = uw as usize;
    let (Ok(ww), Ok(hh)) = (u32::try_from(w), u32::try_from(y1 - y0)) else { return Vec::new() };
    let encoded = if o == 1 {
        crate::ljpeg::encode_rgb(ww, hh, quality, RowsIn::Packed(&img.px[y0 * w * 3..y1 * w * 3]))
    } else {
        crate::ljpeg::encode_rgb(ww, hh, quality, RowsIn::Fill(&mut |y, band| {
            let y = y0 + y;
            orient_rows(img, o, y, y + band.len() / (w * 3), band);
        }))
    };
    encoded.unwrap_or_default()
}

/// Rows of the upright image rotated at a time (PNG and the pure-Rust JPEG encoder).
const ORIENT_BAND_ROWS: usize = 64;

/// Upright rows `y0..y1` of `img` (orientation `o`) as one JPEG, with the pure-Rust encoder.
fn encode_rows_rust(img: &Rgb, o: u32, y0: usize, y1: usize, quality: u8) -> Vec<u8> {
    let (uw, _) = upright_dims(img.w, img.h, o);
    let w = uw as usize;
    if o == 1 {
        return encode_one(&img.px[y0 * w * 3..y1 * w * 3], w, y1 - y0, quality);
    }
    let mut out = Vec::with_capacity(w * (y1 - y0) / 4 + 1024);
    let mut e = jpeg_encoder::Encoder::new(&mut out, quality);
    e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    let view = OrientedRows { img, o, y0, w: w as u16, h: (y1 - y0) as u16, band: std::cell::RefCell::new((usize::MAX, Vec::new())) };
    if w > 65535 || y1 - y0 > 65535 || e.encode_image(view).is_err() {
        return Vec::new();
    }
    out
}

/// Rows of the upright image, produced 64 at a time from the stored (rotated) pixels.
struct OrientedRows<'a> {
    img: &'a Rgb,
    o: u32,
    /// First upright row of this strip.
    y0: usize,
    w: u16,
    h: u16,
    /// (first upright row held, packed RGB rows).
    band: std::cell::RefCell<(usize, Vec<u8>)>,
}


impl jpeg_encoder::ImageBuffer for OrientedRows<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        jpeg_encoder::JpegColorType::Ycbcr
    }
    fn width(&self) -> u16 {
        self.w
    }
    fn height(&self) -> u16 {
        self.h
    }
    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        let w = self.w as usize;
        let y = self.y0 + y as usize;
        let mut band = self.band.borrow_mut();
        if band.0 == usize::MAX || y < band.0 || y >= band.0 + ORIENT_BAND_ROWS {
            let end = (y + ORIENT_BAND_ROWS).min(self.y0 + self.h as usize);
            band.1.resize((end - y) * w * 3, 0);
            orient_rows(self.img, self.o, y, end, &mut band.1);
            band.0 = y;
        }
        let start = (y - band.0) * w * 3;
        for p in band.1[start..start + w * 3].chunks_exact(3) {
            let (l, cb, cr) = jpeg_encoder::rgb_to_ycbcr(p[0], p[1], p[2]);
            buffers[0].push(l);
            buffers[1].push(cb);
            buffers[2].push(cr);
        }
    }
}

fn encode_one(px: &[u8], w: usize, h: usize, quality: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h / 4 + 1024);
    let mut e = jpeg_encoder::Encoder::new(&mut out, quality);
    e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    if e.encode(px, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).is_err() {
        return Vec::new();
    }
    out
}


/// Joins strip JPEGs (identical tables) into one JPEG with restart markers.
fn stitch(parts: &[Vec<u8>], w: usize, h: usize, interval: u16) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 64);
    for (k, p) in parts.iter().enumerate() {
        let info = crate::container::walk_jpeg(p, 1).ok()?;
        let sos = info.segments.iter().find(|s| s.marker == 0xDA)?;
        if k == 0 {
            // Header: everything before SOS, with the SOF height fixed, then
            // DRI, then the SOS header.
            let sof = info.segments.iter().find(|s| s.marker == 0xC0)?;
            out.extend_from_slice(&p[..sos.start]);
            let hpos = sof.payload_start + 1;
            out[hpos..hpos + 2].copy_from_slice(&(h as u16).to_be_bytes());
            let wpos = sof.payload_start + 3;
            if u16::from_be_bytes([out[wpos], out[wpos + 1]]) as usize != w {
                return None;
            }
            out.extend_from_slice(&[0xFF, 0xDD, 0, 4]);
            out.extend_from_slice(&interval.to_be_bytes());
            out.extend_from_slice(&p[sos.start..sos.payload_end]);
        } else {
            out.extend_from_slice(&[0xFF, 0xD0 + ((k - 1) % 8) as u8]);
        }
        out.extend_from_slice(&p[sos.payload_end..sos.end]);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

/// Lossless PNG (RGB8, fast compression) with no ancillary metadata, of `img` with EXIF
/// orientation `o` applied (rows rotated a band at a time, never a whole upright copy).
pub fn encode_png_oriented(img: &Rgb, o: u32) -> Vec<u8> {
    use std::io::Write;
    let o = if (2..=8).contains(&o) { o } else { 1 };
    let (w, h) = upright_dims(img.w, img.h, o);
    let mut out = Vec::with_capacity(img.px.len() / 2);
    {
        let mut e = png::Encoder::new(&mut out, w, h);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Fast);
        let Ok(mut wr) = e.write_header() else { return Vec::new() };
        if o == 1 {
            if wr.write_image_data(&img.px).is_err() {
                return Vec::new();
            }
        } else {
            let Ok(mut sw) = wr.stream_writer() else { return Vec::new() };
            let mut band = Vec::new();
            for y0 in (0..h as usize).step_by(ORIENT_BAND_ROWS) {
                let y1 = (y0 + ORIENT_BAND_ROWS).min(h as usize);
                band.resize((y1 - y0) * w as usize * 3, 0);
                orient_rows(img, o, y0, y1, &mut band);
                if sw.write_all(&band).is_err() {
                    return Vec::new();
                }
            }
            if sw.finish().is_err() {
                return Vec::new();
            }
        }
        let _ = wr.finish();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(w: u32, h: u32) -> Rgb {
        let px = (0..w * h * 3).map(|i| ((i.wrapping_mul(2_654_435_761) >> 13) % 200 + (i / 3 % w) * 50 / w) as u8).collect();
        Rgb { w, h, px }
    }

    #[test]
    fn orienting_moves_each_pixel_where_exif_says() {
        // 37x21: the transposes (5-8) take 16 upright rows at a time, then the last 5 (of 37).
        for (w, h, o) in [7usize, 37].into_iter().zip([5usize, 21]).flat_map(|(w, h)| (1..=8u32).map(move |o| (w, h, o))) {
            let src = textured(w as u32, h as u32);
            let up = orient(&src, o);
            let (ow, oh) = upright_dims(w as u32, h as u32, o);
            assert_eq!((up.w, up.h), (ow, oh));
            for y in 0..oh as usize {
                for x in 0..ow as usize {
                    // EXIF's definitions, pixel by pixel.
                    let (sx, sy) = match o {
                        2 => (w - 1 - x, y),
                        3 => (w - 1 - x, h - 1 - y),
                        4 => (x, h - 1 - y),
                        5 => (y, x),
                        6 => (y, h - 1 - x),
                        7 => (w - 1 - y, h - 1 - x),
                        8 => (w - 1 - y, x),
                        _ => (x, y),
                    };
                    let (d, s) = ((y * ow as usize + x) * 3, (sy * w + sx) * 3);
                    assert_eq!(up.px[d..d + 3], src.px[s..s + 3], "orientation {o} at ({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn halving_averages_each_two_by_two_block_and_drops_an_odd_last_row_and_column() {
        let src = textured(5, 3);
        let half = halve(&src);
        assert_eq!((half.w, half.h), (2, 1));
        for x in 0..2usize {
            for c in 0..3 {
                let at = |xx: usize, yy: usize| src.px[(yy * 5 + xx) * 3 + c] as u32;
                let sum = at(2 * x, 0) + at(2 * x + 1, 0) + at(2 * x, 1) + at(2 * x + 1, 1);
                assert_eq!(half.px[x * 3 + c] as u32, (sum + 2) / 4, "pixel {x} channel {c}");
            }
        }
    }

    #[test]
    fn shrinking_in_place_gives_the_same_pixels_as_a_separate_resize() {
        let src = textured(900, 1300);
        for f in [0.95, 0.7, 0.5, 0.3, 0.1] {
            let (w, h) = ((900.0 * f) as u32, (1300.0 * f) as u32);
            let expected = resize_rgb(&src, w, h, LANCZOS);
            let got = shrink_in_place(src.clone(), w, h, LANCZOS);
            assert_eq!((got.w, got.h), (w, h));
            assert!(got.px == expected.px, "scale {f}: in-place result differs");
        }
    }

    #[test]
    fn banded_resize_matches_one_pass() {
        let src = textured(700, 1100);
        let (w, h) = (300, 471);
        let banded = resize_rgb(&src, w, h, LANCZOS);
        let mut one = vec![0u8; w as usize * h as usize * 3];
        let s = fr::images::TypedImageRef::<fr::pixels::U8x3>::from_buffer(src.w, src.h, &src.px).unwrap();
        let mut d = fr::images::TypedImage::<fr::pixels::U8x3>::from_buffer(w, h, &mut one).unwrap();
        fr::Resizer::new().resize_typed(&s, &mut d, &fr::ResizeOptions::new().resize_alg(LANCZOS)).unwrap();
        let worst = banded.px.iter().zip(&one).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
        assert!(worst <= 1, "bands differ from a single pass by up to {worst}");
    }

    #[test]
    fn libjpeg_and_the_rust_encoder_give_the_same_picture() {
        // Smooth gradients with a little texture: what a photo of skin looks like to JPEG.
        let (w, h) = (1000u32, 1600u32);
        let px = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let t = (i.wrapping_mul(2_654_435_761) >> 28) as u32;
                [(40 + x * 180 / w + t) as u8, (30 + y * 150 / h + t) as u8, (60 + (x + y) * 100 / (w + h) + t) as u8]
            })
            .collect();
        let src = Rgb { w, h, px };
        for o in [1, 6] {
            let (a, b) = (encode_jpeg_oriented(&src, o, 92), encode_jpeg_oriented_lean(&src, o, 92));
            let (da, db) = (image::load_from_memory(&a).unwrap().to_rgb8(), image::load_from_memory(&b).unwrap().to_rgb8());
            assert_eq!(da.dimensions(), db.dimensions(), "orientation {o}");
            assert_eq!(da.dimensions(), upright_dims(src.w, src.h, o), "orientation {o}: upright");
            let upright = orient(&src, o);
            for (name, d) in [("libjpeg", &da), ("jpeg-encoder", &db)] {
                let mean = d.as_raw().iter().zip(&upright.px).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / upright.px.len() as f64;
                assert!(mean < 2.0, "{name}, orientation {o}: mean error {mean:.2} against the source");
            }
        }
    }

    #[test]
    fn oriented_encoding_equals_encoding_a_rotated_copy() {
        let src = textured(1000, 1600); // big enough for strips (1.6 MP)
        for o in 2..=8 {
            let a = encode_jpeg_oriented(&src, o, 90);
            let b = encode_jpeg(&orient(&src, o), 90);
            assert!(!a.is_empty() && a.len().abs_diff(b.len()) * 100 <= b.len(), "orientation {o}: {} vs {} bytes", a.len(), b.len());
            let (da, db) = (image::load_from_memory(&a).unwrap().to_rgb8(), image::load_from_memory(&b).unwrap().to_rgb8());
            assert_eq!(da.dimensions(), db.dimensions(), "orientation {o}");
            let worst = da.as_raw().iter().zip(db.as_raw()).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
            assert!(worst <= 4, "orientation {o}: pixels differ by up to {worst}");
            let png = encode_png_oriented(&src, o);
            let dp = image::load_from_memory(&png).unwrap().to_rgb8();
            assert!(dp.as_raw() == &orient(&src, o).px, "orientation {o}: PNG is lossless and upright");
        }
    }
}
