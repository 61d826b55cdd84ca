//! RGB8 buffers, orientation, resizing and JPEG/PNG encoding of derivatives.

use fast_image_resize as fr;

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
    let (w, h) = (img.w as usize, img.h as usize);
    let swap = o >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let mut out = vec![0u8; ow * oh * 3];
    // Map each output pixel (x, y) back to a source pixel; blocked for cache.
    const B: usize = 64;
    for by in (0..oh).step_by(B) {
        for bx in (0..ow).step_by(B) {
            for y in by..(by + B).min(oh) {
                let row = &mut out[y * ow * 3..(y + 1) * ow * 3];
                for x in bx..(bx + B).min(ow) {
                    let (sx, sy) = match o {
                        2 => (w - 1 - x, y),
                        3 => (w - 1 - x, h - 1 - y),
                        4 => (x, h - 1 - y),
                        5 => (y, x),
                        6 => (y, h - 1 - x),
                        7 => (w - 1 - y, h - 1 - x),
                        _ => (w - 1 - y, x), // 8
                    };
                    let s = (sy * w + sx) * 3;
                    row[x * 3..x * 3 + 3].copy_from_slice(&img.px[s..s + 3]);
                }
            }
        }
    }
    Rgb { w: ow as u32, h: oh as u32, px: out }
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

pub fn resize_rgb(src: &Rgb, w: u32, h: u32, alg: fr::ResizeAlg) -> Rgb {
    if src.w == w && src.h == h {
        return src.clone();
    }
    // `resize_typed` with the one pixel type we use: the untyped `resize`
    // monomorphises all 13 pixel types into this crate (minutes of build).
    let mut out = vec![0u8; w as usize * h as usize * 3];
    let ok = match (
        fr::images::TypedImageRef::<fr::pixels::U8x3>::from_buffer(src.w, src.h, &src.px),
        fr::images::TypedImage::<fr::pixels::U8x3>::from_buffer(w, h, &mut out),
    ) {
        (Ok(s), Ok(mut d)) => fr::Resizer::new().resize_typed(&s, &mut d, &fr::ResizeOptions::new().resize_alg(alg)).is_ok(),
        _ => false,
    };
    if !ok {
        // Cannot happen for consistent buffers; fall back to nearest neighbour.
        return nearest(src, w, h);
    }
    Rgb { w, h, px: out }
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
    let (w, h) = (img.w as usize, img.h as usize);
    let mcus_per_row = w.div_ceil(16);
    let threads = rayon::current_num_threads().max(1);
    // Strips only for big images; restart interval must fit in u16.
    let mut rows_per_strip = h.div_ceil(threads).div_ceil(16) * 16;
    while mcus_per_row * (rows_per_strip / 16) > 65535 && rows_per_strip > 16 {
        rows_per_strip = (rows_per_strip / 2).div_ceil(16) * 16;
    }
    if threads == 1 || w * h < 1_500_000 || rows_per_strip >= h || w > 65535 || h > 65535 {
        return encode_one(&img.px, w, h, quality);
    }
    let strips: Vec<(usize, usize)> =
        (0..h).step_by(rows_per_strip).map(|y| (y, (y + rows_per_strip).min(h))).collect();
    let parts: Vec<Vec<u8>> = {
        use rayon::prelude::*;
        strips
            .par_iter()
            .map(|&(y0, y1)| encode_one(&img.px[y0 * w * 3..y1 * w * 3], w, y1 - y0, quality))
            .collect()
    };
    match stitch(&parts, w, h, (mcus_per_row * rows_per_strip / 16) as u16) {
        Some(v) => v,
        None => encode_one(&img.px, w, h, quality),
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

/// Lossless PNG (RGB8, fast compression) with no ancillary metadata.
pub fn encode_png(img: &Rgb) -> Vec<u8> {
    let mut out = Vec::with_capacity(img.px.len() / 2);
    {
        let mut e = png::Encoder::new(&mut out, img.w, img.h);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Fast);
        let Ok(mut wr) = e.write_header() else { return Vec::new() };
        if wr.write_image_data(&img.px).is_err() {
            return Vec::new();
        }
        let _ = wr.finish();
    }
    out
}
