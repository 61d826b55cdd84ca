//! Format sniffing, header-only dimension reading and lossless metadata
//! stripping for JPEG and PNG containers. Everything here works on the raw
//! bytes without decoding pixels, and never panics on malformed input.

use std::fmt;

/// Image container format, sniffed from the leading bytes (never the name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Tiff,
    Heic,
    Avif,
    WebP,
    Bmp,
    Unknown,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Tiff => "tiff",
            Format::Heic => "heic",
            Format::Avif => "avif",
            Format::WebP => "webp",
            Format::Bmp => "bmp",
            Format::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub fn sniff(b: &[u8]) -> Format {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        Format::Gif
    } else if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        Format::Tiff
    } else if b.len() >= 12 && &b[4..8] == b"ftyp" {
        let brand = &b[8..12];
        match brand {
            b"avif" | b"avis" => Format::Avif,
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1"
            | b"mif2" => Format::Heic,
            _ => Format::Unknown,
        }
    } else if b.len() >= 12 && &b[0..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Format::WebP
    } else if b.starts_with(b"BM") && b.len() > 26 {
        Format::Bmp
    } else {
        Format::Unknown
    }
}

/// One segment of a JPEG file as found by [`walk_jpeg`].
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub marker: u8,
    /// Start of the marker (the 0xFF byte).
    pub start: usize,
    /// End of the segment including, for SOS, its entropy-coded data.
    pub end: usize,
    /// Payload (after the 2-byte length).
    pub payload_start: usize,
    pub payload_end: usize,
}

