//! The eligibility engine: a referral's eligibility answers against one service policy.
//!
//! Answers are parsed strictly at the boundary (`EligibilityAnswers::from_json`): an unknown field,
//! a missing field or a wrong type is an error naming the field, never a guess. `evaluate` then
//! reports every reason that applies, each quoting the service's own criterion.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::policy::{AppliesTo, ServicePolicy, is_outward_code};
pub use crate::policy::{Condition, ImageSource, ReasonCode};

/// Where on the body the problem is. The vocabulary is documented in `docs/services.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodySite {
    Breast,
    Perianal,
    Genital,
    Face,
    Scalp,
    Neck,
    Trunk,
    Arm,
    Hand,
    Leg,
    Foot,
    Other,
}

impl BodySite {
    pub const ALL: [BodySite; 12] = [
        Self::Breast,
        Self::Perianal,
        Self::Genital,
        Self::Face,
        Self::Scalp,
        Self::Neck,
        Self::Trunk,
        Self::Arm,
        Self::Hand,
        Self::Leg,
        Self::Foot,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Breast => "breast",
            Self::Perianal => "perianal",
            Self::Genital => "genital",
            Self::Face => "face",
            Self::Scalp => "scalp",
            Self::Neck => "neck",
            Self::Trunk => "trunk",
            Self::Arm => "arm",
            Self::Hand => "hand",
            Self::Leg => "leg",
            Self::Foot => "foot",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|site| site.as_str() == s)
    }

    /// Breast, perianal and genital sites: the seeds' intimate-site exclusion.
    pub fn is_intimate(self) -> bool {
        matches!(self, Self::Breast | Self::Perianal | Self::Genital)
    }
}

/// A UK postcode, upper-cased, split into its outward code (the district) and inward code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Postcode {
    outward: String,
    inward: String,
}

impl Postcode {
    /// Accepts any case and spacing (`wd17 1ab`, `WD171AB`); refuses anything that is not the
    /// shape of a postcode.
    pub fn parse(input: &str) -> Result<Postcode, String> {
        let compact: String = input.chars().filter(|c| *c != ' ').collect::<String>().to_ascii_uppercase();
        if !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{input:?} is not a UK postcode (letters, digits and a space only)"));
        }
        if !(5..=7).contains(&compact.len()) {
            return Err(format!("{input:?} is not a UK postcode (e.g. \"WD17 1AB\")"));
        }
        let (outward, inward) = compact.split_at(compact.len() - 3);
        let ib = inward.as_bytes();
        let inward_ok = ib[0].is_ascii_digit() && ib[1].is_ascii_uppercase() && ib[2].is_ascii_uppercase();
        if !inward_ok || !is_outward_code(outward) {
            return Err(format!("{input:?} is not a UK postcode (e.g. \"WD17 1AB\")"));
        }
        Ok(Postcode { outward: outward.to_owned(), inward: inward.to_owned() })
    }

    /// The postcode district (outward code), e.g. `WD17`.
    pub fn district(&self) -> &str {
        &self.outward
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.outward, self.inward)
    }
}

impl Serialize for Postcode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

// `deny_unknown_fields` documents `from_json`, which refuses unknown fields (serialising ignores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientAnswers {
    pub date_of_birth: NaiveDate,
    /// A UK postcode, any case and spacing when sent (`wd17 1ab`); answered upper-cased with one space.
    #[schema(value_type = String, example = "WD17 1AB")]
    pub postcode: Postcode,
}

/// A referral's eligibility answers, exactly the fields of the documented JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EligibilityAnswers {
    pub referral_date: NaiveDate,
    pub patient: PatientAnswers,
    pub condition: Condition,
    pub lesion_count: u32,
    pub body_sites: Vec<BodySite>,
    pub meets_2ww_criteria: bool,
    pub extreme_psychological_distress: bool,
    pub widespread: bool,
    pub severe_or_systemic_or_urgent: bool,
    pub imaging_practical: bool,
    pub safeguarding_concerns: bool,
    pub has_capacity_to_consent: bool,
    pub best_interests_referral: bool,
    pub consent_given: bool,
    pub known_chronic_inflammatory_condition: bool,
    pub face_identifiable_in_images: bool,
    pub dermoscopic_images: bool,
    pub images_taken_by: ImageSource,
    pub seen_face_to_face: bool,
}

