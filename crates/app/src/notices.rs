//! Who is told what when a referral changes. The use cases write these messages to the outbox in
//! the same transaction as the change (`Store::apply_change`, with its audit entry), so they are sent if and
//! only if the change commits. A message is a template, a recipient and a link: never clinical
//! detail, a name or an NHS number.
//!
//! | change | told |
//! |---|---|
//! | submitted | the patient (received); the service's consultants (a new case on their worklist; marked urgent for urgent and two-week-wait priority) |
//! | claimed by someone else | the consultant it is assigned to |
//! | information requested | the referrer |
//! | the referrer replied | the consultant who asked (the assignee) |
//! | outcome issued | the referrer (marked urgent for an urgent outcome, [`telederm_domain::flags::urgency`]) and the patient |
//! | the patient finished sending photos through their link | the referrer ([`patient_photos_arrived`]) |
//! | rejected (returned) | the referrer and the patient |
//! | patient upload link created | the patient (photos needed, with the upload link) |
//!
//! SLA reminders (due tomorrow, due today, breached) come from the `sla_reminders` job.

use telederm_domain::flags::{Urgency, urgency};
use telederm_domain::organisation::{Role, User};
use telederm_domain::referral::{Action, Referral};
use telederm_domain::notification::{Channel, Template};
use telederm_store::OutboxMessage;

use crate::App;
use crate::error::Result;


/// The link staff follow: the referral's page.
pub fn referral_link(state: &App, r: &Referral) -> String {
    format!("{}/referrals/{}", state.config.public_url.trim_end_matches('/'), r.id)
}

/// The link patients get for news about their request: the service's front page (they have no
/// account; the details are with their GP practice).
pub fn patient_home_link(state: &App) -> String {
    format!("{}/", state.config.public_url.trim_end_matches('/'))
}

/// A message to the patient by email, else by text message when the notifier can send them;
/// nothing when the patient gave neither.
pub fn to_patient(state: &App, r: &Referral, template: Template, link: String, key: &str) -> Option<OutboxMessage> {
    let contact = &r.patient.contact;
    let (channel, recipient) = match (contact.email.as_deref().map(str::trim), contact.phone.as_deref().map(str::trim)) {
        (Some(email), _) if !email.is_empty() => (Channel::Email, email.to_string()),
        (_, Some(phone)) if !phone.is_empty() && state.config.sms_enabled => (Channel::Sms, phone.to_string()),
        _ => return None,
    };
    Some(OutboxMessage {
        channel,
        recipient,
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
            out.extend(to_patient(state, r, Template::PatientReferralSent, patient_home_link(state), &key));
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
            out.extend(to_patient(state, r, Template::PatientResponseReady, patient_home_link(state), &key));
        }
        Action::Reject => {
            out.push(to_user(r, &referrer().await?, Template::GpRequestReturned, &link, &key));
            out.extend(to_patient(state, r, Template::PatientResponseReady, patient_home_link(state), &key));
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
