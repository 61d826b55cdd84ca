//! Photo upload and download over the API: reads the multipart upload within the size limit and
//! hands it to [`telederm_app::photos`].

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telederm_app::access::Capability;
use telederm_app::photos;
use telederm_domain::policy::{ImageSource, PhotoKind};

use super::referrals::load;
use crate::AppState;
use crate::audit;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code};

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

pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    Ok(Json(serde_json::json!({ "photos": state.store.list_photos(referral.id).await? })).into_response())
}

pub async fn delete(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, photo_id)): Path<(String, String)>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    photos::editable(&referral)?;
    let photo = photos::of_referral(&state, &referral, &photo_id).await?;
    photos::delete(&state, &user, &referral, &photo).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id, variant)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    let photo = photos::of_referral(&state, &referral, &photo_id).await?;
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
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response())
}
