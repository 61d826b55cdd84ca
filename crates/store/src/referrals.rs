//! Referrals, their photos, messages and event history. Each state change is one transaction
//! that writes the referral, its event and its message together.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use telederm_domain::patient::ContactKind;
use telederm_domain::policy::{ImageSource, PhotoKind};
use telederm_domain::referral::{Action, Message, Priority, Referral, ReferralStatus, Route};
use telederm_domain::{OrganisationId, PhotoId, ReferralId, UserId};

use crate::codec::{date, json, name, parse_date, parse_json, parse_name, parse_ts, ts, uuid};
use crate::{Dialect, Result, Store, StoreError, WriteTx};

/// A row of a list or worklist: enough to show and sort, without the clinical record.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReferralSummary {
    pub id: ReferralId,
    pub service_id: String,
    pub route: Route,
    pub priority: Priority,
    pub status: ReferralStatus,
    pub practice_id: OrganisationId,
    pub referrer_id: UserId,
    pub assignee_id: Option<UserId>,
    pub patient_name: String,
    /// Ten digits.
    pub nhs_number: String,
    #[schema(value_type = Option<telederm_domain::outcome::OutcomeCode>)]
    pub outcome_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub due_date: Option<NaiveDate>,
    /// How Telederm can reach the patient (the list's "cannot be contacted" flag is made from it
    /// and the notifier's abilities: `ListItem::patient_unreachable` in the API).
    #[serde(skip)]
    pub patient_contact: ContactKind,
    /// The last state-machine action applied (none while a draft was never sent).
    pub last_action: Option<Action>,
    /// When the patient last finished sending photos through an upload link.
    pub patient_photos_at: Option<DateTime<Utc>>,
}

impl ReferralSummary {
    /// The patient sent photos after the referral last changed (the GP has not acted on them yet).
    pub fn patient_photos_new(&self) -> bool {
        self.patient_photos_at.is_some_and(|at| at > self.updated_at)
    }
}

/// Which referrals to list. Every field narrows; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub practice_id: Option<OrganisationId>,
    pub service_ids: Option<Vec<String>>,
    pub statuses: Option<Vec<ReferralStatus>>,
    pub route: Option<Route>,
    pub priority: Option<Priority>,
    pub nhs_number: Option<String>,
    /// Exact e-RS UBRN (12 digits).
    pub ubrn: Option<String>,
    /// Case-insensitive match on the patient's name.
    pub patient_name: Option<String>,
    /// Order by deadline (worklist) instead of most recently updated.
    pub by_due_date: bool,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// A photo as stored: keys of its derivatives in the blob store and its quality report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PhotoRecord {
    pub id: PhotoId,
    pub referral_id: ReferralId,
    pub kind: PhotoKind,
    pub source: ImageSource,
    pub uploaded_by: Option<UserId>,
    pub original_key: String,
    pub original_type: String,
    pub attachment_key: String,
    pub preview_key: String,
    pub thumbnail_key: String,
    pub width: i64,
    pub height: i64,
    pub size_bytes: i64,
    /// The quality gate's verdict.
    pub verdict: telederm_domain::policy::Verdict,
    /// The imaging crate's `QualityReport` as it was when the photo was checked.
    #[schema(schema_with = quality_report_schema)]
    pub report: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// The referrer confirmed that the face the photo check detected is not identifiable (the
    /// child-face rule then lets the photo go).
    #[serde(default)]
    pub face_confirmed: Option<FaceConfirmation>,
}

/// Who confirmed a detected face is not identifiable, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FaceConfirmation {
    pub by: UserId,
    pub at: DateTime<Utc>,
}

/// The API document's `QualityReport` schema (the imaging crate's type; this crate does not depend
/// on it, so the document registers it and a test checks that every reference resolves).
fn quality_report_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::Ref::from_schema_name("QualityReport").into()
}

