//! Outcome letters: a structured letter for the GP and a plain-English letter for the patient
//! (also in large print), each as HTML and as PDF.
//!
//! A letter is a list of [`Block`]s built once from the referral; `to_html` and `to_pdf` render the
//! same blocks, so the two formats never say different things. The PDF ([`pdf`]) is tagged for
//! screen readers and embeds Noto Sans, so every name prints as written; it is deterministic byte
//! for byte. The HTML carries its style inline; whoever serves it allows that style by its hash
//! ([`Letter::style_csp_source`]).

pub mod pdf;

/// The language of every letter: the HTML's `lang`, the PDF's `/Lang`.
pub const LANGUAGE: &str = "en-GB";

use chrono::{DateTime, NaiveDate, Utc};
use telederm_domain::outcome::{NextStep, Outcome, OutcomeCode, next_step};
use telederm_domain::referral::Priority;

use crate::record::{ReferralRecord, is_dermoscopic, photo_kind_code};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LetterKind {
    Gp,
    Patient,
    PatientLargePrint,
}

impl LetterKind {
    pub const ALL: [LetterKind; 3] = [LetterKind::Gp, LetterKind::Patient, LetterKind::PatientLargePrint];

    /// Stable code: the URL segment, the FHIR `DocumentReference.type` code and the Task output type.
    pub fn code(self) -> &'static str {
        match self {
            LetterKind::Gp => "gp-outcome-letter",
            LetterKind::Patient => "patient-outcome-letter",
            LetterKind::PatientLargePrint => "patient-outcome-letter-large-print",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s || k.short() == s)
    }

    /// Short name: `gp`, `patient`, `patient-large-print`.
    pub fn short(self) -> &'static str {
        match self {
            LetterKind::Gp => "gp",
            LetterKind::Patient => "patient",
            LetterKind::PatientLargePrint => "patient-large-print",
        }
    }

    pub fn id_prefix(self) -> &'static str {
        match self {
            LetterKind::Gp => "ltr-gp",
            LetterKind::Patient => "ltr-pt",
            LetterKind::PatientLargePrint => "ltr-ptlp",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            LetterKind::Gp => "Teledermatology outcome letter for the GP",
            LetterKind::Patient => "Your skin photos: what the specialist said",
            LetterKind::PatientLargePrint => "Your skin photos: what the specialist said (large print)",
        }
    }

    pub fn file_stem(self) -> &'static str {
        match self {
            LetterKind::Gp => "outcome-letter-gp",
            LetterKind::Patient => "outcome-letter-patient",
            LetterKind::PatientLargePrint => "outcome-letter-patient-large-print",
        }
    }

    pub fn style(self) -> Style {
        match self {
            LetterKind::Gp | LetterKind::Patient => Style::STANDARD,
            LetterKind::PatientLargePrint => Style::LARGE_PRINT,
        }
    }
}

/// Type sizes in points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub title: f32,
    pub heading: f32,
    pub body: f32,
    pub small: f32,
    /// Labels beside values (two columns) rather than above them.
    pub two_columns: bool,
}

impl Style {
    pub const STANDARD: Style = Style { title: 16.0, heading: 12.5, body: 10.5, small: 8.5, two_columns: true };
    /// Large print: nothing below 16 pt (RNIB clear print guidance: 16–18 pt).
    pub const LARGE_PRINT: Style = Style { title: 26.0, heading: 20.0, body: 16.0, small: 16.0, two_columns: false };
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Paragraph(String),
    /// A labelled value, e.g. "NHS number: 999 000 0018".
    Field(String, String),
    Bullets(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    pub kind: LetterKind,
    /// Who sends it (the service), shown in the header.
    pub from: String,
    pub title: String,
    pub date: DateTime<Utc>,
    pub reference: String,
    pub blocks: Vec<Block>,
}

/// A document in the letters' layout that is not a letter about one referral (a report's
/// summary): the standard type sizes (those of the GP letter: `kind` only chooses them here),
/// embedded font and tagging of the letters.
pub fn document_pdf(from: &str, title: &str, date: DateTime<Utc>, reference: &str, blocks: Vec<Block>) -> Vec<u8> {
    pdf::render(&Letter { kind: LetterKind::Gp, from: from.into(), title: title.into(), date, reference: reference.into(), blocks })
}

pub fn long_date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

pub fn nhs_number_display(digits: &str) -> String {
    if digits.len() == 10 { format!("{} {} {}", &digits[..3], &digits[3..6], &digits[6..]) } else { digits.to_string() }
}

fn priority_label(p: Priority) -> &'static str {
    match p {
        Priority::Routine => "Routine",
        Priority::Urgent => "Urgent",
        Priority::TwoWeekWait => "Two-week wait (urgent suspected cancer)",
    }
}

