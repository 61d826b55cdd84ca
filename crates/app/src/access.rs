//! Who may do what: the one place where roles and organisations turn into permissions.
//!
//! Every handler asks [`allow`] (for an action on a referral) or [`visible_filter`] (for a list);
//! nothing else in the code checks roles for referrals.

use telederm_domain::organisation::{Role, User};
use telederm_domain::referral::{Action, Referral, ReferralStatus};
use telederm_store::ReferralFilter;

use crate::error::Error;

/// Things a person can do with a referral (serialised as [`Capability::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    View,
    EditDraft,
    UploadPhoto,
    Submit,
    Reply,
    Withdraw,
    Close,
    Claim,
    RequestInformation,
    RecordOutcome,
}

impl Capability {
    pub const ALL: [Capability; 10] = [
        Self::View,
        Self::EditDraft,
        Self::UploadPhoto,
        Self::Submit,
        Self::Reply,
        Self::Withdraw,
        Self::Close,
        Self::Claim,
        Self::RequestInformation,
        Self::RecordOutcome,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::EditDraft => "edit_draft",
            Self::UploadPhoto => "upload_photo",
            Self::Submit => "submit",
            Self::Reply => "reply",
            Self::Withdraw => "withdraw",
            Self::Close => "close",
            Self::Claim => "claim",
            Self::RequestInformation => "request_information",
            Self::RecordOutcome => "record_outcome",
        }
    }
}

/// The parts of a referral that decide access.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub practice_id: telederm_domain::OrganisationId,
    pub service_id: &'a str,
    pub status: ReferralStatus,
}

impl<'a> From<&'a Referral> for Scope<'a> {
    fn from(r: &'a Referral) -> Self {
        Scope { practice_id: r.practice_id, service_id: &r.service_id, status: r.status }
    }
}

fn is_referrer_of(user: &User, s: &Scope) -> bool {
    user.role == Role::Referrer && user.organisation_id == s.practice_id
}

/// Consultants and service admins see their services' referrals once submitted (never drafts).
fn serves(user: &User, s: &Scope, role: Role) -> bool {
    user.role == role && s.status != ReferralStatus::Draft && user.services.iter().any(|x| x == s.service_id)
}

/// Whether `user` may do `cap` to a referral in scope `s` (ignoring whether its state allows it;
/// the state machine answers that).
pub fn permits(user: &User, cap: Capability, s: &Scope) -> bool {
    use Capability as C;
    match cap {
        C::View => is_referrer_of(user, s) || serves(user, s, Role::Consultant) || serves(user, s, Role::ServiceAdmin),
        C::EditDraft | C::UploadPhoto | C::Submit | C::Reply | C::Withdraw | C::Close => is_referrer_of(user, s),
        C::Claim | C::RequestInformation | C::RecordOutcome => serves(user, s, Role::Consultant),
    }
}

impl Capability {
    /// Whether a referral in `status` can have this done to it now (the state machine's answer,
    /// whoever asks).
    pub fn fits(self, status: ReferralStatus) -> bool {
        use Capability as C;
        match self {
            C::View => true,
            C::EditDraft => status == ReferralStatus::Draft,
            C::UploadPhoto => status.accepts_photos(),
            C::Submit => status.after(Action::Submit).is_ok(),
            C::Reply => status.after(Action::Reply).is_ok(),
            C::Withdraw => status.after(Action::Withdraw).is_ok(),
            C::Close => status.after(Action::Close).is_ok(),
            C::Claim => status.after(Action::Claim).is_ok(),
            C::RequestInformation => status.after(Action::RequestInformation).is_ok(),
            C::RecordOutcome => status.after(Action::IssueOutcome).is_ok() || status.after(Action::Reject).is_ok(),
        }
    }
}

/// What `user` can do to a referral now: allowed by their role and scope, and by its state.
pub fn permitted_now(user: &User, status: ReferralStatus, s: &Scope) -> Vec<Capability> {
    Capability::ALL.into_iter().filter(|c| *c != Capability::View && c.fits(status) && permits(user, *c, s)).collect()
}

/// Refuses with 404 when the user may not even see the referral (so ids cannot be probed), and
/// 403 when they may see it but not do this.
pub fn allow(user: &User, cap: Capability, s: &Scope) -> Result<(), Error> {
    if !permits(user, Capability::View, s) {
        return Err(Error::not_found("referral"));
    }
    if !permits(user, cap, s) {
        return Err(Error::forbidden(format!(
            "Your role ({}) cannot {} this referral.",
            user.role.as_str(),
            cap.as_str().replace('_', " ")
        )));
    }
    Ok(())
}

/// Narrows a list to what the user may see, or `None` when they may see no referrals at all.
pub fn visible_filter(user: &User, mut f: ReferralFilter) -> Option<ReferralFilter> {
    match user.role {
        Role::Referrer => {
            f.practice_id = Some(user.organisation_id);
        }
        Role::Consultant | Role::ServiceAdmin => {
            let allowed: Vec<String> = match f.service_ids.take() {
                Some(asked) => asked.into_iter().filter(|s| user.services.contains(s)).collect(),
                None => user.services.clone(),
            };
            f.service_ids = Some(allowed);
            let not_draft: Vec<ReferralStatus> = f
                .statuses
                .take()
                .unwrap_or_else(|| ReferralStatus::ALL.to_vec())
                .into_iter()
                .filter(|s| *s != ReferralStatus::Draft)
                .collect();
            f.statuses = Some(not_draft);
        }
        Role::SystemAdmin => return None,
    }
    Some(f)
}

/// Background jobs and notifications (listing, retrying) are for system administrators: they run
/// across every service.
pub fn allow_operations(user: &User) -> Result<(), Error> {
    if user.role == Role::SystemAdmin {
        Ok(())
    } else {
        Err(Error::forbidden("Background jobs are managed by system administrators."))
    }
}
