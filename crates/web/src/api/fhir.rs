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
use crate::error::{ApiError, ApiResult, Code, ErrorBody};

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
        service_names: state.service_names(),
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

#[utoipa::path(get, path = "/fhir/ServiceRequest/{id}/$everything", operation_id = "fhir_everything", tag = "fhir",
    summary = "The referral as a FHIR Bundle",
    params(("id" = uuid::Uuid, Path, description = "The referral's id")),
    responses(
        (status = 200, description = "A searchset Bundle: the ServiceRequest and what it refers to", content(
            (FhirBundle = "application/fhir+json"))),
        (status = 404, description = "No such record you can see", body = ErrorBody),
    ))]
async fn everything(State(state): State<AppState>, CurrentUser(user): CurrentUser, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let id = visible_referral(&state, &user, &id).await?;
    audit::record(&state, &audit::Actor::user(&user), "fhir.export", audit::Target::referral(id), AuditOutcome::Allowed, "").await?;
    let bundle = store_io::everything(&sources(&state), id, &export_options(&headers)).await.map_err(load_error)?;
    Ok(fhir_response(StatusCode::OK, &bundle))
}

#[utoipa::path(get, path = "/fhir/Questionnaire/telederm-referral", operation_id = "fhir_questionnaire", tag = "fhir",
    summary = "The referral Questionnaire Telederm publishes (public: no patient data)",
    responses(
        (status = 200, description = "Questionnaire", content((Questionnaire = "application/fhir+json"))),
    ))]
async fn questionnaire() -> Response {
    fhir_response(StatusCode::OK, &telederm_fhir::questionnaire::questionnaire())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ImportQuery {
    /// `true`: send each imported draft at once, by the ordinary submit rules.
    #[serde(default)]
    submit: bool,
}

/// A referrer's import: each referral in the Bundle becomes the caller's draft (sent at once with
/// `?submit=true`); see [`telederm_app::imports`]. `201` with a `transaction-response` Bundle whose
/// entries carry what was not taken over as `information`; otherwise an OperationOutcome.
#[utoipa::path(post, path = "/fhir", operation_id = "fhir_import", tag = "fhir",
    summary = "Import a FHIR R4 transaction Bundle as the caller's draft referrals (referrers only; never outcomes or accounts)",
    params(ImportQuery),
    request_body(content(
        (ImportBundle = "application/fhir+json"),
        (ImportBundle = "application/json"))),
    responses(
        (status = 201, description = "Created; a transaction-response Bundle whose entries carry what was not taken over as information issues", content(
            (FhirBundle = "application/fhir+json"))),
        (status = 400, description = "The body is not JSON (an OperationOutcome), or the query is wrong (an Error)", content(
            (OperationOutcome = "application/fhir+json"), (ErrorBody = "application/json"))),
        (status = 403, description = "Only referrers import (an OperationOutcome), or csrf_refused (an Error)", content(
            (OperationOutcome = "application/fhir+json"), (ErrorBody = "application/json"))),
        (status = 413, description = "The Bundle is larger than this node accepts", content(
            (OperationOutcome = "application/fhir+json"))),
        (status = 422, description = "An OperationOutcome naming each problem", content(
            (OperationOutcome = "application/fhir+json"))),
    ))]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LetterQuery {
    /// pdf (default) or html.
    #[serde(default)]
    #[param(value_type = Option<LetterFormat>, inline)]
    format: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
enum LetterFormat {
    Pdf,
    Html,
}

/// The letters of an outcome (`GET /referrals/{id}/letters/{kind}`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "kebab-case")]
enum LetterKindParam {
    Gp,
    Patient,
    PatientLargePrint,
}

#[utoipa::path(get, path = "/referrals/{id}/letters/{kind}", operation_id = "outcome_letter", tag = "letters",
    summary = "Outcome letter for the GP or the patient",
    params(("id" = uuid::Uuid, Path, description = "The referral's id"), ("kind" = inline(LetterKindParam), Path, description = "gp, patient or patient-large-print"), LetterQuery),
    responses(
        (status = 200, description = "Letter", content(("application/pdf"), ("text/html"))),
        (status = 404, description = "No such record you can see", body = ErrorBody),
        (status = 409, description = "There is no outcome yet, so there is no letter (no_outcome)", body = ErrorBody),
    ))]
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
        // The letter's own inline style (its type sizes: large print is 16 pt) is allowed by hash.
        "html" => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                (header::CONTENT_SECURITY_POLICY, crate::security::csp_allowing_style(&letter.style_csp_source())),
            ],
            letter.to_html(),
        )
            .into_response(),
        other => return Err(ApiError::new(Code::BadFormat, format!("format {other:?}: use pdf or html"))),
    })
}

