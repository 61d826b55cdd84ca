//! The start of an outcome letter's way into the GP record: the row and its sending job, written
//! inside the transaction that records the outcome (`Store::apply_change_with_letters`). The rest
//! of the letter's life is in [`crate::gp_letters`].

use chrono::Utc;
use telederm_domain::ReferralId;

use crate::codec::ts;
use crate::jobs::{NewJob, enqueue_job_in};
use crate::{Result, WriteTx};

/// The job that builds and sends one letter; its payload is `{"gp_letter_id": "…"}`.
pub const SEND_GP_LETTER_JOB: &str = "send_gp_letter";

/// A letter to write with the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGpLetter {
    pub referral_id: ReferralId,
    /// The referral's version the outcome writes (so each outcome has its own local id).
    pub referral_version: i64,
    pub practice_ods: String,
}

impl NewGpLetter {
    /// The MESH local id: the referral and its version.
    pub fn local_id(&self) -> String {
        format!("telederm-{}-v{}", self.referral_id, self.referral_version)
    }
}

/// Writes a letter and the job that sends it, inside an open write transaction. Returns its id,
/// or `None` if this referral version already has one.
pub async fn insert_gp_letter_in(w: &mut WriteTx<'_>, l: &NewGpLetter) -> Result<Option<uuid::Uuid>> {
    let id = uuid::Uuid::now_v7();
    let now = ts(Utc::now());
    let done = sqlx::query(
        "INSERT INTO gp_letters (id, referral_id, referral_version, local_id, itk_message_id, practice_ods, status, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7)
         ON CONFLICT (local_id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(l.referral_id.to_string())
    .bind(l.referral_version)
    .bind(l.local_id())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&l.practice_ods)
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let job = NewJob::new(SEND_GP_LETTER_JOB, serde_json::json!({ "gp_letter_id": id.to_string() }))
        .unique(format!("gp_letter:{id}"))
        .max_attempts(10);
    enqueue_job_in(w, &job).await?;
    Ok(Some(id))
}

