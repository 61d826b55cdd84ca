//! The job queue: background work kept in the database, so any node can run it and each job runs
//! once. A worker claims due jobs with a lease; PostgreSQL hands each row to one claimer with
//! `FOR UPDATE SKIP LOCKED`, SQLite runs the claim inside its single immediate write transaction.
//! A failed job is retried with exponential backoff until `max_attempts`, then it is dead and
//! waits for an admin. Handlers must be idempotent: a worker that dies after doing the work but
//! before recording it leaves a job whose lease runs out and which runs again.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::codec::{parse_json, parse_name, parse_ts, ts};
use crate::{Dialect, Result, Store, StoreError, WriteTx};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for `run_at`.
    Queued,
    /// Claimed by a worker whose lease has not run out.
    Running,
    Done,
    /// Failed `max_attempts` times; an admin can look at it and retry it.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What to do, e.g. `send_notification`, `sla_reminders`, `retention_purge`.
    pub kind: String,
    pub payload: serde_json::Value,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i64,
    /// At most one job with this key ever exists: enqueueing it again does nothing (e.g.
    /// `sla:2026-03-09` so that several nodes scheduling the daily scan make one job).
    pub unique_key: Option<String>,
}

impl NewJob {
    /// A job due now, with 5 attempts and no unique key.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> NewJob {
        NewJob { kind: kind.into(), payload, run_at: Utc::now(), max_attempts: 5, unique_key: None }
    }

    pub fn unique(mut self, key: impl Into<String>) -> NewJob {
        self.unique_key = Some(key.into());
        self
    }

    pub fn at(mut self, run_at: DateTime<Utc>) -> NewJob {
        self.run_at = run_at;
        self
    }

    pub fn max_attempts(mut self, n: i64) -> NewJob {
        self.max_attempts = n.max(1);
        self
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: uuid::Uuid,
    pub kind: String,
    /// What the job works on; its shape depends on `kind`.
    pub payload: serde_json::Value,
    pub unique_key: Option<String>,
    pub state: JobState,
    /// Claims so far, including the current one while running.
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: DateTime<Utc>,
    pub locked_by: Option<String>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How long before a failed job's next try: 30 s, 1 min, 2 min, … doubling, at most 6 hours.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(1, 20) - 1;
    Duration::seconds((30_i64 << exp).min(6 * 3600))
}

fn job_from_row(r: &AnyRow) -> Result<Job> {
    let opt_ts = |col: &str| -> Result<Option<DateTime<Utc>>> { r.get::<Option<String>, _>(col).as_deref().map(parse_ts).transpose() };
    Ok(Job {
        id: uuid::Uuid::parse_str(r.get::<String, _>("id").as_str()).map_err(|e| StoreError::Corrupt(format!("job id: {e}")))?,
        kind: r.get("kind"),
        payload: parse_json(r.get::<String, _>("payload_json").as_str())?,
        unique_key: r.get("unique_key"),
        state: parse_name(r.get::<String, _>("state").as_str())?,
        attempts: r.get("attempts"),
        max_attempts: r.get("max_attempts"),
        run_at: parse_ts(r.get::<String, _>("run_at").as_str())?,
        locked_by: r.get("locked_by"),
        locked_until: opt_ts("locked_until")?,
        last_error: r.get("last_error"),
        created_at: parse_ts(r.get::<String, _>("created_at").as_str())?,
        updated_at: parse_ts(r.get::<String, _>("updated_at").as_str())?,
        finished_at: opt_ts("finished_at")?,
    })
}

