//! Service policies: who a teledermatology service takes, which photos it needs and how fast it
//! answers. One TOML file per service under `services/` (format documented in
//! `docs/services.md`); the five seed services are built in.
//!
//! Parsing is strict: unknown keys, wrong types, unknown codes and inconsistent settings are
//! refused with the file, the line and the reason, so a deployment's edit never silently changes
//! what a service accepts.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::route::Route;

/// What is being referred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Rash,
    Lesion,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rash => "rash",
            Self::Lesion => "lesion",
        }
    }
}

/// Who took the photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    Clinician,
    Patient,
}

impl ImageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::Patient => "patient",
        }
    }
}

/// The quality gate's verdict on a photo: usable as it is, usable with a warning, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Warn,
    Reject,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Warn => "warn",
            Verdict::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        [Verdict::Accept, Verdict::Warn, Verdict::Reject].into_iter().find(|v| v.as_str() == s)
    }

    /// Whether a photo with this verdict counts towards a referral (a refused one never does).
    pub fn usable(self) -> bool {
        self != Verdict::Reject
    }
}

/// The kind of photograph a service asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotoKind {
    /// Shows where the problem is on the body (seed 002: "from 1-1.5 metres away").
    Locator,
    /// Shows the affected area in detail (seed 002: "from approx. 30cm away").
    CloseUp,
    /// Taken through a dermatoscope.
    Dermoscopic,
}

impl PhotoKind {
    /// The kind in a sentence ("photo 2 (close-up)").
    pub fn short_name(self) -> &'static str {
        match self {
            PhotoKind::Locator => "locator",
            PhotoKind::CloseUp => "close-up",
            PhotoKind::Dermoscopic => "dermoscopic",
        }
    }
}

/// Why a referral is not eligible (or must go elsewhere). The snake_case names are stable and are
/// what the API, the UI and the CLI show as `code`. Declaration order is the order reasons are
/// reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    TwoWeekWait,
    PsychologicalDistress,
    WidespreadOrSystemic,
    ImagingImpractical,
    MultipleLesions,
    IntimateSite,
    Safeguarding,
    LacksCapacity,
    NoConsent,
    ChildFaceIdentifiable,
    ChildChronicInflammatory,
    AgeOutOfRange,
    OutsideCatchment,
    LesionNeedsDermoscopy,
    ConditionNotAccepted,
    PhotoSourceNotAccepted,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 16] = [
        Self::TwoWeekWait,
        Self::PsychologicalDistress,
        Self::WidespreadOrSystemic,
        Self::ImagingImpractical,
        Self::MultipleLesions,
        Self::IntimateSite,
        Self::Safeguarding,
        Self::LacksCapacity,
        Self::NoConsent,
        Self::ChildFaceIdentifiable,
        Self::ChildChronicInflammatory,
        Self::AgeOutOfRange,
        Self::OutsideCatchment,
        Self::LesionNeedsDermoscopy,
        Self::ConditionNotAccepted,
        Self::PhotoSourceNotAccepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TwoWeekWait => "two_week_wait",
            Self::PsychologicalDistress => "psychological_distress",
            Self::WidespreadOrSystemic => "widespread_or_systemic",
            Self::ImagingImpractical => "imaging_impractical",
            Self::MultipleLesions => "multiple_lesions",
            Self::IntimateSite => "intimate_site",
            Self::Safeguarding => "safeguarding",
            Self::LacksCapacity => "lacks_capacity",
            Self::NoConsent => "no_consent",
            Self::ChildFaceIdentifiable => "child_face_identifiable",
            Self::ChildChronicInflammatory => "child_chronic_inflammatory",
            Self::AgeOutOfRange => "age_out_of_range",
            Self::OutsideCatchment => "outside_catchment",
            Self::LesionNeedsDermoscopy => "lesion_needs_dermoscopy",
            Self::ConditionNotAccepted => "condition_not_accepted",
            Self::PhotoSourceNotAccepted => "photo_source_not_accepted",
        }
    }

    /// Exclusion criteria are applied only when a policy lists them. The other codes are driven by
    /// the policy's structured settings (age range, catchment, conditions, photo sources,
    /// dermoscopy, consent) or are shared by every service (two-week wait); a criterion entry for
    /// them only supplies the service's wording.
    pub fn is_listed_exclusion(self) -> bool {
        matches!(
            self,
            Self::PsychologicalDistress
                | Self::WidespreadOrSystemic
                | Self::ImagingImpractical
                | Self::MultipleLesions
                | Self::IntimateSite
                | Self::Safeguarding
                | Self::LacksCapacity
                | Self::ChildFaceIdentifiable
                | Self::ChildChronicInflammatory
        )
    }

    fn is_child_only(self) -> bool {
        matches!(self, Self::ChildFaceIdentifiable | Self::ChildChronicInflammatory)
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whom a criterion applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppliesTo {
    #[default]
    Everyone,
    /// Patients younger than the policy's `child_under_age` on the referral date.
    Children,
}

/// One criterion in the service's own words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    pub code: ReasonCode,
    #[serde(default)]
    pub applies_to: AppliesTo,
    /// Conditions the criterion is limited to (empty = every condition), e.g. seed 002's
    /// "Breast, perianal and genital rashes".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The service's wording, quoted in every reason the criterion produces.
    pub wording: String,
}

