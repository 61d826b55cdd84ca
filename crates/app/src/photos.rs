//! Photos: every photo goes through the imaging intake pipeline. Unsafe or undecodable files are
//! refused at once with the pipeline's code; the rest are stored as metadata-free derivatives with
//! their quality report, which the sender sees straight away. The API, the GP's photo page, the
//! patient's upload link and the FHIR import all store photos here.

use std::time::Instant;

use telederm_domain::PhotoId;
use telederm_domain::organisation::User;
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::Referral;
use telederm_imaging::QualityRequirements;
use telederm_store::{AuditOutcome, PhotoRecord};

use crate::App;
use crate::audit;
use crate::error::{Code, Error, Result};

/// Runs the intake pipeline and stores the photo's derivatives and record. Shared by the GP's
/// upload and (later) the patient's upload link.
/// Recorded in the audit trail as `photo.upload` (`failed` with the pipeline's code when refused);
/// `uploaded_by: None` is a patient on an upload link.
pub async fn store(
    state: &App,
    referral: &Referral,
    kind: PhotoKind,
    source: ImageSource,
    uploaded_by: Option<&User>,
    bytes: Vec<u8>,
) -> Result<PhotoRecord> {
    let result = store_audited(state, referral, kind, source, bytes, uploaded_by).await;
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::of(uploaded_by), "photo.upload", audit::Target::referral(referral.id), &result, "").await;
    }
    result
}

/// The photo's record and its `photo.upload` audit entry are written in one transaction.
async fn store_audited(
    state: &App,
    referral: &Referral,
    kind: PhotoKind,
    source: ImageSource,
    bytes: Vec<u8>,
    uploaded_by: Option<&User>,
) -> Result<PhotoRecord> {
    let existing = state.store.list_photos(referral.id).await?.len();
    if existing >= state.config.max_photos_per_referral {
        return Err(Error::new(Code::TooManyPhotos,
            format!("A referral can hold {} photos. Delete one you no longer need first.", state.config.max_photos_per_referral),
        ));
    }
    // Documents count against the same limit.
    crate::documents::check_room(state, referral).await?;
    let record = prepare(state, referral, kind, source, bytes, uploaded_by).await?;
    let entry = audit::entry(&audit::Actor::of(uploaded_by), "photo.upload", audit::Target::within("photo", record.id, referral.id), AuditOutcome::Allowed, "");
    let started = Instant::now();
    state.store.insert_photo_audited(&record, &entry).await?;
    crate::metrics::intake_stage("record", started.elapsed());
    crate::metrics::photo_uploaded(record.verdict.as_str());
    Ok(record)
}

