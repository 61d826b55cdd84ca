//! The error catalogue: every error code Telederm answers with, its HTTP status and what it means,
//! in one table. The API, the pages and the CLI's JSON use these codes; `docs/errors.md` is
//! generated from the table (a test keeps the two the same) and the OpenAPI error schema
//! enumerates it.
//!
//! An [`Error`] is a code, a message for a person that says what to do next, and optional
//! structured details; serialised as `{"code": ..., "message": ..., "details": ...}`.

use serde::{Deserialize, Serialize};
use telederm_store::StoreError;
use telederm_store::blobs::BlobError;

macro_rules! catalogue {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $meaning:literal; )*) => {
        /// A stable, machine-readable error code (`docs/errors.md` lists them with their meaning).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Code {
            $( $(#[$doc])* #[serde(rename = $code)] $variant, )*
        }

        impl Code {
            /// Every code, in catalogue order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as it appears in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The HTTP status answered with this code.
            pub fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// What the code means, in one line.
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$variant => $meaning,)* }
            }

            /// The code with this JSON name.
            pub fn parse(s: &str) -> Option<Code> {
                match s { $($code => Some(Code::$variant),)* _ => None }
            }
        }
    };
}

catalogue! {
    // Requests the server could not read.
    BadRequest = "bad_request", 400, "The request could not be read; check it against the API document.";
    MalformedJson = "malformed_json", 400, "The body is not valid JSON.";
    InvalidQuery = "invalid_query", 400, "A query parameter has a value it cannot take (the message names it).";
    InvalidPeriod = "invalid_period", 422, "The report's period runs backwards (`from` after `to`), is longer than three years, names a month that does not exist, or gives `month` together with `from` or `to`.";
    InvalidPatientDetails = "invalid_patient_details", 422, "The date of birth is in the future or the postcode is not a full UK postcode (the message says which).";
    InvalidForm = "invalid_form", 400, "A page form arrived incomplete or malformed; reload the page and try again.";
    InvalidUpload = "invalid_upload", 400, "A photo upload is not multipart/form-data with a `file` field.";
    MissingFile = "missing_file", 400, "The upload has no `file` field.";
    BadFormat = "bad_format", 400, "The requested export format is not one the endpoint offers.";
    UnsupportedMediaType = "unsupported_media_type", 415, "The body's Content-Type is not the one the endpoint takes.";
    BodyTooLarge = "body_too_large", 413, "The request body is larger than the server accepts.";
    MethodNotAllowed = "method_not_allowed", 405, "The address does not take that method.";
    InvalidBody = "invalid_body", 422, "The JSON body does not have the fields or values the endpoint takes (the message names them).";

    // Who is asking.
    Unauthenticated = "unauthenticated", 401, "Sign in first.";
    InvalidCredentials = "invalid_credentials", 401, "The email or password is wrong.";
    TooManyAttempts = "too_many_attempts", 429, "Too many failed sign-ins; wait (Retry-After) before trying again.";
    Forbidden = "forbidden", 403, "Your role or organisation may not do this.";
    ReportNotPermitted = "report_not_permitted", 403, "The report is not one your role may see, or it is of a practice or service that is not yours (a GP sees their own practice; a service admin their services).";
    CsrfRefused = "csrf_refused", 403, "A page form was sent without a valid anti-forgery token; reload the page.";
    SsoRefused = "sso_refused", 401, "The single sign-on provider's answer was not valid.";
    SsoExpired = "sso_expired", 400, "The single sign-on attempt expired or was already used; start again.";
    SsoFailed = "sso_failed", 502, "The single sign-on provider could not be reached or answered wrongly.";
    SsoUnknownUser = "sso_unknown_user", 403, "Single sign-on worked but no Telederm account is linked to that identity.";
    PasswordTooShort = "password_too_short", 422, "The new password is too short.";
    PasswordTooLong = "password_too_long", 422, "The new password is too long.";
    PasswordTooCommon = "password_too_common", 422, "The new password is too common or too repetitive to be safe.";
    PasswordPersonal = "password_personal", 422, "The new password contains the user's own name or email.";

    // What is asked for.
    NotFound = "not_found", 404, "No record with that id that you can see (a probe looks the same as a refusal).";
    UnknownService = "unknown_service", 422, "There is no service with that id.";
    RouteNotOffered = "route_not_offered", 422, "The service does not offer that route.";

    // Referral rules.
    Conflict = "conflict", 409, "The record changed since you read it; reload and redo the change.";
    IllegalTransition = "illegal_transition", 409, "The referral's status does not allow that action now.";
    NotADraft = "not_a_draft", 409, "Only a draft can be edited.";
    IncompleteReferral = "incomplete_referral", 422, "The referral is not ready to send; `details.problems` lists the fields to fix.";
    InvalidEligibilityAnswers = "invalid_eligibility_answers", 422, "The eligibility checklist is incomplete or has a wrong value.";
    EligibilityPatientMismatch = "eligibility_patient_mismatch", 422, "The checklist's date of birth differs from the patient's.";
    NotEligible = "not_eligible", 422, "The service's criteria exclude this referral; `details` quotes the reasons.";
    Redirect2ww = "redirect_2ww", 422, "The patient meets the two-week-wait criteria: refer on the suspected cancer pathway instead.";
    ChildFaceIdentifiable = "child_face_identifiable", 422, "A face was detected in a photo of a child sent to a service that excludes them.";
    EmptyMessage = "empty_message", 422, "The message is empty.";
    ProfessionNotAccepted = "profession_not_accepted", 403, "The service takes referrals only from some professions, and the sender's is not one of them.";
    InvalidContactPreference = "invalid_contact_preference", 422, "The patient's contact preference cannot be followed with the details given (email without an address, texts without a UK mobile).";
    InvalidUbrn = "invalid_ubrn", 422, "The e-RS UBRN is not 12 digits, or was given on an Advice & Guidance request.";
    WithdrawReasonRequired = "withdraw_reason_required", 422, "A referral the service has received is withdrawn only with a reason it can act on.";
    ReferralStillOpen = "referral_still_open", 409, "The referral is still with the service: it cannot be copied into a new one (withdraw it first).";
    NoFaceDetected = "no_face_detected", 409, "The photo check found no face in this photo, so there is nothing to confirm.";
    MessageTooLong = "message_too_long", 422, "The message is longer than the e-RS limit of 8,000 characters.";
    InvalidOutcome = "invalid_outcome", 422, "The outcome lacks what its code requires (the message says what).";
    InvalidPhrase = "invalid_phrase", 422, "A saved phrase needs a title, its text and a kind (plan or safety_net), within the length limits.";
    ConversionNeedsAdviceAndGuidance = "conversion_needs_advice_and_guidance", 422, "Only an Advice & Guidance request can be converted to a referral.";
    ConversionNotAuthorised = "conversion_not_authorised", 422, "The GP did not authorise converting this request to a referral.";
    NoOutcome = "no_outcome", 409, "The referral has no outcome yet, so there is no letter (and it cannot be a teaching case yet).";
    TeachingConsentMissing = "teaching_consent_missing", 422, "The patient did not consent to their photos being used for teaching, so the referral cannot be a teaching case.";
    InvalidTeachingNote = "invalid_teaching_note", 422, "A teaching case needs a note for referrers saying what it teaches, at most 2,000 characters, without the patient's name or other identifiers.";

    // Photos.
    PhotosLocked = "photos_locked", 409, "Photos and documents can be added or removed only on a draft or when the consultant asks for more.";
    TooManyPhotos = "too_many_photos", 409, "The referral already holds the most photos allowed.";
    TooManyAttachments = "too_many_attachments", 409, "The referral's photos and documents together already reach the most attachments allowed; remove one first.";
    InvalidPhotoKind = "invalid_photo_kind", 422, "The photo kind is not locator, close_up or dermoscopic.";
    FileTooLarge = "file_too_large", 413, "The photo or document file is larger than its upload limit.";
    NotAPdf = "not_a_pdf", 422, "A document must be a PDF file (checked by its content, not its name); save or scan it as PDF and send it again.";
    InvalidDocument = "invalid_document", 422, "The document's kind is not referral_letter, consent_form or other, or its title is too long (the message says which).";
    UnsupportedFormat = "unsupported_format", 422, "The file is not a photo format Telederm reads (JPEG, PNG, WebP, TIFF).";
    Corrupt = "corrupt", 422, "The photo file is damaged and cannot be decoded.";
    DimensionsExceedLimit = "dimensions_exceed_limit", 422, "The photo's width or height is beyond the intake limit.";
    ImageTooLargeToProcess = "image_too_large_to_process", 413, "Decoding the photo needs more memory than the node's whole intake budget.";
    IntakeBusy = "intake_busy", 503, "Photo intake is at its memory budget; retry after Retry-After seconds.";
    LinkUnavailable = "link_unavailable", 404, "A patient's link is unknown, expired or cancelled (a status link ends 30 days after the outcome); the page tells the patient to contact their GP practice.";
    LinksNotOffered = "links_not_offered", 409, "The service does not offer patient upload links, or the referral cannot take one now.";
    ConsentRequired = "consent_required", 422, "The patient has not confirmed that they consent to sending their photos; they tick the box, then finish.";
    InvalidPatientAnswers = "invalid_patient_answers", 422, "The patient's symptom answers are all empty or one is too long (the message names it).";
    InvalidFeedback = "invalid_feedback", 422, "The feedback has no rating from the list, or its comment is too long.";
    FeedbackNotOpen = "feedback_not_open", 409, "Feedback is asked for only once the service has responded (an outcome or a return), through a status link.";
    FeedbackAlreadyGiven = "feedback_already_given", 409, "Feedback about this request has already been given; it is taken once.";

    // The system.
    NotReady = "not_ready", 503, "The database or the blob store is not reachable (readiness check).";
    DatabaseUnavailable = "database_unavailable", 503, "The database cannot be reached (down, restarting, or every connection busy); nothing was changed; retry after Retry-After seconds.";
    BlobStoreUnavailable = "blob_store_unavailable", 503, "The photo store cannot be reached; the photo was not saved or sent; retry after Retry-After seconds.";
    BlobStoreFull = "blob_store_full", 507, "The photo store's disk or quota is full; the photo was not saved and nothing else changed.";
    BlobKeyMismatch = "blob_key_mismatch", 503, "Photos cannot be read: the configured key is not the one they were encrypted with.";
    BlobNotEncrypted = "blob_not_encrypted", 503, "A photo blob is stored unencrypted although encryption is on.";
    InternalError = "internal_error", 500, "Something went wrong on the server; nothing was changed.";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The OpenAPI schema of a code: a string, one of the catalogue's JSON names.
impl utoipa::PartialSchema for Code {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A stable error code; docs/errors.md lists each with its HTTP status and meaning."))
            .enum_values(Some(Code::ALL.iter().map(|c| c.as_str())))
            .build()
            .into()
    }
}

