//! Patients' feedback ("we would love to hear from you"): once the service has responded (an
//! outcome or a return), the patient's status page and the final message invite a Friends and
//! Family Test rating and an optional comment; nothing clinical is asked. One per referral,
//! given through a status link (the patient is the link: no account). Service admins see their
//! services' counts and comments on the dashboard and download them as CSV; each read is audited.

use telederm_domain::organisation::{Role, User};
use telederm_domain::patient_voice::{FeedbackRating, MAX_COMMENT_CHARS};
use telederm_domain::referral::Referral;
use telederm_store::patient_feedback::PatientFeedback;
use telederm_store::patient_links::{LinkPurpose, PatientLink};
use telederm_store::{AuditOutcome, StoreError};

use crate::App;
use crate::audit::{self, Actor, Target};
use crate::error::{Code, Error, Result};
use crate::patient_links::{check_usable, unavailable};

/// Whether the referral's patient is asked for feedback: the service has responded.
pub fn open(r: &Referral) -> bool {
    r.outcome.is_some()
}

/// The feedback already given about the link's referral, if any.
pub async fn given(state: &App, link: &PatientLink) -> Result<Option<PatientFeedback>> {
    Ok(state.store.patient_feedback_for(link.referral_id).await?)
}

/// The patient gives feedback through their status link: a rating from [`FeedbackRating`] and an
/// optional comment. Stored with its `patient_feedback.create` audit entry in one transaction.
pub async fn give(state: &App, link: &PatientLink, rating: &str, comment: &str) -> Result<PatientFeedback> {
    check_usable(state, link, "patient_feedback.create").await?;
    if link.purpose != LinkPurpose::Status {
        return Err(unavailable());
    }
    let r = state.store.get_referral(link.referral_id).await?;
    let target = Target::within("patient_link", link.id, r.id);
    let result = async {
        if !open(&r) {
            return Err(Error::new(Code::FeedbackNotOpen, "You can tell us how it went once the skin service has responded."));
        }
        let rating = FeedbackRating::parse(rating.trim())
            .ok_or_else(|| Error::new(Code::InvalidFeedback, "Choose how your experience of the service was").with_details(serde_json::json!({"field": "rating"})))?;
        let comment = comment.trim();
        if comment.chars().count() > MAX_COMMENT_CHARS {
            return Err(Error::new(Code::InvalidFeedback, format!("Your comments must be {MAX_COMMENT_CHARS} characters or fewer"))
                .with_details(serde_json::json!({"field": "comment"})));
        }
        let f = PatientFeedback {
            id: uuid::Uuid::new_v4(),
            referral_id: r.id,
            link_id: link.id,
            service_id: r.service_id.to_string(),
            rating,
            comment: comment.to_string(),
            created_at: state.now(),
        };
        let entry = audit::entry(&Actor::patient_link(), "patient_feedback.create", target.clone(), AuditOutcome::Allowed, rating.as_str());
        state.store.insert_patient_feedback(&f, &entry).await.map_err(|e| match e {
            StoreError::Conflict(_) => already_given(),
            e => e.into(),
        })?;
        Ok(f)
    }
    .await;
    if result.is_err() {
        audit::outcome_of(state, &Actor::patient_link(), "patient_feedback.create", target, &result, "").await;
    }
    result
}

fn already_given() -> Error {
    Error::new(Code::FeedbackAlreadyGiven, "Thank you: feedback about this request has already been given.")
}

/// The services whose feedback this user may read: a system admin every service, a service admin
/// theirs; anyone else is refused.
fn scope(state: &App, user: &User) -> Result<Vec<String>> {
    match user.role {
        Role::SystemAdmin => Ok(state.policies.keys().cloned().collect()),
        Role::ServiceAdmin => Ok(user.services.iter().map(|s| s.to_string()).collect()),
        _ => Err(Error::forbidden("Patient feedback is for service and system administrators.")),
    }
}

/// What the dashboard shows.
pub struct Summary {
    /// Every rating with how many gave it, in the question's order.
    pub counts: Vec<(FeedbackRating, i64)>,
    pub total: i64,
    /// The newest comments (with their rating).
    pub comments: Vec<PatientFeedback>,
}

/// How many comments the dashboard shows.
pub const RECENT_COMMENTS: i64 = 20;

/// The admin's services' feedback for the dashboard, recorded as `patient_feedback.read`.
pub async fn summary(state: &App, user: &User) -> Result<Summary> {
    let services = scope(state, user)?;
    let found = state.store.count_patient_feedback(&services).await?;
    let counts: Vec<(FeedbackRating, i64)> =
        FeedbackRating::ALL.iter().map(|r| (*r, found.iter().find(|(x, _)| x == r).map_or(0, |(_, n)| *n))).collect();
    let total = counts.iter().map(|(_, n)| n).sum();
    let comments = state.store.list_patient_feedback(&services, true, Some(RECENT_COMMENTS)).await?;
    let detail = format!("{total} responses, {} comments shown", comments.len());
    audit::record(state, &Actor::user(user), "patient_feedback.read", Target::many("patient_feedback"), AuditOutcome::Allowed, detail).await?;
    Ok(Summary { counts, total, comments })
}

/// The admin's services' feedback as CSV (`submitted_at,service,rating,comment`, newest first),
/// recorded as `patient_feedback.export`. No referral or patient identifier is in it.
pub async fn export_csv(state: &App, user: &User) -> Result<String> {
    let services = scope(state, user)?;
    let all = state.store.list_patient_feedback(&services, false, None).await?;
    let mut out = String::from("submitted_at,service,rating,comment\r\n");
    for f in &all {
        let row = [f.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), f.service_id.clone(), f.rating.as_str().to_string(), f.comment.clone()];
        out.push_str(&row.iter().map(|v| csv_field(v)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    let detail = format!("{} responses", all.len());
    audit::record(state, &Actor::user(user), "patient_feedback.export", Target::many("patient_feedback"), AuditOutcome::Allowed, detail).await?;
    Ok(out)
}

/// One CSV field (RFC 4180 quoting). Free text that a spreadsheet would run as a formula (it
/// starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
pub fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, \"b\"\nc"), "\"a, \"\"b\"\"\nc\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