/// Safety-netting advice for the GP and the patient, by outcome.
fn safety_net(code: OutcomeCode) -> (&'static str, &'static str) {
    match code {
        OutcomeCode::RedirectTwoWeekWait => (
            "Please refer today on the urgent suspected cancer (two-week-wait) pathway. The teledermatology service has not made this referral.",
            "Your GP needs to refer you urgently to a skin specialist. If you have not heard about an appointment within two weeks, contact your GP practice.",
        ),
        OutcomeCode::Rejected => (
            "The request could not be assessed; clinical responsibility remains with the referrer. Re-refer with the missing information or photographs, or refer by another route if clinically indicated.",
            "The specialist could not give advice this time. Your GP practice will contact you about what happens next. If your skin gets worse before then, contact your GP practice.",
        ),
        _ => (
            "Clinical responsibility remains with the GP. Re-refer or seek urgent advice if the lesion or rash changes in size, shape or colour, bleeds, ulcerates, spreads rapidly, or does not respond to the plan above.",
            "Contact your GP practice if the area changes size, shape or colour, bleeds, becomes sore or spreads quickly, or if the treatment does not help. If you feel very unwell, call NHS 111 or, in an emergency, 999.",
        ),
    }
}

/// What happens next, in plain English, for the patient: the table's words
/// ([`telederm_domain::outcome::next_step`]) and the details of this outcome.
fn patient_next_steps(o: &Outcome, step: &NextStep, onward: Option<&str>) -> String {
    match o.code {
        OutcomeCode::OnwardReferral => match onward {
            Some(name) => format!("{} The team is: {name}.", step.patient_told),
            None => step.patient_told.to_string(),
        },
        OutcomeCode::Rejected => format!(
            "{} The reason was: {}.",
            step.patient_told,
            o.rejection_reason.map(|r| r.label().to_lowercase()).unwrap_or_else(|| "not given".into())
        ),
        _ => step.patient_told.to_string(),
    }
}

/// The urgency heading and the patient's sentence, when the outcome is urgent or two-week wait (by
/// its code or the priority it sets).
fn urgency(o: &Outcome) -> Option<(&'static str, &'static str)> {
    use telederm_domain::referral::Priority as P;
    if o.code == OutcomeCode::RedirectTwoWeekWait || o.priority == Some(P::TwoWeekWait) {
        Some(("Two-week wait", "This is urgent. You should be seen within two weeks."))
    } else if o.code == OutcomeCode::FaceToFaceUrgent || o.priority == Some(P::Urgent) {
        Some(("Urgent", "This is urgent."))
    } else {
        None
    }
}

