//! Report pages under `/reports` (issue 17): per-practice referral quality (GPs: their practice;
//! service admins: their services' practices), equity monitoring and the service dashboard
//! (service admins). Thin adapters over [`telederm_app::reports`]: the same figures and access
//! rules as `GET /api/v1/reports/...`, with charts ([`super::charts`]), tables and CSV downloads.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::response::Response;
use axum::routing::get;
use chrono::NaiveDate;
use telederm_app::reports::{self, Cell, EquityReport, PracticeFigures, PracticeQualityReport, ServiceReport};
use telederm_domain::organisation::Role;
use telederm_domain::outcome::OutcomeCode;
use telederm_domain::reports::Comparison;

use super::charts::{self, Layout, Series};
use super::form::FormData;
use super::views::Nav;
use super::{PageError, PageResult, Viewer, html};
use crate::AppState;
use crate::api::reports::{csv_response, pdf_response};
use crate::error::{ApiError, Code};
use telederm_app::reports::display::{FigureRow, days, figure_rows, num, pct, reason_label, topic_label};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/reports", get(index))
        .route("/reports/practice-quality", get(practice_quality))
        .route("/reports/practice-quality.csv", get(practice_quality_csv))
        .route("/reports/practice-quality.pdf", get(practice_quality_pdf))
        .route("/reports/equity", get(equity))
        .route("/reports/equity.csv", get(equity_csv))
        .route("/reports/service", get(service))
        .route("/reports/service.csv", get(service_csv))
}

fn query(uri: &OriginalUri) -> FormData {
    FormData::from_query(uri.query().unwrap_or(""))
}

fn nonempty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

fn period(state: &AppState, q: &FormData) -> Result<(NaiveDate, NaiveDate), PageError> {
    Ok(reports::period(state, nonempty(q.get("from")), nonempty(q.get("to")))?)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A service the viewer may report on, with its links.
struct ServiceLink {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "reports_index.html")]
struct IndexPage {
    nav: Nav,
    is_admin: bool,
    services: Vec<ServiceLink>,
}

async fn index(State(state): State<AppState>, v: Viewer) -> PageResult {
    let is_admin = match v.user.role {
        Role::Referrer => false,
        Role::ServiceAdmin => true,
        _ => return Err(PageError(ApiError::new(Code::ReportNotPermitted, "Reports are for GPs and service admins."))),
    };
    let services = reports::admin_services(&state, &v.user).into_iter().map(|(id, name)| ServiceLink { id, name }).collect();
    Ok(html(&IndexPage { nav: Nav::for_viewer(&v, "/reports"), is_admin, services }))
}

/// A practice in the overview table.
struct PracticeRow {
    ods: String,
    name: String,
    referrals: u64,
    returned: String,
    rejected: String,
    remote: String,
    median: String,
    p90: String,
}

/// A practice's detail: figures beside the service's, rejections by reason, photo issues.
struct PracticeDetail {
    name: String,
    ods: String,
    figures: Vec<FigureRow>,
    reasons: Vec<(String, u64, u64)>,
    topics: Vec<(String, u64, u64)>,
    issues: Vec<(String, u64)>,
    chart: Option<String>,
}

#[derive(Template)]
#[template(path = "reports_practice.html")]
struct PracticePage {
    nav: Nav,
    from: String,
    to: String,
    practice: String,
    csv_href: String,
    /// The monthly summaries on offer: (month as people read it, `YYYY-MM`), newest first.
    months: Vec<(String, String)>,
    practice_count: u64,
    overview: Vec<PracticeRow>,
    details: Vec<PracticeDetail>,
    service_figures: Vec<FigureRow>,
}

