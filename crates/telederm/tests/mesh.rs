//! Outcome letters into the GP record over MESH, against NHS Digital's MESH sandbox
//! (`mesh-sandbox` from PyPI, run on loopback with AUTH_MODE=full, the file store, and mailbox and
//! workflow files written here: Telederm's mailbox, the demo practice's with its ODS code, and the
//! letters' workflow and its acknowledgements' workflow).
//!
//! The GP system is played by `scripts/mesh_gp_system.py`: NHS Digital's Python MESH client reads
//! the practice's inbox, `fhir.resources` (STU3 models) parses the ITK3 message, `pdftotext`
//! reads the letter's PDF, and it answers with ITK3 acknowledgements. Telederm is the real binary
//! (`telederm demo`, with the TELEDERM_MESH_* variables pointing at the sandbox).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, complete_draft, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TELEDERM_MAILBOX: &str = "TELEDERM1";
const PRACTICE_MAILBOX: &str = "Y00001GP";
const PRACTICE_ODS: &str = "Y00001";
const SHARED_KEY: &str = "sandbox-shared-key";
const WORKFLOW: &str = "GPFED_CONSULT_REPORT";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The venv with the sandbox and fhir.resources (installed by scripts/test-services.sh).
fn mesh_venv() -> PathBuf {
    let out = Command::new(root().join("scripts/test-services.sh")).arg("mesh").stderr(Stdio::inherit()).output().expect("run test-services.sh");
    assert!(out.status.success(), "scripts/test-services.sh mesh failed");
    let text = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(text.lines().last().expect("venv bin dir").trim())
}

struct Sandbox {
    port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    child: Option<Child>,
}

