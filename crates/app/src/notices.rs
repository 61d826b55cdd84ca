//! Who is told what when a referral changes. The use cases write these messages to the outbox in
//! the same transaction as the change (`Store::apply_change`, with its audit entry), so they are sent if and
//! only if the change commits. A message is a template, a recipient and a link: never clinical
//! detail, a name or an NHS number.
//!
//! | change | told |
//! |---|---|
//! | submitted | the patient (received, with a status link); the service's consultants (a new case on their worklist; marked urgent for urgent and two-week-wait priority) |
//! | claimed by someone else | the consultant it is assigned to |
//! | information requested | the referrer |
//! | the referrer replied | the consultant who asked (the assignee) |
//! | outcome issued | the referrer (marked urgent for an urgent outcome, [`telederm_domain::flags::urgency`]) and the patient (with a status link) |
//! | the patient finished sending photos through their link | the referrer ([`patient_photos_arrived`]) |
//! | rejected (returned) | the referrer and the patient (with a status link) |
//! | patient upload link created | the patient (photos needed, with the upload link) |
//!
//! SLA reminders (due tomorrow, due today, breached) come from the `sla_reminders` job.
//!
//! A patient is written to by email, else by text message to a UK mobile when the notifier sends
//! them (GOV.UK Notify); when neither is possible the GP is told on the case page and in their
//! list that Telederm cannot contact the patient ([`patient_unreachable`]). Every message to the
//! patient carries a link of its own to their status page (`/p/{token}`), written with it.

use telederm_domain::flags::{Urgency, urgency};
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
    let urgent = urgency(r.priority, r.outcome.as_ref().map(|o| o.code)) != Urgency::Routine;
    let assigned = if urgent { Template::ConsultantUrgentCaseAssigned } else { Template::ConsultantCaseAssigned };
    match action {
        Action::Submit => {
            for u in state.store.list_users().await? {
                if u.role == Role::Consultant && u.services.contains(&r.service_id) {
                    out.push(to_user(r, &u, assigned, &link, &key));
                }
            }
        }
        Action::Claim => {
            if let Some(assignee) = r.assignee_id.filter(|a| *a != actor.id) {
                let u = state.store.get_user(assignee).await?;
                out.push(to_user(r, &u, assigned, &link, &key));
            }
        }
        Action::RequestInformation => out.push(to_user(r, &referrer().await?, Template::GpInformationRequested, &link, &key)),
        Action::Reply => {
            if let Some(assignee) = r.assignee_id {
                out.push(to_user(r, &state.store.get_user(assignee).await?, Template::ConsultantGpReplied, &link, &key));
            }
        }
        Action::IssueOutcome => {
            let ready = if urgent { Template::GpUrgentResponseReady } else { Template::GpResponseReady };
            out.push(to_user(r, &referrer().await?, ready, &link, &key));
        }
        Action::Reject => {
            out.push(to_user(r, &referrer().await?, Template::GpRequestReturned, &link, &key));
        }
        Action::Close | Action::Withdraw => {}
    }
    Ok(out)
}

/// The referrer's alert that the patient finished sending photos through an upload link (written
/// with the link's finish, [`crate::patient_links::finish`]); keyed by the link, so once per link.
pub async fn patient_photos_arrived(state: &App, r: &Referral, link_id: uuid::Uuid) -> Result<Vec<OutboxMessage>> {
    let referrer = state.store.get_user(r.referrer_id).await?;
    Ok(vec![to_user(r, &referrer, Template::GpPatientPhotosArrived, &referral_link(state, r), &format!("link{link_id}"))])
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