fn rates_chart(p: &PracticeFigures, s: &PracticeFigures) -> Option<String> {
    let cats = ["Returned for information", "Rejected", "Without face-to-face"].map(String::from).to_vec();
    let r = |v: Option<f64>| v.unwrap_or(0.0) * 100.0;
    charts::bars(
        &cats,
        &[
            Series { name: "This practice", values: vec![r(p.returned_for_information_rate), r(p.rejection_rate), r(p.managed_without_face_to_face_rate)] },
            Series { name: "Service", values: vec![r(s.returned_for_information_rate), r(s.rejection_rate), r(s.managed_without_face_to_face_rate)] },
        ],
        Layout::BarsAndLines,
        "Percent",
    )
}

async fn practice_quality(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    let q = query(&uri);
    let (from, to) = period(&state, &q)?;
    let practice = nonempty(q.get("practice"));
    let r: PracticeQualityReport = reports::practice_quality(&state, &v.user, practice, from, to).await?;
    let overview = r
        .practices
        .iter()
        .map(|p| PracticeRow {
            ods: p.ods_code.clone().unwrap_or_default(),
            name: p.name.clone(),
            referrals: p.referrals,
            returned: pct(p.returned_for_information_rate),
            rejected: pct(p.rejection_rate),
            remote: pct(p.managed_without_face_to_face_rate),
            median: days(p.median_working_days),
            p90: num(p.p90_working_days),
        })
        .collect();
    // Details for one practice (a GP's own, or the one an admin chose).
    let details = if practice.is_some() || v.user.role == Role::Referrer {
        r.practices
            .iter()
            .map(|p| PracticeDetail {
                name: p.name.clone(),
                ods: p.ods_code.clone().unwrap_or_default(),
                figures: figure_rows(p, &r.service, r.practice_count),
                reasons: p.rejections.iter().map(|(k, n)| (reason_label(k), *n, r.service.rejections.get(k).copied().unwrap_or(0))).collect(),
                topics: p
                    .returned_for_information_by_topic
                    .iter()
                    .map(|(k, n)| (topic_label(k), *n, r.service.returned_for_information_by_topic.get(k).copied().unwrap_or(0)))
                    .collect(),
                issues: p.photo_issues.iter().map(|i| (i.issue.replace('_', " "), i.referrals)).collect(),
                chart: rates_chart(p, &r.service),
            })
            .collect()
    } else {
        Vec::new()
    };
    let practice_q = practice.map(|p| format!("practice={}&", enc(p))).unwrap_or_default();
    Ok(html(&PracticePage {
        nav: Nav::for_viewer(&v, "/reports"),
        from: from.to_string(),
        to: to.to_string(),
        practice: practice.unwrap_or_default().to_string(),
        csv_href: format!("/reports/practice-quality.csv?{practice_q}from={from}&to={to}"),
        months: recent_months(telederm_domain::calendar::received_local_date(state.now()), 6),
        practice_count: r.practice_count,
        overview,
        details,
        service_figures: figure_rows(&r.service, &r.service, 1),
    }))
}

/// The last `n` calendar months to `today`'s, newest first: (e.g. "November 2026", "2026-11").
fn recent_months(today: NaiveDate, n: u32) -> Vec<(String, String)> {
    use chrono::Datelike;
    let first = today.with_day(1).unwrap_or(today);
    (0..n).filter_map(|i| first.checked_sub_months(chrono::Months::new(i))).map(|m| (m.format("%B %Y").to_string(), m.format("%Y-%m").to_string())).collect()
}

/// The period of a practice report's page or download: `month`, or `from` and `to`.
fn period_or_month(state: &AppState, q: &FormData) -> Result<(NaiveDate, NaiveDate), PageError> {
    Ok(reports::period_or_month(state, nonempty(q.get("from")), nonempty(q.get("to")), nonempty(q.get("month")))?)
}

async fn practice_quality_pdf(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    let q = query(&uri);
    let (from, to) = period_or_month(&state, &q)?;
    let r = reports::practice_quality(&state, &v.user, nonempty(q.get("practice")), from, to).await?;
    Ok(pdf_response(reports::pdf::practice_quality(&state, &r), &format!("practice-quality-{from}-{to}.pdf")))
}