#[derive(Debug, Default)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    /// Sampling factors (horizontal, vertical) of each component, from the frame header.
    pub sampling: Vec<(u8, u8)>,
    pub progressive: bool,
    pub scans: u32,
    pub segments: Vec<Segment>,
    /// Offset just after the EOI marker, if one was found.
    pub eoi_end: Option<usize>,
    pub has_sof: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum WalkError {
    Truncated,
    Malformed(&'static str),
    TooManyScans(u32),
}

/// Walks the marker structure of a JPEG (including entropy-coded data) up to
/// EOI. Bounded by `max_scans` (a progressive-scan CPU bomb is refused here,
/// before any decoding). Linear in the input length.
pub fn walk_jpeg(b: &[u8], max_scans: u32) -> Result<JpegInfo, WalkError> {
    let mut info = JpegInfo::default();
    if !b.starts_with(&[0xFF, 0xD8]) {
        return Err(WalkError::Malformed("no SOI"));
    }
    let mut i = 2usize;
    loop {
        // Skip fill bytes.
        if i >= b.len() {
            return Err(WalkError::Truncated);
        }
        if b[i] != 0xFF {
            return Err(WalkError::Malformed("expected a marker"));
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        if i >= b.len() {
            return Err(WalkError::Truncated);
        }
        let marker = b[i];
        let start = i - 1;
        i += 1;
        match marker {
            0xD9 => {
                info.eoi_end = Some(i);
                info.segments.push(Segment { marker, start, end: i, payload_start: i, payload_end: i });
                break;
            }
            0x01 | 0xD0..=0xD7 => {
                info.segments.push(Segment { marker, start, end: i, payload_start: i, payload_end: i });
                continue;
            }
            0x00 => return Err(WalkError::Malformed("stray 0xFF00")),
            _ => {}
        }
        if i + 2 > b.len() {
            return Err(WalkError::Truncated);
        }
        let len = u16::from_be_bytes([b[i], b[i + 1]]) as usize;
        if len < 2 {
            return Err(WalkError::Malformed("segment length"));
        }
        let payload_start = i + 2;
        let payload_end = i + len;
        if payload_end > b.len() {
            return Err(WalkError::Truncated);
        }
        let p = &b[payload_start..payload_end];
        let mut end = payload_end;
        match marker {
            0xC0..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
                if p.len() < 6 {
                    return Err(WalkError::Malformed("short SOF"));
                }
                if info.has_sof {
                    return Err(WalkError::Malformed("second SOF"));
                }
                info.has_sof = true;
                info.height = u16::from_be_bytes([p[1], p[2]]) as u32;
                info.width = u16::from_be_bytes([p[3], p[4]]) as u32;
                info.components = p[5];
                info.sampling = p[6..]
                    .chunks_exact(3)
                    .take(p[5] as usize)
                    .map(|c| ((c[1] >> 4).clamp(1, 4), (c[1] & 15).clamp(1, 4)))
                    .collect();
                info.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
                if !matches!(marker, 0xC0..=0xC2) {
                    return Err(WalkError::Malformed("unsupported JPEG process (lossless/arithmetic)"));
                }
            }
            0xDA => {
                info.scans += 1;
                if info.scans > max_scans {
                    return Err(WalkError::TooManyScans(info.scans));
                }
                // Entropy-coded data: runs to the next marker that is not a
                // stuffed zero or a restart marker.
                let mut j = payload_end;
                loop {
                    match memchr_ff(&b[j..]) {
                        None => return Err(WalkError::Truncated),
                        Some(k) => {
                            j += k;
                            if j + 1 >= b.len() {
                                return Err(WalkError::Truncated);
                            }
                            let n = b[j + 1];
                            if n == 0x00 || (0xD0..=0xD7).contains(&n) || n == 0xFF {
                                j += if n == 0xFF { 1 } else { 2 };
                                continue;
                            }
                            break;
                        }
                    }
                }
                end = j;
            }
            _ => {}
        }
        info.segments.push(Segment { marker, start, end, payload_start, payload_end });
        i = end;
    }
    if !info.has_sof {
        return Err(WalkError::Malformed("no frame header"));
    }
    if info.scans == 0 {
        return Err(WalkError::Malformed("no scan"));
    }
    Ok(info)
}

fn memchr_ff(s: &[u8]) -> Option<usize> {
    memchr::memchr(0xFF, s)
}

/// What a JPEG carries besides pixels; used for the `metadata_removed` list.
#[derive(Debug, Default, Clone)]
pub struct JpegExtras {
    pub exif: Option<(usize, usize)>,
    pub xmp: bool,
    pub xmp_gps: bool,
    pub iptc: bool,
    pub mpf: bool,
    pub comments: bool,
    pub other_app: bool,
    pub trailing_bytes: usize,
}

pub fn jpeg_extras(b: &[u8], info: &JpegInfo) -> JpegExtras {
    let mut x = JpegExtras::default();
    for s in &info.segments {
        let p = &b[s.payload_start..s.payload_end];
        match s.marker {
            // The first Exif segment is the one readers use.
            0xE1 if p.starts_with(b"Exif\0") => x.exif = x.exif.or(Some((s.payload_start + 6, s.payload_end))),
            0xE1 if p.starts_with(b"http://ns.adobe.com/") => {
                x.xmp = true;
                if contains(p, b"GPSLatitude") || contains(p, b"GPSLongitude") {
                    x.xmp_gps = true;
                }
            }
            0xE2 if p.starts_with(b"MPF\0") => x.mpf = true,
            0xE2 if p.starts_with(b"ICC_PROFILE\0") => {}
            0xED => x.iptc = true,
            0xFE => x.comments = true,
            0xE0 | 0xEE => {}
            0xE1..=0xEF => x.other_app = true,
            _ => {}
        }
    }
    if let Some(e) = info.eoi_end {
        x.trailing_bytes = b.len().saturating_sub(e);
    }
    x
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

/// Rebuilds the JPEG keeping only what is needed to decode it exactly
/// (frame, tables, scans, JFIF APP0, ICC profile APP2 and Adobe APP14, which
/// defines the colour transform). Drops EXIF, XMP, IPTC, MPF, comments, all
/// other APPn, and everything after EOI (trailers, motion-photo video,
/// secondary images). The entropy-coded data is copied byte for byte.
pub fn strip_jpeg(b: &[u8], info: &JpegInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    for s in &info.segments {
        let p = &b[s.payload_start..s.payload_end];
        let keep = match s.marker {
            0xE0 => p.starts_with(b"JFIF\0"),
            0xE2 => p.starts_with(b"ICC_PROFILE\0"),
            0xEE => p.starts_with(b"Adobe"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(&b[s.start..s.end]);
        }
    }
    out
}

/// PNG header (IHDR): bit depth, colour type and interlace method (after the dimensions).
pub fn png_format(b: &[u8]) -> Option<(u8, u8, u8)> {
    if b.len() < 29 || &b[12..16] != b"IHDR" {
        return None;
    }
    Some((b[24], b[25], b[28]))
}

/// PNG header (IHDR) dimensions.
pub fn png_dims(b: &[u8]) -> Option<(u32, u32)> {
    if b.len() < 24 || &b[12..16] != b"IHDR" {
        return None;
    }
    Some((
        u32::from_be_bytes([b[16], b[17], b[18], b[19]]),
        u32::from_be_bytes([b[20], b[21], b[22], b[23]]),
    ))
}

#[derive(Debug, Default, Clone)]
pub struct PngExtras {
    pub text: bool,
    pub text_gps: bool,
    pub exif: Option<(usize, usize)>,
    pub time: bool,
    pub other: bool,
    pub trailing_bytes: usize,
}

/// Walks PNG chunks; returns kept bytes (lossless strip) and what was found.
/// `None` if the chunk structure is broken.
pub fn strip_png(b: &[u8]) -> Option<(Vec<u8>, PngExtras)> {
    let mut x = PngExtras::default();
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..8.min(b.len())]);
    let mut i = 8usize;
    loop {
        if i + 12 > b.len() {
            return None;
        }
        let len = u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
        let end = i.checked_add(12)?.checked_add(len)?;
        if end > b.len() {
            return None;
        }
        let ty = &b[i + 4..i + 8];
        let data = &b[i + 8..i + 8 + len];
        let keep = match ty {
            b"IHDR" | b"PLTE" | b"IDAT" | b"IEND" | b"tRNS" | b"gAMA" | b"cHRM" | b"sRGB"
            | b"iCCP" | b"sBIT" | b"pHYs" | b"bKGD" | b"cICP" => true,
            b"tEXt" | b"zTXt" | b"iTXt" => {
                x.text = true;
                if contains(data, b"GPS") {
                    x.text_gps = true;
                }
                false
            }
            b"eXIf" => {
                x.exif = Some((i + 8, i + 8 + len));
                false
            }
            b"tIME" => {
                x.time = true;
                false
            }
            _ => {
                x.other = true;
                false
            }
        };
        if keep {
            out.extend_from_slice(&b[i..end]);
        }
        i = end;
        if ty == b"IEND" {
            x.trailing_bytes = b.len() - i;
            return Some((out, x));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_ignores_garbage() {
        assert_eq!(sniff(b""), Format::Unknown);
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), Format::Jpeg);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Format::Heic);
        assert_eq!(sniff(b"<html>"), Format::Unknown);
    }

    #[test]
    fn walk_never_panics_on_prefixes() {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0];
        v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 1, 2, 0xFF, 0xD9]);
        for n in 0..v.len() {
            let _ = walk_jpeg(&v[..n], 100);
        }
        let info = walk_jpeg(&v, 100).unwrap();
        assert_eq!((info.width, info.height, info.scans), (16, 16, 1));
    }
}
