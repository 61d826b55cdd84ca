//! Faults survived (issue 18), against the real binary on loopback, each test with services of
//! its own so that stopping them disturbs no other test:
//!
//! * a node killed while it holds a job: the job runs once, on the other node, after the lease
//!   (`TELEDERM_JOB_LEASE_SECONDS`) runs out;
//! * the S3 server going away (a proxy in front of a private moto server is cut: moto keeps its
//!   objects only in memory, so stopping moto itself would also lose every photo): uploads and
//!   downloads fail with `503 blob_store_unavailable`, nothing is half-written, no photo row is
//!   left without its blobs, and both work again when it returns;
//! * PostgreSQL restarted (a private cluster made with `initdb` on a free port, stopped with
//!   `pg_ctl stop -m fast` and started again) while drafts, uploads and outcomes are in flight on
//!   two nodes: requests get `503 database_unavailable`, both nodes answer again within 10 s of
//!   its return without a restart, and every acknowledged write is there;
//! * the disk of a file blob store filling up (a size-limited tmpfs): uploads are refused with
//!   `507 blob_store_full`, nothing stored is damaged, and uploads work again once there is room.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Api, Resp, Server, draft_body};
use reqwest::StatusCode;
use serde_json::{Value, json};
use telederm_store::blobs::{BlobStore, Kek, Keyring, sha256_hex};
use telederm_store::testkit::{PrivatePostgres, S3Server, SmtpServer, TcpProxy, TestDatabase};
use telederm_store::{Channel, OutboxMessage, OutboxState, Store};

/// The photo key every node of a test shares (as a deployment gives them the same secret).
const BLOB_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn keyring() -> Keyring {
    Keyring::new(Kek::from_base64(BLOB_KEY).expect("test key"))
}

/// A generated photo of skin, smaller than the journeys' (quicker to check) but above every
/// service's minimum size.
fn small_photo(seed: u64) -> Vec<u8> {
    use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};
    jpeg(&render(&Scene { width: 960, height: 720, seed, ..Scene::default() }), JpegOpts::default())
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The same client (and session cookie) talking to another node.
fn on(node: &Server, api: &Api) -> Api {
    Api { base: format!("{}/api/v1", node.base), client: api.client.clone() }
}

async fn sign_in(node: &Server, seeded_by: &Server, role: &str) -> Api {
    let (email, password) = seeded_by.demo_credentials().get(role).cloned().expect("demo role");
    let api = node.anonymous();
    let (s, b) = api.post("/auth/sign-in", &json!({"email": email, "password": password})).await;
    assert_eq!(s, StatusCode::OK, "sign-in as {role}: {b}");
    api
}

