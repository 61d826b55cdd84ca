//! The retention purge: finds referrals whose retention has run out (the decision is the pure
//! [`telederm_domain::retention::is_expired`]) and removes each with everything that hangs off it
//! — photos and documents and their blobs, messages, events, patient links, queued notifications — recording
//! each purge in the audit trail in the same transaction (ids and counts, no clinical content).
//!
//! Run daily by the `retention_purge` job and on demand by `telederm retention run [--dry-run]`.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;
use telederm_domain::patient::Patient;
use telederm_domain::referral::ReferralStatus;
use telederm_domain::retention::{RecordType, RetentionFacts, RetentionPolicy, is_expired, retain_until};

use crate::audit::{NewAuditEntry, append_audit_in};
use crate::blobs::BlobStore;
use crate::codec::{parse_json, parse_name, parse_ts};
use crate::{AuditOutcome, Result, Store};

/// The job kind of the daily purge.
pub const RETENTION_PURGE_JOB: &str = "retention_purge";

/// One referral the purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expired {
    pub referral_id: String,
    pub record_type: &'static str,
    pub last_activity: NaiveDate,
    pub retain_until: NaiveDate,
}

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    /// Referrals looked at.
    pub examined: usize,
    pub expired: Vec<Expired>,
    /// Referrals removed (0 in a dry run).
    pub purged: usize,
    pub photos: usize,
    /// Documents (PDF attachments) removed with their referrals.
    pub documents: usize,
    pub messages: usize,
    pub events: usize,
    pub blobs_deleted: usize,
    /// Referrals that could not be removed, with the reason; the next run tries again.
    pub errors: Vec<String>,
}

/// Rows removed with one referral, and the blobs it used.
struct Removed {
    photos: usize,
    documents: usize,
    messages: usize,
    events: usize,
    links: usize,
    notifications: usize,
    blob_keys: Vec<String>,
}

const PAGE: i64 = 500;

