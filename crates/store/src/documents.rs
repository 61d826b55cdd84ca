//! Documents on a referral (PDF attachments: referral letter, consent form, other). The bytes are
//! in the blob store; a row here acknowledges them. Each write goes with its audit entry in one
//! transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::document::DocumentKind;
use telederm_domain::{DocumentId, ReferralId, UserId};

use crate::codec::{parse_name, parse_ts, ts, uuid};
use crate::{Result, Store, StoreError, WriteTx};

/// A document as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DocumentRecord {
    pub id: DocumentId,
    pub referral_id: ReferralId,
    pub kind: DocumentKind,
    /// What the referrer called it, if anything.
    pub title: Option<String>,
    /// The blob store key of the PDF (not served: download through the API).
    #[serde(skip)]
    pub blob_key: String,
    pub size_bytes: i64,
    /// SHA-256 of the PDF's bytes, hex.
    pub sha256: String,
    pub uploaded_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

fn from_row(r: &AnyRow) -> Result<DocumentRecord> {
    Ok(DocumentRecord {
        id: uuid(r.get::<String, _>("id").as_str())?,
        referral_id: uuid(r.get::<String, _>("referral_id").as_str())?,
        kind: parse_name(r.get::<String, _>("kind").as_str())?,
        title: r.get("title"),
        blob_key: r.get("blob_key"),
        size_bytes: r.get("size_bytes"),
        sha256: r.get("sha256"),
        uploaded_by: r.get::<Option<String>, _>("uploaded_by").map(|s| uuid(&s)).transpose()?,
        created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
    })
}

/// A document row inside a caller's transaction (an import writes its referral's documents so).
pub async fn insert_document_in(w: &mut WriteTx<'_>, d: &DocumentRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO referral_documents (id, referral_id, kind, title, blob_key, size_bytes, sha256, uploaded_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(d.id.to_string())
    .bind(d.referral_id.to_string())
    .bind(d.kind.as_str())
    .bind(d.title.as_deref())
    .bind(&d.blob_key)
    .bind(d.size_bytes)
    .bind(&d.sha256)
    .bind(d.uploaded_by.map(|u| u.to_string()))
    .bind(ts(d.created_at))
    .execute(&mut *w.tx)
    .await
    .map_err(|e| crate::codec::unique_violation(e, "the document"))?;
    Ok(())
}

impl Store {
    /// A new document and its audit entry, in one transaction.
    pub async fn insert_document_audited(&self, d: &DocumentRecord, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        insert_document_in(&mut w, d).await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// A referral's documents, oldest first.
    pub async fn list_documents(&self, referral: ReferralId) -> Result<Vec<DocumentRecord>> {
        sqlx::query("SELECT * FROM referral_documents WHERE referral_id = $1 ORDER BY created_at, id")
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// How many documents a referral holds.
    pub async fn count_documents(&self, referral: ReferralId) -> Result<usize> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM referral_documents WHERE referral_id = $1")
            .bind(referral.to_string())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get::<i64, _>("n").max(0) as usize)
    }

    pub async fn get_document(&self, id: DocumentId) -> Result<DocumentRecord> {
        let row = sqlx::query("SELECT * FROM referral_documents WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        from_row(&row)
    }

    /// Deletes a document's row with its audit entry, in one transaction (its blob goes with the
    /// orphan sweep).
    pub async fn delete_document_audited(&self, id: DocumentId, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM referral_documents WHERE id = $1").bind(id.to_string()).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }
}