/// A photograph the service needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhotoRequirement {
    pub kind: PhotoKind,
    pub count: u32,
    /// The condition this requirement applies to; absent = every condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// How to take it, in the seed's words where it has any.
    pub guidance: String,
}

/// Age bounds in whole years on the referral date. `min_years = 2` means "aged 2 or over";
/// `under_years = 16` means "under 16" (the 16th birthday is outside the range).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgeRange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_years: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_years: Option<u32>,
}

impl AgeRange {
    pub fn contains(&self, age_years: u32) -> bool {
        self.min_years.is_none_or(|min| age_years >= min)
            && self.under_years.is_none_or(|under| age_years < under)
    }

    pub fn is_unbounded(&self) -> bool {
        self.min_years.is_none() && self.under_years.is_none()
    }

    /// e.g. "under 16", "aged 18 or over", "aged 2 or over and under 16", "any age".
    pub fn describe(&self) -> String {
        match (self.min_years, self.under_years) {
            (None, None) => "any age".to_owned(),
            (Some(min), None) => format!("aged {min} or over"),
            (None, Some(under)) => format!("under {under}"),
            (Some(min), Some(under)) => format!("aged {min} or over and under {under}"),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_child_under_age() -> u32 {
    18
}

/// A validated service identifier: lowercase letters, digits and single hyphens.
fn deserialize_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let id = String::deserialize(d)?;
    let well_formed = !id.is_empty()
        && id.len() <= 64
        && id.split('-').all(|part| {
            !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if well_formed {
        Ok(id)
    } else {
        Err(serde::de::Error::custom(format!(
            "service id {id:?} must be 1-64 lowercase letters, digits and single hyphens, e.g. \"west-herts-paediatric\""
        )))
    }
}

fn deserialize_districts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for entry in raw {
        let district = normalise_district(&entry).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{entry:?} is not a postcode district (the outward code, e.g. \"WD17\" or \"HP1\")"
            ))
        })?;
        if !seen.insert(district.clone()) {
            return Err(serde::de::Error::custom(format!(
                "postcode district {district} is listed twice"
            )));
        }
        out.push(district);
    }
    Ok(out)
}

/// Upper-cases and checks a postcode district (outward code): `A9`, `A99`, `AA9`, `AA99`, `A9A`, `AA9A`.
pub fn normalise_district(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_uppercase();
    is_outward_code(&s).then_some(s)
}

pub(crate) fn is_outward_code(s: &str) -> bool {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) {
        return false;
    }
    match &b[letters..] {
        [d] => d.is_ascii_digit(),
        [d, e] => d.is_ascii_digit() && (e.is_ascii_digit() || e.is_ascii_uppercase()),
        _ => false,
    }
}

/// A response target agreed with one practice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeTarget {
    /// The practice's ODS code (e.g. `F84003`).
    pub ods_code: String,
    pub working_days: u32,
}

/// What the patient's status page says once the specialist has answered (`outcome_for_patient`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeForPatient {
    /// The GP practice has the answer and will contact the patient to talk about it: the page
    /// shows no outcome (the seeds: "Your GP will then contact you to discuss the outcome").
    #[default]
    GpDiscussesFirst,
    /// The page shows what happens next in the words of the patient letter
    /// (`outcome::next_step(..).patient_told`); never the diagnosis or the plan.
    ShownToPatient,
}

