//! The MESH API client (API version 2: `Accept: application/vnd.mesh.v2+json`).
//!
//! Every mailbox call carries `Authorization: NHSMESH mailbox:nonce:nonce_count:timestamp:hmac`,
//! where `hmac` is HMAC-SHA256, keyed with the environment's shared key, over
//! `mailbox:nonce:nonce_count:password:timestamp` (timestamp `yyyyMMddHHmm`, UTC). In production
//! the connection is mutual TLS: a client certificate and key issued for the mailbox, and the
//! NHS CA as the only trusted root.

use std::path::PathBuf;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::Sha256;

/// MESH refuses a message (or a chunk) over 100 MB; messages larger than [`MeshSettings::chunk_bytes`]
/// are sent in chunks of at most that size.
pub const MESH_MAX_CHUNK_BYTES: usize = 100 * 1000 * 1000;

const ACCEPT_V2: &str = "application/vnd.mesh.v2+json";

/// Where the mailbox is and how to prove it is ours.
#[derive(Clone)]
pub struct MeshSettings {
    /// The MESH API's base address, e.g. `https://msg.intspineservices.nhs.uk` (no trailing slash).
    pub url: String,
    pub mailbox: String,
    pub password: String,
    pub shared_key: String,
    /// PEM client certificate and key for mutual TLS, and the PEM CA to trust (production).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    /// Largest chunk sent, in bytes (at most [`MESH_MAX_CHUNK_BYTES`]).
    pub chunk_bytes: usize,
    pub timeout: Duration,
}

impl std::fmt::Debug for MeshSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshSettings")
            .field("url", &self.url)
            .field("mailbox", &self.mailbox)
            .field("password", &"***")
            .field("shared_key", &"***")
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("ca", &self.ca)
            .field("chunk_bytes", &self.chunk_bytes)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// MESH refused our credentials (HTTP 403): wrong mailbox, password or shared key.
    #[error(
        "MESH refused the credentials of mailbox {mailbox} ({detail}): check TELEDERM_MESH_MAILBOX, TELEDERM_MESH_PASSWORD and TELEDERM_MESH_SHARED_KEY"
    )]
    Unauthorised { mailbox: String, detail: String },
    /// MESH could not be reached or did not answer (worth trying again later).
    #[error("MESH at {url} could not be reached: {detail}")]
    Unreachable { url: String, detail: String },
    /// MESH answered with an error (its status and what it said).
    #[error("MESH answered {status} to {what}: {body}")]
    Refused { what: String, status: u16, body: String },
    /// Not found (a message id, a local id).
    #[error("not found in MESH: {0}")]
    NotFound(String),
    #[error("MESH client configuration: {0}")]
    Config(String),
}

