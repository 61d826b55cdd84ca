//! Reports (issue 17): per-practice referral quality, equity monitoring and the service dashboard.
//!
//! Each report is counted by the store from `report_facts` (one narrow row per received referral,
//! kept in every change's transaction: `telederm_store::reports`), then assembled here with the
//! pure arithmetic of `telederm_domain::reports` (suppression, percentiles, comparisons). Who may
//! see what is decided here and nowhere else: a referrer sees their own practice; a service admin
//! every practice referring to their services, and their services' equity and dashboard; anyone
//! else is refused with `report_not_permitted`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use serde::Serialize;
use telederm_domain::OrganisationId;
use telederm_domain::calendar::received_local_date;
use telederm_domain::organisation::{Role, User};
use telederm_domain::outcome::{OutcomeCode, RejectionReason};
use telederm_domain::referral::{InformationTopic, ReferralStatus};
use telederm_domain::reports::{AGE_BANDS, Comparison, TONE_BANDS, compare_with_rest, median_and_p90, suppress, week_start};
use telederm_store::AuditOutcome;
pub use telederm_store::reports::NO_TOPIC;
use telederm_store::reports::{FactColumn, FactGroup, FactScope, QualityCounts};

use crate::error::{Code, Error, Result};
use crate::{App, audit};

/// The longest period one report covers.
const MAX_DAYS: u64 = 3 * 366;
/// Turnarounds of this many working days or more share the last bar of the distribution.
const TURNAROUND_CAP: u32 = 10;

/// The period of a report: `from` and `to` as given (`YYYY-MM-DD`, both inclusive), by default the
/// 90 days to today.
pub fn period(app: &App, from: Option<&str>, to: Option<&str>) -> Result<(NaiveDate, NaiveDate)> {
    let parse = |name: &str, v: &str| {
        NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d")
            .map_err(|_| Error::new(Code::InvalidQuery, format!("`{name}` must be a date as YYYY-MM-DD, not {v:?}.")))
    };
    let today = received_local_date(app.now());
    let to = to.map(|v| parse("to", v)).transpose()?.unwrap_or(today);
    let from = from.map(|v| parse("from", v)).transpose()?.unwrap_or(to - Days::new(89));
    if from > to {
        return Err(Error::new(Code::InvalidPeriod, "`from` is after `to`: give the earlier date first."));
    }
    if (to - from).num_days() as u64 > MAX_DAYS {
        return Err(Error::new(Code::InvalidPeriod, "A report covers at most three years: narrow `from` and `to`."));
    }
    Ok((from, to))
}

/// The period of a report given as a calendar month (`YYYY-MM`), or by `from` and `to` as
/// [`period`] takes them; not both.
pub fn period_or_month(app: &App, from: Option<&str>, to: Option<&str>, month: Option<&str>) -> Result<(NaiveDate, NaiveDate)> {
    let Some(month) = month else { return period(app, from, to) };
    let m = month.trim();
    let well_formed = m.len() == 7 && m.as_bytes()[4] == b'-' && m.bytes().enumerate().all(|(i, b)| i == 4 || b.is_ascii_digit());
    if !well_formed {
        return Err(Error::new(Code::InvalidQuery, format!("`month` must be a calendar month as YYYY-MM, e.g. 2026-11, not {month:?}.")));
    }
    if from.is_some() || to.is_some() {
        return Err(Error::new(Code::InvalidPeriod, "Give either `month` or `from` and `to`, not both."));
    }
    let first = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
        .map_err(|_| Error::new(Code::InvalidPeriod, format!("There is no month {m:?}: give a calendar month as YYYY-MM, e.g. 2026-11.")))?;
    let last = first.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).unwrap_or(first);
    Ok((first, last))
}

/// Whether a period is exactly one calendar month.
pub fn is_month(from: NaiveDate, to: NaiveDate) -> bool {
    use chrono::Datelike;
    from.day() == 1 && from.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()) == Some(to)
}

fn refuse(message: impl Into<String>) -> Error {
    Error::new(Code::ReportNotPermitted, message)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn rate(x: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| x as f64 / n as f64)
}

// ---------------------------------------------------------------------------------------------
// Per-practice referral quality

/// Photo verdicts (photos, not referrals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Verdicts {
    pub accept: u64,
    pub warn: u64,
    pub reject: u64,
}

/// A photo-check issue and how many referrals had a photo with it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IssueCount {
    /// The photo check's issue code, e.g. `blurred`.
    pub issue: String,
    pub referrals: u64,
}

/// A practice's figures (or, as `service`, those of every practice in the report together).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PracticeFigures {
    /// The practice's ODS code (null for the service-wide figures).
    pub ods_code: Option<String>,
    pub name: String,
    /// Referrals received in the period.
    pub referrals: u64,
    /// By route: `advice_and_guidance`, `ras`.
    pub by_route: BTreeMap<String, u64>,
    /// By service id.
    pub by_service: BTreeMap<String, u64>,
    pub photo_verdicts: Verdicts,
    /// The commonest photo issues (at most five), most referrals first.
    pub photo_issues: Vec<IssueCount>,
    /// Referrals the consultant returned asking for more information (at least once).
    pub returned_for_information: u64,
    pub returned_for_information_rate: Option<f64>,
    /// Those referrals by what the consultant asked for: `photos`, `dermoscopy`, `history`,
    /// `treatment`, `other`, and `not_given` (asked before topics were recorded, or through the
    /// API without one). A referral asked for two things counts under both.
    pub returned_for_information_by_topic: BTreeMap<String, u64>,
    pub rejected: u64,
    pub rejection_rate: Option<f64>,
    /// Rejections by reason: `poor_image_quality`, `ineligible`, `should_be_two_week_wait`,
    /// `insufficient_information`, `other`.
    pub rejections: BTreeMap<String, u64>,
    /// Referrals answered (an outcome or a rejection).
    pub answered: u64,
    /// Of the referrals answered other than by rejection, the share managed with advice or no
    /// further action (no face-to-face appointment).
    pub managed_without_face_to_face_rate: Option<f64>,
    /// Working days from receipt to answer.
    pub median_working_days: Option<f64>,
    pub p90_working_days: Option<u32>,
}

