//! Outcome letters into the GP record over MESH (GP Connect Send Document): the worker's two jobs.
//!
//! * `send_gp_letter` (one per outcome, written with it): asks MESH's tracking whether a message
//!   with the letter's local id was already sent (a try that died after MESH took it), else finds
//!   the practice's mailbox by the endpoint lookup (ODS code + workflow), builds the ITK3 message
//!   with the GP letter's PDF and sends it. MESH away: retried with the queue's backoff. No
//!   mailbox, or MESH refusing the message: marked not sent, and the GP emailed.
//! * `mesh_poll` (every `TELEDERM_MESH_POLL_SECONDS`): downloads and acknowledges what is in
//!   Telederm's inbox, recording ITK3 infrastructure (delivered) and business (filed)
//!   acknowledgements, and marks failed (telling the GP) the letters with no business
//!   acknowledgement within `TELEDERM_MESH_ACK_TIMEOUT_MINUTES`.

use chrono::Utc;
use telederm_app::gp_letters;
use telederm_fhir::letters::{Letter, LetterKind};
use telederm_fhir::store_io::{self, Sources};
use telederm_mesh::client::OutgoingMessage;
use telederm_mesh::itk::{self, AckKind, DocumentMessage, Org, PatientDetails};
use telederm_mesh::{MeshClient, MeshError};
use telederm_notify::dispatch::JobError;
use telederm_store::{GpLetter, GpLetterStatus, Job, StoreError};

use crate::wiring::JobContext;

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

fn mesh(cx: &JobContext) -> Result<&MeshClient, JobError> {
    cx.mesh.as_ref().ok_or_else(|| JobError::Retry("MESH is not configured on this node (TELEDERM_MESH_URL)".into()))
}

pub async fn send_gp_letter(cx: &JobContext, job: &Job) -> Result<(), JobError> {
    let client = mesh(cx)?;
    let id = job
        .payload
        .get("gp_letter_id")
        .and_then(|v| v.as_str())
        .and_then(|v| uuid::Uuid::parse_str(v).ok())
        .ok_or_else(|| JobError::Fatal("the job has no gp_letter_id".into()))?;
    let letter = match cx.state.store.get_gp_letter(id).await {
        Ok(l) => l,
        // Purged with its referral (retention): nothing to send.
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(retry(e)),
    };
    if letter.status != GpLetterStatus::Pending {
        return Ok(());
    }
    let last_try = job.attempts >= job.max_attempts;
    match try_send(cx, client, &letter).await {
        Ok(()) => Ok(()),
        Err(Failure::NotSent(reason)) => {
            tracing::warn!(letter = %letter.id, referral = %letter.referral_id, %reason, "outcome letter not sent to the GP system");
            gp_letters::record_failure(&cx.state, &letter, GpLetterStatus::NotSent, &reason).await.map_err(retry)?;
            Ok(())
        }
        Err(Failure::Retry(reason)) if last_try => {
            let reason = format!("gave up after {} tries: {reason}", job.attempts);
            gp_letters::record_failure(&cx.state, &letter, GpLetterStatus::NotSent, &reason).await.map_err(retry)?;
            Ok(())
        }
        Err(Failure::Retry(reason)) => {
            tracing::warn!(letter = %letter.id, %reason, "outcome letter not sent yet; will try again");
            let _ = cx.state.store.note_gp_letter_retry(letter.id, &reason).await;
            Err(JobError::Retry(reason))
        }
    }
}

enum Failure {
    /// Worth trying again (MESH away, our credentials refused: an operator can fix them).
    Retry(String),
    /// Will never go (no mailbox for the practice, MESH refused the message itself).
    NotSent(String),
}

fn classify(e: MeshError) -> Failure {
    match e {
        e @ (MeshError::Unreachable { .. } | MeshError::Unauthorised { .. } | MeshError::Config(_)) => Failure::Retry(e.to_string()),
        e if e.is_transient() => Failure::Retry(e.to_string()),
        e => Failure::NotSent(e.to_string()),
    }
}

