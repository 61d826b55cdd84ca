//! Telederm's interoperability.
//!
//! * [`export`]: a referral as FHIR R4 (UK Core) resources: Patient, Practitioner(Role),
//!   Organization, HealthcareService, ServiceRequest, Task, QuestionnaireResponse, Consent,
//!   DocumentReference + Binary (photos and letters), Communication; Bundles of them.
//! * [`import`]: a Bundle back into referrals, every problem reported as an OperationOutcome.
//! * [`questionnaire`]: the referral proforma Telederm publishes.
//! * [`ers`]: the NHS e-Referral Service mapping, adapter trait and offline adapter.
//! * [`letters`]: outcome letters for the GP and the patient (large print too), HTML and PDF.
//! * [`store_io`]: loading from and importing into the store.
//!
//! `docs/fhir-mapping.md` maps every Telederm field to its FHIR element.

pub mod codes;
pub mod ers;
pub mod export;
pub mod import;
pub mod letters;
pub mod questionnaire;
pub mod record;
pub mod store_io;

pub use export::{ExportOptions, Photo, ReferralRecord};
pub use import::{ImportOptions, ImportedReferral, Issue, operation_outcome, read_bundle};
pub use letters::{Letter, LetterKind};

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