impl utoipa::ToSchema for Code {}

/// An error as answered: a code from the catalogue, a message for a person, optional details
/// (the OpenAPI document's `Error` schema).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Error {
    /// Stable machine-readable code, e.g. `illegal_transition`.
    pub code: Code,
    /// What went wrong and what to do next, for a person.
    pub message: String,
    /// Extra structured detail (for example the eligibility reasons or the fields to fix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error { code, message: message.into(), details: None }
    }

    /// The HTTP status of this error's code.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// A 4xx: the request can be corrected (as opposed to a failure on the server's side).
    pub fn is_client_error(&self) -> bool {
        (400..500).contains(&self.status())
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Seconds to wait before retrying, from `details.retry_after_seconds` (sent as `Retry-After`).
    pub fn retry_after(&self) -> Option<i64> {
        self.details.as_ref()?.get("retry_after_seconds")?.as_i64()
    }

    pub fn unauthenticated() -> Self {
        Self::new(Code::Unauthenticated, "Sign in first: POST /api/v1/auth/sign-in with your email and password.")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(Code::NotFound, format!("No {what} with that id that you can see. Check the link or go back to your list."))
    }
    /// The database cannot be reached (down, restarting, or every connection busy): nothing was
    /// changed, and the same request can be sent again shortly (`Retry-After`).
    pub fn database_unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(%err, "the database is unavailable");
        Self::new(
            Code::DatabaseUnavailable,
            "The database cannot be reached just now, so nothing was changed. Try again in a few seconds; if it keeps happening, contact your administrator.",
        )
        .with_details(serde_json::json!({ "retry_after_seconds": 5 }))
    }

    /// The photo store cannot be reached: an upload stored nothing that a referral refers to, a
    /// download sent nothing; the same request can be sent again shortly.
    pub fn blob_store_unavailable(err: impl std::fmt::Display) -> Self {
        tracing::warn!(%err, "the blob store is unavailable");
        Self::new(
            Code::BlobStoreUnavailable,
            "The photo store cannot be reached just now, so the photo was not saved or sent. Try again in a minute; if it keeps happening, contact your administrator.",
        )
        .with_details(serde_json::json!({ "retry_after_seconds": 30 }))
    }

    /// A store error that is not the caller's doing: `database_unavailable` when the database
    /// cannot be reached, else `internal_error`.
    pub fn store_failure(context: &str, err: StoreError) -> Self {
        if err.is_unavailable() { Self::database_unavailable(err) } else { Self::internal(context, err) }
    }

    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(%err, "{context}");
        Self::new(
            Code::InternalError,
            "Something went wrong on our side and nothing was changed. Try again; if it keeps happening, contact your administrator.",
        )
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.message, self.code.as_str())
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::not_found("record"),
            StoreError::Conflict(msg) => Error::new(Code::Conflict, msg),
            other => Error::store_failure("store", other),
        }
    }
}