/// `GET /api/v1/reports/practice-quality`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PracticeQualityReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The services the comparison covers.
    pub services: Vec<String>,
    /// Each practice the caller may see that referred in the period.
    pub practices: Vec<PracticeFigures>,
    /// Every practice referring to those services, together: the figures each practice is set
    /// beside (rates as they are; counts divided by `practice_count` for a per-practice average).
    pub service: PracticeFigures,
    /// How many practices referred to those services in the period.
    pub practice_count: u64,
}

#[derive(Default)]
struct Tally {
    figures: PracticeFigures,
    managed: u64,
    remote: u64,
    issues: BTreeMap<String, u64>,
    days: BTreeMap<u32, u64>,
}

impl Tally {
    /// Adds a group of facts' counts (the equity report's).
    fn add(&mut self, g: &FactGroup) {
        self.add_counts(&QualityCounts {
            referrals: g.referrals,
            answered: g.answered,
            rejected: g.rejected,
            managed: g.managed,
            managed_remotely: g.managed_remotely,
            info_requested: g.info_requested,
            photos_accept: g.photos_accept,
            photos_warn: g.photos_warn,
            photos_reject: g.photos_reject,
            ..QualityCounts::default()
        });
    }

    /// Adds counts with their breakdowns (one practice's for one service, in the practice-quality
    /// report).
    fn add_counts(&mut self, c: &QualityCounts) {
        let f = &mut self.figures;
        f.referrals += count(c.referrals);
        f.answered += count(c.answered);
        f.rejected += count(c.rejected);
        f.returned_for_information += count(c.info_requested);
        f.photo_verdicts.accept += count(c.photos_accept);
        f.photo_verdicts.warn += count(c.photos_warn);
        f.photo_verdicts.reject += count(c.photos_reject);
        self.managed += count(c.managed);
        self.remote += count(c.managed_remotely);
        for (route, n) in &c.by_route {
            *f.by_route.entry(route.to_string()).or_default() += count(*n);
        }
        for (reason, n) in &c.rejections {
            *f.rejections.entry(reason.to_string()).or_default() += count(*n);
        }
        for (topic, n) in &c.info_topics {
            *f.returned_for_information_by_topic.entry(topic.to_string()).or_default() += count(*n);
        }
        for (issue, n) in &c.photo_issues {
            *self.issues.entry(issue.to_string()).or_default() += count(*n);
        }
        for (days, n) in &c.working_days {
            *self.days.entry(*days).or_default() += count(*n);
        }
    }

    fn finish(mut self) -> PracticeFigures {
        let f = &mut self.figures;
        f.returned_for_information_rate = rate(f.returned_for_information, f.referrals);
        f.rejection_rate = rate(f.rejected, f.answered);
        f.managed_without_face_to_face_rate = rate(self.remote, self.managed);
        for topic in InformationTopic::ALL {
            f.returned_for_information_by_topic.entry(topic.as_str().to_string()).or_insert(0);
        }
        f.returned_for_information_by_topic.entry(NO_TOPIC.to_string()).or_insert(0);
        for reason in RejectionReason::ALL {
            f.rejections.entry(reason.as_str().to_string()).or_insert(0);
        }
        let mut issues: Vec<IssueCount> = self.issues.into_iter().map(|(issue, referrals)| IssueCount { issue, referrals }).collect();
        issues.sort_by(|a, b| b.referrals.cmp(&a.referrals).then(a.issue.cmp(&b.issue)));
        issues.truncate(5);
        f.photo_issues = issues;
        if let Some((median, p90)) = median_and_p90(&self.days) {
            f.median_working_days = Some(median);
            f.p90_working_days = Some(p90);
        }
        self.figures
    }
}

/// The working days to answer of a group keyed by them at `at` (none while unanswered).
fn working_days(g: &FactGroup, at: usize) -> Option<u32> {
    g.keys.get(at)?.as_deref()?.parse().ok()
}

/// Per-practice referral quality for `practice` (an ODS code; `None`: every practice the caller
/// may see), received from `from` to `to`.
pub async fn practice_quality(app: &App, user: &User, practice: Option<&str>, from: NaiveDate, to: NaiveDate) -> Result<PracticeQualityReport> {
    let organisations = app.store.list_organisations().await?;
    let wanted: Option<OrganisationId> = match practice {
        None => None,
        Some(ods) => Some(
            organisations
                .iter()
                .find(|o| o.ods_code.eq_ignore_ascii_case(ods.trim()))
                .map(|o| o.id)
                .ok_or_else(|| {
                    if user.role == Role::Referrer {
                        refuse("You can see your own practice's report only.")
                    } else {
                        Error::new(Code::NotFound, format!("There is no practice with the ODS code {ods:?}. Check the code, or leave it out for every practice you may see."))
                    }
                })?,
        ),
    };
    let (visible_practice, services): (Option<OrganisationId>, Option<Vec<String>>) = match user.role {
        Role::Referrer => {
            if wanted.is_some_and(|p| p != user.organisation_id) {
                return Err(refuse("You can see your own practice's report only."));
            }
            (Some(user.organisation_id), None)
        }
        Role::ServiceAdmin => (wanted, Some(user.services.iter().map(|s| s.to_string()).collect())),
        _ => return Err(refuse("Practice reports are for GPs (their own practice) and service admins (their services' practices).")),
    };
    // Every figure is a sum over these counts (one per practice and service). A GP's figures are
    // set beside the services their practice referred to in the period.
    let mut groups = app.store.practice_quality_counts(services.as_deref(), from, to).await?;
    let services: Vec<String> = match services {
        Some(s) => s,
        None => {
            let own = visible_practice.map(|p| p.to_string());
            let used: BTreeSet<String> = groups.iter().filter(|g| Some(&g.practice_id) == own.as_ref()).map(|g| g.service_id.clone()).collect();
            groups.retain(|g| used.contains(&g.service_id));
            used.into_iter().collect()
        }
    };

    let mut per: BTreeMap<String, Tally> = BTreeMap::new();
    let mut all = Tally::default();
    for g in &groups {
        for t in [per.entry(g.practice_id.clone()).or_default(), &mut all] {
            t.add_counts(g);
            *t.figures.by_service.entry(g.service_id.clone()).or_default() += count(g.referrals);
        }
    }
    let practice_count = per.len() as u64;
    let mut practices = Vec::new();
    for (id, tally) in per {
        let org = organisations.iter().find(|o| o.id.to_string() == id);
        let shown = match visible_practice {
            Some(p) => org.is_some_and(|o| o.id == p),
            None => true,
        };
        if !shown {
            continue;
        }
        let mut f = tally.finish();
        f.ods_code = org.map(|o| o.ods_code.clone());
        f.name = org.map(|o| o.name.clone()).unwrap_or_else(|| "Unknown practice".into());
        practices.push(f);
    }
    practices.sort_by(|a, b| a.name.cmp(&b.name));
    let mut service = all.finish();
    service.name = "All practices".into();
    record(app, user, "report.practice_quality", practices.len()).await?;
    Ok(PracticeQualityReport { from, to, services, practices, service, practice_count })
}

