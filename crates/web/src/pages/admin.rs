//! Admin pages: a dashboard of counts (no patient details), users and roles, and the services
//! with their policies. System admins see every service; service admins see theirs.


use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::London;
use telederm_domain::organisation::Role;
use telederm_domain::referral::ReferralStatus;
use telederm_store::audit::{AuditEntry, AuditFilter, AuditOutcome};

use super::form::FormData;
use super::gp::{ServiceCard, service_card};
use super::views::{self, Errors, Nav};
use super::{PageError, PageResult, Viewer, html, see_other};
use crate::AppState;
use crate::audit::{self, Actor};
use telederm_app::users::NewUser;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard))
        .route("/admin/users", get(users).post(create_user))
        .route("/admin/services", get(services))
        .route("/admin/jobs", get(jobs))
        .route("/admin/jobs/{id}/retry", axum::routing::post(retry_job))
        .route("/admin/audit", get(audit_log))
        .route("/admin/feedback.csv", get(feedback_csv))
}

fn admin_only(v: &Viewer) -> Result<(), PageError> {
    if matches!(v.user.role, Role::ServiceAdmin | Role::SystemAdmin) {
        Ok(())
    } else {
        Err(PageError(ApiError::forbidden("The admin pages are for service and system administrators.")))
    }
}

/// The services whose figures this admin may see (all of them for a system admin).
fn scope(state: &AppState, v: &Viewer) -> Vec<String> {
    if v.is(Role::SystemAdmin) { state.policies.keys().cloned().collect() } else { v.user.services.clone() }
}

#[derive(Template)]
#[template(path = "admin_dashboard.html")]
struct DashboardPage {
    nav: Nav,
    by_status: Vec<(&'static str, &'static str, i64)>,
    total: i64,
    due_today: i64,
    overdue: i64,
    median: String,
    outcomes: Vec<(String, u64)>,
    rejections: Vec<(String, u64)>,
    /// Shown as a banner from 90 days before the official bank-holiday data ends.
    calendar_warning: Option<String>,
    /// Outcome letters of these services that did not reach the GP record (MESH): (referral id, status, reason).
    letter_problems: Vec<(String, &'static str, String)>,
    /// Patients' feedback on these services: (rating, how many), the total, and the newest
    /// comments as (date, service, rating, comment).
    feedback_counts: Vec<(&'static str, i64)>,
    feedback_total: i64,
    feedback_comments: Vec<(String, String, &'static str, String)>,
}

async fn dashboard(State(state): State<AppState>, v: Viewer) -> PageResult {
    admin_only(&v)?;
    let o = telederm_app::reports::admin_overview(&state, &v.user).await?;
    let by_status: Vec<(&'static str, &'static str, i64)> = ReferralStatus::ALL
        .iter()
        .map(|s| {
            let (label, class) = views::status_tag(*s);
            (label, class, o.by_status.iter().find(|(x, _)| x == s).map_or(0, |(_, n)| *n))
        })
        .collect();
    let total = by_status.iter().map(|(_, _, n)| n).sum();
    let today: NaiveDate = Utc::now().with_timezone(&London).date_naive();
    let median = match o.median_working_days {
        None => "No outcomes yet".to_string(),
        Some(d) if d == 1.0 => "1 working day".to_string(),
        Some(d) => format!("{d} working days"),
    };
    let letter_problems = o.letter_problems.into_iter().map(|l| (l.referral_id.to_string(), l.status.label(), l.reason.unwrap_or_default())).collect();
    let feedback = telederm_app::feedback::summary(&state, &v.user).await?;
    Ok(html(&DashboardPage {
        nav: Nav::for_viewer(&v, "/admin"),
        by_status,
        total,
        due_today: o.due_today,
        overdue: o.overdue,
        median,
        outcomes: o.outcomes.into_iter().map(|(label, n)| (label.to_string(), n)).collect(),
        rejections: o.rejections.into_iter().map(|(label, n)| (label.to_string(), n)).collect(),
        calendar_warning: state.calendar.get().warning(today),
        letter_problems,
        feedback_counts: feedback.counts.iter().map(|(r, n)| (r.label(), *n)).collect(),
        feedback_total: feedback.total,
        feedback_comments: feedback
            .comments
            .iter()
            .map(|f| {
                let service = state.policies.get(&f.service_id).map_or_else(|| f.service_id.clone(), |p| p.name.clone());
                (views::date(f.created_at.with_timezone(&London).date_naive()), service, f.rating.label(), f.comment.clone())
            })
            .collect(),
    }))
}

/// `GET /admin/feedback.csv`: the admin's services' patient feedback as CSV (no identifiers).
async fn feedback_csv(State(state): State<AppState>, v: Viewer) -> PageResult {
    admin_only(&v)?;
    let csv = telederm_app::feedback::export_csv(&state, &v.user).await?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"patient-feedback.csv\""),
        (axum::http::header::CACHE_CONTROL, "no-store"),
    ];
    Ok(axum::response::IntoResponse::into_response((headers, csv)))
}

pub struct UserRow {
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub services: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    errors: Errors,
    values: FormData,
    roles: Vec<(&'static str, &'static str)>,
    professions: Vec<(&'static str, &'static str)>,
    organisations: Vec<(String, String)>,
    services: Vec<(String, String)>,
    created: bool,
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Referrer => "Referrer (GP, practice nurse)",
        Role::Consultant => "Consultant dermatologist",
        Role::ServiceAdmin => "Service admin",
        Role::SystemAdmin => "System admin",
    }
}