impl MeshError {
    /// Whether trying again later may succeed (MESH away, or a server-side error).
    pub fn is_transient(&self) -> bool {
        match self {
            MeshError::Unreachable { .. } => true,
            MeshError::Refused { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// One mailbox the endpoint lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub mailbox: String,
    pub name: String,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct OutgoingMessage<'a> {
    pub to: &'a str,
    pub workflow_id: &'a str,
    /// Our own id for the message: MESH tracking finds it by this, so a retry can tell that an
    /// earlier try already sent it.
    pub local_id: &'a str,
    pub subject: &'a str,
    pub file_name: &'a str,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// A message downloaded from our inbox.
#[derive(Debug, Clone)]
pub struct IncomingMessage {
    pub message_id: String,
    pub workflow_id: Option<String>,
    pub local_id: Option<String>,
    pub from: Option<String>,
    pub message_type: Option<String>,
    /// For a MESH report (`message_type` `REPORT`): the message it is about, whether that
    /// succeeded (`SUCCESS` or `ERROR`), and MESH's code and words.
    pub linked_message_id: Option<String>,
    pub status_success: Option<String>,
    pub status_code: Option<String>,
    pub status_description: Option<String>,
    pub body: Vec<u8>,
}

/// What MESH's tracking says about a message we sent.
#[derive(Debug, Clone, Deserialize)]
pub struct Tracking {
    #[serde(alias = "messageId")]
    pub message_id: String,
    #[serde(default, alias = "localId")]
    pub local_id: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub recipient: Option<String>,
}

#[derive(Clone)]
pub struct MeshClient {
    settings: MeshSettings,
    http: reqwest::Client,
}

impl std::fmt::Debug for MeshClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshClient").field("settings", &self.settings).finish()
    }
}

/// The `NHSMESH` authorisation header value for `mailbox` at `timestamp` (`yyyyMMddHHmm`).
pub fn authorization(mailbox: &str, password: &str, shared_key: &str, nonce: &str, nonce_count: u32, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(shared_key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{mailbox}:{nonce}:{nonce_count}:{password}:{timestamp}").as_bytes());
    let digest = hex::encode(mac.finalize().into_bytes());
    format!("NHSMESH {mailbox}:{nonce}:{nonce_count}:{timestamp}:{digest}")
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, MeshError> {
    std::fs::read(path).map_err(|e| MeshError::Config(format!("cannot read the {what} {}: {e}", path.display())))
}

impl MeshClient {
    pub fn new(settings: MeshSettings) -> Result<MeshClient, MeshError> {
        if settings.url.trim().is_empty() || settings.mailbox.trim().is_empty() {
            return Err(MeshError::Config("the MESH address and mailbox are required".into()));
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(settings.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(format!("telederm/{}", env!("CARGO_PKG_VERSION")));
        match (&settings.client_cert, &settings.client_key) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert, "MESH client certificate (TELEDERM_MESH_CLIENT_CERT)")?;
                pem.push(b'\n');
                pem.extend(read(key, "MESH client key (TELEDERM_MESH_CLIENT_KEY)")?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| MeshError::Config(format!("TELEDERM_MESH_CLIENT_CERT / _KEY are not a PEM certificate and key: {e}")))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => return Err(MeshError::Config("set both TELEDERM_MESH_CLIENT_CERT and TELEDERM_MESH_CLIENT_KEY, or neither".into())),
        }
        if let Some(ca) = &settings.ca {
            let pem = read(ca, "MESH CA certificate (TELEDERM_MESH_CA)")?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| MeshError::Config(format!("TELEDERM_MESH_CA is not a PEM certificate: {e}")))?;
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| MeshError::Config(format!("HTTP client: {e}")))?;
        let mut settings = settings;
        settings.url = settings.url.trim_end_matches('/').to_string();
        settings.chunk_bytes = settings.chunk_bytes.clamp(1, MESH_MAX_CHUNK_BYTES);
        Ok(MeshClient { settings, http })
    }

    pub fn mailbox(&self) -> &str {
        &self.settings.mailbox
    }

    fn auth(&self) -> String {
        let nonce = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y%m%d%H%M").to_string();
        authorization(&self.settings.mailbox, &self.settings.password, &self.settings.shared_key, &nonce, 1, &timestamp)
    }

    fn mailbox_url(&self, tail: &str) -> String {
        format!("{}/messageexchange/{}{tail}", self.settings.url, self.settings.mailbox)
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).header("Authorization", self.auth()).header("Accept", ACCEPT_V2)
    }

    async fn send_req(&self, what: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, MeshError> {
        let resp = req.send().await.map_err(|e| MeshError::Unreachable { url: self.settings.url.clone(), detail: error_chain(&e) })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body: String = resp.text().await.unwrap_or_default().chars().take(500).collect();
        Err(match status {
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                MeshError::Unauthorised { mailbox: self.settings.mailbox.clone(), detail: detail_of(&body) }
            }
            StatusCode::NOT_FOUND | StatusCode::GONE => MeshError::NotFound(format!("{what}: {}", detail_of(&body))),
            s => MeshError::Refused { what: what.into(), status: s.as_u16(), body: detail_of(&body) },
        })
    }

    /// Checks the mailbox and credentials (MESH asks every client to do this once a day).
    pub async fn handshake(&self) -> Result<(), MeshError> {
        let req = self
            .request(reqwest::Method::POST, &self.mailbox_url(""))
            .header("mex-ClientVersion", format!("telederm=={}", env!("CARGO_PKG_VERSION")))
            .header("mex-OSName", std::env::consts::OS)
            .header("mex-OSVersion", "unknown")
            .header("mex-OSArchitecture", std::env::consts::ARCH);
        self.send_req("handshake", req).await.map(|_| ())
    }

    /// The mailboxes registered to receive `workflow_id` for the organisation `ods_code`.
    pub async fn endpoint_lookup(&self, ods_code: &str, workflow_id: &str) -> Result<Vec<Endpoint>, MeshError> {
        let url = format!("{}/messageexchange/endpointlookup/{}/{}", self.settings.url, enc(ods_code), enc(workflow_id));
        let resp = self.send_req("endpoint lookup", self.request(reqwest::Method::GET, &url)).await?;
        let v: serde_json::Value = resp.json().await.map_err(|e| bad_json("endpoint lookup", e))?;
        let mut out = Vec::new();
        for r in v.get("results").and_then(|r| r.as_array()).into_iter().flatten() {
            // Version 2 answers `mailbox_id`/`mailbox_name`, version 1 `address`/`description`.
            let mailbox = r.get("mailbox_id").or_else(|| r.get("address")).and_then(|m| m.as_str());
            let name = r.get("mailbox_name").or_else(|| r.get("description")).and_then(|m| m.as_str()).unwrap_or("");
            if let Some(m) = mailbox.filter(|m| !m.is_empty()) {
                out.push(Endpoint { mailbox: m.to_string(), name: name.to_string() });
            }
        }
        Ok(out)
    }

    /// Sends a message, in chunks when it is larger than the chunk size. Returns MESH's message id.
    pub async fn send(&self, m: &OutgoingMessage<'_>) -> Result<String, MeshError> {
        let chunks: Vec<&[u8]> = if m.body.is_empty() { vec![m.body] } else { m.body.chunks(self.settings.chunk_bytes).collect() };
        let total = chunks.len();
        let first = self
            .request(reqwest::Method::POST, &self.mailbox_url("/outbox"))
            .header("mex-To", m.to)
            .header("mex-WorkflowID", m.workflow_id)
            .header("mex-LocalID", m.local_id)
            .header("mex-Subject", m.subject)
            .header("mex-FileName", m.file_name)
            .header("mex-Content-Type", m.content_type)
            .header("mex-Chunk-Range", format!("1:{total}"))
            .header("Content-Type", "application/octet-stream")
            .body(chunks[0].to_vec());
        let resp = self.send_req("send", first).await?;
        let v: serde_json::Value = resp.json().await.map_err(|e| bad_json("send", e))?;
        let id = v
            .get("message_id")
            .or_else(|| v.get("messageID"))
            .and_then(|i| i.as_str())
            .ok_or_else(|| MeshError::Refused { what: "send".into(), status: 202, body: "no message id in the answer".into() })?
            .to_string();
        for (i, chunk) in chunks.iter().enumerate().skip(1) {
            let n = i + 1;
            let req = self
                .request(reqwest::Method::POST, &self.mailbox_url(&format!("/outbox/{}/{n}", enc(&id))))
                .header("mex-Chunk-Range", format!("{n}:{total}"))
                .header("Content-Type", "application/octet-stream")
                .body(chunk.to_vec());
            self.send_req(&format!("send chunk {n} of {total}"), req).await?;
        }
        Ok(id)
    }

    /// A message we sent, found by our local id; `None` when MESH has none with that id.
    pub async fn track_by_local_id(&self, local_id: &str) -> Result<Option<Tracking>, MeshError> {
        let url = self.mailbox_url(&format!("/outbox/tracking/{}", enc(local_id)));
        match self.send_req("tracking", self.request(reqwest::Method::GET, &url).header("Accept", "application/json")).await {
            Ok(resp) => Ok(Some(resp.json().await.map_err(|e| bad_json("tracking", e))?)),
            Err(MeshError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The ids of the messages waiting in our inbox (at most 500 at a time).
    pub async fn inbox(&self) -> Result<Vec<String>, MeshError> {
        let resp = self.send_req("inbox", self.request(reqwest::Method::GET, &self.mailbox_url("/inbox"))).await?;
        let v: serde_json::Value = resp.json().await.map_err(|e| bad_json("inbox", e))?;
        Ok(v.get("messages")
            .and_then(|m| m.as_array())
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str().map(str::to_string))
            .collect())
    }

    /// Downloads a message from our inbox, every chunk of it.
    pub async fn download(&self, message_id: &str) -> Result<IncomingMessage, MeshError> {
        let url = self.mailbox_url(&format!("/inbox/{}", enc(message_id)));
        let resp = self.send_req("download", self.request(reqwest::Method::GET, &url)).await?;
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let workflow_id = header("mex-WorkflowID");
        let local_id = header("mex-LocalID");
        let from = header("mex-From");
        let message_type = header("mex-MessageType");
        let linked_message_id = header("mex-LinkedMsgID");
        let status_success = header("mex-StatusSuccess");
        let status_code = header("mex-StatusCode");
        let status_description = header("mex-StatusDescription");
        let total = header("mex-Chunk-Range").and_then(|r| r.split(':').nth(1).and_then(|t| t.trim().parse::<usize>().ok())).unwrap_or(1);
        let mut body = resp.bytes().await.map_err(|e| MeshError::Unreachable { url: self.settings.url.clone(), detail: error_chain(&e) })?.to_vec();
        for n in 2..=total {
            let url = self.mailbox_url(&format!("/inbox/{}/{n}", enc(message_id)));
            let resp = self.send_req(&format!("download chunk {n}"), self.request(reqwest::Method::GET, &url)).await?;
            body.extend(resp.bytes().await.map_err(|e| MeshError::Unreachable { url: self.settings.url.clone(), detail: error_chain(&e) })?);
        }
        Ok(IncomingMessage {
            message_id: message_id.to_string(),
            workflow_id,
            local_id,
            from,
            message_type,
            linked_message_id,
            status_success,
            status_code,
            status_description,
            body,
        })
    }

    /// Acknowledges (removes) a downloaded message from our inbox.
    pub async fn acknowledge(&self, message_id: &str) -> Result<(), MeshError> {
        let url = self.mailbox_url(&format!("/inbox/{}/status/acknowledged", enc(message_id)));
        self.send_req("acknowledge", self.request(reqwest::Method::PUT, &url)).await.map(|_| ())
    }
}

/// A path segment, percent-encoded.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn bad_json(what: &str, e: reqwest::Error) -> MeshError {
    MeshError::Refused { what: what.into(), status: 200, body: format!("unreadable answer: {e}") }
}

/// MESH's error text: `detail`, `errorDescription` or the body itself.
fn detail_of(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        for key in ["detail", "errorDescription", "error_description", "message"] {
            if let Some(d) = v.get(key).and_then(|d| d.as_str()) {
                return d.to_string();
            }
        }
    }
    if body.is_empty() { "no detail".into() } else { body.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_matches_the_mesh_api_example() {
        // The HMAC is over mailbox:nonce:nonce_count:password:timestamp, keyed with the shared key.
        let h = authorization("TEST", "password", "Banana", "2c001608-5f09-4840-9611-bea43e666a30", 1, "201511201038");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Banana").unwrap();
        mac.update(b"TEST:2c001608-5f09-4840-9611-bea43e666a30:1:password:201511201038");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(h, format!("NHSMESH TEST:2c001608-5f09-4840-9611-bea43e666a30:1:201511201038:{expected}"));
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let s = MeshSettings {
            url: "https://mesh".into(),
            mailbox: "X26ABC1".into(),
            password: "pa55word".into(),
            shared_key: "sh4red".into(),
            client_cert: None,
            client_key: None,
            ca: None,
            chunk_bytes: MESH_MAX_CHUNK_BYTES,
            timeout: Duration::from_secs(5),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("pa55word") && !shown.contains("sh4red"), "{shown}");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("tdm-1/v2 x"), "tdm-1%2Fv2%20x");
    }
}
