//! The JSON API's contract: an OpenAPI 3.1 document made from the handlers' `#[utoipa::path]`
//! attributes and the body types' `ToSchema` derives, served at `GET /api/v1/openapi.json`.
//!
//! What every operation can answer besides its own responses is added here once
//! ([`CommonAnswers`]): 401 without a session, 403 for a cross-site state change, 400/413/415 for
//! bodies and parameters. Tests (`crates/web/tests/openapi.rs`) check that the document lists every
//! route the router serves and that no body is described as a bare object.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Telederm API",
        version = "1",
        description = "Teledermatology referrals. Errors are {code, message, details}; codes are stable."
    ),
    servers((url = "/api/v1")),
    security(("session" = [])),
    paths(
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        serve,
        super::session::sign_in,
        super::session::change_password,
        super::session::sign_out,
        super::session::me,
        super::list_services,
        super::suggest_services,
        super::get_service,
        super::check_eligibility,
        super::referrals::list,
        super::referrals::create,
        super::referrals::detail,
        super::referrals::update_draft,
        super::referrals::submit,
        super::referrals::claim,
        super::referrals::request_information,
        super::referrals::reply,
        super::referrals::record_outcome,
        super::referrals::withdraw,
        super::referrals::close,
        super::referrals::discard,
        super::referrals::copy,
        super::referrals::worklist,
        super::photos::list,
        super::photos::upload,
        super::photos::delete,
        super::photos::confirm_face,
        super::photos::download,
        super::documents::upload,
        super::documents::list,
        super::documents::download,
        super::documents::delete,
        super::documents::directory,
        super::reports::practice_quality,
        super::reports::equity,
        super::reports::service,
        super::admin::list,
        super::admin::retry_one,
        super::fhir::transaction,
        super::fhir::everything,
        super::fhir::questionnaire,
        super::fhir::letter,
        super::triage::list_diagnoses,
        super::triage::list_phrases,
        super::triage::create_phrase,
        super::triage::update_phrase,
        super::triage::delete_phrase,
        super::teaching::mark,
        super::teaching::unmark,
        super::teaching::list,
        super::teaching::detail,
        super::teaching::photo,
    ),
    // Named by the store's `PhotoRecord` (which cannot name the imaging crate's types).
    components(schemas(ErrorBody, telederm_imaging::QualityReport, telederm_imaging::Verdict)),
    modifiers(&CommonAnswers)
)]
pub struct ApiDoc;

/// The document as a value.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served (made once).
pub fn json() -> &'static str {
    static JSON: LazyLock<String> =
        LazyLock::new(|| document().to_pretty_json().unwrap_or_else(|e| panic!("the OpenAPI document always serialises: {e}")));
    &JSON
}

/// An OpenAPI 3.x document (this one): its paths, each with its operations by method.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct OpenApiDocument {
    /// The OpenAPI version, 3.1.0.
    openapi: String,
    info: OpenApiInfo,
    servers: Vec<OpenApiServer>,
    /// Path, then method, then the operation (OpenAPI's Operation Object).
    paths: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct OpenApiInfo {
    title: String,
    version: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct OpenApiServer {
    url: String,
}

#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta",
    summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1 document", body = OpenApiDocument)))]
pub(super) async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}

/// Operations anyone may call, without a session (sign-out ends the session it is sent with, if
/// any, and answers 204 either way).
const PUBLIC: [&str; 7] =
    ["/healthz", "/readyz", "/metrics", "/openapi.json", "/auth/sign-in", "/auth/sign-out", "/fhir/Questionnaire/telederm-referral"];

/// Served at the root of the site, not under `/api/v1`.
const AT_ROOT: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Adds the session security scheme, marks the public operations, and gives every operation the
/// answers any request can get besides its own (as `security.rs`, the body limits and the JSON
/// extractors make them): 401 without a session, 403 for a cross-site state change, 400/413/415
/// for a body, 400 for parameters.
struct CommonAnswers;

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("session", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))));
        // A multipart field's name travels in a header: other fields than `file`, `kind` (and a
        // document's `title`) are ignored, but their names must be header-safe.
        for form in ["PhotoUpload", "DocumentUpload"] {
            if let Some(RefOr::T(Schema::Object(upload))) = components.schemas.get_mut(form) {
                upload.property_names = Some(Box::new(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[A-Za-z0-9_.-]+$")).into()));
            }
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, op) in ops {
                if let Some(op) = op.as_mut() {
                    common_answers(path, method, op);
                }
            }
        }
    }
}

fn error(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", Content::new(Some(Ref::from_schema_name("Error"))))
        .into()
}

/// What Rust's `str::trim` removes, as a regular expression class.
const TRIMMED: &str = r"[\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*";

/// The list filters (`telederm_app::referrals::filter_from`) take enum values, comma-separated for `status`,
/// trimmed; empty means no filter. Anything else is `400 invalid_query`.
fn list_filter_patterns(op: &mut Operation) {
    let one = |values: &[&str]| format!("^$|^{TRIMMED}({}){TRIMMED}$", values.join("|"));
    let statuses: Vec<&str> = telederm_domain::referral::ReferralStatus::ALL.iter().map(|s| s.as_str()).collect();
    let status = format!("^$|^{TRIMMED}({s}){TRIMMED}(,{TRIMMED}({s}){TRIMMED})*$", s = statuses.join("|"));
    let patterns = [("status", status), ("route", one(&["advice_and_guidance", "ras"])), ("priority", one(&["routine", "urgent", "two_week_wait"]))];
    for param in op.parameters.iter_mut().flatten() {
        if let Some((_, pattern)) = patterns.iter().find(|(name, _)| *name == param.name)
            && let Some(RefOr::T(Schema::Object(schema))) = param.schema.as_mut()
        {
            schema.pattern = Some(pattern.clone());
        }
    }
}

fn common_answers(path: &str, method: HttpMethod, op: &mut Operation) {
    if ["/referrals", "/worklist"].contains(&path) && method == HttpMethod::Get {
        list_filter_patterns(op);
    }
    if PUBLIC.contains(&path) {
        op.security = Some(Vec::new());
    }
    if AT_ROOT.contains(&path) {
        op.servers = Some(vec![Server::new("/")]);
        return;
    }
    let answers = &mut op.responses.responses;
    let mut add = |status: &str, description: &str| {
        answers.entry(status.to_string()).or_insert_with(|| error(description));
    };
    if !PUBLIC.contains(&path) {
        add("401", "Not signed in (unauthenticated), or the session has ended");
    }
    if matches!(method, HttpMethod::Post | HttpMethod::Patch | HttpMethod::Put | HttpMethod::Delete) {
        add("403", "csrf_refused: the request came from another site (or your role may not do this)");
    }
    if let Some(body) = &op.request_body {
        add("400", "Malformed request (malformed_json, invalid_upload, ...)");
        add("413", "body_too_large: the body is over the limit for this route");
        if body.content.len() == 1 && body.content.contains_key("application/json") {
            add("415", "unsupported_media_type: send the body as application/json");
        }
    }
    if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        add("400", "Malformed request (invalid_query, ...)");
    }
    // Outages (docs/operations.md, "Faults"): nothing was changed; send again after Retry-After.
    add("503", "database_unavailable or blob_store_unavailable: a part of the service cannot be reached just now; nothing was changed; retry after Retry-After seconds");
    if path.ends_with("/photos") && method == HttpMethod::Post {
        add("507", "blob_store_full: the photo store's disk is full; the photo was not saved");
    }
}