async fn new_draft(gp: &Api) -> String {
    let (s, b) = gp.post("/referrals", &draft_body("nhs-advice-and-guidance", "advice_and_guidance", json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().expect("id").to_string()
}

/// GET of a photo variant's bytes: (status, bytes or the error's JSON).
async fn download(api: &Api, referral: &str, photo: &str, variant: &str) -> (StatusCode, Vec<u8>) {
    let r = api.client.get(format!("{}/referrals/{referral}/photos/{photo}/{variant}", api.base)).send().await.expect("GET photo");
    (r.status(), r.bytes().await.expect("body").to_vec())
}

fn code_of(bytes: &[u8]) -> String {
    serde_json::from_slice::<Value>(bytes).ok().and_then(|v| v["code"].as_str().map(str::to_string)).unwrap_or_default()
}

async fn readyz(node: &Server) -> Resp {
    let r = reqwest::get(format!("{}/readyz", node.base)).await.expect("GET /readyz");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

// ------------------------------------------------------------------------------------ job lease

/// Jobs' (state, attempts, locked_by, locked_until, finished_at) for the notification to `outbox`.
async fn notification_job(store: &Store, outbox: uuid::Uuid) -> Option<(String, i64, Option<String>, Option<String>, Option<String>)> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT payload_json, state, attempts, locked_by, locked_until, finished_at FROM jobs WHERE kind = 'send_notification'")
        .fetch_all(store.pool())
        .await
        .expect("jobs");
    rows.iter()
        .find(|r| {
            let payload: Value = serde_json::from_str(&r.get::<String, _>("payload_json")).unwrap_or_default();
            payload["outbox_id"] == outbox.to_string().as_str()
        })
        .map(|r| (r.get("state"), r.get("attempts"), r.get("locked_by"), r.get("locked_until"), r.get("finished_at")))
}

fn parse_ts(t: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(t).expect("an RFC 3339 time").with_timezone(&chrono::Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_held_by_a_killed_node_runs_once_on_the_other_node_after_its_lease() {
    const LEASE_SECONDS: &str = "6";
    let db = TestDatabase::postgres().await;
    let store = db.store().await;
    let smtp = SmtpServer::start();
    // An SMTP server that accepts connections and never says a word: node A's delivery hangs
    // there, so A is in the middle of the job when it is killed.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let blackhole_port = blackhole.local_addr().unwrap().port();
    let swallowed = Arc::new(AtomicUsize::new(0));
    {
        let swallowed = swallowed.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in blackhole.incoming().flatten() {
                swallowed.fetch_add(1, Ordering::SeqCst);
                held.push(conn);
            }
        });
    }
    let node_env = |smtp_port: u16| -> Vec<(String, String)> {
        [
            ("TELEDERM_DATABASE_URL", db.url.clone()),
            ("TELEDERM_BLOB_KEY", BLOB_KEY.into()),
            ("TELEDERM_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
            ("TELEDERM_SMTP_FROM", "Telederm <no-reply@telederm.test>".into()),
            ("TELEDERM_WORKER_CONCURRENCY", "1".into()),
            ("TELEDERM_WORKER_POLL_MS", "100".into()),
            ("TELEDERM_JOB_LEASE_SECONDS", LEASE_SECONDS.into()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    };

    let recipient = "lease@faults.test";
    let outbox = store
        .enqueue_notifications(&[OutboxMessage {
            channel: Channel::Email,
            recipient: recipient.into(),
            template: telederm_store::Template::GpResponseReady,
            link: "https://telederm.test/referrals/lease".into(),
            referral_id: None,
            dedupe_key: None,
        }])
        .await
        .expect("queue the notification")[0];

    let dir_a = tempfile::tempdir().unwrap();
    let mut a = Server::start("serve", dir_a.path(), &env_refs(&node_env(blackhole_port))).await;
    let a_worker = format!(":{}/", a.pid());
    let (store_ref, a_ref, swallowed) = (&store, &a_worker, &swallowed);
    wait_until("node A to claim the job and start delivering it", Duration::from_secs(30), || async move {
        let held_by_a = notification_job(store_ref, outbox)
            .await
            .is_some_and(|(state, _, by, _, _)| state == "running" && by.is_some_and(|b| b.contains(a_ref.as_str())));
        held_by_a && swallowed.load(Ordering::SeqCst) >= 1
    })
    .await;
    let (_, attempts, _, locked_until, _) = notification_job(&store, outbox).await.unwrap();
    assert_eq!(attempts, 1);
    let a_lease_ends = parse_ts(&locked_until.expect("a running job has a lease"));
    a.kill(); // SIGKILL, in the middle of the job
    assert!(chrono::Utc::now() < a_lease_ends, "node A was killed while its lease on the job still ran");

    let dir_b = tempfile::tempdir().unwrap();
    let _b = Server::start("serve", dir_b.path(), &env_refs(&node_env(smtp.port))).await;
    wait_until("node B to run the job", Duration::from_secs(40), || async move {
        notification_job(store_ref, outbox).await.is_some_and(|(state, ..)| state == "done")
    })
    .await;
    // Give a second run, if there were one, time to show up.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (state, attempts, locked_by, _, finished_at) = notification_job(&store, outbox).await.unwrap();
    assert_eq!((state.as_str(), attempts, locked_by), ("done", 2, None), "claimed by A, then once by B, and finished");
    let finished_at = parse_ts(&finished_at.expect("finished"));
    assert!(finished_at >= a_lease_ends, "B ran the job only after A's lease ran out ({finished_at} < {a_lease_ends})");
    let delivered: Vec<String> = smtp.messages().into_iter().filter(|m| m.contains(recipient)).collect();
    assert_eq!(delivered.len(), 1, "the notification was delivered exactly once");
    assert_eq!(store.get_outbox(outbox).await.unwrap().state, OutboxState::Sent);
    store.close().await;
}

// ------------------------------------------------------------------------------------ S3 outage

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_and_downloads_fail_cleanly_while_the_s3_server_is_away_and_recover() {
    const PREFIX: &str = "faults";
    let s3 = S3Server::start();
    let moto: SocketAddr = s3.endpoint.trim_start_matches("http://").parse().expect("moto address");
    let mut proxy = TcpProxy::start(moto).await;
    let endpoint = format!("http://127.0.0.1:{}", proxy.port);
    let blob_url = format!("s3://{}/{PREFIX}", s3.bucket);
    let env = [
        ("TELEDERM_BLOB_URL", blob_url.as_str()),
        ("TELEDERM_S3_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("TELEDERM_BLOB_KEY", BLOB_KEY),
    ];
    let server = Server::demo_with(&env, None).await;
    let gp = server.sign_in_as("referrer").await;
    let draft = new_draft(&gp).await;
    let (s, first) = gp.upload(&draft, "locator", small_photo(1)).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let first_id = first["id"].as_str().unwrap().to_string();
    let (s, bytes) = download(&gp, &draft, &first_id, "original").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sha256_hex(&bytes), first["original_key"].as_str().unwrap());

    // --- The S3 server goes away. --------------------------------------------------------------
    proxy.cut();
    let started = Instant::now();
    let (s, refused) = gp.upload(&draft, "close_up", small_photo(2)).await;
    eprintln!("upload refused after {:?} with the S3 server away", started.elapsed());
    assert_eq!((s, refused["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("blob_store_unavailable")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("not saved"), "{refused}");
    let (s, list) = gp.get(&format!("/referrals/{draft}/photos")).await;
    assert_eq!(s, StatusCode::OK, "listing photos needs only the database: {list}");
    let listed: Vec<&str> = list["photos"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![first_id.as_str()], "the refused upload left no photo row");
    for variant in ["original", "thumbnail"] {
        let (s, body) = download(&gp, &draft, &first_id, variant).await;
        assert_eq!((s, code_of(&body).as_str()), (StatusCode::SERVICE_UNAVAILABLE, "blob_store_unavailable"), "download of the {variant}");
    }
    let (s, ready) = readyz(&server).await;
    assert_eq!((s, ready["details"]["blob_store"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unreachable")), "{ready}");
    // Pages and the API that do not need photo bytes keep working.
    let (s, _) = gp.get(&format!("/referrals/{draft}")).await;
    assert_eq!(s, StatusCode::OK);

    // --- It comes back: both directions work again, with no restart. ---------------------------
    proxy.restore().await;
    let (s, bytes) = download(&gp, &draft, &first_id, "original").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sha256_hex(&bytes), first["original_key"].as_str().unwrap());
    let (s, second) = gp.upload(&draft, "close_up", small_photo(2)).await;
    assert_eq!(s, StatusCode::CREATED, "the same upload succeeds once the store is back: {second}");
    let second_id = second["id"].as_str().unwrap();
    let (s, bytes) = download(&gp, &draft, second_id, "original").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sha256_hex(&bytes), second["original_key"].as_str().unwrap());
    let (s, ready) = readyz(&server).await;
    assert_eq!(s, StatusCode::OK, "{ready}");

    // Nothing half-written: every object in the bucket is a whole blob that decrypts and hashes
    // to its key, and every blob a photo row names is there.
    let bucket = s3.blob_store(PREFIX).with_keyring(keyring());
    let stored: HashSet<String> = bucket.list().await.unwrap().into_iter().collect();
    for key in &stored {
        bucket.get_verified(key).await.unwrap_or_else(|e| panic!("blob {key} is damaged: {e}"));
    }
    let db = Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let referenced = db.referenced_blob_keys().await.unwrap();
    let missing: Vec<&String> = referenced.difference(&stored).collect();
    assert!(missing.is_empty(), "photo rows name blobs that are not stored: {missing:?}");
    db.close().await;
}

// ------------------------------------------------------------------------------------ disk full

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop: a blob store's disk that
/// can fill up. Needs root (or CAP_SYS_ADMIN), as `scripts/test.sh` has.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test mounts a {size} tmpfs as a blob store's disk and needs root (or CAP_SYS_ADMIN) for it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes `path` until the file system is full; returns its length.
fn fill(path: &std::path::Path) -> u64 {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0_u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "filling the disk ends with ENOSPC: {e}");
                break;
            }
        }
    }
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_are_refused_cleanly_when_the_blob_disk_is_full() {
    let disk = SmallDisk::mount("48m");
    let blobs = disk.dir.path().join("blobs");
    let blob_url = format!("file://{}", blobs.display());
    let server = Server::demo_with(&[("TELEDERM_BLOB_URL", blob_url.as_str()), ("TELEDERM_BLOB_KEY", BLOB_KEY)], None).await;
    let gp = server.sign_in_as("referrer").await;
    let draft = new_draft(&gp).await;
    let mut acknowledged: Vec<Value> = Vec::new();
    let (s, p) = gp.upload(&draft, "locator", small_photo(10)).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    acknowledged.push(p);

    // Fill the disk, then give back a little room at a time: with none, or less than a photo's
    // four blobs need, the upload is refused, possibly after some of its blobs were written.
    let filler = disk.dir.path().join("filler");
    let full_len = fill(&filler);
    let (mut refused, mut stored_while_tight) = (0, 0);
    for (i, headroom) in [0_u64, 16 << 10, 96 << 10, 192 << 10, 320 << 10, 512 << 10, 768 << 10, 1536 << 10].into_iter().enumerate() {
        std::fs::OpenOptions::new().write(true).open(&filler).unwrap().set_len(full_len - headroom).unwrap();
        let (s, body) = gp.upload(&draft, "close_up", small_photo(20 + i as u64)).await;
        match s {
            StatusCode::CREATED => {
                stored_while_tight += 1;
                acknowledged.push(body);
            }
            StatusCode::INSUFFICIENT_STORAGE => {
                assert_eq!(body["code"], "blob_store_full", "{body}");
                refused += 1;
            }
            other => panic!("with {headroom} bytes free an upload was answered {other}: {body}"),
        }
        eprintln!("{headroom} bytes free: upload answered {s}");
        let (_, list) = gp.get(&format!("/referrals/{draft}/photos")).await;
        assert_eq!(list["photos"].as_array().unwrap().len(), acknowledged.len(), "a refused upload leaves no photo row");
    }
    assert!(refused >= 1, "a full disk refused at least the upload with no room at all");
    assert!(stored_while_tight >= 1, "with room for a photo's blobs the upload was stored");
    // Full again: whatever room the last step left is taken.
    fill(&disk.dir.path().join("filler-2"));
    let (s, body) = gp.upload(&draft, "close_up", small_photo(30)).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::INSUFFICIENT_STORAGE, Some("blob_store_full")), "{body}");

    // Nothing damaged: no temporary file is left, every stored blob is whole, every photo is served.
    let tmp_left: Vec<_> = std::fs::read_dir(blobs.join(".tmp")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(tmp_left.is_empty(), "half-written temporary files left behind: {tmp_left:?}");
    let store = BlobStore::open(&blob_url).unwrap().with_keyring(keyring());
    let stored = store.list().await.unwrap();
    for key in &stored {
        store.get_verified(key).await.unwrap_or_else(|e| panic!("blob {key} is damaged: {e}"));
    }
    for p in &acknowledged {
        let (s, bytes) = download(&gp, &draft, p["id"].as_str().unwrap(), "original").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(sha256_hex(&bytes), p["original_key"].as_str().unwrap());
    }
    // Seeded referrals' photos are intact too.
    let db = Store::connect_without_migrating(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    for key in db.referenced_blob_keys().await.unwrap() {
        store.get_verified(&key).await.unwrap_or_else(|e| panic!("a photo's blob {key} is missing or damaged: {e}"));
    }
    db.close().await;

    // Room again: uploads work with no restart.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(disk.dir.path().join("filler-2")).unwrap();
    let (s, body) = gp.upload(&draft, "close_up", small_photo(30)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
}

// ------------------------------------------------------------------------------------ PostgreSQL restart

/// What happened to the requests of one kind while the database went away and came back.
#[derive(Default)]
struct Tally {
    acknowledged: Vec<String>,
    unavailable: usize,
    /// Anything else: (status, body).
    unexpected: Vec<(StatusCode, Value)>,
}

impl Tally {
    /// Counts an answer: `true` for `ok`, a 503 `database_unavailable` counted as such, anything
    /// else kept as unexpected.
    fn answered(&mut self, (status, body): &Resp, ok: StatusCode) -> bool {
        if *status == ok {
            return true;
        }
        if *status == StatusCode::SERVICE_UNAVAILABLE && body["code"] == "database_unavailable" {
            self.unavailable += 1;
        } else {
            self.unexpected.push((*status, body.clone()));
        }
        false
    }
}

/// Claims and records an outcome on each referral in turn, riding out the outage: a step answered
/// 503 is sent again, and a 409 after a 503 is accepted when the referral shows the first attempt
/// had committed after all. Acknowledged = the outcome was answered 200.
async fn work_outcomes(consultant: [Api; 2], referrals: Vec<String>, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let outcome = json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema", "management_plan": "Emollients.", "follow_up": "None."});
    let mut n = 0;
    for id in referrals {
        for (step, body, after) in [("claim", json!({}), "in_review"), ("outcome", outcome.clone(), "outcome_issued")] {
            let mut after_503 = false;
            loop {
                if stop.load(Ordering::SeqCst) {
                    return tally;
                }
                let api = &consultant[n % 2];
                n += 1;
                let r = api.post(&format!("/referrals/{id}/{step}"), &body).await;
                if r.0 == StatusCode::CONFLICT && after_503 {
                    let (s, d) = api.get(&format!("/referrals/{id}")).await;
                    if s == StatusCode::OK && d["referral"]["status"] == after {
                        break;
                    }
                }
                if tally.answered(&r, StatusCode::OK) {
                    if step == "outcome" {
                        tally.acknowledged.push(id.clone());
                    }
                    break;
                }
                if r.0 != StatusCode::SERVICE_UNAVAILABLE {
                    break;
                }
                after_503 = true;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_restart_gives_503s_then_both_nodes_recover_and_no_acknowledged_write_is_lost() {
    let pg = PrivatePostgres::start();
    let url = pg.create_database("telederm").await;
    let shared_blobs = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("TELEDERM_DATABASE_URL", url.clone()),
        ("TELEDERM_BLOB_URL", format!("file://{}", shared_blobs.path().display())),
        ("TELEDERM_BLOB_KEY", BLOB_KEY.into()),
        ("TELEDERM_WORKER_POLL_MS", "200".into()),
    ]
    .map(|(k, v)| (k.to_string(), v))
    .to_vec();
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start("demo", dir_a.path(), &env_refs(&env)).await;
    let b = Server::start("serve", dir_b.path(), &env_refs(&env)).await;
    let gp_a = sign_in(&a, &a, "referrer").await;
    let gp_b = on(&b, &gp_a);
    let consultant_a = sign_in(&a, &a, "consultant").await;
    let consultant_b = on(&b, &consultant_a);

    // Referrals waiting for the consultant, so that outcomes are in flight during the outage.
    let photo = small_photo(40);
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let id = new_draft(&gp_a).await;
        for kind in ["locator", "close_up", "close_up"] {
            let (s, p) = gp_a.upload(&id, kind, photo.clone()).await;
            assert_eq!(s, StatusCode::CREATED, "{p}");
        }
        let (s, r) = gp_a.post(&format!("/referrals/{id}/submit"), &json!({})).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        waiting.push(id);
    }
    let upload_drafts = [new_draft(&gp_a).await, new_draft(&gp_b).await];

    // Writers on both nodes: new drafts, photo uploads, outcomes.
    let stop = Arc::new(AtomicBool::new(false));
    let drafts = {
        let (apis, stop) = ([on(&a, &gp_a), on(&b, &gp_a)], stop.clone());
        tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let r = apis[n % 2].post("/referrals", &draft_body("nhs-advice-and-guidance", "advice_and_guidance", json!({}))).await;
                n += 1;
                if tally.answered(&r, StatusCode::CREATED) {
                    tally.acknowledged.push(r.1["id"].as_str().unwrap_or_default().to_string());
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            tally
        })
    };
    let uploads = {
        let (apis, stop, drafts, photo) = ([on(&a, &gp_a), on(&b, &gp_a)], stop.clone(), upload_drafts.clone(), small_photo(41));
        tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut n = 0;
            // A referral holds up to 20 photos: 2 drafts, at most 36 uploads.
            while !stop.load(Ordering::SeqCst) && n < 36 {
                let r = apis[n % 2].upload(&drafts[n % 2], "close_up", photo.clone()).await;
                n += 1;
                if tally.answered(&r, StatusCode::CREATED) {
                    tally.acknowledged.push(r.1["id"].as_str().unwrap_or_default().to_string());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            tally
        })
    };
    let outcomes = tokio::spawn(work_outcomes([on(&a, &consultant_a), consultant_b], waiting.clone(), stop.clone()));

    // --- PostgreSQL is restarted under them, staying down for 8 s. ------------------------------
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.stop();
    let down_at = Instant::now();
    let ((sa, ba), (sb, bb), (s, ready)) = tokio::join!(gp_a.get("/referrals"), gp_b.get("/referrals"), readyz(&a));
    eprintln!("requests during the outage answered after {:?}", down_at.elapsed());
    for (name, s, body) in [("A", sa, ba), ("B", sb, bb)] {
        assert_eq!((s, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")), "node {name} during the outage: {body}");
    }
    assert_eq!((s, ready["details"]["database"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("unreachable")), "{ready}");
    tokio::time::sleep(Duration::from_secs(8).saturating_sub(down_at.elapsed())).await;
    pg.start_again();
    let back_at = Instant::now();
    let (ga, gb) = (&gp_a, &gp_b);
    wait_until("both nodes to answer again", Duration::from_secs(10), || async move {
        ga.get("/referrals").await.0 == StatusCode::OK && gb.get("/referrals").await.0 == StatusCode::OK
    })
    .await;
    let recovered_in = back_at.elapsed();
    eprintln!("both nodes answered again {recovered_in:?} after PostgreSQL was back");
    assert!(recovered_in < Duration::from_secs(10));
    for node in [&a, &b] {
        let (s, ready) = readyz(node).await;
        assert_eq!(s, StatusCode::OK, "{ready}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::SeqCst);
    let drafts = drafts.await.unwrap();
    let uploads = uploads.await.unwrap();
    let outcomes = outcomes.await.unwrap();
    for (what, t) in [("drafts", &drafts), ("uploads", &uploads), ("outcomes", &outcomes)] {
        eprintln!("{what}: {} acknowledged, {} answered 503 database_unavailable", t.acknowledged.len(), t.unavailable);
        assert!(t.unexpected.is_empty(), "{what}: answers other than success or 503 database_unavailable: {:?}", t.unexpected);
    }
    assert!(drafts.unavailable + uploads.unavailable + outcomes.unavailable >= 1, "requests during the outage were answered 503");
    assert!(!drafts.acknowledged.is_empty() && !uploads.acknowledged.is_empty() && !outcomes.acknowledged.is_empty());

    // --- Every acknowledged write is in the database. --------------------------------------------
    let store = Store::connect_without_migrating(&url).await.unwrap();
    for id in &drafts.acknowledged {
        let id = telederm_domain::ReferralId::parse(id).expect("a referral id");
        store.get_referral(id).await.unwrap_or_else(|e| panic!("acknowledged draft {id} is lost: {e}"));
    }
    for id in &uploads.acknowledged {
        let id = telederm_domain::PhotoId::parse(id).expect("a photo id");
        store.get_photo(id).await.unwrap_or_else(|e| panic!("acknowledged photo {id} is lost: {e}"));
    }
    for id in &outcomes.acknowledged {
        let (s, d) = gp_b.get(&format!("/referrals/{id}")).await;
        assert_eq!((s, d["referral"]["status"].as_str()), (StatusCode::OK, Some("outcome_issued")), "acknowledged outcome on {id}");
    }
    store.close().await;
    // The audit trail's chain is whole.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
        .args(["audit", "verify"])
        .env("TELEDERM_DATA_DIR", dir_a.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "audit verify: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
