//! Fuzzes the whole intake function: it must never panic, and its outputs
//! must be consistent. Small limits keep each execution fast.
#![no_main]
use libfuzzer_sys::fuzz_target;
use telederm_imaging::{check, intake, IntakeLimits, QualityRequirements, Verdict, ERS_MAX_BYTES};

fuzz_target!(|data: &[u8]| {
    let limits = IntakeLimits { max_file_bytes: 1 << 20, max_pixels: 4_000_000, max_side: 4096, max_scans: 100 };
    let req = QualityRequirements { min_short_side_px: 64 };
    match intake(data, &limits, &req) {
        Ok(i) => {
            assert!(i.attachment.bytes.len() <= ERS_MAX_BYTES);
            assert!(i.thumbnail.width <= 256 && i.thumbnail.height <= 256);
            assert!(i.preview.width <= 2048 && i.preview.height <= 2048);
            assert_eq!(i.original.sha256.len(), 64);
        }
        Err(e) => {
            let r = e.report();
            assert_eq!(r.verdict, Verdict::Reject);
            assert_eq!(check(data, &limits, &req).verdict, Verdict::Reject);
        }
    }
});