/// Oldest plausible age: a date of birth further back is a typing error.
const MAX_AGE_YEARS: u32 = 130;

/// Whole years from `date_of_birth` to `on`. A 29 February birthday falls on 1 March in other
/// years, as in English law.
pub fn age_in_years(date_of_birth: NaiveDate, on: NaiveDate) -> Option<u32> {
    if on < date_of_birth {
        return None;
    }
    let mut years = on.year() - date_of_birth.year();
    if (on.month(), on.day()) < (date_of_birth.month(), date_of_birth.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

impl EligibilityAnswers {
    /// Parses the answers object strictly.
    pub fn from_json(value: &Value) -> Result<EligibilityAnswers, EligibilityInputError> {
        let mut top = Fields::new(value, "")?;
        let referral_date = top.date("referral_date")?;
        let patient_value = top.take("patient")?;
        let mut patient = Fields::new(&patient_value, "patient.")?;
        let date_of_birth = patient.date("date_of_birth")?;
        let postcode_text = patient.string("postcode")?;
        let postcode = Postcode::parse(&postcode_text).map_err(|reason| patient.invalid("postcode", reason))?;
        patient.finish()?;

        let condition = match top.string("condition")?.as_str() {
            "rash" => Condition::Rash,
            "lesion" => Condition::Lesion,
            other => return Err(top.invalid("condition", format!("{other:?} is not one of \"rash\", \"lesion\""))),
        };
        let lesion_count = top.u32("lesion_count")?;
        let body_sites = top.body_sites("body_sites")?;
        let answers = EligibilityAnswers {
            referral_date,
            patient: PatientAnswers { date_of_birth, postcode },
            condition,
            lesion_count,
            body_sites,
            meets_2ww_criteria: top.bool("meets_2ww_criteria")?,
            extreme_psychological_distress: top.bool("extreme_psychological_distress")?,
            widespread: top.bool("widespread")?,
            severe_or_systemic_or_urgent: top.bool("severe_or_systemic_or_urgent")?,
            imaging_practical: top.bool("imaging_practical")?,
            safeguarding_concerns: top.bool("safeguarding_concerns")?,
            has_capacity_to_consent: top.bool("has_capacity_to_consent")?,
            best_interests_referral: top.bool("best_interests_referral")?,
            consent_given: top.bool("consent_given")?,
            known_chronic_inflammatory_condition: top.bool("known_chronic_inflammatory_condition")?,
            face_identifiable_in_images: top.bool("face_identifiable_in_images")?,
            dermoscopic_images: top.bool("dermoscopic_images")?,
            images_taken_by: match top.string("images_taken_by")?.as_str() {
                "clinician" => ImageSource::Clinician,
                "patient" => ImageSource::Patient,
                other => {
                    return Err(top.invalid(
                        "images_taken_by",
                        format!("{other:?} is not one of \"clinician\", \"patient\""),
                    ));
                }
            },
            seen_face_to_face: top.bool("seen_face_to_face")?,
        };
        top.finish()?;

        match age_in_years(date_of_birth, referral_date) {
            None => {
                return Err(EligibilityInputError::invalid(
                    "patient.date_of_birth",
                    format!("{date_of_birth} is after the referral date {referral_date}"),
                ));
            }
            Some(age) if age > MAX_AGE_YEARS => {
                return Err(EligibilityInputError::invalid(
                    "patient.date_of_birth",
                    format!("{date_of_birth} makes the patient {age} years old: check the date"),
                ));
            }
            Some(_) => {}
        }
        if condition == Condition::Lesion && lesion_count == 0 {
            return Err(EligibilityInputError::invalid(
                "lesion_count",
                "a lesion referral needs at least one lesion for assessment".to_owned(),
            ));
        }
        Ok(answers)
    }

    /// The patient's age in whole years on the referral date.
    pub fn age_years(&self) -> u32 {
        age_in_years(self.patient.date_of_birth, self.referral_date).unwrap_or(0)
    }
}

impl<'de> Deserialize<'de> for EligibilityAnswers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        EligibilityAnswers::from_json(&value).map_err(serde::de::Error::custom)
    }
}

