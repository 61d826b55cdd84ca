//! Per-photo working memory: `intake`'s peak resident memory stays within the estimate
//! `working_memory` makes from the header (what the server's intake budget admits), and that
//! estimate stays well below the old pipeline's ~3.5 bytes of memory per byte of pixels.
//!
//! One test in this file on purpose: the peak is the process's (VmHWM, reset through
//! /proc/self/clear_refs), so nothing else may run beside it (nextest runs each test in its own
//! process; under `cargo test` this binary has no other test).

use telederm_imaging::synth::{self, JpegOpts};
use telederm_imaging::*;

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// A photo-sized image with texture everywhere (hash noise over gradients), so that its JPEG is
/// as large as a real camera's and the e-RS attachment has to be scaled down.
fn textured(w: u32, h: u32, amplitude: u32) -> Rgb {
    let mut px = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let n = (x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77)).wrapping_mul(0xC2B2_AE3D) >> 24;
            let t = n % (amplitude + 1);
            px.push((60 + (x * 120 / w) + t).min(255) as u8);
            px.push((40 + (y * 100 / h) + t / 2).min(255) as u8);
            px.push((30 + t / 3) as u8);
        }
    }
    Rgb { w, h, px }
}

#[test]
fn intake_peak_memory_stays_within_the_header_estimate() {
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("cannot reset the peak RSS here (/proc/self/clear_refs): skipped");
        return;
    }
    let limits = IntakeLimits::default();
    // (width, height, EXIF orientation, noise amplitude): a 48 MP photo turned upright through
    // EXIF, and a 16 MP one noisy enough that its attachment must be scaled down in place.
    for (w, h, o, amplitude) in [(6000u32, 8000u32, 6u16, 24u32), (4000, 4000, 1, 160)] {
        let img = textured(w, h, amplitude);
        let bytes = synth::jpeg(&img, JpegOpts { quality: 92, exif: Some((o, false)), ..Default::default() });
        drop(img);
        let pixels_bytes = w as u64 * h as u64 * 3;
        let estimate = working_memory(&bytes, &limits).expect("header").bytes;
        assert!(std::fs::write("/proc/self/clear_refs", "5").is_ok());
        let base = status_kb("VmRSS:") * 1024;
        let out = intake(&bytes, &limits, &QualityRequirements::default()).expect("intake");
        let peak = status_kb("VmHWM:") * 1024 - base;
        eprintln!(
            "{w}x{h} o{o}: file {} MB, peak {} MB, estimate {} MB, pixels {} MB, attachment {}x{} {} bytes",
            bytes.len() >> 20,
            peak >> 20,
            estimate >> 20,
            pixels_bytes >> 20,
            out.attachment.width,
            out.attachment.height,
            out.attachment.bytes.len()
        );
        assert!(out.attachment.bytes.len() <= ERS_MAX_BYTES);
        let upright = if o >= 5 { (h, w) } else { (w, h) };
        assert_eq!((out.original.width, out.original.height), upright, "upright original");
        assert!(peak <= estimate, "{w}x{h}: peak {peak} above the estimate {estimate}");
        // The estimate (what the budget reserves) is the decoded pixels plus a fraction, not
        // several copies of them.
        assert!(estimate <= pixels_bytes * 3 / 2 + bytes.len() as u64 * 2 + (32 << 20), "{w}x{h}: estimate {estimate}");
        if amplitude > 100 {
            assert!(out.attachment.width < w, "this photo's attachment had to be scaled down: {}", out.attachment.width);
        }
    }
}