// ---------------------------------------------------------------------------------------------
// The admin dashboard

/// The admin dashboard's figures over every referral of the services an admin looks after
/// (a system admin: every service), aggregated in the database: no row limit, no per-referral reads.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminOverview {
    pub by_status: Vec<(ReferralStatus, i64)>,
    /// Waiting for the service (submitted or in review) and due today, or due before today.
    pub due_today: i64,
    pub overdue: i64,
    /// Referrals received in the last [`OVERVIEW_DAYS`] days and answered, by outcome, and
    /// rejections by reason (labels as people read them).
    pub outcomes: BTreeMap<&'static str, u64>,
    pub rejections: BTreeMap<&'static str, u64>,
    /// Median working days from receipt to the answer, over the same referrals (`None`: none answered).
    pub median_working_days: Option<f64>,
    /// Outcome letters of these services that did not reach the GP record.
    pub letter_problems: Vec<telederm_store::gp_letters::GpLetter>,
}

/// The period of the admin dashboard's outcome figures, in days up to today.
pub const OVERVIEW_DAYS: u64 = 90;

/// The admin dashboard (`GET /admin`): service admins see their services, system admins every
/// service. Reading it is recorded as one audit entry.
pub async fn admin_overview(app: &App, user: &User) -> Result<AdminOverview> {
    let services: Vec<String> = match user.role {
        Role::SystemAdmin => app.policies.keys().cloned().collect(),
        Role::ServiceAdmin => user.services.clone(),
        _ => return Err(Error::new(Code::Forbidden, "The admin pages are for service and system administrators.")),
    };
    let today = received_local_date(app.now());
    let by_status = app.store.count_by_status(Some(&services)).await?;
    let (due_today, overdue) = app.store.count_due(&services, today).await?;
    // The answers of referrals received in the last 90 days (the reports' default period): a
    // bounded range of the facts' service index however long the service has run.
    let scope = FactScope { services: Some(services.clone()), practice_id: None, from: today - Days::new(OVERVIEW_DAYS - 1), to: today, today };
    let groups = app.store.report_facts(&scope, &[FactColumn::OutcomeCode, FactColumn::RejectionReason, FactColumn::WorkingDays]).await?;
    let (mut outcomes, mut rejections, mut days) = (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
    for g in &groups {
        let Some(code) = g.keys[0].as_deref().and_then(OutcomeCode::parse) else { continue };
        *outcomes.entry(code.label()).or_default() += count(g.referrals);
        if let Some(reason) = g.keys[1].as_deref().and_then(RejectionReason::parse) {
            *rejections.entry(reason.label()).or_default() += count(g.referrals);
        }
        if let Some(d) = working_days(g, 2) {
            *days.entry(d).or_default() += count(g.referrals);
        }
    }
    let mut letter_problems = app.store.gp_letter_problems(200).await?;
    let mut of_these = BTreeMap::new();
    for l in &letter_problems {
        if let std::collections::btree_map::Entry::Vacant(e) = of_these.entry(l.referral_id) {
            let service = app.store.get_referral(l.referral_id).await.map(|r| r.service_id).unwrap_or_default();
            e.insert(services.contains(&service));
        }
    }
    letter_problems.retain(|l| of_these.get(&l.referral_id).copied().unwrap_or(false));
    let total: i64 = by_status.iter().map(|(_, n)| n).sum();
    audit::record(app, &audit::Actor::user(user), "admin.dashboard", audit::Target::many("referral"), AuditOutcome::Allowed, format!("aggregate figures over {total} referrals")).await?;
    Ok(AdminOverview { by_status, due_today, overdue, outcomes, rejections, median_working_days: median_and_p90(&days).map(|(m, _)| m), letter_problems })
}

/// Reading a report is recorded (how many rows, not which figures).
async fn record(app: &App, user: &User, action: &str, rows: usize) -> Result<()> {
    audit::record(app, &audit::Actor::user(user), action, audit::Target::many("report"), AuditOutcome::Allowed, format!("rows={rows}")).await
}

/// A service admin's own service, or `report_not_permitted`.
fn admin_service<'a>(app: &'a App, user: &User, service: &str) -> Result<&'a telederm_domain::policy::ServicePolicy> {
    if user.role != Role::ServiceAdmin {
        return Err(refuse("Service reports are for the service's admins."));
    }
    let policy = app.policy(service)?;
    if !user.services.iter().any(|s| s == service) {
        return Err(refuse(format!("You are not an admin of {}: you can see the reports of your own services only.", policy.name)));
    }
    Ok(policy)
}

// ---------------------------------------------------------------------------------------------
// Equity monitoring

/// A count that may be suppressed: `count` is null and `suppressed` true when shown it could
/// identify someone (statistical disclosure control: below 5, or revealing one that is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Cell {
    pub count: Option<u64>,
    pub suppressed: bool,
}

impl Cell {
    fn new(value: u64, hidden: bool) -> Cell {
        Cell { count: (!hidden).then_some(value), suppressed: hidden }
    }
}

