//! Patient links: one referral each, found by the hash of the token in the link, expiring,
//! revocable and locked after repeated wrong dates of birth. An upload link takes a limited number
//! of photos; a status link shows the referral's progress. Each browser whose date of birth
//! matched holds its own visit (only the hash of its secret is stored).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::{ReferralId, UserId};

use crate::codec::{name, parse_name, parse_ts, ts, unique_violation, uuid};
use crate::audit::NewAuditEntry;
use crate::{Result, Store, StoreError};

/// What a patient link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// The practice asks for photos.
    Upload,
    /// The link in a message to the patient: their request's progress.
    Status,
}

/// A patient link as stored (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientLink {
    pub id: uuid::Uuid,
    pub token_hash: String,
    pub referral_id: ReferralId,
    pub purpose: LinkPurpose,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub failed_attempts: i64,
    pub locked_at: Option<DateTime<Utc>>,
    /// When a date of birth last matched.
    pub verified_at: Option<DateTime<Utc>>,
    pub max_photos: i64,
    pub photos_uploaded: i64,
    pub submitted_at: Option<DateTime<Utc>>,
}

impl PatientLink {
    /// Whether the link can still be used at `now` (not expired, revoked, locked or finished).
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.locked_at.is_none() && self.submitted_at.is_none() && now < self.expires_at
    }
}

const COLUMNS: &str = "id, token_hash, referral_id, purpose, created_by, created_at, expires_at, revoked_at, failed_attempts, locked_at, \
                       verified_at, max_photos, photos_uploaded, submitted_at";

fn opt_ts(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    row.get::<Option<String>, _>(col).as_deref().map(parse_ts).transpose()
}

fn link_from_row(row: &AnyRow) -> Result<PatientLink> {
    Ok(PatientLink {
        id: uuid(row.get::<String, _>("id").as_str())?,
        token_hash: row.get("token_hash"),
        referral_id: uuid(row.get::<String, _>("referral_id").as_str())?,
        purpose: parse_name(row.get::<String, _>("purpose").as_str())?,
        created_by: row.get::<Option<String>, _>("created_by").as_deref().map(uuid).transpose()?,
        created_at: parse_ts(row.get::<String, _>("created_at").as_str())?,
        expires_at: parse_ts(row.get::<String, _>("expires_at").as_str())?,
        revoked_at: opt_ts(row, "revoked_at")?,
        failed_attempts: row.get("failed_attempts"),
        locked_at: opt_ts(row, "locked_at")?,
        verified_at: opt_ts(row, "verified_at")?,
        max_photos: row.get("max_photos"),
        photos_uploaded: row.get("photos_uploaded"),
        submitted_at: opt_ts(row, "submitted_at")?,
    })
}