async fn try_send(cx: &JobContext, client: &MeshClient, letter: &GpLetter) -> Result<(), Failure> {
    let workflow = cx.config.mesh_workflow.as_str();
    // Sent by an earlier try whose answer was lost (or whose worker died before recording it)?
    if let Some(t) = client.track_by_local_id(&letter.local_id).await.map_err(classify)? {
        let to = t.recipient.clone().unwrap_or_default();
        tracing::info!(letter = %letter.id, mesh_message_id = %t.message_id, "outcome letter was already sent; recording it");
        gp_letters::record_sent(&cx.state, letter, &to, &t.message_id).await.map_err(|e| Failure::Retry(e.to_string()))?;
        return Ok(());
    }
    let endpoints = client.endpoint_lookup(&letter.practice_ods, workflow).await.map_err(classify)?;
    let Some(endpoint) = endpoints.first() else {
        return Err(Failure::NotSent(format!(
            "no MESH mailbox receives {workflow} for the practice {} (MESH endpoint lookup): the practice's GP system cannot take letters by GP Connect Send Document",
            letter.practice_ods
        )));
    };
    let body = build_message(cx, client, letter).await?;
    let message_id = client
        .send(&OutgoingMessage {
            to: &endpoint.mailbox,
            workflow_id: workflow,
            local_id: &letter.local_id,
            subject: "Teledermatology outcome letter",
            file_name: &format!("{}.json", letter.local_id),
            content_type: "application/fhir+json",
            body: &body,
        })
        .await
        .map_err(classify)?;
    tracing::info!(letter = %letter.id, mailbox = %endpoint.mailbox, %message_id, "outcome letter sent to the GP system");
    gp_letters::record_sent(&cx.state, letter, &endpoint.mailbox, &message_id).await.map_err(|e| Failure::Retry(e.to_string()))?;
    Ok(())
}

/// The ITK3 message (JSON bytes) carrying the letter's PDF.
async fn build_message(cx: &JobContext, client: &MeshClient, letter: &GpLetter) -> Result<Vec<u8>, Failure> {
    let state = &cx.state;
    let src = Sources {
        store: &state.store,
        blobs: &state.blobs,
        service_names: state.service_names(),
    };
    let record = store_io::load_record(&src, letter.referral_id).await.map_err(|e| Failure::Retry(format!("loading the referral: {e}")))?;
    let pdf = Letter::for_record(&record, LetterKind::Gp)
        .ok_or_else(|| Failure::NotSent("the referral has no outcome, so there is no letter".into()))?
        .to_pdf();
    let r = &record.referral;
    let sender = match &record.provider {
        Some(p) => Org { ods_code: p.ods_code.clone(), name: p.name.clone() },
        None => Org { ods_code: client.mailbox().to_string(), name: "Telederm".into() },
    };
    let author = r.outcome.as_ref().and_then(|o| record.user(o.recorded_by)).map(|u| u.display_name.clone()).unwrap_or_default();
    let message = itk::document_message(&DocumentMessage {
        message_id: uuid::Uuid::parse_str(&letter.itk_message_id).unwrap_or_else(|_| uuid::Uuid::new_v4()),
        sender_reference: &letter.local_id,
        source_mailbox: client.mailbox(),
        sender,
        recipient: Org { ods_code: record.practice.ods_code.clone(), name: record.practice.name.clone() },
        patient: PatientDetails {
            nhs_number: r.patient.nhs_number.as_digits(),
            family: r.patient.family_name.clone(),
            given: vec![r.patient.given_name.clone()],
            birth_date: Some(r.patient.date_of_birth),
        },
        title: LetterKind::Gp.title(),
        author_display: &author,
        created: r.outcome.as_ref().map(|o| o.recorded_at).unwrap_or_else(Utc::now),
        pdf: &pdf,
    });
    serde_json::to_vec(&message).map_err(|e| Failure::Retry(e.to_string()))
}

pub async fn mesh_poll(cx: &JobContext, _job: &Job) -> Result<(), JobError> {
    let client = mesh(cx)?;
    // MESH away: the next poll (in TELEDERM_MESH_POLL_SECONDS) tries again; no dead job per poll.
    if let Err(e) = read_inbox(cx, client).await {
        tracing::warn!(error = %e, "could not read Telederm's MESH inbox; the next poll tries again");
    }
    let cutoff = Utc::now() - chrono::Duration::minutes(cx.config.mesh_ack_timeout_minutes as i64);
    for l in cx.state.store.gp_letters_awaiting_filing_since(cutoff).await.map_err(retry)? {
        let reason = format!(
            "no business acknowledgement from the GP system within {} (the letter was {})",
            human_minutes(cx.config.mesh_ack_timeout_minutes),
            if l.status == GpLetterStatus::Delivered { "received but not filed" } else { "sent but not acknowledged" }
        );
        gp_letters::record_failure(&cx.state, &l, GpLetterStatus::Failed, &reason).await.map_err(retry)?;
    }
    Ok(())
}

/// Downloads, records and acknowledges every message in Telederm's inbox.
async fn read_inbox(cx: &JobContext, client: &MeshClient) -> Result<(), MeshError> {
    for id in client.inbox().await? {
        let msg = client.download(&id).await?;
        if let Err(e) = take_message(cx, &msg).await {
            // Kept in the inbox: the next poll tries it again.
            tracing::warn!(mesh_message_id = %id, error = %e, "could not record a MESH message");
            continue;
        }
        client.acknowledge(&id).await?;
    }
    Ok(())
}