/// One step in a referral's history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventRecord {
    pub actor_id: Option<UserId>,
    pub action: Action,
    pub from_status: Option<ReferralStatus>,
    pub to_status: ReferralStatus,
    pub at: DateTime<Utc>,
}

const SUMMARY_COLUMNS: &str = "id, service_id, route, priority, status, practice_id, referrer_id, assignee_id, \
     patient_name, nhs_number, outcome_code, created_at, updated_at, submitted_at, due_date, last_action, patient_photos_at, patient_contact";

fn opt_uuid<T: From<uuid::Uuid>>(s: Option<String>) -> Result<Option<T>> {
    s.as_deref().map(uuid).transpose()
}

/// A row's text columns by name: a database row, or one element of a list page that SQLite
/// returned as JSON (see `list_referrals`).
trait TextColumns {
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn text(&self, column: &str) -> Result<String> {
        self.opt_text(column)?.ok_or_else(|| StoreError::Corrupt(format!("{column} is missing")))
    }
}

impl TextColumns for AnyRow {
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
}

impl TextColumns for serde_json::Map<String, serde_json::Value> {
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        match self.get(column) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(StoreError::Corrupt(format!("{column}: expected text, found {other}"))),
        }
    }
}

fn summary_from_row(r: &impl TextColumns) -> Result<ReferralSummary> {
    Ok(ReferralSummary {
        id: uuid(&r.text("id")?)?,
        service_id: r.text("service_id")?,
        route: parse_name(&r.text("route")?)?,
        priority: parse_name(&r.text("priority")?)?,
        status: parse_name(&r.text("status")?)?,
        practice_id: uuid(&r.text("practice_id")?)?,
        referrer_id: uuid(&r.text("referrer_id")?)?,
        assignee_id: opt_uuid(r.opt_text("assignee_id")?)?,
        patient_name: r.text("patient_name")?,
        nhs_number: r.text("nhs_number")?,
        outcome_code: r.opt_text("outcome_code")?,
        created_at: parse_ts(&r.text("created_at")?)?,
        updated_at: parse_ts(&r.text("updated_at")?)?,
        submitted_at: r.opt_text("submitted_at")?.as_deref().map(parse_ts).transpose()?,
        due_date: r.opt_text("due_date")?.as_deref().map(parse_date).transpose()?,
        last_action: r.opt_text("last_action")?.as_deref().map(parse_name).transpose()?,
        patient_photos_at: r.opt_text("patient_photos_at")?.as_deref().map(parse_ts).transpose()?,
        patient_contact: parse_name(&r.text("patient_contact")?)?,
    })
}