// FHIR resources as the API document describes them: the top level of each (its `resourceType`
// and the fields a client needs to find its way), the rest being FHIR R4's own
// (docs/fhir-mapping.md). They document JSON the fhir crate builds; they are never serialised.

/// `"Bundle"`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum BundleResourceType {
    Bundle,
}

/// A FHIR R4 Bundle that Telederm answers: a `searchset` (`$everything`) or a
/// `transaction-response` (an import).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub(crate) struct FhirBundle {
    resource_type: BundleResourceType,
    /// searchset or transaction-response.
    #[schema(rename = "type")]
    kind: String,
    entry: Vec<FhirBundleEntry>,
}

/// One entry of a Bundle Telederm answers.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
struct FhirBundleEntry {
    full_url: Option<String>,
    resource: FhirResource,
    /// In a transaction-response: what became of the entry.
    response: Option<FhirEntryResponse>,
}

/// A FHIR R4 resource: `resourceType` names it; the other fields are FHIR's.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
struct FhirResource {
    resource_type: String,
    id: Option<String>,
}

/// `Bundle.entry.response` of a transaction-response.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct FhirEntryResponse {
    /// e.g. `201 Created`.
    status: String,
    /// e.g. `ServiceRequest/{id}`.
    location: Option<String>,
    outcome: Option<OperationOutcome>,
}

/// A FHIR R4 Bundle to import: a `transaction` (every entry a POST), or a `collection`, `searchset`
/// or `batch` such as Telederm's own export. It must hold a ServiceRequest (the referral).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
struct ImportBundle {
    resource_type: BundleResourceType,
    #[schema(rename = "type")]
    kind: ImportBundleType,
    entry: Vec<ImportBundleEntry>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
enum ImportBundleType {
    Transaction,
    Collection,
    Searchset,
    Batch,
}

/// One entry of a Bundle to import.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
struct ImportBundleEntry {
    full_url: Option<String>,
    resource: FhirResource,
    /// In a transaction: `{"method": "POST", "url": "<resourceType>"}`.
    request: Option<FhirEntryRequest>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct FhirEntryRequest {
    method: String,
    url: Option<String>,
}

/// `"OperationOutcome"`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum OperationOutcomeResourceType {
    OperationOutcome,
}

/// A FHIR R4 OperationOutcome: every problem found (`error`) and what was read but not taken over
/// (`information`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub(crate) struct OperationOutcome {
    resource_type: OperationOutcomeResourceType,
    issue: Vec<OperationOutcomeIssue>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct OperationOutcomeIssue {
    severity: IssueSeverity,
    /// The FHIR issue type: required, value, invalid, not-found, structure, duplicate, ...
    code: String,
    diagnostics: Option<String>,
    /// Where, e.g. `Bundle.entry[2].resource.birthDate`.
    expression: Option<Vec<String>>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
enum IssueSeverity {
    Fatal,
    Error,
    Warning,
    Information,
}

/// `"Questionnaire"`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum QuestionnaireResourceType {
    Questionnaire,
}

/// The FHIR R4 Questionnaire of the referral proforma: each item's `linkId` is the dotted path of
/// the field in the JSON API.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub(crate) struct Questionnaire {
    resource_type: QuestionnaireResourceType,
    id: String,
    url: String,
    version: String,
    status: String,
    item: Vec<QuestionnaireItem>,
}

/// A Questionnaire item: a group (with items of its own) or a question.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
struct QuestionnaireItem {
    link_id: String,
    /// group, boolean, date, string, integer, choice, ...
    #[schema(rename = "type")]
    kind: String,
    text: Option<String>,
    #[schema(no_recursion)]
    item: Option<Vec<QuestionnaireItem>>,
}
