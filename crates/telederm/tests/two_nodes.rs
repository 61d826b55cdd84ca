//! Several nodes (issue 7): two real `telederm serve` processes on one PostgreSQL database and
//! one S3 bucket (moto on loopback), with email to a loopback SMTP server. A referral moves
//! between the nodes, 200 queued jobs run once each across both, and a node killed with SIGKILL
//! in the middle of uploads loses no acknowledged photo and, once the sweep has run, leaves no
//! orphan blob.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Api, Server, draft_body, photo};
use reqwest::StatusCode;
use serde_json::{Value, json};
use telederm_store::testkit::{S3Server, SmtpServer, TestDatabase};
use telederm_store::{Channel, OutboxMessage, Store};

const PREFIX: &str = "two-nodes";

struct Cluster {
    db: TestDatabase,
    s3: S3Server,
    smtp: SmtpServer,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    fn env(&self) -> Vec<(String, String)> {
        [
            ("TELEDERM_DATABASE_URL", self.db.url.clone()),
            ("TELEDERM_BLOB_URL", format!("s3://{}/{PREFIX}", self.s3.bucket)),
            ("TELEDERM_S3_ENDPOINT", self.s3.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("TELEDERM_SMTP_URL", format!("smtp://{}:{}", self.smtp.host, self.smtp.port)),
            ("TELEDERM_SMTP_FROM", "Telederm <no-reply@telederm.test>".into()),
            ("TELEDERM_WORKER_POLL_MS", "100".into()),
            // Every node has the same photo key (as a deployment gives them the same secret).
            ("TELEDERM_BLOB_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
        ]
        .map(|(k, v)| (k.to_string(), v))
        .to_vec()
    }

    /// Starts a node: `demo` seeds the shared database on first start, `serve` just serves it.
    async fn node(&mut self, command: &str) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let server = Server::start(command, dir.path(), &env).await;
        self._dirs.push(dir);
        server
    }

    /// `telederm ARGS...` against the cluster's database and bucket; its stdout.
    fn cli(&self, args: &[&str]) -> String {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
            .args(args)
            .env("TELEDERM_DATA_DIR", dir.path())
            .envs(self.env())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run telederm");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "telederm {args:?} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }
}

/// The same client (and so the same session cookie) talking to another node: cookies belong to
/// the host, 127.0.0.1, whatever the port, as they would behind one load-balanced name.
fn on(node: &Server, api: &Api) -> Api {
    Api { base: format!("{}/api/v1", node.base), client: api.client.clone() }
}

/// Signs in on `node` with the demo credentials `seeded_by` wrote.
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

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Jobs of a kind: (payload, state, attempts).
async fn jobs_of_kind(store: &Store, kind: &str) -> Vec<(Value, String, i64)> {
    use sqlx::Row;
    sqlx::query("SELECT payload_json, state, attempts FROM jobs WHERE kind = $1 ORDER BY id")
        .bind(kind)
        .fetch_all(store.pool())
        .await
        .expect("jobs")
        .iter()
        .map(|r| (serde_json::from_str(&r.get::<String, _>("payload_json")).expect("payload"), r.get("state"), r.get("attempts")))
        .collect()
}

/// The `send_notification` jobs of these outbox messages.
async fn bulk_jobs(store: &Store, outbox_ids: &HashSet<uuid::Uuid>) -> Vec<(Value, String, i64)> {
    jobs_of_kind(store, "send_notification")
        .await
        .into_iter()
        .filter(|(p, _, _)| p["outbox_id"].as_str().and_then(|i| uuid::Uuid::parse_str(i).ok()).is_some_and(|i| outbox_ids.contains(&i)))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    telederm_store::blobs::sha256_hex(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_referrals_sessions_jobs_and_blobs() {
    let mut cluster =
        Cluster { db: TestDatabase::postgres().await, s3: S3Server::start(), smtp: SmtpServer::start(), _dirs: Vec::new() };
    let mut a = cluster.node("demo").await;
    let b = cluster.node("serve").await;
    let store = cluster.db.store().await;

    // --- A referral created and submitted with photos on node A is worked on node B. ---------
    let gp = sign_in(&a, &a, "referrer").await;
    let id = new_draft(&gp).await;
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (s, p) = gp.upload(&id, kind, photo(100 + i as u64, 0.0)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
    let (s, r) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("submitted")), "{r}");

    // The consultant signs in on A; the same session cookie works on B.
    let consultant_a = sign_in(&a, &a, "consultant").await;
    let consultant = on(&b, &consultant_a);
    let (s, me) = consultant.get("/me").await;
    assert_eq!(s, StatusCode::OK, "a session made on node A is valid on node B: {me}");
    let (s, wl) = consultant.get("/worklist").await;
    assert_eq!(s, StatusCode::OK, "{wl}");
    assert!(wl["referrals"].as_array().unwrap().iter().any(|r| r["id"] == id.as_str()), "node B's worklist has A's referral");
    let (s, r) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("in_review")), "{r}");
    let (s, r) = consultant
        .post(&format!("/referrals/{id}/outcome"), &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema",
              "management_plan": "Potent topical steroid once daily for 2 weeks.", "follow_up": "Review in 6 weeks."}))
        .await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("outcome_issued")), "{r}");
    // Back on node A the GP sees the outcome and every photo, from the shared bucket.
    let (_, detail) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(detail["referral"]["status"], "outcome_issued");
    assert_eq!(detail["photos"].as_array().unwrap().len(), 3);

    // --- 200 queued jobs across both nodes each run exactly once. -----------------------------
    let messages: Vec<OutboxMessage> = (0..200)
        .map(|i| OutboxMessage {
            channel: Channel::Email,
            recipient: format!("bulk-{i}@nodes.test"),
            template: telederm_store::Template::GpResponseReady,
            link: format!("https://telederm.test/referrals/{i}"),
            referral_id: None,
            dedupe_key: None,
        })
        .collect();
    let outbox_ids: HashSet<uuid::Uuid> = store.enqueue_notifications(&messages).await.expect("queue 200").into_iter().collect();
    assert_eq!(outbox_ids.len(), 200);
    let bulk = |all: Vec<String>| -> Vec<String> { all.into_iter().filter(|m| m.contains("@nodes.test")).collect() };
    let (smtp, store_ref, ids) = (&cluster.smtp, &store, &outbox_ids);
    let deadline = Instant::now() + Duration::from_secs(120);
    while bulk(smtp.messages()).len() < 200 {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for 200 emails: {} received; jobs by state {:?}",
            bulk(smtp.messages()).len(),
            store.job_counts().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every job recorded as finished (so a second run of one, if any, has sent its email too).
    wait_until("the 200 jobs to be recorded", Duration::from_secs(30), || async move {
        bulk_jobs(store_ref, ids).await.iter().all(|(_, state, _)| state != "running" && state != "queued")
    })
    .await;
    let received = bulk(smtp.messages());
    let recipients: HashSet<String> = received
        .iter()
        .filter_map(|m| m.lines().find(|l| l.to_ascii_lowercase().starts_with("to:")).map(|l| l[3..].trim().to_string()))
        .collect();
    assert_eq!(received.len(), 200, "each of the 200 jobs sent its email once");
    assert_eq!(recipients.len(), 200, "every recipient got one: {:?}", recipients.iter().take(3).collect::<Vec<_>>());
    for id in &outbox_ids {
        assert_eq!(store.get_outbox(*id).await.unwrap().state, telederm_store::OutboxState::Sent);
    }
    let bulk_jobs = bulk_jobs(&store, &outbox_ids).await;
    assert_eq!(bulk_jobs.len(), 200);
    for (payload, state, attempts) in &bulk_jobs {
        assert_eq!((state.as_str(), *attempts), ("done", 1), "job {payload} was claimed once and finished");
    }

    // --- SIGKILL in the middle of a burst of uploads to node A. --------------------------------
    let drafts = [new_draft(&gp).await, new_draft(&gp).await, new_draft(&gp).await];
    let photos: Vec<Vec<u8>> = tokio::task::spawn_blocking(|| (0..24).map(|i| photo(1000 + i, 0.0)).collect()).await.unwrap();
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let mut uploads = Vec::new();
    for (i, bytes) in photos.into_iter().enumerate() {
        let api = on(&a, &gp);
        let referral = drafts[i % drafts.len()].clone();
        let acknowledged = acknowledged.clone();
        uploads.push(tokio::spawn(async move {
            // A steady stream rather than one burst, so the kill lands with some acknowledged
            // and some in flight.
            tokio::time::sleep(Duration::from_millis(60 * i as u64)).await;
            let form = reqwest::multipart::Form::new()
                .text("kind", "close_up")
                .part("file", reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg"));
            let sent = api.client.post(format!("{}/referrals/{referral}/photos", api.base)).multipart(form).send().await;
            let Ok(resp) = sent else { return None };
            if resp.status() != StatusCode::CREATED {
                return None;
            }
            let body: Value = resp.json().await.ok()?;
            acknowledged.fetch_add(1, Ordering::SeqCst);
            Some((referral, body))
        }));
    }
    let ack = &acknowledged;
    wait_until("the first uploads to be acknowledged", Duration::from_secs(60), || async move { ack.load(Ordering::SeqCst) >= 3 })
    .await;
    a.kill(); // SIGKILL
    let mut acked = Vec::new();
    for u in uploads {
        if let Some(ok) = u.await.unwrap() {
            acked.push(ok);
        }
    }
    assert!(acked.len() >= 3 && acked.len() < 24, "the kill came in the middle of the burst: {} acknowledged", acked.len());
    eprintln!("node A killed with {} of 24 uploads acknowledged", acked.len());

    // Every acknowledged photo is listed and downloadable through node B.
    let gp_b = on(&b, &gp);
    for (referral, photo) in &acked {
        let (s, list) = gp_b.get(&format!("/referrals/{referral}/photos")).await;
        assert_eq!(s, StatusCode::OK);
        let pid = photo["id"].as_str().unwrap();
        assert!(list["photos"].as_array().unwrap().iter().any(|p| p["id"] == pid), "acknowledged photo {pid} is listed on B");
        let resp = gp_b.client.get(format!("{}/referrals/{referral}/photos/{pid}/original", gp_b.base)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(sha256_hex(&resp.bytes().await.unwrap()), photo["original_key"].as_str().unwrap());
    }

    // --- The sweep leaves no orphan. ------------------------------------------------------------
    let bucket = cluster.s3.blob_store(PREFIX);
    // An orphan as a crash between blob and record leaves it (besides any the kill left).
    let stray = bucket.put(b"bytes no photo refers to".to_vec()).await.unwrap();
    let kept = cluster.cli(&["blobs", "sweep", "--grace", "1h"]);
    assert!(!kept.contains(&stray), "a blob younger than the grace period is kept: {kept}");
    assert!(bucket.exists(&stray).await.unwrap());
    let swept = cluster.cli(&["blobs", "sweep", "--grace", "0s"]);
    assert!(swept.contains(&format!("removed {stray}")), "{swept}");
    eprintln!("sweep after the kill: {}", swept.lines().last().unwrap_or_default());
    let referenced = store.referenced_blob_keys().await.unwrap();
    let stored: HashSet<String> = bucket.list().await.unwrap().into_iter().collect();
    let orphans: Vec<&String> = stored.difference(&referenced).collect();
    assert!(orphans.is_empty(), "orphan blobs left after the sweep: {orphans:?}");
    let missing: Vec<&String> = referenced.difference(&stored).collect();
    assert!(missing.is_empty(), "blobs photos refer to were lost: {missing:?}");

    // --- Thumbnail regeneration runs on the surviving node and repairs a lost thumbnail. --------
    let (referral, photo) = &acked[0];
    let thumb = photo["thumbnail_key"].as_str().unwrap().to_string();
    let others_use_it = acked.iter().filter(|(_, p)| p["thumbnail_key"] == thumb.as_str()).count() > 1;
    if !others_use_it {
        bucket.delete(&thumb).await.unwrap();
    }
    let out = cluster.cli(&["blobs", "regenerate-thumbnails", "--referral", referral]);
    assert!(out.contains("queued"), "{out}");
    let store_ref = &store;
    wait_until("the regeneration jobs", Duration::from_secs(60), || async move {
        let jobs = jobs_of_kind(store_ref, "regenerate_thumbnails").await;
        !jobs.is_empty() && jobs.iter().all(|(_, s, _)| s == "done")
    })
    .await;
    let pid = photo["id"].as_str().unwrap();
    let resp = gp_b.client.get(format!("{}/referrals/{referral}/photos/{pid}/thumbnail", gp_b.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the thumbnail is back");
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xFF, 0xD8]), "a JPEG thumbnail, not {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)]));
}