impl Store {
    pub async fn patient_link_by_token_hash(&self, token_hash: &str) -> Result<Option<PatientLink>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM patient_links WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    pub async fn list_patient_links(&self, referral: ReferralId) -> Result<Vec<PatientLink>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM patient_links WHERE referral_id = $1 ORDER BY created_at"))
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(link_from_row).collect()
    }

    /// Counts a wrong date of birth; the link locks when the count reaches `max_failures`.
    /// Returns the link as it is afterwards; `audit` makes the entry for it, appended in the same
    /// transaction.
    pub async fn record_patient_link_failure(
        &self,
        id: uuid::Uuid,
        now: DateTime<Utc>,
        max_failures: i64,
        audit: impl FnOnce(&PatientLink) -> NewAuditEntry,
    ) -> Result<PatientLink> {
        let mut w = self.begin_write().await?;
        sqlx::query(
            "UPDATE patient_links SET failed_attempts = failed_attempts + 1,
                 locked_at = CASE WHEN locked_at IS NULL AND failed_attempts + 1 >= $2 THEN $3 ELSE locked_at END
             WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(max_failures)
        .bind(ts(now))
        .execute(&mut *w.tx)
        .await?;
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM patient_links WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut *w.tx)
            .await?;
        let after = row.as_ref().map(link_from_row).transpose()?.ok_or(StoreError::NotFound)?;
        crate::audit::append_audit_in(&mut w, &audit(&after));
        w.commit().await?;
        Ok(after)
    }

    /// Records a matching date of birth and opens a visit for the browser that gave it (the hash
    /// of its secret, until `visit_expires_at`), with its audit entry. Other browsers' visits stay.
    pub async fn verify_patient_link(
        &self,
        id: uuid::Uuid,
        secret_hash: &str,
        now: DateTime<Utc>,
        visit_expires_at: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE patient_links SET verified_at = $2 WHERE id = $1 AND locked_at IS NULL AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(ts(now))
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the link is locked or revoked".into()));
        }
        sqlx::query("INSERT INTO patient_link_visits (secret_hash, link_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(secret_hash)
            .bind(id.to_string())
            .bind(ts(now))
            .bind(ts(visit_expires_at))
            .execute(&mut *w.tx)
            .await
            .map_err(|e| unique_violation(e, "a visit with this secret"))?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Whether a browser's secret (its hash) is a visit to this link that has not expired at `now`.
    pub async fn patient_link_visit_open(&self, link: uuid::Uuid, secret_hash: &str, now: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query("SELECT expires_at FROM patient_link_visits WHERE secret_hash = $1 AND link_id = $2")
            .bind(secret_hash)
            .bind(link.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(parse_ts(r.get::<String, _>("expires_at").as_str())? > now),
            None => Ok(false),
        }
    }

    /// Takes one photo from the link's allowance; `false` when the allowance is used up.
    pub async fn take_patient_link_photo(&self, id: uuid::Uuid) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE patient_links SET photos_uploaded = photos_uploaded + 1 WHERE id = $1 AND photos_uploaded < max_photos")
            .bind(id.to_string())
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a photo back to the allowance (when the upload was refused after taking it).
    pub async fn return_patient_link_photo(&self, id: uuid::Uuid) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE patient_links SET photos_uploaded = photos_uploaded - 1 WHERE id = $1 AND photos_uploaded > 0")
            .bind(id.to_string())
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    /// Revokes a link, with its audit entry.
    pub async fn revoke_patient_link(&self, id: uuid::Uuid, now: DateTime<Utc>, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        sqlx::query("UPDATE patient_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id.to_string())
            .bind(ts(now))
            .execute(&mut *w.tx)
            .await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }
}

/// Writes a new link inside a caller's transaction (an upload link with its message; a status
/// link with the referral change whose message carries it).
pub(crate) async fn insert_patient_link_in(w: &mut crate::WriteTx<'_>, link: &PatientLink) -> Result<()> {
    sqlx::query(
        "INSERT INTO patient_links (id, token_hash, referral_id, purpose, created_by, created_at, expires_at, failed_attempts, max_photos, photos_uploaded)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, 0)",
    )
    .bind(link.id.to_string())
    .bind(&link.token_hash)
    .bind(link.referral_id.to_string())
    .bind(name(&link.purpose))
    .bind(link.created_by.map(|u| u.to_string()))
    .bind(ts(link.created_at))
    .bind(ts(link.expires_at))
    .bind(link.max_photos)
    .execute(&mut *w.tx)
    .await
    .map_err(|e| unique_violation(e, "a patient link with this token"))?;
    Ok(())
}

impl Store {
    /// Stores a photo the patient sent through an upload link: its record, which link it came
    /// through, and its audit entry, in one transaction.
    pub async fn insert_patient_link_photo(&self, link: uuid::Uuid, p: &crate::PhotoRecord, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        crate::referrals::insert_photo_in(&mut w, p).await?;
        sqlx::query("INSERT INTO patient_link_photos (photo_id, link_id) VALUES ($1, $2)")
            .bind(p.id.to_string())
            .bind(link.to_string())
            .execute(&mut *w.tx)
            .await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// The ids of the photos sent through this link (those still kept).
    pub async fn patient_link_photo_ids(&self, link: uuid::Uuid) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT photo_id FROM patient_link_photos WHERE link_id = $1")
            .bind(link.to_string())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(|r| r.get::<String, _>("photo_id")).collect())
    }

    /// The patient removes a photo they sent through this link, before they finish: the photo's
    /// record goes (its blobs with the orphan sweep), its place in the link's allowance comes back,
    /// and the audit entry is written, in one transaction. `NotFound` when the photo did not come
    /// through this link; `Conflict` when the link is already finished.
    pub async fn remove_patient_link_photo(&self, link: uuid::Uuid, photo: &str, audit: &NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let mine = sqlx::query("SELECT 1 AS one FROM patient_link_photos WHERE photo_id = $1 AND link_id = $2")
            .bind(photo)
            .bind(link.to_string())
            .fetch_optional(&mut *w.tx)
            .await?;
        if mine.is_none() {
            return Err(StoreError::NotFound);
        }
        let open = sqlx::query("UPDATE patient_links SET photos_uploaded = photos_uploaded - 1 WHERE id = $1 AND submitted_at IS NULL AND photos_uploaded > 0")
            .bind(link.to_string())
            .execute(&mut *w.tx)
            .await?;
        if open.rows_affected() == 0 {
            return Err(StoreError::Conflict("the link is finished".into()));
        }
        let referral: Option<String> =
            sqlx::query("SELECT referral_id FROM photos WHERE id = $1").bind(photo).fetch_optional(&mut *w.tx).await?.map(|r| r.get("referral_id"));
        sqlx::query("DELETE FROM patient_link_photos WHERE photo_id = $1").bind(photo).execute(&mut *w.tx).await?;
        sqlx::query("DELETE FROM photos WHERE id = $1").bind(photo).execute(&mut *w.tx).await?;
        // The reports count photo verdicts per referral: kept in step, as on every photo write.
        if let Some(referral) = referral {
            crate::reports::refresh_report_facts(&mut w.tx, &referral).await?;
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Saves the patient's answers on their referral, with the audit entry, in one transaction.
    /// The referral's version is left alone: the answers are the patient's, and the referrer's
    /// edits (which never write them) must not be refused because the patient typed.
    pub async fn set_patient_answers(
        &self,
        referral: ReferralId,
        answers: &telederm_domain::patient_voice::PatientAnswers,
        audit: &NewAuditEntry,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE referrals SET patient_answers_json = $2 WHERE id = $1")
            .bind(referral.to_string())
            .bind(crate::codec::json(answers))
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }
}
