//! Patient link records and their addresses, for both kinds: an upload link (the practice asks
//! for photos, [`crate::patient_links::create`]) and a status link (made with each message to the
//! patient, [`crate::notices::for_patient`], in the change's transaction). Made here so both
//! modules share one way to make a token and its record.
//!
//! The token has 256 bits of randomness and only its SHA-256 is stored.

use chrono::Duration;
use telederm_domain::UserId;
use telederm_domain::referral::Referral;
use telederm_store::patient_links::{LinkPurpose, PatientLink};

use crate::App;
use crate::credentials::new_token;

/// How long an upload link works.
pub const UPLOAD_LINK_DAYS: i64 = 7;
/// A status link works while the referral is open and for this many days after the outcome,
/// rejection or withdrawal ([`crate::patient_links::check_usable`]).
pub const STATUS_DAYS_AFTER_END: i64 = 30;
/// And never longer than this after it was made, however long the referral stays open.
pub const STATUS_LINK_MAX_DAYS: i64 = 365;

/// A link just made: its record and the token (sent once, never stored).
pub struct NewLink {
    pub link: PatientLink,
    pub token: String,
}

/// The address a patient opens for a token.
pub fn url(state: &App, token: &str) -> String {
    format!("{}/p/{token}", state.config.public_url.trim_end_matches('/'))
}

/// A new link to `r` (not stored): an upload link taking `max_photos`, or a status link.
pub fn new_link(state: &App, r: &Referral, purpose: LinkPurpose, created_by: Option<UserId>, max_photos: i64) -> NewLink {
    let (token, hash) = new_token();
    let now = state.now();
    let days = match purpose {
        LinkPurpose::Upload => UPLOAD_LINK_DAYS,
        LinkPurpose::Status => STATUS_LINK_MAX_DAYS,
    };
    let link = PatientLink {
        id: uuid::Uuid::new_v4(),
        token_hash: hash,
        referral_id: r.id,
        purpose,
        created_by,
        created_at: now,
        expires_at: now + Duration::days(days),
        revoked_at: None,
        failed_attempts: 0,
        locked_at: None,
        verified_at: None,
        max_photos,
        photos_uploaded: 0,
        submitted_at: None,
    };
    NewLink { link, token }
}
