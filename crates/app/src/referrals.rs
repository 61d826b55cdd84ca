//! Referral use cases shared by the JSON API and the pages: create and edit a draft, submit, work
//! it, answer it. Each: load, check access ([`access::allow`]), apply the domain rule, write once.
//! The API handlers and the page handlers are thin adapters over these functions.

use chrono::NaiveDate;
use chrono_tz::Europe::London;
use serde::{Deserialize, Serialize};
use telederm_domain::eligibility::{Decision, EligibilityAnswers, child_face_exclusion_applies, evaluate};
use telederm_domain::flags::{Flag, FlagFacts, flags};
use telederm_domain::organisation::{Role, User};
use telederm_domain::outcome::{Outcome, OutcomeCode, RejectionReason};
use telederm_domain::patient::Patient;
use telederm_domain::policy::{ServicePolicy, Condition};
use telederm_domain::referral::{
    Action, ClinicalHistory, Consent, InformationTopic, Message, MessageKind, Priority, Referral, ReferralStatus, Route,
};
use telederm_domain::{MessageId, ReferralId};
use telederm_store::{AuditOutcome, EventRecord, ReferralFilter};

use crate::App;
use crate::access::{self, Capability, Scope};
use crate::audit;
use crate::error::{Code, Error, Result};

pub fn parse_id(id: &str) -> Result<ReferralId> {
    ReferralId::parse(id).ok_or_else(|| Error::not_found("referral"))
}

/// Loads a referral the user may act on in this way: the one door to a referral's record. Every
/// call is in the audit trail: `referral.read` when allowed (the capability asked for in the
/// detail), or the capability refused (`denied`, with the error code) when not, including ids
/// that do not exist (a probe looks the same as a refusal).
pub async fn load(state: &App, user: &User, id: &str, cap: Capability) -> Result<Referral> {
    let actor = audit::Actor::user(user);
    let referral = load_allowed(state, user, id, cap, &format!("referral.{}", cap.as_str())).await?;
    audit::record(state, &actor, "referral.read", audit::Target::referral(referral.id), AuditOutcome::Allowed, format!("capability={}", cap.as_str())).await?;
    Ok(referral)
}

/// What a use case decided to write: the referral as changed, and the event, message and
/// notifications that go with it. [`write`] commits it all, with its audit entry, in one
/// transaction.
#[derive(Default)]
pub struct Change {
    pub event: Option<EventRecord>,
    pub message: Option<Message>,
    pub notices: Vec<telederm_store::OutboxMessage>,
    /// Patient links the notices carry (the status link in a message to the patient).
    pub links: Vec<telederm_store::patient_links::PatientLink>,
    /// Outcome letters for the GP record (MESH), sent by their job once this commits.
    pub gp_letters: Vec<telederm_store::NewGpLetter>,
}

/// Loads the referral for a write, lets `decide` work out the change (writing nothing), then
/// commits the change and its `referral.<action>` audit entry in **one** transaction
/// ([`telederm_store::Store::apply_change`]): a crash or error anywhere leaves neither. A refused
/// or failed action writes only its refusal's audit entry (`denied` from the access check,
/// `failed` with the error's code otherwise).
pub async fn write<F, Fut>(state: &App, user: &User, id: &str, cap: Capability, action: &str, decide: F) -> Result<Referral>
where
    F: FnOnce(Referral) -> Fut,
    Fut: std::future::Future<Output = Result<(Referral, Change)>>,
{
    let actor = audit::Actor::user(user);
    let action = format!("referral.{action}");
    let r = load_allowed(state, user, id, cap, &action).await?;
    let target = audit::Target::referral(r.id);
    let result = match decide(r).await {
        Ok((mut r, change)) => {
            let entry = audit::entry(&actor, &action, target.clone(), AuditOutcome::Allowed, "");
            match state.store.apply_change_with_letters(&mut r, change.event.as_ref(), change.message.as_ref(), &change.notices, &change.links, &change.gp_letters, &entry).await {
                Ok(_) => return Ok(r),
                Err(e) => Err(Error::from(e)),
            }
        }
        Err(e) => Err(e),
    };
    audit::outcome_of(state, &actor, &action, target, &result, "").await;
    result
}

/// A referral the user may act on in this way, for a write: a refusal is audited as `denied`
/// under the write's own action; an allowed load is covered by the write's entry.
async fn load_allowed(state: &App, user: &User, id: &str, cap: Capability, action: &str) -> Result<Referral> {
    let actor = audit::Actor::user(user);
    let referral = match ReferralId::parse(id).map(|rid| (rid, state.store.get_referral(rid))) {
        None => return Err(audit::denied(state, &actor, action, audit::Target::referral_raw(id), Error::not_found("referral")).await),
        Some((rid, fut)) => match fut.await {
            Err(telederm_store::StoreError::NotFound) => {
                return Err(audit::denied(state, &actor, action, audit::Target::referral(rid), Error::not_found("referral")).await);
            }
            other => other?,
        },
    };
    if let Err(e) = access::allow(user, cap, &Scope::from(&referral)) {
        return Err(audit::denied(state, &actor, action, audit::Target::referral(referral.id), e).await);
    }
    Ok(referral)
}

