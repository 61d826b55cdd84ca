//! Photo upload and download. Every photo goes through the imaging intake pipeline: unsafe or
//! undecodable files are refused at once with the pipeline's code; the rest are stored as
//! metadata-free derivatives with their quality report, which the sender sees straight away.

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use telederm_domain::PhotoId;
use telederm_domain::organisation::User;
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::Referral;
use telederm_imaging::{IssueCode, QualityRequirements};
use telederm_store::{AuditOutcome, PhotoRecord};

use super::referrals::load;
use crate::AppState;
use crate::access::Capability;
use crate::audit;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};

/// Receives the `file` field of a multipart upload chunk by chunk, refusing it as soon as it
/// passes the size limit (nothing larger is ever held in memory).
async fn read_upload(mut multipart: Multipart, limit: u64) -> ApiResult<(Option<String>, Vec<u8>)> {
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file_too_large",
            format!("The photo is larger than {} MB. Send a smaller photo (most phones can share a 'Large' rather than 'Actual size' copy).", limit / 1_000_000),
        )
    };
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big()
        } else {
            ApiError::bad_request("invalid_upload", format!("The upload could not be read ({}). Send it as multipart/form-data with a `file` field.", e.body_text()))
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
    let bytes = bytes.ok_or_else(|| ApiError::bad_request("missing_file", "Attach the photo in a multipart field named `file`."))?;
    Ok((kind, bytes))
}

fn parse_kind(kind: Option<&str>) -> ApiResult<PhotoKind> {
    let raw = kind.unwrap_or("close_up");
    serde_json::from_value(serde_json::Value::String(raw.to_string())).map_err(|_| {
        ApiError::unprocessable("invalid_photo_kind", format!("{raw:?} is not a photo kind; use locator, close_up or dermoscopic."))
    })
}

/// Runs the intake pipeline and stores the photo's derivatives and record. Shared by the GP's
/// upload and (later) the patient's upload link.
/// Recorded in the audit trail as `photo.upload` (`failed` with the pipeline's code when refused);
/// `uploaded_by: None` is a patient on an upload link.
pub async fn store_photo(
    state: &AppState,
    referral: &Referral,
    kind: PhotoKind,
    source: ImageSource,
    uploaded_by: Option<&User>,
    bytes: Vec<u8>,
) -> ApiResult<PhotoRecord> {
    let result = store_photo_audited(state, referral, kind, source, bytes, uploaded_by).await;
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::of(uploaded_by), "photo.upload", audit::Target::referral(referral.id), &result, "").await;
    }
    result
}

/// The photo's record and its `photo.upload` audit entry are written in one transaction.
async fn store_photo_audited(
    state: &AppState,
    referral: &Referral,
    kind: PhotoKind,
    source: ImageSource,
    bytes: Vec<u8>,
    uploaded_by: Option<&User>,
) -> ApiResult<PhotoRecord> {
    let existing = state.store.list_photos(referral.id).await?.len();
    if existing >= state.settings.max_photos_per_referral {
        return Err(ApiError::conflict(
            "too_many_photos",
            format!("A referral can hold {} photos. Delete one you no longer need first.", state.settings.max_photos_per_referral),
        ));
    }
    let record = prepare_photo(state, referral, kind, source, bytes, uploaded_by).await?;
    let entry = audit::entry(&audit::Actor::of(uploaded_by), "photo.upload", audit::Target::within("photo", record.id, referral.id), AuditOutcome::Allowed, "");
    state.store.insert_photo_audited(&record, &entry).await?;
    crate::ops::photo_uploaded(&record.verdict);
    Ok(record)
}

