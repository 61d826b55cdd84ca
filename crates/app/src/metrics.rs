//! The instruments use cases move; the web adapter registers them with its Prometheus registry
//! (`GET /metrics`).

use std::sync::LazyLock;

use prometheus::{IntCounterVec, Opts};

/// Photos accepted, by quality verdict.
pub static PHOTO_UPLOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(Opts::new("telederm_photo_uploads_total", "Photos accepted, by quality verdict"), &["verdict"])
        .expect("the metric name and label are valid constants")
});

/// Counts an accepted photo.
pub fn photo_uploaded(verdict: &str) {
    PHOTO_UPLOADS.with_label_values(&[verdict]).inc();
}