/// A UBRN as given: none (absent or empty), or exactly 12 digits on a RAS referral.
pub fn check_ubrn(route: Route, raw: Option<&str>) -> Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(None) };
    let Some(ubrn) = telederm_domain::referral::parse_ubrn(raw) else {
        return Err(Error::new(Code::InvalidUbrn, format!("{raw:?} is not an e-RS UBRN: it is 12 digits, as on the e-RS worklist (spaces allowed).")));
    };
    if route != Route::Ras {
        return Err(Error::new(Code::InvalidUbrn, "A UBRN belongs to a Referral Assessment Service referral; an Advice & Guidance request has none here."));
    }
    Ok(Some(ubrn))
}

/// The patient's contact details can serve their stated preference.
pub fn check_contact(patient: &telederm_domain::patient::Patient) -> Result<()> {
    match patient.contact.preference_problem() {
        Some(problem) => Err(Error::new(Code::InvalidContactPreference, problem)),
        None => Ok(()),
    }
}

pub fn check_route(policy: &ServicePolicy, route: Route) -> Result<()> {
    if policy.routes.contains(&route) {
        return Ok(());
    }
    let offered: Vec<&str> = policy.routes.iter().map(|r| r.as_str()).collect();
    Err(Error::new(Code::RouteNotOffered,
        format!("{} does not offer {}; it offers: {}.", policy.name, route.label(), offered.join(", ")),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReferral {
    pub service_id: String,
    pub route: Route,
    #[serde(default = "routine")]
    pub priority: Priority,
    pub patient: Patient,
    #[serde(default)]
    pub history: ClinicalHistory,
    #[serde(default)]
    pub consent: Option<Consent>,
    /// The eligibility checklist: any JSON while a draft (saved as sent); at submit it must be exactly
    /// an `EligibilityAnswers` object.
    #[serde(default)]
    pub eligibility_answers: Option<serde_json::Value>,
    #[serde(default)]
    pub conversion_authorised: bool,
    /// The e-RS UBRN of a RAS referral (12 digits; spaces allowed).
    #[serde(default)]
    pub ubrn: Option<String>,
}

fn routine() -> Priority {
    Priority::Routine
}

pub async fn create_draft(state: &App, user: &User, body: CreateReferral) -> Result<Referral> {
    let actor = audit::Actor::user(user);
    if user.role != Role::Referrer {
        let e = Error::forbidden("Only referrers (GPs and practice nurses) can start a referral.");
        return Err(audit::denied(state, &actor, "referral.create", audit::Target::many("referral"), e).await);
    }
    let result = create_draft_allowed(state, user, body).await;
    if result.is_err() {
        audit::outcome_of(state, &actor, "referral.create", audit::Target::many("referral"), &result, "").await;
    }
    result
}

async fn create_draft_allowed(state: &App, user: &User, body: CreateReferral) -> Result<Referral> {
    let referral = new_draft(state, user, body)?;
    let entry = audit::entry(&audit::Actor::user(user), "referral.create", audit::Target::referral(referral.id), AuditOutcome::Allowed, "");
    state.store.insert_referral_audited(&referral, &entry).await?;
    Ok(referral)
}

/// The caller's new draft from `body`, checked against the service (it exists and offers the
/// route) but not stored: the one way a draft is made, by the pages, the API and the FHIR import.
pub fn new_draft(state: &App, user: &User, body: CreateReferral) -> Result<Referral> {
    let policy = state.policy(&body.service_id)?;
    check_route(policy, body.route)?;
    check_contact(&body.patient)?;
    let now = state.now();
    Ok(Referral {
        id: ReferralId::new(),
        service_id: body.service_id,
        route: body.route,
        priority: body.priority,
        status: ReferralStatus::Draft,
        practice_id: user.organisation_id,
        referrer_id: user.id,
        assignee_id: None,
        patient: body.patient,
        history: body.history,
        consent: body.consent,
        eligibility_answers: body.eligibility_answers,
        eligibility: None,
        conversion_authorised: body.conversion_authorised,
        ubrn: check_ubrn(body.route, body.ubrn.as_deref())?,
        outcome: None,
        created_at: now,
        updated_at: now,
        submitted_at: None,
        due_date: None,
        version: 1,
        patient_answers: None,
    })
}

/// Fields of a draft to change; absent fields stay as they are.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDraft {
    pub service_id: Option<String>,
    pub route: Option<Route>,
    pub priority: Option<Priority>,
    pub patient: Option<Patient>,
    pub history: Option<ClinicalHistory>,
    pub consent: Option<Consent>,
    /// The eligibility checklist: any JSON while a draft (saved as sent); at submit it must be exactly
    /// an `EligibilityAnswers` object.
    pub eligibility_answers: Option<serde_json::Value>,
    pub conversion_authorised: Option<bool>,
    /// The e-RS UBRN of a RAS referral; an empty string clears it.
    pub ubrn: Option<String>,
    /// The version you last read; a stale version is refused with 409 so no typing is lost silently.
    pub version: Option<i64>,
}

pub async fn update_draft(state: &App, user: &User, id: &str, body: UpdateDraft) -> Result<Referral> {
    write(state, user, id, Capability::EditDraft, "update_draft", |mut r| async move {
        if r.status != ReferralStatus::Draft {
            return Err(Error::new(Code::NotADraft, format!("This referral is {} and can no longer be edited.", r.status.label())));
        }
        if let Some(v) = body.version.filter(|v| *v != r.version) {
            return Err(Error::new(Code::Conflict,
                format!("The draft was saved elsewhere since you loaded it (your version {v}, now {}). Reload it and redo the last change.", r.version),
            ));
        }
        if let Some(s) = body.service_id {
            r.service_id = s;
        }
        if let Some(route) = body.route {
            r.route = route;
        }
        check_route(state.policy(&r.service_id)?, r.route)?;
        if let Some(p) = body.priority {
            r.priority = p;
        }
        if let Some(p) = body.patient {
            check_contact(&p)?;
            r.patient = p;
        }
        if let Some(h) = body.history {
            r.history = h;
        }
        if let Some(c) = body.consent {
            r.consent = Some(c);
        }
        if let Some(a) = body.eligibility_answers {
            r.eligibility_answers = Some(a);
        }
        if let Some(u) = body.ubrn.as_deref() {
            r.ubrn = check_ubrn(body.route.unwrap_or(r.route), Some(u))?;
        }
        if let Some(c) = body.conversion_authorised {
            r.conversion_authorised = c;
        }
        r.updated_at = state.now();
        Ok((r, Change::default()))
    })
    .await
}

#[derive(Serialize)]
pub struct Problem {
    pub field: &'static str,
    pub message: String,
}

/// What is still missing before a draft can go: each problem names the field to fix.
pub fn submission_problems(policy: &ServicePolicy, r: &Referral, photos: &[telederm_store::PhotoRecord], condition: Option<Condition>) -> Vec<Problem> {
    let mut problems = Vec::new();
    if r.history.presenting_complaint.trim().is_empty() {
        problems.push(Problem { field: "history.presenting_complaint", message: "Describe the presenting complaint.".into() });
    }
    match &r.consent {
        None => problems.push(Problem { field: "consent", message: "Record the patient's consent (who gave it, how, and each scope).".into() }),
        Some(c) if policy.consent_required && !c.direct_care => problems.push(Problem {
            field: "consent.direct_care",
            message: format!("{} needs consent to share the photos for direct care.", policy.name),
        }),
        Some(_) => {}
    }
    if r.eligibility_answers.is_none() {
        problems.push(Problem { field: "eligibility_answers", message: "Complete the eligibility checklist.".into() });
    }
    for (i, p) in photos.iter().enumerate().filter(|(_, p)| !p.verdict.usable()) {
        let name = crate::photos::photo_name(i, p);
        problems.push(Problem {
            field: "photos",
            message: format!("{}{} failed the quality check: remove it and take it again before sending.", name[..1].to_uppercase(), &name[1..]),
        });
    }
    {
        for (req, have) in required_photos(policy, condition, photos) {
            if have < req.count as usize {
                problems.push(Problem {
                    field: "photos",
                    message: format!(
                        "{} needs {} {} photo(s) ({}); this referral has {have}.",
                        policy.name,
                        req.count,
                        serde_json::to_value(req.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default().replace('_', "-"),
                        req.guidance
                    ),
                });
            }
        }
    }
    problems
}

/// The service's photo requirements for a referral's condition, each with how many usable photos
/// (not refused by the quality gate) the referral has of its kind. Without a condition (checklist
/// not done yet) the requirements that apply to every condition, so the GP hears about missing
/// photos at the same time as the other gaps. The one count the pages and the submit rules use.
pub fn required_photos<'a>(
    policy: &'a ServicePolicy,
    condition: Option<Condition>,
    photos: &[telederm_store::PhotoRecord],
) -> Vec<(&'a telederm_domain::policy::PhotoRequirement, usize)> {
    let required: Vec<&telederm_domain::policy::PhotoRequirement> = match condition {
        Some(c) => policy.photos_for(c).collect(),
        None => policy.required_photos.iter().filter(|p| p.condition.is_none()).collect(),
    };
    required.into_iter().map(|req| (req, photos.iter().filter(|p| p.kind == req.kind && p.verdict.usable()).count())).collect()
}

/// The condition the eligibility checklist names so far (a draft's checklist may be incomplete;
/// the condition is read on its own).
pub fn condition_of(r: &Referral) -> Option<Condition> {
    r.eligibility_answers.as_ref().and_then(|a| serde_json::from_value(a.get("condition")?.clone()).ok())
}

/// Whether a draft may be sent, by the ordinary submit rules: the route, completeness, photos and
/// the eligibility decision.
pub enum Readiness {
    /// Eligible: the decision to keep on the referral.
    Ready(serde_json::Value),
    /// The service's criteria say no (or redirect to 2WW): the decision, and the error to answer.
    Ineligible(serde_json::Value, Error),
}

/// Who may send a referral to the service (its `referrer_professions`); anyone at the practice may
/// prepare the draft.
pub fn check_referrer(policy: &ServicePolicy, user: &User) -> Result<()> {
    if policy.accepts_referrer(user.profession) {
        return Ok(());
    }
    let accepted: Vec<&str> = policy.referrer_professions.iter().map(|p| p.plural()).collect();
    let you = user.profession.map_or("not recorded", |p| p.as_str());
    Err(Error::new(Code::ProfessionNotAccepted,
        format!(
            "{} takes referrals from {} only (your profession: {you}). Ask one of them at your practice to check this draft and send it; it is kept as it is.",
            policy.name,
            accepted.join(" and ")
        ),
    ))
}

/// The submit rules over a draft and its photos, writing nothing. `Err` when the referral is not
/// complete; [`Readiness::Ineligible`] when it is complete but the service cannot take it.
pub fn readiness(policy: &ServicePolicy, r: &Referral, photos: &[telederm_store::PhotoRecord]) -> Result<Readiness> {
    r.status.after(Action::Submit)?;
    check_route(policy, r.route)?;
    let answers = match &r.eligibility_answers {
        Some(raw) => Some(
            EligibilityAnswers::from_json(raw)
                .map_err(|e| Error::new(Code::InvalidEligibilityAnswers, format!("The eligibility checklist is not complete or has a wrong value: {e}")))?,
        ),
        None => None,
    };
    let problems = submission_problems(policy, r, photos, answers.as_ref().map(|a| a.condition));
    if !problems.is_empty() {
        return Err(Error::new(Code::IncompleteReferral, "The referral is not ready to send: fix the fields listed.")
            .with_details(serde_json::json!({ "problems": problems })));
    }
    let Some(answers) = answers else { return Err(Error::new(Code::IncompleteReferral, "Complete the eligibility checklist.")) };
    if answers.patient.date_of_birth != r.patient.date_of_birth {
        return Err(Error::new(Code::EligibilityPatientMismatch,
            "The date of birth in the eligibility checklist differs from the patient's. Correct one of them.",
        ));
    }
    let decision = evaluate(policy, &answers);
    let decision_json = serde_json::to_value(&decision).map_err(|e| Error::internal("decision", e))?;
    if decision.decision == Decision::Eligible {
        child_face_check(policy, &answers, photos)?;
        return Ok(Readiness::Ready(decision_json));
    }
    let (code, message) = match decision.decision {
        Decision::Redirect2ww => (Code::Redirect2ww, two_week_wait_instruction(policy)),
        _ => (Code::NotEligible, format!("{} cannot accept this referral: see the reasons, each quoting the service's criteria.", policy.name)),
    };
    let err = Error::new(code, message).with_details(decision_json.clone());
    Ok(Readiness::Ineligible(decision_json, err))
}

/// What a GP is told to do when the rules send the patient to the two-week-wait pathway: the
/// next step, with the service's local 2WW form where its policy names one.
pub fn two_week_wait_instruction(policy: &ServicePolicy) -> String {
    let form = match &policy.two_week_wait_form_url {
        Some(url) => format!("your local two-week-wait form ({url})"),
        None => "your local two-week-wait form (through e-RS or your practice's referral templates)".to_string(),
    };
    format!(
        "This patient meets the two-week-wait criteria: do not send this to {}. Refer them today on the suspected skin cancer pathway using {form}, and tell the patient they should be seen within two weeks. Then discard this draft; its answers and photos can be copied into a new referral if you need them.",
        policy.name
    )
}


/// The child-face rule (hazard H3): a child referred to a service that excludes identifiable
/// children's faces may not be sent with a photo in which a face was detected, even when the
/// checklist says no face is identifiable: the detector's flag needs a person's decision.
/// The way on is to remove or retake the photo, or for the referrer to confirm on the photo that
/// the face is not identifiable ([`crate::photos::confirm_face_not_identifiable`], recorded and
/// audited).
fn child_face_check(policy: &ServicePolicy, answers: &EligibilityAnswers, photos: &[telederm_store::PhotoRecord]) -> Result<()> {
    if !child_face_exclusion_applies(policy, answers) {
        return Ok(());
    }
    let flagged: Vec<(usize, &telederm_store::PhotoRecord)> = photos
        .iter()
        .enumerate()
        .filter(|(_, p)| p.verdict.usable() && crate::photos::face_detected(&p.report) && p.face_confirmed.is_none())
        .collect();
    if flagged.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = flagged.iter().map(|(i, p)| crate::photos::photo_name(*i, p)).collect();
    let ids: Vec<String> = flagged.iter().map(|(_, p)| p.id.to_string()).collect();
    let wording = policy.wording_for(telederm_domain::policy::ReasonCode::ChildFaceIdentifiable).unwrap_or("Images where a child's face can be identified");
    Err(Error::new(Code::ChildFaceIdentifiable,
        format!(
            "A face was detected in {} of this child, and {} does not accept identifiable faces (\"{wording}\"). Remove or retake the photo showing only the affected skin, or, if the face cannot be identified, confirm that on the photo; then send the referral.",
            names.join(" and "),
            policy.name,
        ),
    )
    .with_details(serde_json::json!({ "photos": ids, "photo_names": names })))
}

pub async fn submit(state: &App, user: &User, id: &str) -> Result<Referral> {
    write(state, user, id, Capability::Submit, "submit", |mut r| async move {
        let policy = state.policy(&r.service_id)?.clone();
        check_referrer(&policy, user)?;
        let photos = state.store.list_photos(r.id).await?;
        let now = state.now();
        match readiness(&policy, &r, &photos)? {
            // Nothing is written: the error carries the decision and its reasons.
            Readiness::Ineligible(_, err) => return Err(err),
            Readiness::Ready(decision) => r.eligibility = Some(decision),
        }
        // Past the official bank-holiday data the statutory rules answer (the date is then
        // provisional, shown as such); only a receipt before the data can fail here.
        // The practice's own agreement with the service, if it has one.
        let practice = state.store.get_organisation(r.practice_id).await?;
        let due = state
            .calendar
            .get()
            .due_date(now, policy.response_target_for(&practice.ods_code))
            .map_err(|e| Error::internal("due date", e))?;
        r.submitted_at = Some(now);
        r.due_date = Some(due);
        let change = transition(state, user, &mut r, Action::Submit, None).await?;
        Ok((r, change))
    })
    .await
}

/// Applies a state-machine action with an optional message to `r`, and returns the change to
/// commit: its event, the message and the notifications that announce it ([`crate::notices`]).
pub async fn transition(
    state: &App,
    user: &User,
    r: &mut Referral,
    action: Action,
    message: Option<(MessageKind, String)>,
) -> Result<Change> {
    let now = state.now();
    let from = r.status;
    r.apply(action, now)?;
    let event = EventRecord { actor_id: Some(user.id), action, from_status: Some(from), to_status: r.status, at: now };
    let message = message.map(|(kind, body)| Message {
        id: MessageId::new(),
        referral_id: r.id,
        kind,
        author_id: Some(user.id),
        author_name: user.display_name.clone(),
        body,
        created_at: now,
        topic: None,
    });
    let mut notices = crate::notices::for_action(state, r, action, user).await?;
    let (patient_notice, links) = crate::notices::for_patient(state, r, action, user).unzip();
    notices.extend(patient_notice);
    Ok(Change { event: Some(event), message, notices, links: links.into_iter().collect(), ..Change::default() })
}

pub async fn claim(state: &App, user: &User, id: &str) -> Result<Referral> {
    write(state, user, id, Capability::Claim, "claim", |mut r| async move {
        r.assignee_id = Some(user.id);
        let change = transition(state, user, &mut r, Action::Claim, None).await?;
        Ok((r, change))
    })
    .await
}

/// A message as the consultant or referrer wrote it, trimmed and within the e-RS limit.
pub fn message_text(raw: &str) -> Result<String> {
    let text = raw.trim().to_string();
    if text.is_empty() {
        return Err(Error::new(Code::EmptyMessage, "Write the message before sending it."));
    }
    if text.chars().count() > 8000 {
        return Err(Error::new(Code::MessageTooLong, "Messages are limited to 8,000 characters (the e-RS limit). Shorten it."));
    }
    Ok(text)
}

pub async fn request_information(state: &App, user: &User, id: &str, message: &str, topic: Option<InformationTopic>) -> Result<Referral> {
    write(state, user, id, Capability::RequestInformation, "request_information", |mut r| async move {
        let text = message_text(message)?;
        let mut change = transition(state, user, &mut r, Action::RequestInformation, Some((MessageKind::InformationRequest, text))).await?;
        if let Some(m) = change.message.as_mut() {
            m.topic = topic;
        }
        Ok((r, change))
    })
    .await
}

/// The referrer answers the consultant's question. Where the service's clock stops while it waits
/// (`pause_clock_while_awaiting_information`), the due date moves on by the working days it
/// waited, counted from the question ([`telederm_domain::calendar::Calendar::resume_after_pause`]).
pub async fn reply(state: &App, user: &User, id: &str, message: &str) -> Result<Referral> {
    write(state, user, id, Capability::Reply, "reply", |mut r| async move {
        let text = message_text(message)?;
        let pauses = state.policy(&r.service_id)?.pause_clock_while_awaiting_information;
        if let (true, ReferralStatus::AwaitingInformation, Some(due)) = (pauses, r.status, r.due_date) {
            let asked = state.store.list_messages(r.id).await?.into_iter().rev().find(|m| m.kind == MessageKind::InformationRequest);
            if let Some(asked) = asked {
                let resumed = state.calendar.get().resume_after_pause(due, asked.created_at, state.now());
                r.due_date = Some(resumed.map_err(|e| Error::internal("due date after the pause", e))?);
            }
        }
        let change = transition(state, user, &mut r, Action::Reply, Some((MessageKind::Reply, text))).await?;
        Ok((r, change))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    pub code: OutcomeCode,
    #[serde(default)]
    pub rejection_reason: Option<RejectionReason>,
    #[serde(default)]
    pub diagnosis: String,
    /// SNOMED CT concept id from the list of common skin conditions (`GET /api/v1/diagnoses`);
    /// without `diagnosis` text, the condition's term is written as the diagnosis.
    #[serde(default)]
    pub diagnosis_code: Option<String>,
    #[serde(default)]
    pub management_plan: String,
    #[serde(default)]
    pub follow_up: String,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub onward_service: Option<String>,
}

pub async fn record_outcome(state: &App, user: &User, id: &str, body: OutcomeBody) -> Result<Referral> {
    write(state, user, id, Capability::RecordOutcome, "record_outcome", |mut r| async move {
        let diagnosis_code = body.diagnosis_code.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        let diagnosis = match diagnosis_code.as_deref().and_then(telederm_domain::diagnoses::by_code) {
            Some(d) if body.diagnosis.trim().is_empty() => d.term.to_string(),
            _ => body.diagnosis,
        };
        let outcome = Outcome {
            code: body.code,
            rejection_reason: body.rejection_reason,
            diagnosis,
            diagnosis_code,
            management_plan: body.management_plan,
            follow_up: body.follow_up,
            priority: body.priority,
            onward_service: body.onward_service,
            recorded_by: user.id,
            recorded_at: state.now(),
        };
        let action = if outcome.code == OutcomeCode::Rejected { Action::Reject } else { Action::IssueOutcome };
        // Check the state first so an illegal transition is reported as such, not as a field problem.
        r.status.after(action)?;
        outcome.validate().map_err(|e| Error::new(Code::InvalidOutcome, e.to_string()))?;
        if outcome.code == OutcomeCode::ConvertToReferral {
            if r.route != Route::AdviceAndGuidance {
                return Err(Error::new(Code::ConversionNeedsAdviceAndGuidance, "Only an Advice & Guidance request can be converted to a referral."));
            }
            if !r.conversion_authorised {
                return Err(Error::new(Code::ConversionNotAuthorised,
                    "The GP did not authorise conversion of this request to a referral. Answer with advice (for example recommending a referral) instead.",
                ));
            }
            r.route = Route::Ras;
        }
        if let Some(p) = outcome.priority {
            r.priority = p;
        }
        r.outcome = Some(outcome);
        let mut change = transition(state, user, &mut r, action, None).await?;
        change.gp_letters.extend(crate::gp_letters::letter_for_outcome(state, &r).await?);
        Ok((r, change))
    })
    .await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    #[serde(default)]
    pub reason: Option<String>,
}

/// The referrer withdraws a referral before its outcome. Once the service has it, the reason is
/// required (it is the service's record of why the work stopped); a draft can go without one
/// ([`discard_draft`]).
pub async fn withdraw(state: &App, user: &User, id: &str, body: WithdrawBody) -> Result<Referral> {
    write(state, user, id, Capability::Withdraw, "withdraw", |mut r| async move {
        r.status.after(Action::Withdraw)?;
        let reason = body.reason.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        if reason.is_none() && r.status != ReferralStatus::Draft {
            return Err(Error::new(Code::WithdrawReasonRequired,
                "Say why you are withdrawing this referral (for example: the rash has cleared, or the patient was referred elsewhere), so the service knows.",
            ));
        }
        let message = match reason {
            Some(t) => Some((MessageKind::Reply, format!("Withdrawn: {}", message_text(&t)?))),
            None => None,
        };
        let change = transition(state, user, &mut r, Action::Withdraw, message).await?;
        Ok((r, change))
    })
    .await
}

/// The referrer discards a draft they will not send: it leaves their list (withdrawn, never sent;
/// kept for the record until retention removes it).
pub async fn discard_draft(state: &App, user: &User, id: &str) -> Result<Referral> {
    write(state, user, id, Capability::Withdraw, "discard", |mut r| async move {
        if r.status != ReferralStatus::Draft {
            return Err(Error::new(Code::IllegalTransition, format!("Only a draft can be discarded; this referral is {}. Withdraw it instead.", r.status.label())));
        }
        let change = transition(state, user, &mut r, Action::Withdraw, None).await?;
        Ok((r, change))
    })
    .await
}

async fn copy_blob(state: &App, key: &str) -> Result<String> {
    Ok(state.blobs.put(state.blobs.get(key).await?).await?)
}

/// A discarded draft: withdrawn before it was ever sent. Lists leave these out.
pub fn is_discarded(status: ReferralStatus, submitted_at: Option<chrono::DateTime<chrono::Utc>>) -> bool {
    status == ReferralStatus::Withdrawn && submitted_at.is_none()
}

/// Starts a new draft from a referral that will not get the patient the answer they need here
/// (returned, withdrawn, answered, or a draft the rules turned away): the same patient, clinical
/// history, consent, checklist answers (checked again before it is sent) and photos (copied, so
/// each referral keeps its own). The original is not changed. The GP then chooses the service
/// and route again. Refused while the service still has the original (`referral_still_open`).
pub async fn copy_into_new(state: &App, user: &User, id: &str) -> Result<Referral> {
    let actor = audit::Actor::user(user);
    let source = load_allowed(state, user, id, Capability::View, "referral.copy").await?;
    let result = copy_allowed(state, user, &source).await;
    if result.is_err() {
        audit::outcome_of(state, &actor, "referral.copy", audit::Target::referral(source.id), &result, "").await;
    }
    result
}

async fn copy_allowed(state: &App, user: &User, source: &Referral) -> Result<Referral> {
    if user.role != Role::Referrer || source.practice_id != user.organisation_id {
        return Err(Error::forbidden("Only a referrer of the referring practice can copy a referral into a new one."));
    }
    if source.status.is_open_for_service() {
        return Err(Error::new(Code::ReferralStillOpen,
            format!("This referral is {} with the service. Withdraw it first if you want to send a new one instead.", source.status.label()),
        ));
    }
    let copy = new_draft(state, user, CreateReferral {
        service_id: source.service_id.clone(),
        route: source.route,
        priority: source.priority,
        patient: source.patient.clone(),
        history: source.history.clone(),
        consent: source.consent.clone(),
        eligibility_answers: source.eligibility_answers.clone(),
        conversion_authorised: source.conversion_authorised,
        // A new referral gets its own booking reference in e-RS.
        ubrn: None,
    })?;
    // Blobs first, then the records: a crash in between leaves only unreferenced blobs, which
    // the orphan sweep removes.
    let mut photos = Vec::new();
    for p in state.store.list_photos(source.id).await? {
        photos.push(telederm_store::PhotoRecord {
            id: telederm_domain::PhotoId::new(),
            referral_id: copy.id,
            original_key: copy_blob(state, &p.original_key).await?,
            attachment_key: copy_blob(state, &p.attachment_key).await?,
            preview_key: copy_blob(state, &p.preview_key).await?,
            thumbnail_key: copy_blob(state, &p.thumbnail_key).await?,
            face_confirmed: None,
            ..p
        });
    }
    let entry = audit::entry(&audit::Actor::user(user), "referral.copy", audit::Target::referral(copy.id), AuditOutcome::Allowed, format!("from={}", source.id));
    let mut w = state.store.begin().await?;
    telederm_store::insert_referral_in(&mut w, &copy).await?;
    for p in &photos {
        telederm_store::insert_photo_in(&mut w, p).await?;
    }
    telederm_store::audit::append_audit_in(&mut w, &entry);
    w.commit().await?;
    Ok(copy)
}

pub async fn close(state: &App, user: &User, id: &str) -> Result<Referral> {
    write(state, user, id, Capability::Close, "close", |mut r| async move {
        let change = transition(state, user, &mut r, Action::Close, None).await?;
        Ok((r, change))
    })
    .await
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses (draft, submitted, in_review, awaiting_information, outcome_issued, closed, rejected, withdrawn).
    pub status: Option<String>,
    /// Comma-separated service ids.
    pub service: Option<String>,
    /// advice_and_guidance or ras.
    pub route: Option<String>,
    /// routine, urgent or two_week_wait.
    pub priority: Option<String>,
    /// Exact NHS number (spaces and hyphens ignored).
    pub nhs_number: Option<String>,
    /// The patient's name, or the start of its words: every word given must begin one of the
    /// name's words, in any order ("smi" and "jo smi" find Jo Smith-Jones; case, hyphens and
    /// apostrophes are ignored).
    pub q: Option<String>,
    /// Exact e-RS UBRN (12 digits; spaces ignored).
    pub ubrn: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

fn parse_list<T>(raw: &Option<String>, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<Vec<T>>> {
    let Some(raw) = raw.as_deref().filter(|s| !s.is_empty()) else { return Ok(None) };
    raw.split(',')
        .map(|s| parse(s.trim()).ok_or_else(|| Error::new(Code::InvalidQuery, format!("{s:?} is not a valid {what}."))))
        .collect::<Result<Vec<T>>>()
        .map(Some)
}

fn one<T>(v: Option<Vec<T>>, what: &str) -> Result<Option<T>> {
    match v {
        Some(mut v) if v.len() == 1 => Ok(v.pop()),
        Some(_) => Err(Error::new(Code::InvalidQuery, format!("Give one {what} only."))),
        None => Ok(None),
    }
}

/// The most words a name search takes (each is one lookup in the index of name words).
const MAX_NAME_WORDS: usize = 8;

pub fn filter_from(q: &ListQuery) -> Result<ReferralFilter> {
    if q.limit.is_some_and(|l| !(1..=1000).contains(&l)) {
        return Err(Error::new(Code::InvalidQuery, "limit must be between 1 and 1000."));
    }
    if q.offset.is_some_and(|o| o < 0) {
        return Err(Error::new(Code::InvalidQuery, "offset must be 0 or more."));
    }
    if q.q.as_deref().is_some_and(|n| telederm_domain::patient::name_words(n).len() > MAX_NAME_WORDS) {
        return Err(Error::new(Code::InvalidQuery, format!("Search by at most {MAX_NAME_WORDS} words of the patient's name.")));
    }
    Ok(ReferralFilter {
        statuses: parse_list(&q.status, "status", ReferralStatus::parse)?,
        service_ids: parse_list(&q.service, "service", |s| Some(s.to_string()))?,
        route: one(parse_list(&q.route, "route", Route::parse)?, "route")?,
        priority: one(parse_list(&q.priority, "priority", Priority::parse)?, "priority")?,
        nhs_number: q.nhs_number.as_deref().filter(|s| !s.is_empty()).map(|s| s.replace([' ', '-'], "")),
        ubrn: q.ubrn.as_deref().filter(|s| !s.is_empty()).map(|s| s.replace([' ', '-'], "")),
        patient_name: q.q.clone().filter(|s| !s.trim().is_empty()),
        limit: q.limit,
        offset: q.offset,
        ..ReferralFilter::default()
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListItem {
    #[serde(flatten)]
    pub summary: telederm_store::ReferralSummary,
    pub service_name: Option<String>,
    pub overdue: bool,
    pub due_today: bool,
    /// The due date is past the official bank-holiday data: computed from the statutory rules, a
    /// bank holiday proclaimed later could move it.
    pub due_date_provisional: bool,
    /// The service's clock is stopped while it waits for the referrer's answer: not overdue or
    /// due while this is true.
    pub clock_paused: bool,
    /// What the list calls out, most urgent first ([`telederm_domain::flags::flags`]).
    pub flags: Vec<Flag>,
    /// Telederm cannot reach the patient (no email, and no text message possible): the GP must
    /// tell them about the referral and its outcome themselves.
    pub patient_unreachable: bool,
}

/// Whether `r`'s service clock is stopped now (awaiting the referrer, in a service that pauses).
pub fn clock_paused(state: &App, service_id: &str, status: ReferralStatus) -> bool {
    status == ReferralStatus::AwaitingInformation
        && state.policies.get(service_id).is_some_and(|p| p.pause_clock_while_awaiting_information)
}

pub fn with_flags(state: &App, items: Vec<telederm_store::ReferralSummary>) -> Vec<ListItem> {
    let today: NaiveDate = state.now().with_timezone(&London).date_naive();
    let calendar = state.calendar.get();
    let next_working_day = calendar.add_working_days(today, 1).ok();
    items
        .into_iter()
        .map(|s| {
            let paused = clock_paused(state, &s.service_id, s.status);
            let open = s.status.is_open_for_service() && !paused;
            let flags = flags(FlagFacts {
                priority: s.priority,
                outcome: s.outcome_code.as_deref().and_then(OutcomeCode::parse),
                status: s.status,
                last_action: s.last_action,
                patient_photos_new: s.patient_photos_new(),
                due_tomorrow: open && s.due_date.is_some_and(|d| d > today && Some(d) <= next_working_day),
            });
            ListItem {
                service_name: state.policies.get(&s.service_id).map(|p| p.name.clone()),
                overdue: open && s.due_date.is_some_and(|d| d < today),
                due_today: open && s.due_date == Some(today),
                due_date_provisional: s.due_date.is_some_and(|d| calendar.is_provisional(d)),
                clock_paused: paused,
                flags,
                patient_unreachable: crate::notices::patient_unreachable(state, s.patient_contact, s.status),
                summary: s,
            }
        })
        .collect()
}

pub async fn list(state: &App, user: &User, q: &ListQuery) -> Result<Vec<ListItem>> {
    let filter = filter_from(q)?;
    let items = match access::visible_filter(user, filter) {
        Some(f) => state.store.list_referrals(&f).await?,
        None => Vec::new(),
    };
    record_list(state, user, "referral.list", items.len()).await?;
    Ok(with_flags(state, items))
}

/// A consultant's (or service admin's) open referrals, earliest deadline first.
pub async fn worklist(state: &App, user: &User, q: &ListQuery) -> Result<Vec<ListItem>> {
    if !matches!(user.role, Role::Consultant | Role::ServiceAdmin) {
        return Err(Error::forbidden("The worklist is for consultants and service admins. Referrers: use GET /api/v1/referrals."));
    }
    let mut filter = filter_from(q)?;
    if filter.statuses.is_none() {
        filter.statuses = Some(ReferralStatus::ALL.into_iter().filter(|s| s.is_open_for_service()).collect());
    }
    filter.by_due_date = true;
    let items = match access::visible_filter(user, filter) {
        Some(f) => state.store.list_referrals(&f).await?,
        None => Vec::new(),
    };
    record_list(state, user, "referral.worklist", items.len()).await?;
    Ok(with_flags(state, items))
}

/// A list shows patients' names and NHS numbers: record it (how many rows, not which).
async fn record_list(state: &App, user: &User, action: &str, rows: usize) -> Result<()> {
    audit::record(state, &audit::Actor::user(user), action, audit::Target::many("referral"), AuditOutcome::Allowed, format!("rows={rows}")).await
}

/// The worklist's summary: open referrals of the user's services by service and status
/// (consultants and service admins).
pub async fn worklist_counts(state: &App, user: &User) -> Result<Vec<(String, ReferralStatus, i64)>> {
    if !matches!(user.role, Role::Consultant | Role::ServiceAdmin) {
        return Err(Error::forbidden("The worklist is for consultants and service admins."));
    }
    Ok(state.store.count_open_by_service(&user.services).await?)
}

/// The case a consultant opens after answering `current` ("record and open next case"): the first
/// referral in worklist order (deadline, then urgency) that they can work now: submitted, or in
/// review with them (not one another consultant has claimed, nor one waiting for the referrer).
/// `None` when the worklist has nothing more.
pub async fn next_case(state: &App, user: &User, current: &str) -> Result<Option<ReferralId>> {
    if user.role != Role::Consultant {
        return Ok(None);
    }
    let filter = ReferralFilter {
        statuses: Some(vec![ReferralStatus::Submitted, ReferralStatus::InReview]),
        by_due_date: true,
        limit: Some(1000),
        ..ReferralFilter::default()
    };
    let Some(filter) = access::visible_filter(user, filter) else { return Ok(None) };
    let next = state
        .store
        .list_referrals(&filter)
        .await?
        .into_iter()
        .find(|s| s.id.to_string() != current && (s.status == ReferralStatus::Submitted || s.assignee_id == Some(user.id)))
        .map(|s| s.id);
    Ok(next)
}