async fn users_view(state: &AppState, v: &Viewer, errors: Errors, values: FormData, created: bool) -> Result<UsersPage, PageError> {
    let users = state.store.list_users().await?;
    Ok(UsersPage {
        nav: Nav::for_viewer(v, "/admin/users"),
        users: users
            .iter()
            .map(|u| UserRow { name: u.display_name.clone(), email: u.email.clone(), role: role_label(u.role), services: u.services.join(", ") })
            .collect(),
        errors,
        values,
        roles: Role::ALL.iter().map(|r| (r.as_str(), role_label(*r))).collect(),
        professions: vec![("", "Not a referrer"), ("gp", "GP"), ("nurse", "Nurse"), ("pharmacist", "Pharmacist"), ("physician_associate", "Physician associate"), ("other", "Other clinician")],
        organisations: state.store.list_organisations().await?.into_iter().map(|o| (o.id.to_string(), o.name)).collect(),
        services: state.policies.values().map(|p| (p.id.clone(), p.name.clone())).collect(),
        created,
    })
}

fn system_admin_only(v: &Viewer) -> Result<(), PageError> {
    if v.is(Role::SystemAdmin) { Ok(()) } else { Err(PageError(ApiError::forbidden("Only system administrators manage users."))) }
}

async fn users(State(state): State<AppState>, v: Viewer, uri: axum::extract::OriginalUri) -> PageResult {
    system_admin_only(&v)?;
    let created = FormData::from_query(uri.query().unwrap_or("")).has("created");
    Ok(html(&users_view(&state, &v, Errors::default(), FormData::default(), created).await?))
}

async fn create_user(State(state): State<AppState>, v: Viewer, form: FormData) -> PageResult {
    system_admin_only(&v)?;
    v.check(&form)?;
    let mut e = Errors::default();
    let name = form.get("display_name").trim().to_string();
    let email = form.get("email").trim().to_lowercase();
    if name.is_empty() {
        e.add("display_name", "Enter the person's name");
    }
    if !email.contains('@') || email.len() < 3 {
        e.add("email", "Enter an email address, like name@nhs.net");
    }
    let role = Role::parse(form.get("role"));
    if role.is_none() {
        e.add("role", "Choose a role");
    }
    let org = form.get("organisation").parse::<uuid::Uuid>().ok();
    if org.is_none() {
        e.add("organisation", "Choose the organisation");
    }
    let password = form.get("password").to_string();
    let services: Vec<String> = form.all("services").into_iter().map(str::to_string).collect();
    if let (true, Some(role), Some(org)) = (e.is_empty(), role, org) {
        let profession = telederm_domain::organisation::Profession::parse(form.get("profession"));
        let new = NewUser { email, display_name: name, role, organisation_id: org.into(), services, password, profession };
        match telederm_app::users::create_user(&state, &Actor::user(&v.user), new).await {
            Ok(_) => return Ok(see_other("/admin/users?created=1")),
            Err(err) if err.status() < 500 => {
                let field = err.details.as_ref().and_then(|d| d["field"].as_str()).unwrap_or("email").to_string();
                e.add(&field, err.message.trim_end_matches('.').to_string());
            }
            Err(err) => return Err(err.into()),
        }
    }
    let mut resp = html(&users_view(&state, &v, e, form, false).await?);
    *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(resp)
}

#[derive(Template)]
#[template(path = "admin_services.html")]
struct ServicesPage {
    nav: Nav,
    services: Vec<ServiceCard>,
}

async fn services(State(state): State<AppState>, v: Viewer) -> PageResult {
    admin_only(&v)?;
    let visible = scope(&state, &v);
    Ok(html(&ServicesPage {
        nav: Nav::for_viewer(&v, "/admin/services"),
        services: state.policies.values().filter(|p| visible.contains(&p.id)).map(service_card).collect(),
    }))
}

pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub attempts: String,
    pub failed_at: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin_jobs.html")]
