//! Behavioural tests of the intake pipeline on generated photos.

use telederm_imaging::synth::{self, JpegOpts, Scene};
use telederm_imaging::*;

fn lim() -> IntakeLimits {
    IntakeLimits::default()
}
/// Most tests use small images; the service minimum is lowered so that
/// resolution does not mask the check under test (see small_photo_is_low_resolution).
fn req() -> QualityRequirements {
    QualityRequirements::with_min(320)
}

const LIGHT: usize = 1; // Fitzpatrick II
const MEDIUM: usize = 3; // IV
const DARK: usize = 5; // VI
const TONES: [usize; 3] = [LIGHT, MEDIUM, DARK];

fn scene(tone: usize) -> Scene {
    Scene { width: 1024, height: 768, tone, ..Default::default() }
}

fn jpg(s: &Scene) -> Vec<u8> {
    synth::jpeg(&synth::render(s), JpegOpts::default())
}

fn codes(r: &QualityReport) -> Vec<(IssueCode, Severity)> {
    r.issues.iter().map(|i| (i.code, i.severity)).collect()
}

fn decode_rgb(bytes: &[u8]) -> image::RgbImage {
    image::load_from_memory(bytes).expect("output decodes").to_rgb8()
}

/// Asserts the output carries no EXIF at all, or at least no GPS/device tags.
fn assert_clean(bytes: &[u8]) {
    if let Ok(e) = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) {
        for f in e.fields() {
            assert!(f.tag.context() != exif::Context::Gps, "GPS tag {:?} left", f.tag);
            assert!(
                !matches!(f.tag, exif::Tag::Make | exif::Tag::Model | exif::Tag::BodySerialNumber | exif::Tag::MakerNote),
                "device tag {:?} left",
                f.tag
            );
        }
    }
    for needle in [&b"GPS"[..], b"TestPhone", b"SN-1234567890", b"MOTION-PHOTO", b"IPTC", b"xmpmeta"] {
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{:?} found in output", String::from_utf8_lossy(needle));
    }
}

/// Red marker must be in the top-left corner and not elsewhere.
fn assert_upright(img: &image::RgbImage) {
    let (w, h) = img.dimensions();
    let red = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        p[0] > 150 && p[1] < 80 && p[2] < 80
    };
    let m = (w.min(h) / 40).max(1);
    assert!(red(m, m), "marker missing from top-left ({w}x{h}): {:?}", img.get_pixel(m, m));
    assert!(!red(w - 1 - m, m) && !red(m, h - 1 - m) && !red(w - 1 - m, h - 1 - m), "marker in another corner");
}