/// One group of a dimension (e.g. `brown` of `skin_tone_band`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EquityRow {
    /// The value (`not_recorded` when none was recorded or estimated).
    pub group: String,
    pub referrals: Cell,
    pub answered: Cell,
    pub rejected: Cell,
    pub returned_for_information: Cell,
    pub managed_without_face_to_face: Cell,
    pub photos_accept: Cell,
    pub photos_warn: Cell,
    pub photos_reject: Cell,
    /// Answers by outcome code.
    pub outcomes: BTreeMap<String, Cell>,
    /// The group's rejection rate (rejections of answers) beside the rest of the service's; null
    /// when a count it rests on is suppressed.
    pub rejection: Option<Comparison>,
    /// Returned for information, of referrals received.
    pub information_request: Option<Comparison>,
    /// Managed without a face-to-face appointment, of answers other than rejections.
    pub without_face_to_face: Option<Comparison>,
    /// Photos rejected by the photo check, of photos sent.
    pub photo_rejection: Option<Comparison>,
    /// Working days to answer; null when fewer than 5 answers.
    pub median_working_days: Option<f64>,
    pub p90_working_days: Option<u32>,
}

/// One way of dividing the service's referrals.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EquityDimension {
    /// `skin_tone_band` (estimated from the photos), `fitzpatrick_type` (recorded by the GP),
    /// `age_band`, `sex`, `ethnic_category` (NHS Data Dictionary code, recorded by the GP).
    pub dimension: String,
    pub groups: Vec<EquityRow>,
}

/// The service's overall figures the groups are compared with.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EquityOverall {
    pub referrals: u64,
    pub answered: u64,
    pub rejected: u64,
    pub returned_for_information: u64,
    pub managed: u64,
    pub managed_without_face_to_face: u64,
    pub photos_accept: u64,
    pub photos_warn: u64,
    pub photos_reject: u64,
    pub rejection_rate: Option<f64>,
    pub information_request_rate: Option<f64>,
    pub without_face_to_face_rate: Option<f64>,
    pub photo_rejection_rate: Option<f64>,
    pub median_working_days: Option<f64>,
    pub p90_working_days: Option<u32>,
}

/// `GET /api/v1/reports/equity`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EquityReport {
    pub service: String,
    pub service_name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub overall: EquityOverall,
    pub dimensions: Vec<EquityDimension>,
    /// How the figures are made, in words (shown on the page).
    pub method: String,
}

pub const EQUITY_METHOD: &str = "Each group's rate is compared with the rate among the rest of the service's referrals in the period. \
The difference is shown with its 95% confidence interval (Wald), and a two-proportion z-test gives the chance of a difference at least \
this large if the group's true rate were the same as everyone else's: a difference is marked as larger than chance when that chance \
(p) is below 0.05. With many groups and measures, about one comparison in twenty will be marked by chance alone, so read a marked \
difference as a reason to look closer, not as proof. Statistical disclosure control as in NHS publications: counts from 1 to 4 are \
suppressed, and so is the smallest other count of any row or column in which a suppressed count could be worked out from the \
total (secondary suppression). Rates and comparisons resting on a suppressed count are not shown; working days are shown for \
groups with at least 5 answers.";

const DIMENSIONS: [(&str, FactColumn); 5] = [
    ("skin_tone_band", FactColumn::ToneBand),
    ("fitzpatrick_type", FactColumn::Fitzpatrick),
    ("age_band", FactColumn::AgeBand),
    ("sex", FactColumn::Sex),
    ("ethnic_category", FactColumn::EthnicCategory),
];

/// The groups every dimension always lists (so a group with no referrals shows as 0, not absent).
fn standard_groups(dimension: &str) -> Vec<String> {
    let list: &[&str] = match dimension {
        "skin_tone_band" => &TONE_BANDS,
        "fitzpatrick_type" => &["I", "II", "III", "IV", "V", "VI"],
        "age_band" => &AGE_BANDS,
        "sex" => &["female", "male", "other", "unknown"],
        _ => &[],
    };
    list.iter().map(|s| s.to_string()).collect()
}

const NOT_RECORDED: &str = "not_recorded";

/// Equity monitoring for one of the caller's services.
pub async fn equity(app: &App, user: &User, service: &str, from: NaiveDate, to: NaiveDate) -> Result<EquityReport> {
    let policy = admin_service(app, user, service)?;
    let today = received_local_date(app.now());
    let scope = FactScope { services: Some(vec![service.to_string()]), practice_id: None, from, to, today };
    let codes: Vec<&str> = OutcomeCode::ALL.iter().map(|c| c.as_str()).collect();

    let mut days_all = BTreeMap::new();
    let mut total = Tally::default();
    let mut dimensions = Vec::new();
    for (i, (name, column)) in DIMENSIONS.iter().enumerate() {
        // One scan per dimension; the first also gives the service's overall figures.
        let groups = app.store.report_facts(&scope, &[*column, FactColumn::OutcomeCode, FactColumn::WorkingDays]).await?;
        let mut names = standard_groups(name);
        let mut tallies: BTreeMap<String, (Tally, BTreeMap<String, u64>)> = BTreeMap::new();
        for g in &groups {
            let key = g.keys[0].clone().unwrap_or_else(|| NOT_RECORDED.into());
            let (t, outcomes) = tallies.entry(key).or_default();
            t.add(g);
            if let Some(code) = &g.keys[1] {
                *outcomes.entry(code.clone()).or_default() += count(g.answered);
            }
            let days = working_days(g, 2);
            if let Some(d) = days {
                *t.days.entry(d).or_default() += count(g.referrals);
            }
            if i == 0 {
                total.add(g);
                if let Some(d) = days {
                    *days_all.entry(d).or_default() += count(g.referrals);
                }
            }
        }
        for k in tallies.keys() {
            if !names.contains(k) && k != NOT_RECORDED {
                names.push(k.clone());
            }
        }
        names.push(NOT_RECORDED.into());
        dimensions.push(equity_dimension(name, &names, &tallies, &codes));
    }
    let t = &total.figures;
    let overall = EquityOverall {
        referrals: t.referrals,
        answered: t.answered,
        rejected: t.rejected,
        returned_for_information: t.returned_for_information,
        managed: total.managed,
        managed_without_face_to_face: total.remote,
        photos_accept: t.photo_verdicts.accept,
        photos_warn: t.photo_verdicts.warn,
        photos_reject: t.photo_verdicts.reject,
        rejection_rate: rate(t.rejected, t.answered),
        information_request_rate: rate(t.returned_for_information, t.referrals),
        without_face_to_face_rate: rate(total.remote, total.managed),
        photo_rejection_rate: rate(t.photo_verdicts.reject, t.photo_verdicts.accept + t.photo_verdicts.warn + t.photo_verdicts.reject),
        median_working_days: median_and_p90(&days_all).map(|m| m.0),
        p90_working_days: median_and_p90(&days_all).map(|m| m.1),
    };
    // Every dimension has the same overall figures; keep them only where the dimension holds
    // every referral (it does: an absent value is the `not_recorded` group).
    let report = EquityReport {
        service: policy.id.clone(),
        service_name: policy.name.clone(),
        from,
        to,
        overall,
        dimensions: dimensions.into_iter().map(|d| with_comparisons(d, &total)).collect(),
        method: EQUITY_METHOD.into(),
    };
    record(app, user, "report.equity", report.dimensions.iter().map(|d| d.groups.len()).sum()).await?;
    Ok(report)
}

