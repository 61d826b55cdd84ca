//! Real services for tests (behind the `testkit` feature): throwaway SQLite files and PostgreSQL
//! databases, an S3-protocol server and an SMTP server on loopback. Everything started here is
//! stopped or dropped when its guard is dropped, also when a test panics.
//!
//! The servers come from `scripts/test-services.sh`, which starts PostgreSQL if it is not running
//! and installs moto's S3 server and aiosmtpd into a venv (under `$TELEDERM_TEST_TOOLS`, default
//! `~/.cache/telederm-test-tools`) the first time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::blobs::{BlobStore, S3Settings};
use crate::{Dialect, Store};

/// The workspace's root directory (where `scripts/` lives).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Runs `scripts/test-services.sh WHAT` and returns its last line of output.
pub fn run_services_script(what: &str) -> String {
    let script = workspace_root().join("scripts/test-services.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(what)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(out.status.success(), "{} {what} failed", script.display());
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string()
}

/// The venv's `bin` directory holding `moto_server` and `aiosmtpd`, installed on first use.
pub fn python_tools_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| PathBuf::from(run_services_script("python"))).clone()
}

/// The PostgreSQL server's admin URL: `TELEDERM_TEST_POSTGRES_URL`, or the local server.
pub fn postgres_admin_url() -> String {
    std::env::var("TELEDERM_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Makes sure the PostgreSQL server answers, starting the local one if needed.
pub fn ensure_postgres() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let url = url::Url::parse(&postgres_admin_url()).expect("TELEDERM_TEST_POSTGRES_URL is a URL");
        let host = url.host_str().unwrap_or("127.0.0.1").to_string();
        let port = url.port().unwrap_or(5432);
        if TcpStream::connect((host.as_str(), port)).is_err() {
            run_services_script("postgres");
        }
    });
}

/// A free TCP port on loopback (bound and released: good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("{what} did not listen on port {port} within 30 s");
}

/// A database that exists for one test: an SQLite file in a temporary directory, or a fresh
/// PostgreSQL database that is dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    pub url: String,
    pub dialect: Dialect,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub fn sqlite() -> TestDatabase {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("telederm.db").display());
        TestDatabase { url, dialect: Dialect::Sqlite, postgres_name: None, _dir: Some(dir) }
    }

    pub async fn postgres() -> TestDatabase {
        ensure_postgres();
        let name = format!("telederm_test_{}", uuid::Uuid::new_v4().simple());
        let admin = postgres_admin_url();
        let mut conn = connect_admin(&admin).await;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.expect("CREATE DATABASE");
        let mut url = url::Url::parse(&admin).expect("admin URL");
        url.set_path(&name);
        TestDatabase { url: url.to_string(), dialect: Dialect::Postgres, postgres_name: Some(name), _dir: None }
    }

    /// Either kind, by dialect.
    pub async fn new(dialect: Dialect) -> TestDatabase {
        match dialect {
            Dialect::Sqlite => Self::sqlite(),
            Dialect::Postgres => Self::postgres().await,
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }
}

async fn connect_admin(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        if std::env::var_os("TELEDERM_TEST_KEEP_DB").is_some() {
            eprintln!("keeping test database {}", self.url);
            return;
        }
        // Drop may run inside a runtime (or while panicking): use a thread with its own runtime.
        let admin = postgres_admin_url();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let mut conn = connect_admin(&admin).await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// A process killed when the guard drops.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// moto's S3 server on a loopback port, with one bucket created. Stopped on drop.
pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    _process: KillOnDrop,
}

impl S3Server {
    pub fn start() -> S3Server {
        let bin = python_tools_bin().join("moto_server");
        let port = free_port();
        let mut child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        wait_for_port(port, &mut child, "moto_server");
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket: "telederm-test".into(),
            _process: KillOnDrop(child),
        };
        server.create_bucket(&server.bucket);
        server
    }

    /// Creates a bucket with a plain HTTP `PUT /bucket` (object_store does not manage buckets).
    pub fn create_bucket(&self, bucket: &str) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).expect("connect to S3 server");
        write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"), "create bucket: {response}");
    }

    /// Settings for a store under `prefix` in this server's bucket.
    pub fn settings(&self, prefix: &str) -> S3Settings {
        S3Settings {
            bucket: self.bucket.clone(),
            prefix: prefix.to_string(),
            endpoint: Some(self.endpoint.clone()),
            region: "eu-west-2".into(),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            allow_http: true,
        }
    }

    pub fn blob_store(&self, prefix: &str) -> BlobStore {
        BlobStore::s3(self.settings(prefix)).expect("S3 blob store")
    }
}

