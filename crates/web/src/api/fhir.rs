//! FHIR R4 endpoints (`docs/fhir-mapping.md`) and outcome letter downloads.
//!
//! * `GET  /fhir/ServiceRequest/{id}/$everything` — the referral as a `searchset` Bundle.
//! * `POST /fhir` — a `transaction` Bundle creates referrals; problems come back as an
//!   OperationOutcome (422), every one of them.
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
use telederm_domain::organisation::Role;
use telederm_fhir::export::ExportOptions;
use telederm_fhir::import::{ImportOptions, Issue, operation_outcome, read_bundle};
use telederm_fhir::letters::{Letter, LetterKind};
use telederm_fhir::store_io::{self, ImportError, LoadError, Sources};

use crate::AppState;
use crate::access::Capability;
use crate::audit;
use telederm_store::AuditOutcome;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};

const FHIR_JSON: &str = "application/fhir+json";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/fhir", post(transaction))
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

/// The referral's id once the user may see it (through the one audited door, [`crate::usecases::load`]).
async fn visible_referral(state: &AppState, user: &telederm_domain::organisation::User, id: &str) -> ApiResult<ReferralId> {
    Ok(crate::usecases::load(state, user, id, Capability::View).await?.id)
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

/// Referrers import for their own practice; system administrators for any (migrations).
async fn transaction(State(state): State<AppState>, CurrentUser(user): CurrentUser, body: axum::body::Bytes) -> Response {
    let bundle: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return outcome_response(StatusCode::BAD_REQUEST, "structure", format!("the body is not JSON: {e}")),
    };
    let actor = audit::Actor::user(&user);
    if !matches!(user.role, Role::Referrer | Role::SystemAdmin) {
        let _ = audit::record(&state, &actor, "fhir.import", audit::Target::many("referral"), AuditOutcome::Denied, "code=forbidden").await;
        return outcome_response(StatusCode::FORBIDDEN, "forbidden", format!("Your role ({}) cannot create referrals.", user.role.as_str()));
    }
    let opts = ImportOptions { known_services: Some(state.policies.keys().cloned().collect()) };
    // Check the practice before writing anything.
    match read_bundle(&bundle, &opts) {
        Err(issues) => return fhir_response(StatusCode::UNPROCESSABLE_ENTITY, &operation_outcome(&issues)),
        Ok(referrals) if user.role == Role::Referrer => {
            let own = match state.store.get_organisation(user.organisation_id).await {
                Ok(o) => o,
                Err(e) => return ApiError::from(e).into_response(),
            };
            let foreign: Vec<Issue> = referrals
                .iter()
                .filter(|r| !r.practice.ods_code.eq_ignore_ascii_case(&own.ods_code))
                .map(|r| Issue {
                    code: "forbidden",
                    expression: "ServiceRequest.requester".into(),
                    diagnostics: format!("the referral comes from practice {}; you can import only for {}", r.practice.ods_code, own.ods_code),
                })
                .collect();
            if !foreign.is_empty() {
                let _ = audit::record(&state, &actor, "fhir.import", audit::Target::many("referral"), AuditOutcome::Denied, "code=forbidden; another practice").await;
                return fhir_response(StatusCode::FORBIDDEN, &operation_outcome(&foreign));
            }
        }
        Ok(_) => {}
    }
    let imported = store_io::import_bundle(&sources(&state), &bundle, &opts).await;
    let (outcome, detail) = match &imported {
        Ok(ids) => (AuditOutcome::Allowed, format!("created={}", ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))),
        Err(ImportError::Invalid(_)) => (AuditOutcome::Failed, "code=invalid".to_string()),
        Err(_) => (AuditOutcome::Failed, "code=internal_error".to_string()),
    };
    if let Err(e) = audit::record(&state, &actor, "fhir.import", audit::Target::many("referral"), outcome, detail).await {
        return e.into_response();
    }
    match imported {
        Ok(ids) => {
            let entries: Vec<Value> = ids
                .iter()
                .map(|id| json!({ "response": { "status": "201 Created", "location": format!("ServiceRequest/{id}") } }))
                .collect();
            fhir_response(StatusCode::CREATED, &json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": entries }))
        }
        Err(e @ ImportError::Invalid(_)) => {
            let status = if e.operation_outcome().to_string().contains("\"duplicate\"") { StatusCode::CONFLICT } else { StatusCode::UNPROCESSABLE_ENTITY };
            fhir_response(status, &e.operation_outcome())
        }
        Err(e) => {
            tracing::error!(error = %e, "FHIR import");
            fhir_response(StatusCode::INTERNAL_SERVER_ERROR, &e.operation_outcome())
        }
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
        .ok_or_else(|| ApiError::conflict("no_outcome", "There is no outcome yet, so there is no letter."))?;
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
        other => return Err(ApiError::bad_request("bad_format", format!("format {other:?}: use pdf or html"))),
    })
}