async fn practice_quality_csv(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    let q = query(&uri);
    let (from, to) = period_or_month(&state, &q)?;
    let r = reports::practice_quality(&state, &v.user, nonempty(q.get("practice")), from, to).await?;
    Ok(csv_response(reports::csv::practice_quality(&r), &format!("practice-quality-{from}-{to}.csv")))
}

/// The service chosen on a service report's page (required).
fn service_param(q: &FormData) -> Result<String, PageError> {
    nonempty(q.get("service"))
        .map(str::to_string)
        .ok_or_else(|| PageError(ApiError::new(Code::InvalidQuery, "Choose a service: go back to the reports page and pick one.")))
}

/// A comparison as shown: the difference in points with its interval, and whether it is larger
/// than chance.
struct Shown {
    rate: String,
    difference: String,
    interval: String,
    marked: bool,
}

fn shown(c: &Option<Comparison>) -> Shown {
    match c {
        Some(c) => Shown {
            rate: format!("{:.1}%", c.rate * 100.0),
            difference: format!("{:+.1}", c.difference * 100.0),
            interval: format!("{:+.1} to {:+.1}", c.ci_low * 100.0, c.ci_high * 100.0),
            marked: c.significant,
        },
        None => Shown { rate: "–".into(), difference: "–".into(), interval: "–".into(), marked: false },
    }
}

fn cell(c: &Cell) -> String {
    c.count.map(|n| n.to_string()).unwrap_or_else(|| "[c]".into())
}

struct EquityRowView {
    group: String,
    referrals: String,
    answered: String,
    rejected: String,
    returned: String,
    remote: String,
    photos_reject: String,
    /// Rejection, information request, without face-to-face, photo refusal.
    comparisons: Vec<Shown>,
    median: String,
    outcomes: Vec<String>,
}

struct DimensionView {
    id: String,
    title: &'static str,
    rows: Vec<EquityRowView>,
    chart: Option<String>,
}

#[derive(Template)]
#[template(path = "reports_equity.html")]
struct EquityPage {
    nav: Nav,
    service: String,
    service_name: String,
    from: String,
    to: String,
    csv_href: String,
    overall: Vec<(&'static str, String)>,
    dimensions: Vec<DimensionView>,
    outcome_labels: Vec<&'static str>,
    method: String,
}

fn dimension_title(d: &str) -> &'static str {
    match d {
        "skin_tone_band" => "Skin tone band (estimated from the photos)",
        "fitzpatrick_type" => "Fitzpatrick skin type (recorded by the GP)",
        "age_band" => "Age band",
        "sex" => "Sex",
        _ => "Ethnic category (NHS Data Dictionary)",
    }
}

fn group_label(g: &str) -> String {
    if g == "not_recorded" { "Not recorded".into() } else { g.replace('_', " ") }
}

