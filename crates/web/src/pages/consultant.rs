//! The consultant's worklist and the case view (shared with the GP, who sees the outcome, the
//! letters and the information requests there), with the consultant's actions.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::London;
use telederm_domain::organisation::Role;
use telederm_domain::outcome::{OutcomeCode, RejectionReason};
use telederm_domain::referral::{Action, MessageKind, Priority, Referral, ReferralStatus, Route};
use telederm_store::patient_links::LinkPurpose;

use super::form::FormData;
use super::gp::{DecisionView, Row, ServiceCard, decision_view, priority_label, rows, service_card};
use super::views::{self, Nav};
use super::{PageError, PageResult, Viewer, back_to_case, html, see_other};
use crate::AppState;
use telederm_app::access::{self, Capability, Scope};
use crate::error::{ApiError, Code};
use telederm_app::referrals::{self, ListQuery, OutcomeBody};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/worklist", get(worklist))
        .route("/referrals/{id}", get(case_view))
        .route("/referrals/{id}/claim", post(claim))
        .route("/referrals/{id}/request-information", post(request_information))
        .route("/referrals/{id}/outcome", post(record_outcome))
}

#[derive(Template)]
#[template(path = "worklist.html")]
struct WorklistPage {
    nav: Nav,
    rows: Vec<Row>,
    services: Vec<(String, String)>,
    service: String,
    route: String,
    priority: String,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    counts: Vec<CountRow>,
    flash: String,
    /// The first case the consultant can answer now, in worklist order ("Open the next case").
    next_case: String,
}

/// One service's open referrals by status, for the worklist's summary table.
pub struct CountRow {
    pub service: String,
    pub service_id: String,
    pub submitted: i64,
    pub in_review: i64,
    pub awaiting: i64,
    pub total: i64,
}

async fn worklist(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    if !matches!(v.user.role, Role::Consultant | Role::ServiceAdmin) {
        return Err(PageError(ApiError::forbidden("The worklist is for consultants and service admins.")));
    }
    let q = FormData::from_query(uri.query().unwrap_or(""));
    let query = ListQuery {
        status: q.opt("status").map(str::to_string),
        service: q.opt("service").map(str::to_string),
        route: q.opt("route").map(str::to_string),
        priority: q.opt("priority").map(str::to_string),
        ..ListQuery::default()
    };
    let items = referrals::worklist(&state, &v.user, &query).await?;
    let mut counts: Vec<CountRow> = Vec::new();
    for (sid, status, n) in referrals::worklist_counts(&state, &v.user).await? {
        if !counts.iter().any(|c| c.service_id == sid) {
            let service = state.policies.get(&sid).map_or(sid.clone(), |p| p.name.clone());
            counts.push(CountRow { service, service_id: sid.clone(), submitted: 0, in_review: 0, awaiting: 0, total: 0 });
        }
        let Some(row) = counts.iter_mut().find(|c| c.service_id == sid) else { continue };
        match status {
            ReferralStatus::Submitted => row.submitted += n,
            ReferralStatus::InReview => row.in_review += n,
            ReferralStatus::AwaitingInformation => row.awaiting += n,
            _ => {}
        }
        row.total += n;
    }
    let next_case = referrals::next_case(&state, &v.user, "").await?.map(|id| id.to_string()).unwrap_or_default();
    Ok(html(&WorklistPage {
        next_case,
        counts,
        flash: if q.get("done") == "outcome_last" { "The outcome has been recorded and the referrer told. There are no more cases for you to answer.".into() } else { String::new() },
        nav: Nav::for_viewer(&v, "/worklist"),
        rows: rows(items),
        services: v.user.services.iter().map(|s| (s.clone(), state.policies.get(s).map_or(s.clone(), |p| p.name.clone()))).collect(),
        service: q.get("service").into(),
        route: q.get("route").into(),
        priority: q.get("priority").into(),
        status: q.get("status").into(),
        statuses: vec![("submitted", "Submitted"), ("in_review", "In review"), ("awaiting_information", "Information requested")],
    }))
}

