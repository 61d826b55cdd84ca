//! Notifications through a real SMTP server (aiosmtpd on loopback, started by the test) and the
//! GOV.UK Notify client against a loopback HTTP endpoint that checks what Notify checks.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use telederm_notify::{
    TemplateText,
    Channel, GovUkNotify, GovUkNotifySettings, Notification, Notifier, NotifyError, SmtpNotifier, SmtpSettings, Template,
};
use telederm_store::testkit::SmtpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LINK: &str = "https://telederm.example.nhs.uk/r/0190e5d2-7c1a-7b4e-9d7e-2a1f3c4b5d6e";

#[tokio::test]
async fn patient_and_gp_emails_arrive_at_a_real_smtp_server() {
    let server = SmtpServer::start();
    let notifier = SmtpNotifier::new(&SmtpSettings::plain(&server.host, server.port, "Telederm <no-reply@telederm.example>")).unwrap();
    notifier.ping().await.unwrap();

    let to_patient = Notification::new(Channel::Email, "ada@example.com", Template::PatientResponseReady, LINK)
        .unwrap()
        .with_reference("0190e5d2-0000-7000-8000-000000000001");
    let to_gp = Notification::new(Channel::Email, "gp@example.nhs.uk", Template::GpResponseReady, LINK).unwrap();
    notifier.send(&to_patient).await.unwrap();
    notifier.send(&to_gp).await.unwrap();

    let messages = server.wait_for_messages(2, Duration::from_secs(10));
    assert_eq!(messages.len(), 2, "both emails were received");
    let find = |to: &str| messages.iter().find(|m| m.contains(&format!("To: {to}"))).unwrap_or_else(|| panic!("no mail to {to}"));
    let patient_mail = find("ada@example.com");
    let gp_mail = find("gp@example.nhs.uk");
    for (mail, template) in [(patient_mail, Template::PatientResponseReady), (gp_mail, Template::GpResponseReady)] {
        assert!(mail.contains("From: Telederm <no-reply@telederm.example>"), "{mail}");
        assert!(mail.contains(&format!("Subject: {}", template.subject())), "{mail}");
        let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
        assert!(unfolded.contains(LINK), "the link is in the body: {mail}");
    }
    assert!(patient_mail.contains("0190e5d2-0000-7000-8000-000000000001@telederm"), "the outbox id is the Message-ID");
}

#[tokio::test]
async fn smtp_refuses_sms_and_reports_an_unreachable_server_as_temporary() {
    let port = telederm_store::testkit::free_port();
    let notifier = SmtpNotifier::new(&SmtpSettings::plain("127.0.0.1", port, "no-reply@telederm.example")).unwrap();
    let sms = Notification::new(Channel::Sms, "07700 900123", Template::SlaDueToday, LINK).unwrap();
    assert!(matches!(notifier.send(&sms).await, Err(NotifyError::UnsupportedChannel(..))));
    let email = Notification::new(Channel::Email, "gp@example.nhs.uk", Template::SlaDueToday, LINK).unwrap();
    let err = notifier.send(&email).await.unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
}

#[test]
fn messages_carry_only_a_link() {
    for t in Template::ALL {
        assert_eq!(Template::parse(t.name()), Some(t));
        for channel in [Channel::Email, Channel::Sms] {
            let to = if channel == Channel::Email { "a@example.com" } else { "+447700900123" };
            let n = Notification::new(channel, to, t, LINK).unwrap();
            let body = n.body();
            assert!(body.contains(LINK));
            // Nothing but the link varies: the text without it has no digits at all, so no NHS
            // number, date of birth or other identifier can be in it.
            let rest = body.replace(LINK, "") + n.subject();
            assert!(!rest.chars().any(|c| c.is_ascii_digit()), "{t:?}: {rest}");
            if channel == Channel::Sms {
                assert!(body.chars().count() <= 160, "{t:?} SMS fits one message: {}", body.len());
            }
        }
    }
    assert!(Notification::new(Channel::Email, "not an address", Template::GpResponseReady, LINK).is_err());
    assert!(Notification::new(Channel::Sms, "call me", Template::GpResponseReady, LINK).is_err());
    assert!(Notification::new(Channel::Email, "a@example.com", Template::GpResponseReady, "http://evil.example/x").is_err());
    assert!(Notification::new(Channel::Email, "a@example.com", Template::GpResponseReady, "http://127.0.0.1:8080/x").is_ok());
}

