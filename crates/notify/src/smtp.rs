//! Email over SMTP with `lettre` (tokio, rustls).

use std::time::Duration;

use futures::future::BoxFuture;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::{Channel, Delivery, Notification, Notifier, NotifyError};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same machine or a trusted local network.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender, e.g. `Telederm <no-reply@telederm.example.nhs.uk>`.
    pub from: String,
    /// Extra trusted root certificate (PEM), for a relay with a private CA.
    pub extra_root_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpSettings {
    /// Plain SMTP to `host:port` (for a local relay or a test server).
    pub fn plain(host: &str, port: u16, from: &str) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: from.into(),
            extra_root_pem: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Sends email through one SMTP server. Connections are pooled; cheap to share.
pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpNotifier {
    pub fn new(s: &SmtpSettings) -> Result<SmtpNotifier, NotifyError> {
        let from: Mailbox = s.from.parse().map_err(|e| NotifyError::Invalid(format!("sender {:?}: {e}", s.from)))?;
        let tls = |s: &SmtpSettings| -> Result<TlsParameters, NotifyError> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(pem) = &s.extra_root_pem {
                let cert = Certificate::from_pem(pem).map_err(|e| NotifyError::Invalid(format!("root certificate: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| NotifyError::Invalid(format!("TLS settings: {e}")))
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host).port(s.port).timeout(Some(s.timeout));
        b = match s.tls {
            SmtpTls::None => b.tls(Tls::None),
            SmtpTls::StartTls => b.tls(Tls::Required(tls(s)?)),
            SmtpTls::Tls => b.tls(Tls::Wrapper(tls(s)?)),
        };
        if let (Some(user), Some(pass)) = (&s.username, &s.password) {
            b = b.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(SmtpNotifier { transport: b.build(), from })
    }

    /// Checks that the server answers (for readiness checks).
    pub async fn ping(&self) -> Result<(), NotifyError> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(NotifyError::Temporary("the SMTP server did not answer".into())),
            Err(e) => Err(NotifyError::Temporary(e.to_string())),
        }
    }

    fn message(&self, n: &Notification) -> Result<Message, NotifyError> {
        let to: Mailbox = n.to.parse().map_err(|e| NotifyError::Invalid(format!("recipient: {e}")))?;
        let mut b = Message::builder().from(self.from.clone()).to(to).subject(n.subject()).header(ContentType::TEXT_PLAIN);
        if let Some(reference) = &n.reference {
            b = b.message_id(Some(format!("<{reference}@telederm>")));
        }
        b.body(n.body()).map_err(|e| NotifyError::Invalid(e.to_string()))
    }
}

impl Notifier for SmtpNotifier {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivery, NotifyError>> {
        Box::pin(async move {
            if n.channel != Channel::Email {
                return Err(NotifyError::UnsupportedChannel("SMTP", n.channel));
            }
            let message = self.message(n)?;
            match self.transport.send(message).await {
                Ok(_) => Ok(Delivery { provider_reference: None }),
                Err(e) if e.is_permanent() => Err(NotifyError::Permanent(e.to_string())),
                Err(e) => Err(NotifyError::Temporary(e.to_string())),
            }
        })
    }
}