fn referral_from_row(r: &AnyRow) -> Result<Referral> {
    let s = summary_from_row(r)?;
    let opt_json = |col: &str| -> Result<Option<serde_json::Value>> {
        r.get::<Option<String>, _>(col).as_deref().map(parse_json).transpose()
    };
    Ok(Referral {
        id: s.id,
        service_id: s.service_id,
        route: s.route,
        priority: s.priority,
        status: s.status,
        practice_id: s.practice_id,
        referrer_id: s.referrer_id,
        assignee_id: s.assignee_id,
        patient: parse_json(r.get::<String, _>("patient_json").as_str())?,
        history: parse_json(r.get::<String, _>("history_json").as_str())?,
        consent: r.get::<Option<String>, _>("consent_json").as_deref().map(parse_json).transpose()?,
        eligibility_answers: opt_json("eligibility_answers_json")?,
        eligibility: opt_json("eligibility_json")?,
        conversion_authorised: r.get::<i64, _>("conversion_authorised") != 0,
        ubrn: r.get("ubrn"),
        outcome: r.get::<Option<String>, _>("outcome_json").as_deref().map(parse_json).transpose()?,
        created_at: s.created_at,
        updated_at: s.updated_at,
        submitted_at: s.submitted_at,
        due_date: s.due_date,
        version: r.get("version"),
        patient_answers: opt_json("patient_answers_json")?.map(serde_json::from_value).transpose().map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

impl Store {
    pub async fn insert_referral(&self, r: &Referral) -> Result<()> {
        let mut w = self.begin_write().await?;
        insert_referral_in(&mut w, r).await?;
        w.commit().await
    }

    /// Writes a changed referral if nobody changed it since it was read (`r.version`), together
    /// with the event and message that explain the change. Bumps `r.version` on success.
    pub async fn update_referral(&self, r: &mut Referral, event: Option<&EventRecord>, message: Option<&Message>) -> Result<()> {
        let mut w = self.begin_write().await?;
        write_referral_update(&mut w, r, event, message).await?;
        w.commit().await?;
        r.version += 1;
        Ok(())
    }

    pub async fn get_referral(&self, id: ReferralId) -> Result<Referral> {
        let row = sqlx::query("SELECT * FROM referrals WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        referral_from_row(&row)
    }

    pub async fn list_referrals(&self, f: &ReferralFilter) -> Result<Vec<ReferralSummary>> {
        let Some((sql, args)) = self.list_referrals_sql(f) else { return Ok(Vec::new()) };
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(a.as_str());
        }
        if self.dialect() == Dialect::Sqlite {
            let page: String = q.fetch_one(&self.pool).await?.try_get("page")?;
            let rows: Vec<serde_json::Map<String, serde_json::Value>> = parse_json(&page)?;
            return rows.iter().map(summary_from_row).collect();
        }
        q.fetch_all(&self.pool).await?.iter().map(summary_from_row).collect()
    }

    /// The SQL [`Store::list_referrals`] runs for `f` and its bound values (`$1`, `$2`, … in
    /// order), or `None` when the filter can match nothing (no query is run). For measuring the
    /// work each list does (bench/scale).
    pub fn list_referrals_sql(&self, f: &ReferralFilter) -> Option<(String, Vec<String>)> {
        let sqlite = self.dialect() == Dialect::Sqlite;
        let mut sql = String::from(" FROM referrals WHERE 1 = 1");
        let mut args: Vec<String> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, value: String| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(p) = f.practice_id {
            push(&mut sql, " AND practice_id = ?", p.to_string());
        }
        if f.service_ids.as_ref().is_some_and(|s| s.is_empty()) {
            return None;
        }
        let services = f.service_ids.as_deref().unwrap_or_default();
        let one_status = f.statuses.as_ref().is_some_and(|s| !s.is_empty() && s.iter().all(|x| *x == s[0]));
        // Filters a per-service index walks in the list's order: one status (migration 0026), or
        // a route and a priority, with the statuses (a consultant's list: every one but drafts)
        // tested in that index (0027).
        let route_and_priority = f.route.is_some() && f.priority.is_some();
        let branch_per_service = !sqlite && !f.by_due_date && (one_status || route_and_priority) && services.len() > 1;
        if !branch_per_service && !services.is_empty() {
            // SQLite's planner, given an IN list on the leading column of an index, reads every
            // referral of those services and sorts them, which grows with the region. The unary
            // `+` keeps it off that index, so it walks the index in the list's own order (open
            // worklist, `updated_at`, status) and stops at the page size (bench/scale measures
            // both). Tested first, as it always was: tested after the other filters it cost SQLite
            // about 25% more VM steps on the newest-first and route/priority lists (bench/scale).
            let column = if sqlite { "+service_id" } else { "service_id" };
            sql.push_str(&format!(" AND {column} IN ("));
            for (i, s) in services.iter().enumerate() {
                push(&mut sql, if i == 0 { "?" } else { ", ?" }, s.clone());
            }
            sql.push(')');
        }
        if let Some(statuses) = &f.statuses {
            if statuses.is_empty() {
                return None;
            }
            // Status names come from a closed enum, so they are written into the SQL rather than
            // bound: the planners can then match the open-worklist partial index (migration 0008),
            // whose predicate lists the open statuses in this same order.
            let mut statuses = statuses.clone();
            statuses.sort_by_key(|s| ReferralStatus::ALL.iter().position(|a| a == s));
            statuses.dedup();
            let names: Vec<String> = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect();
            sql.push_str(&format!(" AND status IN ({})", names.join(", ")));
        }
        if let Some(r) = f.route {
            push(&mut sql, " AND route = ?", r.as_str().to_string());
        }
        if let Some(p) = f.priority {
            push(&mut sql, " AND priority = ?", p.as_str().to_string());
        }
        if let Some(n) = &f.nhs_number {
            push(&mut sql, " AND nhs_number = ?", n.clone());
        }
        if let Some(u) = &f.ubrn {
            push(&mut sql, " AND ubrn = ?", u.clone());
        }
        if let Some(n) = &f.patient_name {
            // Every word typed begins a word of the name (migration 0025's index of words, under
            // the practice when the list is one practice's); punctuation alone finds no one.
            let words = telederm_domain::patient::name_words(n);
            if words.is_empty() {
                return None;
            }
            let practice = f.practice_id.map(|p| p.to_string());
            for word in &words {
                let (clause, values) = crate::name_words::begins_a_word(practice.as_deref(), word, args.len() + 1);
                sql.push_str(" AND ");
                sql.push_str(&clause);
                args.extend(values);
            }
        }
        let order = if f.by_due_date { " ORDER BY due_date IS NULL, due_date, priority = 'routine', submitted_at, id" } else { " ORDER BY updated_at DESC, id" };
        let (limit, offset) = (f.limit.unwrap_or(200).clamp(1, 1000), f.offset.unwrap_or(0).max(0));
        let page = format!(" LIMIT {limit} OFFSET {offset}");
        let sql = if branch_per_service {
            // PostgreSQL 15 cannot walk an index in the list's order while testing an IN list on
            // a column after the first: it fetches every referral of the status that the walk
            // meets and drops those of other services (bench/scale at 1,000,000: `status=` read
            // 3 buffers a row returned). One branch per service, each walking exactly its
            // service's referrals of that status (or route and priority) in order (migrations
            // 0026, 0027), merged lazily (Merge Append), reads about one row per row returned.
            // Only for those filters: a branch with no index in its order would walk every
            // referral of a service to find a rare match, which a single walk over all the
            // services finds sooner.
            let branches: Vec<String> = services
                .iter()
                .map(|s| {
                    args.push(s.clone());
                    format!("(SELECT {SUMMARY_COLUMNS}{sql} AND service_id = ${}{order} LIMIT {})", args.len(), limit + offset)
                })
                .collect();
            format!("{}{order}{page}", branches.join(" UNION ALL "))
        } else {
            format!("SELECT {SUMMARY_COLUMNS}{sql}{order}{page}")
        };
        // sqlx hands SQLite's rows over from its worker thread one at a time; as one JSON value
        // in the list's order, a page is one hand-over (bench/scale: ~9 → ~7 ms for 200 rows).
        let sql = if sqlite {
            let fields: Vec<String> = SUMMARY_COLUMNS.split(',').map(|c| format!("'{0}', {0}", c.trim())).collect();
            format!("SELECT json_group_array(json_object({}){order}) AS page FROM ({sql})", fields.join(", "))
        } else {
            sql
        };
        Some((sql, args))
    }

    pub async fn insert_photo(&self, p: &PhotoRecord) -> Result<()> {
        let mut w = self.begin_write().await?;
        insert_photo_in(&mut w, p).await?;
        w.commit().await
    }

    pub async fn list_photos(&self, referral: ReferralId) -> Result<Vec<PhotoRecord>> {
        sqlx::query("SELECT * FROM photos WHERE referral_id = $1 ORDER BY created_at, id")
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(photo_from_row)
            .collect()
    }

    pub async fn get_photo(&self, id: PhotoId) -> Result<PhotoRecord> {
        let row = sqlx::query("SELECT * FROM photos WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        photo_from_row(&row)
    }

    pub async fn delete_photo(&self, id: PhotoId) -> Result<()> {
        let mut w = self.begin_write().await?;
        let referral: Option<String> = sqlx::query("SELECT referral_id FROM photos WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *w.tx)
            .await?
            .map(|r| r.get("referral_id"));
        let done = sqlx::query("DELETE FROM photos WHERE id = $1").bind(id.to_string()).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(referral) = referral {
            crate::reports::refresh_report_facts(&mut w.tx, &referral).await?;
        }
        w.commit().await
    }

    /// Every blob key any photo or document refers to (for the orphan sweep).
    pub async fn referenced_blob_keys(&self) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query("SELECT original_key, attachment_key, preview_key, thumbnail_key FROM photos")
            .fetch_all(&self.pool)
            .await?;
        let mut keys: std::collections::HashSet<String> =
            rows.iter().flat_map(|r| ["original_key", "attachment_key", "preview_key", "thumbnail_key"].map(|c| r.get::<String, _>(c))).collect();
        for r in sqlx::query("SELECT blob_key FROM referral_documents").fetch_all(&self.pool).await? {
            keys.insert(r.get("blob_key"));
        }
        Ok(keys)
    }

    pub async fn list_messages(&self, referral: ReferralId) -> Result<Vec<Message>> {
        sqlx::query("SELECT * FROM messages WHERE referral_id = $1 ORDER BY created_at, id")
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(Message {
                    id: uuid(r.get::<String, _>("id").as_str())?,
                    referral_id: uuid(r.get::<String, _>("referral_id").as_str())?,
                    kind: parse_name(r.get::<String, _>("kind").as_str())?,
                    author_id: opt_uuid(r.get("author_id"))?,
                    author_name: r.get("author_name"),
                    body: r.get("body"),
                    created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
                    topic: r.get::<Option<String>, _>("topic").as_deref().map(parse_name).transpose()?,
                })
            })
            .collect()
    }

    pub async fn list_events(&self, referral: ReferralId) -> Result<Vec<EventRecord>> {
        sqlx::query("SELECT * FROM referral_events WHERE referral_id = $1 ORDER BY seq")
            .bind(referral.to_string())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(EventRecord {
                    actor_id: opt_uuid(r.get("actor_id"))?,
                    action: parse_name(r.get::<String, _>("action").as_str())?,
                    from_status: r.get::<Option<String>, _>("from_status").as_deref().map(parse_name).transpose()?,
                    to_status: parse_name(r.get::<String, _>("to_status").as_str())?,
                    at: parse_ts(r.get::<String, _>("at").as_str())?,
                })
            })
            .collect()
    }

    /// Referrals of `service_ids` waiting for the service (submitted or in review: while the
    /// service waits for the GP its clock is stopped) due on `today`, and due before it.
    pub async fn count_due(&self, service_ids: &[String], today: chrono::NaiveDate) -> Result<(i64, i64)> {
        if service_ids.is_empty() {
            return Ok((0, 0));
        }
        let marks: Vec<String> = (0..service_ids.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN due_date = $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS due_today,
                    CAST(COALESCE(SUM(CASE WHEN due_date < $1 THEN 1 ELSE 0 END), 0) AS BIGINT) AS overdue
             FROM referrals WHERE status IN ('submitted', 'in_review') AND due_date <= $1 AND service_id IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(crate::codec::date(today));
        for s in service_ids {
            q = q.bind(s.as_str());
        }
        let row = q.fetch_one(&self.pool).await?;
        Ok((row.try_get("due_today")?, row.try_get("overdue")?))
    }

    /// Counts of referrals by status, optionally within some services.
    pub async fn count_by_status(&self, service_ids: Option<&[String]>) -> Result<Vec<(ReferralStatus, i64)>> {
        let rows = sqlx::query("SELECT service_id, status, COUNT(*) AS n FROM referrals GROUP BY service_id, status")
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<(ReferralStatus, i64)> = Vec::new();
        for r in &rows {
            let service: String = r.get("service_id");
            if service_ids.is_some_and(|s| !s.contains(&service)) {
                continue;
            }
            let status: ReferralStatus = parse_name(r.get::<String, _>("status").as_str())?;
            let n: i64 = r.get("n");
            match out.iter_mut().find(|(s, _)| *s == status) {
                Some((_, total)) => *total += n,
                None => out.push((status, n)),
            }
        }
        Ok(out)
    }
}

/// The referral write shared by every update path: the optimistic version check, then the event
/// and message. Leaves the version bump on `r` to the caller, after commit.
pub(crate) async fn write_referral_update(
    w: &mut WriteTx<'_>,
    r: &Referral,
    event: Option<&EventRecord>,
    message: Option<&Message>,
) -> Result<()> {
    let id = r.id.to_string();
    let old_name: Option<String> =
        sqlx::query("SELECT patient_name FROM referrals WHERE id = $1").bind(&id).fetch_optional(&mut *w.tx).await?.map(|row| row.get("patient_name"));
    let done = sqlx::query(
        "UPDATE referrals SET service_id = $1, route = $2, priority = $3, status = $4, assignee_id = $5,
            nhs_number = $6, patient_name = $7, patient_json = $8, history_json = $9, consent_json = $10,
            eligibility_answers_json = $11, eligibility_json = $12, conversion_authorised = $13,
            outcome_json = $14, outcome_code = $15, updated_at = $16, submitted_at = $17, due_date = $18,
            last_action = COALESCE($21, last_action), ubrn = $22, patient_contact = $23, version = version + 1
         WHERE id = $19 AND version = $20",
    )
    .bind(&r.service_id)
    .bind(name(&r.route))
    .bind(name(&r.priority))
    .bind(name(&r.status))
    .bind(r.assignee_id.map(|u| u.to_string()))
    .bind(r.patient.nhs_number.as_digits())
    .bind(r.patient.full_name())
    .bind(json(&r.patient))
    .bind(json(&r.history))
    .bind(r.consent.as_ref().map(json))
    .bind(r.eligibility_answers.as_ref().map(json))
    .bind(r.eligibility.as_ref().map(json))
    .bind(i64::from(r.conversion_authorised))
    .bind(r.outcome.as_ref().map(json))
    .bind(r.outcome.as_ref().map(|o| o.code.as_str().to_string()))
    .bind(ts(r.updated_at))
    .bind(r.submitted_at.map(ts))
    .bind(r.due_date.map(date))
    .bind(r.id.to_string())
    .bind(r.version)
    .bind(event.map(|e| name(&e.action)))
    .bind(r.ubrn.as_deref())
    .bind(name(&r.patient.contact.kind()))
    .execute(&mut *w.tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(
            "the referral was changed by someone else since you opened it; reload it and try again".into(),
        ));
    }
    if let Some(e) = event {
        insert_event(&mut w.tx, r.id, e).await?;
    }
    if let Some(m) = message {
        insert_message(&mut w.tx, m).await?;
    }
    crate::name_words::write_name_words(&mut w.tx, &id, &r.practice_id.to_string(), old_name.as_deref(), &r.patient.full_name()).await?;
    crate::reports::refresh_report_facts(&mut w.tx, &id).await?;
    Ok(())
}

