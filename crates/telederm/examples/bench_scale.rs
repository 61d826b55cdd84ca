//! Scale benchmark (issue 7). Not a test: run it with `bench/scale/run.sh` (see README,
//! "Scale benchmark"). It
//!
//! 1. seeds a region's referrals straight into the database (multi-row INSERTs in large
//!    transactions on SQLite, `COPY` on PostgreSQL) at 10,000 and then 1,000,000 referrals,
//! 2. measures p50/p99 of the queries behind `GET /api/v1/worklist` and `GET /api/v1/referrals?...`
//!    by calling the same use-case functions the HTTP handlers call, with varied parameters,
//! 3. measures p50/p95 of the three reports (issue 17: practice quality, equity, the service
//!    dashboard) over the last year's referrals, with a target of p95 < 1 s,
//! 4. starts the real `telederm serve` on the 1,000,000-referral database and drives it from a load
//!    generator on loopback: create a draft, upload three photos, submit, as fast as it goes.
//!
//! The region is the same at both sizes (200 practices, one provider running the five seed
//! services, referrals arriving at 550 a day); only its history is longer: 10,000 referrals are
//! its first 18 days, 1,000,000 about five years. Open referrals (the worklist) are those still
//! within their turnaround, so their number is about the same at both sizes, as in real life.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::Row;
use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
use telederm_domain::{NhsNumber, OrganisationId, UserId};
use telederm_store::blobs::BlobStore;
use telederm_domain::referral::ReferralStatus;
use telederm_domain::route::{Priority, Route};
use telederm_store::audit::NewAuditEntry;
use telederm_store::{Dialect, ReferralFilter, Store};
use telederm_app::referrals::{self as usecases, ListQuery};
use telederm_web::{AppState, WebSettings};

#[derive(Parser)]
struct Args {
    /// The `telederm` binary for the submissions run (build it with --release).
    #[arg(long)]
    telederm: Option<PathBuf>,
    /// Database sizes, ascending.
    #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
    sizes: Vec<u64>,
    /// sqlite, postgres or both.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    dialects: Vec<String>,
    /// Timed runs of each query at each size.
    #[arg(long, default_value_t = 400)]
    samples: usize,
    /// How long the load generator submits referrals (0 skips it).
    #[arg(long, default_value_t = 30)]
    submit_seconds: u64,
    /// Concurrent clients of the load generator.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The load generator's photos, WIDTHxHEIGHT (4032x3024: a 12 MP phone photo).
    #[arg(long, default_value = "1600x1200", value_parser = parse_size)]
    photo_size: (u32, u32),
    /// Every other photo stored sideways with EXIF orientation 6, as phones do.
    #[arg(long)]
    rotated: bool,
    /// PostgreSQL server (a throwaway database is created on it and dropped afterwards).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Where SQLite files and blobs go (a temporary directory by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

const PRACTICES: usize = 200;
const PER_DAY: f64 = 550.0;
const SERVICES: [(&str, &str); 5] = [
    ("clinical-partnership", "advice_and_guidance"),
    ("hackney-rash", "ras"),
    ("homerton", "ras"),
    ("nhs-advice-and-guidance", "advice_and_guidance"),
    ("west-herts-paediatric", "advice_and_guidance"),
];
/// The consultant whose worklist is measured works two of the five services.
const CONSULTANT_SERVICES: [&str; 2] = ["nhs-advice-and-guidance", "hackney-rash"];
const GIVEN: [&str; 20] = [
    "Ada", "Ben", "Cara", "Dev", "Ella", "Femi", "Grace", "Hamza", "Iris", "Jack", "Kiran", "Lena", "Mo", "Nia", "Omar", "Priya",
    "Quinn", "Rosa", "Sam", "Tariq",
];
const FAMILY: [&str; 40] = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson", "Wright", "Thompson",
    "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Thomas", "Clarke", "Jackson", "Wood", "Harris", "Edwards",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Hughes", "Moore", "Clark", "King", "Harrison", "Lewis", "Baker", "Lee",
    "Allen", "Morris", "Khan",
];
const PASSWORD: &str = "bench-password-not-secret";
const COLUMNS: &str = "id, service_id, route, priority, status, practice_id, referrer_id, assignee_id, nhs_number, patient_name, \
    patient_json, history_json, consent_json, eligibility_answers_json, eligibility_json, conversion_authorised, outcome_json, \
    outcome_code, created_at, updated_at, submitted_at, due_date, version";

