//! The instruments use cases move; the web adapter registers them with its Prometheus registry
//! (`GET /metrics`).

use std::sync::LazyLock;

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};

/// Photos accepted, by quality verdict.
pub static PHOTO_UPLOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(Opts::new("telederm_photo_uploads_total", "Photos accepted, by quality verdict"), &["verdict"])
        .expect("the metric name and label are valid constants")
});

/// Counts an accepted photo.
pub fn photo_uploaded(verdict: &str) {
    PHOTO_UPLOADS.with_label_values(&[verdict]).inc();
}

/// Where an upload's time goes, stage by stage (each photo that reached the stage is timed):
/// `memory_wait` for its share of the intake memory budget, `thread_wait` for an intake thread,
/// `processing` (decode, checks and derivatives, wall clock on an intake thread), `blobs` (its
/// four blobs written), `record` (its record and audit entry committed).
pub static PHOTO_INTAKE_STAGES: LazyLock<HistogramVec> = LazyLock::new(|| {
    HistogramVec::new(
        HistogramOpts::new("telederm_photo_intake_stage_seconds", "Time a photo upload spent in each stage of the intake")
            .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        &["stage"],
    )
    .expect("the metric name and label are valid constants")
});

/// Times one stage of a photo's intake (see [`PHOTO_INTAKE_STAGES`]).
pub fn intake_stage(stage: &'static str, took: Duration) {
    PHOTO_INTAKE_STAGES.with_label_values(&[stage]).observe(took.as_secs_f64());
}