/// One HTTP request as received: request line, headers (lower-case names), body.
struct Received {
    request_line: String,
    headers: HashMap<String, String>,
    body: serde_json::Value,
}

/// Serves one request on loopback with `status` and `response`, and hands back what it got.
async fn one_request_server(status: u16, response: &'static str) -> (String, tokio::task::JoinHandle<Received>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, length) = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "client closed early");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
                    .unwrap_or(0);
                break (i + 4, length);
            }
        };
        while buf.len() < head_end + length {
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
        }
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.lines();
        let request_line = lines.next().unwrap().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string())))
            .collect();
        let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{response}",
            response.len()
        );
        sock.write_all(reply.as_bytes()).await.unwrap();
        Received { request_line, headers, body }
    });
    (base, handle)
}

const SERVICE_ID: &str = "26785a09-ab16-4eb0-8407-a37497a57506";
const SECRET: &str = "3d844edf-8d35-48ac-975b-e847b4f122b0";

fn notify_client(base_url: &str) -> GovUkNotify {
    GovUkNotify::new(&GovUkNotifySettings {
        api_key: format!("telederm_test-{SERVICE_ID}-{SECRET}"),
        base_url: base_url.into(),
        email_templates: HashMap::from([("gp_response_ready".into(), "f33517ff-2a88-4f6e-b855-c550268ce08a".into())]),
        sms_templates: HashMap::from([("sla_due_today".into(), "aaaa17ff-2a88-4f6e-b855-c550268ce08a".into())]),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

#[tokio::test]
async fn govuk_notify_email_is_signed_and_carries_only_the_link() {
    let (base, server) = one_request_server(201, r#"{"id":"740e5834-3a29-46b4-9a6f-16142fde533a","reference":null}"#).await;
    let client = notify_client(&base);
    let n = Notification::new(Channel::Email, "gp@example.nhs.uk", Template::GpResponseReady, LINK).unwrap().with_reference("outbox-1");
    let delivery = client.send(&n).await.unwrap();
    assert_eq!(delivery.provider_reference.as_deref(), Some("740e5834-3a29-46b4-9a6f-16142fde533a"));

    let got = server.await.unwrap();
    assert_eq!(got.request_line, "POST /v2/notifications/email HTTP/1.1");
    assert_eq!(
        got.body,
        serde_json::json!({
            "email_address": "gp@example.nhs.uk",
            "template_id": "f33517ff-2a88-4f6e-b855-c550268ce08a",
            "personalisation": {"link": LINK},
            "reference": "outbox-1",
        })
    );
    let token = got.headers["authorization"].strip_prefix("Bearer ").expect("a bearer token");
    let parts: Vec<&str> = token.split('.').collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).expect("signed with the key's secret");
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], SERVICE_ID);
    let iat = claims["iat"].as_i64().unwrap();
    assert!((chrono::Utc::now().timestamp() - iat).abs() <= 30, "iat within Notify's 30 seconds");
}

#[tokio::test]
async fn govuk_notify_sms_and_error_classes() {
    let (base, server) = one_request_server(201, r#"{"id":"x"}"#).await;
    let sms = Notification::new(Channel::Sms, "07700 900123", Template::SlaDueToday, LINK).unwrap();
    notify_client(&base).send(&sms).await.unwrap();
    let got = server.await.unwrap();
    assert_eq!(got.request_line, "POST /v2/notifications/sms HTTP/1.1");
    assert_eq!(got.body["phone_number"], "07700 900123");

    let (base, _server) = one_request_server(429, r#"{"status_code":429,"errors":[{"error":"RateLimitError"}]}"#).await;
    let email = Notification::new(Channel::Email, "gp@example.nhs.uk", Template::GpResponseReady, LINK).unwrap();
    assert!(notify_client(&base).send(&email).await.unwrap_err().is_temporary());
    let (base, _server) = one_request_server(400, r#"{"status_code":400,"errors":[{"error":"BadRequestError"}]}"#).await;
    assert!(matches!(notify_client(&base).send(&email).await, Err(NotifyError::Permanent(_))));
    // A template with no Notify id is a configuration error, found before any request.
    let unmapped = Notification::new(Channel::Email, "gp@example.nhs.uk", Template::SlaBreached, LINK).unwrap();
    assert!(matches!(notify_client("http://127.0.0.1:9").send(&unmapped).await, Err(NotifyError::Permanent(_))));
}
