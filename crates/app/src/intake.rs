//! The intake memory budget: one admission controller shared by every photo upload path (the
//! API, the GP's photo page and the patient's upload link all go through
//! [`crate::store_photo`]).
//!
//! Before a photo is decoded, its header gives the working memory the imaging pipeline needs
//! ([`telederm_imaging::working_memory`], an upper bound from the dimensions and the format). The
//! photo is decoded only once that many megabytes of the node's budget
//! (`TELEDERM_INTAKE_MEMORY_MB`) are free: it waits for them in a first-come, first-served queue
//! for at most `TELEDERM_INTAKE_WAIT_MS`, then the upload is answered `503 intake_busy` with
//! `Retry-After`. A photo that needs more than the whole budget on its own is refused at once
//! (`413 image_too_large_to_process`) rather than waiting for memory that can never be free.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Code, Error};

const MIB: u64 = 1 << 20;
/// What the `Retry-After` of an `intake_busy` answer says.
pub const BUSY_RETRY_AFTER_SECONDS: i64 = 5;

/// Megabytes of working memory for photo intake, handed out by a fair semaphore (one permit per
/// MiB).
#[derive(Debug)]
pub struct IntakeGate {
    permits: Arc<Semaphore>,
    budget_mb: u32,
    wait: Duration,
}

/// A photo's share of the budget; given back when dropped (move it into the blocking task so
/// that it is held until the decode really ends, even when the client has gone).
#[derive(Debug)]
pub struct IntakePermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl IntakeGate {
    pub fn new(budget_mb: u64, wait: Duration) -> Self {
        let budget_mb = u32::try_from(budget_mb.clamp(1, u64::from(u32::MAX >> 4))).unwrap_or(u32::MAX >> 4);
        IntakeGate { permits: Arc::new(Semaphore::new(budget_mb as usize)), budget_mb, wait }
    }

    pub fn budget_mb(&self) -> u32 {
        self.budget_mb
    }

    /// Megabytes free now (for tests and diagnostics).
    pub fn available_mb(&self) -> usize {
        self.permits.available_permits()
    }

    /// Waits (at most the configured time) until `bytes` of working memory are free and reserves
    /// them.
    pub async fn admit(&self, bytes: u64) -> Result<IntakePermit, Error> {
        let need_mb = bytes.div_ceil(MIB).max(1);
        if need_mb > u64::from(self.budget_mb) {
            return Err(Error::new(
                Code::ImageTooLargeToProcess,
                format!(
                    "This photo is too large for this service to process (it needs about {need_mb} MB of memory; one photo may use at most {} MB). Send a smaller copy: most phones can share a 'Large' rather than 'Actual size' copy, or take the photo at the camera's standard resolution.",
                    self.budget_mb
                ),
            )
            .with_details(serde_json::json!({ "needed_mb": need_mb, "budget_mb": self.budget_mb })));
        }
        let n = need_mb as u32;
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(IntakePermit(permit)),
            // Timed out (or, never in practice, the semaphore was closed).
            _ => {
                tracing::warn!(needed_mb = need_mb, budget_mb = self.budget_mb, "photo intake busy: upload refused with 503");
                Err(busy(need_mb, self.budget_mb))
            }
        }
    }
}

/// `503 intake_busy`: the node is already processing as many photos as its memory budget allows.
pub fn busy(need_mb: u64, budget_mb: u32) -> Error {
    Error::new(
        Code::IntakeBusy,
        "The service is busy processing other photos right now and your photo was not saved. Wait a few seconds and send it again.",
    )
    .with_details(serde_json::json!({
        "retry_after_seconds": BUSY_RETRY_AFTER_SECONDS,
        "needed_mb": need_mb,
        "budget_mb": budget_mb,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_within_the_budget_queues_briefly_then_refuses() {
        let gate = IntakeGate::new(100, Duration::from_millis(50));
        let a = gate.admit(60 * MIB).await.expect("fits");
        assert_eq!(gate.available_mb(), 40);
        let e = gate.admit(60 * MIB).await.expect_err("does not fit while the first runs");
        assert_eq!((e.status(), e.code.as_str(), e.retry_after()), (503, "intake_busy", Some(5)));
        // A waiting photo gets in as soon as memory is given back.
        let gate = Arc::new(IntakeGate::new(100, Duration::from_secs(5)));
        let first = gate.admit(60 * MIB).await.expect("fits");
        let g = gate.clone();
        let waiting = tokio::spawn(async move { g.admit(60 * MIB).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        waiting.await.expect("join").expect("admitted once the first finished");
        drop(a);
    }

    #[tokio::test]
    async fn a_photo_larger_than_the_whole_budget_is_refused_at_once() {
        let gate = IntakeGate::new(100, Duration::from_secs(60));
        let start = std::time::Instant::now();
        let e = gate.admit(101 * MIB).await.expect_err("never fits");
        assert_eq!((e.status(), e.code.as_str()), (413, "image_too_large_to_process"));
        assert!(start.elapsed() < Duration::from_secs(1), "refused without waiting");
        assert_eq!(gate.available_mb(), 100);
    }
}