#[test]
fn sharp_photos_are_accepted_for_all_tones() {
    for t in TONES {
        let r = check(&jpg(&scene(t)), &lim(), &req());
        assert_eq!(r.verdict, Verdict::Accept, "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        assert_eq!((r.width, r.height, r.format.as_str()), (1024, 768, "jpeg"));
        assert!(!r.dermoscopic);
        assert_eq!(r.faces, 0);
    }
}

#[test]
fn defocus_is_rejected_for_all_tones() {
    for t in TONES {
        let r = check(&jpg(&Scene { defocus: 0.006, ..scene(t) }), &lim(), &req());
        assert!(r.issues.iter().any(|i| i.code == IssueCode::Blurred && i.severity == Severity::Reject), "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        assert_eq!(r.verdict, Verdict::Reject);
        let msg = &r.issues.iter().find(|i| i.code == IssueCode::Blurred).unwrap().message;
        assert!(msg.contains("30 cm") && msg.contains("focus"), "{msg}");
    }
}

#[test]
fn motion_blur_is_flagged_for_all_tones() {
    for t in TONES {
        let r = check(&jpg(&Scene { motion: 0.015, ..scene(t) }), &lim(), &req());
        assert!(r.has(IssueCode::Blurred), "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        assert_ne!(r.verdict, Verdict::Accept);
    }
}

fn with_camera(s: &Scene, stops: f64) -> Vec<u8> {
    synth::jpeg(&synth::render(s), JpegOpts { camera: Some(synth::CameraExposure::off_by(stops)), ..Default::default() })
}

#[test]
fn underexposure_is_called_on_evidence_never_on_skin_colour() {
    // Three stops under: the camera's own record says so on every tone.
    for t in TONES {
        let r = check(&with_camera(&Scene { ev: -3.0, ..scene(t) }, -3.0), &lim(), &req());
        assert!(r.has(IssueCode::Underexposed) && !r.has(IssueCode::Overexposed), "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        assert_eq!(r.metrics.exposure_ev, Some(-3.0));
        let msg = &r.issues.iter().find(|i| i.code == IssueCode::Underexposed).unwrap().message;
        assert!(msg.contains("daylight"), "{msg}");
    }
    // From the pixels alone: the dark-skin photo three stops under is squeezed against black
    // (p99 16) and called dark; the light-skin one looks like a good photo of darker skin and is
    // not called dark.
    let r = check(&jpg(&Scene { ev: -3.0, ..scene(DARK) }), &lim(), &req());
    assert!(r.has(IssueCode::Underexposed) && r.metrics.p99_luma < UNDER_P99_WARN, "{:?} {:?}", codes(&r), r.metrics);
    let r = check(&jpg(&Scene { ev: -3.0, ..scene(LIGHT) }), &lim(), &req());
    assert!(!r.has(IssueCode::Underexposed), "{:?} {:?}", codes(&r), r.metrics);
    // Well exposed Fitzpatrick V and VI: no exposure or blur complaint, with or without EXIF.
    for t in [4, 5] {
        for bytes in [jpg(&scene(t)), with_camera(&scene(t), 0.0)] {
            let r = check(&bytes, &lim(), &req());
            assert_eq!(codes(&r), vec![], "tone {t}: {:?}", r.metrics);
        }
    }
}

#[test]
fn overexposure_is_called_on_clipping_or_the_cameras_record() {
    for t in TONES {
        let r = check(&jpg(&Scene { ev: 3.0, ..scene(t) }), &lim(), &req());
        if t == DARK {
            // Three stops over, Fitzpatrick VI skin does not clip: it looks like lighter skin.
            assert!(!r.has(IssueCode::Overexposed), "{:?} {:?}", codes(&r), r.metrics);
        } else {
            assert!(codes(&r).contains(&(IssueCode::Overexposed, Severity::Reject)), "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        }
        let r = check(&with_camera(&Scene { ev: 3.0, ..scene(t) }, 3.0), &lim(), &req());
        assert!(r.has(IssueCode::Overexposed), "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        assert_ne!(r.verdict, Verdict::Accept);
    }
}

#[test]
fn camera_exposure_record_is_read_from_apex_or_bias() {
    let s = scene(MEDIUM);
    let img = synth::render(&s);
    let cam = synth::CameraExposure::off_by(-2.0);
    for (c, want) in [
        (cam, Some(-2.0)),
        // APEX alone (no bias written)
        (synth::CameraExposure { bias: None, ..cam }, Some(-2.0)),
        // Bias alone (no brightness value)
        (synth::CameraExposure { brightness: None, ..cam }, Some(-2.0)),
        // Neither
        (synth::CameraExposure { brightness: None, bias: None, ..cam }, None),
        (synth::CameraExposure::off_by(0.0), Some(0.0)),
    ] {
        let bytes = synth::jpeg(&img, JpegOpts { camera: Some(c), ..Default::default() });
        let r = check(&bytes, &lim(), &req());
        assert_eq!(r.metrics.exposure_ev, want, "{c:?}");
        assert_eq!(r.has(IssueCode::Underexposed), want == Some(-2.0), "{c:?}");
    }
}

#[test]
fn a_photo_at_the_size_the_service_asks_for_passes_its_resolution_check() {
    // City & Hackney asks for "Large" attachments (its policy: refuse below 640, warn below 960).
    let hackney = QualityRequirements { min_short_side_px: 640, recommended_short_side_px: 960 };
    for (w, h) in [(1632, 1224), (1600, 1200), (1280, 960), (1224, 1632)] {
        let r = check(&jpg(&Scene { width: w, height: h, ..scene(MEDIUM) }), &lim(), &hackney);
        assert_eq!(codes(&r), vec![], "{w}x{h}: {:?}", r.metrics);
    }
    let r = check(&jpg(&Scene { width: 1200, height: 900, ..scene(MEDIUM) }), &lim(), &hackney);
    assert_eq!(codes(&r), vec![(IssueCode::LowResolution, Severity::Warn)]);
    let r = check(&jpg(&Scene { width: 640, height: 480, ..scene(MEDIUM) }), &lim(), &hackney);
    // "Medium" (640x480) is below the minimum.
    assert_eq!(codes(&r), vec![(IssueCode::LowResolution, Severity::Reject)]);
}

#[test]
fn small_photo_is_low_resolution() {
    let r = check(&jpg(&Scene { width: 600, height: 450, ..scene(MEDIUM) }), &lim(), &QualityRequirements::default());
    assert!(r.issues.iter().any(|i| i.code == IssueCode::LowResolution && i.severity == Severity::Reject), "{:?}", codes(&r));
    let r = check(&jpg(&Scene { width: 1000, height: 750, ..scene(MEDIUM) }), &lim(), &QualityRequirements::default());
    assert!(r.issues.iter().any(|i| i.code == IssueCode::LowResolution && i.severity == Severity::Warn), "{:?}", codes(&r));
    // the service's policy decides
    let r = check(&jpg(&Scene { width: 1000, height: 750, ..scene(MEDIUM) }), &lim(), &QualityRequirements::with_min(300));
    assert!(!r.has(IssueCode::LowResolution));
}

#[test]
fn dermoscopic_view_is_detected_and_masked() {
    for t in TONES {
        let r = check(&jpg(&Scene { dermoscopic: true, ..scene(t) }), &lim(), &req());
        assert!(r.dermoscopic, "tone {t}: {:?}", r.metrics);
        // the black surround must not count as underexposure
        assert!(!r.has(IssueCode::Underexposed) && !r.has(IssueCode::Blurred), "tone {t}: {:?} {:?}", codes(&r), r.metrics);
        assert!(r.metrics.fov_fraction > 0.4 && r.metrics.fov_fraction < 0.8);
    }
    let r = check(&jpg(&Scene { dermoscopic: true, defocus: 0.006, ..scene(MEDIUM) }), &lim(), &req());
    assert!(r.dermoscopic && r.has(IssueCode::Blurred), "{:?} {:?}", codes(&r), r.metrics);
}

#[test]
fn faces_are_counted_on_a_real_photo() {
    // A crop of rustface's own test photo (tests/data/README.md), where faces are ~10% of the
    // frame, as in a locator shot.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rustface_crop.png");
    let crop = image::open(path).expect("rustface_crop.png").to_rgb8();
    let mut bytes = std::io::Cursor::new(Vec::new());
    crop.write_to(&mut bytes, image::ImageFormat::Jpeg).unwrap();
    let r = check(bytes.get_ref(), &lim(), &req());
    assert!(r.faces >= 2, "faces {} {:?}", r.faces, codes(&r));
    assert!(r.has(IssueCode::FaceDetected));
    assert_ne!(r.verdict, Verdict::Accept);
    // No faces on skin photos.
    assert_eq!(check(&jpg(&scene(MEDIUM)), &lim(), &req()).faces, 0);
}

#[test]
fn rotated_photo_with_gps_is_upright_and_clean_in_every_output() {
    let upright = synth::render(&Scene { width: 1200, height: 900, ..scene(MEDIUM) });
    for o in [1u16, 3, 6, 8] {
        let stored = synth::store_for_orientation(&upright, o as u32);
        let bytes = synth::jpeg(&stored, JpegOpts { exif: Some((o, true)), extras: true, ..Default::default() });
        let out = intake(&bytes, &lim(), &req()).expect("intake");
        let r = &out.report;
        assert_eq!((r.width, r.height), (1200, 900), "orientation {o}");
        assert_eq!(r.metrics.exif_orientation, o as u32);
        for needle in ["location removed", "device make and model removed", "device serial number removed", "XMP metadata removed", "IPTC metadata removed"] {
            assert!(r.metadata_removed.iter().any(|s| s == needle), "{needle} missing from {:?}", r.metadata_removed);
        }
        assert!(r.metadata_removed.iter().any(|s| s.starts_with("trailing data removed")));
        for d in [&out.original, &out.attachment, &out.preview, &out.thumbnail] {
            assert_clean(&d.bytes);
            let img = decode_rgb(&d.bytes);
            assert_eq!(img.dimensions(), (d.width, d.height));
            assert!(d.width > d.height, "orientation {o}: {}x{}", d.width, d.height);
            assert_upright(&img);
            assert_eq!(d.sha256, hex::encode(sha2_digest(&d.bytes)));
            assert_eq!(d.sha256.len(), 64);
        }
        assert_eq!((out.original.width, out.original.height), (1200, 900));
        assert!(out.thumbnail.width == 256 && out.preview.width == 1200);
        if o == 1 {
            // lossless: the entropy-coded data is kept, so it decodes to the same pixels
            assert_eq!(decode_rgb(&out.original.bytes), decode_rgb(&bytes), "lossless strip changed pixels");
            assert!(out.original.bytes.len() < bytes.len());
        }
    }
}

fn sha2_digest(b: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(b).to_vec()
}

#[test]
fn big_preview_and_attachment_sizes() {
    // 12 MP, noisy enough that q92 exceeds 5 MiB would be unusual; check limits hold.
    let img = synth::render(&Scene { width: 2400, height: 1800, noise: 6.0, ..scene(DARK) });
    let bytes = synth::jpeg(&img, JpegOpts { quality: 100, exif: Some((6, true)), ..Default::default() });
    let out = intake(&bytes, &lim(), &req()).expect("intake");
    assert_eq!((out.report.width, out.report.height), (1800, 2400));
    assert_eq!((out.preview.width, out.preview.height), (1536, 2048));
    assert_eq!((out.thumbnail.width, out.thumbnail.height), (192, 256));
    assert!(out.attachment.bytes.len() <= ERS_MAX_BYTES);
    // The original is the q100 file turned upright losslessly (it keeps the q100 size: more than
    // e-RS takes), so the attachment is encoded separately to fit.
    assert_eq!(out.report.orientation_applied, OrientationApplied::Lossless);
    assert!(out.original.bytes.len() > ERS_MAX_BYTES, "original {} bytes", out.original.bytes.len());
    assert_ne!(out.attachment.sha256, out.original.sha256, "an original above the e-RS limit is not the attachment");
    assert_eq!((out.original.width, out.original.height), (1800, 2400));
    for d in [&out.original, &out.attachment, &out.preview, &out.thumbnail] {
        assert_clean(&d.bytes);
    }
}

#[test]
fn oversized_attachment_is_reencoded_to_fit() {
    // Pure noise at q100 is far above 5 MiB.
    let (w, h) = (2600u32, 2000u32);
    let mut x = 0x1234_5678u32;
    let px = (0..w * h * 3).map(|_| { x ^= x << 13; x ^= x >> 17; x ^= x << 5; (x >> 24) as u8 }).collect();
    let img = Rgb { w, h, px };
    let bytes = synth::jpeg(&img, JpegOpts { quality: 100, ..Default::default() });
    assert!(bytes.len() > ERS_MAX_BYTES, "fixture too small: {}", bytes.len());
    let out = intake(&bytes, &lim(), &req()).expect("intake");
    assert!(out.attachment.bytes.len() <= ERS_MAX_BYTES);
    assert!(out.original.bytes.len() <= bytes.len());
    assert!(out.attachment.width >= 1500);
}

#[test]
fn cmyk_grey_and_progressive_jpegs_decode() {
    let img = synth::render(&scene(MEDIUM));
    for (name, o) in [
        ("cmyk", JpegOpts { cmyk: true, ..Default::default() }),
        ("grey", JpegOpts { grey: true, ..Default::default() }),
        ("progressive", JpegOpts { progressive: true, exif: Some((1, true)), ..Default::default() }),
    ] {
        let bytes = synth::jpeg(&img, o);
        let out = intake(&bytes, &lim(), &req()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((out.report.width, out.report.height), (1024, 768), "{name}");
        assert!(!out.report.has(IssueCode::Blurred), "{name}: {:?}", codes(&out.report));
        let prev = decode_rgb(&out.preview.bytes);
        if name != "grey" {
            assert_upright(&prev);
            // colours roughly preserved (CMYK inversion handled)
            let p = prev.get_pixel(20, 400);
            let s = img.px[(400 * 1024 + 20) * 3..(400 * 1024 + 20) * 3 + 3].to_vec();
            for c in 0..3 {
                assert!((p[c] as i32 - s[c] as i32).abs() < 40, "{name}: {:?} vs {:?}", p, s);
            }
        }
        assert!(out.attachment.bytes.len() <= ERS_MAX_BYTES);
        assert_clean(&out.original.bytes);
        assert_clean(&out.attachment.bytes);
    }
}

#[test]
fn png_metadata_is_stripped_losslessly() {
    let img = synth::render(&Scene { width: 800, height: 700, ..scene(LIGHT) });
    let bytes = synth::png_with_text(&img);
    let out = intake(&bytes, &lim(), &req()).expect("png");
    assert_eq!(out.original.content_type, "image/png");
    assert_eq!(decode_rgb(&out.original.bytes).as_raw(), &img.px);
    assert!(out.report.metadata_removed.iter().any(|s| s == "location removed"), "{:?}", out.report.metadata_removed);
    assert_clean(&out.original.bytes);
    assert_eq!(out.attachment.content_type, "image/jpeg");
}

#[test]
fn truncated_jpeg_is_corrupt() {
    let bytes = jpg(&scene(MEDIUM));
    for cut in [bytes.len() / 2, bytes.len() - 2, 600] {
        let e = intake(&bytes[..cut], &lim(), &req()).unwrap_err();
        assert_eq!(e.code, IssueCode::Corrupt, "cut {cut}");
        let r = check(&bytes[..cut], &lim(), &req());
        assert_eq!(r.verdict, Verdict::Reject);
        assert_eq!(codes(&r), vec![(IssueCode::Corrupt, Severity::Reject)]);
    }
}

#[test]
fn wrong_formats_are_unsupported() {
    let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\0rest-of-file";
    let e = intake(heic, &lim(), &req()).unwrap_err();
    assert_eq!(e.code, IssueCode::UnsupportedFormat);
    assert!(e.message.contains("JPEG"), "{}", e.message);
    assert_eq!(e.report().format, "heic");
    for junk in [&b"<html><body>not a photo</body></html>"[..], b"", b"%PDF-1.7 ...", b"RIFF\0\0\0\0WEBPVP8 "] {
        let r = check(junk, &lim(), &req());
        assert_eq!(codes(&r), vec![(IssueCode::UnsupportedFormat, Severity::Reject)]);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["issues"][0]["code"], "unsupported_format");
        assert_eq!(j["verdict"], "reject");
    }
}

#[test]
fn file_size_limit() {
    let bytes = jpg(&Scene { width: 800, height: 600, ..scene(MEDIUM) });
    let l = IntakeLimits { max_file_bytes: 1000, ..lim() };
    assert_eq!(intake(&bytes, &l, &req()).unwrap_err().code, IssueCode::FileTooLarge);
}

/// A 60000 x 60000 header with almost no data: refused from the header.
fn bomb_jpeg(w: u16, h: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.extend_from_slice(&[0xFF, 0xDB, 0, 67, 0]);
    v.extend_from_slice(&[1u8; 64]);
    v.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
    v.extend_from_slice(&h.to_be_bytes());
    v.extend_from_slice(&w.to_be_bytes());
    v.extend_from_slice(&[1, 1, 0x11, 0]);
    v.extend_from_slice(&[0xFF, 0xC4, 0, 20, 0x00, 1]);
    v.extend_from_slice(&[0u8; 15]);
    v.push(0);
    v.extend_from_slice(&[0xFF, 0xC4, 0, 20, 0x10, 1]);
    v.extend_from_slice(&[0u8; 15]);
    v.push(0);
    v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    v.extend_from_slice(&[0u8; 32]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn bomb_png(w: u32, h: u32) -> Vec<u8> {
    // Valid header for a huge image, with a tiny (compressed) IDAT.
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, 16, 16);
        e.set_color(png::ColorType::Rgb);
        let mut wr = e.write_header().unwrap();
        wr.write_image_data(&[0u8; 16 * 16 * 3]).unwrap();
    }
    out[16..20].copy_from_slice(&w.to_be_bytes());
    out[20..24].copy_from_slice(&h.to_be_bytes());
    out
}

#[test]
fn decompression_bombs_are_refused_by_their_headers() {
    // Refused from the declared dimensions, before any pixel buffer is allocated (how fast that
    // is belongs in a benchmark, not in a pass/fail test on a shared machine).
    for b in [bomb_jpeg(60000, 60000), bomb_jpeg(16000, 16000), bomb_png(100_000, 100_000), bomb_png(10_000, 10_000)] {
        let e = intake(&b, &lim(), &req()).unwrap_err();
        assert_eq!(e.code, IssueCode::DimensionsExceedLimit, "{e}");
        assert_eq!(check(&b, &lim(), &req()).issues[0].code, IssueCode::DimensionsExceedLimit);
    }
    // A PNG header within limits but with far too little data is corrupt, not a crash.
    let e = intake(&bomb_png(4000, 4000), &lim(), &req()).unwrap_err();
    assert_eq!(e.code, IssueCode::Corrupt);
}

#[test]
fn progressive_scan_bomb_is_refused() {
    let img = synth::render(&Scene { width: 64, height: 64, ..scene(MEDIUM) });
    let bytes = synth::jpeg(&img, JpegOpts { progressive: true, ..Default::default() });
    // Duplicate the last scan many times before EOI.
    let body = &bytes[..bytes.len() - 2];
    let last_sos = body.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    let mut bomb = body.to_vec();
    for _ in 0..200 {
        bomb.extend_from_slice(&body[last_sos..]);
    }
    bomb.extend_from_slice(&[0xFF, 0xD9]);
    let e = intake(&bomb, &lim(), &req()).unwrap_err();
    assert_eq!(e.code, IssueCode::Corrupt);
    assert!(e.message.contains("scans"));
}

#[test]
fn gif_and_tiff_are_accepted_as_png_originals() {
    let img = synth::render(&Scene { width: 800, height: 700, ..scene(MEDIUM) });
    let buf = image::RgbImage::from_raw(img.w, img.h, img.px.clone()).unwrap();
    for fmt in [image::ImageFormat::Tiff, image::ImageFormat::Gif] {
        let mut out = std::io::Cursor::new(Vec::new());
        buf.write_to(&mut out, fmt).unwrap();
        let r = intake(out.get_ref(), &lim(), &req()).expect("decodes");
        assert_eq!(r.original.content_type, "image/png");
        assert_eq!((r.report.width, r.report.height), (800, 700));
        assert_upright(&decode_rgb(&r.preview.bytes));
    }
}

#[test]
fn report_json_shape() {
    let r = check(&jpg(&scene(MEDIUM)), &lim(), &req());
    let j = serde_json::to_value(&r).unwrap();
    for k in ["verdict", "issues", "format", "width", "height", "dermoscopic", "faces", "metadata_removed", "skin_tone_band", "metrics"] {
        assert!(j.get(k).is_some(), "{k}");
    }
    assert_eq!(j["verdict"], "accept");
}

/// A reduced-scale decode within 1/32 of the preview's 2048 px is the preview itself, never
/// scaled up: a 12 MP phone photo (4032x3024) at 1/2 gives 2016x1512, an 8 MP one (3264x2448) at
/// 5/8 gives 2040x1530. One whose nearest decode falls further short (2600 px: 7/8 is 2275, 6/8
/// only 1950) is decoded larger and resized to 2048. Upright and EXIF-rotated alike.
#[test]
fn a_phone_photo_s_preview_is_its_reduced_scale_decode_never_upscaled() {
    let cases = [
        (4032, 3024, 1, (2016, 1512)),
        (4032, 3024, 6, (1512, 2016)),
        (3264, 2448, 1, (2040, 1530)),
        (2600, 1950, 1, (2048, 1536)),
        // Cannot be turned upright losslessly (3000 rows are not whole 16-row MCUs): decoded at
        // full size for the re-encoded original, and the preview is that decode halved.
        (4000, 3000, 6, (1500, 2000)),
    ];
    for (w, h, o, preview) in cases {
        let img = synth::render(&Scene { width: w, height: h, ..scene(DARK) });
        let bytes = synth::jpeg(&img, JpegOpts { quality: 85, exif: Some((o, false)), ..Default::default() });
        let out = intake(&bytes, &lim(), &req()).expect("intake");
        assert_eq!((out.preview.width, out.preview.height), preview, "{w}x{h} orientation {o}");
        let decoded = image::load_from_memory(&out.preview.bytes).expect("the preview decodes");
        assert_eq!((decoded.width(), decoded.height()), preview, "{w}x{h} orientation {o}: the JPEG itself");
    }
}

/// Photo processing runs on the intake's own threads at a lower CPU priority (ten steps of nice on Linux),
/// so a burst of uploads cannot starve request handling; a panic there reaches the caller as an
/// error instead of ending the process or leaving the caller waiting.
#[test]
fn the_intake_runs_on_its_own_lower_priority_threads_and_a_panic_is_an_answer() {
    use std::sync::mpsc;
    let (tx, rx) = mpsc::channel();
    telederm_imaging::spawn_on_intake_threads(
        || {
            let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
            (std::thread::current().name().map(str::to_string), nice, rayon::current_num_threads())
        },
        move |r| tx.send(r).unwrap(),
    );
    let (name, nice, threads) = rx.recv().unwrap().unwrap();
    assert!(name.is_some_and(|n| n.starts_with("intake-")));
    // This test's own thread, which started the pool.
    let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
    assert_eq!(nice, (own + telederm_imaging::INTAKE_THREAD_NICE).min(19), "ten steps below the thread that started them");
    assert_eq!(threads, std::thread::available_parallelism().unwrap().get(), "one thread per core");

    let (tx, rx) = mpsc::channel();
    telederm_imaging::spawn_on_intake_threads(|| -> u8 { panic!("a decoder bug") }, move |r| tx.send(r).unwrap());
    assert_eq!(rx.recv().unwrap(), Err("a decoder bug".to_string()));
    // The threads survive it.
    let (tx, rx) = mpsc::channel();
    telederm_imaging::spawn_on_intake_threads(|| 7, move |r| tx.send(r).unwrap());
    assert_eq!(rx.recv().unwrap(), Ok(7));
}
