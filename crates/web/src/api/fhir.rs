//! FHIR R4 endpoints (`docs/fhir-mapping.md`) and outcome letter downloads.
//!
//! * `GET  /fhir/ServiceRequest/{id}/$everything` — the referral as a `searchset` Bundle.
//! * `POST /fhir[?submit=true]` — a `transaction` Bundle becomes the caller's draft referrals
//!   (sent at once with `submit=true`); never outcomes or accounts ([`telederm_app::imports`]).
//!   Problems come back as an OperationOutcome, every one of them.
//! * `GET  /fhir/Questionnaire/telederm-referral` — the proforma Questionnaire.
//! * `GET  /referrals/{id}/letters/{kind}?format=pdf|html` — `kind` is `gp`, `patient` or
//!   `patient-large-print`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use telederm_domain::ReferralId;
use telederm_fhir::export::ExportOptions;
use telederm_fhir::import::{Issue, operation_outcome, operation_outcome_with};
use telederm_fhir::letters::{Letter, LetterKind};
use telederm_fhir::store_io::{self, LoadError, Sources};

use crate::AppState;
use telederm_app::access::Capability;
use crate::audit;
use telederm_store::AuditOutcome;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code};

const FHIR_JSON: &str = "application/fhir+json";

pub fn routes(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/fhir", post(transaction).layer(axum::extract::DefaultBodyLimit::max(body_limit)))
        .route("/fhir/ServiceRequest/{id}/$everything", get(everything))
        .route("/fhir/Questionnaire/telederm-referral", get(questionnaire))
        .route("/referrals/{id}/letters/{kind}", get(letter))
}

fn sources(state: &AppState) -> Sources<'_> {
    Sources {
        store: &state.store,
        blobs: &state.blobs,
        service_names: state.policies.iter().map(|(id, p)| (id.clone(), p.name.clone())).collect(),
    }
}

/// `Base` of full URLs: the request's own host when known.
fn export_options(headers: &HeaderMap) -> ExportOptions {
    let mut opts = ExportOptions::new(Utc::now());
    if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
        opts.base_url = format!("{scheme}://{host}/api/v1/fhir");
    }
    opts
}

fn fhir_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, FHIR_JSON)], body.to_string()).into_response()
}

fn outcome_response(status: StatusCode, code: &'static str, text: String) -> Response {
    fhir_response(status, &operation_outcome(&[Issue { code, expression: "Bundle".into(), diagnostics: text }]))
}

/// The referral's id once the user may see it (through the one audited door, [`telederm_app::referrals::load`]).
async fn visible_referral(state: &AppState, user: &telederm_domain::organisation::User, id: &str) -> ApiResult<ReferralId> {
    Ok(telederm_app::referrals::load(state, user, id, Capability::View).await?.id)
}

fn load_error(e: LoadError) -> ApiError {
    match e {
        LoadError::NotFound => ApiError::not_found("referral"),
        other => ApiError::internal("loading a referral for FHIR", other),
    }
}

async fn everything(State(state): State<AppState>, CurrentUser(user): CurrentUser, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let id = visible_referral(&state, &user, &id).await?;
    audit::record(&state, &audit::Actor::user(&user), "fhir.export", audit::Target::referral(id), AuditOutcome::Allowed, "").await?;
    let bundle = store_io::everything(&sources(&state), id, &export_options(&headers)).await.map_err(load_error)?;
    Ok(fhir_response(StatusCode::OK, &bundle))
}

async fn questionnaire() -> Response {
    fhir_response(StatusCode::OK, &telederm_fhir::questionnaire::questionnaire())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    /// `true`: send each imported draft at once, by the ordinary submit rules.
    #[serde(default)]
    submit: bool,
}

/// A referrer's import: each referral in the Bundle becomes the caller's draft (sent at once with
/// `?submit=true`); see [`telederm_app::imports`]. `201` with a `transaction-response` Bundle whose
/// entries carry what was not taken over as `information`; otherwise an OperationOutcome.
async fn transaction(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    super::ApiQuery(q): super::ApiQuery<ImportQuery>,
    body: axum::body::Bytes,
) -> Response {
    let bundle: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return outcome_response(StatusCode::BAD_REQUEST, "structure", format!("the body is not JSON: {e}")),
    };
    match telederm_app::imports::import_as_caller(&state, &user, &bundle, q.submit).await {
        Ok(drafts) => {
            let entries: Vec<Value> = drafts
                .iter()
                .map(|d| {
                    json!({ "response": {
                        "status": "201 Created",
                        "location": format!("ServiceRequest/{}", d.id),
                        "outcome": operation_outcome_with(&[], &d.information),
                    }, "resource": { "resourceType": "ServiceRequest", "id": d.id.to_string(), "status": if d.status == telederm_domain::referral::ReferralStatus::Draft { "draft" } else { "active" } } })
                })
                .collect();
            fhir_response(StatusCode::CREATED, &json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": entries }))
        }
        Err(refusal) => fhir_response(StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY), &operation_outcome_with(&refusal.errors, &refusal.information)),
    }
}

#[derive(Deserialize)]
struct LetterQuery {
    #[serde(default)]
    format: Option<String>,
}

async fn letter(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((id, kind)): Path<(String, String)>,
    super::ApiQuery(q): super::ApiQuery<LetterQuery>,
) -> ApiResult<Response> {
    let id = visible_referral(&state, &user, &id).await?;
    let kind = LetterKind::parse(&kind)
        .ok_or_else(|| ApiError::not_found("letter (use gp, patient or patient-large-print)"))?;
    audit::record(&state, &audit::Actor::user(&user), "letter.download", audit::Target::referral(id), AuditOutcome::Allowed, format!("kind={}", kind.file_stem())).await?;
    let record = store_io::load_record(&sources(&state), id).await.map_err(load_error)?;
    let letter = Letter::for_record(&record, kind)
        .ok_or_else(|| ApiError::new(Code::NoOutcome, "There is no outcome yet, so there is no letter."))?;
    let stem = format!("{}-{}", kind.file_stem(), id);
    Ok(match q.format.as_deref().unwrap_or("pdf") {
        "pdf" => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{stem}.pdf\"")),
            ],
            letter.to_pdf(),
        )
            .into_response(),
        "html" => ([(header::CONTENT_TYPE, "text/html; charset=utf-8".to_string())], letter.to_html()).into_response(),
        other => return Err(ApiError::new(Code::BadFormat, format!("format {other:?}: use pdf or html"))),
    })
}