/// Measures per group, in the order of the suppression matrix's columns.
const MEASURES: usize = 8;

fn equity_dimension(
    name: &str,
    groups: &[String],
    tallies: &BTreeMap<String, (Tally, BTreeMap<String, u64>)>,
    codes: &[&str],
) -> EquityDimension {
    let width = MEASURES + codes.len();
    let mut values: Vec<u64> = Vec::with_capacity(groups.len() * width);
    for g in groups {
        let empty = (Tally::default(), BTreeMap::new());
        let (t, outcomes) = tallies.get(g).unwrap_or(&empty);
        let f = &t.figures;
        values.extend([
            f.referrals,
            f.answered,
            f.rejected,
            f.returned_for_information,
            t.remote,
            f.photo_verdicts.accept,
            f.photo_verdicts.warn,
            f.photo_verdicts.reject,
        ]);
        values.extend(codes.iter().map(|c| outcomes.get(*c).copied().unwrap_or(0)));
    }
    // Cells tied by a published sum or by each other, none of which may be the only one hidden:
    // every column over the groups (its total is the service's overall figure), and in each group
    // its answers with their split by outcome code, its rejections with the `rejected` outcome,
    // and its answers without face-to-face with the two outcomes they are made of.
    let code_at = |code: OutcomeCode| MEASURES + codes.iter().position(|c| *c == code.as_str()).unwrap_or(0);
    let mut sums: Vec<Vec<usize>> = (0..width).map(|c| (0..groups.len()).map(|r| r * width + c).collect()).collect();
    for r in 0..groups.len() {
        let at = |c: usize| r * width + c;
        sums.push(std::iter::once(at(1)).chain((0..codes.len()).map(|c| at(MEASURES + c))).collect());
        sums.push(vec![at(2), at(code_at(OutcomeCode::Rejected))]);
        sums.push(vec![at(4), at(code_at(OutcomeCode::AdviceManagementPlan)), at(code_at(OutcomeCode::NoFurtherAction))]);
    }
    let hidden = suppress(&values, &sums);
    let cell = |r: usize, c: usize| Cell::new(values[r * width + c], hidden[r * width + c]);
    let rows = groups
        .iter()
        .enumerate()
        .map(|(r, g)| {
            let days = tallies.get(g).map(|t| t.0.days.clone()).unwrap_or_default();
            let answers: u64 = days.values().sum();
            let pct = (answers >= 5).then(|| median_and_p90(&days)).flatten();
            EquityRow {
                group: g.clone(),
                referrals: cell(r, 0),
                answered: cell(r, 1),
                rejected: cell(r, 2),
                returned_for_information: cell(r, 3),
                managed_without_face_to_face: cell(r, 4),
                photos_accept: cell(r, 5),
                photos_warn: cell(r, 6),
                photos_reject: cell(r, 7),
                outcomes: codes.iter().enumerate().map(|(i, c)| (c.to_string(), cell(r, MEASURES + i))).collect(),
                rejection: None,
                information_request: None,
                without_face_to_face: None,
                photo_rejection: None,
                median_working_days: pct.map(|p| p.0),
                p90_working_days: pct.map(|p| p.1),
            }
        })
        .collect();
    EquityDimension { dimension: name.to_string(), groups: rows }
}

/// Adds each group's comparisons with the rest of the service, where the counts are shown.
fn with_comparisons(mut d: EquityDimension, total: &Tally) -> EquityDimension {
    let t = &total.figures;
    let photos = t.photo_verdicts.accept + t.photo_verdicts.warn + t.photo_verdicts.reject;
    for row in &mut d.groups {
        let both = |x: Cell, n: Cell| Some((x.count?, n.count?));
        row.rejection = both(row.rejected, row.answered).and_then(|(x, n)| compare_with_rest(x, n, t.rejected, t.answered));
        row.information_request = both(row.returned_for_information, row.referrals)
            .and_then(|(x, n)| compare_with_rest(x, n, t.returned_for_information, t.referrals));
        let managed = row.answered.count.zip(row.rejected.count).map(|(a, r)| a.saturating_sub(r));
        row.without_face_to_face = row
            .managed_without_face_to_face
            .count
            .zip(managed)
            .and_then(|(x, n)| compare_with_rest(x, n, total.remote, total.managed));
        let group_photos = match (row.photos_accept.count, row.photos_warn.count, row.photos_reject.count) {
            (Some(a), Some(w), Some(r)) => Some((r, a + w + r)),
            _ => None,
        };
        row.photo_rejection = group_photos.and_then(|(x, n)| compare_with_rest(x, n, t.photo_verdicts.reject, photos));
    }
    d
}

// ---------------------------------------------------------------------------------------------
// The service dashboard

/// One week of the dashboard (referrals received Monday to Sunday).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// The Monday.
    pub week_start: NaiveDate,
    pub referrals: u64,
    pub answered: u64,
    /// Answered on or before the due date.
    pub within_target: u64,
    /// `within_target` of `answered`, in percent.
    pub within_target_percent: Option<f64>,
    /// Answered after the due date, or still open past it.
    pub breaches: u64,
    /// Answers by outcome code (the outcome mix of the week's referrals).
    pub outcomes: BTreeMap<String, u64>,
}

/// One bar of the turnaround distribution.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TurnaroundBucket {
    /// Working days from receipt to answer (the last bucket holds this many or more).
    pub working_days: u32,
    /// Whether this is the open-ended last bucket.
    pub or_more: bool,
    pub referrals: u64,
}

