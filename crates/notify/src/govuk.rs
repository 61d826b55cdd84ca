//! GOV.UK Notify: email and SMS through its HTTP API (`POST /v2/notifications/{email,sms}`).
//! Each request carries a fresh JWT (HS256, `iss` = service id, `iat` = now) signed with the API
//! key's secret. Notify holds the template texts; ours are registered there with one
//! personalisation field, `link`.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Channel, Delivery, Notification, Notifier, NotifyError, Template};

/// GOV.UK Notify's API address (the default for [`GovUkNotifySettings::base_url`]).
pub const DEFAULT_BASE_URL: &str = "https://api.notifications.service.gov.uk";

#[derive(Clone, PartialEq, Eq)]
pub struct GovUkNotifySettings {
    /// The API key as Notify shows it: `{key_name}-{service_id}-{secret}`.
    pub api_key: String,
    pub base_url: String,
    /// Our template name (`gp_response_ready`) → Notify's template id, one map per channel.
    pub email_templates: HashMap<String, String>,
    pub sms_templates: HashMap<String, String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for GovUkNotifySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovUkNotifySettings")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("email_templates", &self.email_templates)
            .field("sms_templates", &self.sms_templates)
            .finish_non_exhaustive()
    }
}

/// Splits an API key into (service id, secret): both are the last two UUIDs of the key.
fn split_api_key(key: &str) -> Result<(String, String), NotifyError> {
    let key = key.trim();
    if key.len() < 74 {
        return Err(NotifyError::Invalid("the GOV.UK Notify API key is too short".into()));
    }
    let secret = &key[key.len() - 36..];
    let service = &key[key.len() - 73..key.len() - 37];
    for part in [secret, service] {
        uuid::Uuid::parse_str(part).map_err(|_| NotifyError::Invalid("the GOV.UK Notify API key is malformed".into()))?;
    }
    Ok((service.to_string(), secret.to_string()))
}

/// The bearer token for one request: a JWT, HS256, claims `iss` and `iat`.
pub fn notify_jwt(service_id: &str, secret: &str, issued_at: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::json!({ "iss": service_id, "iat": issued_at }).to_string());
    let signing_input = format!("{header}.{claims}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

pub struct GovUkNotify {
    http: reqwest::Client,
    service_id: String,
    secret: String,
    base_url: String,
    email_templates: HashMap<String, String>,
    sms_templates: HashMap<String, String>,
}

impl GovUkNotify {
    pub fn new(s: &GovUkNotifySettings) -> Result<GovUkNotify, NotifyError> {
        let (service_id, secret) = split_api_key(&s.api_key)?;
        let http = reqwest::Client::builder()
            .timeout(s.timeout)
            .build()
            .map_err(|e| NotifyError::Invalid(format!("HTTP client: {e}")))?;
        Ok(GovUkNotify {
            http,
            service_id,
            secret,
            base_url: s.base_url.trim_end_matches('/').to_string(),
            email_templates: s.email_templates.clone(),
            sms_templates: s.sms_templates.clone(),
        })
    }

    fn template_id(&self, channel: Channel, t: Template) -> Result<&str, NotifyError> {
        let map = match channel {
            Channel::Email => &self.email_templates,
            Channel::Sms => &self.sms_templates,
        };
        map.get(t.name())
            .map(String::as_str)
            .ok_or_else(|| NotifyError::Permanent(format!("no GOV.UK Notify {channel:?} template is set for {}", t.name())))
    }
}

impl Notifier for GovUkNotify {
    fn name(&self) -> &'static str {
        "govuk_notify"
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(async move {
            let template_id = self.template_id(n.channel, n.template)?;
            let (path, address_field) = match n.channel {
                Channel::Email => ("email", "email_address"),
                Channel::Sms => ("sms", "phone_number"),
            };
            let mut body = serde_json::json!({
                address_field: n.to,
                "template_id": template_id,
                "personalisation": { "link": n.link.as_str() },
            });
            if let Some(reference) = &n.reference {
                body["reference"] = serde_json::Value::String(reference.clone());
            }
            let token = notify_jwt(&self.service_id, &self.secret, chrono::Utc::now().timestamp());
            let response = self
                .http
                .post(format!("{}/v2/notifications/{path}", self.base_url))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map_err(|e| NotifyError::Temporary(format!("GOV.UK Notify: {e}")))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                let id = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string));
                return Ok(Delivery { provider_reference: id });
            }
            // Notify's errors are JSON: {"status_code": 400, "errors": [{"error": "...", "message": "..."}]}.
            let reason = format!("GOV.UK Notify answered {status}: {}", text.chars().take(500).collect::<String>());
            if status.as_u16() == 429 || status.is_server_error() {
                Err(NotifyError::Temporary(reason))
            } else {
                Err(NotifyError::Permanent(reason))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_splits_into_service_and_secret() {
        let key = "telederm_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
        let (service, secret) = split_api_key(key).unwrap();
        assert_eq!(service, "26785a09-ab16-4eb0-8407-a37497a57506");
        assert_eq!(secret, "3d844edf-8d35-48ac-975b-e847b4f122b0");
        assert!(split_api_key("short").is_err());
        assert!(split_api_key(&key.replace("3d844edf", "zzzzzzzz")).is_err());
    }

    #[test]
    fn jwt_is_hs256_over_header_and_claims() {
        let token = notify_jwt("26785a09-ab16-4eb0-8407-a37497a57506", "secret", 1_700_000_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "26785a09-ab16-4eb0-8407-a37497a57506");
        assert_eq!(claims["iat"], 1_700_000_000);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").unwrap();
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).expect("signature verifies");
    }
}
