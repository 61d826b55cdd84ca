//! The notification outbox. A state change and the notifications that announce it commit in one
//! transaction: either both happen or neither. Each outbox row gets a `send_notification` job in
//! the same transaction; the job delivers it (with the queue's retries) and marks it sent.
//!
//! An outbox message holds a template name, a recipient and a link: never clinical detail or an
//! NHS number. The text is made from the template when it is sent.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::ReferralId;
use telederm_domain::referral::{Message, Referral};

use crate::codec::{parse_name, parse_ts, ts, uuid};
use crate::jobs::{NewJob, enqueue_job_in};
use crate::referrals::EventRecord;
use crate::{Result, Store, StoreError, WriteTx};

/// The job kind that delivers one outbox message; its payload is `{"outbox_id": "…"}`.
pub const SEND_NOTIFICATION_JOB: &str = "send_notification";

/// The templates whose link is a credential (a patient's upload or status link with its token):
/// the link is replaced by [`SENT_SECRET_LINK`] once the message is sent.
pub const SECRET_LINK_TEMPLATES: [Template; 3] = [Template::PatientPhotoRequest, Template::PatientReferralSent, Template::PatientResponseReady];
pub const SENT_SECRET_LINK: &str = "(patient link sent; not kept)";

pub use telederm_domain::notification::{Channel, Template};

/// A notification to send once the transaction that writes it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub channel: Channel,
    /// An email address or a phone number.
    pub recipient: String,
    /// The message (the notify crate knows the texts; the outbox keeps its name).
    pub template: Template,
    /// Where the reader signs in to see the details.
    pub link: String,
    pub referral_id: Option<ReferralId>,
    /// At most one message with this key is ever written (e.g. `sla:due_today:<referral>:<date>`).
    pub dedupe_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Sent,
}

/// A stored outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRecord {
    pub id: uuid::Uuid,
    pub channel: Channel,
    pub recipient: String,
    pub template: Template,
    pub link: String,
    pub referral_id: Option<ReferralId>,
    pub dedupe_key: Option<String>,
    pub state: OutboxState,
    pub provider_reference: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn outbox_from_row(r: &AnyRow) -> Result<OutboxRecord> {
    Ok(OutboxRecord {
        id: uuid(r.get::<String, _>("id").as_str())?,
        channel: parse_name(r.get::<String, _>("channel").as_str())?,
        recipient: r.get("recipient"),
        template: parse_name(r.get::<String, _>("template").as_str())?,
        link: r.get("link"),
        referral_id: r.get::<Option<String>, _>("referral_id").as_deref().map(uuid).transpose()?,
        dedupe_key: r.get("dedupe_key"),
        state: parse_name(r.get::<String, _>("state").as_str())?,
        provider_reference: r.get("provider_reference"),
        created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
        sent_at: r.get::<Option<String>, _>("sent_at").as_deref().map(parse_ts).transpose()?,
    })
}