/// Runs the intake pipeline and stores the photo's blobs, returning the record to insert (the
/// caller inserts it, alone or in a larger transaction). Blobs first, then the record: a crash in
/// between leaves only unreferenced blobs, which the orphan sweep removes; a photo is acknowledged
/// only once its record is committed.
pub async fn prepare(
    state: &App,
    referral: &Referral,
    kind: PhotoKind,
    source: ImageSource,
    bytes: Vec<u8>,
    uploaded_by: Option<&User>,
) -> Result<PhotoRecord> {
    let limits = state.intake_limits();
    let req = state.policies.get(&referral.service_id).map_or_else(QualityRequirements::default, |p| QualityRequirements {
        min_short_side_px: p.min_photo_short_side_px,
        recommended_short_side_px: p.recommended_short_side_px(),
    });
    let refused = |e: telederm_imaging::IntakeError| {
        Error::new(Code::from(e.code), e.message.clone()).with_details(serde_json::to_value(e.report()).unwrap_or_default())
    };
    // The header says how much memory the decode needs: wait for that share of the node's intake
    // budget (or refuse) before any pixel is allocated. The permit moves into the blocking task,
    // so it is held until the decode ends even if the client goes away meanwhile.
    let need = telederm_imaging::working_memory(&bytes, &limits).map_err(refused)?;
    let started = Instant::now();
    let permit = state.intake.admit(need.bytes).await?;
    crate::metrics::intake_stage("memory_wait", started.elapsed());
    let (reply, answer) = tokio::sync::oneshot::channel();
    let queued = Instant::now();
    telederm_imaging::spawn_on_intake_threads(
        move || {
            let started = Instant::now();
            crate::metrics::intake_stage("thread_wait", started - queued);
            let result = telederm_imaging::intake(&bytes, &limits, &req);
            drop(bytes);
            drop(permit);
            crate::metrics::intake_stage("processing", started.elapsed());
            result
        },
        move |result| {
            let _ = reply.send(result);
        },
    );
    let intake = answer
        .await
        .map_err(|e| Error::internal("image intake", e))?
        .map_err(|panic| Error::internal("image intake", format!("the intake panicked: {panic}")))?;
    let intake = intake.map_err(refused)?;
    let original_type = intake.original.content_type.to_string();
    let size_bytes = intake.original.bytes.len() as i64;
    let (width, height) = (i64::from(intake.original.width), i64::from(intake.original.height));
    // The blobs are written at once: their hashing, encryption and the storage's round trips
    // and fsyncs overlap instead of queueing one behind the other. Blobs are keyed by their
    // content's hash, so an attachment that is the original itself (an upright camera JPEG
    // within the e-RS limit) is the same blob: it is written once, not sent twice.
    let started = Instant::now();
    let attachment = (intake.attachment.sha256 != intake.original.sha256).then_some(intake.attachment.bytes);
    let (original_key, attachment_key, preview_key, thumbnail_key) = tokio::try_join!(
        state.blobs.put(intake.original.bytes),
        async {
            match attachment {
                Some(bytes) => state.blobs.put(bytes).await.map(Some),
                None => Ok(None),
            }
        },
        state.blobs.put(intake.preview.bytes),
        state.blobs.put(intake.thumbnail.bytes),
    )?;
    let attachment_key = attachment_key.unwrap_or_else(|| original_key.clone());
    crate::metrics::intake_stage("blobs", started.elapsed());
    let record = PhotoRecord {
        face_confirmed: None,
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
        verdict: intake.report.verdict,
        report: serde_json::to_value(&intake.report).map_err(|e| Error::internal("report", e))?,
        created_at: state.now(),
    };
    Ok(record)
}

pub fn editable(r: &Referral) -> Result<()> {
    match r.status {
        s if s.accepts_photos() => Ok(()),
        other => Err(Error::new(Code::PhotosLocked,
            format!("Photos can be added only to a draft or when the consultant asks for more; this referral is {}.", other.label()),
        )),
    }
}

pub async fn of_referral(state: &App, referral: &Referral, photo_id: &str) -> Result<PhotoRecord> {
    let id = PhotoId::parse(photo_id).ok_or_else(|| Error::not_found("photo"))?;
    match state.store.get_photo(id).await {
        Ok(p) if p.referral_id == referral.id => Ok(p),
        Ok(_) | Err(telederm_store::StoreError::NotFound) => Err(Error::not_found("photo")),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a photo's record (its blobs go with the orphan sweep), recorded as `photo.delete`.
/// Shared by the API and the GP's photo page.
pub async fn delete(state: &App, user: &User, referral: &Referral, photo: &PhotoRecord) -> Result<()> {
    let target = audit::Target::within("photo", photo.id, referral.id);
    let entry = audit::entry(&audit::Actor::user(user), "photo.delete", target.clone(), AuditOutcome::Allowed, "");
    let result = state.store.delete_photo_audited(photo.id, &entry).await.map_err(Error::from);
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::user(user), "photo.delete", target, &result, "").await;
    }
    result
}

/// The referrer confirms, on one photo, that the face the photo check detected in it is not
/// identifiable (for example, facial skin close up with no eyes in view): the child-face rule then
/// lets that photo go. Recorded on the photo (who, when) with its `photo.confirm_face` audit entry.
pub async fn confirm_face_not_identifiable(state: &App, user: &User, referral: &Referral, photo: &PhotoRecord) -> Result<PhotoRecord> {
    let target = audit::Target::within("photo", photo.id, referral.id);
    let result = async {
        editable(referral)?;
        if !face_detected(&photo.report) {
            return Err(Error::new(Code::NoFaceDetected, "The photo check found no face in this photo: there is nothing to confirm."));
        }
        let confirmation = telederm_store::FaceConfirmation { by: user.id, at: state.now() };
        let entry = audit::entry(&audit::Actor::user(user), "photo.confirm_face", target.clone(), AuditOutcome::Allowed, "");
        state.store.confirm_photo_face(photo.id, &confirmation, &entry).await?;
        // As stored (the database keeps the time to the microsecond).
        Ok(state.store.get_photo(photo.id).await?)
    }
    .await;
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::user(user), "photo.confirm_face", target, &result, "").await;
    }
    result
}

