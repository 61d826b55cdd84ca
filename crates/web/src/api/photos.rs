//! Photo upload and download over the API: reads the multipart upload within the size limit and
//! hands it to [`telederm_app::photos`].

use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telederm_app::access::Capability;
use telederm_app::photos;
use telederm_store::PhotoRecord;
use telederm_domain::policy::{ImageSource, PhotoKind};

use super::referrals::load;
use crate::AppState;
use crate::audit;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code, ErrorBody};

/// Receives the `file` field of a multipart upload chunk by chunk, refusing it as soon as it
/// passes the size limit (nothing larger is ever held in memory).
async fn read_upload(mut multipart: Multipart, limit: u64) -> ApiResult<(Option<String>, Vec<u8>)> {
    let too_big = || {
        ApiError::new(
            Code::FileTooLarge,
            format!("The photo is larger than {} MB. Send a smaller photo (most phones can share a 'Large' rather than 'Actual size' copy).", limit / 1_000_000),
        )
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            ApiError::new(Code::InvalidUpload, format!("The upload could not be read ({}). Send it as multipart/form-data with a `file` field.", e.body_text()))
        }
    };
    let mut kind = None;
    let mut bytes = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("kind") => kind = Some(field.text().await.map_err(bad)?),
            Some("file") => {
                let mut buf = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Err(too_big());
                    }
                    buf.extend_from_slice(&chunk);
                }
                // Give back the growth slack (up to half the buffer) while the photo waits.
                buf.shrink_to_fit();
                bytes = Some(buf);
            }
            _ => {}
        }
    }
    let bytes = bytes.ok_or_else(|| ApiError::new(Code::MissingFile, "Attach the photo in a multipart field named `file`."))?;
    Ok((kind, bytes))
}

fn parse_kind(kind: Option<&str>) -> ApiResult<PhotoKind> {
    let raw = kind.unwrap_or("close_up");
    serde_json::from_value(serde_json::Value::String(raw.to_string())).map_err(|_| {
        ApiError::new(Code::InvalidPhotoKind, format!("{raw:?} is not a photo kind; use locator, close_up or dermoscopic."))
    })
}

/// The multipart form of a photo upload (documentation of what [`read_upload`] reads).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PhotoUpload {
    /// The photo: JPEG, PNG, GIF, TIFF or another format the intake recognises (it refuses the rest).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// What the photo shows; default close_up.
    kind: Option<PhotoKind>,
}

/// `GET /referrals/{id}/photos`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PhotoList {
    pub photos: Vec<PhotoRecord>,
}

#[utoipa::path(post, path = "/referrals/{id}/photos", operation_id = "upload_photo", tag = "photos",
    summary = "Upload a photo; it is checked at once",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    request_body(content = PhotoUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored, with its quality report", body = PhotoRecord),
        (status = 400, description = "The upload could not be read (invalid_upload, missing_file)", body = ErrorBody),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Photos are locked in this state (photos_locked), or the referral holds its most photos (too_many_photos)", body = ErrorBody),
        (status = 413, description = "Larger than the upload limit (file_too_large), or needs more memory to decode than this node's whole intake budget (image_too_large_to_process)", body = ErrorBody),
        (status = 422, description = "Refused by the intake pipeline (code says why; details carry the quality report), or invalid_photo_kind", body = ErrorBody),
        (status = 503, description = "Busy: the node's intake memory budget is in use (code intake_busy); send again after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    photos::editable(&referral)?;
    let multipart = multipart.map_err(|e| {
        ApiError::new(Code::InvalidUpload,
            format!("Send the photo as multipart/form-data with a `file` field ({}).", e.body_text()),
        )
    })?;
    let (kind, bytes) = read_upload(multipart, state.settings.max_upload_bytes).await?;
    let kind = parse_kind(kind.as_deref())?;
    let record = photos::store(&state, &referral, kind, ImageSource::Clinician, Some(&user), bytes).await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

#[utoipa::path(get, path = "/referrals/{id}/photos", operation_id = "list_photos", tag = "photos",
    summary = "Photos with quality reports",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "Photos", body = PhotoList),
        (status = 404, description = "No such record you can see", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    Ok(Json(PhotoList { photos: state.store.list_photos(referral.id).await? }).into_response())
}

#[utoipa::path(delete, path = "/referrals/{id}/photos/{photo_id}", operation_id = "delete_photo", tag = "photos",
    summary = "Remove a photo from a draft",
    params(("id" = uuid::Uuid, Path, description = "The referral's id"), ("photo_id" = uuid::Uuid, Path, description = "The photo's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Photos are locked in this state (photos_locked)", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, photo_id)): Path<(String, String)>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    photos::editable(&referral)?;
    let photo = photos::of_referral(&state, &referral, &photo_id).await?;
    photos::delete(&state, &user, &referral, &photo).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/referrals/{id}/photos/{photo_id}/face-not-identifiable", operation_id = "confirm_face_not_identifiable", tag = "photos",
    summary = "Confirm that the face the photo check detected is not identifiable (referrers; the child-face rule then lets the photo go)",
    params(("id" = uuid::Uuid, Path, description = "The referral's id"), ("photo_id" = uuid::Uuid, Path, description = "The photo's id")),
    responses(
        (status = 200, description = "The photo with its confirmation", body = PhotoRecord),
        (status = 403, description = "Your role may not do this", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "Photos are locked in this state (photos_locked), or no face was detected (no_face_detected)", body = ErrorBody),
    ))]
