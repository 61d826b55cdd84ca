//! Small view models shared by the templates: navigation, form errors, tags and labels.

use chrono::NaiveDate;
use telederm_domain::organisation::Role;
use telederm_domain::referral::ReferralStatus;

use super::Viewer;

/// Header navigation: who is signed in and the links for their role.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    pub user_name: String,
    pub csrf: String,
    pub links: Vec<(&'static str, &'static str, bool)>,
    /// `data-draft-scope` on `<body>`, which `app.mjs` reads: the session's scope when signed in
    /// (drafts of any other scope are dropped); empty on the sign-in page (signed out or session
    /// expired: every draft is dropped); `None` on pages that say neither (patient and error
    /// pages: drafts are left alone).
    pub draft_scope: Option<String>,
}

impl Nav {
    /// A page for someone not signed in that does not prove a signed-in user left (patient pages).
    pub fn anonymous() -> Nav {
        Nav::default()
    }

    /// The sign-in page: nobody is signed in in this browser, so no typed draft may stay in it.
    pub fn signed_out() -> Nav {
        Nav { draft_scope: Some(String::new()), ..Nav::default() }
    }

    pub fn signed_in(&self) -> bool {
        !self.user_name.is_empty()
    }

    pub fn draft_scope(&self) -> Option<&str> {
        self.draft_scope.as_deref()
    }

    pub fn for_viewer(v: &Viewer, current: &str) -> Nav {
        let links: &[(&'static str, &'static str)] = match v.user.role {
            Role::Referrer => &[("/referrals", "My referrals"), ("/referrals/new", "New referral"), ("/reports", "Reports"), ("/teaching", "Teaching cases")],
            Role::Consultant => &[("/worklist", "Worklist"), ("/teaching", "Teaching cases")],
            Role::ServiceAdmin => &[("/admin", "Dashboard"), ("/worklist", "Worklist"), ("/reports", "Reports"), ("/teaching", "Teaching cases"), ("/admin/services", "Services"), ("/admin/phrases", "Saved phrases"), ("/admin/audit", "Audit trail")],
            Role::SystemAdmin => &[("/admin", "Dashboard"), ("/admin/users", "Users"), ("/admin/services", "Services"), ("/admin/jobs", "Jobs"), ("/admin/audit", "Audit trail")],
        };
        Nav {
            user_name: v.user.display_name.clone(),
            csrf: v.csrf.clone(),
            links: links.iter().map(|(href, text)| (*href, *text, *href == current)).collect(),
            draft_scope: Some(v.draft_scope.clone()),
        }
    }
}

/// Validation errors for a form, in the order of the fields (for the error summary).
#[derive(Debug, Clone, Default)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_string(), message.into()));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
    /// The element id the error summary links to for a field.
    pub fn anchor(field: &str) -> String {
        field.replace(['.', '_'], "-")
    }
}

/// A status as an NHS tag: text and colour class.
pub fn status_tag(s: ReferralStatus) -> (&'static str, &'static str) {
    match s {
        ReferralStatus::Draft => ("Draft", "nhsuk-tag--grey"),
        ReferralStatus::Submitted => ("Submitted", "nhsuk-tag--blue"),
        ReferralStatus::InReview => ("In review", "nhsuk-tag--purple"),
        ReferralStatus::AwaitingInformation => ("Information requested", "nhsuk-tag--yellow"),
        ReferralStatus::OutcomeIssued => ("Answered", "nhsuk-tag--green"),
        ReferralStatus::Closed => ("Closed", "nhsuk-tag--white"),
        ReferralStatus::Rejected => ("Rejected", "nhsuk-tag--red"),
        ReferralStatus::Withdrawn => ("Withdrawn", "nhsuk-tag--grey"),
    }
}

pub fn verdict_tag(verdict: &str) -> (&'static str, &'static str) {
    match verdict {
        "accept" => ("Good", "nhsuk-tag--green"),
        "warn" => ("Check this photo", "nhsuk-tag--orange"),
        _ => ("Retake this photo", "nhsuk-tag--red"),
    }
}

pub fn date(d: NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

pub fn opt_date(d: Option<NaiveDate>) -> String {
    d.map(date).unwrap_or_else(|| "Not set".into())
}

pub fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.with_timezone(&chrono_tz::Europe::London).format("%-d %b %Y %H:%M").to_string()
}

pub fn kind_label(k: telederm_domain::policy::PhotoKind) -> &'static str {
    use telederm_domain::policy::PhotoKind;
    match k {
        PhotoKind::Locator => "Locator (from 1 to 1.5 metres)",
        PhotoKind::CloseUp => "Close-up (about 30 cm)",
        PhotoKind::Dermoscopic => "Dermoscopic view",
    }
}

pub fn kind_value(k: telederm_domain::policy::PhotoKind) -> &'static str {
    use telederm_domain::policy::PhotoKind;
    match k {
        PhotoKind::Locator => "locator",
        PhotoKind::CloseUp => "close_up",
        PhotoKind::Dermoscopic => "dermoscopic",
    }
}

/// One photo as the pages show it: where to fetch it and what the quality check said.
#[derive(Debug, Clone)]
pub struct PhotoView {
    pub id: String,
    pub kind: &'static str,
    /// The kind's form value (`locator`, `close_up`, `dermoscopic`).
    pub kind_value: &'static str,
    pub source: &'static str,
    pub verdict: String,
    pub tag: (&'static str, &'static str),
    pub issues: Vec<(String, String)>,
    pub preview: String,
    pub thumbnail: String,
    pub original: String,
    pub size: String,
    pub metadata_removed: String,
    /// The photo check detected a face and nobody has confirmed it is not identifiable.
    pub face_unconfirmed: bool,
    /// "Face not identifiable: confirmed by the referrer on 6 Dec 2026 14:05", or empty.
    pub face_confirmed: String,
}

impl PhotoView {
    pub fn from(p: &telederm_store::PhotoRecord) -> PhotoView {
        let base = format!("/api/v1/referrals/{}/photos/{}", p.referral_id, p.id);
        let issues = p.report["issues"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|i| (i["severity"].as_str().unwrap_or("info").to_string(), i["message"].as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let removed = p.report["metadata_removed"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        PhotoView {
            id: p.id.to_string(),
            kind: kind_label(p.kind),
            kind_value: kind_value(p.kind),
            source: if p.source == telederm_domain::policy::ImageSource::Patient { "Patient" } else { "Clinician" },
            verdict: p.verdict.as_str().to_string(),
            tag: verdict_tag(p.verdict.as_str()),
            issues,
            preview: format!("{base}/preview"),
            thumbnail: format!("{base}/thumbnail"),
            original: format!("{base}/original"),
            size: format!("{} x {} pixels", p.width, p.height),
            metadata_removed: removed,
            face_unconfirmed: telederm_app::photos::face_detected(&p.report) && p.face_confirmed.is_none(),
            face_confirmed: p
                .face_confirmed
                .as_ref()
                .map(|c| format!("Face not identifiable: confirmed by the referrer on {}", when(c.at)))
                .unwrap_or_default(),
        }
    }
}
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