/// The referrer says what kind of photo this is (after uploading several at once, each is given
/// the kind the service still needs: [`telederm_domain::policy::ServicePolicy::next_photo_kind`]).
/// Recorded with its `photo.set_kind` audit entry in one transaction.
pub async fn set_kind(state: &App, user: &User, referral: &Referral, photo: &PhotoRecord, kind: PhotoKind) -> Result<PhotoRecord> {
    let target = audit::Target::within("photo", photo.id, referral.id);
    let result = async {
        editable(referral)?;
        let entry = audit::entry(&audit::Actor::user(user), "photo.set_kind", target.clone(), AuditOutcome::Allowed, kind.short_name());
        state.store.set_photo_kind(photo.id, kind, &entry).await?;
        Ok(state.store.get_photo(photo.id).await?)
    }
    .await;
    if result.is_err() {
        audit::outcome_of(state, &audit::Actor::user(user), "photo.set_kind", target, &result, "").await;
    }
    result
}

/// How a person names a referral's photo: its place in the referral and its kind ("photo 2
/// (close-up)"), never its id.
pub fn photo_name(position: usize, photo: &PhotoRecord) -> String {
    format!("photo {} ({})", position + 1, photo.kind.short_name())
}

/// Whether a photo's quality report says a face was detected (`faces` > 0 or a `face_detected`
/// issue; see `telederm_imaging::IssueCode::FaceDetected`).
pub fn face_detected(report: &serde_json::Value) -> bool {
    report["faces"].as_u64().is_some_and(|n| n > 0)
        || report["issues"].as_array().is_some_and(|issues| issues.iter().any(|i| i["code"] == "face_detected"))
}

/// The viewer's large preview: the photo with its long side at most `long_side` pixels (256 to
/// 4096, else `invalid_query`), never enlarged, as a JPEG. Made on demand from the stored preview
/// when that is large enough, else from the full-resolution original, within the node's intake
/// memory budget (the decode waits for its share like an upload does).
pub async fn resized(state: &App, photo: &PhotoRecord, long_side: u32) -> Result<Vec<u8>> {
    use telederm_imaging::{PREVIEW_LONG_SIDE, RESIZED_MAX_LONG_SIDE, RESIZED_MIN_LONG_SIDE};
    if !(RESIZED_MIN_LONG_SIDE..=RESIZED_MAX_LONG_SIDE).contains(&long_side) {
        return Err(Error::new(Code::InvalidQuery,
            format!("size must be between {RESIZED_MIN_LONG_SIDE} and {RESIZED_MAX_LONG_SIDE} pixels (the long side); download the original for more."),
        ));
    }
    let original_long = photo.width.max(photo.height).max(0) as u32;
    // The stored preview has the original's full resolution up to PREVIEW_LONG_SIDE.
    let key = if long_side <= PREVIEW_LONG_SIDE || original_long <= PREVIEW_LONG_SIDE { &photo.preview_key } else { &photo.original_key };
    let bytes = state.blobs.get(key).await?;
    let limits = state.intake_limits();
    let refused = |e: telederm_imaging::IntakeError| Error::new(Code::from(e.code), e.message.clone());
    let need = telederm_imaging::working_memory(&bytes, &limits).map_err(refused)?;
    let permit = state.intake.admit(need.bytes).await?;
    let out = tokio::task::spawn_blocking(move || {
        let result = telederm_imaging::resized(&bytes, &limits, long_side);
        drop(permit);
        result
    })
    .await
    .map_err(|e| Error::internal("photo resize", e))?;
    Ok(out.map_err(refused)?.bytes)
}
