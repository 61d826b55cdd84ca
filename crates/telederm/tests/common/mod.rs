//! Test harness: runs the real `telederm` binary on a free loopback port with a fresh data
//! directory, and signs in over HTTP like any client.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::Value;

pub struct Server {
    pub base: String,
    pub data_dir: PathBuf,
    child: Child,
    _tmp: Option<tempfile::TempDir>,
}

/// A loopback port no other test process holds. nextest runs each test in its own process, and a
/// port the kernel hands out for `:0` is released before the server binds it, so another test (or
/// any outgoing connection) could take it in between and this test would talk to the wrong server.
/// Ports come from below the kernel's ephemeral range (so no outgoing connection is given one), and
/// each is claimed by a lock file held until this test process exits.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("telederm-test-ports");
    std::fs::create_dir_all(&dir).expect("port lock directory");
    let seed = std::process::id() as u64 ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for attempt in 0..2000u64 {
        let port = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(7919)) % 12_000) as u16;
        let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(port.to_string())).expect("port lock file");
        if lock.try_lock().is_err() {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            HELD.lock().unwrap().push(lock);
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}

impl Server {
    /// `telederm demo` on a fresh data directory: a copy of one the demo seeded (see
    /// [`demo_template`]), so each test starts from the same demo data without paying for the
    /// seeding (about 10 s of photo processing in a debug build) again.
    pub async fn demo() -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        copy_dir(&demo_template().await, &dir);
        let mut s = Server::start("demo", &dir, &[]).await;
        s._tmp = Some(tmp);
        s
    }

    /// `telederm demo` on a fresh data directory, with extra environment.
    pub async fn demo_with(env: &[(&str, &str)], port: Option<u16>) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let mut s = Server::start_on("demo", &dir, env, port.unwrap_or_else(free_port)).await;
        s._tmp = Some(tmp);
        s
    }

    pub async fn start(command: &str, data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_with(command, data_dir, env, Stdio::inherit()).await
    }

    /// [`Server::start`] with the server's stderr (its logs) sent to `stderr`, e.g. a file.
    pub async fn start_with(command: &str, data_dir: &Path, env: &[(&str, &str)], stderr: Stdio) -> Server {
        Server::start_on_with(command, data_dir, env, free_port(), stderr).await
    }

    /// [`Server::start`] on a given port (for tests that must know it before the server starts).
    pub async fn start_on(command: &str, data_dir: &Path, env: &[(&str, &str)], port: u16) -> Server {
        Server::start_on_with(command, data_dir, env, port, Stdio::inherit()).await
    }

    pub async fn start_on_with(command: &str, data_dir: &Path, env: &[(&str, &str)], port: u16, stderr: Stdio) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
        cmd.arg(command)
            .env("TELEDERM_DATA_DIR", data_dir)
            .env("TELEDERM_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start telederm");
        let mut server = Server { base: format!("http://127.0.0.1:{port}"), data_dir: data_dir.to_path_buf(), child, _tmp: None };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = Client::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("telederm exited ({status}) before answering /healthz on {}", self.base);
            }
            if let Ok(r) = client.get(format!("{}/healthz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("telederm did not answer /healthz within 60 s");
    }

    /// Demo passwords by role, read from the credentials file the demo writes.
    pub fn demo_credentials(&self) -> HashMap<String, (String, String)> {
        let text = std::fs::read_to_string(self.data_dir.join("demo-credentials.txt")).expect("demo credentials");
        text.lines()
            .filter_map(|l| {
                let parts: Vec<&str> = l.split_whitespace().collect();
                (parts.len() == 3).then(|| (parts[0].to_string(), (parts[1].to_string(), parts[2].to_string())))
            })
            .collect()
    }

    /// A client signed in as the demo user with this role.
    pub async fn sign_in_as(&self, role: &str) -> Api {
        let (email, password) = self.demo_credentials().get(role).cloned().expect("demo role");
        self.sign_in(&email, &password).await
    }

    /// A client signed in with this email and password.
    pub async fn sign_in(&self, email: &str, password: &str) -> Api {
        let role = email;
        let api = self.anonymous();
        let r = api.post("/auth/sign-in", &serde_json::json!({"email": email, "password": password})).await;
        assert_eq!(r.0, StatusCode::OK, "sign-in as {role}: {}", r.1);
        api
    }

    /// Runs a `telederm` command on this server's data directory; returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
        cmd.args(args).env("TELEDERM_DATA_DIR", &self.data_dir).env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run telederm");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    pub fn anonymous(&self) -> Api {
        Api { base: format!("{}/api/v1", self.base), client: Client::builder().cookie_store(true).build().expect("client") }
    }

    /// Asks the server to stop (SIGTERM, as a service manager would) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        self.child.wait().expect("wait for telederm")
    }

    /// The server's process id (its worker names in the jobs table are `host:PID/N`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server the hard way (as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A data directory `telederm demo` seeded and then stopped, shared by the tests of one build of