/// A teledermatology service's rules, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicy {
    #[serde(deserialize_with = "deserialize_id")]
    pub id: String,
    pub name: String,
    pub provider: String,
    /// One paragraph for the service directory.
    pub summary: String,
    pub routes: Vec<Route>,
    pub conditions: Vec<Condition>,
    pub lesions_need_dermoscopy: bool,
    pub photo_sources: Vec<ImageSource>,
    /// The practice may send the patient a secure link to upload photos from home.
    pub patient_upload_links: bool,
    pub consent_required: bool,
    /// The patient is told directly about their care pathway, diagnosis and plan.
    #[serde(default)]
    pub patient_kept_informed: bool,
    /// Once the specialist has answered, whether the patient's status page shows what happens
    /// next (the patient letter's wording) or says their GP practice will contact them first.
    #[serde(default)]
    pub outcome_for_patient: OutcomeForPatient,
    /// A photo whose upright short side is below this is refused (`low_resolution`, reject).
    pub min_photo_short_side_px: u32,
    /// A photo whose short side is at least this passes the resolution check without a warning;
    /// between the minimum and this it passes with a "small, detail may be lost" warning.
    /// Absent = twice `min_photo_short_side_px`. A service that asks for a size (City & Hackney:
    /// "Large") sets it to the short side of that size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended_photo_short_side_px: Option<u32>,
    pub max_attachment_bytes: u64,
    #[serde(default)]
    pub age_range: AgeRange,
    /// Outward codes of the catchment; empty = no catchment restriction.
    #[serde(default, deserialize_with = "deserialize_districts")]
    pub catchment_postcode_districts: Vec<String>,
    /// Districts that straddle the catchment boundary: accepted, with a warning to confirm.
    #[serde(default, deserialize_with = "deserialize_districts")]
    pub catchment_edge_districts: Vec<String>,
    pub response_target_working_days: u32,
    /// Who may send a referral (drafts may be prepared by anyone at the practice); empty = any
    /// referrer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrer_professions: Vec<crate::organisation::Profession>,
    /// Response targets agreed with particular practices, by ODS code (seed 003: "within 2-3
    /// working days depending on our agreement with your practice"); every other practice gets
    /// `response_target_working_days`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub practice_response_targets: Vec<PracticeTarget>,
    /// While the service waits for the referrer's answer to its question, the response clock
    /// stops: the due date moves on by the working days it waited, and no reminder is sent.
    #[serde(default = "default_true")]
    pub pause_clock_while_awaiting_information: bool,
    /// The local two-week-wait (suspected cancer) referral form or its instructions (https),
    /// linked wherever Telederm tells a GP to use the two-week-wait pathway instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_week_wait_form_url: Option<String>,
    /// Patients younger than this on the referral date count as children for child-only criteria.
    #[serde(default = "default_child_under_age")]
    pub child_under_age: u32,
    /// When set, a patient not seen face to face draws a warning quoting these words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_face_to_face_wording: Option<String>,
    /// General photo advice in the service's words (lighting, focus, attachment size).
    #[serde(default)]
    pub photo_guidance: Vec<String>,
    /// Other things the service says referrers must know.
    #[serde(default)]
    pub notes: Vec<String>,
    pub required_photos: Vec<PhotoRequirement>,
    /// Exclusion criteria and the service's wording for structural rules.
    pub criteria: Vec<Criterion>,
}

/// Whether a service suits a patient before the checklist, and why ([`ServicePolicy::fit_for`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ServiceFit {
    /// The patient's age and postcode are within the service's limits.
    pub suits: bool,
    /// The reason in words, e.g. "Takes patients under 16 (this patient is 9) and covers WD17".
    pub reason: String,
}

