//! The read model every FHIR resource and letter is made from: one referral with the
//! organisations, people, photos and messages it names (`store_io` loads it from the store).

use serde_json::Value;
use telederm_domain::UserId;
use telederm_domain::organisation::{Organisation, User};
use telederm_domain::policy::PhotoKind;
use telederm_domain::referral::{Message, Referral};
use telederm_store::{DocumentRecord, PhotoRecord};

/// A photo with the bytes of its e-RS-sized attachment derivative.
#[derive(Debug, Clone)]
pub struct Photo {
    pub record: PhotoRecord,
    pub bytes: Vec<u8>,
}

/// A document (PDF attachment: referral letter, consent form, other) with its bytes.
#[derive(Debug, Clone)]
pub struct Document {
    pub record: DocumentRecord,
    pub bytes: Vec<u8>,
}

/// Everything one referral's Bundle is made of.
#[derive(Debug, Clone)]
pub struct ReferralRecord {
    pub referral: Referral,
    /// The referring GP practice.
    pub practice: Organisation,
    /// The provider organisation that runs the referral's service, if known.
    pub provider: Option<Organisation>,
    /// The service's display name (from its policy), if known.
    pub service_name: Option<String>,
    /// The display name of the outcome's onward service, when the outcome names a known service
    /// id (letters print the name, never the id).
    pub onward_service_name: Option<String>,
    /// The users the referral names: referrer, assignee, outcome recorder.
    pub users: Vec<User>,
    pub photos: Vec<Photo>,
    /// The referral's documents (PDFs), oldest first.
    pub documents: Vec<Document>,
    pub messages: Vec<Message>,
}

impl ReferralRecord {
    pub fn user(&self, id: UserId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
}

pub fn photo_kind_code(k: PhotoKind) -> &'static str {
    match k {
        PhotoKind::Locator => "locator",
        PhotoKind::CloseUp => "close_up",
        PhotoKind::Dermoscopic => "dermoscopic",
    }
}

pub fn is_dermoscopic(p: &PhotoRecord) -> bool {
    p.kind == PhotoKind::Dermoscopic || p.report.get("dermoscopic").and_then(Value::as_bool) == Some(true)
}