/// the binary on one UTC day (nextest runs each test in its own process: the first makes it under
/// a file lock, the others wait and reuse it). The demo dates its cases from the moment it seeds,
/// so a template from another day is never reused.
async fn demo_template() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_telederm"));
    let meta = std::fs::metadata(bin).expect("telederm binary");
    let built = meta.modified().expect("binary mtime").duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let root = std::env::temp_dir().join("telederm-demo-templates");
    std::fs::create_dir_all(&root).expect("template directory");
    let dir = root.join(format!("{built}-{}-{day}", meta.len()));
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(root.join("lock")).expect("template lock");
    lock.lock().expect("lock the demo template");
    if !dir.join("ready").exists() {
        let partial = root.join(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).expect("template data directory");
        let mut seeding = Server::start("demo", &partial, &[]).await;
        let status = seeding.terminate();
        assert!(status.success(), "the demo that seeds the template stopped with {status}");
        std::fs::write(partial.join("ready"), "").expect("mark the template ready");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&partial, &dir).expect("move the template into place");
        // Templates of earlier builds: kept a day (another checkout's tests may be copying one).
        for old in std::fs::read_dir(&root).expect("read template directory").flatten() {
            let age = old.metadata().and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok());
            if old.path() != dir && old.file_type().is_ok_and(|t| t.is_dir()) && age.is_some_and(|a| a > Duration::from_secs(86_400)) {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
    }
    drop(lock);
    dir
}

/// Copies a directory tree (files and directories only: a data directory has nothing else).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    for entry in std::fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "ready" {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

pub struct Api {
    pub base: String,
    pub client: Client,
}

pub type Resp = (StatusCode, Value);

async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

impl Api {
    pub async fn get(&self, path: &str) -> Resp {
        into_resp(self.client.get(format!("{}{path}", self.base)).send().await.expect("GET")).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        into_resp(self.client.post(format!("{}{path}", self.base)).json(body).send().await.expect("POST")).await
    }
    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        into_resp(self.client.patch(format!("{}{path}", self.base)).json(body).send().await.expect("PATCH")).await
    }
    pub async fn upload(&self, referral: &str, kind: &str, bytes: Vec<u8>) -> Resp {
        let form = reqwest::multipart::Form::new()
            .text("kind", kind.to_string())
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg"));
        into_resp(self.client.post(format!("{}/referrals/{referral}/photos", self.base)).multipart(form).send().await.expect("upload")).await
    }
}

/// A generated phone-style photo of skin.
pub fn photo(seed: u64, defocus: f32) -> Vec<u8> {
    use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};
    jpeg(&render(&Scene { width: 1600, height: 1200, seed, defocus, ..Scene::default() }), JpegOpts::default())
}

// ------------------------------------------------------------ a clock of the test's choosing

/// libfaketime's preload library, installed by `scripts/test-services.sh faketime` if missing.
pub fn libfaketime() -> String {
    let find = || glob_libfaketime().into_iter().next().map(|p| p.display().to_string());
    if let Some(p) = find() {
        return p;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = std::process::Command::new("bash").arg(root.join("scripts/test-services.sh")).arg("faketime").status().expect("run test-services.sh");
    assert!(status.success(), "scripts/test-services.sh faketime failed");
    find().expect("libfaketime.so.1 after installing faketime")
}

fn glob_libfaketime() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in ["/usr/lib", "/usr/lib64", "/usr/local/lib"] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            for candidate in [e.path().join("faketime/libfaketime.so.1"), e.path().join("libfaketime.so.1")] {
                if candidate.is_file() {
                    found.push(candidate);
                }
            }
        }
        let direct = Path::new(dir).join("faketime/libfaketime.so.1");
        if direct.is_file() {
            found.push(direct);
        }
    }
    found
}

/// The environment that runs a process with its clock starting at `at` ("YYYY-MM-DD hh:mm:ss",
/// UTC) and running on from there: what `faketime 'at' CMD` sets up.
pub fn clock_at(lib: &str, at: &str) -> Vec<(&'static str, String)> {
    vec![("LD_PRELOAD", lib.to_string()), ("FAKETIME", format!("@{at}")), ("TZ", "UTC".into())]
}

pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

// ------------------------------------------------------------ referral helpers shared by the journeys

pub fn patient(dob: &str) -> Value {
    serde_json::json!({
        "nhs_number": "943 476 5919", "given_name": "Ada", "family_name": "Lovelace",
        "date_of_birth": dob, "sex": "female", "postcode": "E8 1DY",
        "contact": {"email": "ada@example.org"}
    })
}

pub fn answers(dob: &str, overrides: Value) -> Value {
    let mut a = serde_json::json!({
        "referral_date": chrono::Utc::now().date_naive().to_string(),
        "patient": {"date_of_birth": dob, "postcode": "E8 1DY"},
        "condition": "rash", "lesion_count": 0, "body_sites": ["arm"],
        "meets_2ww_criteria": false, "extreme_psychological_distress": false, "widespread": false,
        "severe_or_systemic_or_urgent": false, "imaging_practical": true, "safeguarding_concerns": false,
        "has_capacity_to_consent": true, "best_interests_referral": false, "consent_given": true,
        "known_chronic_inflammatory_condition": false, "face_identifiable_in_images": false,
        "dermoscopic_images": false, "images_taken_by": "clinician", "seen_face_to_face": true
    });
    if let (Some(a), Some(o)) = (a.as_object_mut(), overrides.as_object()) {
        for (k, v) in o {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

/// The body of `POST /referrals` for a complete draft (history, consent, eligibility answers).
pub fn draft_body(service: &str, route: &str, overrides: Value) -> Value {
    let dob = "1980-05-17";
    serde_json::json!({
        "service_id": service, "route": route, "priority": "routine",
        "patient": patient(dob),
        "history": {"presenting_complaint": "Itchy rash on the forearm", "duration": "3 months",
                    "body_sites": ["arm"], "treatments_tried": "Emollients", "relevant_history": "",
                    "medication": "None", "allergies": "NKDA"},
        "consent": {"given_by": "patient", "method": "verbal", "direct_care": true, "teaching": false, "research": false},
        "eligibility_answers": answers(dob, overrides),
    })
}

/// Creates a complete draft with the three photos the service asks for.
pub async fn complete_draft(gp: &Api, service: &str, route: &str, overrides: Value) -> String {
    let (status, body) = gp.post("/referrals", &draft_body(service, route, overrides)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "draft");
    let id = body["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (status, p) = gp.upload(&id, kind, photo(i as u64 + 1, 0.0)).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        assert_eq!(p["kind"], kind);
        assert!(p["report"]["verdict"].is_string(), "each photo's verdict comes back at once: {p}");
    }
    id
}

/// rustface's own test photo (a group of people), from the cargo registry the imaging crate's
/// build already reads it from, cropped as in `crates/imaging/tests/intake.rs` and scaled up so
/// it passes the resolution check: faces are about a tenth of the frame, as in a locator shot.
pub fn photo_with_faces() -> Vec<u8> {
    let home = std::env::var_os("CARGO_HOME").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cargo")
    });
    let src = home.join("registry/src");
    let path = std::fs::read_dir(&src)
        .expect("cargo registry")
        .flatten()
        .flat_map(|reg| std::fs::read_dir(reg.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("rustface-")))
        .map(|p| p.join("test.png"))
        .find(|p| p.is_file())
        .expect("rustface's test.png in the cargo registry");
    let group = image::open(path).expect("rustface test.png").to_rgb8();
    let crop = image::imageops::crop_imm(&group, 200, 60, 480, 360).to_image();
    let big = image::imageops::resize(&crop, 960, 720, image::imageops::FilterType::Triangle);
    let mut out = std::io::Cursor::new(Vec::new());
    big.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The PDF's text as poppler's `pdftotext` reads it (installed by `scripts/ensure-poppler.sh`).
pub fn pdf_text(pdf: &[u8]) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(std::process::Command::new("bash").arg(root.join("scripts/ensure-poppler.sh")).status().unwrap().success());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").arg(&path).arg("-").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A small valid PDF (written here, not by Telederm) (one A4 page, Helvetica) showing `lines`, with a correct cross-reference
/// table, for document uploads.
pub fn sample_pdf(lines: &[&str]) -> Vec<u8> {
    let escape = |s: &str| s.replace('\\', "\\\\").replace('(', "\\(").replace(')', "\\)");
    let mut content = String::from("BT /F1 12 Tf 72 770 Td 16 TL\n");
    for l in lines {
        content.push_str(&format!("({}) Tj T*\n", escape(l)));
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}
