//! Use case: a referral from another system (a GP system's FHIR `transaction` Bundle) becomes a
//! draft of the caller's, never more (docs/security.md, "Imports").
//!
//! Over HTTP an import is a referral *from the caller*: a referrer, for their own practice. It is
//! created as a draft owned by the caller and their practice; with `submit` it then goes through
//! the ordinary submit rules (completeness, eligibility, photos, due date), checked before anything
//! is written. It never carries an outcome, a status past `submitted`, events, messages, claims or
//! anyone else's authorship, and never creates or changes users, roles or organisations: the
//! practitioners the Bundle names are kept as references on the referral. Photos go through the
//! same intake and quality check as an upload. What is read but not taken over is reported as
//! `information`; what is refused, as `error`. All or nothing: one transaction with its audit entry.
//!
//! Restoring another Telederm's export as it was (outcomes, accounts) is the operator's
//! `telederm fhir import` command, never reachable over HTTP.

use chrono::Utc;
use serde_json::{Value, json};
use telederm_domain::ReferralId;
use telederm_domain::organisation::{Role, User};
use telederm_domain::referral::{Referral, ReferralStatus};
use telederm_fhir::import::{ImportOptions, ImportedReferral, Issue, read_bundle};
use telederm_store::{AuditOutcome, DocumentRecord, PhotoRecord};

use crate::App;
use crate::audit::{self, Actor, Target};
use crate::error::Error;
use crate::referrals::{self, CreateReferral, Readiness};

/// A referral the import created, and what it read but did not take over.
pub struct ImportedDraft {
    pub id: ReferralId,
    pub status: ReferralStatus,
    pub information: Vec<Issue>,
}

/// Why nothing was imported: an HTTP status and the OperationOutcome's issues.
pub struct Refusal {
    /// The HTTP status the refusal is answered with.
    pub status: u16,
    pub errors: Vec<Issue>,
    pub information: Vec<Issue>,
}

impl Refusal {
    fn new(status: u16, errors: Vec<Issue>) -> Refusal {
        Refusal { status, errors, information: Vec::new() }
    }

    fn one(status: u16, code: &'static str, expression: impl Into<String>, diagnostics: impl Into<String>) -> Refusal {
        Refusal::new(status, vec![Issue { code, expression: expression.into(), diagnostics: diagnostics.into() }])
    }

    /// An API error (e.g. a submit rule) as an OperationOutcome issue at `expression`.
    fn from_api(e: &Error, expression: String) -> Refusal {
        let mut text = e.message.clone();
        if let Some(problems) = e.details.as_ref().and_then(|d| d.get("problems")).and_then(Value::as_array) {
            let listed: Vec<String> = problems.iter().filter_map(|p| p["message"].as_str().map(str::to_string)).collect();
            text = format!("{text} {}", listed.join(" "));
        }
        let status = e.status();
        let code = if status >= 500 { "exception" } else { "business-rule" };
        Refusal::one(status, code, expression, format!("{} ({})", text.trim(), e.code))
    }
}

fn info(expression: String, diagnostics: impl Into<String>) -> Issue {
    Issue { code: "informational", expression, diagnostics: diagnostics.into() }
}

/// Imports the Bundle's referrals as drafts of `user` (and submits them when asked). Every call
/// is audited as `fhir.import`: `allowed` in the transaction that writes, `denied` or `failed`
/// (with the reason) when nothing was written.
pub async fn import_as_caller(state: &App, user: &User, bundle: &Value, submit: bool) -> Result<Vec<ImportedDraft>, Refusal> {
    let actor = Actor::user(user);
    let result = import_allowed(state, user, bundle, submit).await;
    if let Err(refusal) = &result {
        let outcome = if refusal.status == 403 { AuditOutcome::Denied } else { AuditOutcome::Failed };
        let codes: Vec<&str> = refusal.errors.iter().map(|i| i.code).collect();
        if audit::record(state, &actor, "fhir.import", Target::many("referral"), outcome, format!("code={}", codes.join(","))).await.is_err() {
            tracing::error!("the audit entry for a refused import could not be written");
        }
    }
    result
}

