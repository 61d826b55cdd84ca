//! The JSON API under `/api/v1`. Its contract is the OpenAPI document made from the handlers'
//! `#[utoipa::path]` attributes and the body types ([`openapi`]), served at
//! `GET /api/v1/openapi.json`; a test checks that every route here is documented there.

pub(crate) mod admin;
pub(crate) mod documents;
pub(crate) mod photos;
mod fhir;
pub mod openapi;
mod referrals;
pub(crate) mod reports;
mod session;
pub(crate) mod teaching;
pub(crate) mod triage;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use telederm_domain::eligibility::{EligibilityAnswers, EligibilityDecision, evaluate};
use telederm_domain::policy::ServicePolicy;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult, Code, ErrorBody};


pub fn routes(state: &AppState) -> Router<AppState> {
    let upload_limit = usize::try_from(state.settings.max_upload_bytes).unwrap_or(usize::MAX) + 64 * 1024;
    let document_limit = usize::try_from(state.settings.max_document_bytes).unwrap_or(usize::MAX) + 64 * 1024;
    // A FHIR Bundle carries its photos base64-encoded: allow it what the server's hard body limit
    // allows (several photos), not the 2 MB of other JSON bodies.
    let fhir_limit = crate::hard_body_limit(&state.settings);
    Router::new()
        .route("/openapi.json", get(openapi::serve))
        .route("/auth/sign-in", post(session::sign_in))
        .route("/auth/sign-out", post(session::sign_out))
        .route("/auth/change-password", post(session::change_password))
        .route("/me", get(session::me))
        .route("/services", get(list_services))
        .route("/services/suggestions", get(suggest_services))
        .route("/services/{id}", get(get_service))
        .route("/eligibility/check", post(check_eligibility))
        .route("/referrals", get(referrals::list).post(referrals::create))
        .route("/referrals/{id}", get(referrals::detail).patch(referrals::update_draft))
        .route("/referrals/{id}/submit", post(referrals::submit))
        .route("/referrals/{id}/claim", post(referrals::claim))
        .route("/referrals/{id}/request-information", post(referrals::request_information))
        .route("/referrals/{id}/reply", post(referrals::reply))
        .route("/referrals/{id}/outcome", post(referrals::record_outcome))
        .route("/referrals/{id}/withdraw", post(referrals::withdraw))
        .route("/referrals/{id}/close", post(referrals::close))
        .route("/referrals/{id}/discard", post(referrals::discard))
        .route("/referrals/{id}/copy", post(referrals::copy))
        .route(
            "/referrals/{id}/photos",
            get(photos::list).post(photos::upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route("/referrals/{id}/photos/{photo_id}", axum::routing::delete(photos::delete))
        .route("/referrals/{id}/photos/{photo_id}/face-not-identifiable", post(photos::confirm_face))
        .route("/referrals/{id}/photos/{photo_id}/{variant}", get(photos::download))
        .route(
            "/referrals/{id}/documents",
            get(documents::list).post(documents::upload).layer(axum::extract::DefaultBodyLimit::max(document_limit)),
        )
        .route("/referrals/{id}/documents/{document_id}", get(documents::download).delete(documents::delete))
        .route("/directory", get(documents::directory))
        .route("/worklist", get(referrals::worklist))
        .route("/reports/practice-quality", get(reports::practice_quality))
        .route("/reports/equity", get(reports::equity))
        .route("/reports/service", get(reports::service))
        .route("/admin/jobs", get(admin::list))
        .route("/admin/jobs/{id}/retry", post(admin::retry_one))
        .merge(fhir::routes(fhir_limit))
        .merge(triage::routes())
        .merge(teaching::routes())
        .fallback(|| async { ApiError::not_found("API route") })
}

/// A JSON body whose rejections use our error format: 400 for malformed JSON, 422 for JSON of the
/// wrong shape (naming the field), 415 without a JSON content type.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::new(Code::InvalidBody,
                format!("The request body has the wrong shape: {}. Check the field against the API document.", e.body_text()),
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(body_too_large()),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                Code::UnsupportedMediaType,
                "Send the body as JSON with `Content-Type: application/json`.",
            )),
            Err(e) => Err(ApiError::new(Code::MalformedJson,
                format!("The request body is not valid JSON: {}.", e.body_text()),
            )),
        }
    }
}

