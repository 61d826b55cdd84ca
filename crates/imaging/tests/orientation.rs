//! Lossless orientation: a JPEG with an EXIF orientation is stored upright without a second
//! quantisation (jpegtran's DCT-domain transforms).
//!
//! What "lossless" can mean when checked with an independent decoder (the `image` crate's):
//! * exact: turning the stored original back (through intake again, with the inverse EXIF
//!   orientation) gives a file that decodes to exactly the pixels of the input: every DCT
//!   coefficient came through unchanged;
//! * direction: the original decodes to the input's pixels turned upright by `image`'s own
//!   orientation code, within the rounding of the decoder's integer inverse DCT and chroma
//!   upsampling, which are not symmetric under mirroring and transposition (a vertical flip is
//!   exact, a horizontal one within 2 levels, a transposition within a few). A q92 re-encode
//!   is compared on the same scale.

use image::metadata::Orientation;
use telederm_imaging::synth::{self, Scene};
use telederm_imaging::*;

fn req() -> QualityRequirements {
    QualityRequirements::with_min(320)
}

/// A camera-like JPEG: the upright scene stored rotated for EXIF orientation `o`, q92, chroma
/// subsampled as phones do (4:2:0, 16x16 MCUs) or not (4:4:4, 8x8), with an EXIF block carrying
/// the orientation, GPS and device tags.
fn camera_jpeg(w: u32, h: u32, o: u16, subsampled: bool) -> Vec<u8> {
    let upright = synth::render(&Scene { width: w, height: h, tone: 3, seed: o as u64, ..Default::default() });
    let stored = synth::store_for_orientation(&upright, o as u32);
    let mut out = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut out, 92);
    e.set_sampling_factor(if subsampled { jpeg_encoder::SamplingFactor::F_2_2 } else { jpeg_encoder::SamplingFactor::F_1_1 });
    e.add_exif_metadata(&synth::exif_block(o, true)).expect("exif");
    e.encode(&stored.px, stored.w as u16, stored.h as u16, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).expect("decodes")
}

/// The input decoded as stored, turned upright by `image` (EXIF orientation semantics).
fn expected_upright(input: &[u8], o: u16) -> image::RgbImage {
    let mut img = decode(input);
    img.apply_orientation(Orientation::from_exif(o as u8).expect("orientation"));
    img.to_rgb8()
}

fn exif_orientation(bytes: &[u8]) -> Option<u32> {
    let e = exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)).ok()?;
    e.get_field(exif::Tag::Orientation, exif::In::PRIMARY).and_then(|f| f.value.get_uint(0))
}

/// The EXIF orientation that undoes orientation `o`.
fn inverse(o: u16) -> u16 {
    match o {
        6 => 8,
        8 => 6,
        o => o,
    }
}

/// `jpeg` with an EXIF block (orientation `o`) inserted after SOI.
fn with_exif(jpeg: &[u8], o: u16) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&synth::exif_block(o, false));
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// (samples that differ, largest difference, mean difference) between two images.
fn diff(a: &image::RgbImage, b: &image::RgbImage) -> (usize, u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let d: Vec<u8> = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y)).collect();
    (d.iter().filter(|&&v| v > 0).count(), d.iter().copied().max().unwrap_or(0), d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64)
}

#[test]
fn mcu_aligned_photos_are_turned_upright_losslessly() {
    // 1024x768 is whole 16x16 MCUs on both axes.
    for subsampled in [true, false] {
        for o in 1u16..=8 {
            let what = format!("o{o} {}", if subsampled { "4:2:0" } else { "4:4:4" });
            let input = camera_jpeg(1024, 768, o, subsampled);
            let out = intake(&input, &IntakeLimits::default(), &req()).expect("intake");
            let r = &out.report;
            let want = if o == 1 { OrientationApplied::None } else { OrientationApplied::Lossless };
            assert_eq!(r.orientation_applied, want, "{what}");
            assert_eq!(serde_json::to_value(r).unwrap()["orientation_applied"], want.as_str());
            assert_eq!(check(&input, &IntakeLimits::default(), &req()).orientation_applied, want, "{what}: check predicts it");
            assert_eq!((r.width, r.height), (1024, 768));
            assert_eq!((out.original.width, out.original.height), (1024, 768));
            assert_eq!(out.original.content_type, "image/jpeg");
            // Metadata gone, so no orientation is left to apply twice.
            assert_eq!(exif_orientation(&out.original.bytes), None, "{what}: EXIF left in the original");
            // A fitting original is the e-RS attachment as it is.
            assert_eq!(out.attachment.sha256, out.original.sha256, "{what}");

            let got = decode(&out.original.bytes).to_rgb8();
            let (n, worst, mean) = diff(&got, &expected_upright(&input, o));
            match o {
                1 | 4 => assert_eq!(n, 0, "{what}: {n} samples differ by up to {worst}"),
                2 | 3 => assert!(worst <= 2 && mean < 0.01, "{what}: mean {mean}, worst {worst}"),
                _ => assert!(worst <= 6 && mean < 0.2, "{what}: mean {mean}, worst {worst}"),
            }

            // Exact: the original turned back through intake decodes to the input's pixels.
            let back = intake(&with_exif(&out.original.bytes, inverse(o)), &IntakeLimits::default(), &req()).expect("intake back");
            assert_eq!(back.report.orientation_applied, want, "{what}: back");
            let (n, worst, _) = diff(&decode(&back.original.bytes).to_rgb8(), &decode(&input).to_rgb8());
            assert_eq!(n, 0, "{what}: turned back, {n} samples differ by up to {worst}: a coefficient changed");
        }
    }
}

#[test]
fn sizes_that_are_not_whole_mcus_are_reencoded_and_say_so() {
    // 1000x750 with 16x16 MCUs: 1000 = 62.5 and 750 = 46.875 MCUs. A rotation by 90 moves the
    // partial bottom row of blocks to the left edge, by 180 both partial edges: not lossless.
    // A transpose (5) moves no partial block and stays lossless.
    for (o, want) in [(6u16, OrientationApplied::Reencoded), (3, OrientationApplied::Reencoded), (8, OrientationApplied::Reencoded), (5, OrientationApplied::Lossless)] {
        let input = camera_jpeg(1000, 750, o, true);
        let out = intake(&input, &IntakeLimits::default(), &req()).expect("intake");
        assert_eq!(out.report.orientation_applied, want, "o{o}");
        assert_eq!(check(&input, &IntakeLimits::default(), &req()).orientation_applied, want, "o{o}: check predicts it");
        assert_eq!((out.report.width, out.report.height), (1000, 750), "o{o}: nothing trimmed");
        let (_, worst, mean) = diff(&decode(&out.original.bytes).to_rgb8(), &expected_upright(&input, o));
        if want == OrientationApplied::Lossless {
            assert!(worst <= 6 && mean < 0.2, "o{o}: mean {mean}, worst {worst}");
        } else {
            // Re-encoded at q92: upright and close, but a second quantisation.
            assert!(mean < 3.0, "o{o}: re-encode mean difference {mean}, worst {worst}");
        }
    }
}

#[test]
fn a_damaged_rotated_photo_is_corrupt() {
    let input = camera_jpeg(1024, 768, 6, true);
    for cut in [input.len() / 2, input.len() - 2] {
        let e = intake(&input[..cut], &IntakeLimits::default(), &req()).unwrap_err();
        assert_eq!(e.code, IssueCode::Corrupt, "cut {cut}");
    }
}