/// Takes fields out of one JSON object, so that whatever is left at the end is unknown.
struct Fields {
    prefix: &'static str,
    map: Map<String, Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl Fields {
    fn new(value: &Value, prefix: &'static str) -> Result<Self, EligibilityInputError> {
        match value {
            Value::Object(map) => Ok(Self { prefix, map: map.clone() }),
            other => Err(EligibilityInputError {
                field: prefix.trim_end_matches('.').to_owned(),
                problem: InputProblem::WrongType { expected: "an object", found: type_name(other) },
            }),
        }
    }

    fn path(&self, field: &str) -> String {
        format!("{}{field}", self.prefix)
    }

    fn invalid(&self, field: &str, reason: String) -> EligibilityInputError {
        EligibilityInputError::invalid(&self.path(field), reason)
    }

    fn take(&mut self, field: &str) -> Result<Value, EligibilityInputError> {
        self.map.remove(field).ok_or_else(|| EligibilityInputError {
            field: self.path(field),
            problem: InputProblem::Missing,
        })
    }

    fn wrong_type(&self, field: &str, expected: &'static str, found: &Value) -> EligibilityInputError {
        EligibilityInputError {
            field: self.path(field),
            problem: InputProblem::WrongType { expected, found: type_name(found) },
        }
    }

    fn bool(&mut self, field: &str) -> Result<bool, EligibilityInputError> {
        match self.take(field)? {
            Value::Bool(b) => Ok(b),
            other => Err(self.wrong_type(field, "a boolean (true or false)", &other)),
        }
    }

    fn string(&mut self, field: &str) -> Result<String, EligibilityInputError> {
        match self.take(field)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong_type(field, "a string", &other)),
        }
    }

    fn u32(&mut self, field: &str) -> Result<u32, EligibilityInputError> {
        match self.take(field)? {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| self.invalid(field, format!("{n} is not a whole number from 0 to {}", u32::MAX))),
            other => Err(self.wrong_type(field, "a whole number", &other)),
        }
    }

    fn date(&mut self, field: &str) -> Result<NaiveDate, EligibilityInputError> {
        let s = self.string(field)?;
        let b = s.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        shaped
            .then(|| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok())
            .flatten()
            .ok_or_else(|| self.invalid(field, format!("{s:?} is not a date written YYYY-MM-DD")))
    }

    fn body_sites(&mut self, field: &str) -> Result<Vec<BodySite>, EligibilityInputError> {
        let items = match self.take(field)? {
            Value::Array(items) => items,
            other => return Err(self.wrong_type(field, "an array of body sites", &other)),
        };
        if items.is_empty() {
            return Err(self.invalid(field, "list at least one body site".to_owned()));
        }
        let mut sites = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_field = format!("{field}[{i}]");
            let Value::String(s) = item else {
                return Err(self.wrong_type(&item_field, "a body site string", item));
            };
            let site = BodySite::parse(s).ok_or_else(|| {
                let known: Vec<&str> = BodySite::ALL.iter().map(|s| s.as_str()).collect();
                self.invalid(&item_field, format!("{s:?} is not a body site; use one of {}", known.join(", ")))
            })?;
            if sites.contains(&site) {
                return Err(self.invalid(&item_field, format!("{s:?} is listed twice")));
            }
            sites.push(site);
        }
        Ok(sites)
    }

    fn finish(self) -> Result<(), EligibilityInputError> {
        match self.map.keys().min() {
            Some(unknown) => Err(EligibilityInputError {
                field: self.path(unknown),
                problem: InputProblem::Unknown,
            }),
            None => Ok(()),
        }
    }
}