struct JobsPage {
    nav: Nav,
    counts: Vec<(&'static str, i64)>,
    outbox_pending: i64,
    notifier: Option<String>,
    dead: Vec<JobRow>,
    retried: bool,
}

/// Background jobs: counts by state, notifications waiting, and dead jobs with a retry button.
async fn jobs(State(state): State<AppState>, v: Viewer, uri: axum::extract::OriginalUri) -> PageResult {
    telederm_app::access::allow_operations(&v.user)?;
    let counts = state.store.job_counts().await?;
    let counts = [
        telederm_store::JobState::Queued,
        telederm_store::JobState::Running,
        telederm_store::JobState::Done,
        telederm_store::JobState::Dead,
    ]
    .into_iter()
    .map(|s| (s.as_str(), counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n)))
    .collect();
    let dead = state
        .store
        .list_dead_jobs()
        .await?
        .into_iter()
        .take(200)
        .map(|j| JobRow {
            id: j.id.to_string(),
            kind: j.kind,
            attempts: format!("{} of {}", j.attempts, j.max_attempts),
            failed_at: j.finished_at.unwrap_or(j.updated_at).with_timezone(&London).format("%-d %b %Y %H:%M").to_string(),
            error: j.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(html(&JobsPage {
        nav: Nav::for_viewer(&v, "/admin/jobs"),
        counts,
        outbox_pending: state.store.pending_outbox_count().await?,
        notifier: state.settings.notifier.clone(),
        dead,
        retried: FormData::from_query(uri.query().unwrap_or("")).has("retried"),
    }))
}

async fn retry_job(State(state): State<AppState>, v: Viewer, axum::extract::Path(id): axum::extract::Path<String>, form: FormData) -> PageResult {
    telederm_app::access::allow_operations(&v.user)?;
    v.check(&form)?;
    crate::api::admin::retry(&state, &id).await?;
    Ok(see_other("/admin/jobs?retried=1"))
}

// ---------------------------------------------------------------- the audit trail

pub const AUDIT_PAGE_SIZE: i64 = 50;

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    nav: Nav,
    errors: Errors,
    values: FormData,
    entries: Vec<AuditEntry>,
    page: i64,
    prev_link: Option<String>,
    next_link: Option<String>,
    scoped: bool,
    outcomes: Vec<(&'static str, &'static str)>,
}

/// Searches the audit trail by user, referral, action and date range, newest first, 50 to a
/// page. System admins see every entry; service admins see entries by people in their
/// organisation and entries about referrals to their services. Each search is itself recorded.
async fn audit_log(State(state): State<AppState>, v: Viewer, uri: axum::extract::OriginalUri) -> PageResult {
    admin_only(&v)?;
    let q = FormData::from_query(uri.query().unwrap_or(""));
    let mut errors = Errors::default();
    let date = |field: &str, errors: &mut Errors| -> Option<NaiveDate> {
        let raw = q.get(field).trim();
        if raw.is_empty() {
            return None;
        }
        let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
        if parsed.is_none() {
            errors.add(field, "Enter the date as year-month-day, for example 2026-03-14");
        }
        parsed
    };
    let from = date("from", &mut errors);
    let to = date("to", &mut errors);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        errors.add("to", "The end date must be the same as or after the start date");
    }
    let page = q.get("page").parse::<i64>().unwrap_or(1).max(1);
    let text = |field: &str| Some(q.get(field).trim().to_string()).filter(|s| !s.is_empty());
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let scoped = !v.is(Role::SystemAdmin);
    let filter = AuditFilter {
        actor: text("actor"),
        referral_id: text("referral"),
        action: text("action"),
        outcome: AuditOutcome::parse(q.get("outcome")),
        since: from.and_then(midnight),
        until: to.and_then(|d| d.succ_opt()).and_then(midnight),
        visible_to: scoped.then(|| (v.user.organisation_id.to_string(), v.user.services.clone())),
        newest_first: true,
        // One more than a page, to know whether there is a next page.
        limit: Some(AUDIT_PAGE_SIZE + 1),
        offset: Some((page - 1) * AUDIT_PAGE_SIZE),
        ..AuditFilter::default()
    };
    let mut entries = if errors.is_empty() { state.store.search_audit(&filter).await? } else { Vec::new() };
    let more = entries.len() as i64 > AUDIT_PAGE_SIZE;
    entries.truncate(AUDIT_PAGE_SIZE as usize);
    let detail = format!(
        "actor={} referral={} action={} from={} to={} page={page}",
        q.get("actor").trim(),
        q.get("referral").trim(),
        q.get("action").trim(),
        q.get("from").trim(),
        q.get("to").trim()
    );
    audit::record(&state, &audit::Actor::user(&v.user), "audit.search", audit::Target::many("audit_log"), AuditOutcome::Allowed, detail).await?;
    let link = |p: i64| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for k in ["actor", "referral", "action", "outcome", "from", "to"] {
            if !q.get(k).is_empty() {
                ser.append_pair(k, q.get(k));
            }
        }
        ser.append_pair("page", &p.to_string());
        format!("/admin/audit?{}", ser.finish())
    };
    let status_ok = errors.is_empty();
    let mut resp = html(&AuditPage {
        nav: Nav::for_viewer(&v, "/admin/audit"),
        errors,
        values: q.clone(),
        entries,
        page,
        prev_link: (page > 1).then(|| link(page - 1)),
        next_link: more.then(|| link(page + 1)),
        scoped,
        outcomes: vec![("", "Any"), ("allowed", "Allowed"), ("denied", "Denied"), ("failed", "Failed")],
    });
    if !status_ok {
        *resp.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(resp)
}