/// `GET /api/v1/reports/service`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceReport {
    pub service: String,
    pub service_name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The service's target, in working days.
    pub target_working_days: u32,
    pub referrals: u64,
    pub answered: u64,
    pub within_target: u64,
    pub within_target_percent: Option<f64>,
    pub breaches: u64,
    pub weeks: Vec<Week>,
    pub turnaround: Vec<TurnaroundBucket>,
    pub median_working_days: Option<f64>,
    pub p90_working_days: Option<u32>,
}

fn percent(x: u64, n: u64) -> Option<f64> {
    rate(x, n).map(|r| (r * 1000.0).round() / 10.0)
}

/// The dashboard of one of the caller's services.
pub async fn service_dashboard(app: &App, user: &User, service: &str, from: NaiveDate, to: NaiveDate) -> Result<ServiceReport> {
    let policy = admin_service(app, user, service)?;
    let today = received_local_date(app.now());
    let scope = FactScope { services: Some(vec![service.to_string()]), practice_id: None, from, to, today };
    let by_day = app.store.report_facts(&scope, &[FactColumn::SubmittedOn, FactColumn::OutcomeCode]).await?;
    let pairs = app.store.report_facts(&scope, &[FactColumn::WorkingDays]).await?;

    let mut weeks: BTreeMap<NaiveDate, Week> = BTreeMap::new();
    // Every week of the period appears, with zeros where nothing was received.
    let mut monday = week_start(from);
    while monday <= to {
        weeks.insert(monday, Week {
            week_start: monday,
            referrals: 0,
            answered: 0,
            within_target: 0,
            within_target_percent: None,
            breaches: 0,
            outcomes: BTreeMap::new(),
        });
        monday = monday + Days::new(7);
    }
    for g in &by_day {
        let Some(day) = g.keys[0].as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) else { continue };
        let Some(w) = weeks.get_mut(&week_start(day)) else { continue };
        w.referrals += count(g.referrals);
        w.answered += count(g.answered);
        w.within_target += count(g.within_target);
        w.breaches += count(g.breached);
        if let Some(code) = &g.keys[1] {
            *w.outcomes.entry(code.clone()).or_default() += count(g.answered);
        }
    }
    let mut weeks: Vec<Week> = weeks.into_values().collect();
    for w in &mut weeks {
        w.within_target_percent = percent(w.within_target, w.answered);
    }
    let mut histogram = BTreeMap::new();
    for g in &pairs {
        if let Some(d) = working_days(g, 0) {
            *histogram.entry(d).or_default() += count(g.referrals);
        }
    }
    let mut turnaround: Vec<TurnaroundBucket> =
        (0..=TURNAROUND_CAP).map(|d| TurnaroundBucket { working_days: d, or_more: d == TURNAROUND_CAP, referrals: 0 }).collect();
    for (d, n) in &histogram {
        turnaround[(*d).min(TURNAROUND_CAP) as usize].referrals += n;
    }
    let pct = median_and_p90(&histogram);
    let sum = |f: fn(&Week) -> u64| weeks.iter().map(f).sum::<u64>();
    let (referrals, answered, within_target, breaches) = (sum(|w| w.referrals), sum(|w| w.answered), sum(|w| w.within_target), sum(|w| w.breaches));
    record(app, user, "report.service", weeks.len()).await?;
    Ok(ServiceReport {
        service: policy.id.clone(),
        service_name: policy.name.clone(),
        from,
        to,
        target_working_days: policy.response_target_working_days,
        referrals,
        answered,
        within_target,
        within_target_percent: percent(within_target, answered),
        breaches,
        weeks,
        turnaround,
        median_working_days: pct.map(|p| p.0),
        p90_working_days: pct.map(|p| p.1),
    })
}

/// Rewrites every referral's report facts (the operator's `telederm report rebuild-facts`, after
/// referrals were loaded straight into the database), with its audit entry. Returns how many
/// referrals were read.
pub async fn rebuild_facts(app: &App) -> Result<u64> {
    let n = app.store.rebuild_report_facts().await?;
    // The month totals follow each rewritten fact; recounting them too mends totals a bulk load
    // of facts left behind.
    let months = app.store.rebuild_report_months().await?;
    audit::record(app, &audit::Actor::cli(), "report.rebuild_facts", audit::Target::many("referral"), AuditOutcome::Allowed, format!("referrals={n} month_totals={months}")).await?;
    Ok(n)
}