fn human_minutes(m: u64) -> String {
    if m % 60 == 0 { format!("{} hours", m / 60) } else { format!("{m} minutes") }
}

/// Records what one inbox message says. `Ok` for messages that are not ours to act on (they are
/// acknowledged and logged), `Err` only when the database could not be written.
async fn take_message(cx: &JobContext, msg: &telederm_mesh::client::IncomingMessage) -> anyhow::Result<()> {
    if msg.message_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("REPORT")) {
        return take_report(cx, msg).await;
    }
    let ack = match itk::parse_ack(&msg.body) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(mesh_message_id = %msg.message_id, workflow = ?msg.workflow_id, from = ?msg.from, error = %e,
                "a MESH message that is not an ITK3 acknowledgement; acknowledged and ignored");
            return Ok(());
        }
    };
    let Some(letter) = cx.state.store.gp_letter_by_itk_id(&ack.response_to).await? else {
        tracing::warn!(mesh_message_id = %msg.message_id, response_to = %ack.response_to, "an acknowledgement of no letter of ours; ignored");
        return Ok(());
    };
    let detail = ack.detail.clone().unwrap_or_else(|| ack.code.clone());
    match (ack.kind, ack.ok()) {
        (AckKind::Infrastructure, true) => {
            gp_letters::record_delivered(&cx.state, &letter).await?;
        }
        (AckKind::Business, true) => {
            gp_letters::record_filed(&cx.state, &letter).await?;
        }
        (AckKind::Infrastructure, false) => {
            let reason = format!("the GP system did not accept the letter ({}): {detail}", ack.code);
            gp_letters::record_failure(&cx.state, &letter, GpLetterStatus::Failed, &reason).await?;
        }
        (AckKind::Business, false) => {
            let reason = format!("the GP system did not file the letter ({}): {detail}", ack.code);
            gp_letters::record_failure(&cx.state, &letter, GpLetterStatus::Failed, &reason).await?;
        }
    }
    tracing::info!(letter = %letter.id, kind = ?ack.kind, code = %ack.code, "ITK acknowledgement recorded");
    Ok(())
}

/// A MESH report about a message we sent: an error (e.g. the practice's mailbox did not collect
/// it in time) fails the letter and tells the GP.
async fn take_report(cx: &JobContext, msg: &telederm_mesh::client::IncomingMessage) -> anyhow::Result<()> {
    if msg.status_success.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("SUCCESS")) {
        return Ok(());
    }
    let Some(letter) = cx.state.store.gp_letter_by_mesh_ids(msg.local_id.as_deref(), msg.linked_message_id.as_deref()).await? else {
        tracing::warn!(mesh_message_id = %msg.message_id, local_id = ?msg.local_id, "a MESH report about no letter of ours; ignored");
        return Ok(());
    };
    let reason = format!(
        "MESH could not deliver the letter to the practice's mailbox (MESH code {}): {}",
        msg.status_code.as_deref().unwrap_or("unknown"),
        msg.status_description.as_deref().unwrap_or("no description")
    );
    gp_letters::record_failure(&cx.state, &letter, GpLetterStatus::Failed, &reason).await?;
    Ok(())
}

/// `telederm mesh check`: the handshake, then the endpoint lookup for `ods_code`.
pub async fn check(config: &crate::config::Config, ods_code: Option<&str>) -> anyhow::Result<()> {
    let settings = config
        .mesh_settings()
        .ok_or_else(|| anyhow::anyhow!("MESH is not configured: set TELEDERM_MESH_URL, TELEDERM_MESH_MAILBOX, TELEDERM_MESH_PASSWORD and TELEDERM_MESH_SHARED_KEY"))?;
    let url = settings.url.clone();
    let client = MeshClient::new(settings)?;
    client.handshake().await.map_err(|e| anyhow::anyhow!("handshake failed: {e}"))?;
    println!("handshake: ok (mailbox {} at {url})", client.mailbox());
    if let Some(ods) = ods_code {
        let workflow = &config.mesh_workflow;
        let found = client.endpoint_lookup(ods, workflow).await.map_err(|e| anyhow::anyhow!("endpoint lookup failed: {e}"))?;
        if found.is_empty() {
            anyhow::bail!("endpoint lookup: no MESH mailbox receives {workflow} for {ods}: letters to this practice would not be sent");
        }
        for e in found {
            println!("endpoint lookup: {ods} {workflow} -> {} ({})", e.mailbox, e.name);
        }
    }
    Ok(())
}
