//! Outcome letters sent into the GP record over MESH (GP Connect Send Document): one row per
//! letter, written with its `send_gp_letter` job in the transaction that records the outcome
//! ([`insert_gp_letter_in`]), then moved on by the worker as MESH and the GP system answer.
//! Statuses only move forward: a late infrastructure acknowledgement never undoes "filed".

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::ReferralId;

use crate::codec::{parse_name, parse_ts, ts, uuid};
use crate::outbox::{OutboxMessage, insert_outbox};
use crate::{Result, Store, StoreError};

pub use crate::gp_letter_queue::{NewGpLetter, SEND_GP_LETTER_JOB, insert_gp_letter_in};
/// The periodic job that reads Telederm's MESH inbox (acknowledgements) and marks letters with no
/// business acknowledgement in time as failed.
pub const MESH_POLL_JOB: &str = "mesh_poll";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GpLetterStatus {
    /// Not sent yet (waiting for the worker, or retrying: `reason` says why the last try failed).
    Pending,
    /// Given up before MESH took it (no mailbox for the practice, or MESH refused it).
    NotSent,
    /// MESH accepted it for the practice's mailbox.
    Sent,
    /// The GP system acknowledged receipt (ITK infrastructure acknowledgement).
    Delivered,
    /// The GP system filed it in the patient's record (ITK business acknowledgement).
    Filed,
    /// The GP system refused it, or no business acknowledgement came in time.
    Failed,
}