/// Inserts a job inside an open write transaction. Returns its id, or `None` when a job with the
/// same unique key already exists.
pub async fn enqueue_job_in(w: &mut WriteTx<'_>, job: &NewJob) -> Result<Option<uuid::Uuid>> {
    let id = uuid::Uuid::now_v7();
    let now = ts(Utc::now());
    let done = sqlx::query(
        "INSERT INTO jobs (id, kind, payload_json, unique_key, state, attempts, max_attempts, run_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $7)
         ON CONFLICT (unique_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(&job.kind)
    .bind(job.payload.to_string())
    .bind(job.unique_key.as_deref())
    .bind(job.max_attempts.max(1))
    .bind(ts(job.run_at))
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

impl Store {
    /// Queues a job. Returns its id, or `None` when a job with the same unique key exists.
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<Option<uuid::Uuid>> {
        let mut w = self.begin_write().await?;
        let id = enqueue_job_in(&mut w, job).await?;
        w.commit().await?;
        Ok(id)
    }

    /// Claims up to `n` due jobs for `worker`, leasing each for `lease`. Jobs whose lease ran out
    /// (their worker died) are due again. Each job is handed to exactly one claimer.
    pub async fn claim_jobs_with_lease(&self, worker: &str, n: i64, now: DateTime<Utc>, lease: Duration) -> Result<Vec<Job>> {
        self.claim(worker, n, None, now, lease).await
    }

    /// [`Store::claim_jobs`], only of the given kinds (for a worker that runs some kinds only).
    pub async fn claim_jobs_of_kinds(&self, worker: &str, n: i64, kinds: &[&str]) -> Result<Vec<Job>> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        self.claim(worker, n, Some(kinds), Utc::now(), self.lease()).await
    }

    async fn claim(&self, worker: &str, n: i64, kinds: Option<&[&str]>, now: DateTime<Utc>, lease: Duration) -> Result<Vec<Job>> {
        let kind_filter = match kinds {
            None => String::new(),
            Some(kinds) => {
                let params: Vec<String> = (0..kinds.len()).map(|i| format!("${}", i + 5)).collect();
                format!(" AND kind IN ({})", params.join(", "))
            }
        };
        let lock = match self.dialect {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let mut w = self.begin_write().await?;
        // A job whose worker died on its last allowed attempt is dead, not due.
        sqlx::query(
            "UPDATE jobs SET state = 'dead', locked_by = NULL, locked_until = NULL, updated_at = $1, finished_at = $1,
                last_error = COALESCE(last_error, 'the worker stopped before finishing')
             WHERE state = 'running' AND locked_until <= $1 AND attempts >= max_attempts",
        )
        .bind(ts(now))
        .execute(&mut *w.tx)
        .await?;
        let sql = format!(
            "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3
             WHERE id IN (
                SELECT id FROM jobs
                WHERE ((state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until <= $3)){kind_filter}
                ORDER BY run_at, id LIMIT $4{lock})
             RETURNING *"
        );
        let mut q = sqlx::query(&sql).bind(worker).bind(ts(now + lease)).bind(ts(now)).bind(n.max(1));
        for k in kinds.unwrap_or_default() {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(&mut *w.tx).await?;
        w.commit().await?;
        let mut jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    /// [`Store::claim_jobs_with_lease`] now, with this store's lease ([`Store::with_job_lease`],
    /// 5 minutes unless set).
    pub async fn claim_jobs(&self, worker: &str, n: i64) -> Result<Vec<Job>> {
        self.claim_jobs_with_lease(worker, n, Utc::now(), self.lease()).await
    }

    fn lease(&self) -> Duration {
        Duration::from_std(self.job_lease()).unwrap_or(Duration::minutes(5))
    }

    /// Records that `worker` finished the job. Fails with `Conflict` if the worker no longer holds
    /// it (its lease ran out and another worker claimed it).
    pub async fn complete_job(&self, id: uuid::Uuid, worker: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        let now = ts(Utc::now());
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = $1, finished_at = $1
             WHERE id = $2 AND state = 'running' AND locked_by = $3",
        )
        .bind(&now)
        .bind(id.to_string())
        .bind(worker)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("job {id} is not held by {worker}")));
        }
        w.commit().await
    }

    /// Records a failed try: the job is queued again after [`backoff`], or dead once it has had
    /// `max_attempts` tries. Returns the job's new state.
    pub async fn fail_job(&self, id: uuid::Uuid, worker: &str, error: &str, now: DateTime<Utc>) -> Result<JobState> {
        let mut w = self.begin_write().await?;
        let row = sqlx::query("SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND state = 'running' AND locked_by = $2")
            .bind(id.to_string())
            .bind(worker)
            .fetch_optional(&mut *w.tx)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("job {id} is not held by {worker}")))?;
        let (attempts, max): (i64, i64) = (row.get("attempts"), row.get("max_attempts"));
        let state = if attempts >= max { JobState::Dead } else { JobState::Queued };
        let error: String = error.chars().take(2000).collect();
        sqlx::query(
            "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, locked_by = NULL, locked_until = NULL,
                updated_at = $4, finished_at = $5
             WHERE id = $6",
        )
        .bind(state.as_str())
        .bind(ts(now + backoff(attempts)))
        .bind(error)
        .bind(ts(now))
        .bind((state == JobState::Dead).then(|| ts(now)))
        .bind(id.to_string())
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(state)
    }

    /// Records a failure that retrying cannot fix: the job is dead at once.
    pub async fn kill_job(&self, id: uuid::Uuid, worker: &str, error: &str) -> Result<()> {
        let mut w = self.begin_write().await?;
        let now = ts(Utc::now());
        let done = sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = $1, locked_by = NULL, locked_until = NULL, updated_at = $2, finished_at = $2
             WHERE id = $3 AND state = 'running' AND locked_by = $4",
        )
        .bind(error.chars().take(2000).collect::<String>())
        .bind(&now)
        .bind(id.to_string())
        .bind(worker)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("job {id} is not held by {worker}")));
        }
        w.commit().await
    }

    pub async fn get_job(&self, id: uuid::Uuid) -> Result<Job> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        job_from_row(&row)
    }

    /// Jobs that used up their attempts, most recent first (for the admin pages).
    pub async fn list_dead_jobs(&self) -> Result<Vec<Job>> {
        sqlx::query("SELECT * FROM jobs WHERE state = 'dead' ORDER BY updated_at DESC, id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    /// Gives a dead job a fresh set of attempts, due now.
    pub async fn retry_dead_job(&self, id: uuid::Uuid) -> Result<()> {
        let mut w = self.begin_write().await?;
        let now = ts(Utc::now());
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, updated_at = $1, finished_at = NULL
             WHERE id = $2 AND state = 'dead'",
        )
        .bind(&now)
        .bind(id.to_string())
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        w.commit().await
    }

    /// How many jobs are in each state (for metrics and readiness pages).
    pub async fn job_counts(&self) -> Result<Vec<(JobState, i64)>> {
        sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok((parse_name(r.get::<String, _>("state").as_str())?, r.get("n"))))
            .collect()
    }

    /// Jobs waiting and due at `now` (the queue depth: work no worker has taken yet).
    pub async fn due_job_count(&self, now: DateTime<Utc>) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued' AND run_at <= $1")
            .bind(ts(now))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.get("n"))
    }

    /// Jobs of every state, most recently changed first, optionally of one state (admin pages).
    pub async fn list_jobs(&self, state: Option<JobState>, limit: i64) -> Result<Vec<Job>> {
        let rows = match state {
            Some(s) => {
                sqlx::query("SELECT * FROM jobs WHERE state = $1 ORDER BY updated_at DESC, id LIMIT $2")
                    .bind(s.as_str())
                    .bind(limit.max(1))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query("SELECT * FROM jobs ORDER BY updated_at DESC, id LIMIT $1").bind(limit.max(1)).fetch_all(&self.pool).await?,
        };
        rows.iter().map(job_from_row).collect()
    }

    /// Deletes finished (done) jobs that finished before `before`. Returns how many.
    pub async fn purge_done_jobs(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND finished_at < $1")
            .bind(ts(before))
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(done.rows_affected())
    }
}