/// aiosmtpd on a loopback port, saving every message it receives into a maildir. Stopped on drop.
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    maildir: tempfile::TempDir,
    _process: KillOnDrop,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let bin = python_tools_bin().join("aiosmtpd");
        let maildir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut child = Command::new(&bin)
            .args(["-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        wait_for_port(port, &mut child, "aiosmtpd");
        SmtpServer { host: "127.0.0.1".into(), port, maildir, _process: KillOnDrop(child) }
    }

    /// Every message received so far, as raw RFC 5322 text.
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.path().join("mail").join(sub)) else { continue };
            for e in entries.flatten() {
                if let Ok(text) = std::fs::read_to_string(e.path()) {
                    out.push(text);
                }
            }
        }
        out
    }

    /// Waits up to `timeout` for at least `n` messages.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() >= deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A GP practice with one referrer, stored: the smallest world a referral can belong to.
pub struct Practice {
    pub practice: telederm_domain::organisation::Organisation,
    pub gp: telederm_domain::organisation::User,
}

impl Practice {
    /// Stores Mare Street Surgery (F84001) and its GP (gp@example.nhs.uk).
    pub async fn seed(store: &Store) -> Practice {
        use telederm_domain::organisation::{Organisation, OrganisationKind, Role, User};
        use telederm_domain::{OrganisationId, UserId};
        let practice = Organisation {
            id: OrganisationId::new(),
            kind: OrganisationKind::GpPractice,
            ods_code: "F84001".into(),
            name: "Mare Street Surgery".into(),
            services: vec![],
        };
        store.create_organisation(&practice).await.expect("seed practice");
        let gp = User {
            profession: None,
            id: UserId::new(),
            email: "gp@example.nhs.uk".into(),
            display_name: "Dr GP".into(),
            role: Role::Referrer,
            organisation_id: practice.id,
            services: vec![],
        };
        store.create_user(&gp, "not-a-real-hash").await.expect("seed GP");
        Practice { practice, gp }
    }

    /// A draft Homerton RAS referral from this practice for Ada Lovelace (NHS number 943 476 5919,
    /// email ada@example.com), created and updated at `at`; not stored, so a test can change it first.
    pub fn draft(&self, at: chrono::DateTime<chrono::Utc>) -> telederm_domain::referral::Referral {
        use telederm_domain::patient::{Contact, Patient, Sex};
        use telederm_domain::referral::{ClinicalHistory, Priority, Referral, ReferralStatus, Route};
        use telederm_domain::{NhsNumber, ReferralId};
        Referral {
            id: ReferralId::new(),
            service_id: "homerton".into(),
            route: Route::Ras,
            priority: Priority::Routine,
            status: ReferralStatus::Draft,
            practice_id: self.practice.id,
            referrer_id: self.gp.id,
            assignee_id: None,
            patient: Patient {
                nhs_number: NhsNumber::parse("9434765919").expect("valid test NHS number"),
                given_name: "Ada".into(),
                family_name: "Lovelace".into(),
                date_of_birth: chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date"),
                sex: Sex::Female,
                postcode: "E8 1DY".into(),
                contact: Contact { email: Some("ada@example.com".into()), phone: None, ..Default::default() },
                ethnic_category: None,
                fitzpatrick_type: None,
            },
            history: ClinicalHistory::default(),
            consent: None,
            eligibility_answers: None,
            eligibility: None,
            conversion_authorised: false,
            ubrn: None,
            outcome: None,
            created_at: at,
            updated_at: at,
            submitted_at: None,
            due_date: None,
            version: 1,
            patient_answers: None,
        }
    }
}