async fn import_allowed(state: &App, user: &User, bundle: &Value, submit: bool) -> Result<Vec<ImportedDraft>, Refusal> {
    if user.role != Role::Referrer {
        return Err(Refusal::one(
            403,
            "forbidden",
            "Bundle",
            format!(
                "Your role ({}) cannot create referrals. Only referrers import referrals over the API; an operator restores another installation with `telederm fhir import`.",
                user.role.as_str()
            ),
        ));
    }
    let opts = ImportOptions { known_services: Some(state.policies.keys().cloned().collect()) };
    let imported = read_bundle(bundle, &opts).map_err(|issues| Refusal::new(422, issues))?;
    let own = state.store.get_organisation(user.organisation_id).await.map_err(|e| Refusal::from_api(&Error::from(e), "Bundle".into()))?;
    let foreign: Vec<Issue> = imported
        .iter()
        .filter(|r| !r.practice.ods_code.eq_ignore_ascii_case(&own.ods_code))
        .map(|r| Issue {
            code: "forbidden",
            expression: "ServiceRequest.requester".into(),
            diagnostics: format!("the referral comes from practice {}; you can import only for {}", r.practice.ods_code, own.ods_code),
        })
        .collect();
    if !foreign.is_empty() {
        return Err(Refusal::new(403, foreign));
    }
    let practitioners = practitioner_references(bundle);
    let now = state.now();
    let mut drafts: Vec<Draft> = Vec::new();
    for (i, imp) in imported.into_iter().enumerate() {
        drafts.push(draft_of(state, user, i, imp).await?);
    }
    if submit {
        // The submit rules, checked before anything is written.
        for (i, (draft, photos, _, _)) in drafts.iter().enumerate() {
            let policy = state.policy(&draft.service_id).map_err(|e| Refusal::from_api(&e, format!("ServiceRequest[{i}]")))?;
            match referrals::readiness(policy, draft, photos) {
                Ok(Readiness::Ready(_)) => {}
                Ok(Readiness::Ineligible(_, e)) | Err(e) => return Err(Refusal::from_api(&e, format!("ServiceRequest[{i}]"))),
            }
        }
    }
    let ids: Vec<String> = drafts.iter().map(|(r, ..)| r.id.to_string()).collect();
    write_drafts(state, user, &drafts, &practitioners, now, &ids).await.map_err(|e| Refusal::from_api(&e, "Bundle".into()))?;
    let mut out = Vec::new();
    for (r, _, _, information) in drafts {
        let mut status = r.status;
        if submit {
            // Checked above; a change in between (another node, the calendar) is reported with
            // the draft kept, so nothing typed is lost.
            match referrals::submit(state, user, &r.id.to_string()).await {
                Ok(sent) => status = sent.status,
                Err(e) => {
                    let mut refusal = Refusal::from_api(&e, "ServiceRequest".into());
                    refusal.information.push(info("ServiceRequest".into(), format!("The referral was saved as draft {}: fix it there and send it.", r.id)));
                    return Err(refusal);
                }
            }
        }
        out.push(ImportedDraft { id: r.id, status, information });
    }
    Ok(out)
}

/// A draft to write: the referral, its photos and documents (blobs stored), and what the Bundle
/// said that the draft does not take over.
type Draft = (Referral, Vec<PhotoRecord>, Vec<DocumentRecord>, Vec<Issue>);

