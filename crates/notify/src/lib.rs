//! Telederm's notifications.
//!
//! A [`Notification`] is a [`Template`], a recipient and a link, nothing else: the texts carry no
//! clinical detail or NHS number by construction. A [`Notifier`] delivers it: [`SmtpNotifier`]
//! (email over SMTP with `lettre`, plain, STARTTLS or implicit TLS) or [`GovUkNotify`] (email and
//! SMS through GOV.UK Notify's HTTP API). Both sit behind the same trait so the job that drains the
//! outbox does not care which one a deployment chose.

pub mod dispatch;
mod govuk;
mod smtp;
mod templates;

use futures::future::BoxFuture;

pub use govuk::{DEFAULT_BASE_URL as GOVUK_NOTIFY_BASE_URL, GovUkNotify, GovUkNotifySettings, notify_jwt};
pub use smtp::{SmtpNotifier, SmtpSettings, SmtpTls};
pub use templates::{Template, TemplateText};
pub use telederm_domain::notification::Channel;

/// One message to one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: Channel,
    /// An email address or a UK phone number.
    pub to: String,
    pub template: Template,
    /// Where the reader signs in (or, for a patient's upload request, uploads).
    pub link: url::Url,
    /// An id for the provider's records: our outbox id, never personal data.
    pub reference: Option<String>,
}

impl Notification {
    /// Checks the parts: the link must be `https` (or `http` on loopback, for tests and local use)
    /// and the recipient must look like an address for the channel.
    pub fn new(channel: Channel, to: &str, template: Template, link: &str) -> Result<Notification, NotifyError> {
        let link = url::Url::parse(link).map_err(|e| NotifyError::Invalid(format!("link {link:?}: {e}")))?;
        let loopback = matches!(link.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if !(link.scheme() == "https" || (link.scheme() == "http" && loopback)) {
            return Err(NotifyError::Invalid(format!("link {link} must be https")));
        }
        let to = to.trim().to_string();
        let ok = match channel {
            Channel::Email => to.parse::<lettre::Address>().is_ok(),
            Channel::Sms => {
                let digits: String = to.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
                (10..=15).contains(&digits.trim_start_matches('+').len())
                    && digits.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit())
            }
        };
        if !ok {
            return Err(NotifyError::Invalid(format!("{to:?} is not a valid {channel:?} recipient")));
        }
        Ok(Notification { channel, to, template, link, reference: None })
    }

    pub fn with_reference(mut self, reference: impl Into<String>) -> Notification {
        self.reference = Some(reference.into());
        self
    }

    pub fn subject(&self) -> &'static str {
        self.template.subject()
    }

    /// The text as the reader sees it.
    pub fn body(&self) -> String {
        match self.channel {
            Channel::Email => self.template.email_body(self.link.as_str()),
            Channel::Sms => self.template.sms_body(self.link.as_str()),
        }
    }
}

/// What the provider said about a sent message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The provider's id for the message, if it gave one (GOV.UK Notify's notification id).
    pub provider_reference: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid notification: {0}")]
    Invalid(String),
    /// The provider cannot send on this channel (e.g. SMS over SMTP).
    #[error("{0} cannot send {1:?} messages")]
    UnsupportedChannel(&'static str, Channel),
    /// Worth trying again later: connection failures, rate limits, 5xx.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Trying again will not help: bad credentials, rejected recipient, bad template.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

impl NotifyError {
    pub fn is_temporary(&self) -> bool {
        matches!(self, NotifyError::Temporary(_))
    }
}

/// Something that delivers notifications.
pub trait Notifier: Send + Sync {
    /// A short name for logs and metrics: `smtp`, `govuk_notify`.
    fn name(&self) -> &'static str;

    fn send<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<Delivery, NotifyError>>;
}
