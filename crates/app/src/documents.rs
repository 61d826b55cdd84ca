//! Documents on a referral (issue 14): PDF attachments such as the GP's referral letter and the
//! patient's consent form. Each file is recognised as PDF by its content (`%PDF-`), held to the
//! smaller of the node's document limit and the service's per-file attachment limit, stored in the
//! blob store exactly like a photo (encrypted at rest, content-addressed), and acknowledged by its
//! row, written with its audit entry in one transaction. Photos and documents count together
//! against the referral's attachment limit. The API, the GP's pages and the FHIR import store
//! documents here.

use telederm_domain::DocumentId;
use telederm_domain::document::{self, DocumentKind};
use telederm_domain::organisation::User;
use telederm_domain::referral::Referral;
use telederm_store::{AuditOutcome, DocumentRecord};

use crate::App;
use crate::audit;
use crate::error::{Code, Error, Result};

/// The largest document this referral takes, in bytes: the node's limit, lowered to the service's
/// per-file attachment limit (`max_attachment_bytes`, 5 MiB for e-RS) when that is smaller.
pub fn max_bytes(state: &App, referral: &Referral) -> u64 {
    let node = state.config.max_document_bytes;
    state.policies.get(&referral.service_id).map_or(node, |p| node.min(p.max_attachment_bytes))
}

/// "5.2 MB": a limit as people read it.
pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1_000_000.0;
    if (mb - mb.round()).abs() < 0.05 { format!("{} MB", mb.round()) } else { format!("{mb:.1} MB") }
}

/// Whether photos and documents together leave room for one more attachment.
pub async fn check_room(state: &App, referral: &Referral) -> Result<()> {
    let photos = state.store.list_photos(referral.id).await?.len();
    let documents = state.store.count_documents(referral.id).await?;
    let max = state.config.max_photos_per_referral;
    if photos + documents >= max {
        return Err(Error::new(Code::TooManyAttachments,
            format!("A referral can hold {max} photos and documents together; this one has {photos} photo(s) and {documents} document(s). Remove one you no longer need first."),
        ));
    }
    Ok(())
}

/// Checks a document's bytes, kind and title without storing anything: the kind and title as
/// given, the bytes a PDF within the referral's limit. Shared by the upload and the FHIR import.
pub fn check(state: &App, referral: &Referral, title: Option<&str>, bytes: &[u8]) -> Result<Option<String>> {
    let title = document::normalise_title(title).map_err(|m| Error::new(Code::InvalidDocument, m))?;
    let max = max_bytes(state, referral);
    if bytes.len() as u64 > max {
        return Err(Error::new(Code::FileTooLarge,
            format!("The document is {}; this service takes documents up to {}. Send a smaller PDF (scan in black and white, or at 150 dpi).", megabytes(bytes.len() as u64), megabytes(max)),
        ));
    }
    if !document::is_pdf(bytes) {
        return Err(Error::new(Code::NotAPdf,
            "This file is not a PDF. Save or scan the letter or form as PDF and send it again (photos go to the photo upload).",
        ));
    }
    Ok(title)
}

/// Stores a checked document's bytes in the blob store (encrypted like a photo) and returns the
/// record to insert; the caller inserts it, alone or in a larger transaction. Blobs first, then
/// the record: a crash in between leaves only an unreferenced blob, which the orphan sweep removes.
pub async fn prepare(state: &App, referral: &Referral, kind: DocumentKind, title: Option<&str>, bytes: Vec<u8>, uploaded_by: Option<&User>) -> Result<DocumentRecord> {
    let title = check(state, referral, title, &bytes)?;
    let sha256 = telederm_store::blobs::sha256_hex(&bytes);
    let size_bytes = bytes.len() as i64;
    let blob_key = state.blobs.put(bytes).await?;
    Ok(DocumentRecord {
        id: DocumentId::new(),
        referral_id: referral.id,
        kind,
        title,
        blob_key,
        size_bytes,
        sha256,
        uploaded_by: uploaded_by.map(|u| u.id),
        created_at: state.now(),
    })
}

/// Documents can be added or removed while photos can: on a draft, or when the consultant asks
/// for more.
pub fn editable(r: &Referral) -> Result<()> {
    if r.status.accepts_photos() {
        Ok(())
    } else {
        Err(Error::new(Code::PhotosLocked,
            format!("Documents can be added or removed only on a draft or when the consultant asks for more; this referral is {}.", r.status.label()),
        ))
    }
}

/// The referrer adds a document. Recorded as `document.upload` (`failed` with the code when
/// refused), the row and its entry in one transaction.
pub async fn upload(state: &App, user: &User, referral: &Referral, kind: DocumentKind, title: Option<&str>, bytes: Vec<u8>) -> Result<DocumentRecord> {
    let result = async {
        editable(referral)?;
        check_room(state, referral).await?;
        let record = prepare(state, referral, kind, title, bytes, Some(user)).await?;
        let entry = audit::entry(&audit::Actor::user(user), "document.upload", audit::Target::within("document", record.id, referral.id), AuditOutcome::Allowed, format!("kind={}", kind.as_str()));
        state.store.insert_document_audited(&record, &entry).await?;
        Ok(record)
    }
    .await;
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::user(user), "document.upload", audit::Target::referral(referral.id), &result, "").await;
    }
    result
}

/// The document with this id on this referral, or `not_found` (an id of another referral's
/// document is not found here).
pub async fn of_referral(state: &App, referral: &Referral, document_id: &str) -> Result<DocumentRecord> {
    let id = DocumentId::parse(document_id).ok_or_else(|| Error::not_found("document"))?;
    match state.store.get_document(id).await {
        Ok(d) if d.referral_id == referral.id => Ok(d),
        Ok(_) | Err(telederm_store::StoreError::NotFound) => Err(Error::not_found("document")),
        Err(e) => Err(e.into()),
    }
}

/// A document's bytes, the read recorded as `document.download` first (nothing is shown that the
/// audit trail does not know about).
pub async fn read(state: &App, user: &User, referral: &Referral, doc: &DocumentRecord) -> Result<Vec<u8>> {
    audit::record(state, &audit::Actor::user(user), "document.download", audit::Target::within("document", doc.id, referral.id), AuditOutcome::Allowed, "").await?;
    Ok(state.blobs.get(&doc.blob_key).await?)
}

/// Removes a document (its blob goes with the orphan sweep), recorded as `document.delete`.
pub async fn delete(state: &App, user: &User, referral: &Referral, doc: &DocumentRecord) -> Result<()> {
    let target = audit::Target::within("document", doc.id, referral.id);
    let result = async {
        editable(referral)?;
        let entry = audit::entry(&audit::Actor::user(user), "document.delete", target.clone(), AuditOutcome::Allowed, "");
        state.store.delete_document_audited(doc.id, &entry).await?;
        Ok(())
    }
    .await;
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::user(user), "document.delete", target, &result, "").await;
    }
    result
}