/// `413 body_too_large`: the request body is over the limit for its route.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        Code::BodyTooLarge,
        "The request body is larger than this service accepts. Send less (photos go one at a time to their upload route).",
    )
}

/// A query string whose rejections use our error format: 400 `invalid_query` naming the problem.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(e) => Err(ApiError::new(Code::InvalidQuery,
                format!("The query string is not right: {}. Check the parameters against the API document.", e.body_text()),
            )),
        }
    }
}

/// Turns a panic inside a handler into a 500 in our error format (and logs it).
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    ApiError::internal("handler panicked", detail).into_response()
}

/// `GET /services`: the service directory.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ServiceList {
    pub services: Vec<ServicePolicy>,
}

#[utoipa::path(get, path = "/services", operation_id = "list_services", tag = "services",
    summary = "Service directory (policies)",
    responses((status = 200, description = "Services", body = ServiceList)))]
async fn list_services(State(state): State<AppState>, _user: CurrentUser) -> Json<ServiceList> {
    Json(ServiceList { services: state.policies.values().cloned().collect() })
}

use axum::extract::{Path, State};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SuggestionQuery {
    /// The patient's date of birth, YYYY-MM-DD.
    #[param(value_type = String, format = Date, example = "2017-05-14")]
    date_of_birth: chrono::NaiveDate,
    /// The patient's postcode, e.g. WD17 1AA.
    #[param(example = "WD17 1AA")]
    postcode: String,
}

/// One service and how it fits the patient.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ServiceSuggestion {
    /// The service's id.
    pub service: String,
    pub name: String,
    /// The patient's age and postcode are within the service's limits.
    pub suits: bool,
    /// Why, in words.
    pub reason: String,
}

/// `GET /services/suggestions`: every service, those that suit the patient first.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ServiceSuggestions {
    pub suggestions: Vec<ServiceSuggestion>,
}

/// Which services suit a patient of this age and postcode (age range and catchment; the checklist
/// decides the rest), each with the reason, before the referrer chooses one.
#[utoipa::path(get, path = "/services/suggestions", operation_id = "suggest_services", tag = "services",
    summary = "Services that suit a patient's age and postcode, with the reason",
    params(SuggestionQuery),
    responses(
        (status = 200, description = "Every service, those that suit the patient first", body = ServiceSuggestions),
        (status = 400, description = "A date of birth that is not a date, or a parameter missing (invalid_query)", body = ErrorBody),
        (status = 422, description = "A date of birth in the future, or not a full UK postcode (invalid_patient_details)", body = ErrorBody),
    ))]
async fn suggest_services(State(state): State<AppState>, _user: CurrentUser, ApiQuery(q): ApiQuery<SuggestionQuery>) -> ApiResult<Json<ServiceSuggestions>> {
    let postcode = telederm_domain::eligibility::Postcode::parse(&q.postcode)
        .map_err(|_| ApiError::new(Code::InvalidPatientDetails, "The postcode is not a full UK postcode, like E8 1DY. Check it and try again."))?;
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::London).date_naive();
    let age = telederm_domain::eligibility::age_in_years(q.date_of_birth, today)
        .ok_or_else(|| ApiError::new(Code::InvalidPatientDetails, "The date of birth is in the future. Check it and try again."))?;
    let mut suggestions: Vec<ServiceSuggestion> = state
        .policies
        .values()
        .map(|p| {
            let fit = p.fit_for(age, postcode.district());
            ServiceSuggestion { service: p.id.clone(), name: p.name.clone(), suits: fit.suits, reason: fit.reason }
        })
        .collect();
    suggestions.sort_by_key(|s| !s.suits);
    Ok(Json(ServiceSuggestions { suggestions }))
}

#[utoipa::path(get, path = "/services/{id}", operation_id = "get_service", tag = "services",
    summary = "One service policy",
    params(("id" = String, Path, description = "The service's id, e.g. west-herts-paediatric")),
    responses(
        (status = 200, description = "Policy", body = ServicePolicy),
        (status = 404, description = "No such service", body = ErrorBody),
    ))]
