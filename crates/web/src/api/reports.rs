//! Report endpoints (issue 17): thin adapters over [`telederm_app::reports`]. JSON by default;
//! `Accept: text/csv` answers the same figures as CSV.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use telederm_app::reports::{self, EquityReport, PracticeQualityReport, ServiceReport};

use super::ApiQuery;
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiResult, ErrorBody};

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PracticeQualityQuery {
    /// The practice's ODS code; omit for every practice you may see.
    pub practice: Option<String>,
    /// First day received (YYYY-MM-DD); default 89 days before `to`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day received (YYYY-MM-DD), inclusive; default today.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
    /// A calendar month (YYYY-MM) instead of `from` and `to`: the monthly summary.
    #[param(value_type = Option<String>, pattern = r"^[0-9]{4}-[0-9]{2}$")]
    pub month: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ServiceQuery {
    /// The service's id, e.g. `homerton`.
    pub service: String,
    /// First day received (YYYY-MM-DD); default 89 days before `to`.
    #[param(value_type = Option<String>, format = Date)]
    pub from: Option<String>,
    /// Last day received (YYYY-MM-DD), inclusive; default today.
    #[param(value_type = Option<String>, format = Date)]
    pub to: Option<String>,
}

/// Whether the caller asked for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))
}

/// Whether the caller asked for PDF.
pub fn wants_pdf(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/pdf"))
}

/// A PDF download.
pub fn pdf_response(body: Vec<u8>, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

/// A CSV download.
pub fn csv_response(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/reports/practice-quality", operation_id = "report_practice_quality", tag = "reports",
    summary = "Per-practice referral quality beside the service's figures (GPs: their own practice; service admins: their services' practices)",
    params(PracticeQualityQuery),
    responses(
        (status = 200, description = "The report (JSON; CSV with Accept: text/csv; the summary as a tagged PDF with Accept: application/pdf)", content((PracticeQualityReport = "application/json"), (String = "text/csv"), ("application/pdf"))),
        (status = 400, description = "A date is not YYYY-MM-DD, or `month` is not YYYY-MM (invalid_query)", body = ErrorBody),
        (status = 404, description = "No practice with that ODS code (not_found)", body = ErrorBody),
        (status = 422, description = "`from` is after `to`, the period is longer than three years, no such month, or `month` with `from` or `to` (invalid_period)", body = ErrorBody),
        (status = 403, description = "Not your practice, or not a role with reports (report_not_permitted)", body = ErrorBody),
    ))]
pub async fn practice_quality(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<PracticeQualityQuery>,
) -> ApiResult<Response> {
    let (from, to) = reports::period_or_month(&state, q.from.as_deref(), q.to.as_deref(), q.month.as_deref())?;
    let r = reports::practice_quality(&state, &user, q.practice.as_deref(), from, to).await?;
    Ok(if wants_csv(&headers) {
        csv_response(reports::csv::practice_quality(&r), &format!("practice-quality-{from}-{to}.csv"))
    } else if wants_pdf(&headers) {
        pdf_response(reports::pdf::practice_quality(&state, &r), &format!("practice-quality-{from}-{to}.pdf"))
    } else {
        Json(r).into_response()
    })
}

#[utoipa::path(get, path = "/reports/equity", operation_id = "report_equity", tag = "reports",
    summary = "Equity monitoring of a service: outcomes, rejections, information requests, photo verdicts and working days by skin tone, Fitzpatrick type, age band, sex and ethnic category, with suppressed cells (service admins)",
    params(ServiceQuery),
    responses(
        (status = 200, description = "The report (JSON, or CSV with Accept: text/csv); a suppressed count is `{\"count\": null, \"suppressed\": true}`", content((EquityReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A date is not YYYY-MM-DD (invalid_query)", body = ErrorBody),
        (status = 403, description = "Not an admin of the service (report_not_permitted)", body = ErrorBody),
        (status = 422, description = "No such service (unknown_service), or `from` after `to` or a period longer than three years (invalid_period)", body = ErrorBody),
    ))]
pub async fn equity(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ServiceQuery>,
) -> ApiResult<Response> {
    let (from, to) = reports::period(&state, q.from.as_deref(), q.to.as_deref())?;
    let r = reports::equity(&state, &user, &q.service, from, to).await?;
    Ok(if wants_csv(&headers) {
        csv_response(reports::csv::equity(&r), &format!("equity-{}-{from}-{to}.csv", r.service))
    } else {
        Json(r).into_response()
    })
}

#[utoipa::path(get, path = "/reports/service", operation_id = "report_service", tag = "reports",
    summary = "A service's dashboard: weekly volumes, answered within target, breaches, outcome mix and turnaround (service admins)",
    params(ServiceQuery),
    responses(
        (status = 200, description = "The report (JSON, or CSV of the weekly table with Accept: text/csv)", content((ServiceReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A date is not YYYY-MM-DD (invalid_query)", body = ErrorBody),
        (status = 403, description = "Not an admin of the service (report_not_permitted)", body = ErrorBody),
        (status = 422, description = "No such service (unknown_service), or `from` after `to` or a period longer than three years (invalid_period)", body = ErrorBody),
    ))]
pub async fn service(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ServiceQuery>,
) -> ApiResult<Response> {
    let (from, to) = reports::period(&state, q.from.as_deref(), q.to.as_deref())?;
    let r = reports::service_dashboard(&state, &user, &q.service, from, to).await?;
    Ok(if wants_csv(&headers) {
        csv_response(reports::csv::service(&r, None), &format!("service-{}-{from}-{to}.csv", r.service))
    } else {
        Json(r).into_response()
    })
}