impl ServicePolicy {
    /// Parses and checks one policy file. `file_name` is only used in errors.
    pub fn from_toml(file_name: &str, text: &str) -> Result<ServicePolicy, PolicyError> {
        let policy: ServicePolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of_offset(text, span.start));
            PolicyError::new(PolicyErrorKind::Syntax, file_name, line, e.message().trim().replace('\n', "; "))
        })?;
        policy.check(file_name, text)?;
        Ok(policy)
    }

    /// The criteria listed for `code`, in file order.
    pub fn criteria_for(&self, code: ReasonCode) -> impl Iterator<Item = &Criterion> {
        self.criteria.iter().filter(move |c| c.code == code)
    }

    /// The service's wording for `code`, if the file gives one.
    pub fn wording_for(&self, code: ReasonCode) -> Option<&str> {
        self.criteria_for(code).next().map(|c| c.wording.as_str())
    }

    pub fn offers(&self, route: Route) -> bool {
        self.routes.contains(&route)
    }

    /// The route, when the service offers only one (the referrer is then not asked).
    pub fn only_route(&self) -> Option<Route> {
        match self.routes.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// Who takes the photos, when the service accepts only one source (the referrer is then not asked).
    pub fn only_photo_source(&self) -> Option<ImageSource> {
        match self.photo_sources.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// How this service fits a patient of `age_years` living in postcode district `district`, with
    /// the reason in words, for suggesting services before the referrer chooses one. Only the
    /// service's structural limits (age range, catchment) count: the checklist decides the rest.
    pub fn fit_for(&self, age_years: u32, district: &str) -> ServiceFit {
        if !self.age_range.contains(age_years) {
            return ServiceFit { suits: false, reason: format!("Takes patients {}; this patient is {age_years}", self.age_range.describe()) };
        }
        let area = if self.catchment_postcode_districts.is_empty() {
            "has no catchment limit".to_owned()
        } else if self.catchment_postcode_districts.iter().any(|d| d.eq_ignore_ascii_case(district)) {
            format!("covers {}", district.to_ascii_uppercase())
        } else {
            return ServiceFit {
                suits: false,
                reason: format!("Covers {} only; this patient lives in {}", self.catchment_postcode_districts.join(", "), district.to_ascii_uppercase()),
            };
        };
        ServiceFit { suits: true, reason: format!("Takes patients {} (this patient is {age_years}) and {area}", self.age_range.describe()) }
    }

    pub fn accepts_condition(&self, condition: Condition) -> bool {
        self.conditions.contains(&condition)
    }

    /// Whether a referrer of this profession may send referrals here (`None`: not recorded).
    pub fn accepts_referrer(&self, profession: Option<crate::organisation::Profession>) -> bool {
        self.referrer_professions.is_empty() || profession.is_some_and(|p| self.referrer_professions.contains(&p))
    }

    /// The response target for a referral from the practice with this ODS code: its agreement
    /// with the service if it has one, else the service's default.
    pub fn response_target_for(&self, practice_ods: &str) -> u32 {
        self.practice_response_targets
            .iter()
            .find(|t| t.ods_code.eq_ignore_ascii_case(practice_ods.trim()))
            .map_or(self.response_target_working_days, |t| t.working_days)
    }

    /// Short side below which a photo draws a resolution warning (see
    /// `recommended_photo_short_side_px`).
    pub fn recommended_short_side_px(&self) -> u32 {
        self.recommended_photo_short_side_px.unwrap_or(self.min_photo_short_side_px.saturating_mul(2))
    }

    /// Advice on taking the photos, for this service and (when known) this referral's condition:
    /// Telederm's general technique, what the service's policy says about dermoscopy (nothing
    /// about lesions for a service that does not take them), then the service's own words.
    pub fn photo_advice(&self, condition: Option<Condition>) -> Vec<String> {
        let mut v = vec![
            "Tap the screen to focus before taking each photo; hold still.".to_owned(),
            "Use good light: natural daylight if possible, no flash glare, no shadows.".to_owned(),
        ];
        let lesions = self.accepts_condition(Condition::Lesion) && condition != Some(Condition::Rash);
        if lesions {
            let required = self.lesions_need_dermoscopy
                || self.photos_for(Condition::Lesion).any(|p| p.kind == PhotoKind::Dermoscopic);
            v.push(if required {
                format!("For a lesion (mole, spot, growth): {} needs a dermoscopic view.", self.name)
            } else {
                "For a lesion (mole, spot, growth): add a dermoscopic view if you have a dermatoscope.".to_owned()
            });
        }
        v.extend(self.photo_guidance.iter().cloned());
        v
    }

    /// The photos needed for a referral of `condition`.
    /// The kind to give the next of several photos uploaded together without saying which is
    /// which: the first requirement for `condition` (in the policy's order) still short of its
    /// count, counting the photos already on the referral (`have`); a close-up once all are met.
    /// The referrer can change it on the photo.
    pub fn next_photo_kind(&self, condition: Option<Condition>, have: &[PhotoKind]) -> PhotoKind {
        self.required_photos
            .iter()
            .filter(|p| match condition {
                Some(c) => p.condition.is_none_or(|pc| pc == c),
                None => p.condition.is_none(),
            })
            .find(|req| have.iter().filter(|k| **k == req.kind).count() < req.count as usize)
            .map_or(PhotoKind::CloseUp, |req| req.kind)
    }

    pub fn photos_for(&self, condition: Condition) -> impl Iterator<Item = &PhotoRequirement> {
        self.required_photos
            .iter()
            .filter(move |p| p.condition.is_none_or(|c| c == condition))
    }

    fn check(&self, file: &str, text: &str) -> Result<(), PolicyError> {
        let fail = |key: &str, reason: String| {
            Err(PolicyError::new(PolicyErrorKind::Invalid, file, line_of_key(text, key), reason))
        };
        for (key, value) in [("name", &self.name), ("provider", &self.provider), ("summary", &self.summary)] {
            if value.trim().is_empty() {
                return fail(key, format!("`{key}` must not be empty"));
            }
        }
        if let Some(url) = &self.two_week_wait_form_url
            && (!url.starts_with("https://") || url.len() <= "https://".len() || url.contains(char::is_whitespace))
        {
            return fail("two_week_wait_form_url", format!("`two_week_wait_form_url` must be an https:// address, not {url:?}"));
        }
        if let Err(reason) = non_empty_unique("routes", &self.routes) {
            return fail("routes", reason);
        }
        if let Err(reason) = non_empty_unique("conditions", &self.conditions) {
            return fail("conditions", reason);
        }
        if let Err(reason) = non_empty_unique("photo_sources", &self.photo_sources) {
            return fail("photo_sources", reason);
        }
        if self.patient_upload_links && !self.photo_sources.contains(&ImageSource::Patient) {
            return fail(
                "patient_upload_links",
                "`patient_upload_links = true` needs \"patient\" in `photo_sources`".to_owned(),
            );
        }
        if self.lesions_need_dermoscopy {
            if !self.accepts_condition(Condition::Lesion) {
                return fail(
                    "lesions_need_dermoscopy",
                    "`lesions_need_dermoscopy = true` but `conditions` does not include \"lesion\"".to_owned(),
                );
            }
            if !self.photos_for(Condition::Lesion).any(|p| p.kind == PhotoKind::Dermoscopic) {
                return fail(
                    "lesions_need_dermoscopy",
                    "`lesions_need_dermoscopy = true` needs a `[[required_photos]]` of kind \"dermoscopic\" for lesions".to_owned(),
                );
            }
        }
        if self.min_photo_short_side_px == 0 {
            return fail("min_photo_short_side_px", "`min_photo_short_side_px` must be at least 1".to_owned());
        }
        if let Some(r) = self.recommended_photo_short_side_px
            && r < self.min_photo_short_side_px
        {
            return fail(
                "recommended_photo_short_side_px",
                format!("`recommended_photo_short_side_px` ({r}) must be at least `min_photo_short_side_px` ({})", self.min_photo_short_side_px),
            );
        }
        if self.max_attachment_bytes == 0 {
            return fail("max_attachment_bytes", "`max_attachment_bytes` must be at least 1".to_owned());
        }
        if let AgeRange { min_years: Some(min), under_years: Some(under) } = self.age_range
            && min >= under
        {
            return fail(
                "age_range",
                format!("`age_range` is empty: min_years {min} is not below under_years {under}"),
            );
        }
        for edge in &self.catchment_edge_districts {
            if !self.catchment_postcode_districts.contains(edge) {
                return fail(
                    "catchment_edge_districts",
                    format!("edge district {edge} is not in `catchment_postcode_districts`"),
                );
            }
        }
        if self.response_target_working_days == 0 {
            return fail(
                "response_target_working_days",
                "`response_target_working_days` must be at least 1".to_owned(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.practice_response_targets {
            let ods = t.ods_code.trim().to_ascii_uppercase();
            if !(3..=6).contains(&ods.len()) || !ods.chars().all(|c| c.is_ascii_alphanumeric()) {
                return fail("practice_response_targets", format!("`ods_code` {:?} is not an ODS code (3 to 6 letters and digits)", t.ods_code));
            }
            if t.working_days == 0 {
                return fail("practice_response_targets", format!("the target for {ods} must be at least 1 working day"));
            }
            if !seen.insert(ods.clone()) {
                return fail("practice_response_targets", format!("{ods} has two targets; give each practice one"));
            }
        }
        if self.child_under_age == 0 {
            return fail("child_under_age", "`child_under_age` must be at least 1".to_owned());
        }
        if self.required_photos.is_empty() {
            return fail("required_photos", "at least one `[[required_photos]]` is needed".to_owned());
        }
        for (i, photo) in self.required_photos.iter().enumerate() {
            let line = line_of_nth_table(text, "required_photos", i);
            let bad = |reason: String| {
                Err(PolicyError::new(PolicyErrorKind::Invalid, file, line, reason))
            };
            if photo.count == 0 {
                return bad("a required photo's `count` must be at least 1".to_owned());
            }
            if photo.guidance.trim().is_empty() {
                return bad("a required photo needs `guidance`".to_owned());
            }
            if let Some(c) = photo.condition
                && !self.accepts_condition(c)
            {
                return bad(format!("photo requirement for {:?} but the service does not accept that condition", c.as_str()));
            }
        }
        let mut wording_codes = BTreeSet::new();
        for (i, criterion) in self.criteria.iter().enumerate() {
            let line = line_of_nth_table(text, "criteria", i);
            let bad = |reason: String| {
                Err(PolicyError::new(PolicyErrorKind::Invalid, file, line, reason))
            };
            if criterion.wording.trim().is_empty() {
                return bad(format!("criterion {} needs the service's `wording`", criterion.code));
            }
            if criterion.code.is_child_only() && criterion.applies_to != AppliesTo::Children {
                return bad(format!("criterion {} applies to children only: set `applies_to = \"children\"`", criterion.code));
            }
            if !criterion.code.is_listed_exclusion() {
                if criterion.applies_to != AppliesTo::Everyone || !criterion.conditions.is_empty() {
                    return bad(format!(
                        "criterion {} only gives wording for a structural rule: `applies_to` and `conditions` do not apply to it",
                        criterion.code
                    ));
                }
                if !wording_codes.insert(criterion.code) {
                    return bad(format!("criterion {} is listed twice", criterion.code));
                }
            }
            for c in &criterion.conditions {
                if !self.accepts_condition(*c) {
                    return bad(format!(
                        "criterion {} is limited to {:?}, which the service does not accept",
                        criterion.code,
                        c.as_str()
                    ));
                }
            }
        }
        if self.criteria.iter().any(|c| c.code == ReasonCode::OutsideCatchment)
            && self.catchment_postcode_districts.is_empty()
        {
            return fail(
                "catchment_postcode_districts",
                "an outside_catchment criterion needs `catchment_postcode_districts`".to_owned(),
            );
        }
        Ok(())
    }
}

fn non_empty_unique<T: PartialEq>(key: &str, items: &[T]) -> Result<(), String> {
    if items.is_empty() {
        return Err(format!("`{key}` must list at least one value"));
    }
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(format!("`{key}` lists a value twice"));
        }
    }
    Ok(())
}

pub(crate) fn line_of_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The line where top-level `key = ...` is set, if it is.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines().position(|line| {
        line.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
    .map(|i| i + 1)
}

/// The line of the `n`-th (0-based) `[[name]]` header.
pub(crate) fn line_of_nth_table(text: &str, name: &str, n: usize) -> Option<usize> {
    let header = format!("[[{name}]]");
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.trim() == header)
        .nth(n)
        .map(|(i, _)| i + 1)
}

/// What went wrong with a policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// Not valid TOML, an unknown key, a missing key or a wrong type.
    Syntax,
    /// Valid TOML whose settings contradict each other or are out of range.
    Invalid,
    /// Two files declare the same id.
    DuplicateId,
    /// The directory or a file could not be read.
    Io,
    /// The directory holds no policy files.
    Empty,
}

/// A policy file refused: which file, which line (when known) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub kind: PolicyErrorKind,
    pub file: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl PolicyError {
    pub(crate) fn new(kind: PolicyErrorKind, file: &str, line: Option<usize>, reason: String) -> Self {
        Self { kind, file: file.to_owned(), line, reason }
    }

    pub fn code(&self) -> &'static str {
        match self.kind {
            PolicyErrorKind::Syntax => "policy_syntax",
            PolicyErrorKind::Invalid => "policy_invalid",
            PolicyErrorKind::DuplicateId => "policy_duplicate_id",
            PolicyErrorKind::Io => "policy_unreadable",
            PolicyErrorKind::Empty => "policy_dir_empty",
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}: line {}: {}", self.file, line, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for PolicyError {}

/// The onward-services directory's file in a services directory (`crate::directory`), which
/// [`load_dir`] leaves alone.
pub const DIRECTORY_FILE: &str = "directory.toml";

/// Loads every `*.toml` file in `dir` but `directory.toml` (not recursively; other files are
/// ignored), sorted by id.
/// Duplicate ids and an empty directory are refused. By convention a file is named `<id>.toml`.
pub fn load_dir(dir: &Path) -> Result<Vec<ServicePolicy>, PolicyError> {
    let dir_name = dir.display().to_string();
    let io = |file: &str, e: std::io::Error| {
        PolicyError::new(PolicyErrorKind::Io, file, None, e.to_string())
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(&dir_name, e))? {
        let path = entry.map_err(|e| io(&dir_name, e))?.path();
        // The onward-services directory lives beside the policies but is not one of them.
        let is_directory = path.file_name().is_some_and(|n| n == DIRECTORY_FILE);
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() && !is_directory {
            paths.push(path);
        }
    }
    paths.sort();
    let mut policies: Vec<(ServicePolicy, String)> = Vec::with_capacity(paths.len());
    for path in paths {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| io(&file, e))?;
        let policy = ServicePolicy::from_toml(&file, &text)?;
        if let Some((_, other)) = policies.iter().find(|(p, _)| p.id == policy.id) {
            return Err(PolicyError::new(
                PolicyErrorKind::DuplicateId,
                &file,
                line_of_key(&text, "id"),
                format!("service id {:?} is already used by {other}", policy.id),
            ));
        }
        policies.push((policy, file));
    }
    if policies.is_empty() {
        return Err(PolicyError::new(
            PolicyErrorKind::Empty,
            &dir_name,
            None,
            "no service policy files (*.toml) in this directory".to_owned(),
        ));
    }
    let mut policies: Vec<ServicePolicy> = policies.into_iter().map(|(p, _)| p).collect();
    policies.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(policies)
}

const BUILTIN: [(&str, &str); 5] = [
    ("services/homerton.toml", include_str!("../../../services/homerton.toml")),
    (
        "services/nhs-advice-and-guidance.toml",
        include_str!("../../../services/nhs-advice-and-guidance.toml"),
    ),
    ("services/hackney-rash.toml", include_str!("../../../services/hackney-rash.toml")),
    (
        "services/clinical-partnership.toml",
        include_str!("../../../services/clinical-partnership.toml"),
    ),
    (
        "services/west-herts-paediatric.toml",
        include_str!("../../../services/west-herts-paediatric.toml"),
    ),
];

/// The five seed services, sorted by id.
pub fn builtin() -> Vec<ServicePolicy> {
    let mut policies: Vec<ServicePolicy> = BUILTIN
        .iter()
        .map(|(file, text)| {
            ServicePolicy::from_toml(file, text)
                .unwrap_or_else(|e| panic!("built-in policy is invalid (a test guards this): {e}"))
        })
        .collect();
    policies.sort_by(|a, b| a.id.cmp(&b.id));
    policies
}

/// The policy with `id`, if any.
pub fn find<'a>(policies: &'a [ServicePolicy], id: &str) -> Option<&'a ServicePolicy> {
    policies.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_policies_parse_and_have_the_seed_ids() {
        for (file, text) in BUILTIN {
            ServicePolicy::from_toml(file, text).unwrap_or_else(|e| panic!("{e}"));
        }
        let ids: Vec<String> = builtin().into_iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            ["clinical-partnership", "hackney-rash", "homerton", "nhs-advice-and-guidance", "west-herts-paediatric"]
        );
    }

    #[test]
    fn outward_codes() {
        for ok in ["W1", "N1", "WD17", "HP1", "HP23", "EC1A", "W1A", "SW1A"] {
            assert!(is_outward_code(ok), "{ok}");
        }
        for bad in ["", "1", "WDX", "WD1AB", "W", "WD177", "123"] {
            assert!(!is_outward_code(bad), "{bad}");
        }
    }

    #[test]
    fn line_helpers() {
        let text = "id = \"x\"\nname = \"y\"\n\n[[criteria]]\ncode = \"a\"\n[[criteria]]\n";
        assert_eq!(line_of_key(text, "name"), Some(2));
        assert_eq!(line_of_key(text, "nam"), None);
        assert_eq!(line_of_nth_table(text, "criteria", 1), Some(6));
        assert_eq!(line_of_offset(text, 0), 1);
        assert_eq!(line_of_offset(text, 9), 2);
    }
}
