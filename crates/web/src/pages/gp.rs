//! The GP's pages: my referrals, and the guided new-referral flow (patient and service,
//! eligibility, consent and history, photos, review and submit). Every step saves the draft.

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::London;
use serde_json::{Value, json};
use telederm_domain::NhsNumber;
use telederm_domain::eligibility::{self, BodySite, Decision, EligibilityAnswers, EligibilityDecision, Postcode, evaluate};
use telederm_domain::organisation::Role;
use telederm_domain::patient::{Contact, ContactPreference, EthnicCategory, FitzpatrickType, Patient, Sex};
use telederm_domain::policy::{Condition, ImageSource, PhotoKind, ServicePolicy};
use telederm_domain::referral::{
    ClinicalHistory, Consent, ConsentGivenBy, ConsentMethod, Priority, Referral, ReferralStatus, Route,
};

use super::form::{self, FormData};
use super::views::{self, Errors, Nav, PhotoView};
use super::{PageError, PageResult, Viewer, back_to_case, html, see_other};
use crate::AppState;
use telederm_app::access::Capability;
use crate::error::{ApiError, Code};
use telederm_app::referrals::{self, CreateReferral, ListQuery, UpdateDraft};

pub fn routes() -> Router<AppState> {
    let upload_limit = 30 * 1024 * 1024;
    // The largest document a node can be configured to take is bounded by the server's hard body
    // limit; the handler holds each upload to the configured document limit.
    let document_limit = 30 * 1024 * 1024;
    Router::new()
        .route("/referrals", get(my_referrals))
        .route("/referrals/new", get(start_page).post(start_save))
        .route("/referrals/{id}/start", get(start_page_existing).post(start_save_existing))
        .route("/referrals/{id}/eligibility", get(eligibility_page).post(eligibility_save))
        .route("/referrals/{id}/details", get(details_page).post(details_save))
        .route(
            "/referrals/{id}/photos",
            get(photos_page).post(photos_upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/referrals/{id}/photos/{photo_id}/delete", post(photo_delete))
        .route(
            "/referrals/{id}/documents",
            post(document_upload).layer(axum::extract::DefaultBodyLimit::max(document_limit)),
        )
        .route("/referrals/{id}/documents/{document_id}/delete", post(document_delete))
        .route("/referrals/{id}/photos/{photo_id}/kind", post(photo_set_kind))
        .route("/referrals/{id}/review", get(review_page))
        .route("/referrals/{id}/submit", post(submit))
        .route("/referrals/{id}/reply", post(reply))
        .route("/referrals/{id}/photos/{photo_id}/confirm-face", post(photo_confirm_face))
        .route("/referrals/{id}/withdraw", post(withdraw))
        .route("/referrals/{id}/discard", post(discard))
        .route("/referrals/{id}/close", post(close))
        .route("/referrals/{id}/copy", post(copy))
}

fn referrer_only(v: &Viewer) -> Result<(), PageError> {
    if v.is(Role::Referrer) {
        Ok(())
    } else {
        Err(PageError(ApiError::forbidden("Only GPs and practice nurses can write referrals.")))
    }
}

async fn load_draft(state: &AppState, v: &Viewer, id: &str) -> Result<Referral, PageError> {
    let r = referrals::load(state, &v.user, id, Capability::EditDraft).await?;
    if r.status != ReferralStatus::Draft {
        return Err(PageError(ApiError::new(Code::NotADraft,
            format!("This referral is {} and can no longer be edited.", r.status.label()),
        )));
    }
    Ok(r)
}

fn unprocessable(mut resp: Response) -> Response {
    *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    resp
}

// ---------------------------------------------------------------- my referrals

pub struct Row {
    pub id: String,
    pub patient: String,
    pub nhs_number: String,
    pub service: String,
    pub route: &'static str,
    pub status: (&'static str, &'static str),
    pub due: String,
    /// The due date is past the official bank-holiday data (computed from the statutory rules).
    pub due_provisional: bool,
    pub overdue: bool,
    pub due_today: bool,
    pub needs_reply: bool,
    pub answered: bool,
    /// Returned by the service without an assessment.
    pub returned: bool,
    pub draft: bool,
    pub priority: &'static str,
    pub claimable: bool,
    /// The list's tags (text, colour class), most urgent first.
    pub flags: Vec<(&'static str, &'static str)>,
    /// The service's clock is stopped while it waits for the referrer.
    pub clock_paused: bool,
    /// Telederm cannot contact the patient: the GP must tell them.
    pub patient_unreachable: bool,
}

pub fn rows(items: Vec<referrals::ListItem>) -> Vec<Row> {
    items
        .into_iter()
        .map(|i| Row {
            id: i.summary.id.to_string(),
            patient: i.summary.patient_name.clone(),
            nhs_number: NhsNumber::parse(&i.summary.nhs_number).map(|n| n.formatted()).unwrap_or(i.summary.nhs_number.clone()),
            service: i.service_name.clone().unwrap_or(i.summary.service_id.clone()),
            route: if i.summary.route == Route::AdviceAndGuidance { "A&G" } else { "RAS" },
            status: views::status_tag(i.summary.status),
            due: views::opt_date(i.summary.due_date),
            due_provisional: i.due_date_provisional,
            overdue: i.overdue,
            due_today: i.due_today,
            needs_reply: i.summary.status == ReferralStatus::AwaitingInformation,
            answered: i.summary.status == ReferralStatus::OutcomeIssued,
            returned: i.summary.status == ReferralStatus::Rejected,
            draft: i.summary.status == ReferralStatus::Draft,
            priority: priority_label(i.summary.priority),
            claimable: i.summary.status == ReferralStatus::Submitted,
            flags: i.flags.iter().map(|f| (f.label(), f.tag_class())).collect(),
            clock_paused: i.clock_paused,
            patient_unreachable: i.patient_unreachable,
        })
        .collect()
}

pub fn priority_label(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "Routine",
        Priority::Urgent => "Urgent",
        Priority::TwoWeekWait => "Two-week wait",
    }
}

#[derive(Template)]
#[template(path = "gp_list.html")]
struct ListPage {
    nav: Nav,
    rows: Vec<Row>,
    flash: &'static str,
    /// Referrals whose outcome letter did not reach the GP record (MESH).
    letter_problems: std::collections::HashSet<String>,
}

async fn my_referrals(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    referrer_only(&v)?;
    let mut items = referrals::list(&state, &v.user, &ListQuery::default()).await?;
    // A discarded draft was never sent: it leaves the list (the record stays until retention).
    items.retain(|i| !referrals::is_discarded(i.summary.status, i.summary.submitted_at));
    let flash = match FormData::from_query(uri.query().unwrap_or("")).get("done") {
        "discarded" => "The draft was discarded.",
        "closed" => "The referral was closed.",
        _ => "",
    };
    let letter_problems = telederm_app::gp_letters::problems(&state, 500).await?.into_iter().map(|l| l.referral_id.to_string()).collect();
    Ok(html(&ListPage { nav: Nav::for_viewer(&v, "/referrals"), rows: rows(items), flash, letter_problems }))
}

// ---------------------------------------------------------------- step 1: patient and service

/// A service as the directory shows it.
pub struct ServiceCard {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub summary: String,
    pub routes: String,
    pub response: String,
    pub conditions: String,
    pub criteria: Vec<String>,
    pub photos: Vec<String>,
    pub ages: String,
    pub catchment: String,
    /// The route names the service offers, space-separated (the page hides the route question
    /// when there is only one).
    pub route_values: String,
    /// How the service fits this patient, once their age and postcode are known.
    pub fit: Option<telederm_domain::policy::ServiceFit>,
}

pub fn service_cards(state: &AppState) -> Vec<ServiceCard> {
    state.policies.values().map(service_card).collect()
}

pub fn service_card(p: &ServicePolicy) -> ServiceCard {
    ServiceCard {
        id: p.id.clone(),
        name: p.name.clone(),
        provider: p.provider.clone(),
        summary: p.summary.clone(),
        routes: p.routes.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "),
        response: match p.practice_response_targets.as_slice() {
            [] => format!("{} working days", p.response_target_working_days),
            agreed => format!(
                "{} working days; by agreement with the practice: {}",
                p.response_target_working_days,
                agreed.iter().map(|t| format!("{} {} working days", t.ods_code, t.working_days)).collect::<Vec<_>>().join(", ")
            ),
        },
        conditions: p.conditions.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
        criteria: p.criteria.iter().map(|c| c.wording.clone()).collect(),
        photos: p.required_photos.iter().map(|r| r.guidance.clone()).collect(),
        ages: p.age_range.describe(),
        catchment: if p.catchment_postcode_districts.is_empty() { "No catchment restriction".into() } else { p.catchment_postcode_districts.join(", ") },
        route_values: p.routes.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(" "),
        fit: None,
    }
}

#[derive(Default)]
struct StartValues {
    nhs_number: String,
    given_name: String,
    family_name: String,
    dob_day: String,
    dob_month: String,
    dob_year: String,
    sex: String,
    postcode: String,
    email: String,
    phone: String,
    /// `email`, `text`, `letter`, or empty (no preference).
    prefers: String,
    large_print: bool,
    /// Optional, for equity monitoring: the Data Dictionary code and the Fitzpatrick type.
    ethnic_category: String,
    fitzpatrick_type: String,
    service: String,
    route: String,
}

impl StartValues {
    fn from_form(f: &FormData) -> Self {
        StartValues {
            nhs_number: f.get("nhs_number").trim().into(),
            given_name: f.get("given_name").trim().into(),
            family_name: f.get("family_name").trim().into(),
            dob_day: f.get("dob_day").trim().into(),
            dob_month: f.get("dob_month").trim().into(),
            dob_year: f.get("dob_year").trim().into(),
            sex: f.get("sex").into(),
            postcode: f.get("postcode").trim().into(),
            email: f.get("email").trim().into(),
            phone: f.get("phone").trim().into(),
            prefers: f.get("prefers").into(),
            large_print: f.has("large_print"),
            ethnic_category: f.get("ethnic_category").into(),
            fitzpatrick_type: f.get("fitzpatrick_type").into(),
            service: f.get("service").into(),
            route: f.get("route").into(),
        }
    }

    fn from_referral(r: &Referral) -> Self {
        let p = &r.patient;
        StartValues {
            nhs_number: p.nhs_number.formatted(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            dob_day: p.date_of_birth.format("%-d").to_string(),
            dob_month: p.date_of_birth.format("%-m").to_string(),
            dob_year: p.date_of_birth.format("%Y").to_string(),
            sex: serde_json::to_value(p.sex).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
            postcode: p.postcode.clone(),
            email: p.contact.email.clone().unwrap_or_default(),
            phone: p.contact.phone.clone().unwrap_or_default(),
            prefers: p.contact.prefers.map(|c| name_of(c)).unwrap_or_default(),
            large_print: p.contact.large_print,
            ethnic_category: p.ethnic_category.map(|c| c.code().to_string()).unwrap_or_default(),
            fitzpatrick_type: p.fitzpatrick_type.map(|t| t.code().to_string()).unwrap_or_default(),
            service: r.service_id.clone(),
            route: r.route.as_str().into(),
        }
    }

    /// The patient's age today and postcode, once both are readable (to say which services suit).
    fn age_and_postcode(&self) -> Option<(u32, Postcode)> {
        let dob = NaiveDate::from_ymd_opt(self.dob_year.parse().ok()?, self.dob_month.parse().ok()?, self.dob_day.parse().ok()?)?;
        let age = eligibility::age_in_years(dob, Utc::now().with_timezone(&London).date_naive())?;
        Some((age, Postcode::parse(&self.postcode).ok()?))
    }

    /// The patient, service and route, or the errors to show (in field order).
    fn parse(&self, state: &AppState) -> Result<(Patient, String, Route), Errors> {
        let mut e = Errors::default();
        let nhs = match NhsNumber::parse(&self.nhs_number) {
            Ok(n) => Some(n),
            Err(_) if self.nhs_number.is_empty() => {
                e.add("nhs_number", "Enter the patient's NHS number");
                None
            }
            Err(err) => {
                e.add("nhs_number", format!("Enter a valid NHS number: {err}"));
                None
            }
        };
        if self.given_name.is_empty() {
            e.add("given_name", "Enter the patient's first name");
        }
        if self.family_name.is_empty() {
            e.add("family_name", "Enter the patient's last name");
        }
        let dob = match (self.dob_year.parse::<i32>(), self.dob_month.parse::<u32>(), self.dob_day.parse::<u32>()) {
            (Ok(y), Ok(m), Ok(d)) => NaiveDate::from_ymd_opt(y, m, d),
            _ => None,
        };
        let today = Utc::now().with_timezone(&London).date_naive();
        let dob = match dob {
            Some(d) if d <= today && y_ok(d, today) => Some(d),
            Some(_) => {
                e.add("dob_day", "Date of birth must be in the past and within the last 130 years");
                None
            }
            None => {
                e.add("dob_day", "Enter the patient's date of birth as day, month and year, for example 14 3 1988");
                None
            }
        };
        let sex = match self.sex.as_str() {
            "female" => Some(Sex::Female),
            "male" => Some(Sex::Male),
            "other" => Some(Sex::Other),
            "unknown" => Some(Sex::Unknown),
            _ => {
                e.add("sex", "Select the patient's sex");
                None
            }
        };
        let postcode = match Postcode::parse(&self.postcode) {
            Ok(p) => Some(p),
            Err(_) => {
                e.add("postcode", "Enter a full UK postcode, like E8 1DY");
                None
            }
        };
        let policy = state.policies.get(&self.service);
        if policy.is_none() {
            e.add("service", "Choose the service to send this to");
        }
        // A service with one route takes it whatever the form says (the page hides the question).
        let route = policy.and_then(|p| p.only_route()).or_else(|| Route::parse(&self.route));
        match (route, policy) {
            (None, _) => e.add("route", "Choose Advice & Guidance or Referral Assessment Service"),
            (Some(r), Some(p)) if !p.offers(r) => e.add(
                "route",
                format!("{} does not offer {}; choose {}", p.name, r.label(), p.routes.iter().map(|r| r.label()).collect::<Vec<_>>().join(" or ")),
            ),
            _ => {}
        }
        let contact = Contact {
            email: Some(self.email.clone()).filter(|s| !s.is_empty()),
            phone: Some(self.phone.clone()).filter(|s| !s.is_empty()),
            prefers: match self.prefers.as_str() {
                "email" => Some(ContactPreference::Email),
                "text" => Some(ContactPreference::Text),
                "letter" => Some(ContactPreference::Letter),
                _ => None,
            },
            large_print: self.large_print,
        };
        if let Some(problem) = contact.preference_problem() {
            e.add("prefers", problem);
        }
        match (nhs, dob, sex, postcode, route) {
            (Some(nhs_number), Some(date_of_birth), Some(sex), Some(postcode), Some(route)) if e.is_empty() => Ok((
                Patient {
                    nhs_number,
                    given_name: self.given_name.clone(),
                    family_name: self.family_name.clone(),
                    date_of_birth,
                    sex,
                    postcode: postcode.to_string(),
                    contact,
                    ethnic_category: EthnicCategory::parse(&self.ethnic_category),
                    fitzpatrick_type: FitzpatrickType::parse(&self.fitzpatrick_type),
                },
                self.service.clone(),
                route,
            )),
            _ => Err(e),
        }
    }
}

fn y_ok(d: NaiveDate, today: NaiveDate) -> bool {
    today.years_since(d).is_some_and(|y| y <= 130)
}

#[derive(Template)]
#[template(path = "gp_start.html")]
struct StartPage {
    nav: Nav,
    errors: Errors,
    /// This draft was just copied from an earlier referral.
    copied: bool,
    values: StartValues,
    services: Vec<ServiceCard>,
    action: String,
    /// The form's browser-draft key (`start:new`, or `start:<id>` for an existing draft), so a new
    /// referral's typing is never restored into another patient's step 1.
    autosave: String,
    sexes: Vec<(&'static str, &'static str)>,
    route_options: Vec<(&'static str, &'static str)>,
    preferences: Vec<(&'static str, &'static str)>,
    ethnic_categories: Vec<(&'static str, &'static str)>,
    fitzpatrick_types: Vec<&'static str>,
}

/// Step 1, for a new referral (`id` is `None`) or an existing draft.
fn start_view(v: &Viewer, state: &AppState, errors: Errors, values: StartValues, id: Option<&str>, copied: bool) -> Response {
    let (action, autosave) = match id {
        None => ("/referrals/new".to_string(), "start:new".to_string()),
        Some(id) => (format!("/referrals/{id}/start"), format!("start:{id}")),
    };
    let mut services = service_cards(state);
    if let Some((age, postcode)) = values.age_and_postcode() {
        for card in &mut services {
            card.fit = state.policies.get(&card.id).map(|p| p.fit_for(age, postcode.district()));
        }
    }
    html(&StartPage {
        nav: Nav::for_viewer(v, "/referrals/new"),
        copied,
        errors,
        values,
        services,
        action,
        autosave,
        sexes: vec![("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Not known")],
        ethnic_categories: EthnicCategory::ALL.iter().map(|c| (c.code(), c.description())).collect(),
        fitzpatrick_types: FitzpatrickType::ALL.iter().map(|t| t.code()).collect(),
        preferences: vec![("", "No preference (email if given, else text)"), ("email", "Email"), ("text", "Text message"), ("letter", "Letters only (from the practice)")],
        route_options: vec![
            ("advice_and_guidance", "Advice & Guidance (A&G): the consultant advises, the patient stays with you"),
            ("ras", "Referral Assessment Service (RAS): the consultant triages a referral"),
        ],
    })
}

async fn start_page(State(state): State<AppState>, v: Viewer) -> PageResult {
    referrer_only(&v)?;
    Ok(start_view(&v, &state, Errors::default(), StartValues::default(), None, false))
}

async fn start_page_existing(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, uri: OriginalUri) -> PageResult {
    let r = load_draft(&state, &v, &id).await?;
    let copied = FormData::from_query(uri.query().unwrap_or("")).has("copied");
    Ok(start_view(&v, &state, Errors::default(), StartValues::from_referral(&r), Some(&id), copied))
}

async fn start_save(State(state): State<AppState>, v: Viewer, form: FormData) -> PageResult {
    referrer_only(&v)?;
    v.check(&form)?;
    let values = StartValues::from_form(&form);
    match values.parse(&state) {
        Err(errors) => Ok(unprocessable(start_view(&v, &state, errors, values, None, false))),
        Ok((patient, service_id, route)) => {
            let r = referrals::create_draft(
                &state,
                &v.user,
                CreateReferral {
                    service_id,
                    route,
                    priority: Priority::Routine,
                    patient,
                    history: ClinicalHistory::default(),
                    consent: None,
                    eligibility_answers: None,
                    conversion_authorised: false,
                    ubrn: None,
                },
            )
            .await?;
            Ok(see_other(&format!("/referrals/{}/eligibility", r.id)))
        }
    }
}

fn empty_update() -> UpdateDraft {
    UpdateDraft {
        service_id: None,
        route: None,
        priority: None,
        patient: None,
        history: None,
        consent: None,
        eligibility_answers: None,
        conversion_authorised: None,
        ubrn: None,
        version: None,
    }
}

async fn start_save_existing(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = load_draft(&state, &v, &id).await?;
    let values = StartValues::from_form(&form);
    match values.parse(&state) {
        Err(errors) => Ok(unprocessable(start_view(&v, &state, errors, values, Some(&id), false))),
        Ok((patient, service_id, route)) => {
            referrals::update_draft(
                &state,
                &v.user,
                &r.id.to_string(),
                UpdateDraft { service_id: Some(service_id), route: Some(route), patient: Some(patient), ..empty_update() },
            )
            .await?;
            Ok(see_other(&format!("/referrals/{id}/eligibility")))
        }
    }
}

// ---------------------------------------------------------------- step 2: eligibility

pub const QUESTIONS: [(&str, &str); 13] = [
    ("meets_2ww_criteria", "Does the patient meet the criteria for a two-week-wait (suspected cancer) referral?"),
    ("extreme_psychological_distress", "Is the skin condition causing the patient extreme psychological distress?"),
    ("widespread", "Is the rash or condition widespread?"),
    ("severe_or_systemic_or_urgent", "Is it a severe inflammatory condition, with systemic symptoms, or urgent?"),
    ("imaging_practical", "Is it practical to photograph the affected skin?"),
    ("safeguarding_concerns", "Are there safeguarding concerns?"),
    ("has_capacity_to_consent", "Does the patient have capacity to consent?"),
    ("best_interests_referral", "Is this a best-interests referral for a patient who lacks capacity?"),
    ("consent_given", "Has consent to the referral and the photos been given?"),
    ("known_chronic_inflammatory_condition", "Is this a known chronic inflammatory skin condition (for example eczema or psoriasis)?"),
    ("face_identifiable_in_images", "Will the patient's face be identifiable in the photos?"),
    ("dermoscopic_images", "Will you send dermoscopic images?"),
    ("seen_face_to_face", "Has a clinician seen the patient face to face about this problem?"),
];

pub struct Question {
    pub name: &'static str,
    pub text: &'static str,
    pub value: String,
}

/// The decision as the page shows it.
pub struct DecisionView {
    /// The decision's JSON name (`eligible`, `excluded`, `redirect_2ww`).
    pub code: &'static str,
    pub label: &'static str,
    pub class: &'static str,
    pub two_week_wait: bool,
    pub eligible: bool,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
}

pub fn decision_view(d: &EligibilityDecision) -> DecisionView {
    DecisionView {
        code: match d.decision {
            Decision::Eligible => "eligible",
            Decision::Excluded => "excluded",
            Decision::Redirect2ww => "redirect_2ww",
        },
        label: match d.decision {
            Decision::Eligible => "Eligible",
            Decision::Excluded => "Not eligible for this service",
            Decision::Redirect2ww => "Use the two-week-wait form",
        },
        class: match d.decision {
            Decision::Eligible => "nhsuk-tag--green",
            Decision::Excluded => "nhsuk-tag--red",
            Decision::Redirect2ww => "nhsuk-tag--red",
        },
        two_week_wait: d.decision == Decision::Redirect2ww,
        eligible: d.decision == Decision::Eligible,
        reasons: d.reasons.iter().map(|r| r.message.clone()).collect(),
        warnings: d.warnings.iter().map(|w| w.message.clone()).collect(),
    }
}

/// The decision for a referral's saved answers, if they are complete.
pub fn current_decision(state: &AppState, r: &Referral) -> Option<DecisionView> {
    let answers = EligibilityAnswers::from_json(r.eligibility_answers.as_ref()?).ok()?;
    let policy = state.policies.get(&r.service_id)?;
    Some(decision_view(&evaluate(policy, &answers)))
}

#[derive(Template)]
#[template(path = "gp_eligibility.html")]
struct EligibilityPage {
    nav: Nav,
    errors: Errors,
    id: String,
    service: ServiceCard,
    patient_name: String,
    dob: String,
    postcode: String,
    referral_date: String,
    condition: String,
    lesion_count: String,
    sites: Vec<(&'static str, bool)>,
    questions: Vec<Question>,
    /// Questions that cannot matter for this patient here: not shown, recorded as "no".
    not_asked: Vec<&'static str>,
    /// The one photo source the service accepts (then not asked).
    only_source: Option<&'static str>,
    images_taken_by: String,
    decision: Option<DecisionView>,
    /// The saved decision's code, for the next-step blocks ("" while incomplete).
    decision_code: &'static str,
    two_week_wait: String,
    two_week_wait_url: String,
    yes_no: Vec<(&'static str, &'static str)>,
    conditions: Vec<(&'static str, &'static str)>,
    sources: Vec<(&'static str, &'static str)>,
}

fn answer_str(a: &Value, key: &str) -> String {
    match &a[key] {
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn eligibility_view(state: &AppState, v: &Viewer, r: &Referral, answers: &Value, errors: Errors) -> Result<Response, PageError> {
    let policy = state.policy(&r.service_id)?;
    let sites: Vec<String> = answers["body_sites"].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default();
    let today = Utc::now().with_timezone(&London).date_naive();
    let age = eligibility::age_in_years(r.patient.date_of_birth, today).unwrap_or(0);
    Ok(html(&EligibilityPage {
        nav: Nav::for_viewer(v, ""),
        errors,
        id: r.id.to_string(),
        service: service_card(policy),
        patient_name: r.patient.full_name(),
        dob: r.patient.date_of_birth.to_string(),
        postcode: r.patient.postcode.clone(),
        referral_date: today.to_string(),
        condition: answer_str(answers, "condition"),
        lesion_count: Some(answer_str(answers, "lesion_count")).filter(|s| !s.is_empty()).unwrap_or_else(|| "0".into()),
        sites: BodySite::ALL.iter().map(|s| (s.as_str(), sites.iter().any(|x| x == s.as_str()))).collect(),
        questions: QUESTIONS
            .iter()
            .filter(|(name, _)| eligibility::asks(policy, name, age))
            .map(|(name, text)| Question { name, text, value: answer_str(answers, name) })
            .collect(),
        not_asked: QUESTIONS.iter().map(|(name, _)| *name).filter(|name| !eligibility::asks(policy, name, age)).collect(),
        only_source: policy.only_photo_source().map(|s| s.as_str()),
        images_taken_by: Some(answer_str(answers, "images_taken_by")).filter(|s| !s.is_empty()).unwrap_or_else(|| "clinician".into()),
        decision_code: current_decision(state, r).map_or("", |d| d.code),
        decision: current_decision(state, r),
        two_week_wait: referrals::two_week_wait_instruction(policy),
        two_week_wait_url: policy.two_week_wait_form_url.clone().unwrap_or_default(),
        yes_no: vec![("yes", "Yes"), ("no", "No")],
        conditions: policy
            .conditions
            .iter()
            .map(|c| match c {
                Condition::Rash => ("rash", "A rash or inflammatory condition"),
                Condition::Lesion => ("lesion", "A lesion (mole, spot, growth)"),
            })
            .collect(),
        sources: vec![("clinician", "A clinician at the practice"), ("patient", "The patient")],
    }))
}

async fn eligibility_page(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> PageResult {
    let r = load_draft(&state, &v, &id).await?;
    let answers = r.eligibility_answers.clone().unwrap_or(Value::Null);
    eligibility_view(&state, &v, &r, &answers, Errors::default())
}

/// The answers JSON from the form (only the questions answered), and the errors for the rest.
/// Questions the checklist does not ask ([`eligibility::asks`]) are recorded as "no", and a
/// service's only photo source as the source, whatever the form sent.
fn answers_from_form(policy: &ServicePolicy, r: &Referral, f: &FormData) -> (Value, Errors) {
    let mut e = Errors::default();
    let mut a = serde_json::Map::new();
    let today = Utc::now().with_timezone(&London).date_naive();
    a.insert("referral_date".into(), json!(today.to_string()));
    a.insert("patient".into(), json!({ "date_of_birth": r.patient.date_of_birth.to_string(), "postcode": r.patient.postcode }));
    match f.get("condition") {
        c @ ("rash" | "lesion") => {
            a.insert("condition".into(), json!(c));
        }
        _ => e.add("condition", "Choose whether this is a rash or a lesion"),
    }
    match f.get("lesion_count").trim().parse::<u32>() {
        Ok(n) if f.get("condition") == "lesion" && n == 0 => {
            a.insert("lesion_count".into(), json!(n));
            e.add("lesion_count", "Enter how many lesions need assessment (at least 1)");
        }
        Ok(n) => {
            a.insert("lesion_count".into(), json!(n));
        }
        Err(_) => e.add("lesion_count", "Enter the number of lesions as a whole number (0 for a rash)"),
    }
    let sites: Vec<&str> = f.all("body_sites").into_iter().filter(|s| BodySite::parse(s).is_some()).collect();
    if sites.is_empty() {
        e.add("body_sites", "Select where on the body the problem is");
    }
    a.insert("body_sites".into(), json!(sites));
    let age = eligibility::age_in_years(r.patient.date_of_birth, today).unwrap_or(0);
    for (name, text) in QUESTIONS {
        if !eligibility::asks(policy, name, age) {
            a.insert(name.into(), json!(false));
            continue;
        }
        match f.get(name) {
            "yes" => {
                a.insert(name.into(), json!(true));
            }
            "no" => {
                a.insert(name.into(), json!(false));
            }
            _ => e.add(name, format!("Answer: {text}")),
        }
    }
    match policy.only_photo_source().map(|s| s.as_str()).unwrap_or(f.get("images_taken_by")) {
        s @ ("clinician" | "patient") => {
            a.insert("images_taken_by".into(), json!(s));
        }
        _ => e.add("images_taken_by", "Choose who will take the photos"),
    }
    (Value::Object(a), e)
}

async fn eligibility_save(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = load_draft(&state, &v, &id).await?;
    let (answers, errors) = answers_from_form(state.policy(&r.service_id)?, &r, &form);
    // Saved even when incomplete, so nothing typed is lost.
    let r = referrals::update_draft(&state, &v.user, &id, UpdateDraft { eligibility_answers: Some(answers.clone()), ..empty_update() }).await?;
    if !errors.is_empty() {
        return Ok(unprocessable(eligibility_view(&state, &v, &r, &answers, errors)?));
    }
    match current_decision(&state, &r) {
        Some(d) if d.eligible => Ok(see_other(&format!("/referrals/{id}/details"))),
        _ => Ok(see_other(&format!("/referrals/{id}/eligibility#decision"))),
    }
}

// ---------------------------------------------------------------- step 3: consent and history

#[derive(Template)]
#[template(path = "gp_details.html")]
struct DetailsPage {
    nav: Nav,
    errors: Errors,
    id: String,
    advice_and_guidance: bool,
    given_by: String,
    method: String,
    direct_care: String,
    teaching: String,
    research: String,
    priority: String,
    conversion_authorised: bool,
    ubrn: String,
    history: ClinicalHistory,
    sites: String,
    given_by_options: Vec<(&'static str, &'static str)>,
    method_options: Vec<(&'static str, &'static str)>,
    yes_no: Vec<(&'static str, &'static str)>,
    priorities: Vec<(&'static str, &'static str)>,
}

fn yn(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

fn name_of<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn details_view(v: &Viewer, r: &Referral, f: Option<&FormData>, errors: Errors) -> Response {
    let c = r.consent.as_ref();
    let pick = |name: &str, saved: String| f.map_or(saved, |f| f.get(name).to_string());
    let history = match f {
        Some(f) => history_from(f),
        None => r.history.clone(),
    };
    html(&DetailsPage {
        nav: Nav::for_viewer(v, ""),
        errors,
        id: r.id.to_string(),
        advice_and_guidance: r.route == Route::AdviceAndGuidance,
        given_by: pick("given_by", c.map(|c| name_of(c.given_by)).unwrap_or_default()),
        method: pick("method", c.map(|c| name_of(c.method)).unwrap_or_default()),
        direct_care: pick("direct_care", c.map(|c| yn(c.direct_care)).unwrap_or_default()),
        teaching: pick("teaching", c.map(|c| yn(c.teaching)).unwrap_or_default()),
        research: pick("research", c.map(|c| yn(c.research)).unwrap_or_default()),
        priority: pick("priority", r.priority.as_str().into()),
        conversion_authorised: f.map_or(r.conversion_authorised, |f| f.get("conversion_authorised") == "yes"),
        ubrn: pick("ubrn", r.ubrn.clone().unwrap_or_default()),
        sites: history.body_sites.join(", "),
        history,
        given_by_options: vec![
            ("patient", "The patient"),
            ("parent_or_guardian", "A parent or guardian"),
            ("best_interests_decision", "Best-interests decision (the patient lacks capacity)"),
        ],
        method_options: vec![("verbal", "Verbal"), ("written", "Written"), ("electronic", "Electronic")],
        yes_no: vec![("yes", "Yes"), ("no", "No")],
        priorities: vec![("routine", "Routine"), ("urgent", "Urgent")],
    })
}

fn history_from(f: &FormData) -> ClinicalHistory {
    ClinicalHistory {
        presenting_complaint: f.get("presenting_complaint").trim().into(),
        duration: f.get("duration").trim().into(),
        body_sites: f.get("history_sites").split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect(),
        treatments_tried: f.get("treatments_tried").trim().into(),
        relevant_history: f.get("relevant_history").trim().into(),
        medication: f.get("medication").trim().into(),
        allergies: f.get("allergies").trim().into(),
    }
}

async fn details_page(State(state): State<AppState>, v: Viewer, Path(id): Path<String>) -> PageResult {
    let r = load_draft(&state, &v, &id).await?;
    Ok(details_view(&v, &r, None, Errors::default()))
}

async fn details_save(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = load_draft(&state, &v, &id).await?;
    let mut e = Errors::default();
    let given_by = match form.get("given_by") {
        "patient" => Some(ConsentGivenBy::Patient),
        "parent_or_guardian" => Some(ConsentGivenBy::ParentOrGuardian),
        "best_interests_decision" => Some(ConsentGivenBy::BestInterestsDecision),
        _ => {
            e.add("given_by", "Select who gave consent");
            None
        }
    };
    let method = match form.get("method") {
        "verbal" => Some(ConsentMethod::Verbal),
        "written" => Some(ConsentMethod::Written),
        "electronic" => Some(ConsentMethod::Electronic),
        _ => {
            e.add("method", "Select how consent was given");
            None
        }
    };
    let mut scope = |name: &str, what: &str| match form.get(name) {
        "yes" => Some(true),
        "no" => Some(false),
        _ => {
            e.add(name, format!("Answer whether the patient consents to {what}"));
            None
        }
    };
    let direct_care = scope("direct_care", "their photos being used for their care");
    let teaching = scope("teaching", "teaching");
    let research = scope("research", "research");
    let history = history_from(&form);
    if history.presenting_complaint.is_empty() {
        e.add("presenting_complaint", "Describe the presenting complaint");
    }
    let consent = match (given_by, method, direct_care, teaching, research) {
        (Some(given_by), Some(method), Some(direct_care), Some(teaching), Some(research)) => {
            Some(Consent { given_by, method, direct_care, teaching, research })
        }
        _ => None,
    };
    let priority = Priority::parse(form.get("priority")).filter(|p| *p != Priority::TwoWeekWait);
    // A mistyped UBRN is shown with the form; everything else typed is saved meanwhile.
    let ubrn = match referrals::check_ubrn(r.route, Some(form.get("ubrn"))) {
        Ok(u) => Some(u.unwrap_or_default()),
        Err(err) => {
            e.add("ubrn", &err.message);
            None
        }
    };
    let r = referrals::update_draft(
        &state,
        &v.user,
        &id,
        UpdateDraft {
            history: Some(history),
            consent,
            priority,
            conversion_authorised: Some(r.route == Route::AdviceAndGuidance && form.get("conversion_authorised") == "yes"),
            ubrn: if r.route == Route::Ras { ubrn } else { None },
            ..empty_update()
        },
    )
    .await?;
    if !e.is_empty() {
        return Ok(unprocessable(details_view(&v, &r, Some(&form), e)));
    }
    Ok(see_other(&format!("/referrals/{id}/photos")))
}

// ---------------------------------------------------------------- step 4: photos

pub struct Requirement {
    pub text: String,
    pub have: usize,
    pub need: u32,
    pub met: bool,
}

/// The service's required photos for this referral's condition, and how many usable ones it has.
pub fn requirements(policy: &ServicePolicy, r: &Referral, photos: &[telederm_store::PhotoRecord]) -> Vec<Requirement> {
    referrals::required_photos(policy, referrals::condition_of(r), photos)
        .into_iter()
        .map(|(req, have)| Requirement { text: req.guidance.clone(), have, need: req.count, met: have >= req.count as usize })
        .collect()
}

#[derive(Template)]
#[template(path = "gp_photos.html")]
struct PhotosPage {
    nav: Nav,
    errors: Errors,
    id: String,
    service_name: String,
    guidance: Vec<String>,
    requirements: Vec<Requirement>,
    all_met: bool,
    photos: Vec<PhotoView>,
    /// The photos this upload added, with their place in the referral.
    just_uploaded: Vec<(usize, PhotoView)>,
    /// Kinds a photo can be changed to.
    kinds: Vec<(&'static str, &'static str)>,
    /// What the upload form offers: sorting by what is still needed, or one kind for all.
    upload_kinds: Vec<(&'static str, &'static str)>,
    kind: String,
    draft: bool,
    /// A line about the dermoscopic view for a lesion referral, from the service's policy.
    lesion_note: Option<String>,
}

/// What the photos page says about dermoscopy for a lesion referral: nothing for a service that
/// does not take lesions (its own policy says what it does instead).
pub fn lesion_note(policy: &ServicePolicy, lesion: bool) -> Option<String> {
    if !lesion || !policy.accepts_condition(Condition::Lesion) {
        return None;
    }
    let required = policy.lesions_need_dermoscopy || policy.photos_for(Condition::Lesion).any(|p| p.kind == PhotoKind::Dermoscopic);
    Some(if required {
        format!("This is a lesion: {} needs a dermoscopic view.", policy.name)
    } else {
        "This is a lesion: add a dermoscopic view if you have a dermatoscope.".to_owned()
    })
}

async fn photos_view(state: &AppState, v: &Viewer, r: &Referral, errors: Errors, just: &[&str], kind: &str) -> Result<Response, PageError> {
    let policy = state.policy(&r.service_id)?;
    let photos = state.store.list_photos(r.id).await?;
    let requirements = requirements(policy, r, &photos);
    let views: Vec<PhotoView> = photos.iter().map(PhotoView::from).collect();
    let lesion = referrals::condition_of(r) == Some(Condition::Lesion);
    let mut kinds = vec![("locator", "Locator shot, from 1 to 1.5 metres"), ("close_up", "Close-up, from about 30 cm")];
    if lesion || policy.lesions_need_dermoscopy || policy.required_photos.iter().any(|p| p.kind == PhotoKind::Dermoscopic) {
        kinds.push(("dermoscopic", "Dermoscopic view"));
    }
    let mut upload_kinds = vec![("auto", "Sort them for me: each photo takes the next kind the service still needs (you can change any below)")];
    upload_kinds.extend(kinds.iter().map(|(value, text)| (*value, *text)));
    Ok(html(&PhotosPage {
        nav: Nav::for_viewer(v, ""),
        errors,
        id: r.id.to_string(),
        service_name: policy.name.clone(),
        guidance: policy.photo_advice(referrals::condition_of(r)),
        lesion_note: lesion_note(policy, lesion),
        all_met: requirements.iter().all(|q| q.met),
        requirements,
        just_uploaded: views.iter().enumerate().filter(|(_, p)| just.contains(&p.id.as_str())).map(|(i, p)| (i + 1, p.clone())).collect(),
        photos: views,
        kinds,
        upload_kinds,
        kind: kind.to_string(),
        draft: r.status == ReferralStatus::Draft,
    }))
}

async fn load_for_photos(state: &AppState, v: &Viewer, id: &str) -> Result<Referral, PageError> {
    let r = referrals::load(state, &v.user, id, Capability::UploadPhoto).await?;
    if !r.status.accepts_photos() {
        return Err(PageError(ApiError::new(Code::PhotosLocked,
            format!("Photos can be added only to a draft or when the consultant asks for more; this referral is {}.", r.status.label()),
        )));
    }
    Ok(r)
}

async fn photos_page(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, uri: OriginalUri) -> PageResult {
    let r = load_for_photos(&state, &v, &id).await?;
    let q = FormData::from_query(uri.query().unwrap_or(""));
    let kind = q.opt("kind").unwrap_or("auto").to_string();
    let just: Vec<&str> = q.opt("uploaded").map(|u| u.split(',').collect()).unwrap_or_default();
    photos_view(&state, &v, &r, Errors::default(), &just, &kind).await
}

fn parse_kind(s: &str) -> Option<PhotoKind> {
    match s {
        "locator" => Some(PhotoKind::Locator),
        "close_up" => Some(PhotoKind::CloseUp),
        "dermoscopic" => Some(PhotoKind::Dermoscopic),
        _ => None,
    }
}

/// Several photos at once: each is stored and checked as it arrives (one in memory at a time),
/// with the kind the form gives, or ("auto") the next kind the service still needs. A photo that
/// is refused is named with the reason; the others are kept.
async fn photos_upload(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, mut multipart: Multipart) -> PageResult {
    let limit = state.settings.max_upload_bytes;
    // A refusal still reads the (bounded) body first, so the client always gets the answer: a
    // connection closed with unread data is reset before the browser sees the response.
    let r = match load_for_photos(&state, &v, &id).await {
        Ok(r) => r,
        Err(e) => {
            form::drain(&mut multipart).await;
            return Err(e);
        }
    };
    let policy = state.policy(&r.service_id)?;
    let mut fields = FormData(Vec::new());
    let (mut checked, mut seen) = (false, 0usize);
    let mut uploaded: Vec<String> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut busy = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                problems.push(form::upload_error(e, limit).message);
                break;
            }
        };
        let name = field.name().unwrap_or_default().to_string();
        if name != "file" {
            match field.text().await {
                Ok(text) => fields.0.push((name, text)),
                Err(e) => {
                    problems.push(form::upload_error(e, limit).message);
                    break;
                }
            }
            continue;
        }
        if !checked {
            if let Err(e) = v.check(&fields) {
                drop(field);
                form::drain(&mut multipart).await;
                return Err(e.into());
            }
            checked = true;
        }
        let file_name = field.file_name().filter(|n| !n.is_empty()).map(str::to_string);
        let bytes = match form::read_file(field, limit).await {
            Ok(b) if b.is_empty() && file_name.is_none() => continue,
            Ok(b) => b,
            Err(e) => {
                let name = file_name.unwrap_or_else(|| "A photo".into());
                problems.push(if seen > 0 && e.code == Code::FileTooLarge {
                    format!("{name}: the photos sent together passed the 30 MB limit. The ones before it are kept; upload {name} and the rest again")
                } else {
                    format!("{name}: {}", e.message)
                });
                break;
            }
        };
        seen += 1;
        let label = file_name.unwrap_or_else(|| format!("Photo {seen} of this upload"));
        let kind = match fields.get("kind") {
            "" | "auto" => {
                let have: Vec<PhotoKind> = state.store.list_photos(r.id).await?.iter().map(|p| p.kind).collect();
                policy.next_photo_kind(referrals::condition_of(&r), &have)
            }
            other => match parse_kind(other) {
                Some(k) => k,
                None => {
                    problems.push("Choose which kind of photo these are, or let Telederm sort them".into());
                    break;
                }
            },
        };
        match telederm_app::photos::store(&state, &r, kind, ImageSource::Clinician, Some(&v.user), bytes).await {
            Ok(photo) => uploaded.push(photo.id.to_string()),
            Err(e) if form::is_busy(&e) => {
                problems.push(format!("{label}: {}", e.message));
                busy = Some(e);
            }
            Err(e) if e.is_client_error() => problems.push(format!("{label}: {}", e.message)),
            Err(e) => return Err(e.into()),
        }
    }
    if !checked {
        v.check(&fields)?;
    }
    let kind_raw = fields.get("kind").to_string();
    if problems.is_empty() && uploaded.is_empty() {
        problems.push("Choose one or more photos to upload".into());
    }
    if problems.is_empty() {
        // Every photo of the upload passed, none waits for a face confirmation, and the service's
        // photos are complete: straight on to the review, which shows each photo's check.
        let photos = state.store.list_photos(r.id).await?;
        let this_upload = || photos.iter().filter(|p| uploaded.contains(&p.id.to_string()));
        let all_good = this_upload().all(|p| p.verdict == telederm_domain::policy::Verdict::Accept && !PhotoView::from(p).face_unconfirmed);
        if r.status == ReferralStatus::Draft && all_good && requirements(policy, &r, &photos).iter().all(|q| q.met) {
            return Ok(see_other(&format!("/referrals/{id}/review?checked={}", uploaded.len())));
        }
        return Ok(see_other(&format!("/referrals/{id}/photos?uploaded={}&kind={kind_raw}#photo-check", uploaded.join(","))));
    }
    let mut errors = Errors::default();
    errors.add("file", problems.join(". "));
    let just: Vec<&str> = uploaded.iter().map(String::as_str).collect();
    let page = photos_view(&state, &v, &r, errors, &just, &kind_raw).await?;
    Ok(match busy {
        Some(e) if uploaded.is_empty() => form::busy_page(page, &e),
        _ => unprocessable(page),
    })
}

async fn photo_set_kind(State(state): State<AppState>, v: Viewer, Path((id, photo_id)): Path<(String, String)>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = load_for_photos(&state, &v, &id).await?;
    let photo = telederm_app::photos::of_referral(&state, &r, &photo_id).await?;
    let Some(kind) = parse_kind(form.get("kind")) else {
        let mut errors = Errors::default();
        errors.add("kind", "Choose which kind of photo this is");
        return Ok(unprocessable(photos_view(&state, &v, &r, errors, &[], "auto").await?));
    };
    telederm_app::photos::set_kind(&state, &v.user, &r, &photo, kind).await?;
    Ok(see_other(&format!("/referrals/{id}/photos#kind-{photo_id}")))
}

async fn photo_delete(State(state): State<AppState>, v: Viewer, Path((id, photo_id)): Path<(String, String)>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = load_for_photos(&state, &v, &id).await?;
    let pid = telederm_domain::PhotoId::parse(&photo_id).ok_or_else(|| ApiError::not_found("photo"))?;
    let photo = state.store.get_photo(pid).await?;
    if photo.referral_id != r.id {
        return Err(PageError(ApiError::not_found("photo")));
    }
    telederm_app::photos::delete(&state, &v.user, &r, &photo).await?;
    Ok(see_other(&format!("/referrals/{id}/photos?kind={}", views::kind_value(photo.kind))))
}

/// "Add a document" on the referral's page: a PDF (referral letter, consent form, other) with an
/// optional title. Back to the page's documents, or its error there.
async fn document_upload(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, mut multipart: Multipart) -> PageResult {
    let r = match referrals::load(&state, &v.user, &id, Capability::UploadPhoto).await {
        Ok(r) => r,
        Err(e) => {
            form::drain(&mut multipart).await;
            return Err(e.into());
        }
    };
    let read = crate::api::documents::read_form(multipart, state.settings.max_document_bytes).await;
    let result = async {
        let upload = read?;
        v.check_token(upload.fields.iter().find(|(k, _)| k == "_csrf").map_or("", |(_, v)| v.as_str())).map_err(|e| e.0)?;
        let kind = crate::api::documents::parse_kind(upload.kind.as_deref())?;
        let bytes = upload.bytes.filter(|b| !b.is_empty()).ok_or_else(|| ApiError::new(Code::MissingFile, "Choose the PDF file to add."))?;
        telederm_app::documents::upload(&state, &v.user, &r, kind, upload.title.as_deref(), bytes).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/referrals/{id}?done=document_added#documents"))),
        Err(e) if e.code == Code::Forbidden => Err(e.into()),
        Err(e) => back_to_case(&id, "documents", e),
    }
}

async fn document_delete(State(state): State<AppState>, v: Viewer, Path((id, document_id)): Path<(String, String)>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = referrals::load(&state, &v.user, &id, Capability::UploadPhoto).await?;
    let doc = telederm_app::documents::of_referral(&state, &r, &document_id).await?;
    match telederm_app::documents::delete(&state, &v.user, &r, &doc).await {
        Ok(()) => Ok(see_other(&format!("/referrals/{id}?done=document_removed#documents"))),
        Err(e) => back_to_case(&id, "documents", e),
    }
}

// ---------------------------------------------------------------- step 5: review and submit

#[derive(Template)]
#[template(path = "gp_review.html")]
struct ReviewPage {
    nav: Nav,
    id: String,
    problems: Vec<(String, String)>,
    problem_title: String,
    r: Referral,
    nhs: String,
    dob: String,
    service: ServiceCard,
    route: &'static str,
    priority: &'static str,
    decision: Option<DecisionView>,
    consent: Vec<(&'static str, String)>,
    photos: Vec<PhotoView>,
    requirements: Vec<Requirement>,
    /// How many photos the upload that led here added (all passed the check): 0 otherwise.
    checked: usize,
}

async fn review_view(state: &AppState, v: &Viewer, r: Referral, problems: Vec<(String, String)>, problem_title: String, checked: usize) -> Result<Response, PageError> {
    let policy = state.policy(&r.service_id)?;
    let photos = state.store.list_photos(r.id).await?;
    let consent = match &r.consent {
        Some(c) => vec![
            ("Given by", name_of(c.given_by).replace('_', " ")),
            ("How", name_of(c.method)),
            ("Direct care", yn(c.direct_care)),
            ("Teaching", yn(c.teaching)),
            ("Research", yn(c.research)),
        ],
        None => vec![("Consent", "Not recorded".into())],
    };
    Ok(html(&ReviewPage {
        nav: Nav::for_viewer(v, ""),
        id: r.id.to_string(),
        problems,
        problem_title,
        nhs: r.patient.nhs_number.formatted(),
        dob: views::date(r.patient.date_of_birth),
        service: service_card(policy),
        route: r.route.label(),
        priority: priority_label(r.priority),
        decision: current_decision(state, &r),
        consent,
        requirements: requirements(policy, &r, &photos),
        photos: photos.iter().map(PhotoView::from).collect(),
        checked,
        r,
    }))
}

async fn review_page(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, uri: OriginalUri) -> PageResult {
    let r = load_draft(&state, &v, &id).await?;
    let checked = FormData::from_query(uri.query().unwrap_or("")).get("checked").parse().unwrap_or(0);
    review_view(&state, &v, r, Vec::new(), String::new(), checked).await
}

/// Where the GP fixes a problem the submission check names.
fn fix_link(id: &str, field: &str) -> String {
    let page = match field {
        f if f.starts_with("history") || f.starts_with("consent") => "details",
        "photos" => "photos",
        f if f.starts_with("eligibility") => "eligibility",
        _ => "start",
    };
    format!("/referrals/{id}/{page}")
}

async fn submit(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match referrals::submit(&state, &v.user, &id).await {
        Ok(r) => Ok(see_other(&format!("/referrals/{}?submitted=1", r.id))),
        Err(e) if e.status() == 422 => {
            let mut problems = Vec::new();
            if let Some(list) = e.details.as_ref().and_then(|d| d["problems"].as_array()) {
                for p in list {
                    let field = p["field"].as_str().unwrap_or("");
                    problems.push((fix_link(&id, field), p["message"].as_str().unwrap_or("").to_string()));
                }
            }
            if let Some(reasons) = e.details.as_ref().and_then(|d| d["reasons"].as_array()) {
                for reason in reasons {
                    problems.push((fix_link(&id, "eligibility"), reason["message"].as_str().unwrap_or("").to_string()));
                }
            }
            if problems.is_empty() {
                problems.push((fix_link(&id, if e.code.as_str().starts_with("eligibility") { "eligibility" } else { "start" }), e.message.clone()));
            }
            let r = load_draft(&state, &v, &id).await?;
            Ok(unprocessable(review_view(&state, &v, r, problems, e.message, 0).await?))
        }
        Err(e) => Err(e.into()),
    }
}

async fn reply(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match referrals::reply(&state, &v.user, &id, form.get("message")).await {
        Ok(_) => Ok(see_other(&format!("/referrals/{id}?replied=1"))),
        Err(e) if e.status() == 422 => {
            Ok(see_other(&format!("/referrals/{id}?error={}#reply", form_urlencoded::byte_serialize(e.message.as_bytes()).collect::<String>())))
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------- next steps on a referral

async fn withdraw(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    let body = referrals::WithdrawBody { reason: form.opt("reason").map(str::to_string) };
    match referrals::withdraw(&state, &v.user, &id, body).await {
        Ok(_) => Ok(see_other(&format!("/referrals/{id}?done=withdrawn"))),
        Err(e) => back_to_case(&id, "withdraw", e),
    }
}

async fn discard(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match referrals::discard_draft(&state, &v.user, &id).await {
        Ok(_) => Ok(see_other("/referrals?done=discarded")),
        Err(e) => back_to_case(&id, "next-steps", e),
    }
}

async fn close(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match referrals::close(&state, &v.user, &id).await {
        Ok(_) => Ok(see_other("/referrals?done=closed")),
        Err(e) => back_to_case(&id, "next-steps", e),
    }
}

/// A new draft with the patient, history, answers and photos; the GP checks the service first.
async fn copy(State(state): State<AppState>, v: Viewer, Path(id): Path<String>, form: FormData) -> PageResult {
    v.check(&form)?;
    match referrals::copy_into_new(&state, &v.user, &id).await {
        Ok(r) => Ok(see_other(&format!("/referrals/{}/start?copied=1", r.id))),
        Err(e) => back_to_case(&id, "next-steps", e),
    }
}

async fn photo_confirm_face(State(state): State<AppState>, v: Viewer, Path((id, photo_id)): Path<(String, String)>, form: FormData) -> PageResult {
    v.check(&form)?;
    let r = load_for_photos(&state, &v, &id).await?;
    let photo = telederm_app::photos::of_referral(&state, &r, &photo_id).await?;
    telederm_app::photos::confirm_face_not_identifiable(&state, &v.user, &r, &photo).await?;
    Ok(see_other(&format!("/referrals/{id}/photos#kind-{photo_id}")))
}