impl GpLetterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GpLetterStatus::Pending => "pending",
            GpLetterStatus::NotSent => "not_sent",
            GpLetterStatus::Sent => "sent",
            GpLetterStatus::Delivered => "delivered",
            GpLetterStatus::Filed => "filed",
            GpLetterStatus::Failed => "failed",
        }
    }

    /// Whether the letter needs someone to file it by hand.
    pub fn is_problem(self) -> bool {
        matches!(self, GpLetterStatus::NotSent | GpLetterStatus::Failed)
    }

    /// Words for the pages.
    pub fn label(self) -> &'static str {
        match self {
            GpLetterStatus::Pending => "Waiting to be sent to the GP system",
            GpLetterStatus::NotSent => "Not sent to the GP system",
            GpLetterStatus::Sent => "Sent to the GP system",
            GpLetterStatus::Delivered => "Received by the GP system",
            GpLetterStatus::Filed => "Filed in the GP record",
            GpLetterStatus::Failed => "Not filed in the GP record",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GpLetter {
    pub id: uuid::Uuid,
    #[schema(value_type = uuid::Uuid)]
    pub referral_id: ReferralId,
    pub referral_version: i64,
    pub local_id: String,
    pub itk_message_id: String,
    pub practice_ods: String,
    pub status: GpLetterStatus,
    pub reason: Option<String>,
    pub recipient_mailbox: Option<String>,
    pub mesh_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub filed_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

fn from_row(r: &AnyRow) -> Result<GpLetter> {
    let opt_ts = |col: &str| -> Result<Option<DateTime<Utc>>> { r.get::<Option<String>, _>(col).as_deref().map(parse_ts).transpose() };
    Ok(GpLetter {
        id: uuid(r.get::<String, _>("id").as_str())?,
        referral_id: uuid(r.get::<String, _>("referral_id").as_str())?,
        referral_version: r.get("referral_version"),
        local_id: r.get("local_id"),
        itk_message_id: r.get("itk_message_id"),
        practice_ods: r.get("practice_ods"),
        status: parse_name(r.get::<String, _>("status").as_str())?,
        reason: r.get("reason"),
        recipient_mailbox: r.get("recipient_mailbox"),
        mesh_message_id: r.get("mesh_message_id"),
        created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
        updated_at: parse_ts(r.get::<String, _>("updated_at").as_str())?,
        sent_at: opt_ts("sent_at")?,
        delivered_at: opt_ts("delivered_at")?,
        filed_at: opt_ts("filed_at")?,
        failed_at: opt_ts("failed_at")?,
    })
}

impl Store {
    pub async fn get_gp_letter(&self, id: uuid::Uuid) -> Result<GpLetter> {
        let row = sqlx::query("SELECT * FROM gp_letters WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// The letter whose ITK MessageHeader has this id (an acknowledgement names it).
    pub async fn gp_letter_by_itk_id(&self, itk_message_id: &str) -> Result<Option<GpLetter>> {
        sqlx::query("SELECT * FROM gp_letters WHERE itk_message_id = $1")
            .bind(itk_message_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// The letter sent with this MESH local id, or as this MESH message (a MESH report names either).
    pub async fn gp_letter_by_mesh_ids(&self, local_id: Option<&str>, mesh_message_id: Option<&str>) -> Result<Option<GpLetter>> {
        sqlx::query("SELECT * FROM gp_letters WHERE (local_id = $1 AND $1 <> '') OR (mesh_message_id = $2 AND $2 <> '') ORDER BY created_at DESC LIMIT 1")
            .bind(local_id.unwrap_or(""))
            .bind(mesh_message_id.unwrap_or(""))
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// A referral's letters, oldest first.
    pub async fn gp_letters_for(&self, referral: ReferralId) -> Result<Vec<GpLetter>> {
        sqlx::query("SELECT * FROM gp_letters WHERE referral_id = $1 ORDER BY created_at, id")
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Letters that need filing by hand (not sent, or failed), newest first, at most `limit`.
    pub async fn gp_letter_problems(&self, limit: i64) -> Result<Vec<GpLetter>> {
        sqlx::query("SELECT * FROM gp_letters WHERE status IN ('not_sent', 'failed') ORDER BY updated_at DESC, id LIMIT $1")
            .bind(limit.max(1))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// Letters sent (or delivered) before `cutoff` with no business acknowledgement yet.
    pub async fn gp_letters_awaiting_filing_since(&self, cutoff: DateTime<Utc>) -> Result<Vec<GpLetter>> {
        sqlx::query("SELECT * FROM gp_letters WHERE status IN ('sent', 'delivered') AND sent_at < $1 ORDER BY sent_at, id")
            .bind(ts(cutoff))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// How many letters are in each status (metrics, the admin dashboard).
    pub async fn gp_letter_counts(&self) -> Result<Vec<(GpLetterStatus, i64)>> {
        sqlx::query("SELECT status, COUNT(*) AS n FROM gp_letters GROUP BY status ORDER BY status")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((parse_name(r.get::<String, _>("status").as_str())?, r.get("n"))))
            .collect()
    }

    /// Records why the last try to send failed (the letter stays pending for the next try).
    pub async fn note_gp_letter_retry(&self, id: uuid::Uuid, reason: &str) -> Result<()> {
        self.update_letter(
            "UPDATE gp_letters SET reason = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
            &[Some(clip(reason)), Some(ts(Utc::now())), Some(id.to_string())],
        )
        .await
        .map(|_| ())
    }

    /// MESH took the letter for `mailbox` as message `mesh_message_id`. `false` if it was no
    /// longer pending.
    pub async fn mark_gp_letter_sent(&self, id: uuid::Uuid, mailbox: &str, mesh_message_id: &str, now: DateTime<Utc>) -> Result<bool> {
        self.update_letter(
            "UPDATE gp_letters SET status = 'sent', recipient_mailbox = $1, mesh_message_id = $2, sent_at = $3, updated_at = $3, reason = NULL
             WHERE id = $4 AND status = 'pending'",
            &[Some(mailbox.to_string()), Some(mesh_message_id.to_string()), Some(ts(now)), Some(id.to_string())],
        )
        .await
    }

    /// The GP system acknowledged receipt (only a sent letter moves to delivered).
    pub async fn mark_gp_letter_delivered(&self, id: uuid::Uuid, now: DateTime<Utc>) -> Result<bool> {
        self.update_letter(
            "UPDATE gp_letters SET status = 'delivered', delivered_at = $1, updated_at = $1 WHERE id = $2 AND status = 'sent'",
            &[Some(ts(now)), Some(id.to_string())],
        )
        .await
    }

    /// The GP system filed the letter (also after a time-out marked it failed: it did arrive).
    pub async fn mark_gp_letter_filed(&self, id: uuid::Uuid, now: DateTime<Utc>) -> Result<bool> {
        self.update_letter(
            "UPDATE gp_letters SET status = 'filed', filed_at = $1, updated_at = $1, reason = NULL
             WHERE id = $2 AND status IN ('sent', 'delivered', 'failed')",
            &[Some(ts(now)), Some(id.to_string())],
        )
        .await
    }

    /// The letter will not be filed (`status` is `failed` or `not_sent`), with the reason, and the
    /// GP's notice written in the same transaction. `false` (and no notice) if it was already
    /// filed or already marked so.
    pub async fn mark_gp_letter_failed(
        &self,
        id: uuid::Uuid,
        status: GpLetterStatus,
        reason: &str,
        notice: Option<&OutboxMessage>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        if !status.is_problem() {
            return Err(StoreError::Conflict(format!("{} is not a failure", status.as_str())));
        }
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE gp_letters SET status = $1, reason = $2, failed_at = $3, updated_at = $3
             WHERE id = $4 AND status NOT IN ('filed', 'failed', 'not_sent')",
        )
        .bind(status.as_str())
        .bind(clip(reason))
        .bind(ts(now))
        .bind(id.to_string())
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(m) = notice {
            insert_outbox(&mut w, m).await?;
        }
        w.commit().await?;
        Ok(true)
    }

    async fn update_letter(&self, sql: &str, binds: &[Option<String>]) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let mut q = sqlx::query(sql);
        for b in binds {
            q = q.bind(b.clone());
        }
        let done = q.execute(&mut *w.tx).await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(1000).collect()
}