/// What is wrong with one field of the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputProblem {
    Missing,
    Unknown,
    WrongType { expected: &'static str, found: &'static str },
    Invalid(String),
}

/// The answers are not a valid eligibility object. `field` is a dotted path, e.g. `patient.postcode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibilityInputError {
    pub field: String,
    pub problem: InputProblem,
}

impl EligibilityInputError {
    fn invalid(field: &str, reason: String) -> Self {
        Self { field: field.to_owned(), problem: InputProblem::Invalid(reason) }
    }

    /// Stable machine code, the same for every problem (the message says which).
    pub fn code(&self) -> &'static str {
        "invalid_eligibility_answers"
    }
}

impl fmt::Display for EligibilityInputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() { "the answers" } else { &self.field };
        match &self.problem {
            InputProblem::Missing => write!(f, "`{field}` is missing"),
            InputProblem::Unknown => write!(f, "`{field}` is not a known field of the eligibility answers"),
            InputProblem::WrongType { expected, found } => {
                write!(f, "`{field}` must be {expected}, not {found}")
            }
            InputProblem::Invalid(reason) => write!(f, "`{field}`: {reason}"),
        }
    }
}

impl std::error::Error for EligibilityInputError {}

/// The outcome of an eligibility check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Decision {
    #[serde(rename = "eligible")]
    Eligible,
    #[serde(rename = "excluded")]
    Excluded,
    /// Meets two-week-wait criteria: refer on the suspected cancer pathway instead.
    #[serde(rename = "redirect_2ww")]
    Redirect2ww,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eligible => "eligible",
            Self::Excluded => "excluded",
            Self::Redirect2ww => "redirect_2ww",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

/// Things the referrer should know that do not exclude the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// The service expects the patient to have been seen; the answers say not face to face.
    NotSeenFaceToFace,
    /// The patient lacks capacity and is referred in their best interests.
    BestInterestsReferral,
    /// Consent is recorded for a patient who lacks capacity to give it.
    ConsentWithoutCapacity,
    /// A best-interests decision is recorded for a patient who has capacity.
    BestInterestsWithCapacity,
    /// The postcode district straddles the catchment boundary.
    CatchmentEdge,
    /// Taking images is not practical, and this service lists no exclusion for it.
    ImagingImpractical,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
}

/// `{"service", "decision", "reasons": [{"code", "message"}], "warnings": [{"code", "message"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EligibilityDecision {
    pub service: String,
    pub decision: Decision,
    pub reasons: Vec<Reason>,
    pub warnings: Vec<Warning>,
}

impl EligibilityDecision {
    pub fn has_reason(&self, code: ReasonCode) -> bool {
        self.reasons.iter().any(|r| r.code == code)
    }

    pub fn reason_codes(&self) -> Vec<ReasonCode> {
        self.reasons.iter().map(|r| r.code).collect()
    }
}

fn list<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> String {
    items.iter().map(|i| name(*i)).collect::<Vec<_>>().join(", ")
}

/// Whether the service's child-face exclusion (`child_face_identifiable`) covers this patient and
/// condition: the policy lists it, the patient is a child for the service (younger than
/// `child_under_age` on the referral date, as in [`evaluate`]) and the criterion is not limited to
/// other conditions. The submit rules then refuse photos in which a face was detected, whatever
/// the checklist answered about faces (`docs/clinical-safety/hazard-log.md`, H3).
pub fn child_face_exclusion_applies(policy: &ServicePolicy, answers: &EligibilityAnswers) -> bool {
    let child = answers.age_years() < policy.child_under_age;
    policy.criteria.iter().any(|c| {
        c.code == ReasonCode::ChildFaceIdentifiable
            && (c.applies_to != AppliesTo::Children || child)
            && (c.conditions.is_empty() || c.conditions.contains(&answers.condition))
    })
}