struct World {
    practices: Vec<OrganisationId>,
    referrers: Vec<UserId>,
    consultant: User,
    /// A service admin of every service (the reports' reader).
    admin: User,
    now: DateTime<Utc>,
    /// The patient of each row made so far (see [`patient_of`]).
    patients: std::sync::Mutex<Vec<u64>>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn nhs_number(rng: &mut StdRng) -> String {
    loop {
        let nine: Vec<u8> = (0..9).map(|_| rng.gen_range(0..10u8)).collect();
        if let Some(check) = NhsNumber::check_digit(&nine) {
            let s: String = nine.iter().chain(std::iter::once(&check)).map(|d| char::from(b'0' + d)).collect();
            if NhsNumber::parse(&s).is_ok() {
                return s;
            }
        }
    }
}

/// How far (in rows) a patient's next referral can be from their last: about three months.
const REREFERRAL_ROWS: u64 = (PER_DAY * 91.0) as u64;

/// The patient of row `k`, recorded in `w.patients`: half the rows are a new patient, the other
/// half a patient of a row up to three months newer. So a patient has about two referrals at
/// every size (a region's patients grow with its referrals; a fixed pool would give each patient
/// more referrals the bigger the table, and the NHS-number search more rows to return).
fn patient_of(k: u64, w: &World, rng: &mut StdRng) -> u64 {
    let mut patients = w.patients.lock().unwrap_or_else(|e| e.into_inner());
    debug_assert_eq!(patients.len() as u64, k, "rows are made in order");
    let p = if k > 0 && rng.gen_bool(0.5) { patients[(k - rng.gen_range(1..=k.min(REREFERRAL_ROWS))) as usize] } else { k };
    patients.push(p);
    p
}

/// Patient `index`'s NHS number, names, date of birth and practice (the same for each of their
/// referrals).
fn patient(index: u64) -> (String, &'static str, &'static str, String, usize) {
    let mut r = StdRng::seed_from_u64(index.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED);
    let nhs = nhs_number(&mut r);
    let (given, family) = (GIVEN[r.gen_range(0..GIVEN.len())], FAMILY[r.gen_range(0..FAMILY.len())]);
    let dob = format!("19{:02}-0{}-1{}", r.gen_range(30..99), r.gen_range(1..10), r.gen_range(0..10));
    (nhs, given, family, dob, r.gen_range(0..PRACTICES))
}

/// One referral row, as column values (None is NULL). Row `k` is `k / PER_DAY` days old.
fn referral_row(k: u64, w: &World, rng: &mut StdRng) -> Vec<Option<String>> {
    let age_days = k as f64 / PER_DAY + rng.gen_range(0.0..(1.0 / PER_DAY));
    let created = w.now - chrono::Duration::seconds((age_days * 86_400.0) as i64);
    let (service, route) = SERVICES[rng.gen_range(0..SERVICES.len())];
    let (nhs, given, family, dob, p) = patient(patient_of(k, w, rng));
    // Finished with a probability that grows with age; everything older than 21 days is finished.
    let finished = rng.gen_bool((age_days / 21.0).min(1.0));
    let status = if finished {
        match rng.gen_range(0..100) {
            0..25 => "outcome_issued",
            25..90 => "closed",
            90..95 => "rejected",
            _ => "withdrawn",
        }
    } else {
        match rng.gen_range(0..100) {
            0..5 => "draft",
            5..50 => "submitted",
            50..85 => "in_review",
            _ => "awaiting_information",
        }
    };
    let submitted = (status != "draft").then(|| created + chrono::Duration::minutes(rng.gen_range(1..60)));
    let due = submitted.map(|s| (s + chrono::Duration::days(14)).date_naive().format("%Y-%m-%d").to_string());
    let updated = if finished {
        created + chrono::Duration::seconds(rng.gen_range(0..=((age_days.min(21.0) * 86_400.0) as i64).max(1)))
    } else {
        created
    };
    let assignee = matches!(status, "in_review" | "awaiting_information" | "outcome_issued" | "closed").then(|| w.consultant.id.to_string());
    let patient = serde_json::json!({
        "nhs_number": nhs, "given_name": given, "family_name": family, "date_of_birth": dob,
        "sex": "female", "postcode": "E8 1DY", "contact": {"email": "patient@example.org"}
    });
    let history = serde_json::json!({
        "presenting_complaint": "Itchy scaly rash on both forearms, worse at night", "duration": "3 months",
        "body_sites": ["arm"], "treatments_tried": "Emollients, hydrocortisone 1% for two weeks",
        "relevant_history": "Asthma as a child", "medication": "None", "allergies": "NKDA"
    });
    let outcome_code = matches!(status, "outcome_issued" | "closed").then(|| "advice_given".to_string());
    vec![
        Some(uuid::Uuid::new_v4().to_string()),
        Some(service.into()),
        Some(route.into()),
        Some(if rng.gen_range(0..10) == 0 { "urgent" } else { "routine" }.into()),
        Some(status.into()),
        Some(w.practices[p].to_string()),
        Some(w.referrers[p].to_string()),
        assignee,
        Some(nhs),
        Some(format!("{given} {family}")),
        Some(patient.to_string()),
        Some(history.to_string()),
        None,
        None,
        None,
        Some("0".into()),
        None,
        outcome_code,
        Some(ts(created)),
        Some(ts(updated)),
        submitted.map(ts),
        due,
        Some("1".into()),
    ]
}

async fn seed_world(store: &Store) -> anyhow::Result<World> {
    let hash = telederm_web::auth::hash_password(PASSWORD)?;
    let provider = Organisation {
        id: OrganisationId::new(),
        kind: OrganisationKind::Provider,
        ods_code: "RBENCH".into(),
        name: "Bench provider".into(),
        services: SERVICES.iter().map(|(s, _)| s.to_string()).collect(),
    };
    store.create_organisation(&provider).await?;
    let consultant = User {
        profession: None,
        id: UserId::new(),
        email: "consultant@bench.invalid".into(),
        display_name: "Bench Consultant".into(),
        role: Role::Consultant,
        organisation_id: provider.id,
        services: CONSULTANT_SERVICES.iter().map(|s| s.to_string()).collect(),
    };
    store.create_user(&consultant, &hash).await?;
    let admin = User {
        profession: None,
        id: UserId::new(),
        email: "admin@bench.invalid".into(),
        display_name: "Bench Admin".into(),
        role: Role::ServiceAdmin,
        organisation_id: provider.id,
        services: SERVICES.iter().map(|(s, _)| s.to_string()).collect(),
    };
    store.create_user(&admin, &hash).await?;
    let (mut practices, mut referrers) = (Vec::new(), Vec::new());
    for i in 0..PRACTICES {
        let org = Organisation {
            id: OrganisationId::new(),
            kind: OrganisationKind::GpPractice,
            ods_code: format!("B{i:05}"),
            name: format!("Bench practice {i}"),
            services: vec![],
        };
        store.create_organisation(&org).await?;
        let gp = User {
            profession: None,
            id: UserId::new(),
            email: format!("gp{i}@bench.invalid"),
            display_name: format!("Dr Bench {i}"),
            role: Role::Referrer,
            organisation_id: org.id,
            services: vec![],
        };
        store.create_user(&gp, &hash).await?;
        practices.push(org.id);
        referrers.push(gp.id);
    }
    Ok(World { practices, referrers, consultant, admin, now: Utc::now(), patients: Default::default() })
}

/// Adds referral rows `from..to`.
async fn seed_referrals(store: &Store, url: &str, w: &World, rng: &mut StdRng, from: u64, to: u64) -> anyhow::Result<()> {
    const CHUNK: u64 = 50_000;
    let mut k = from;
    let started = Instant::now();
    while k < to {
        let end = (k + CHUNK).min(to);
        let rows: Vec<Vec<Option<String>>> = (k..end).map(|i| referral_row(i, w, rng)).collect();
        match store.dialect() {
            Dialect::Sqlite => insert_sqlite(url, &rows).await?,
            Dialect::Postgres => copy_postgres(url, &rows).await?,
        }
        k = end;
        eprint!("\r  seeded {k} referrals ({:.0} s)   ", started.elapsed().as_secs_f64());
    }
    eprintln!();
    Ok(())
}

/// On a connection of its own, as `COPY` is on PostgreSQL: a page cache big enough for the
/// indexes keeps random-id inserts from rereading pages (the pool's connections keep the server's
/// settings for the measured reads).
async fn insert_sqlite(url: &str, rows: &[Vec<Option<String>>]) -> anyhow::Result<()> {
    use sqlx::Connection;
    // SQLite looks bound parameters up by name one by one, so a statement's cost grows with the
    // square of its parameters: 40 rows (920 parameters) per INSERT.
    const PER_STATEMENT: usize = 40;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::query("PRAGMA cache_size = -2000000").execute(&mut conn).await?;
    let mut tx = conn.begin().await?;
    for chunk in rows.chunks(PER_STATEMENT) {
        let mut sql = format!("INSERT INTO referrals ({COLUMNS}) VALUES ");
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..row.len() {
                n += 1;
                // conversion_authorised and version are integers.
                let cast = if j == 15 || j == 22 { format!("CAST(${n} AS INTEGER)") } else { format!("${n}") };
                sql.push_str(&if j == 0 { cast } else { format!(", {cast}") });
            }
            sql.push(')');
        }
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = q.bind(v.clone());
            }
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

async fn copy_postgres(url: &str, rows: &[Vec<Option<String>>]) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut copy = conn.copy_in_raw(&format!("COPY referrals ({COLUMNS}) FROM STDIN (FORMAT csv)")).await?;
    let mut buf = String::with_capacity(4 << 20);
    for row in rows {
        for (j, v) in row.iter().enumerate() {
            if j > 0 {
                buf.push(',');
            }
            if let Some(v) = v {
                buf.push('"');
                buf.push_str(&v.replace('"', "\"\""));
                buf.push('"');
            }
        }
        buf.push('\n');
        if buf.len() > (4 << 20) {
            copy.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    copy.send(buf.as_bytes()).await?;
    copy.finish().await?;
    conn.close().await?;
    Ok(())
}

struct Timing {
    name: String,
    p50: f64,
    p95: f64,
    p99: f64,
    rows: f64,
    /// The work one run of the query does (mean over varied parameters), for the lists.
    work: Option<Work>,
}

/// The work one list query does, by the database's own counters: PostgreSQL's shared buffers hit
/// and read (`EXPLAIN (ANALYZE, BUFFERS)`); SQLite's pages fetched through the page cache (hits
/// plus misses) and virtual-machine steps (the `sqlite3` shell's `.stats on`, which reads
/// `sqlite3_db_status` and `SQLITE_STMTSTATUS_VM_STEP`).
#[derive(Clone, Copy, Default)]
struct Work {
    pages: f64,
    vm_steps: Option<f64>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure<F, Fut>(name: &str, samples: usize, mut run: F) -> anyhow::Result<Timing>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<usize>>,
{
    for i in 0..20 {
        run(i).await?;
    }
    let mut times = Vec::with_capacity(samples);
    let mut rows = 0usize;
    for i in 0..samples {
        let t = Instant::now();
        rows += run(i + 20).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(Timing {
        name: name.into(),
        p50: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
        p99: percentile(&times, 0.99),
        rows: rows as f64 / samples as f64,
        work: None,
    })
}

/// A use case's result, its API error turned into a plain one.
fn api<T>(r: telederm_web::error::ApiResult<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.message))
}

fn referrer(w: &World, i: usize) -> User {
    let p = (i * 7919) % PRACTICES;
    User {
        profession: None,
        id: w.referrers[p],
        email: format!("gp{p}@bench.invalid"),
        display_name: "Dr Bench".into(),
        role: Role::Referrer,
        organisation_id: w.practices[p],
        services: vec![],
    }
}

/// A list the API offers, for sample `i`: who asks, with which query, and whether it is the
/// worklist (`GET /worklist`) or the search (`GET /referrals`).
type ListSpec<'a> = (&'static str, Box<dyn Fn(usize) -> (User, ListQuery, bool) + 'a>);

fn list_specs<'a>(w: &'a World, sampled: &'a [String]) -> Vec<ListSpec<'a>> {
    let c = &w.consultant;
    let q = |f: fn(&mut ListQuery)| {
        let mut q = ListQuery::default();
        f(&mut q);
        q
    };
    vec![
        ("worklist: GET /worklist (consultant, 2 services)", Box::new(move |_| (c.clone(), ListQuery::default(), true))),
        ("worklist: GET /worklist?service=hackney-rash", Box::new(move |_| (c.clone(), q(|q| q.service = Some("hackney-rash".into())), true))),
        (
            "search: GET /referrals?nhs_number=N (consultant)",
            Box::new(move |i| {
                let n = sampled[(i * 7919) % sampled.len()].clone();
                (c.clone(), ListQuery { nhs_number: Some(n), ..ListQuery::default() }, false)
            }),
        ),
        ("search: GET /referrals (consultant, newest first)", Box::new(move |_| (c.clone(), ListQuery::default(), false))),
        ("search: GET /referrals?status=outcome_issued (consultant)", Box::new(move |_| (c.clone(), q(|q| q.status = Some("outcome_issued".into())), false))),
        ("search: GET /referrals?route=ras&priority=urgent (consultant)", Box::new(move |_| (c.clone(), q(|q| { q.route = Some("ras".into()); q.priority = Some("urgent".into()) }), false))),
        ("search: GET /referrals?route=ras (consultant)", Box::new(move |_| (c.clone(), q(|q| q.route = Some("ras".into())), false))),
        ("search: GET /referrals?priority=urgent (consultant)", Box::new(move |_| (c.clone(), q(|q| q.priority = Some("urgent".into())), false))),
        ("search: GET /referrals (GP, own practice)", Box::new(move |i| (referrer(w, i), ListQuery::default(), false))),
        // One page that both sizes fill (a practice has about 50 referrals at 10,000), so the
        // work of a page is compared with the work of the same page.
        ("search: GET /referrals?limit=25 (GP, own practice, one page)", Box::new(move |i| (referrer(w, i), q(|q| q.limit = Some(25)), false))),
        ("search: GET /referrals?status=draft (GP, own practice)", Box::new(move |i| (referrer(w, i), q(|q| q.status = Some("draft".into())), false))),
        (
            "search: GET /referrals?q=<surname> (GP, own practice)",
            Box::new(move |i| (referrer(w, i), ListQuery { q: Some(FAMILY[i % FAMILY.len()].to_lowercase()), ..ListQuery::default() }, false)),
        ),
        (
            "search: GET /referrals?q=<name no one has> (GP, own practice)",
            Box::new(move |i| (referrer(w, i), ListQuery { q: Some("lovelace".into()), ..ListQuery::default() }, false)),
        ),
    ]
}

/// The filter the use case behind the list hands the store (as `usecases::list` and
/// `usecases::worklist` build it).
fn filter_for(user: &User, q: &ListQuery, worklist: bool) -> anyhow::Result<Option<ReferralFilter>> {
    let mut f = api(usecases::filter_from(q))?;
    if worklist {
        if f.statuses.is_none() {
            f.statuses = Some(ReferralStatus::ALL.into_iter().filter(|s| s.is_open_for_service()).collect());
        }
        f.by_due_date = true;
    }
    Ok(telederm_app::access::visible_filter(user, f))
}

/// Mean work of `runs` runs of a list, each with its own parameters.
async fn measure_work(store: &Store, sqlite_file: Option<&std::path::Path>, spec: &ListSpec<'_>, runs: usize) -> anyhow::Result<Work> {
    let mut statements = Vec::new();
    for i in 0..runs {
        let (user, q, worklist) = (spec.1)(i);
        if let Some((sql, args)) = filter_for(&user, &q, worklist)?.and_then(|f| store.list_referrals_sql(&f)) {
            statements.push((sql, args));
        }
    }
    anyhow::ensure!(!statements.is_empty(), "{}: no query to measure", spec.0);
    match (store.dialect(), sqlite_file) {
        (Dialect::Postgres, _) => {
            let mut pages = 0.0;
            for (sql, args) in &statements {
                let explain = format!("EXPLAIN (ANALYZE, BUFFERS) {sql}");
                let mut q = sqlx::query_scalar::<_, String>(&explain);
                for a in args {
                    q = q.bind(a.clone());
                }
                let plan = q.fetch_all(store.pool()).await?;
                // Each node's buffers include its children's: the first line is the whole query's.
                let line = plan.iter().find(|l| l.trim_start().starts_with("Buffers:")).cloned().unwrap_or_default();
                let count = |what: &str| -> f64 {
                    line.split_whitespace().find_map(|t| t.strip_prefix(what)).and_then(|n| n.parse::<f64>().ok()).unwrap_or(0.0)
                };
                pages += count("hit=") + count("read=");
            }
            Ok(Work { pages: pages / statements.len() as f64, vm_steps: None })
        }
        (Dialect::Sqlite, Some(file)) => {
            // The same SQL through the sqlite3 shell, values written in as literals.
            let mut script = String::from(".stats on\nSELECT COUNT(*) FROM sqlite_master;\n");
            for (sql, args) in &statements {
                // The store wraps SQLite's page in one JSON value (json_group_array(... ORDER BY
                // ...), SQLite 3.44+); Debian's shell (3.40) cannot parse that, so the page's
                // SELECT is measured without the wrapper, which adds only a step per returned row.
                let marker = ") AS page FROM (";
                let mut sql = match (sql.starts_with("SELECT json_group_array("), sql.find(marker)) {
                    (true, Some(at)) => sql[at + marker.len()..sql.len() - 1].to_string(),
                    _ => sql.clone(),
                };
                for (i, a) in args.iter().enumerate().rev() {
                    sql = sql.replace(&format!("${}", i + 1), &format!("'{}'", a.replace('\'', "''")));
                }
                script.push_str(&sql);
                script.push_str(";\n");
            }
            let mut child = Command::new("sqlite3")
                .arg("-bail")
                .arg(file)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| anyhow::anyhow!("the sqlite3 shell is needed to count SQLite's work (apt-get install sqlite3): {e}"))?;
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(script.as_bytes())?;
            let out = child.wait_with_output()?;
            anyhow::ensure!(out.status.success(), "sqlite3: {}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8_lossy(&out.stdout);
            let values = |label: &str| -> Vec<f64> {
                text.lines().filter_map(|l| l.strip_prefix(label)).filter_map(|v| v.trim().parse::<f64>().ok()).collect()
            };
            let (hits, misses, steps) = (values("Page cache hits:"), values("Page cache misses:"), values("Virtual Machine Steps:"));
            let n = statements.len();
            anyhow::ensure!(hits.len() == n + 1 && misses.len() == n + 1 && steps.len() == n + 1, "unexpected sqlite3 .stats output");
            // The first statement loads the schema; it is not counted.
            let pages: f64 = hits[1..].iter().zip(&misses[1..]).map(|(h, m)| h + m).sum();
            Ok(Work { pages: pages / n as f64, vm_steps: Some(steps[1..].iter().sum::<f64>() / n as f64) })
        }
        (Dialect::Sqlite, None) => anyhow::bail!("the SQLite file is needed to count its work"),
    }
}

async fn measure_queries(state: &AppState, w: &World, samples: usize, sqlite_file: Option<&std::path::Path>) -> anyhow::Result<Vec<Timing>> {
    let c = &w.consultant;
    // NHS numbers that are in the database (ids are random, so this is a random sample).
    let sampled: Vec<String> = sqlx::query("SELECT nhs_number FROM referrals ORDER BY id LIMIT 1000")
        .fetch_all(state.store.pool())
        .await?
        .iter()
        .map(|r| r.get::<String, _>("nhs_number"))
        .collect();
    let mut out = Vec::new();
    for spec in list_specs(w, &sampled) {
        let f = &spec.1;
        let mut t = measure(spec.0, samples, |i| {
            let (user, q, worklist) = f(i);
            async move {
                let rows = if worklist { api(usecases::worklist(state, &user, &q).await)?.len() } else { api(usecases::list(state, &user, &q).await)?.len() };
                Ok(rows)
            }
        })
        .await?;
        t.work = Some(measure_work(&state.store, sqlite_file, &spec, 20).await?);
        out.push(t);
    }
    // Where the worklist's time goes: its SQL and row mapping alone, and the audit entry every
    // list appends (a write transaction with the chain head locked, durable before the answer).
    out.push(
        measure("part: worklist SQL and row mapping only", samples, |_| async move {
            let f = ReferralFilter {
                service_ids: Some(CONSULTANT_SERVICES.map(String::from).to_vec()),
                statuses: Some(ReferralStatus::ALL.into_iter().filter(|s| s.is_open_for_service()).collect()),
                by_due_date: true,
                ..ReferralFilter::default()
            };
            Ok(state.store.list_referrals(&f).await?.len())
        })
        .await?,
    );
    out.push(
        measure("part: one audit entry appended", samples, |_| async move {
            let e = NewAuditEntry {
                actor_id: Some(c.id.to_string()),
                actor_label: c.email.clone(),
                action: "referral.worklist".into(),
                record_type: "referral".into(),
                detail: "rows=200".into(),
                ..NewAuditEntry::default()
            };
            state.store.append_audit(&e).await?;
            Ok(0)
        })
        .await?,
    );
    Ok(out)
}

/// The report facts of the seeded referrals (issue 17). The seed writes rows straight into
/// `referrals`, past the use cases that keep `report_facts` in step, so the facts are made here in
/// one statement per size: the same columns, with equity dimensions spread by the random id.
async fn seed_report_facts(store: &Store) -> anyhow::Result<()> {
    let t = Instant::now();
    sqlx::query(
        "INSERT INTO report_facts (referral_id, service_id, practice_id, route, status, submitted_on, due_date, outcome_code,
            rejection_reason, outcome_on, info_requested, photos_accept, photos_warn, photos_reject, photo_issues, tone_band,
            fitzpatrick, age_band, sex, ethnic_category, working_days)
         SELECT id, service_id, practice_id, route, status, substr(submitted_at, 1, 10), due_date,
            CASE WHEN status IN ('outcome_issued', 'closed') THEN (CASE WHEN substr(id, 7, 1) < '4' THEN 'face_to_face_routine' ELSE 'advice_management_plan' END)
                 WHEN status = 'rejected' THEN 'rejected' END,
            CASE WHEN status = 'rejected' THEN 'poor_image_quality' END,
            CASE WHEN status IN ('outcome_issued', 'closed', 'rejected') THEN substr(updated_at, 1, 10) END,
            CASE WHEN substr(id, 2, 1) IN ('0', '1') THEN 1 ELSE 0 END, 2, 1, 0,
            CASE WHEN substr(id, 3, 1) = 'a' THEN 'blurred' ELSE '' END,
            CASE substr(id, 4, 1) WHEN '0' THEN 'very_light' WHEN '1' THEN 'light' WHEN '2' THEN 'intermediate'
                 WHEN '3' THEN 'tan' WHEN '4' THEN 'brown' WHEN '5' THEN 'dark' END,
            CASE substr(id, 8, 1) WHEN '1' THEN 'III' WHEN '2' THEN 'IV' WHEN '3' THEN 'V' END,
            CASE substr(id, 5, 1) WHEN '0' THEN '0-17' WHEN '1' THEN '18-29' WHEN '2' THEN '30-44' WHEN '3' THEN '65-74'
                 WHEN '4' THEN '75+' ELSE '45-64' END,
            CASE WHEN substr(id, 6, 1) < '8' THEN 'female' ELSE 'male' END,
            CASE substr(id, 9, 1) WHEN '0' THEN 'A' WHEN '1' THEN 'H' WHEN '2' THEN 'M' WHEN '3' THEN 'N' END,
            CASE WHEN status IN ('outcome_issued', 'closed', 'rejected') THEN
                (CASE substr(id, 10, 1) WHEN '0' THEN 0 WHEN '1' THEN 1 WHEN '2' THEN 1 WHEN '3' THEN 4 WHEN '4' THEN 6 ELSE 2 END) END
         FROM referrals r
         WHERE submitted_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM report_facts f WHERE f.referral_id = r.id)",
    )
    .execute(store.pool())
    .await?;
    // The month totals the practice-quality report reads, recounted as after a bulk load.
    let months = store.rebuild_report_months().await?;
    eprintln!("  report facts and {months} month totals written in {:.1} s", t.elapsed().as_secs_f64());
    // The name search's words (migration 0025), written as after a bulk load.
    let t = Instant::now();
    let named = store.rebuild_name_words().await?;
    eprintln!("  name words of {named} referrals written in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// The three reports over the last year, as their readers ask for them, and the admin dashboard.
async fn measure_reports(state: &AppState, w: &World, samples: usize) -> anyhow::Result<Vec<Timing>> {
    use telederm_app::reports;
    let to = w.now.date_naive();
    let from = to - chrono::Days::new(364);
    let samples = samples.clamp(20, 100);
    let services: Vec<&str> = SERVICES.iter().map(|(s, _)| *s).collect();
    let admin = &w.admin;
    let mut out = Vec::new();
    out.push(
        measure("report: practice quality, every practice (service admin, 1 year)", samples, |_| async move {
            Ok(api(reports::practice_quality(state, admin, None, from, to).await)?.practices.len())
        })
        .await?,
    );
    out.push(
        measure("report: practice quality, own practice (GP, 1 year)", samples, |i| {
            let gp = referrer(w, i);
            async move { Ok(api(reports::practice_quality(state, &gp, None, from, to).await)?.practices.len()) }
        })
        .await?,
    );
    let svc = &services;
    out.push(
        measure("report: equity of one service (1 year)", samples, |i| async move {
            Ok(api(reports::equity(state, admin, svc[i % svc.len()], from, to).await)?.dimensions.len())
        })
        .await?,
    );
    out.push(
        measure("report: service dashboard (1 year)", samples, |i| async move {
            Ok(api(reports::service_dashboard(state, admin, svc[i % svc.len()], from, to).await)?.weeks.len())
        })
        .await?,
    );
    out.push(
        measure("report: admin dashboard (GET /admin: every status, due, 90 days of outcomes)", samples, |_| async move {
            Ok(api(reports::admin_overview(state, admin).await)?.outcomes.len())
        })
        .await?,
    );
    Ok(out)
}

async fn analyze(store: &Store) -> anyhow::Result<()> {
    match store.dialect() {
        Dialect::Postgres => {
            // As autovacuum leaves them in production: statistics, and the visibility map that
            // lets the name search read its words from the index alone.
            sqlx::query("VACUUM ANALYZE referrals, referral_name_words").execute(store.pool()).await?;
        }
        Dialect::Sqlite => {
            // What `PRAGMA optimize` on a new connection does in production, done now.
            sqlx::query("ANALYZE").execute(store.pool()).await?;
        }
    }
    Ok(())
}

async fn explain(store: &Store, w: &World) -> anyhow::Result<()> {
    // The SQL the store runs for four of the lists.
    let services = Some(CONSULTANT_SERVICES.map(String::from).to_vec());
    let filters = [
        ReferralFilter {
            service_ids: services.clone(),
            statuses: Some(ReferralStatus::ALL.into_iter().filter(|s| s.is_open_for_service()).collect()),
            by_due_date: true,
            ..ReferralFilter::default()
        },
        ReferralFilter { service_ids: services.clone(), statuses: Some(vec![ReferralStatus::OutcomeIssued]), ..ReferralFilter::default() },
        // A consultant's route and priority list: every status but drafts (app::access).
        ReferralFilter {
            service_ids: services,
            statuses: Some(ReferralStatus::ALL.into_iter().filter(|s| *s != ReferralStatus::Draft).collect()),
            route: Some(Route::Ras),
            priority: Some(Priority::Urgent),
            ..ReferralFilter::default()
        },
        ReferralFilter { practice_id: Some(w.practices[0]), patient_name: Some("smith".into()), ..ReferralFilter::default() },
    ];
    for (sql, args) in filters.iter().filter_map(|f| store.list_referrals_sql(f)) {
        let (prefix, col) = match store.dialect() {
            Dialect::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
            Dialect::Postgres => ("EXPLAIN (ANALYZE, BUFFERS) ", "QUERY PLAN"),
        };
        let explain = format!("{prefix}{sql}");
        let mut q = sqlx::query(&explain);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let rows = q.fetch_all(store.pool()).await?;
        eprintln!("  plan for {}…", &sql[..sql.len().min(160)]);
        for r in rows {
            eprintln!("    {}", r.try_get::<String, _>(col).unwrap_or_default());
        }
    }
    Ok(())
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once('x').ok_or("WIDTHxHEIGHT, e.g. 4032x3024")?;
    Ok((w.parse().map_err(|e| format!("{e}"))?, h.parse().map_err(|e| format!("{e}"))?))
}

/// A generated photo: skin and a lesion at `size`; with `sideways`, stored rotated with EXIF
/// orientation 6 (the intake turns it upright losslessly).
fn photo(seed: u64, (width, height): (u32, u32), sideways: bool) -> Vec<u8> {
    use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};
    let upright = render(&Scene { width, height, seed, ..Scene::default() });
    if sideways {
        // Stored as the camera wrote it: the pixels turned a quarter left, orientation 6.
        let stored = telederm_imaging::orient(&upright, 8);
        jpeg(&stored, JpegOpts { exif: Some((6, false)), ..JpegOpts::default() })
    } else {
        jpeg(&upright, JpegOpts::default())
    }
}

fn draft_body() -> serde_json::Value {
    let dob = "1980-05-17";
    serde_json::json!({
        "service_id": "nhs-advice-and-guidance", "route": "advice_and_guidance", "priority": "routine",
        "patient": {"nhs_number": "943 476 5919", "given_name": "Ada", "family_name": "Lovelace",
                    "date_of_birth": dob, "sex": "female", "postcode": "E8 1DY", "contact": {"email": "ada@example.org"}},
        "history": {"presenting_complaint": "Itchy rash on the forearm", "duration": "3 months",
                    "body_sites": ["arm"], "treatments_tried": "Emollients", "relevant_history": "",
                    "medication": "None", "allergies": "NKDA"},
        "consent": {"given_by": "patient", "method": "verbal", "direct_care": true, "teaching": false, "research": false},
        "eligibility_answers": {
            "referral_date": Utc::now().date_naive().to_string(),
            "patient": {"date_of_birth": dob, "postcode": "E8 1DY"},
            "condition": "rash", "lesion_count": 0, "body_sites": ["arm"],
            "meets_2ww_criteria": false, "extreme_psychological_distress": false, "widespread": false,
            "severe_or_systemic_or_urgent": false, "imaging_practical": true, "safeguarding_concerns": false,
            "has_capacity_to_consent": true, "best_interests_referral": false, "consent_given": true,
            "known_chronic_inflammatory_condition": false, "face_identifiable_in_images": false,
            "dermoscopic_images": false, "images_taken_by": "clinician", "seen_face_to_face": true
        }
    })
}

/// One submission: draft, three photos, submit. Returns whether every step succeeded.
async fn submit_one(client: &reqwest::Client, api: &str, photos: &[Vec<u8>], n: usize) -> anyhow::Result<()> {
    let r = client.post(format!("{api}/referrals")).json(&draft_body()).send().await?;
    anyhow::ensure!(r.status() == 201, "create: {} {}", r.status(), r.text().await.unwrap_or_default());
    let id = r.json::<serde_json::Value>().await?["id"].as_str().unwrap_or_default().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let bytes = photos[(n * 3 + i) % photos.len()].clone();
        let form = reqwest::multipart::Form::new()
            .text("kind", kind)
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg"));
        let r = client.post(format!("{api}/referrals/{id}/photos")).multipart(form).send().await?;
        anyhow::ensure!(r.status() == 201, "upload: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let r = client.post(format!("{api}/referrals/{id}/submit")).json(&serde_json::json!({})).send().await?;
    anyhow::ensure!(r.status() == 200, "submit: {} {}", r.status(), r.text().await.unwrap_or_default());
    Ok(())
}

struct Throughput {
    submissions: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn submissions(bin: &PathBuf, db_url: &str, work: &std::path::Path, args: &Args, photos: &[Vec<u8>]) -> anyhow::Result<Throughput> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let data = work.join(format!("serve-{port}"));
    std::fs::create_dir_all(&data)?;
    // Photos are encrypted at rest, as in production: the measured cost includes it.
    let key = data.join("blob.key");
    let made = Command::new(bin).args(["keys", "generate", "--out"]).arg(&key).stdout(Stdio::null()).status()?;
    anyhow::ensure!(made.success(), "telederm keys generate failed");
    let _server = KillOnDrop(
        Command::new(bin)
            .arg("serve")
            .env("TELEDERM_BLOB_KEY_FILE", &key)
            .env("TELEDERM_DATA_DIR", &data)
            .env("TELEDERM_DATABASE_URL", db_url)
            .env("TELEDERM_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while reqwest::get(format!("{base}/healthz")).await.map(|r| r.status() != 200).unwrap_or(true) {
        anyhow::ensure!(Instant::now() < deadline, "telederm serve did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let api = format!("{base}/api/v1");
    let mut tasks = Vec::new();
    let started = Instant::now();
    let until = started + Duration::from_secs(args.submit_seconds);
    for c in 0..args.clients {
        let client = reqwest::Client::builder().cookie_store(true).build()?;
        let r = client
            .post(format!("{api}/auth/sign-in"))
            .json(&serde_json::json!({"email": format!("gp{c}@bench.invalid"), "password": PASSWORD}))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "sign-in: {}", r.status());
        let api = api.clone();
        let photos = photos.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut n = c * 100_000;
            while Instant::now() < until {
                let t = Instant::now();
                submit_one(&client, &api, &photos, n).await?;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                n += 1;
            }
            anyhow::Ok(times)
        }));
    }
    let mut times = Vec::new();
    for t in tasks {
        times.extend(t.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    times.sort_by(|a, b| a.total_cmp(b));
    anyhow::ensure!(!times.is_empty(), "no submission finished");
    Ok(Throughput { submissions: times.len(), seconds, p50_ms: percentile(&times, 0.5), p99_ms: percentile(&times, 0.99) })
}

async fn postgres_database(admin: &str) -> anyhow::Result<(String, String)> {
    use sqlx::Connection;
    let name = format!("telederm_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await?;
    let (base, _) = admin.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("--postgres must end in /DATABASE"))?;
    Ok((format!("{base}/{name}"), name))
}

async fn drop_postgres_database(admin: &str, name: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await?;
    Ok(())
}

struct Report {
    dialect: String,
    by_size: Vec<(u64, Vec<Timing>, f64)>,
    /// The reports' timings at each size.
    reports: Vec<(u64, Vec<Timing>)>,
    throughput: Option<Throughput>,
}

async fn run_dialect(dialect: &str, args: &Args, work: &std::path::Path, photos: &[Vec<u8>]) -> anyhow::Result<Report> {
    let (url, pg_name) = match dialect {
        "sqlite" => (format!("sqlite://{}", work.join("bench.db").display()), None),
        "postgres" => {
            let (url, name) = postgres_database(&args.postgres).await?;
            (url, Some(name))
        }
        other => anyhow::bail!("unknown dialect {other:?}: use sqlite or postgres"),
    };
    let result = async {
        eprintln!("== {dialect}: {url}");
        let store = Store::connect(&url).await?;
        let mut rng = StdRng::seed_from_u64(7);
        let world = seed_world(&store).await?;
        let mut report = Report { dialect: dialect.into(), by_size: Vec::new(), reports: Vec::new(), throughput: None };
        let mut have = 0;
        for &size in &args.sizes {
            let t = Instant::now();
            seed_referrals(&store, &url, &world, &mut rng, have, size).await?;
            seed_report_facts(&store).await?;
            have = size;
            analyze(&store).await?;
            let seed_secs = t.elapsed().as_secs_f64();
            // A fresh pool, as a node started on this database would have.
            let fresh = Store::connect(&url).await?;
            explain(&fresh, &world).await?;
            let blobs = BlobStore::open(&format!("file://{}", work.join("blobs").display()))?;
            let state = AppState::new(
                fresh.clone(),
                blobs,
                telederm_domain::policy::builtin(),
                telederm_domain::calendar::Calendar::builtin(),
                WebSettings::default(),
            );
            let sqlite_file = (dialect == "sqlite").then(|| work.join("bench.db"));
            let timings = measure_queries(&state, &world, args.samples, sqlite_file.as_deref()).await?;
            for t in &timings {
                let work = t.work.map(|w| format!("  {:.0} pages{}", w.pages, w.vm_steps.map(|s| format!(", {s:.0} VM steps")).unwrap_or_default())).unwrap_or_default();
                eprintln!("  {size:>9}  {:<62} p50 {:>7.2} ms  p99 {:>7.2} ms  ({:.0} rows){work}", t.name, t.p50, t.p99, t.rows);
            }
            report.by_size.push((size, timings, seed_secs));
            let report_timings = measure_reports(&state, &world, args.samples).await?;
            for t in &report_timings {
                eprintln!("  {size:>9}  {:<62} p50 {:>7.2} ms  p95 {:>7.2} ms", t.name, t.p50, t.p95);
            }
            report.reports.push((size, report_timings));
            fresh.close().await;
        }
        store.close().await;
        if let (Some(bin), true) = (&args.telederm, args.submit_seconds > 0) {
            let count: i64 = {
                let s = Store::connect(&url).await?;
                let n = sqlx::query("SELECT COUNT(*) AS n FROM referrals").fetch_one(s.pool()).await?.get("n");
                s.close().await;
                n
            };
            eprintln!("  load generator: {} clients for {} s against telederm serve on {count} referrals", args.clients, args.submit_seconds);
            report.throughput = Some(submissions(bin, &url, work, args, photos).await?);
        }
        anyhow::Ok(report)
    }
    .await;
    if let Some(name) = pg_name {
        drop_postgres_database(&args.postgres, &name).await?;
    }
    result
}

fn print(reports: &[Report], args: &Args) {
    println!("\n# Scale benchmark\n");
    println!(
        "{} referrals per size; {} timed runs per query; targets: p99 < 20 ms, and the work per query (PostgreSQL: shared buffers hit + read, from EXPLAIN (ANALYZE, BUFFERS); SQLite: virtual-machine steps, with pages fetched beside them, from the sqlite3 shell's .stats) at the largest size within 1.5x of the smallest's; work is the mean of 20 runs with varied parameters.\n",
        args.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" / "),
        args.samples
    );
    for r in reports {
        println!("## {}\n", r.dialect);
        for (size, _, secs) in &r.by_size {
            println!("- seeded to {size} referrals in {secs:.0} s");
        }
        println!();
        let (first, last) = (&r.by_size[0], &r.by_size[r.by_size.len() - 1]);
        let unit = if r.dialect == "sqlite" { "pages (VM steps)" } else { "buffers" };
        println!(
            "| query | rows | p50 @{} | p99 @{} | p50 @{} | p99 @{} | p99 < 20 ms | {unit} @{} | {unit} @{} | work ratio (≤ 1.5) | work per row returned, ratio |",
            first.0, first.0, last.0, last.0, first.0, last.0
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        let show = |w: &Option<Work>| match w {
            Some(Work { pages, vm_steps: Some(steps) }) => format!("{pages:.0} ({steps:.0})"),
            Some(Work { pages, vm_steps: None }) => format!("{pages:.0}"),
            None => "–".into(),
        };
        for (a, b) in first.1.iter().zip(&last.1) {
            // Pages for PostgreSQL; VM steps for SQLite (pages too coarse at the small size).
            let work = |w: Work| w.vm_steps.unwrap_or(w.pages);
            let ratio = match (a.work, b.work) {
                (Some(x), Some(y)) => {
                    let r = work(y) / work(x).max(1.0);
                    format!("{r:.2} {}", if r <= 1.5 { "yes" } else { "NO" })
                }
                _ => "–".into(),
            };
            // The same per row returned (at least one): for a search whose matches grow with the
            // data (a surname over more years), whether each row costs the same.
            let per_row = match (a.work, b.work) {
                (Some(x), Some(y)) => format!("{:.2}", (work(y) / b.rows.max(1.0)) / (work(x) / a.rows.max(1.0)).max(f64::MIN_POSITIVE)),
                _ => "–".into(),
            };
            println!(
                "| {} | {:.0} / {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {} | {} | {} |",
                a.name,
                a.rows,
                b.rows,
                a.p50,
                a.p99,
                b.p50,
                b.p99,
                if b.p99 < 20.0 && a.p99 < 20.0 { "yes" } else { "NO" },
                show(&a.work),
                show(&b.work),
                ratio,
                per_row
            );
        }
        if let (Some(first), Some(last)) = (r.reports.first(), r.reports.last()) {
            println!("\nReports over the last year's referrals (issue 17; target p95 < 1 s), through the use cases the API calls:\n");
            println!("| report | p50 @{} | p95 @{} | p50 @{} | p95 @{} | p95 < 1 s |", first.0, first.0, last.0, last.0);
            println!("|---|---|---|---|---|---|");
            for (a, b) in first.1.iter().zip(&last.1) {
                println!(
                    "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
                    a.name,
                    a.p50,
                    a.p95,
                    b.p50,
                    b.p95,
                    if a.p95 < 1000.0 && b.p95 < 1000.0 { "yes" } else { "NO" }
                );
            }
        }
        if let Some(t) = &r.throughput {
            println!(
                "\nSubmissions through the HTTP API (draft + 3 photos of {}x{}{} + submit, {} clients on loopback, {} referrals in the database): \
                 {} in {:.1} s = **{:.2} submissions/s** ({:.1} photos/s); per submission p50 {:.0} ms, p99 {:.0} ms.",
                args.photo_size.0,
                args.photo_size.1,
                if args.rotated { ", every other one EXIF-rotated" } else { "" },
                args.clients,
                last.0,
                t.submissions,
                t.seconds,
                t.submissions as f64 / t.seconds,
                3.0 * t.submissions as f64 / t.seconds,
                t.p50_ms,
                t.p99_ms
            );
        }
        println!();
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let work = args.work_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let photos: Vec<Vec<u8>> = if args.telederm.is_some() && args.submit_seconds > 0 { (0..24).map(|s| photo(s + 1, args.photo_size, args.rotated && s % 2 == 1)).collect() } else { Vec::new() };
    let mut reports = Vec::new();
    for d in &args.dialects {
        reports.push(run_dialect(d, &args, &work, &photos).await?);
    }
    print(&reports, &args);
    Ok(())
}