async fn equity(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    let q = query(&uri);
    let (from, to) = period(&state, &q)?;
    let service = service_param(&q)?;
    let r: EquityReport = reports::equity(&state, &v.user, &service, from, to).await?;
    let o = &r.overall;
    let overall = vec![
        ("Referrals received", o.referrals.to_string()),
        ("Answered", o.answered.to_string()),
        ("Rejection rate (of answers)", pct(o.rejection_rate)),
        ("Returned for more information (of referrals)", pct(o.information_request_rate)),
        ("Managed without a face-to-face appointment", pct(o.without_face_to_face_rate)),
        ("Photos refused by the photo check (of photos)", pct(o.photo_rejection_rate)),
        ("Median working days to answer", days(o.median_working_days)),
        ("90th percentile working days to answer", num(o.p90_working_days)),
    ];
    let codes: Vec<&str> = OutcomeCode::ALL.iter().map(|c| c.as_str()).collect();
    let dimensions = r
        .dimensions
        .iter()
        .map(|d| {
            let rows: Vec<EquityRowView> = d
                .groups
                .iter()
                .map(|g| EquityRowView {
                    group: group_label(&g.group),
                    referrals: cell(&g.referrals),
                    answered: cell(&g.answered),
                    rejected: cell(&g.rejected),
                    returned: cell(&g.returned_for_information),
                    remote: cell(&g.managed_without_face_to_face),
                    photos_reject: cell(&g.photos_reject),
                    comparisons: [&g.rejection, &g.information_request, &g.without_face_to_face, &g.photo_rejection].into_iter().map(shown).collect(),
                    median: days(g.median_working_days),
                    outcomes: codes.iter().map(|c| g.outcomes.get(*c).map(cell).unwrap_or_default()).collect(),
                })
                .collect();
            // Rejection rate by group (groups whose counts are shown), beside the service's.
            let shown_groups: Vec<_> = d.groups.iter().filter(|g| g.rejection.is_some()).collect();
            let chart = charts::bars(
                &shown_groups.iter().map(|g| group_label(&g.group)).collect::<Vec<_>>(),
                &[
                    Series { name: "Group's rejection rate", values: shown_groups.iter().map(|g| g.rejection.map_or(0.0, |c| c.rate * 100.0)).collect() },
                    Series { name: "Service's rate", values: shown_groups.iter().map(|_| o.rejection_rate.unwrap_or(0.0) * 100.0).collect() },
                ],
                Layout::BarsAndLines,
                "Rejected, percent of answers",
            );
            DimensionView { id: d.dimension.replace('_', "-"), title: dimension_title(&d.dimension), rows, chart }
        })
        .collect();
    Ok(html(&EquityPage {
        nav: Nav::for_viewer(&v, "/reports"),
        csv_href: format!("/reports/equity.csv?service={}&from={from}&to={to}", enc(&r.service)),
        service: r.service.clone(),
        service_name: r.service_name.clone(),
        from: from.to_string(),
        to: to.to_string(),
        overall,
        dimensions,
        outcome_labels: OutcomeCode::ALL.iter().map(|c| c.label()).collect(),
        method: r.method.clone(),
    }))
}

async fn equity_csv(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    let q = query(&uri);
    let (from, to) = period(&state, &q)?;
    let service = service_param(&q)?;
    let r = reports::equity(&state, &v.user, &service, from, to).await?;
    Ok(csv_response(reports::csv::equity(&r), &format!("equity-{}-{from}-{to}.csv", r.service)))
}

struct WeekRow {
    week: String,
    referrals: u64,
    answered: u64,
    within: u64,
    within_pct: String,
    breaches: u64,
    outcomes: Vec<u64>,
}