impl From<BlobError> for Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::NotFound(_) => Error::not_found("photo"),
            // A key configuration problem: fail closed, say which setting to fix (the message
            // names key ids, never key material), and keep saying it until it is fixed.
            e @ (BlobError::KeyMismatch { .. } | BlobError::KeyMissing { .. }) => {
                tracing::error!(error = %e, "photo blob key problem");
                Error::new(Code::BlobKeyMismatch, format!("Photos cannot be read: {e}. Ask the administrator to fix the setting and restart."))
            }
            e @ BlobError::NotEncrypted { .. } => {
                tracing::error!(error = %e, "photo blob stored unencrypted");
                Error::new(Code::BlobNotEncrypted, format!("Photos cannot be read: {e}."))
            }
            // The disk (or quota) of a file store is full: nothing was stored for this photo.
            e if e.is_full() => {
                tracing::error!(error = %e, "the blob store is full");
                Error::new(
                    Code::BlobStoreFull,
                    "The photo store is full, so the photo was not saved. Nothing else was changed. Tell your administrator; photos already sent are safe.",
                )
            }
            e if e.is_unavailable() => Error::blob_store_unavailable(e),
            other => Error::internal("blob store", other),
        }
    }
}

impl From<telederm_domain::referral::IllegalTransition> for Error {
    fn from(e: telederm_domain::referral::IllegalTransition) -> Self {
        Error::new(Code::IllegalTransition, e.to_string())
    }
}