async fn insert_event(tx: &mut sqlx::Transaction<'static, sqlx::Any>, id: ReferralId, e: &EventRecord) -> Result<()> {
    sqlx::query("INSERT INTO referral_events (referral_id, actor_id, action, from_status, to_status, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id.to_string())
        .bind(e.actor_id.map(|u| u.to_string()))
        .bind(name(&e.action))
        .bind(e.from_status.map(|s| s.as_str().to_string()))
        .bind(e.to_status.as_str())
        .bind(ts(e.at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_message(tx: &mut sqlx::Transaction<'static, sqlx::Any>, m: &Message) -> Result<()> {
    sqlx::query("INSERT INTO messages (id, referral_id, kind, author_id, author_name, body, created_at, topic) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(m.id.to_string())
        .bind(m.referral_id.to_string())
        .bind(name(&m.kind))
        .bind(m.author_id.map(|u| u.to_string()))
        .bind(&m.author_name)
        .bind(&m.body)
        .bind(ts(m.created_at))
        .bind(m.topic.as_ref().map(name))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn photo_from_row(r: &AnyRow) -> Result<PhotoRecord> {
    Ok(PhotoRecord {
        id: uuid(r.get::<String, _>("id").as_str())?,
        referral_id: uuid(r.get::<String, _>("referral_id").as_str())?,
        kind: parse_name(r.get::<String, _>("kind").as_str())?,
        source: parse_name(r.get::<String, _>("source").as_str())?,
        uploaded_by: opt_uuid(r.get("uploaded_by"))?,
        original_key: r.get("original_key"),
        original_type: r.get("original_type"),
        attachment_key: r.get("attachment_key"),
        preview_key: r.get("preview_key"),
        thumbnail_key: r.get("thumbnail_key"),
        width: r.get("width"),
        height: r.get("height"),
        size_bytes: r.get("size_bytes"),
        verdict: parse_name(r.get::<String, _>("verdict").as_str())?,
        report: parse_json(r.get::<String, _>("report_json").as_str())?,
        created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
        face_confirmed: match (opt_uuid(r.get("face_confirmed_by"))?, r.get::<Option<String>, _>("face_confirmed_at")) {
            (Some(by), Some(at)) => Some(FaceConfirmation { by, at: parse_ts(&at)? }),
            _ => None,
        },
    })
}

/// [`Store::insert_referral`] inside a caller's transaction.
pub async fn insert_referral_in(w: &mut WriteTx<'_>, r: &Referral) -> Result<()> {
    sqlx::query(
        "INSERT INTO referrals (id, service_id, route, priority, status, practice_id, referrer_id, assignee_id,
            nhs_number, patient_name, patient_json, history_json, consent_json, eligibility_answers_json,
            eligibility_json, conversion_authorised, outcome_json, outcome_code, created_at, updated_at,
            submitted_at, due_date, version, ubrn, patient_contact, patient_answers_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)",
    )
    .bind(r.id.to_string())
    .bind(&r.service_id)
    .bind(name(&r.route))
    .bind(name(&r.priority))
    .bind(name(&r.status))
    .bind(r.practice_id.to_string())
    .bind(r.referrer_id.to_string())
    .bind(r.assignee_id.map(|u| u.to_string()))
    .bind(r.patient.nhs_number.as_digits())
    .bind(r.patient.full_name())
    .bind(json(&r.patient))
    .bind(json(&r.history))
    .bind(r.consent.as_ref().map(json))
    .bind(r.eligibility_answers.as_ref().map(json))
    .bind(r.eligibility.as_ref().map(json))
    .bind(i64::from(r.conversion_authorised))
    .bind(r.outcome.as_ref().map(json))
    .bind(r.outcome.as_ref().map(|o| o.code.as_str().to_string()))
    .bind(ts(r.created_at))
    .bind(ts(r.updated_at))
    .bind(r.submitted_at.map(ts))
    .bind(r.due_date.map(date))
    .bind(r.version)
    .bind(r.ubrn.as_deref())
    .bind(name(&r.patient.contact.kind()))
    .bind(r.patient_answers.as_ref().map(json))
    .execute(&mut *w.tx)
    .await?;
    crate::name_words::write_name_words(&mut w.tx, &r.id.to_string(), &r.practice_id.to_string(), None, &r.patient.full_name()).await?;
    crate::reports::refresh_report_facts(&mut w.tx, &r.id.to_string()).await?;
    Ok(())
}

/// [`Store::insert_photo`] inside a caller's transaction.
pub async fn insert_photo_in(w: &mut WriteTx<'_>, p: &PhotoRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO photos (id, referral_id, kind, source, uploaded_by, original_key, original_type, attachment_key,
            preview_key, thumbnail_key, width, height, size_bytes, verdict, report_json, created_at,
            face_confirmed_by, face_confirmed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(p.id.to_string())
    .bind(p.referral_id.to_string())
    .bind(name(&p.kind))
    .bind(name(&p.source))
    .bind(p.uploaded_by.map(|u| u.to_string()))
    .bind(&p.original_key)
    .bind(&p.original_type)
    .bind(&p.attachment_key)
    .bind(&p.preview_key)
    .bind(&p.thumbnail_key)
    .bind(p.width)
    .bind(p.height)
    .bind(p.size_bytes)
    .bind(p.verdict.as_str())
    .bind(json(&p.report))
    .bind(ts(p.created_at))
    .bind(p.face_confirmed.as_ref().map(|c| c.by.to_string()))
    .bind(p.face_confirmed.as_ref().map(|c| ts(c.at)))
    .execute(&mut *w.tx)
    .await?;
    crate::reports::refresh_report_facts(&mut w.tx, &p.referral_id.to_string()).await?;
    Ok(())
}

/// Adds a message to a referral inside a caller's transaction (a restore writes a referral's
/// history this way); bumps `r.version` as [`Store::update_referral`] does.
pub async fn add_message_in(w: &mut WriteTx<'_>, r: &mut Referral, m: &Message) -> Result<()> {
    write_referral_update(w, r, None, Some(m)).await?;
    r.version += 1;
    Ok(())
}

/// Keeps where an imported referral came from (the practitioners its Bundle named, as
/// references), inside the import's transaction.
pub async fn insert_import_source_in(w: &mut WriteTx<'_>, referral: ReferralId, source: &serde_json::Value, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("INSERT INTO referral_imports (referral_id, source_json, imported_at) VALUES ($1, $2, $3)")
        .bind(referral.to_string())
        .bind(source.to_string())
        .bind(ts(at))
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

impl Store {
    /// A new referral and its audit entry, in one transaction.
    pub async fn insert_referral_audited(&self, r: &Referral, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        insert_referral_in(&mut w, r).await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// A new photo record and its audit entry, in one transaction.
    pub async fn insert_photo_audited(&self, p: &PhotoRecord, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        insert_photo_in(&mut w, p).await?;
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Records the referrer's confirmation that the face detected in a photo is not identifiable,
    /// with its audit entry, in one transaction.
    pub async fn confirm_photo_face(&self, id: PhotoId, confirmation: &FaceConfirmation, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE photos SET face_confirmed_by = $2, face_confirmed_at = $3 WHERE id = $1")
            .bind(id.to_string())
            .bind(confirmation.by.to_string())
            .bind(ts(confirmation.at))
            .execute(&mut *w.tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Changes what kind of photo a record is (locator, close-up, dermoscopic), with its audit
    /// entry, in one transaction.
    pub async fn set_photo_kind(&self, id: PhotoId, kind: telederm_domain::policy::PhotoKind, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("UPDATE photos SET kind = $2 WHERE id = $1").bind(id.to_string()).bind(name(&kind)).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Deletes a photo record with its audit entry, in one transaction.
    pub async fn delete_photo_audited(&self, id: PhotoId, audit: &crate::NewAuditEntry) -> Result<()> {
        let mut w = self.begin_write().await?;
        let referral: Option<String> = sqlx::query("SELECT referral_id FROM photos WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *w.tx)
            .await?
            .map(|r| r.get("referral_id"));
        let done = sqlx::query("DELETE FROM photos WHERE id = $1").bind(id.to_string()).execute(&mut *w.tx).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(referral) = referral {
            crate::reports::refresh_report_facts(&mut w.tx, &referral).await?;
        }
        crate::audit::append_audit_in(&mut w, audit);
        w.commit().await
    }

    /// Where an imported referral came from, if it was imported.
    pub async fn import_source(&self, referral: ReferralId) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT source_json FROM referral_imports WHERE referral_id = $1")
            .bind(referral.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| parse_json(r.get::<String, _>("source_json").as_str())).transpose()
    }
}