#[derive(Template)]
#[template(path = "reports_service.html")]
struct ServicePage {
    nav: Nav,
    service: String,
    service_name: String,
    from: String,
    to: String,
    target: u32,
    summary: Vec<(&'static str, String)>,
    weeks: Vec<WeekRow>,
    outcome_labels: Vec<&'static str>,
    turnaround: Vec<(String, u64)>,
    volume_chart: Option<String>,
    target_chart: Option<String>,
    mix_chart: Option<String>,
    turnaround_chart: Option<String>,
    csv_base: String,
}

async fn service(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> PageResult {
    let q = query(&uri);
    let (from, to) = period(&state, &q)?;
    let service = service_param(&q)?;
    let r: ServiceReport = reports::service_dashboard(&state, &v.user, &service, from, to).await?;
    let codes = OutcomeCode::ALL;
    let weeks: Vec<WeekRow> = r
        .weeks
        .iter()
        .map(|w| WeekRow {
            week: w.week_start.format("%-d %b %Y").to_string(),
            referrals: w.referrals,
            answered: w.answered,
            within: w.within_target,
            within_pct: w.within_target_percent.map(|p| format!("{p:.1}%")).unwrap_or_else(|| "–".into()),
            breaches: w.breaches,
            outcomes: codes.iter().map(|c| w.outcomes.get(c.as_str()).copied().unwrap_or(0)).collect(),
        })
        .collect();
    let cats: Vec<String> = r.weeks.iter().map(|w| w.week_start.format("%-d %b").to_string()).collect();
    let volume_chart = charts::bars(
        &cats,
        &[
            Series { name: "Referrals received", values: r.weeks.iter().map(|w| w.referrals as f64).collect() },
            Series { name: "Breaches", values: r.weeks.iter().map(|w| w.breaches as f64).collect() },
        ],
        Layout::BarsAndLines,
        "Referrals",
    );
    let target_chart = charts::bars(
        &cats,
        &[Series { name: "Answered within target", values: r.weeks.iter().map(|w| w.within_target_percent.unwrap_or(0.0)).collect() }],
        Layout::Stacked,
        "Percent of answers",
    );
    let present: Vec<OutcomeCode> = codes.iter().copied().filter(|c| r.weeks.iter().any(|w| w.outcomes.contains_key(c.as_str()))).collect();
    let mix_series: Vec<Series> = present
        .iter()
        .map(|c| Series { name: c.label(), values: r.weeks.iter().map(|w| w.outcomes.get(c.as_str()).copied().unwrap_or(0) as f64).collect() })
        .collect();
    let mix_chart = if mix_series.is_empty() { None } else { charts::bars(&cats, &mix_series, Layout::Stacked, "Answers") };
    let turnaround: Vec<(String, u64)> =
        r.turnaround.iter().map(|b| (format!("{}{}", b.working_days, if b.or_more { " or more" } else { "" }), b.referrals)).collect();
    let turnaround_chart = charts::bars(
        &r.turnaround.iter().map(|b| format!("{}{}", b.working_days, if b.or_more { "+" } else { "" })).collect::<Vec<_>>(),
        &[Series { name: "Answers", values: r.turnaround.iter().map(|b| b.referrals as f64).collect() }],
        Layout::Stacked,
        "Answers",
    );
    let summary = vec![
        ("Referrals received", r.referrals.to_string()),
        ("Answered", r.answered.to_string()),
        ("Answered within target", r.within_target_percent.map(|p| format!("{p:.1}%")).unwrap_or_else(|| "–".into())),
        ("Breaches", r.breaches.to_string()),
        ("Median working days to answer", days(r.median_working_days)),
        ("90th percentile working days", num(r.p90_working_days)),
    ];
    Ok(html(&ServicePage {
        nav: Nav::for_viewer(&v, "/reports"),
        csv_base: format!("/reports/service.csv?service={}&from={from}&to={to}", enc(&r.service)),
        service: r.service.clone(),
        service_name: r.service_name.clone(),
        from: from.to_string(),
        to: to.to_string(),
        target: r.target_working_days,
        summary,
        weeks,
        outcome_labels: codes.iter().map(|c| c.label()).collect(),
        turnaround,
        volume_chart,
        target_chart,
        mix_chart,
        turnaround_chart,
    }))
}

async fn service_csv(State(state): State<AppState>, v: Viewer, uri: OriginalUri) -> Result<Response, PageError> {
    let q = query(&uri);
    let (from, to) = period(&state, &q)?;
    let service = service_param(&q)?;
    let chart = match nonempty(q.get("chart")) {
        None => None,
        Some(c) => Some(reports::csv::Chart::parse(c).ok_or_else(|| {
            PageError(ApiError::new(Code::InvalidQuery, "`chart` is weeks, outcomes or turnaround."))
        })?),
    };
    let r = reports::service_dashboard(&state, &v.user, &service, from, to).await?;
    let name = match chart {
        Some(reports::csv::Chart::Weeks) => "weeks",
        Some(reports::csv::Chart::Outcomes) => "outcomes",
        Some(reports::csv::Chart::Turnaround) => "turnaround",
        None => "service",
    };
    Ok(csv_response(reports::csv::service(&r, chart), &format!("{name}-{}-{from}-{to}.csv", r.service)))
}