pub async fn confirm_face(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, photo_id)): Path<(String, String)>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    let photo = photos::of_referral(&state, &referral, &photo_id).await?;
    Ok(Json(photos::confirm_face_not_identifiable(&state, &user, &referral, &photo).await?).into_response())
}

#[utoipa::path(get, path = "/referrals/{id}/photos/{photo_id}/{variant}", operation_id = "download_photo", tag = "photos",
    summary = "Photo bytes",
    params(("id" = uuid::Uuid, Path, description = "The referral's id"), ("photo_id" = uuid::Uuid, Path, description = "The photo's id"),
        ("variant" = inline(PhotoVariant), Path, description = "original (as sent, metadata removed), attachment (for e-RS), preview or thumbnail"),
        PreviewSize),
    responses(
        (status = 200, description = "Image (the original is JPEG or PNG, the others JPEG)", content(("image/jpeg"), ("image/png"))),
        (status = 400, description = "size out of bounds (invalid_query)", body = ErrorBody),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 503, description = "The photo cannot be decrypted with the configured key: code blob_key_mismatch (set TELEDERM_BLOB_KEY_FILE to the key it was stored with) or blob_not_encrypted (run telederm keys rotate)", body = ErrorBody),
    ))]
pub async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id, variant)): Path<(String, String, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    let photo = photos::of_referral(&state, &referral, &photo_id).await?;
    if let Some(raw) = q.get("size").filter(|_| variant == "preview") {
        let size: u32 = raw.parse().map_err(|_| ApiError::new(Code::InvalidQuery, format!("size {raw:?} is not a number of pixels.")))?;
        let bytes = photos::resized(&state, &photo, size).await?;
        audit::record(&state, &audit::Actor::user(&user), "photo.download", audit::Target::within("photo", photo.id, referral.id),
            telederm_store::AuditOutcome::Allowed, format!("variant=preview size={size}")).await?;
        return Ok(image_response("image/jpeg", bytes));
    }
    let (key, content_type) = match variant.as_str() {
        "original" => (&photo.original_key, photo.original_type.as_str()),
        "attachment" => (&photo.attachment_key, "image/jpeg"),
        "preview" => (&photo.preview_key, "image/jpeg"),
        "thumbnail" => (&photo.thumbnail_key, "image/jpeg"),
        _ => return Err(ApiError::not_found("photo variant (use original, attachment, preview or thumbnail)")),
    };
    audit::record(
        &state,
        &audit::Actor::user(&user),
        "photo.download",
        audit::Target::within("photo", photo.id, referral.id),
        telederm_store::AuditOutcome::Allowed,
        format!("variant={variant}"),
    )
    .await?;
    let bytes = state.blobs.get(key).await?;
    Ok(image_response(content_type, bytes))
}

pub(crate) fn image_response(content_type: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// `?size=` on the preview variant: a larger or smaller preview, made on demand.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PreviewSize {
    /// With `preview`: the long side in pixels, 256 to 4096 (never enlarged past the original).
    /// The other variants are served as stored, whatever `size` says.
    #[param(minimum = 256, maximum = 4096)]
    size: Option<u32>,
}

/// The stored versions of a photo (`GET /referrals/{id}/photos/{photo_id}/{variant}`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum PhotoVariant {
    Original,
    Attachment,
    Preview,
    Thumbnail,
}