/// Writes an outbox message and the job that will send it, inside an open write transaction.
/// Returns the message's id, or `None` if a message with the same dedupe key already exists.
pub async fn insert_outbox(w: &mut WriteTx<'_>, m: &OutboxMessage) -> Result<Option<uuid::Uuid>> {
    let id = uuid::Uuid::now_v7();
    let done = sqlx::query(
        "INSERT INTO outbox (id, channel, recipient, template, link, referral_id, dedupe_key, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(crate::codec::name(&m.channel))
    .bind(&m.recipient)
    .bind(m.template.name())
    .bind(&m.link)
    .bind(m.referral_id.map(|r| r.to_string()))
    .bind(m.dedupe_key.as_deref())
    .bind(ts(Utc::now()))
    .execute(&mut *w.tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let job = NewJob::new(SEND_NOTIFICATION_JOB, serde_json::json!({ "outbox_id": id.to_string() }))
        .unique(format!("outbox:{id}"))
        .max_attempts(8);
    enqueue_job_in(w, &job).await?;
    Ok(Some(id))
}

impl Store {
    /// Writes outbox messages on their own (e.g. SLA reminders), in one transaction.
    pub async fn enqueue_notifications(&self, messages: &[OutboxMessage]) -> Result<Vec<uuid::Uuid>> {
        let mut w = self.begin_write().await?;
        let mut ids = Vec::new();
        for m in messages {
            ids.extend(insert_outbox(&mut w, m).await?);
        }
        w.commit().await?;
        Ok(ids)
    }

    /// [`Store::update_referral`], plus notifications written in the same transaction: they are
    /// sent if and only if the change commits. Returns the ids of the outbox rows written.
    pub async fn update_referral_notifying(
        &self,
        r: &mut Referral,
        event: Option<&EventRecord>,
        message: Option<&Message>,
        notifications: &[OutboxMessage],
    ) -> Result<Vec<uuid::Uuid>> {
        self.write_change(r, event, message, notifications, &[], &[], None).await
    }

    /// One state change as one transaction: the referral (with its version check), its event,
    /// message and notifications, the patient links its notifications carry (a status link in a
    /// message to the patient), **and its audit entry**. If any part fails (the audit append
    /// included), nothing of it is written. Bumps `r.version` on success.
    pub async fn apply_change(
        &self,
        r: &mut Referral,
        event: Option<&EventRecord>,
        message: Option<&Message>,
        notifications: &[OutboxMessage],
        links: &[crate::patient_links::PatientLink],
        audit: &crate::NewAuditEntry,
    ) -> Result<Vec<uuid::Uuid>> {
        self.write_change(r, event, message, notifications, links, &[], Some(audit)).await
    }

    /// [`Store::apply_change`], plus outcome letters for the GP record
    /// ([`crate::gp_letter_queue::insert_gp_letter_in`]: each with its sending job) in the same
    /// transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply_change_with_letters(
        &self,
        r: &mut Referral,
        event: Option<&EventRecord>,
        message: Option<&Message>,
        notifications: &[OutboxMessage],
        links: &[crate::patient_links::PatientLink],
        letters: &[crate::gp_letter_queue::NewGpLetter],
        audit: &crate::NewAuditEntry,
    ) -> Result<Vec<uuid::Uuid>> {
        self.write_change(r, event, message, notifications, links, letters, Some(audit)).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_change(
        &self,
        r: &mut Referral,
        event: Option<&EventRecord>,
        message: Option<&Message>,
        notifications: &[OutboxMessage],
        links: &[crate::patient_links::PatientLink],
        letters: &[crate::gp_letter_queue::NewGpLetter],
        audit: Option<&crate::NewAuditEntry>,
    ) -> Result<Vec<uuid::Uuid>> {
        let mut w = self.begin_write().await?;
        crate::referrals::write_referral_update(&mut w, r, event, message).await?;
        for link in links {
            crate::patient_links::insert_patient_link_in(&mut w, link).await?;
        }
        let mut ids = Vec::new();
        for m in notifications {
            ids.extend(insert_outbox(&mut w, m).await?);
        }
        for l in letters {
            crate::gp_letter_queue::insert_gp_letter_in(&mut w, l).await?;
        }
        if let Some(entry) = audit {
            crate::audit::append_audit_in(&mut w, entry);
        }
        w.commit().await?;
        r.version += 1;
        Ok(ids)
    }

    /// The patient has finished: the link takes no more photos. When they sent any, the referral
    /// records when (the GP's "patient photos arrived") and `notifications` (the GP's alert) are
    /// written. With its audit entry, in one transaction.
    pub async fn submit_patient_link(
        &self,
        id: uuid::Uuid,
        now: DateTime<Utc>,
        notifications: &[OutboxMessage],
        audit: &crate::NewAuditEntry,
    ) -> Result<()> {
        let mut w = self.begin_write().await?;
        let finished = sqlx::query("UPDATE patient_links SET submitted_at = $2 WHERE id = $1 AND submitted_at IS NULL")
            .bind(id.to_string())
            .bind(ts(now))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if finished == 1 {
            let photos = sqlx::query(
                "UPDATE referrals SET patient_photos_at = $2
                 WHERE id = (SELECT referral_id FROM patient_links WHERE id = $1 AND photos_uploaded > 0)",
            )
            .bind(id.to_string())
            .bind(ts(now))
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            if photos == 1 {
                for m in notifications {
                    insert_outbox(&mut w, m).await?;
                }
            }
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Creates a patient link with its notifications (the link sent to the patient) and its audit
    /// entry, in one transaction.
    pub async fn create_patient_link_notifying(&self, link: &crate::patient_links::PatientLink, notifications: &[OutboxMessage], audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        crate::patient_links::insert_patient_link_in(&mut w, link).await?;
        for m in notifications {
            insert_outbox(&mut w, m).await?;
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    pub async fn get_outbox(&self, id: uuid::Uuid) -> Result<OutboxRecord> {
        let row = sqlx::query("SELECT * FROM outbox WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        outbox_from_row(&row)
    }

    /// The notifications written for a referral, oldest first.
    pub async fn list_outbox(&self, referral: ReferralId) -> Result<Vec<OutboxRecord>> {
        sqlx::query("SELECT * FROM outbox WHERE referral_id = $1 ORDER BY created_at, id")
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(outbox_from_row)
            .collect()
    }

    /// Messages written but not sent yet (e.g. while no notifier is configured).
    pub async fn pending_outbox_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'").fetch_one(&self.pool).await?;
        Ok(row.get("n"))
    }

    /// Marks a message sent. Returns `false` if it was already sent (a repeated job does nothing).
    /// A link that is itself a credential (a patient's upload link) is not kept once sent.
    pub async fn mark_outbox_sent(&self, id: uuid::Uuid, provider_reference: Option<&str>, now: DateTime<Utc>) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE outbox SET state = 'sent', sent_at = $1, provider_reference = $2,
                link = CASE WHEN template IN ($4, $5, $6) THEN $7 ELSE link END
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(ts(now))
        .bind(provider_reference)
        .bind(id.to_string())
        .bind(SECRET_LINK_TEMPLATES[0].name())
        .bind(SECRET_LINK_TEMPLATES[1].name())
        .bind(SECRET_LINK_TEMPLATES[2].name())
        .bind(SENT_SECRET_LINK)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
