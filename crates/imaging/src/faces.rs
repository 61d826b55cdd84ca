//! Frontal face detection with rustface (SeetaFace funnel cascade; model
//! shipped inside the rustface crate, embedded at build time by build.rs).
//! Faces are a flag for a human decision, never a rejection by themselves.

use std::cell::RefCell;
use std::sync::OnceLock;

static MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/seeta_fd_frontal_v1.0.bin"));

/// Long side of the image the detector runs on.
pub const FACE_LONG_SIDE: usize = 512;
/// Smallest face searched, in pixels of that image (the detector minimum).
pub const MIN_FACE: u32 = 20;

fn model() -> Option<&'static rustface::Model> {
    static M: OnceLock<Option<rustface::Model>> = OnceLock::new();
    M.get_or_init(|| rustface::read_model(std::io::Cursor::new(MODEL_BYTES)).ok()).as_ref()
}

thread_local! {
    static DETECTOR: RefCell<Option<Box<dyn rustface::Detector>>> = const { RefCell::new(None) };
}

/// Counts faces on a grey image (`w` x `h`), downscaled to <= FACE_LONG_SIDE.
pub fn count_faces(grey: &[u8], w: u32, h: u32) -> u32 {
    let (w, h) = (w as usize, h as usize);
    if w < 48 || h < 48 || grey.len() < w * h {
        return 0;
    }
    // Box-downscale by an integer factor.
    let f = w.max(h).div_ceil(FACE_LONG_SIDE).max(1);
    let (sw, sh) = (w / f, h / f);
    if sw < 48 || sh < 48 {
        return 0;
    }
    let mut small = vec![0u8; sw * sh];
    let area = (f * f) as u32;
    for y in 0..sh {
        for x in 0..sw {
            let mut s = 0u32;
            for dy in 0..f {
                let row = &grey[(y * f + dy) * w + x * f..(y * f + dy) * w + x * f + f];
                s += row.iter().map(|&v| v as u32).sum::<u32>();
            }
            small[y * sw + x] = (s / area) as u8;
        }
    }
    let Some(m) = model() else { return 0 };
    DETECTOR.with(|d| {
        let mut d = d.borrow_mut();
        let det = d.get_or_insert_with(|| {
            let mut det = rustface::create_detector_with_model(m.clone());
            det.set_min_face_size(MIN_FACE);
            det.set_score_thresh(2.0);
            det.set_pyramid_scale_factor(0.8);
            det.set_slide_window_step(4, 4);
            det
        });
        let faces = det.detect(&rustface::ImageData::new(&small, sw as u32, sh as u32));
        faces.len() as u32
    })
}