impl From<&telederm_domain::password::PasswordRuleError> for Code {
    fn from(e: &telederm_domain::password::PasswordRuleError) -> Code {
        use telederm_domain::password::PasswordRuleError as P;
        match e {
            P::TooShort => Code::PasswordTooShort,
            P::TooLong => Code::PasswordTooLong,
            P::Common | P::Repetitive => Code::PasswordTooCommon,
            P::Personal => Code::PasswordPersonal,
        }
    }
}

impl From<telederm_imaging::IssueCode> for Code {
    /// The code of a photo the intake pipeline refused.
    fn from(c: telederm_imaging::IssueCode) -> Code {
        use telederm_imaging::IssueCode as I;
        match c {
            I::FileTooLarge => Code::FileTooLarge,
            I::UnsupportedFormat => Code::UnsupportedFormat,
            I::Corrupt => Code::Corrupt,
            I::DimensionsExceedLimit => Code::DimensionsExceedLimit,
            // Quality issues are warnings in a report, never refusals; should the pipeline ever
            // refuse on one, it is a photo it could not take.
            I::Blurred | I::Underexposed | I::Overexposed | I::LowResolution | I::NoSkinDetected | I::FaceDetected => Code::UnsupportedFormat,
        }
    }
}

/// `docs/errors.md`: the catalogue as a table (a test keeps the file equal to this).
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Error codes\n\nEvery error Telederm answers is `{\"code\", \"message\", \"details\"?}`: `code` is one of these, stable;\n`message` says what to do next. Generated from `crates/app/src/error.rs` (`UPDATE_DOCS=1 cargo nextest run -p telederm-app` rewrites this file).\n\n| Code | HTTP status | Meaning |\n| --- | --- | --- |\n",
    );
    for c in Code::ALL {
        out.push_str(&format!("| `{}` | {} | {} |\n", c.as_str(), c.status(), c.meaning()));
    }
    out
}

#[cfg(feature = "axum")]
impl axum::response::IntoResponse for Error {
    fn into_response(self) -> axum::response::Response {
        let status = axum::http::StatusCode::from_u16(self.status()).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after();
        let mut resp = (status, axum::Json(self)).into_response();
        if let Some(secs) = retry_after {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{} twice", c.as_str());
            assert_eq!(Code::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), serde_json::Value::String(c.as_str().into()));
            assert!((400..600).contains(&c.status()), "{} has status {}", c.as_str(), c.status());
            assert!(c.meaning().ends_with('.'), "{}: a meaning is a sentence", c.as_str());
        }
        assert_eq!(Code::parse("no_such_code"), None);
    }

    #[test]
    fn an_error_serialises_as_the_api_shape() {
        let e = Error::new(Code::NotADraft, "This referral is submitted.").with_details(serde_json::json!({"x": 1}));
        assert_eq!(e.status(), 409);
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"code": "not_a_draft", "message": "This referral is submitted.", "details": {"x": 1}})
        );
        assert_eq!(serde_json::to_value(Error::new(Code::Forbidden, "no")).unwrap(), serde_json::json!({"code": "forbidden", "message": "no"}));
    }

    #[test]
    fn the_openapi_schema_of_a_code_lists_the_json_names() {
        let schema = serde_json::to_value(<Code as utoipa::PartialSchema>::schema()).unwrap();
        let names: Vec<&str> = schema["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(names, Code::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>());
        assert!(names.contains(&"unauthenticated") && names.contains(&"redirect_2ww"));
    }

    #[test]
    fn docs_errors_md_is_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md");
        let want = catalogue_markdown();
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(have == want, "docs/errors.md differs from the catalogue in crates/app/src/error.rs: run `UPDATE_DOCS=1 cargo nextest run -p telederm-app`");
    }
}
