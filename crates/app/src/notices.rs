//! Who is told what when a referral changes. The use cases write these messages to the outbox in
//! the same transaction as the change (`Store::apply_change`, with its audit entry), so they are sent if and
//! only if the change commits. A message is a template, a recipient and a link: never clinical
//! detail, a name or an NHS number.
//!
//! | change | told |
//! |---|---|
//! | submitted | the patient (received, with a status link); the service's consultants (a new case on their worklist) |
//! | claimed by someone else | the consultant it is assigned to |
//! | information requested | the referrer |
//! | outcome issued | the referrer and the patient (with a status link) |
//! | rejected (returned) | the referrer and the patient (with a status link) |
//! | patient upload link created | the patient (photos needed, with the upload link) |
//!
//! SLA reminders (due tomorrow, due today, breached) come from the `sla_reminders` job.
//!
//! A patient is written to by email, else by text message to a UK mobile when the notifier sends
//! them (GOV.UK Notify); when neither is possible the GP is told on the case page and in their
//! list that Telederm cannot contact the patient ([`patient_unreachable`]). Every message to the
//! patient carries a link of its own to their status page (`/p/{token}`), written with it.

use telederm_domain::organisation::{Role, User};
use telederm_domain::patient::ContactKind;
use telederm_domain::referral::{Action, Referral, ReferralStatus};
use telederm_domain::notification::{Channel, Template};
use telederm_store::OutboxMessage;
use telederm_store::patient_links::{LinkPurpose, PatientLink};

use crate::App;
use crate::error::Result;
use crate::links;


/// The link staff follow: the referral's page.
pub fn referral_link(state: &App, r: &Referral) -> String {
    format!("{}/referrals/{}", state.config.public_url.trim_end_matches('/'), r.id)
}

/// A message to the patient by email, else by text message to their mobile when the notifier can
/// send them; nothing when neither is possible.
pub fn to_patient(state: &App, r: &Referral, template: Template, link: String, key: &str) -> Option<OutboxMessage> {
    let (channel, recipient) = r.patient.contact.channel(state.config.sms_enabled)?;
    Some(OutboxMessage {
        channel,
        recipient: recipient.to_string(),
        template,
        link,
        referral_id: Some(r.id),
        dedupe_key: Some(format!("{}:{}:{key}:patient", template.name(), r.id)),
    })
}

fn to_user(r: &Referral, u: &User, template: Template, link: &str, key: &str) -> OutboxMessage {
    OutboxMessage {
        channel: Channel::Email,
        recipient: u.email.clone(),
        template,
        link: link.into(),
        referral_id: Some(r.id),
        dedupe_key: Some(format!("{}:{}:{key}:{}", template.name(), r.id, u.id)),
    }
}

/// The messages announcing `action` on `r` (already applied, not yet written) by `actor`.
pub async fn for_action(state: &App, r: &Referral, action: Action, actor: &User) -> Result<Vec<OutboxMessage>> {
    // The version being written makes each transition's keys distinct (and a retry of the same
    // write, which the optimistic version check refuses anyway, identical).
    let key = format!("v{}", r.version + 1);
    let link = referral_link(state, r);
    let mut out = Vec::new();
    let referrer = || async { state.store.get_user(r.referrer_id).await };
    match action {
        Action::Submit => {
            for u in state.store.list_users().await? {
                if u.role == Role::Consultant && u.services.contains(&r.service_id) {
                    out.push(to_user(r, &u, Template::ConsultantCaseAssigned, &link, &key));
                }
            }
        }
        Action::Claim => {
            if let Some(assignee) = r.assignee_id.filter(|a| *a != actor.id) {
                let u = state.store.get_user(assignee).await?;
                out.push(to_user(r, &u, Template::ConsultantCaseAssigned, &link, &key));
            }
        }
        Action::RequestInformation => out.push(to_user(r, &referrer().await?, Template::GpInformationRequested, &link, &key)),
        Action::IssueOutcome => {
            out.push(to_user(r, &referrer().await?, Template::GpResponseReady, &link, &key));
        }
        Action::Reject => {
            out.push(to_user(r, &referrer().await?, Template::GpRequestReturned, &link, &key));
        }
        Action::Reply | Action::Close | Action::Withdraw => {}
    }
    Ok(out)
}

/// The message telling the patient about `action` on `r` (already applied, not yet written) and
/// the status link it carries, to be written in the change's transaction; `None` when the action
/// is not news for the patient or the patient cannot be reached.
pub fn for_patient(state: &App, r: &Referral, action: Action, actor: &User) -> Option<(OutboxMessage, PatientLink)> {
    let template = match action {
        Action::Submit => Template::PatientReferralSent,
        Action::IssueOutcome | Action::Reject => Template::PatientResponseReady,
        Action::Claim | Action::RequestInformation | Action::Reply | Action::Close | Action::Withdraw => return None,
    };
    r.patient.contact.channel(state.config.sms_enabled)?;
    let new = links::new_link(state, r, LinkPurpose::Status, Some(actor.id), 0);
    let message = to_patient(state, r, template, links::url(state, &new.token), &format!("v{}", r.version + 1))?;
    Some((message, new.link))
}

/// Whether the GP must tell the patient themselves: Telederm cannot reach them (no email, and no
/// text message possible) and the referral still has news for them (not closed or withdrawn).
pub fn patient_unreachable(state: &App, contact: ContactKind, status: ReferralStatus) -> bool {
    !contact.reachable(state.config.sms_enabled) && !matches!(status, ReferralStatus::Closed | ReferralStatus::Withdrawn)
}