/// The caller's draft for one imported referral, its photos and documents checked and stored
/// (blobs only), and what the Bundle said that the draft does not take over.
async fn draft_of(state: &App, user: &User, i: usize, imp: ImportedReferral) -> Result<Draft, Refusal> {
    let ImportedReferral { referral: source, provider, users, photos, documents, messages, .. } = imp;
    let at = |what: &str| format!("ServiceRequest[{i}]{what}");
    let mut information = Vec::new();
    if source.status != ReferralStatus::Draft {
        information.push(info(
            at(".status"),
            format!("The Bundle's status ({}) is not imported: the referral starts as your draft.", source.status.label()),
        ));
    }
    if source.outcome.is_some() {
        information.push(info(at(""), "The outcome in the Bundle is not imported: only the service's consultant records an outcome."));
    }
    if source.assignee_id.is_some() {
        information.push(info(at(""), "The Bundle's assigned consultant is not imported: the service triages the referral itself."));
    }
    if source.due_date.is_some() || source.submitted_at.is_some() {
        information.push(info(at(".occurrence"), "The Bundle's dates are not imported: the due date is set when the referral is sent."));
    }
    if source.eligibility.is_some() {
        information.push(info(at(".extension"), "The Bundle's eligibility decision is not imported: it is decided again from the answers when the referral is sent."));
    }
    if !messages.is_empty() {
        information.push(info("Communication".into(), format!("{} message(s) are not imported: messages are written in Telederm by their authors.", messages.len())));
    }
    if !users.is_empty() {
        information.push(info(
            "Practitioner".into(),
            format!("{} practitioner(s) are kept as references on the referral (names and identifiers), not as accounts.", users.len()),
        ));
    }
    if provider.is_some() {
        information.push(info("Organization".into(), "The provider organisation is not imported: the referral goes to the service it names."));
    }
    if photos.len() > state.config.max_photos_per_referral {
        return Err(Refusal::one(
            422,
            "too-costly",
            "Binary",
            format!("A referral can hold {} photos; this one has {}.", state.config.max_photos_per_referral, photos.len()),
        ));
    }
    if photos.len() + documents.len() > state.config.max_photos_per_referral {
        return Err(Refusal::one(
            422,
            "too-costly",
            "DocumentReference",
            format!(
                "A referral can hold {} photos and documents together (too_many_attachments); this one has {} photo(s) and {} document(s).",
                state.config.max_photos_per_referral,
                photos.len(),
                documents.len()
            ),
        ));
    }
    let body = CreateReferral {
        service_id: source.service_id,
        route: source.route,
        priority: source.priority,
        patient: source.patient,
        history: source.history,
        consent: source.consent,
        eligibility_answers: source.eligibility_answers,
        conversion_authorised: source.conversion_authorised,
        ubrn: source.ubrn,
    };
    let draft = referrals::new_draft(state, user, body).map_err(|e| Refusal::from_api(&e, at("")))?;
    let mut records = Vec::with_capacity(photos.len());
    for (j, p) in photos.into_iter().enumerate() {
        let record = crate::photos::prepare(state, &draft, p.record.kind, p.record.source, p.bytes, Some(user))
            .await
            .map_err(|e| Refusal::from_api(&e, format!("Binary[{j}]")))?;
        records.push(record);
    }
    if !records.is_empty() {
        information.push(info("Binary".into(), "Photos were checked again by Telederm's photo check; their earlier verdicts are not imported."));
    }
    let mut docs = Vec::with_capacity(documents.len());
    for (j, d) in documents.into_iter().enumerate() {
        let record = crate::documents::prepare(state, &draft, d.record.kind, d.record.title.as_deref(), d.bytes, Some(user))
            .await
            .map_err(|e| Refusal::from_api(&e, format!("DocumentReference[{j}]")))?;
        docs.push(record);
    }
    Ok((draft, records, docs, information))
}

/// The Bundle's Practitioners as references: names, identifiers and contact points only.
fn practitioner_references(bundle: &Value) -> Value {
    let refs: Vec<Value> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == "Practitioner")
        .map(|r| json!({ "name": r["name"], "identifier": r["identifier"], "telecom": r["telecom"] }))
        .collect();
    json!({ "source": "fhir", "practitioners": refs })
}

/// Every draft, its photos and where it came from, with the audit entry, in one transaction.
async fn write_drafts(
    state: &App,
    user: &User,
    drafts: &[Draft],
    practitioners: &Value,
    now: chrono::DateTime<Utc>,
    ids: &[String],
) -> Result<(), Error> {
    let target = match drafts {
        [(r, ..)] => Target::referral(r.id),
        _ => Target::many("referral"),
    };
    let entry = audit::entry(&Actor::user(user), "fhir.import", target, AuditOutcome::Allowed, format!("created={}", ids.join(",")));
    let mut w = state.store.begin().await?;
    for (r, photos, documents, _) in drafts {
        telederm_store::insert_referral_in(&mut w, r).await?;
        for p in photos {
            telederm_store::insert_photo_in(&mut w, p).await?;
        }
        for d in documents {
            telederm_store::insert_document_in(&mut w, d).await?;
        }
        telederm_store::insert_import_source_in(&mut w, r.id, practitioners, now).await?;
    }
    telederm_store::audit::append_audit_in(&mut w, &entry);
    w.commit().await?;
    for (_, photos, ..) in drafts {
        for p in photos {
            crate::metrics::photo_uploaded(p.verdict.as_str());
        }
    }
    Ok(())
}