/// Whether the checklist asks `question` (an answer field) about a patient of `age_years` for this
/// service. The two child-only questions (`face_identifiable_in_images`,
/// `known_chronic_inflammatory_condition`) feed only the child-only exclusions, so they are asked
/// only when the service lists that exclusion and the patient is a child for it; every other
/// question is always asked. A question that is not asked is recorded as `false`, which cannot
/// change the decision (a property test checks this).
pub fn asks(policy: &ServicePolicy, question: &str, age_years: u32) -> bool {
    let code = match question {
        "face_identifiable_in_images" => ReasonCode::ChildFaceIdentifiable,
        "known_chronic_inflammatory_condition" => ReasonCode::ChildChronicInflammatory,
        _ => return true,
    };
    policy.criteria_for(code).any(|c| c.applies_to != AppliesTo::Children || age_years < policy.child_under_age)
}

/// Decides whether `answers` may be referred to the service `policy` describes.
///
/// Every applicable reason is reported, in `ReasonCode` order. Meeting two-week-wait criteria
/// makes the decision `redirect_2ww` whatever else applies; otherwise any reason excludes.
pub fn evaluate(policy: &ServicePolicy, answers: &EligibilityAnswers) -> EligibilityDecision {
    let a = answers;
    let age = a.age_years();
    let child = age < policy.child_under_age;
    let mut reasons: BTreeMap<ReasonCode, Vec<String>> = BTreeMap::new();
    let mut add = |code: ReasonCode, message: String| {
        let messages = reasons.entry(code).or_default();
        if !messages.contains(&message) {
            messages.push(message);
        }
    };
    let worded = |code: ReasonCode, default: String| {
        policy.wording_for(code).map(str::to_owned).unwrap_or(default)
    };

    // Shared by every service: suspected cancer goes on the two-week-wait pathway.
    if a.meets_2ww_criteria {
        add(
            ReasonCode::TwoWeekWait,
            worded(
                ReasonCode::TwoWeekWait,
                "Meets two-week-wait criteria: refer on the suspected cancer pathway instead (rule shared by every Telederm service)".to_owned(),
            ),
        );
    }

    for criterion in policy.criteria.iter().filter(|c| c.code.is_listed_exclusion()) {
        if criterion.applies_to == AppliesTo::Children && !child {
            continue;
        }
        if !criterion.conditions.is_empty() && !criterion.conditions.contains(&a.condition) {
            continue;
        }
        let applies = match criterion.code {
            ReasonCode::PsychologicalDistress => a.extreme_psychological_distress,
            ReasonCode::WidespreadOrSystemic => a.widespread || a.severe_or_systemic_or_urgent,
            ReasonCode::ImagingImpractical => !a.imaging_practical,
            ReasonCode::MultipleLesions => a.lesion_count >= 2,
            ReasonCode::IntimateSite => a.body_sites.iter().any(|s| s.is_intimate()),
            ReasonCode::Safeguarding => a.safeguarding_concerns,
            ReasonCode::LacksCapacity => !a.has_capacity_to_consent && !a.best_interests_referral,
            ReasonCode::ChildFaceIdentifiable => a.face_identifiable_in_images,
            ReasonCode::ChildChronicInflammatory => a.known_chronic_inflammatory_condition,
            _ => false,
        };
        if applies {
            add(criterion.code, criterion.wording.clone());
        }
    }

    // Shared by every service: no consent excludes, except that a patient who lacks capacity may
    // be referred when the clinician records that the referral is in their best interests.
    let consent_ok = if a.has_capacity_to_consent { a.consent_given } else { a.best_interests_referral };
    if policy.consent_required && !consent_ok {
        add(
            ReasonCode::NoConsent,
            worded(
                ReasonCode::NoConsent,
                "The patient's consent to the referral is required (rule shared by every Telederm service)".to_owned(),
            ),
        );
    }

    if !policy.age_range.contains(age) {
        let detail = format!(
            "the service takes patients {} on the referral date; this patient is {age}",
            policy.age_range.describe()
        );
        add(ReasonCode::AgeOutOfRange, with_detail(policy.wording_for(ReasonCode::AgeOutOfRange), detail));
    }

    let district = a.patient.postcode.district();
    if !policy.catchment_postcode_districts.is_empty()
        && !policy.catchment_postcode_districts.iter().any(|d| d == district)
    {
        let detail = format!(
            "postcode district {district} is not in the catchment ({})",
            policy.catchment_postcode_districts.join(", ")
        );
        add(ReasonCode::OutsideCatchment, with_detail(policy.wording_for(ReasonCode::OutsideCatchment), detail));
    }

    if a.condition == Condition::Lesion && policy.lesions_need_dermoscopy && !a.dermoscopic_images {
        add(
            ReasonCode::LesionNeedsDermoscopy,
            worded(ReasonCode::LesionNeedsDermoscopy, "This service needs a dermoscopic image of every lesion".to_owned()),
        );
    }

    if !policy.accepts_condition(a.condition) {
        let detail = format!(
            "the service accepts {} only; this referral is a {}",
            list(&policy.conditions, Condition::as_str),
            a.condition.as_str()
        );
        add(ReasonCode::ConditionNotAccepted, with_detail(policy.wording_for(ReasonCode::ConditionNotAccepted), detail));
    }

    if !policy.photo_sources.contains(&a.images_taken_by) {
        let detail = format!(
            "the service accepts photos taken by: {}; these were taken by the {}",
            list(&policy.photo_sources, ImageSource::as_str),
            a.images_taken_by.as_str()
        );
        add(
            ReasonCode::PhotoSourceNotAccepted,
            with_detail(policy.wording_for(ReasonCode::PhotoSourceNotAccepted), detail),
        );
    }

    let reasons: Vec<Reason> = reasons
        .into_iter()
        .map(|(code, messages)| Reason { code, message: messages.join("; ") })
        .collect();
    let decision = if reasons.iter().any(|r| r.code == ReasonCode::TwoWeekWait) {
        Decision::Redirect2ww
    } else if reasons.is_empty() {
        Decision::Eligible
    } else {
        Decision::Excluded
    };
    EligibilityDecision { service: policy.id.clone(), decision, reasons, warnings: warnings(policy, a) }
}