async fn get_service(State(state): State<AppState>, _user: CurrentUser, Path(id): Path<String>) -> ApiResult<Response> {
    let policy = state.policies.get(&id).ok_or_else(|| ApiError::not_found("service"))?;
    Ok(Json(policy).into_response())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EligibilityCheck {
    /// The service's id.
    service: String,
    /// Read strictly: an unknown, missing or wrong field is refused (422) naming the field.
    #[schema(value_type = EligibilityAnswers)]
    answers: serde_json::Value,
}

/// Evaluates eligibility answers without saving anything (for live feedback while filling in).
#[utoipa::path(post, path = "/eligibility/check", operation_id = "check_eligibility", tag = "services",
    summary = "Evaluate eligibility answers against a service (nothing saved)",
    request_body = EligibilityCheck,
    responses(
        (status = 200, description = "Decision", body = EligibilityDecision),
        (status = 422, description = "Unknown service (unknown_service), or the answers have a wrong or missing value (the code names the problem)", body = ErrorBody),
    ))]
async fn check_eligibility(
    State(state): State<AppState>,
    _user: CurrentUser,
    ApiJson(body): ApiJson<EligibilityCheck>,
) -> ApiResult<Response> {
    let policy = state.policy(&body.service)?;
    let answers = EligibilityAnswers::from_json(&body.answers)
        .map_err(|e| ApiError::new(Code::InvalidEligibilityAnswers, e.to_string()))?;
    Ok(Json(evaluate(policy, &answers)).into_response())
}

/// Every error under `/api/` in the API's shape, whoever made it: body limits (413 from the
/// size limits before any handler runs), unknown routes and methods, and extractor rejections
/// answer `{"code", "message"}` (an OperationOutcome under `/api/v1/fhir`) instead of axum's plain
/// text. Errors already in JSON pass through untouched.
pub async fn uniform_errors(axum::extract::State(state): axum::extract::State<AppState>, req: Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    if !path.starts_with("/api/") || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.contains("json") {
        return resp;
    }
    let mib = |b: u64| b.div_ceil(1024 * 1024);
    let (code, fhir_code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            Code::BodyTooLarge,
            "too-costly",
            format!(
                "The request is too large: a photo can be up to {} MB and any other request up to {} MB. Send a smaller file, or fewer resources at once.",
                mib(state.settings.max_upload_bytes),
                mib(state.settings.max_body_bytes as u64)
            ),
        ),
        StatusCode::NOT_FOUND => (Code::NotFound, "not-found", "There is no such API address. GET /api/v1/openapi.json lists them.".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => (
            Code::MethodNotAllowed,
            "not-supported",
            "This address does not take that method. GET /api/v1/openapi.json lists the methods of each address.".to_string(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            Code::UnsupportedMediaType,
            "structure",
            "Send the body as the API document says (JSON with Content-Type: application/json, or multipart/form-data for photos).".to_string(),
        ),
        s if s.is_server_error() => (Code::InternalError, "exception", "Something went wrong on our side. Try again; if it keeps happening, tell your administrator.".to_string()),
        _ => (Code::BadRequest, "invalid", "The request could not be read. Check it against the API document (GET /api/v1/openapi.json).".to_string()),
    };
    let (parts, _) = resp.into_parts();
    let mut headers = parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    let mut out = if path.starts_with("/api/v1/fhir") {
        let body = telederm_fhir::import::operation_outcome(&[telederm_fhir::Issue { code: fhir_code, expression: "Bundle".into(), diagnostics: message }]);
        (status, [(header::CONTENT_TYPE, "application/fhir+json")], body.to_string()).into_response()
    } else {
        // The status stays the one the layer chose (the code names the kind of problem).
        (status, axum::Json(ApiError::new(code, message))).into_response()
    };
    for (name, value) in headers.iter() {
        if name != header::CONTENT_TYPE {
            out.headers_mut().entry(name.clone()).or_insert(value.clone());
        }
    }
    out
}