impl Sandbox {
    /// A sandbox whose practice mailbox exists only when `practice_has_mailbox`.
    async fn start(practice_has_mailbox: bool) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let mut mailboxes = vec![json!({"mailbox_id": TELEDERM_MAILBOX, "mailbox_name": "Telederm", "billing_entity": "England",
            "ods_code": "RQX", "org_code": "RQX", "password": "telederm-pass"})];
        let mut receivers = vec![];
        if practice_has_mailbox {
            mailboxes.push(json!({"mailbox_id": PRACTICE_MAILBOX, "mailbox_name": "Demo practice GP system", "billing_entity": "England",
                "ods_code": PRACTICE_ODS, "org_code": PRACTICE_ODS, "password": "practice-pass"}));
            receivers.push(PRACTICE_MAILBOX);
        }
        let lines = |v: Vec<Value>| v.iter().map(|l| l.to_string()).collect::<Vec<_>>().join("\n") + "\n";
        std::fs::write(dir.path().join("mailboxes.jsonl"), lines(mailboxes)).unwrap();
        std::fs::write(
            dir.path().join("workflows.jsonl"),
            lines(vec![
                json!({"workflow_id": WORKFLOW, "senders": [TELEDERM_MAILBOX], "receivers": receivers}),
                json!({"workflow_id": format!("{WORKFLOW}_ACK"), "senders": [PRACTICE_MAILBOX], "receivers": [TELEDERM_MAILBOX]}),
            ]),
        )
        .unwrap();
        let mut s = Sandbox { port: free_port(), dir, bin: mesh_venv(), child: None };
        s.run().await;
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn run(&mut self) {
        let child = Command::new(self.bin.join("python"))
            .arg(root().join("scripts/run_mesh_sandbox.py"))
            .arg(self.port.to_string())
            .arg(self.dir.path())
            .env("SHARED_KEY", SHARED_KEY)
            .env("AUTH_MODE", "full")
            .env("STORE_MODE", "file")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the MESH sandbox");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("{}/health", self.url())).await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the MESH sandbox did not start on port {}", self.port);
    }

    /// Telederm's MESH settings for this sandbox (through `via` when given: a proxy's address).
    fn env(&self, via: Option<&str>) -> Vec<(&'static str, String)> {
        vec![
            ("TELEDERM_MESH_URL", via.map(str::to_string).unwrap_or_else(|| self.url())),
            ("TELEDERM_MESH_MAILBOX", TELEDERM_MAILBOX.into()),
            ("TELEDERM_MESH_PASSWORD", "telederm-pass".into()),
            ("TELEDERM_MESH_SHARED_KEY", SHARED_KEY.into()),
            ("TELEDERM_MESH_POLL_SECONDS", "1".into()),
            ("TELEDERM_WORKER_POLL_MS", "200".into()),
        ]
    }

    /// The GP system reads its inbox (and answers with `ack`): one JSON object per message.
    fn gp_system(&self, ack: &str) -> Vec<Value> {
        let out = Command::new(self.bin.join("python"))
            .arg(root().join("scripts/mesh_gp_system.py"))
            .args([&self.url(), PRACTICE_MAILBOX, "practice-pass", SHARED_KEY, TELEDERM_MAILBOX, "--ack", ack])
            .output()
            .expect("run the GP system");
        assert!(out.status.success(), "GP system failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The letter rows of a referral, read from the demo's SQLite database: (local id, status, reason).
async fn letters(server: &Server, referral: &str) -> Vec<(String, String, Option<String>)> {
    use sqlx::Row;
    let url = format!("sqlite://{}?mode=ro", server.data_dir.join("telederm.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::query("SELECT local_id, status, reason FROM gp_letters WHERE referral_id = $1 ORDER BY created_at")
        .bind(referral)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("local_id"), r.get("status"), r.get("reason")))
        .collect()
}

async fn wait_for_status(server: &Server, referral: &str, status: &str, within: Duration) -> (String, String, Option<String>) {
    let deadline = Instant::now() + within;
    loop {
        let ls = letters(server, referral).await;
        if let Some(l) = ls.iter().find(|l| l.1 == status) {
            return l.clone();
        }
        assert!(Instant::now() < deadline, "letter of {referral} never became {status}: {ls:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A referral taken to an outcome through the API; returns its id.
async fn referral_with_outcome(server: &Server) -> String {
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = complete_draft(&gp, "nhs-advice-and-guidance", "advice_and_guidance", json!({})).await;
    let (s, r) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r) = consultant
        .post(
            &format!("/referrals/{id}/outcome"),
            &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema",
                    "management_plan": "Potent topical steroid once daily for 2 weeks.", "follow_up": "Review in 6 weeks."}),
        )
        .await;
    assert_eq!((s, r["status"].as_str()), (StatusCode::OK, Some("outcome_issued")), "{r}");
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn an_outcome_letter_reaches_the_practice_and_is_filed() {
    let sandbox = Sandbox::start(true).await;
    let mut env = sandbox.env(None);
    // Small chunks, so the letter goes in several (as one over MESH's 100 MB limit would) and the
    // GP system's MESH client puts it back together.
    env.push(("TELEDERM_MESH_CHUNK_BYTES", "8000".into()));
    let server = Server::demo_with(&env_refs(&env), None).await;
    let id = referral_with_outcome(&server).await;
    let (local_id, _, _) = wait_for_status(&server, &id, "sent", Duration::from_secs(60)).await;

    // The GP system reads it from the practice's mailbox and files it.
    let messages = sandbox.gp_system("bus");
    let ours: Vec<&Value> = messages.iter().filter(|m| m["local_id"] == local_id.as_str()).collect();
    assert_eq!(ours.len(), 1, "exactly one message for {local_id}: {messages:?}");
    let m = ours[0];
    assert!(m["chunks"].as_u64().unwrap_or(1) > 1, "sent in chunks: {}", m["chunks"]);
    assert_eq!(m["workflow"], WORKFLOW);
    assert_eq!(m["event"], "ITK007C");
    assert_eq!(m["source"], TELEDERM_MAILBOX);
    assert_eq!(m["handling"]["BusAckRequested"], true);
    assert_eq!(m["handling"]["InfAckRequested"], true);
    assert_eq!(m["handling"]["SenderReference"], local_id.as_str());
    assert_eq!(m["nhs_number"], "9434765919");
    assert_eq!(m["family"], "Lovelace");
    let text = m["pdf_text"].as_str().unwrap();
    assert!(text.contains("Ada Lovelace"), "the patient's name is in the letter:\n{text}");
    assert!(text.contains("943 476 5919"), "the NHS number is in the letter:\n{text}");
    assert!(text.contains("Discoid eczema"), "the outcome is in the letter:\n{text}");

    // Telederm reads the acknowledgements from its own inbox: filed.
    wait_for_status(&server, &id, "filed", Duration::from_secs(60)).await;
    let consultant = server.sign_in_as("consultant").await;
    let page = consultant.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Filed in the GP record"), "the case page says so");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_shared_key_is_refused_with_a_clear_error() {
    let sandbox = Sandbox::start(true).await;
    let run = |key: &str, ods: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
        cmd.args(["mesh", "check", ods]).env("TELEDERM_DATA_DIR", sandbox.dir.path().join("td"));
        for (k, v) in sandbox.env(None) {
            cmd.env(k, if k == "TELEDERM_MESH_SHARED_KEY" { key.to_string() } else { v });
        }
        let out = cmd.output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, stdout, stderr) = run(SHARED_KEY, PRACTICE_ODS);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("handshake: ok") && stdout.contains(PRACTICE_MAILBOX), "{stdout}");
    let (ok, stdout, stderr) = run("not-the-shared-key", PRACTICE_ODS);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("MESH refused the credentials of mailbox TELEDERM1") && stderr.contains("TELEDERM_MESH_SHARED_KEY"), "{stderr}");
    assert!(!stderr.contains("not-the-shared-key") && !stderr.contains("telederm-pass"), "secrets are never printed: {stderr}");
    let (ok, _, stderr) = run(SHARED_KEY, "Y99999");
    assert!(!ok && stderr.contains("no MESH mailbox receives GPFED_CONSULT_REPORT for Y99999"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_practice_without_a_mailbox_gets_no_letter_and_the_gp_is_told() {
    let sandbox = Sandbox::start(false).await;
    let env = sandbox.env(None);
    let server = Server::demo_with(&env_refs(&env), None).await;
    let id = referral_with_outcome(&server).await;
    let (_, _, reason) = wait_for_status(&server, &id, "not_sent", Duration::from_secs(60)).await;
    assert!(reason.unwrap_or_default().contains("no MESH mailbox receives GPFED_CONSULT_REPORT for the practice Y00001"));
    // The GP is emailed (the outbox holds the notice) and the case page says so.
    use sqlx::Row;
    let url = format!("sqlite://{}?mode=ro", server.data_dir.join("telederm.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let notices: Vec<String> = sqlx::query("SELECT recipient FROM outbox WHERE referral_id = $1 AND template = 'gp_letter_not_filed'")
        .bind(&id)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("recipient"))
        .collect();
    let (gp_email, _) = server.demo_credentials()["referrer"].clone();
    assert_eq!(notices, [gp_email]);
    let gp = server.sign_in_as("referrer").await;
    let page = gp.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Not sent to the GP system"), "the case page tells the GP");
}

/// A proxy in front of the sandbox that forwards everything but loses the answer to the first
/// message sent: the sandbox takes the letter, Telederm never hears so (as when MESH stops
/// mid-send). Returns the proxy's address.
async fn answer_losing_proxy(upstream: u16) -> String {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let armed = Arc::new(AtomicBool::new(true));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let armed = armed.clone();
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = up.into_split();
                let cut = Arc::new(AtomicBool::new(false));
                let cut2 = cut.clone();
                let to_up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let head = String::from_utf8_lossy(&buf[..n.min(200)]).to_string();
                        if head.starts_with("POST /messageexchange/TELEDERM1/outbox ") && armed.swap(false, Ordering::SeqCst) {
                            cut2.store(true, Ordering::SeqCst);
                        }
                        if uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = ur.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if cut.load(Ordering::SeqCst) {
                        break; // the answer is lost: close the connection instead
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                to_up.abort();
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn mesh_stopping_mid_send_is_retried_without_a_duplicate() {
    let mut sandbox = Sandbox::start(true).await;
    let proxy = answer_losing_proxy(sandbox.port).await;
    // The sandbox is away when the first letters are due: every try fails and is retried.
    if let Some(mut c) = sandbox.child.take() {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    let env = sandbox.env(Some(&proxy));
    let server = Server::demo_with(&env_refs(&env), None).await;
    let id = referral_with_outcome(&server).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ls = letters(&server, &id).await;
        if ls.iter().any(|l| l.1 == "pending" && l.2.as_deref().unwrap_or("").contains("could not be reached")) {
            break;
        }
        assert!(Instant::now() < deadline, "the failed try is recorded on the letter: {ls:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Back again; the first message it takes has its answer lost, so that try fails too, and the
    // retry finds it by its local id instead of sending it again.
    sandbox.run().await;
    let (local_id, _, _) = wait_for_status(&server, &id, "sent", Duration::from_secs(150)).await;
    let messages = sandbox.gp_system("none");
    let mut ids: Vec<&str> = messages.iter().filter_map(|m| m["local_id"].as_str()).collect();
    assert!(ids.contains(&local_id.as_str()), "{ids:?}");
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all, "no letter was sent twice: {messages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_letter_received_but_not_filed_in_time_is_failed_and_shown_everywhere() {
    let sandbox = Sandbox::start(true).await;
    let mut env = sandbox.env(None);
    env.push(("TELEDERM_MESH_ACK_TIMEOUT_MINUTES", "1".into()));
    let server = Server::demo_with(&env_refs(&env), None).await;
    let id = referral_with_outcome(&server).await;
    wait_for_status(&server, &id, "sent", Duration::from_secs(60)).await;
    // The GP system takes it in (infrastructure acknowledgement) but never files it.
    let messages = sandbox.gp_system("inf");
    assert!(!messages.is_empty());
    wait_for_status(&server, &id, "delivered", Duration::from_secs(30)).await;
    let (_, _, reason) = wait_for_status(&server, &id, "failed", Duration::from_secs(120)).await;
    assert!(reason.unwrap_or_default().contains("no business acknowledgement from the GP system within 1 minutes"));

    // The case page, the GP's list and the service admin's dashboard show it.
    let gp = server.sign_in_as("referrer").await;
    let page = |api: &common::Api, path: String| {
        let client = api.client.clone();
        let url = format!("{}{path}", server.base);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let case = page(&gp, format!("/referrals/{id}")).await;
    assert!(case.contains("Not filed in the GP record") && case.contains("no business acknowledgement"), "case page");
    let list = page(&gp, "/referrals".into()).await;
    assert!(list.contains("data-gp-letter-problem"), "the GP's list marks it");
    let admin = server.sign_in_as("service_admin").await;
    let dashboard = page(&admin, "/admin".into()).await;
    assert!(dashboard.contains("data-gp-letter-problems") && dashboard.contains(&id), "the dashboard lists it");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mesh_report_that_the_letter_was_not_delivered_fails_it() {
    let sandbox = Sandbox::start(true).await;
    let env = sandbox.env(None);
    let server = Server::demo_with(&env_refs(&env), None).await;
    let id = referral_with_outcome(&server).await;
    let (local_id, _, _) = wait_for_status(&server, &id, "sent", Duration::from_secs(60)).await;
    // MESH reports that the practice's mailbox never collected it (the sandbox's test endpoint
    // puts such a report in Telederm's inbox).
    let r = reqwest::Client::new()
        .post(format!("{}/messageexchange/admin/report", sandbox.url()))
        .json(&json!({"mailbox_id": TELEDERM_MAILBOX, "code": "14", "description": "Message not collected by recipient after 5 days",
                      "workflow_id": WORKFLOW, "local_id": local_id, "status": "undeliverable"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let (_, _, reason) = wait_for_status(&server, &id, "failed", Duration::from_secs(60)).await;
    assert!(reason.unwrap_or_default().contains("MESH could not deliver the letter"), "the reason says so");
}