impl Letter {
    /// The letter of `kind` for a referral, or `None` when it has no outcome yet.
    pub fn for_record(rec: &ReferralRecord, kind: LetterKind) -> Option<Letter> {
        let r = &rec.referral;
        let o = r.outcome.as_ref()?;
        let service = rec.service_name.clone().unwrap_or_else(|| r.service_id.clone());
        let from = match &rec.provider {
            Some(p) => format!("{service}, {}", p.name),
            None => service.clone(),
        };
        let consultant = rec.user(o.recorded_by).map(|u| u.display_name.clone()).unwrap_or_else(|| "The consultant".into());
        let referrer = rec.user(r.referrer_id).map(|u| u.display_name.clone()).unwrap_or_else(|| "the referrer".into());
        let p = &r.patient;
        let step = next_step(r.route, o.code, r.conversion_authorised);
        // The onward service by name: the id an outcome records is never shown.
        let onward = o.onward_service.as_ref().map(|s| rec.onward_service_name.clone().unwrap_or_else(|| s.clone()));
        let mut blocks = Vec::new();
        match kind {
            LetterKind::Gp => {
                blocks.push(Block::Field("To".into(), format!("{referrer}, {} ({})", rec.practice.name, rec.practice.ods_code)));
                // The outcome and who acts next come first (hazard log H1, H2).
                // An urgent outcome's section is headed by its urgency.
                blocks.push(Block::Heading(urgency(o).map_or("Outcome", |(heading, ..)| heading).into()));
                blocks.push(Block::Field("Outcome".into(), o.code.label().into()));
                blocks.push(Block::Field("Action for you".into(), step.gp_action.into()));
                if let Some(reason) = o.rejection_reason {
                    blocks.push(Block::Field("Reason".into(), reason.label().into()));
                }
                if let Some(s) = &onward {
                    blocks.push(Block::Field("Onward service".into(), s.clone()));
                }
                if let Some(pr) = o.priority {
                    blocks.push(Block::Field("Priority".into(), priority_label(pr).into()));
                }
                let ers = crate::ers::mapping(o.code, r.route, r.conversion_authorised);
                blocks.push(Block::Field("e-RS outcome".into(), ers.outcome_code().into()));
                blocks.push(Block::Heading("Patient".into()));
                blocks.push(Block::Field("Name".into(), p.full_name()));
                blocks.push(Block::Field("Date of birth".into(), long_date(p.date_of_birth)));
                blocks.push(Block::Field("NHS number".into(), nhs_number_display(&p.nhs_number.as_digits())));
                blocks.push(Block::Field("Postcode".into(), p.postcode.clone()));
                if p.contact.large_print {
                    blocks.push(Block::Field("Letters".into(), "Large print: the patient asked for it (the large-print patient letter comes with this one)".into()));
                }
                blocks.push(Block::Heading("Referral".into()));
                blocks.push(Block::Field("Reference".into(), r.id.to_string()));
                if let Some(ubrn) = &r.ubrn {
                    blocks.push(Block::Field("e-RS UBRN".into(), telederm_domain::referral::ubrn_display(ubrn)));
                }
                blocks.push(Block::Field("Route".into(), r.route.label().into()));
                blocks.push(Block::Field("Priority".into(), priority_label(r.priority).into()));
                if let Some(s) = r.submitted_at {
                    blocks.push(Block::Field("Submitted".into(), long_date(s.date_naive())));
                }
                if !r.history.presenting_complaint.is_empty() {
                    blocks.push(Block::Field("Presenting complaint".into(), r.history.presenting_complaint.clone()));
                }
                if !r.history.body_sites.is_empty() {
                    let sites: Vec<String> =
                        r.history.body_sites.iter().map(|s| crate::questionnaire::body_site_display(s)).collect();
                    blocks.push(Block::Field("Body sites".into(), sites.join(", ")));
                }
                blocks.push(Block::Heading("Images reviewed".into()));
                if rec.photos.is_empty() {
                    blocks.push(Block::Paragraph("No photographs were attached.".into()));
                } else {
                    blocks.push(Block::Bullets(
                        rec.photos
                            .iter()
                            .enumerate()
                            .map(|(i, ph)| {
                                format!(
                                    "Image {}: {}{}, {} x {} px, taken {}",
                                    i + 1,
                                    photo_kind_code(ph.record.kind).replace('_', "-"),
                                    if is_dermoscopic(&ph.record) && ph.record.kind != telederm_domain::policy::PhotoKind::Dermoscopic { " (dermoscopic)" } else { "" },
                                    ph.record.width,
                                    ph.record.height,
                                    long_date(ph.record.created_at.date_naive())
                                )
                            })
                            .collect(),
                    ));
                }
                blocks.push(Block::Heading("Diagnosis".into()));
                blocks.push(Block::Paragraph(or_none(&o.diagnosis)));
                blocks.push(Block::Heading("Management plan".into()));
                blocks.push(Block::Paragraph(or_none(&o.management_plan)));
                blocks.push(Block::Heading("Follow-up".into()));
                blocks.push(Block::Paragraph(or_none(&o.follow_up)));
                blocks.push(Block::Heading("Safety-netting".into()));
                blocks.push(Block::Paragraph(safety_net(o.code).0.into()));
                // The sign-off as one field: the service is in the header and the letter's date is
                // the day the outcome was recorded. A heading here (kept with what follows) and a
                // separate date pushed a short letter's last lines onto an otherwise empty page.
                blocks.push(Block::Field("Consultant".into(), format!("{consultant}, Consultant Dermatologist")));
            }
            LetterKind::Patient | LetterKind::PatientLargePrint => {
                blocks.push(Block::Paragraph(format!("Dear {}", p.full_name())));
                blocks.push(Block::Paragraph(format!(
                    "Your GP, {referrer} at {}, sent photos of your skin to a skin specialist (a dermatologist) at {service}. The specialist has now looked at them. This letter tells you what they said.",
                    rec.practice.name
                )));
                if let Some((heading, patient)) = urgency(o) {
                    blocks.push(Block::Heading(heading.into()));
                    blocks.push(Block::Paragraph(patient.into()));
                }
                blocks.push(Block::Heading("What happens next".into()));
                blocks.push(Block::Paragraph(patient_next_steps(o, &step, onward.as_deref())));
                if !o.diagnosis.trim().is_empty() && o.code != OutcomeCode::Rejected {
                    blocks.push(Block::Heading("What the specialist thinks it is".into()));
                    blocks.push(Block::Paragraph(o.diagnosis.clone()));
                    blocks.push(Block::Paragraph(
                        "This may be a medical name. Your GP can explain what it means for you.".into(),
                    ));
                }
                if !o.follow_up.trim().is_empty() {
                    blocks.push(Block::Heading("Follow-up".into()));
                    blocks.push(Block::Paragraph(o.follow_up.clone()));
                }
                blocks.push(Block::Heading("When to get help".into()));
                blocks.push(Block::Paragraph(safety_net(o.code).1.into()));
                blocks.push(Block::Heading("About this letter".into()));
                blocks.push(Block::Field("Your name".into(), p.full_name()));
                blocks.push(Block::Field("NHS number".into(), nhs_number_display(&p.nhs_number.as_digits())));
                if let Some(ubrn) = &r.ubrn {
                    // What the NHS App and the e-RS booking line ask for.
                    blocks.push(Block::Field("Booking reference (UBRN)".into(), telederm_domain::referral::ubrn_display(ubrn)));
                }
                blocks.push(Block::Field("Specialist".into(), consultant));
                blocks.push(Block::Paragraph(format!(
                    "If you have questions, please contact your GP practice, {}. You can ask for this letter in large print or another format.",
                    rec.practice.name
                )));
            }
        }
        Some(Letter {
            kind,
            from,
            title: kind.title().to_string(),
            date: o.recorded_at,
            reference: format!("Ref. {}", r.id),
            blocks,
        })
    }