pub struct MessageView {
    pub request: bool,
    pub author: String,
    pub when: String,
    pub body: String,
}

pub struct OutcomeView {
    pub code: String,
    pub rejected: bool,
    pub reason: String,
    pub diagnosis: String,
    pub plan: String,
    pub follow_up: String,
    pub onward: String,
    pub when: String,
}

/// Where the outcome letter is on its way into the GP record (MESH), for the case page.
pub struct GpLetterView {
    pub label: &'static str,
    pub problem: bool,
    pub reason: String,
    pub when: String,
}

impl GpLetterView {
    pub fn of(l: &telederm_store::GpLetter) -> GpLetterView {
        GpLetterView { label: l.status.label(), problem: l.status.is_problem(), reason: l.reason.clone().unwrap_or_default(), when: views::when(l.updated_at) }
    }
}

pub struct LinkView {
    pub id: String,
    pub state: &'static str,
    pub expires: String,
    pub photos: String,
    pub usable: bool,
}

/// What the referrer can do next with this referral (each shown only when it applies).
#[derive(Default)]
pub struct NextSteps {
    pub discard: bool,
    pub withdraw: bool,
    pub close: bool,
    pub copy: bool,
    /// The rules or the consultant send the patient to the two-week-wait pathway: what to do.
    pub two_week_wait: String,
    pub two_week_wait_url: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    nav: Nav,
    id: String,
    r: Referral,
    is_consultant: bool,
    is_referrer: bool,
    nhs: String,
    dob: String,
    age: u32,
    service: ServiceCard,
    route: &'static str,
    priority: &'static str,
    status: (&'static str, &'static str),
    due: String,
    /// The due date is past the official bank-holiday data (computed from the statutory rules).
    due_provisional: bool,
    overdue: bool,
    due_today: bool,
    /// "Urgent" or "Two-week wait" when the priority or the outcome calls for it.
    urgency: Option<&'static str>,
    clock_paused: bool,
    /// The outcome's "Action for you" line for the GP.
    gp_action: String,
    next: NextSteps,
    decision: Option<DecisionView>,
    consent: Vec<(&'static str, String)>,
    messages: Vec<MessageView>,
    outcome: Option<OutcomeView>,
    can_claim: bool,
    can_request: bool,
    can_outcome: bool,
    can_reply: bool,
    can_add_photos: bool,
    can_send_link: bool,
    links: Vec<LinkView>,
    /// Telederm cannot contact the patient (shown to the referrer): they must tell them.
    patient_unreachable: bool,
    new_link: String,
    flash: String,
    error: String,
    outcome_codes: Vec<(&'static str, &'static str)>,
    reasons: Vec<(&'static str, &'static str)>,
    priorities: Vec<(&'static str, &'static str)>,
    onward_services: Vec<(String, String)>,
    gp_letter: Option<GpLetterView>,
    // Issue 15: the consultant's case page.
    sex: &'static str,
    referrer: Option<super::triage::Referrer>,
    sites: super::triage::Sites,
    answers: Vec<(&'static str, String)>,
    attention: Vec<String>,
    timeline: Vec<super::triage::TimelineItem>,
    case_photos: Vec<super::triage::CasePhoto>,
    diagnoses: Vec<(&'static str, &'static str)>,
    plan_phrases: Vec<telederm_store::SavedPhrase>,
    safety_phrases: Vec<telederm_store::SavedPhrase>,
    leaflets: Vec<(&'static str, &'static str, &'static str)>,
    onward_other: Vec<&'static str>,
    /// The onward-services directory's entries: (id, "name, provider", what it takes).
    onward_directory: Vec<(String, String, String)>,
    diagnosis_code: String,
    /// Issue 17: the teaching case made from this referral, and whether the patient consented.
    teaching: Option<telederm_domain::teaching::TeachingCase>,
    teaching_consent: bool,
    /// What an information request can ask for: (value, label).
    information_topics: Vec<(&'static str, &'static str)>,
    /// The referral's documents (PDFs), and whether the referrer may add or remove them now.
    documents: Vec<DocumentView>,
    can_edit_documents: bool,
    document_kinds: Vec<(&'static str, &'static str)>,
    document_limit: String,
}

/// A document on the case page.
pub struct DocumentView {
    pub id: String,
    pub kind: &'static str,
    pub title: String,
    pub size: String,
    pub when: String,
    pub by: String,
}

impl CasePage {
    /// Whether the checklist named this body site (the diagram shades it).
    fn site(&self, key: &str) -> bool {
        self.sites.has(key)
    }
}

fn yes(b: bool) -> String {
    if b { "Yes".into() } else { "No".into() }
}

async fn case_view(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, uri: OriginalUri) -> PageResult {
    let r = referrals::load(&state, &v.user, &id, Capability::View).await?;
    let q = FormData::from_query(uri.query().unwrap_or(""));
    let scope = Scope::from(&r);
    let can = |cap: Capability, action: Action| access::permits(&v.user, cap, &scope) && r.status.after(action).is_ok();
    let photos = state.store.list_photos(r.id).await?;
    let messages = state.store.list_messages(r.id).await?;
    let policy = state.policy(&r.service_id)?;
    let today: NaiveDate = Utc::now().with_timezone(&London).date_naive();
    let open = r.status.is_open_for_service();
    let decision = r
        .eligibility
        .as_ref()
        .and_then(|d| serde_json::from_value::<telederm_domain::eligibility::EligibilityDecision>(d.clone()).ok())
        .map(|d| decision_view(&d))
        .or_else(|| super::gp::current_decision(&state, &r));
    let consent = match &r.consent {
        Some(c) => vec![
            ("Direct care", yes(c.direct_care)),
            ("Teaching", yes(c.teaching)),
            ("Research", yes(c.research)),
        ],
        None => vec![("Consent", "Not recorded".into())],
    };
    let outcome = r.outcome.as_ref().map(|o| OutcomeView {
        code: o.code.label().to_string(),
        rejected: o.code == OutcomeCode::Rejected,
        reason: o.rejection_reason.map(|r| r.label().to_string()).unwrap_or_default(),
        diagnosis: o.diagnosis.clone(),
        plan: o.management_plan.clone(),
        follow_up: o.follow_up.clone(),
        onward: o.onward_service.as_ref().map(|s| onward_name(&state, s)).unwrap_or_default(),
        when: views::when(o.recorded_at),
    });
    let is_referrer = access::permits(&v.user, Capability::Reply, &scope);
    let links_allowed = is_referrer && policy.patient_upload_links && r.status.accepts_photos();
    let now = Utc::now();
    let links = if is_referrer {
        state
            .store
            .list_patient_links(r.id)
            .await?
            .into_iter()
            // Status links go out with the messages to the patient; the practice manages upload links.
            .filter(|l| l.purpose == LinkPurpose::Upload)
            .map(|l| LinkView {
                id: l.id.to_string(),
                state: if l.revoked_at.is_some() {
                    "Revoked"
                } else if l.locked_at.is_some() {
                    "Locked (too many wrong dates of birth)"
                } else if l.submitted_at.is_some() {
                    "Photos sent"
                } else if now >= l.expires_at {
                    "Expired"
                } else {
                    "Active"
                },
                expires: views::when(l.expires_at),
                photos: format!("{} of {}", l.photos_uploaded, l.max_photos),
                usable: l.is_usable(now),
            })
            .collect()
    } else {
        Vec::new()
    };
    let urgency = telederm_domain::flags::urgency(r.priority, r.outcome.as_ref().map(|o| o.code)).label();
    let clock_paused = referrals::clock_paused(&state, &r.service_id, r.status);
    let gp_action = r
        .outcome
        .as_ref()
        .map(|o| telederm_domain::outcome::next_step(r.route, o.code, r.conversion_authorised).gp_action.to_string())
        .unwrap_or_default();
    let redirected = decision.as_ref().is_some_and(|d| d.two_week_wait)
        || r.outcome.as_ref().is_some_and(|o| {
            o.code == OutcomeCode::RedirectTwoWeekWait || o.rejection_reason == Some(RejectionReason::ShouldBeTwoWeekWait)
        });
    let next = if is_referrer {
        NextSteps {
            discard: r.status == ReferralStatus::Draft,
            withdraw: r.status.is_open_for_service(),
            close: r.status == ReferralStatus::OutcomeIssued,
            // A finished referral, or a draft the rules turned away (never one the service has).
            copy: match r.status {
                ReferralStatus::Draft => decision.as_ref().is_some_and(|d| !d.eligible),
                s => !s.is_open_for_service(),
            },
            two_week_wait: if redirected { referrals::two_week_wait_instruction(policy) } else { String::new() },
            two_week_wait_url: policy.two_week_wait_form_url.clone().unwrap_or_default(),
        }
    } else {
        NextSteps::default()
    };
    let gp_letter = telederm_app::gp_letters::latest(&state, r.id).await?.as_ref().map(GpLetterView::of);
    let events = state.store.list_events(r.id).await?;
    let named: Vec<telederm_domain::UserId> = std::iter::once(r.referrer_id)
        .chain(events.iter().filter_map(|e| e.actor_id))
        .chain(photos.iter().filter_map(|p| p.uploaded_by))
        .collect();
    let documents = state.store.list_documents(r.id).await?;
    let named: Vec<telederm_domain::UserId> = named.into_iter().chain(documents.iter().filter_map(|d| d.uploaded_by)).collect();
    let people = super::triage::People::load(&state, named).await;
    let answers = super::triage::answers(&r);
    let is_consultant = v.is(Role::Consultant);
    let can_outcome = can(Capability::RecordOutcome, Action::IssueOutcome);
    let (plan_phrases, safety_phrases) = if can_outcome {
        let all = telederm_app::phrases::list(&state, &v.user, &r.service_id).await.unwrap_or_default();
        all.into_iter().partition(|p| p.kind == "plan")
    } else {
        (Vec::new(), Vec::new())
    };
    let teaching = if is_consultant && r.outcome.is_some() { telederm_app::teaching::of_referral(&state, r.id).await? } else { None };
    let page = CasePage {
        teaching,
        teaching_consent: r.consent.as_ref().is_some_and(|c| c.teaching),
        information_topics: telederm_domain::referral::InformationTopic::ALL.iter().map(|t| (t.as_str(), t.label())).collect(),
        sex: super::triage::sex_label(r.patient.sex),
        referrer: super::triage::referrer(&state, &r, &people).await,
        sites: super::triage::Sites::of(&r, answers.as_ref()),
        answers: answers.as_ref().map(super::triage::answer_rows).unwrap_or_default(),
        attention: answers.as_ref().map(super::triage::attention).unwrap_or_default(),
        timeline: super::triage::timeline(&r, &events, &messages, &photos, &people),
        case_photos: super::triage::case_photos(&photos, &people),
        diagnoses: telederm_domain::diagnoses::COMMON_SKIN_CONDITIONS.iter().map(|d| (d.code, d.term)).collect(),
        plan_phrases,
        safety_phrases,
        leaflets: telederm_domain::diagnoses::LEAFLETS.iter().map(|l| (l.id, l.title, l.url)).collect(),
        onward_other: super::triage::ONWARD_DESTINATIONS.to_vec(),
        onward_directory: state.directory.services.iter().map(|e| (e.id.clone(), e.display(), e.takes.clone())).collect(),
        documents: documents
            .iter()
            .map(|d| DocumentView {
                id: d.id.to_string(),
                kind: d.kind.label(),
                title: d.title.clone().unwrap_or_default(),
                size: telederm_app::documents::megabytes(d.size_bytes.max(0) as u64),
                when: views::when(d.created_at),
                by: people.name(d.uploaded_by),
            })
            .collect(),
        can_edit_documents: is_referrer && r.status.accepts_photos(),
        document_kinds: telederm_domain::document::DocumentKind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        document_limit: telederm_app::documents::megabytes(telederm_app::documents::max_bytes(&state, &r)),
        diagnosis_code: r.outcome.as_ref().and_then(|o| o.diagnosis_code.clone()).unwrap_or_default(),
        gp_letter,
        nav: Nav::for_viewer(&v, ""),
        id: r.id.to_string(),
        is_consultant,
        is_referrer,
        nhs: r.patient.nhs_number.formatted(),
        dob: views::date(r.patient.date_of_birth),
        age: r.patient.age_on(today),
        service: service_card(policy),
        route: r.route.label(),
        priority: priority_label(r.priority),
        status: views::status_tag(r.status),
        due: views::opt_date(r.due_date),
        due_provisional: r.due_date.is_some_and(|d| state.calendar.get().is_provisional(d)),
        overdue: open && !clock_paused && r.due_date.is_some_and(|d| d < today),
        due_today: open && !clock_paused && r.due_date == Some(today),
        urgency,
        clock_paused,
        gp_action,
        next,
        decision,
        consent,
        messages: messages
            .iter()
            .map(|m| MessageView {
                request: m.kind == MessageKind::InformationRequest,
                author: m.author_name.clone(),
                when: views::when(m.created_at),
                body: m.body.clone(),
            })
            .collect(),
        outcome,
        can_claim: can(Capability::Claim, Action::Claim),
        can_request: can(Capability::RequestInformation, Action::RequestInformation),
        can_outcome,
        can_reply: can(Capability::Reply, Action::Reply),
        can_add_photos: is_referrer && r.status == ReferralStatus::AwaitingInformation,
        can_send_link: links_allowed,
        links,
        patient_unreachable: is_referrer && telederm_app::notices::patient_unreachable(&state, r.patient.contact.kind(), r.status),
        new_link: q.get("link").to_string(),
        flash: match q.get("done") {
            "claimed" => "You have claimed this referral.".into(),
            "requested" => "Your request has been sent to the referrer.".into(),
            "outcome" => "The outcome has been recorded and the referrer told.".into(),
            "outcome_next" => "The outcome of the previous case has been recorded and the referrer told. This is the next case on your worklist.".into(),
            "withdrawn" => "The referral was withdrawn; it has left the service's worklist.".into(),
            "teaching" => "The case is now a teaching case: referrers can see it without the patient's identifiers.".into(),
            "untaught" => "The case has been removed from the teaching cases.".into(),
            "document_added" => "The document has been added to the referral.".into(),
            "document_removed" => "The document has been removed.".into(),
            _ if q.has("submitted") => "Referral sent. The service will reply by the due date below.".into(),
            _ if q.has("replied") => "Your reply has been sent to the consultant.".into(),
            _ => String::new(),
        },
        error: q.get("error").to_string(),
        outcome_codes: OutcomeCode::ALL
            .iter()
            .filter(|c| **c != OutcomeCode::Rejected && (**c != OutcomeCode::ConvertToReferral || (r.route == Route::AdviceAndGuidance && r.conversion_authorised)))
            .map(|c| (c.as_str(), c.label()))
            .collect(),
        reasons: [
            RejectionReason::PoorImageQuality,
            RejectionReason::Ineligible,
            RejectionReason::ShouldBeTwoWeekWait,
            RejectionReason::InsufficientInformation,
            RejectionReason::Other,
        ]
        .iter()
        .map(|x| (x.as_str(), x.label()))
        .collect(),
        priorities: vec![("", "No change"), ("routine", "Routine"), ("urgent", "Urgent"), ("two_week_wait", "Two-week wait")],
        onward_services: state.policies.values().filter(|p| p.id != r.service_id).map(|p| (p.id.clone(), p.name.clone())).collect(),
        r,
    };
    Ok(html(&page))
}


/// How a page names an outcome's onward service: a service's name, a directory entry's "name,
/// provider", else the words recorded (one of the usual destinations).
fn onward_name(state: &AppState, s: &str) -> String {
    if let Some(p) = state.policies.get(s) {
        return p.name.clone();
    }
    state.directory.get(s).map_or_else(|| s.to_string(), |e| e.display())
}

async fn claim(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    referrals::claim(&state, &v.user, &id).await?;
    Ok(see_other(&format!("/referrals/{id}?done=claimed")))
}

async fn request_information(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let topic = telederm_domain::referral::InformationTopic::parse(form.get("topic"));
    match referrals::request_information(&state, &v.user, &id, form.get("message"), topic).await {
        Ok(_) => Ok(see_other(&format!("/referrals/{id}?done=requested"))),
        Err(e) => back_to_case(&id, "request", e),
    }
}


async fn record_outcome(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    // Permission first: someone who may not record an outcome learns nothing from form checks.
    let r = referrals::load(&state, &v.user, &id, Capability::RecordOutcome).await?;
    let rejecting = form.get("action") == "reject";
    let anchor = if rejecting { "reject" } else { "outcome-form" };
    let code = if rejecting {
        Some(OutcomeCode::Rejected)
    } else {
        OutcomeCode::parse(form.get("code"))
    };
    let Some(code) = code else {
        return back_to_case(&id, anchor, ApiError::new(Code::InvalidOutcome, "Choose an outcome."));
    };
    let reason = if rejecting {
        match form.get("rejection_reason") {
            "poor_image_quality" => Some(RejectionReason::PoorImageQuality),
            "ineligible" => Some(RejectionReason::Ineligible),
            "should_be_two_week_wait" => Some(RejectionReason::ShouldBeTwoWeekWait),
            "insufficient_information" => Some(RejectionReason::InsufficientInformation),
            "other" => Some(RejectionReason::Other),
            _ => return back_to_case(&id, anchor, ApiError::new(Code::InvalidOutcome, "Choose the reason for rejecting.")),
        }
    } else {
        None
    };
    // A saved phrase or leaflet picked without JavaScript is added here (with JavaScript the form
    // already carries its text, and adding it again changes nothing).
    let (mut plan, mut follow_up) = (form.get(if rejecting { "reject_explanation" } else { "management_plan" }).trim().to_string(), form.get("follow_up").trim().to_string());
    if !rejecting {
        let phrased = async {
            let plan = telederm_app::phrases::append(&state, &v.user, &r.service_id, "plan", &plan, form.get("plan_phrase")).await?;
            let follow_up = telederm_app::phrases::append(&state, &v.user, &r.service_id, "safety_net", &follow_up, form.get("safety_phrase")).await?;
            Ok::<_, ApiError>((plan, follow_up))
        };
        match phrased.await {
            Ok(p) => (plan, follow_up) = p,
            Err(e) => return back_to_case(&id, anchor, e),
        }
        if let Some(l) = form.opt("leaflet").and_then(telederm_domain::diagnoses::leaflet) {
            let line = format!("Patient information: {}: {}", l.title, l.url);
            if !follow_up.contains(l.url) {
                follow_up = if follow_up.is_empty() { line } else { format!("{follow_up}\n\n{line}") };
            }
        }
    }
    let diagnosis = form.get("diagnosis").trim().to_string();
    let body = OutcomeBody {
        code,
        rejection_reason: reason,
        // A term picked from the list of common skin conditions is a coded (SNOMED CT) diagnosis.
        diagnosis_code: telederm_domain::diagnoses::by_term(&diagnosis).map(|d| d.code.to_string()),
        diagnosis,
        management_plan: plan,
        follow_up,
        priority: Priority::parse(form.get("priority")),
        onward_service: form.opt("onward_service").map(str::to_string),
    };
    match referrals::record_outcome(&state, &v.user, &id, body).await {
        Ok(_) if form.get("then") == "next" => match referrals::next_case(&state, &v.user, &id).await? {
            Some(next) => Ok(see_other(&format!("/referrals/{next}?done=outcome_next"))),
            None => Ok(see_other("/worklist?done=outcome_last")),
        },
        Ok(_) => Ok(see_other(&format!("/referrals/{id}?done=outcome"))),
        Err(e) => back_to_case(&id, anchor, e),
    }
}