impl Store {
    /// The facts the retention decision needs, for a page of referrals ordered by id.
    async fn retention_facts(&self, after: &str) -> Result<Vec<(String, RetentionFacts)>> {
        let rows = sqlx::query(&format!(
            "SELECT r.id, r.status, r.patient_json, r.updated_at, \
             (SELECT MAX(e.at) FROM referral_events e WHERE e.referral_id = r.id) AS last_event, \
             (SELECT MAX(m.created_at) FROM messages m WHERE m.referral_id = r.id) AS last_message, \
             (SELECT MAX(p.created_at) FROM photos p WHERE p.referral_id = r.id) AS last_photo, \
             (SELECT MAX(d.created_at) FROM referral_documents d WHERE d.referral_id = r.id) AS last_document \
             FROM referrals r WHERE r.id > $1 ORDER BY r.id LIMIT {PAGE}"
        ))
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let status: ReferralStatus = parse_name(&row.try_get::<String, _>("status")?)?;
            let patient: Patient = parse_json(&row.try_get::<String, _>("patient_json")?)?;
            let mut last: DateTime<Utc> = parse_ts(&row.try_get::<String, _>("updated_at")?)?;
            for col in ["last_event", "last_message", "last_photo", "last_document"] {
                if let Some(t) = row.try_get::<Option<String>, _>(col)? {
                    last = last.max(parse_ts(&t)?);
                }
            }
            out.push((id, RetentionFacts { status, date_of_birth: patient.date_of_birth, last_activity: last.date_naive() }));
        }
        Ok(out)
    }

    /// Removes one referral and what hangs off it, with its audit entry, in one transaction.
    async fn purge_referral(&self, id: &str, actor_label: &str, why: &str) -> Result<Removed> {
        let mut tx = self.begin_write().await?;
        let keys = sqlx::query("SELECT original_key, attachment_key, preview_key, thumbnail_key FROM photos WHERE referral_id = $1")
            .bind(id)
            .fetch_all(tx.conn())
            .await?;
        let mut blob_keys: Vec<String> = Vec::new();
        for r in &keys {
            for c in ["original_key", "attachment_key", "preview_key", "thumbnail_key"] {
                blob_keys.push(r.try_get(c)?);
            }
        }
        for r in sqlx::query("SELECT blob_key FROM referral_documents WHERE referral_id = $1").bind(id).fetch_all(tx.conn()).await? {
            blob_keys.push(r.try_get("blob_key")?);
        }
        let count = |n: u64| n as usize;
        let documents = count(sqlx::query("DELETE FROM referral_documents WHERE referral_id = $1").bind(id).execute(tx.conn()).await?.rows_affected());
        let photos = count(sqlx::query("DELETE FROM photos WHERE referral_id = $1").bind(id).execute(tx.conn()).await?.rows_affected());
        let messages = count(sqlx::query("DELETE FROM messages WHERE referral_id = $1").bind(id).execute(tx.conn()).await?.rows_affected());
        let events = count(sqlx::query("DELETE FROM referral_events WHERE referral_id = $1").bind(id).execute(tx.conn()).await?.rows_affected());
        sqlx::query("DELETE FROM patient_feedback WHERE referral_id = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM patient_link_photos WHERE link_id IN (SELECT id FROM patient_links WHERE referral_id = $1)").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM patient_link_visits WHERE link_id IN (SELECT id FROM patient_links WHERE referral_id = $1)").bind(id).execute(tx.conn()).await?;
        let links = count(sqlx::query("DELETE FROM patient_links WHERE referral_id = $1").bind(id).execute(tx.conn()).await?.rows_affected());
        let notifications = count(sqlx::query("DELETE FROM outbox WHERE referral_id = $1").bind(id).execute(tx.conn()).await?.rows_affected());
        sqlx::query("DELETE FROM gp_letters WHERE referral_id = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM referral_imports WHERE referral_id = $1").bind(id).execute(tx.conn()).await?;
        crate::reports::forget_report_facts(tx.conn(), id).await?;
        sqlx::query("DELETE FROM teaching_cases WHERE referral_id = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM referral_name_words WHERE referral_id = $1").bind(id).execute(tx.conn()).await?;
        sqlx::query("DELETE FROM referrals WHERE id = $1").bind(id).execute(tx.conn()).await?;
        let entry = NewAuditEntry {
            actor_label: actor_label.to_string(),
            actor_role: Some("system".into()),
            action: "retention.purge".into(),
            record_type: "referral".into(),
            record_id: Some(id.to_string()),
            referral_id: Some(id.to_string()),
            outcome: Some(AuditOutcome::Allowed),
            detail: format!("{why}; removed photos={photos} documents={documents} messages={messages} events={events} patient_links={links} notifications={notifications}"),
            ..NewAuditEntry::default()
        };
        append_audit_in(&mut tx, &entry);
        tx.commit().await?;
        blob_keys.sort();
        blob_keys.dedup();
        Ok(Removed { photos, documents, messages, events, links, notifications, blob_keys })
    }

    /// Whether any photo or document still uses this blob (the same bytes can belong to two
    /// referrals).
    async fn blob_in_use(&self, key: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM photos WHERE original_key = $1 OR attachment_key = $1 OR preview_key = $1 OR thumbnail_key = $1)
                  + (SELECT COUNT(*) FROM referral_documents WHERE blob_key = $1) AS n",
        )
        .bind(key)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// Purges every referral expired on `today` under `policy` (or, with `dry_run`, only lists
    /// them). `actor_label` names who ran it in the audit trail (`job:retention_purge`, `cli`).
    /// One referral failing does not stop the rest; its error is in the report.
    pub async fn run_retention(
        &self,
        blobs: &BlobStore,
        policy: &RetentionPolicy,
        today: NaiveDate,
        dry_run: bool,
        actor_label: &str,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let mut after = String::new();
        loop {
            let page = self.retention_facts(&after).await?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            report.examined += page.len();
            for (id, facts) in &page {
                if !is_expired(policy, facts, today) {
                    continue;
                }
                let record_type = RecordType::of(facts.status);
                let until = retain_until(policy.rule(record_type), facts.date_of_birth, facts.last_activity);
                report.expired.push(Expired {
                    referral_id: id.clone(),
                    record_type: record_type.as_str(),
                    last_activity: facts.last_activity,
                    retain_until: until,
                });
                if dry_run {
                    continue;
                }
                let why = format!("{} retention ended {until} (last activity {})", record_type.as_str(), facts.last_activity);
                match self.purge_referral(id, actor_label, &why).await {
                    Ok(removed) => {
                        report.purged += 1;
                        report.photos += removed.photos;
                        report.documents += removed.documents;
                        report.messages += removed.messages;
                        report.events += removed.events;
                        let _ = (removed.links, removed.notifications);
                        for key in removed.blob_keys {
                            match self.blob_in_use(&key).await {
                                Ok(true) => {}
                                Ok(false) => match blobs.delete(&key).await {
                                    Ok(()) => report.blobs_deleted += 1,
                                    // The orphan sweep removes it later.
                                    Err(e) => report.errors.push(format!("blob {key} of referral {id}: {e}")),
                                },
                                Err(e) => report.errors.push(format!("blob {key} of referral {id}: {e}")),
                            }
                        }
                    }
                    Err(e) => report.errors.push(format!("referral {id}: {e}")),
                }
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        Ok(report)
    }
}