    pub fn to_pdf(&self) -> Vec<u8> {
        pdf::render(self)
    }

    /// The letter's CSS, inline in its HTML so that a saved or exported letter keeps it.
    fn css(&self) -> String {
        let s = self.kind.style();
        format!(
            "\nbody {{ font-family: Arial, Helvetica, sans-serif; font-size: {}pt; line-height: 1.5; max-width: 44em; margin: 2em auto; color: #212b32; }}\n\
             h1 {{ font-size: {}pt; color: #005eb8; }}\nh2 {{ font-size: {}pt; margin-top: 1.2em; }}\n\
             .from, .meta {{ font-size: {}pt; color: #4c6272; }}\ndl {{ display: grid; grid-template-columns: {}; gap: 0.2em 1em; margin: 0.4em 0; }}\n\
             dt {{ font-weight: bold; }}\ndd {{ margin: 0; }}\n@media print {{ body {{ margin: 0; }} }}\n",
            s.body,
            s.title,
            s.heading,
            s.small,
            if s.two_columns { "12em 1fr" } else { "1fr" }
        )
    }

    /// The Content-Security-Policy source that allows this letter's inline style
    /// (`'sha256-…'`, CSP level 2): a policy of `style-src 'self'` alone drops it, and the
    /// large-print letter would show at the browser's default size.
    pub fn style_csp_source(&self) -> String {
        use base64::Engine as _;
        use sha2::Digest as _;
        format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(self.css().as_bytes())))
    }

    pub fn to_html(&self) -> String {
        let mut h = String::new();
        h.push_str(&format!("<!DOCTYPE html>\n<html lang=\"{LANGUAGE}\">\n<head>\n<meta charset=\"utf-8\">\n"));
        h.push_str(&format!("<title>{}</title>\n", esc(&self.title)));
        h.push_str(&format!("<style>{}</style>\n", self.css()));
        h.push_str("</head>\n<body>\n");
        h.push_str(&format!("<p class=\"from\">{}</p>\n", esc(&self.from)));
        h.push_str(&format!("<h1>{}</h1>\n", esc(&self.title)));
        h.push_str(&format!("<p class=\"meta\">{} &middot; {}</p>\n", esc(&long_date(self.date.date_naive())), esc(&self.reference)));
        let mut in_dl = false;
        for b in &self.blocks {
            if in_dl && !matches!(b, Block::Field(..)) {
                h.push_str("</dl>\n");
                in_dl = false;
            }
            match b {
                Block::Heading(t) => h.push_str(&format!("<h2>{}</h2>\n", esc(t))),
                Block::Paragraph(t) => {
                    for para in t.split("\n\n") {
                        h.push_str(&format!("<p>{}</p>\n", esc(para).replace('\n', "<br>")));
                    }
                }
                Block::Field(k, v) => {
                    if !in_dl {
                        h.push_str("<dl>\n");
                        in_dl = true;
                    }
                    h.push_str(&format!("<dt>{}</dt><dd>{}</dd>\n", esc(k), esc(v)));
                }
                Block::Bullets(items) => {
                    h.push_str("<ul>\n");
                    for i in items {
                        h.push_str(&format!("<li>{}</li>\n", esc(i)));
                    }
                    h.push_str("</ul>\n");
                }
            }
        }
        if in_dl {
            h.push_str("</dl>\n");
        }
        h.push_str("</body>\n</html>\n");
        h
    }
}

fn or_none(s: &str) -> String {
    if s.trim().is_empty() { "None recorded.".into() } else { s.to_string() }
}

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