/// The services a service admin may report on, in name order (for the pages' choices).
pub fn admin_services(app: &App, user: &User) -> Vec<(String, String)> {
    let mine: BTreeSet<String> = user.services.iter().map(|s| s.to_string()).collect();
    let mut out: Vec<(String, String)> =
        app.policies.values().filter(|p| mine.contains(&p.id)).map(|p| (p.id.clone(), p.name.clone())).collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

// ---------------------------------------------------------------------------------------------
// CSV (the API's `Accept: text/csv`, the pages' downloads and the CLI's `--format csv`)

/// The CSV form of the reports. A suppressed count is written `*` (as NHS publications do).
pub mod csv {
    use super::*;

    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    }

    fn line(out: &mut String, fields: &[String]) {
        out.push_str(&fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }

    fn opt<T: ToString>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_default()
    }

    fn ratio(v: Option<f64>) -> String {
        v.map(|v| format!("{v:.4}")).unwrap_or_default()
    }

    fn cell(c: &Cell) -> String {
        c.count.map(|n| n.to_string()).unwrap_or_else(|| "*".into())
    }

    const REASONS: [&str; 5] = ["poor_image_quality", "ineligible", "should_be_two_week_wait", "insufficient_information", "other"];

    pub fn practice_quality(r: &PracticeQualityReport) -> String {
        let mut out = String::new();
        let mut head: Vec<String> = [
            "ods_code", "name", "referrals", "advice_and_guidance", "ras", "photos_accept", "photos_warn", "photos_reject",
            "commonest_photo_issues", "returned_for_information", "returned_for_information_rate", "answered", "rejected", "rejection_rate",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        head.extend(REASONS.iter().map(|r| format!("rejected_{r}")));
        head.extend(["managed_without_face_to_face_rate", "median_working_days", "p90_working_days"].map(String::from));
        let topics: Vec<&str> = InformationTopic::ALL.iter().map(|t| t.as_str()).chain(std::iter::once(super::NO_TOPIC)).collect();
        head.extend(topics.iter().map(|t| format!("returned_for_{t}")));
        line(&mut out, &head);
        for f in r.practices.iter().chain(std::iter::once(&r.service)) {
            let mut row = vec![
                opt(f.ods_code.as_ref()),
                f.name.clone(),
                f.referrals.to_string(),
                f.by_route.get("advice_and_guidance").copied().unwrap_or(0).to_string(),
                f.by_route.get("ras").copied().unwrap_or(0).to_string(),
                f.photo_verdicts.accept.to_string(),
                f.photo_verdicts.warn.to_string(),
                f.photo_verdicts.reject.to_string(),
                f.photo_issues.iter().map(|i| format!("{} ({})", i.issue, i.referrals)).collect::<Vec<_>>().join("; "),
                f.returned_for_information.to_string(),
                ratio(f.returned_for_information_rate),
                f.answered.to_string(),
                f.rejected.to_string(),
                ratio(f.rejection_rate),
            ];
            row.extend(REASONS.iter().map(|r| f.rejections.get(*r).copied().unwrap_or(0).to_string()));
            row.extend([ratio(f.managed_without_face_to_face_rate), opt(f.median_working_days), opt(f.p90_working_days)]);
            row.extend(topics.iter().map(|t| f.returned_for_information_by_topic.get(*t).copied().unwrap_or(0).to_string()));
            line(&mut out, &row);
        }
        out
    }

    pub fn equity(r: &EquityReport) -> String {
        let mut out = String::new();
        let mut head: Vec<String> = [
            "dimension", "group", "referrals", "answered", "rejected", "returned_for_information", "managed_without_face_to_face",
            "photos_accept", "photos_warn", "photos_reject",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let codes: Vec<String> = OutcomeCode::ALL.iter().map(|c| c.as_str().to_string()).collect();
        head.extend(codes.iter().map(|c| format!("outcome_{c}")));
        for m in ["rejection", "information_request", "without_face_to_face", "photo_rejection"] {
            head.extend([format!("{m}_rate"), format!("{m}_difference"), format!("{m}_ci_low"), format!("{m}_ci_high"), format!("{m}_p_value")]);
        }
        head.extend(["median_working_days", "p90_working_days"].map(String::from));
        line(&mut out, &head);
        for d in &r.dimensions {
            for g in &d.groups {
                let mut row = vec![d.dimension.clone(), g.group.clone()];
                row.extend(
                    [g.referrals, g.answered, g.rejected, g.returned_for_information, g.managed_without_face_to_face, g.photos_accept, g.photos_warn, g.photos_reject]
                        .iter()
                        .map(cell),
                );
                row.extend(codes.iter().map(|c| g.outcomes.get(c).map(cell).unwrap_or_default()));
                for c in [g.rejection, g.information_request, g.without_face_to_face, g.photo_rejection] {
                    match c {
                        Some(c) => row.extend([c.rate, c.difference, c.ci_low, c.ci_high, c.p_value].map(|v| format!("{v:.4}"))),
                        None => row.extend(std::iter::repeat_n(String::new(), 5)),
                    }
                }
                row.extend([opt(g.median_working_days), opt(g.p90_working_days)]);
                line(&mut out, &row);
            }
        }
        out
    }

    /// The dashboard's charts, each as its own table.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Chart {
        /// Weekly volumes, answered within target and breaches.
        Weeks,
        /// The outcome mix by week.
        Outcomes,
        /// The turnaround distribution.
        Turnaround,
    }

    impl Chart {
        pub fn parse(s: &str) -> Option<Chart> {
            match s {
                "weeks" => Some(Chart::Weeks),
                "outcomes" => Some(Chart::Outcomes),
                "turnaround" => Some(Chart::Turnaround),
                _ => None,
            }
        }
    }

    /// The dashboard's weekly table (with the outcome mix), or one chart's data.
    pub fn service(r: &ServiceReport, chart: Option<Chart>) -> String {
        let mut out = String::new();
        let codes: Vec<String> = OutcomeCode::ALL.iter().map(|c| c.as_str().to_string()).collect();
        match chart {
            Some(Chart::Turnaround) => {
                line(&mut out, &["working_days".into(), "referrals".into()]);
                for b in &r.turnaround {
                    line(&mut out, &[format!("{}{}", b.working_days, if b.or_more { "+" } else { "" }), b.referrals.to_string()]);
                }
            }
            Some(Chart::Outcomes) => {
                let mut head = vec!["week_start".to_string()];
                head.extend(codes.iter().cloned());
                line(&mut out, &head);
                for w in &r.weeks {
                    let mut row = vec![w.week_start.to_string()];
                    row.extend(codes.iter().map(|c| w.outcomes.get(c).copied().unwrap_or(0).to_string()));
                    line(&mut out, &row);
                }
            }
            Some(Chart::Weeks) | None => {
                let mut head: Vec<String> =
                    ["week_start", "referrals", "answered", "within_target", "within_target_percent", "breaches"].map(String::from).to_vec();
                if chart.is_none() {
                    head.extend(codes.iter().map(|c| format!("outcome_{c}")));
                }
                line(&mut out, &head);
                for w in &r.weeks {
                    let mut row = vec![
                        w.week_start.to_string(),
                        w.referrals.to_string(),
                        w.answered.to_string(),
                        w.within_target.to_string(),
                        opt(w.within_target_percent),
                        w.breaches.to_string(),
                    ];
                    if chart.is_none() {
                        row.extend(codes.iter().map(|c| w.outcomes.get(c).copied().unwrap_or(0).to_string()));
                    }
                    line(&mut out, &row);
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// How the practice report reads

/// The practice report's figures as people read them: shared by the page and the monthly PDF.
pub mod display {
    use super::PracticeFigures;

    pub fn pct(v: Option<f64>) -> String {
        v.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "–".into())
    }

    pub fn num<T: ToString>(v: Option<T>) -> String {
        v.map(|v| v.to_string()).unwrap_or_else(|| "–".into())
    }

    pub fn days(v: Option<f64>) -> String {
        v.map(|d| if d.fract() == 0.0 { format!("{d:.0}") } else { format!("{d:.1}") }).unwrap_or_else(|| "–".into())
    }

    /// One figure of a practice beside the service's.
    pub struct FigureRow {
        pub label: &'static str,
        pub practice: String,
        pub service: String,
    }

    pub fn per_practice(total: u64, practices: u64) -> String {
        if practices == 0 { "–".into() } else { format!("{:.1}", total as f64 / practices as f64) }
    }

    pub fn figure_rows(p: &PracticeFigures, s: &PracticeFigures, practices: u64) -> Vec<FigureRow> {
        let route = |f: &PracticeFigures, r: &str| f.by_route.get(r).copied().unwrap_or(0);
        vec![
            FigureRow { label: "Referrals received", practice: p.referrals.to_string(), service: per_practice(s.referrals, practices) },
            FigureRow {
                label: "Advice and Guidance requests",
                practice: route(p, "advice_and_guidance").to_string(),
                service: per_practice(route(s, "advice_and_guidance"), practices),
            },
            FigureRow { label: "Referral Assessment Service referrals", practice: route(p, "ras").to_string(), service: per_practice(route(s, "ras"), practices) },
            FigureRow { label: "Photos accepted by the photo check", practice: p.photo_verdicts.accept.to_string(), service: per_practice(s.photo_verdicts.accept, practices) },
            FigureRow { label: "Photos with a warning", practice: p.photo_verdicts.warn.to_string(), service: per_practice(s.photo_verdicts.warn, practices) },
            FigureRow { label: "Photos refused", practice: p.photo_verdicts.reject.to_string(), service: per_practice(s.photo_verdicts.reject, practices) },
            FigureRow { label: "Returned for more information", practice: p.returned_for_information.to_string(), service: per_practice(s.returned_for_information, practices) },
            FigureRow { label: "Share returned for more information", practice: pct(p.returned_for_information_rate), service: pct(s.returned_for_information_rate) },
            FigureRow { label: "Rejected", practice: p.rejected.to_string(), service: per_practice(s.rejected, practices) },
            FigureRow { label: "Share of answers that were rejections", practice: pct(p.rejection_rate), service: pct(s.rejection_rate) },
            FigureRow {
                label: "Managed without a face-to-face appointment",
                practice: pct(p.managed_without_face_to_face_rate),
                service: pct(s.managed_without_face_to_face_rate),
            },
            FigureRow { label: "Median working days to answer", practice: days(p.median_working_days), service: days(s.median_working_days) },
            FigureRow { label: "90th percentile working days to answer", practice: num(p.p90_working_days), service: num(s.p90_working_days) },
        ]
    }

    /// What a return for information asked for, as people read it.
    pub fn topic_label(t: &str) -> String {
        telederm_domain::referral::InformationTopic::parse(t).map(|t| t.label()).unwrap_or("Not given").into()
    }

    pub fn reason_label(r: &str) -> String {
        match r {
            "poor_image_quality" => "Poor image quality",
            "ineligible" => "Ineligible",
            "should_be_two_week_wait" => "Should have been two-week wait",
            "insufficient_information" => "Insufficient information",
            _ => "Other",
        }
        .into()
    }
}

// ---------------------------------------------------------------------------------------------
// The monthly summary as PDF

/// The practice report as a PDF summary (tagged, the letters' layout and embedded font): each
/// practice's figures beside the service's, its rejections by reason and commonest photo issues,
/// then every practice together. Titled by the month when the period is one.
pub mod pdf {
    use telederm_fhir::letters::{Block, document_pdf, long_date};

    use super::PracticeQualityReport;
    use super::display::{figure_rows, reason_label, topic_label};
    use crate::App;

    pub fn practice_quality(app: &App, r: &PracticeQualityReport) -> Vec<u8> {
        let services: Vec<String> = r.services.iter().map(|s| app.policy(s).map(|p| p.name.clone()).unwrap_or_else(|_| s.clone())).collect();
        let title = if super::is_month(r.from, r.to) {
            format!("Referral quality summary, {}", r.from.format("%B %Y"))
        } else {
            format!("Referral quality summary, {} to {}", long_date(r.from), long_date(r.to))
        };
        let mut blocks = vec![Block::Paragraph(format!(
            "Referrals received from {} to {} by {}. Each practice is set beside the service: counts as the average per practice ({} practices referred), shares as the service's share.",
            long_date(r.from),
            long_date(r.to),
            services.join(", "),
            r.practice_count
        ))];
        if r.practices.is_empty() {
            blocks.push(Block::Paragraph("No referrals were received from your practice in this period.".into()));
        }
        for p in &r.practices {
            blocks.push(Block::Heading(format!("{} ({})", p.name, p.ods_code.clone().unwrap_or_default())));
            for f in figure_rows(p, &r.service, r.practice_count) {
                blocks.push(Block::Field(f.label.to_string(), format!("{}   (service: {})", f.practice, f.service)));
            }
            let reasons: Vec<String> = p.rejections.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{}: {n}", reason_label(k))).collect();
            blocks.push(Block::Field("Rejections by reason".into(), if reasons.is_empty() { "None".into() } else { reasons.join("; ") }));
            let asked: Vec<String> = p.returned_for_information_by_topic.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{}: {n}", topic_label(k))).collect();
            blocks.push(Block::Field("Returned for information, for".into(), if asked.is_empty() { "None".into() } else { asked.join("; ") }));
            let issues: Vec<String> = p.photo_issues.iter().map(|i| format!("{}: {} referrals", i.issue.replace('_', " "), i.referrals)).collect();
            blocks.push(Block::Field("Commonest photo issues".into(), if issues.is_empty() { "None".into() } else { issues.join("; ") }));
        }
        blocks.push(Block::Heading("All practices together".into()));
        for f in figure_rows(&r.service, &r.service, 1) {
            blocks.push(Block::Field(f.label.to_string(), f.practice));
        }
        document_pdf("Telederm: feedback to practices", &title, app.now(), &format!("Made {}", long_date(app.now().date_naive())), blocks)
    }
}

#[cfg(test)]
mod tests {
    /// The practice-quality month totals have a column for each photo-check issue: an issue the
    /// imaging crate adds without one would go uncounted.
    #[test]
    fn the_month_totals_count_every_photo_issue() {
        let codes: Vec<&str> = telederm_imaging::IssueCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, telederm_store::reports::PHOTO_ISSUES);
    }
}
