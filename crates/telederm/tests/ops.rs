//! Operations against the real binary: notifications reaching a loopback SMTP server, readiness,
//! Prometheus metrics, JSON request logs, and graceful shutdown.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Server, complete_draft};
use reqwest::StatusCode;
use serde_json::json;
use telederm_store::testkit::SmtpServer;

const FROM: &str = "Telederm <no-reply@telederm.test>";

/// The address a raw message was delivered to (its `To:` header).
fn to_of(message: &str) -> String {
    message
        .lines()
        .find_map(|l| l.strip_prefix("To: "))
        .unwrap_or_default()
        .trim()
        .trim_matches(['<', '>'])
        .to_string()
}

/// Waits until each (address, subject part) has arrived, or 60 s pass.
fn wait_for_recipients(smtp: &SmtpServer, wanted: &[(&str, &str)]) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let messages = smtp.messages();
        let have = |(addr, subject): &(&str, &str)| messages.iter().any(|m| to_of(m).contains(addr) && m.contains(subject));
        if wanted.iter().all(have) || std::time::Instant::now() > deadline {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patients_and_gps_are_emailed_a_link_and_nothing_clinical() {
    let smtp = SmtpServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let server = Server::start(
        "demo",
        tmp.path(),
        &[("TELEDERM_SMTP_URL", &url), ("TELEDERM_SMTP_FROM", FROM), ("TELEDERM_WORKER_POLL_MS", "100")],
    )
    .await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;

    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, _) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let question = "Is the forearm rash worse after contact with detergents?";
    let (s, b) = consultant.post(&format!("/referrals/{id}/request-information"), &json!({"message": question})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = gp.post(&format!("/referrals/{id}/reply"), &json!({"message": "Yes, after washing up."})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = consultant
        .post(
            &format!("/referrals/{id}/outcome"),
            &json!({"code": "advice_management_plan", "diagnosis": "Discoid eczema",
                    "management_plan": "Potent topical steroid once daily for 2 weeks.", "follow_up": "Review in 6 weeks."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Photos needed: the practice creates an upload link for a patient who gave an email address.
    let (s, draft) = gp
        .post(
            "/referrals",
            &json!({"service_id": "clinical-partnership", "route": "advice_and_guidance",
                    "patient": common::patient("1980-05-17")}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{draft}");
    let draft = draft["id"].as_str().unwrap();
    let page = gp.client.get(format!("{}/referrals/{draft}", server.base)).send().await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"_csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("a CSRF token on the page");
    let r = gp
        .client
        .post(format!("{}/referrals/{draft}/patient-links", server.base))
        .form(&[("_csrf", csrf)])
        .send()
        .await
        .unwrap();
    // Redirected (this client follows redirects) back to the referral, showing the new link once.
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), format!("/referrals/{draft}"), "{}", r.url());
    assert!(r.url().query().is_some_and(|q| q.starts_with("link=%2Fp%2F")), "{}", r.url());

    let patient = "ada@example.org";
    let gp_email = "gp@demo.telederm.nhs.uk";
    let consultant_email = "consultant@demo.telederm.nhs.uk";
    let messages = wait_for_recipients(
        &smtp,
        &[
            (patient, "Please send photos"),
            (patient, "contacted the dermatology service"),
            (patient, "update about your skin review"),
            (gp_email, "a response is ready"),
            (gp_email, "more information requested"),
            (consultant_email, "on your worklist"),
        ],
    );
    let subjects = |to: &str| -> Vec<String> {
        messages
            .iter()
            .filter(|m| to_of(m).contains(to))
            .filter_map(|m| m.lines().find_map(|l| l.strip_prefix("Subject: ")).map(str::to_string))
            .collect()
    };
    let to_patient = subjects(patient);
    assert!(to_patient.iter().any(|s| s.contains("contacted the dermatology service")), "received: {to_patient:?}");
    assert!(to_patient.iter().any(|s| s.contains("update about your skin review")), "outcome ready: {to_patient:?}");
    assert!(to_patient.iter().any(|s| s.contains("Please send photos")), "photos needed: {to_patient:?}");
    let patient_page = format!("{}/p/", server.base);
    for subject in ["Please send photos", "contacted the dermatology service", "update about your skin review"] {
        assert!(
            messages.iter().any(|m| to_of(m).contains(patient) && m.contains(subject) && m.contains(&patient_page)),
            "the message {subject:?} carries a link to the patient's own page"
        );
    }
    let to_gp = subjects(gp_email);
    assert!(to_gp.iter().any(|s| s.contains("a response is ready")), "GP told of the outcome: {to_gp:?}");
    assert!(subjects(consultant_email).iter().any(|s| s.contains("on your worklist")), "consultant told of the new case");

    let link = format!("{}/referrals/{id}", server.base);
    assert!(messages.iter().any(|m| to_of(m).contains(gp_email) && m.contains(&link)), "the GP's email links to the referral");
    for m in &messages {
        assert!(m.contains(&format!("From: {FROM}")) || m.contains("no-reply@telederm.test"), "sender: {m}");
        for secret in ["9434765919", "943 476 5919", "943-476-5919", "Itchy rash", "Lovelace", "Discoid", "steroid", "forearm", "detergents", "washing"] {
            assert!(!m.contains(secret), "a notification carries {secret:?}:\n{m}");
        }
    }

    // Every outbox message is sent in the end: nothing is left pending.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
        if gauge(&metrics, "outbox_pending") == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "messages still pending:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Once sent, the patient's upload link (a credential) is no longer kept in the outbox.
    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", tmp.path().join("telederm.db").display()))
        .await
        .unwrap();
    let rows = store.list_outbox(telederm_domain::ReferralId::parse(draft).unwrap()).await.unwrap();
    let request = rows.iter().find(|m| m.template.name() == "patient_photo_request").expect("the photo request is in the outbox");
    assert_eq!(request.state, telederm_store::OutboxState::Sent);
    assert_eq!(request.link, telederm_store::outbox::SENT_SECRET_LINK);
    // Nor are the status links in the messages about the referral.
    let rows = store.list_outbox(telederm_domain::ReferralId::parse(&id).unwrap()).await.unwrap();
    let to_patient: Vec<_> = rows.iter().filter(|m| m.recipient == patient).collect();
    assert_eq!(to_patient.len(), 2, "received and answered: {to_patient:?}");
    for m in to_patient {
        assert_eq!((m.state, m.link.as_str()), (telederm_store::OutboxState::Sent, telederm_store::outbox::SENT_SECRET_LINK));
    }
    store.close().await;
}

/// The value of `telederm_state{what="NAME"}` in a metrics page.
fn gauge(metrics: &str, name: &str) -> i64 {
    let prefix = format!("telederm_state{{what=\"{name}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(prefix.as_str())).and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("no gauge {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_notifier_messages_stay_queued_and_are_counted() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, _) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    let pending = gauge(&metrics, "outbox_pending");
    assert!(pending >= 2, "the patient's and the consultant's messages wait in the outbox: {pending}");

    // An admin can see that nothing is being sent, and why.
    let admin = server.sign_in_as("system_admin").await;
    let (s, body) = admin.get("/admin/jobs?state=queued").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["notifier"], serde_json::Value::Null);
    assert!(body["outbox_pending"].as_i64().unwrap() >= pending);
    let html = admin.client.get(format!("{}/admin/jobs", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("data-warning=\"no-notifier\"") && html.contains("TELEDERM_SMTP_URL"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_names_the_part_that_is_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs = tmp.path().join("elsewhere").join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob_url = format!("file://{}", blobs.display());
    let data = tmp.path().join("data");
    let key = ("TELEDERM_BLOB_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let server = Server::start("serve", &data, &[("TELEDERM_BLOB_URL", &blob_url), key]).await;

    let r = reqwest::get(format!("{}/readyz", server.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!((&body["checks"]["database"], &body["checks"]["blob_store"]), (&json!("ok"), &json!("ok")), "{body}");
    // The bank-holiday calendar is reported (tests/calendar.rs) but never makes a node unready.
    assert!(body["checks"]["calendar"].is_string() && body["calendar"]["days_left"].is_i64(), "{body}");

    std::fs::remove_dir_all(tmp.path().join("elsewhere")).unwrap();
    let r = reqwest::get(format!("{}/readyz", server.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "not_ready");
    assert_eq!((&body["details"]["database"], &body["details"]["blob_store"]), (&json!("ok"), &json!("unreachable")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("blob store"), "{body}");
    // Liveness is separate: the process is still up.
    assert_eq!(reqwest::get(format!("{}/healthz", server.base)).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_uploads_and_jobs() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, _) = gp.get(&format!("/referrals/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = gp.get("/referrals/00000000-0000-0000-0000-000000000000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let r = reqwest::get(format!("{}/metrics", server.base)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    for line in [
        "telederm_http_requests_total{method=\"GET\",route=\"/api/v1/referrals/{id}\",status=\"200\"} 1",
        "telederm_http_requests_total{method=\"GET\",route=\"/api/v1/referrals/{id}\",status=\"404\"} 1",
        "telederm_http_requests_total{method=\"POST\",route=\"/api/v1/referrals/{id}/photos\",status=\"201\"} 3",
    ] {
        assert!(text.contains(line), "missing {line}\n{text}");
    }
    assert!(text.contains("telederm_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/referrals/{id}\""), "{text}");
    assert!(text.lines().any(|l| l.starts_with("telederm_photo_uploads_total{verdict=")), "{text}");
    // Each of the three photos is timed once in every stage of its intake (nextest runs each test
    // in its own process, so the counts are this test's).
    for stage in ["memory_wait", "thread_wait", "processing", "blobs", "record"] {
        let line = format!("telederm_photo_intake_stage_seconds_count{{stage=\"{stage}\"}} 3");
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    for state in ["queued", "running", "done", "dead"] {
        assert!(text.contains(&format!("telederm_jobs{{state=\"{state}\"}}")), "jobs by state: {state}\n{text}");
    }
    for gauge in ["job_queue_depth", "outbox_pending", "sla_breached_referrals"] {
        assert!(text.contains(&format!("telederm_state{{what=\"{gauge}\"}}")), "{gauge}\n{text}");
    }
    // The demo seeds an overdue referral... or not: the gauge is a number either way.
    assert!(!text.contains(&id), "no referral ids in metric labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_record_each_request_by_route_and_sigterm_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("telederm.log");
    let file = std::fs::File::create(&log).unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start_with(
        "demo",
        &data,
        &[("TELEDERM_LOG_FORMAT", "json"), ("RUST_LOG", "info,sqlx=warn")],
        Stdio::from(file),
    )
    .await;
    let gp = server.sign_in_as("referrer").await;
    let (s, list) = gp.get("/referrals").await;
    assert_eq!(s, StatusCode::OK);
    let some_id = list["referrals"][0]["id"].as_str().unwrap().to_string();
    gp.get(&format!("/referrals/{some_id}")).await;

    let status = server.terminate();
    assert!(status.success(), "SIGTERM ends telederm cleanly: {status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "JSON log lines: {text}");
    let request = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/api/v1/referrals/{id}" && l["fields"]["method"] == "GET")
        .unwrap_or_else(|| panic!("a request line for GET /api/v1/referrals/{{id}}: {text}"));
    assert_eq!(request["fields"]["status"], 200);
    assert!(request["fields"]["duration_ms"].is_number());
    assert!(!text.contains(&some_id), "request logs name the route template, not the path");
    assert!(lines.iter().any(|l| l["fields"]["message"] == "background worker stopped"), "the worker stops before exit: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_jobs_are_listed_for_system_admins_and_can_be_retried() {
    // GOV.UK Notify with no template ids: every notification fails permanently, at once, without
    // any network call, so its job is dead.
    let tmp = tempfile::tempdir().unwrap();
    let key = "telederm_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
    let server = Server::start(
        "demo",
        tmp.path(),
        &[("TELEDERM_NOTIFY_API_KEY", key), ("TELEDERM_NOTIFY_BASE_URL", "http://127.0.0.1:9"), ("TELEDERM_WORKER_POLL_MS", "100")],
    )
    .await;
    let gp = server.sign_in_as("referrer").await;
    let admin = server.sign_in_as("system_admin").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, _) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let dead = loop {
        let (s, body) = admin.get("/admin/jobs?state=dead").await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let jobs = body["jobs"].as_array().unwrap().clone();
        if jobs.iter().any(|j| j["kind"] == "send_notification") {
            assert!(body["counts"]["dead"].as_i64().unwrap() >= 1, "{body}");
            break jobs;
        }
        assert!(std::time::Instant::now() < deadline, "no dead job appeared: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let job = dead.iter().find(|j| j["kind"] == "send_notification").unwrap();
    assert_eq!(job["state"], "dead");
    assert!(job["last_error"].as_str().unwrap().contains("no GOV.UK Notify"), "the cause is shown: {job}");
    let job_id = job["id"].as_str().unwrap();

    // Only system admins manage jobs.
    let (s, b) = gp.get("/admin/jobs").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")));
    let (s, _) = gp.post(&format!("/admin/jobs/{job_id}/retry"), &json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = admin.get("/admin/jobs?state=sleeping").await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")));

    // The admin page lists it with a retry button.
    let page = admin.client.get(format!("{}/admin/jobs", server.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("action=\"/admin/jobs/{job_id}/retry\"")), "retry button on the page");
    assert!(html.contains("no GOV.UK Notify"), "the error is on the page");
    assert!(html.contains("sent by GOV.UK Notify") && !html.contains("no-notifier"), "{html}");

    // Retrying queues it again with fresh attempts (here it fails again for the same reason).
    let (s, b) = admin.post(&format!("/admin/jobs/{job_id}/retry"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The answer is this job, due again from the retry on (the worker may already have taken it,
    // so its state at this instant is not fixed; what the retry did is).
    let died_at = |j: &serde_json::Value| j["finished_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    let first_death = died_at(job).expect("a dead job has finished_at");
    assert_eq!(b["job"]["id"].as_str(), Some(job_id), "{b}");
    let run_at = chrono::DateTime::parse_from_rfc3339(b["job"]["run_at"].as_str().unwrap()).unwrap();
    assert!(run_at > first_death, "the retry made it due after it died: {b}");
    // And the worker runs it again: it dies a second time, for the same reason, later.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let again = loop {
        let (_, body) = admin.get("/admin/jobs?state=dead").await;
        let j = body["jobs"].as_array().unwrap().iter().find(|j| j["id"] == job_id).cloned();
        if let Some(j) = j.filter(|j| died_at(j).is_some_and(|t| t > first_death)) {
            break j;
        }
        assert!(std::time::Instant::now() < deadline, "the retried job did not run again: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(again["last_error"].as_str().unwrap().contains("no GOV.UK Notify"), "{again}");
    assert_eq!(again["attempts"], job["attempts"], "a fresh set of attempts, used up the same way: {again}");
    let (s, b) = admin.post("/admin/jobs/00000000-0000-0000-0000-000000000000/retry", &json!({})).await;
    assert_eq!((s, b["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));

    let metrics = reqwest::get(format!("{}/metrics", server.base)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("telederm_jobs_finished_total{kind=\"send_notification\",outcome=\"dead\"}"), "{metrics}");
}

type Requests = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A stand-in for GOV.UK Notify's HTTP API that takes `delay` to accept each message, counting
/// the requests it has started to answer and keeping each request's text.
async fn slow_notify(delay: Duration) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let (base, seen, _) = notify_standin(delay).await;
    (base, seen)
}

async fn notify_standin(delay: Duration) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>, Requests) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let requests: Requests = Default::default();
    let (counter, kept) = (seen.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            let (counter, kept) = (counter.clone(), kept.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                // Read the head and the JSON body (Content-Length).
                loop {
                    let Ok(n) = sock.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let len = text[..head_end]
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                            .unwrap_or(0);
                        if got.len() >= head_end + 4 + len {
                            break;
                        }
                    }
                }
                kept.lock().unwrap().push(String::from_utf8_lossy(&got).to_string());
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let body = r#"{"id": "8a1b4c5d-0000-4000-8000-000000000001"}"#;
                let reply = format!("HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = sock.write_all(reply.as_bytes()).await;
            });
        }
    });
    (base, seen, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_job_in_flight_and_claims_no_more() {
    use std::sync::atomic::Ordering;
    let (base, seen) = slow_notify(Duration::from_secs(3)).await;
    let templates: Vec<String> = [
        "patient_referral_sent", "consultant_case_assigned", "sla_due_tomorrow", "sla_due_today", "sla_breached",
    ]
    .iter()
    .map(|t| format!("{t}=f33517ff-2a88-4f6e-b855-c550268ce08a"))
    .collect();
    let templates = templates.join(",");
    let tmp = tempfile::tempdir().unwrap();
    let key = "telederm_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
    let mut server = Server::start(
        "demo",
        tmp.path(),
        &[
            ("TELEDERM_NOTIFY_API_KEY", key),
            ("TELEDERM_NOTIFY_BASE_URL", &base),
            ("TELEDERM_NOTIFY_EMAIL_TEMPLATES", &templates),
            ("TELEDERM_WORKER_CONCURRENCY", "1"),
            ("TELEDERM_WORKER_POLL_MS", "100"),
        ],
    )
    .await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, _) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK);

    // Wait until the worker has just begun delivering a message (the provider holds each for 3 s;
    // the demo's own seeded notifications are in the queue too), then ask it to stop.
    let before = seen.load(Ordering::SeqCst);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.load(Ordering::SeqCst) == before {
        assert!(std::time::Instant::now() < deadline, "no message reached the provider");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_sigterm = seen.load(Ordering::SeqCst);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert_eq!(seen.load(Ordering::SeqCst), at_sigterm, "nothing is claimed after SIGTERM");

    let store = telederm_store::Store::connect_without_migrating(&format!("sqlite://{}", tmp.path().join("telederm.db").display()))
        .await
        .unwrap();
    let counts = store.job_counts().await.unwrap();
    let count = |s: telederm_store::JobState| counts.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    assert_eq!(count(telederm_store::JobState::Running), 0, "no job is left half-done: {counts:?}");
    let done = store.list_jobs(Some(telederm_store::JobState::Done), 100).await.unwrap();
    let sent: Vec<_> = done.iter().filter(|j| j.kind == "send_notification").collect();
    assert_eq!(sent.len(), at_sigterm, "every message the provider received, the one in flight included, was recorded as delivered: {done:?}");
    for job in sent {
        let outbox_id = uuid::Uuid::parse_str(job.payload["outbox_id"].as_str().unwrap()).unwrap();
        let outbox = store.get_outbox(outbox_id).await.unwrap();
        assert_eq!(outbox.state, telederm_store::OutboxState::Sent);
        assert_eq!(outbox.provider_reference.as_deref(), Some("8a1b4c5d-0000-4000-8000-000000000001"));
    }
    assert!(count(telederm_store::JobState::Queued) >= 1, "the rest wait for the next start: {counts:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_gov_uk_notify_a_patient_without_email_gets_a_text_message() {
    let (base, _, requests) = notify_standin(Duration::ZERO).await;
    let id = "f33517ff-2a88-4f6e-b855-c550268ce08a";
    let email: Vec<String> = ["patient_referral_sent", "consultant_case_assigned", "sla_due_tomorrow", "sla_due_today", "sla_breached"]
        .iter()
        .map(|t| format!("{t}={id}"))
        .collect();
    let sms = "patient_referral_sent=0d3c1a2b-0000-4000-8000-00000000abcd";
    let tmp = tempfile::tempdir().unwrap();
    let key = "telederm_test-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0";
    let server = Server::start(
        "demo",
        tmp.path(),
        &[
            ("TELEDERM_NOTIFY_API_KEY", key),
            ("TELEDERM_NOTIFY_BASE_URL", &base),
            ("TELEDERM_NOTIFY_EMAIL_TEMPLATES", &email.join(",")),
            ("TELEDERM_NOTIFY_SMS_TEMPLATES", sms),
            ("TELEDERM_WORKER_POLL_MS", "100"),
        ],
    )
    .await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let mut patient = common::patient("1980-05-17");
    patient["contact"] = json!({"phone": "07700 900123"});
    let (s, b) = gp.patch(&format!("/referrals/{id}"), &json!({"patient": patient})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let sms_request = loop {
        let found = requests.lock().unwrap().iter().find(|r| r.starts_with("POST /v2/notifications/sms")).cloned();
        if let Some(r) = found {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "no text message was sent: {:?}", requests.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let lower = sms_request.to_ascii_lowercase();
    assert!(lower.contains("authorization: bearer "), "a signed request: {sms_request}");
    let body: serde_json::Value = serde_json::from_str(sms_request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["phone_number"], "07700 900123");
    assert_eq!(body["template_id"], "0d3c1a2b-0000-4000-8000-00000000abcd");
    let link = body["personalisation"]["link"].as_str().expect("only a link is personalised").to_string();
    assert_eq!(body["personalisation"].as_object().unwrap().len(), 1, "only a link is personalised: {body}");
    assert!(link.starts_with(&format!("{}/p/", server.base)), "the text links to the patient's own page: {link}");
    // The link opens the patient's status page after the date of birth, and the GP is not told
    // that the patient cannot be reached.
    let phone = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let page = phone.post(&link).form(&[("dob_day", "17"), ("dob_month", "5"), ("dob_year", "1980")]).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Your request has been sent to a skin specialist"));
    let (_, list) = gp.get("/referrals").await;
    let row = list["referrals"].as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap().clone();
    assert_eq!(row["patient_unreachable"], false, "{row}");
    for r in requests.lock().unwrap().iter() {
        for secret in ["9434765919", "943 476 5919", "Itchy rash", "Lovelace", "Ada"] {
            assert!(!r.contains(secret), "a request to Notify carries {secret:?}: {r}");
        }
    }
}
