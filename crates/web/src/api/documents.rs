//! Documents (PDF attachments) over the API: reads the multipart upload within the size limit and
//! hands it to [`telederm_app::documents`].

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telederm_app::access::Capability;
use telederm_app::documents;
use telederm_domain::document::{self, DocumentKind};
use telederm_store::DocumentRecord;

use super::referrals::load;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code, ErrorBody};

/// A document upload as read: kind, title and the file's bytes.
pub(crate) struct DocumentForm {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub bytes: Option<Vec<u8>>,
    /// Other text fields (the pages' anti-forgery token).
    pub fields: Vec<(String, String)>,
}

/// Receives a multipart document upload chunk by chunk, refusing the file as soon as it passes
/// `limit` (nothing larger is held in memory).
pub(crate) async fn read_form(mut multipart: Multipart, limit: u64) -> ApiResult<DocumentForm> {
    let too_big = || {
        ApiError::new(Code::FileTooLarge, format!("The document is larger than {}. Send a smaller PDF (scan in black and white, or at 150 dpi).", documents::megabytes(limit)))
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            ApiError::new(Code::InvalidUpload, format!("The upload could not be read ({}). Send it as multipart/form-data with a `file` field.", e.body_text()))
        }
    };
    let mut form = DocumentForm { kind: None, title: None, bytes: None, fields: Vec::new() };
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("kind") => form.kind = Some(field.text().await.map_err(bad)?),
            Some("title") => form.title = Some(field.text().await.map_err(bad)?),
            Some("file") => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Err(too_big());
                    }
                    buf.extend_from_slice(&chunk);
                }
                form.bytes = Some(buf);
            }
            Some(name) => {
                let name = name.to_string();
                let value = field.text().await.map_err(bad)?;
                form.fields.push((name, value));
            }
            None => {}
        }
    }
    Ok(form)
}

/// The kind as sent (`referral_letter`, `consent_form`, `other`); required.
pub(crate) fn parse_kind(kind: Option<&str>) -> ApiResult<DocumentKind> {
    let raw = kind.unwrap_or("");
    DocumentKind::parse(raw).ok_or_else(|| {
        ApiError::new(Code::InvalidDocument, format!("{raw:?} is not a document kind; use referral_letter, consent_form or other."))
    })
}

/// The multipart form of a document upload (documentation of what [`read_form`] reads).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DocumentUpload {
    /// The document: a PDF file (recognised by its content; anything else is refused `not_a_pdf`).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What the document is.
    kind: DocumentKind,
    /// What to call it (at most 200 characters), e.g. "Letter from Dr Patel".
    #[schema(max_length = 200)]
    title: Option<String>,
}

/// `GET /referrals/{id}/documents`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct DocumentList {
    pub documents: Vec<DocumentRecord>,
}

#[utoipa::path(post, path = "/referrals/{id}/documents", operation_id = "upload_document", tag = "documents",
    summary = "Attach a document (PDF): the referral letter, the consent form or another",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body(content = DocumentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = DocumentRecord),
        (status = 400, description = "The upload could not be read (invalid_upload, missing_file)", body = ErrorBody),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Documents are locked in this state (photos_locked), or photos and documents together reach the limit (too_many_attachments)", body = ErrorBody),
        (status = 413, description = "Larger than the document limit: the node's, or the service's per-file limit when smaller (file_too_large)", body = ErrorBody),
        (status = 422, description = "Not a PDF by its content (not_a_pdf), or a kind or title it cannot take (invalid_document)", body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    documents::editable(&referral)?;
    let multipart = multipart.map_err(|e| {
        ApiError::new(Code::InvalidUpload, format!("Send the document as multipart/form-data with a `file` field ({}).", e.body_text()))
    })?;
    let form = read_form(multipart, state.settings.max_document_bytes).await?;
    let kind = parse_kind(form.kind.as_deref())?;
    let bytes = form.bytes.ok_or_else(|| ApiError::new(Code::MissingFile, "Attach the PDF in a multipart field named `file`."))?;
    let record = documents::upload(&state, &user, &referral, kind, form.title.as_deref(), bytes).await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[utoipa::path(get, path = "/referrals/{id}/documents", operation_id = "list_documents", tag = "documents",
    summary = "The referral's documents",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "Documents, oldest first", body = DocumentList),
        (status = 404, description = "No such record you can see", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    Ok(Json(DocumentList { documents: state.store.list_documents(referral.id).await? }).into_response())
}

#[utoipa::path(get, path = "/referrals/{id}/documents/{document_id}", operation_id = "download_document", tag = "documents",
    summary = "The document's PDF (the read is audited)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id"), ("document_id" = uuid::Uuid, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The PDF, as a download", content(("application/pdf"))),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 503, description = "The document cannot be decrypted with the configured key (blob_key_mismatch, blob_not_encrypted)", body = ErrorBody),
    ))]
pub async fn download(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, document_id)): Path<(String, String)>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    let doc = documents::of_referral(&state, &referral, &document_id).await?;
    let bytes = documents::read(&state, &user, &referral, &doc).await?;
    Ok(pdf_response(&doc, bytes))
}

/// A PDF as a download: never shown inline, never sniffed, never cached by a shared cache.
pub(crate) fn pdf_response(doc: &DocumentRecord, bytes: Vec<u8>) -> Response {
    let name = document::file_name(doc.kind, doc.title.as_deref());
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}

#[utoipa::path(delete, path = "/referrals/{id}/documents/{document_id}", operation_id = "delete_document", tag = "documents",
    summary = "Remove a document from a draft",
    params(("id" = uuid::Uuid, Path, description = "The referral's id"), ("document_id" = uuid::Uuid, Path, description = "The document's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Documents are locked in this state (photos_locked)", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, document_id)): Path<(String, String)>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    documents::editable(&referral)?;
    let doc = documents::of_referral(&state, &referral, &document_id).await?;
    documents::delete(&state, &user, &referral, &doc).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /directory`: the onward-services directory.
#[utoipa::path(get, path = "/directory", operation_id = "list_directory", tag = "services",
    summary = "The onward-services directory: where a patient can be referred on (name, provider, ODS code, what it takes)",
    responses((status = 200, description = "The directory, in file order", body = telederm_domain::directory::Directory)))]
pub async fn directory(State(state): State<AppState>, CurrentUser(_user): CurrentUser) -> ApiResult<Response> {
    Ok(Json(state.directory.as_ref().clone()).into_response())
}