/// Runs each named test on both databases, as `sqlite::NAME` and `postgres::NAME`. With `store:`
/// each test gets a migrated `&Store` (closed afterwards); without it, the `&TestDatabase` itself
/// on a multi-threaded runtime, for tests that open several stores (several nodes) or need
/// concurrency.
#[macro_export]
macro_rules! on_both_databases {
    (store: $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::testkit::TestDatabase::sqlite();
                    let store = db.store().await;
                    super::$name(&store).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::testkit::TestDatabase::postgres().await;
                    let store = db.store().await;
                    super::$name(&store).await;
                    store.close().await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::testkit::TestDatabase::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::testkit::TestDatabase::postgres().await;
                    super::$name(&db).await;
                }
            )*
        }
    };
}

/// The directory holding PostgreSQL's server programs (`initdb`, `pg_ctl`, `pg_dump`): the
/// newest `/usr/lib/postgresql/N/bin` (Debian's layout), else whatever `PATH` has.
pub fn postgres_bin_dir() -> Option<PathBuf> {
    ensure_postgres();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("pg_ctl").exists())
}

/// A PostgreSQL server of its own (its own data directory and port), so a test can stop and
/// start it without disturbing the shared server other tests use. Made with `initdb` (as the
/// `postgres` user when the tests run as root: PostgreSQL refuses to run as root) and stopped
/// and deleted on drop.
pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
}

impl PrivatePostgres {
    pub fn start() -> PrivatePostgres {
        let bin = postgres_bin_dir().expect("PostgreSQL's programs (initdb, pg_ctl): install postgresql");
        let dir = tempfile::tempdir().expect("temp dir");
        // Running as root (the tests install packages with apt): /proc/self belongs to us.
        let as_postgres = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().expect("chown");
            assert!(ok.success(), "chown the private cluster's directory to postgres");
        }
        let pg = PrivatePostgres { port: free_port(), bin, dir, as_postgres };
        let data = pg.data_dir();
        let out = pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]);
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nmax_connections = 60\nshared_buffers = 16MB\nfsync = on\n",
            pg.port,
            pg.dir.path().display()
        );
        let conf_path = pg.dir.path().join("data/postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).expect("write postgresql.auto.conf");
        pg.start_again();
        pg
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
    }

    /// The admin URL (database `postgres`).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates a database and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        let mut conn = connect_admin(&self.admin_url()).await;
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.expect("CREATE DATABASE");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Stops the server the way an operator's restart does (`pg_ctl stop -m fast`: open
    /// transactions are rolled back, every connection is closed, committed data is kept), and
    /// waits until it has stopped.
    pub fn stop(&self) {
        let data = self.data_dir();
        let out = self.run("pg_ctl", &["stop", "-D", &data, "-m", "fast", "-w", "-t", "30"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data_dir();
        let log = self.dir.path().join("server.log").display().to_string();
        let out = self.run("pg_ctl", &["start", "-D", &data, "-l", &log, "-w", "-t", "30"]);
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run("pg_ctl", &["stop", "-D", &data, "-m", "immediate", "-w", "-t", "30"]);
    }
}

/// A TCP proxy on a loopback port in front of another address, that a test can cut (the port
/// stops listening and every open connection is closed, as when the server behind it stops) and
/// restore (the same port listens again). Runs on the test's tokio runtime.
pub struct TcpProxy {
    pub port: u16,
    target: SocketAddr,
    run: Option<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let mut proxy = TcpProxy { port: free_port(), target, run: None };
        proxy.restore().await;
        proxy
    }

    /// The proxy's address, `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops listening and closes every connection through the proxy.
    pub fn cut(&mut self) {
        if let Some(run) = self.run.take() {
            run.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        self.cut();
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(self.addr()).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                // The aborted listener's socket is closed by the runtime a moment later.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        let listener = listener.unwrap_or_else(|| panic!("the proxy could not listen on port {} again", self.port));
        let target = self.target;
        self.run = Some(tokio::spawn(async move {
            // Connections live in this set: aborting the task drops (closes) all of them.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        conns.spawn(async move {
                            if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        }));
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
