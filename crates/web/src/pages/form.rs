//! Form bodies as name/value pairs (repeated names allowed, for checkboxes), and multipart uploads
//! with a size limit.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;

use super::PageError;
use crate::error::{ApiError, Code};

#[derive(Debug, Clone, Default)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn from_query(q: &str) -> FormData {
        FormData(form_urlencoded::parse(q.as_bytes()).into_owned().collect())
    }

    /// The first value for `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    pub fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|s| !s.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

impl<S: Send + Sync> FromRequest<S> for FormData {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageError(crate::api::body_too_large())
            } else {
                PageError(ApiError::new(Code::InvalidForm, format!("The form could not be read ({e}). Go back and try again.")))
            }
        })?;
        Ok(FormData(form_urlencoded::parse(&bytes).into_owned().collect()))
    }
}

/// A page re-shown after a photo upload was refused for now (`503 intake_busy`: the node's intake
/// memory is in use): the page with the message, the same status and its `Retry-After`.
pub fn busy_page(mut resp: axum::response::Response, e: &ApiError) -> axum::response::Response {
    *resp.status_mut() = axum::http::StatusCode::from_u16(e.status()).unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    if let Some(secs) = e.retry_after() {
        resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(secs.max(1)));
    }
    resp
}

/// Whether an upload's refusal is the node being busy (the person should simply try again).
pub fn is_busy(e: &ApiError) -> bool {
    e.code == Code::IntakeBusy
}

/// A multipart form: its text fields, and the bytes of its `file` field (if one was chosen).
pub struct Upload {
    pub fields: FormData,
    pub file: Option<Vec<u8>>,
}

/// A multipart read error in our error format (`file_too_large` past `limit`).
pub fn upload_error(e: axum::extract::multipart::MultipartError, limit: u64) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        file_too_large(limit)
    } else {
        ApiError::new(Code::InvalidUpload, format!("The upload could not be read ({}). Try again.", e.body_text()))
    }
}

fn file_too_large(limit: u64) -> ApiError {
    ApiError::new(
        Code::FileTooLarge,
        format!("The photo is larger than {} MB. Choose a smaller copy (on a phone, share it as 'Large' rather than 'Actual size').", limit / 1_000_000),
    )
}

/// Reads one file field, refusing it as soon as it passes `limit` bytes (empty: no file chosen).
pub async fn read_file(mut field: axum::extract::multipart::Field<'_>, limit: u64) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| upload_error(e, limit))? {
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(file_too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    // Give back the growth slack (up to half the buffer) while the photo waits.
    buf.shrink_to_fit();
    Ok(buf)
}

/// Reads and discards the rest of a multipart body (before answering a refusal).
pub async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// Reads a multipart form with one file, refusing the file as soon as it passes `limit` bytes.
pub async fn read_upload(mut multipart: Multipart, limit: u64) -> Result<Upload, ApiError> {
    let mut fields = Vec::new();
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| upload_error(e, limit))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let buf = read_file(field, limit).await?;
            if !buf.is_empty() {
                file = Some(buf);
            }
        } else {
            let text = field.text().await.map_err(|e| upload_error(e, limit))?;
            fields.push((name, text));
        }
    }
    Ok(Upload { fields: FormData(fields), file })
}