/// Runs the intake pipeline and stores the photo's blobs, returning the record to insert (the
/// caller inserts it, alone or in a larger transaction). Blobs first, then the record: a crash in
/// between leaves only unreferenced blobs, which the orphan sweep removes; a photo is acknowledged
/// only once its record is committed.
pub async fn prepare_photo(
    state: &AppState,
    referral: &Referral,
    kind: PhotoKind,
    source: ImageSource,
    bytes: Vec<u8>,
    uploaded_by: Option<&User>,
) -> ApiResult<PhotoRecord> {
    let limits = state.intake_limits();
    let req = state.policies.get(&referral.service_id).map_or_else(QualityRequirements::default, |p| QualityRequirements {
        min_short_side_px: p.min_photo_short_side_px,
        recommended_short_side_px: p.recommended_short_side_px(),
    });
    let refused = |e: telederm_imaging::IntakeError| {
        let status = match e.code {
            IssueCode::FileTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::new(status, e.code.as_str(), e.message.clone())
            .with_details(serde_json::to_value(e.report()).unwrap_or_default())
    };
    // The header says how much memory the decode needs: wait for that share of the node's intake
    // budget (or refuse) before any pixel is allocated. The permit moves into the blocking task,
    // so it is held until the decode ends even if the client goes away meanwhile.
    let need = telederm_imaging::working_memory(&bytes, &limits).map_err(refused)?;
    let permit = state.intake.admit(need.bytes).await?;
    let intake = tokio::task::spawn_blocking(move || {
        let result = telederm_imaging::intake(&bytes, &limits, &req);
        drop(bytes);
        drop(permit);
        result
    })
    .await
    .map_err(|e| ApiError::internal("image intake", e))?;
    let intake = intake.map_err(refused)?;
    let original_type = intake.original.content_type.to_string();
    let size_bytes = intake.original.bytes.len() as i64;
    let (width, height) = (i64::from(intake.original.width), i64::from(intake.original.height));
    let original_key = state.blobs.put(intake.original.bytes).await?;
    let attachment_key = state.blobs.put(intake.attachment.bytes).await?;
    let preview_key = state.blobs.put(intake.preview.bytes).await?;
    let thumbnail_key = state.blobs.put(intake.thumbnail.bytes).await?;
    let record = PhotoRecord {
        id: PhotoId::new(),
        referral_id: referral.id,
        kind,
        source,
        uploaded_by: uploaded_by.map(|u| u.id),
        original_key,
        original_type,
        attachment_key,
        preview_key,
        thumbnail_key,
        width,
        height,
        size_bytes,
        verdict: intake.report.verdict.as_str().to_string(),
        report: serde_json::to_value(&intake.report).map_err(|e| ApiError::internal("report", e))?,
        created_at: state.now(),
    };
    Ok(record)
}

fn photos_editable(r: &Referral) -> ApiResult<()> {
    match r.status {
        s if s.accepts_photos() => Ok(()),
        other => Err(ApiError::conflict(
            "photos_locked",
            format!("Photos can be added only to a draft or when the consultant asks for more; this referral is {}.", other.label()),
        )),
    }
}

pub async fn upload(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    photos_editable(&referral)?;
    let multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "invalid_upload",
            format!("Send the photo as multipart/form-data with a `file` field ({}).", e.body_text()),
        )
    })?;
    let (kind, bytes) = read_upload(multipart, state.settings.max_upload_bytes).await?;
    let kind = parse_kind(kind.as_deref())?;
    let record = store_photo(&state, &referral, kind, ImageSource::Clinician, Some(&user), bytes).await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    Ok(Json(serde_json::json!({ "photos": state.store.list_photos(referral.id).await? })).into_response())
}

async fn photo_of(state: &AppState, referral: &Referral, photo_id: &str) -> ApiResult<PhotoRecord> {
    let id = PhotoId::parse(photo_id).ok_or_else(|| ApiError::not_found("photo"))?;
    match state.store.get_photo(id).await {
        Ok(p) if p.referral_id == referral.id => Ok(p),
        Ok(_) | Err(telederm_store::StoreError::NotFound) => Err(ApiError::not_found("photo")),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(State(state): State<AppState>, CurrentUser(user): CurrentUser, Path((id, photo_id)): Path<(String, String)>) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::UploadPhoto).await?;
    photos_editable(&referral)?;
    let photo = photo_of(&state, &referral, &photo_id).await?;
    delete_photo(&state, &user, &referral, &photo).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Deletes a photo's record (its blobs go with the orphan sweep), recorded as `photo.delete`.
/// Shared by the API and the GP's photo page.
pub async fn delete_photo(state: &AppState, user: &User, referral: &Referral, photo: &PhotoRecord) -> ApiResult<()> {
    let target = audit::Target::within("photo", photo.id, referral.id);
    let entry = audit::entry(&audit::Actor::user(user), "photo.delete", target.clone(), AuditOutcome::Allowed, "");
    let result = state.store.delete_photo_audited(photo.id, &entry).await.map_err(ApiError::from);
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::user(user), "photo.delete", target, &result, "").await;
    }
    result
}

pub async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, photo_id, variant)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let referral = load(&state, &user, &id, Capability::View).await?;
    let photo = photo_of(&state, &referral, &photo_id).await?;
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