fn with_detail(wording: Option<&str>, detail: String) -> String {
    match wording {
        Some(w) => format!("{w} ({detail})"),
        None => {
            let mut s = detail;
            if let Some(first) = s.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            s
        }
    }
}

fn warnings(policy: &ServicePolicy, a: &EligibilityAnswers) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |code, message: String| out.push(Warning { code, message });
    if let Some(wording) = &policy.seen_face_to_face_wording
        && !a.seen_face_to_face
    {
        warn(WarningCode::NotSeenFaceToFace, format!("{wording} (the patient has not been seen face to face)"));
    }
    if !a.has_capacity_to_consent && a.best_interests_referral {
        warn(
            WarningCode::BestInterestsReferral,
            "The patient lacks capacity to consent and is referred because the clinician is satisfied the referral is in their best interests: record that decision with the referral".to_owned(),
        );
    }
    if !a.has_capacity_to_consent && a.consent_given {
        warn(
            WarningCode::ConsentWithoutCapacity,
            "Consent is recorded but the patient lacks capacity to consent, so it is not valid consent; only a best-interests decision allows the referral".to_owned(),
        );
    }
    if a.has_capacity_to_consent && a.best_interests_referral {
        warn(
            WarningCode::BestInterestsWithCapacity,
            "A best-interests referral applies only to a patient who lacks capacity; this patient has capacity, so their own consent is what counts".to_owned(),
        );
    }
    let district = a.patient.postcode.district();
    if policy.catchment_edge_districts.iter().any(|d| d == district) {
        warn(
            WarningCode::CatchmentEdge,
            format!("Postcode district {district} straddles the edge of the catchment: confirm the patient lives within the area the service covers"),
        );
    }
    if !a.imaging_practical && policy.wording_for(ReasonCode::ImagingImpractical).is_none() {
        warn(
            WarningCode::ImagingImpractical,
            "Teledermatology needs photographs, and the answers say taking images is not practical".to_owned(),
        );
    }
    out
}
