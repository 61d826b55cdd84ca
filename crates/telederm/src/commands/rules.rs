//! `telederm eligibility|sla|nhs-number|services`: the clinical rules from the command line.
//!
//! Policies come from `TELEDERM_SERVICES_DIR` when set, else the built-in copies; the bank-holiday
//! calendar from the file in `TELEDERM_BANK_HOLIDAYS` when set, else the built-in copy (these
//! commands do not open the database, so a file loaded with `telederm calendar update` is not
//! used here). A due date past the official data follows the statutory rules: it is printed as
//! usual, with a note on stderr that it is provisional.
//! Exit codes: 0 success (whatever an eligibility decision is), 1 an invalid NHS number,
//! 2 unusable input (unreadable or invalid file, unknown service, bad data).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use telederm_domain::calendar::Calendar;
use telederm_domain::eligibility::{EligibilityAnswers, evaluate};
use telederm_domain::nhs_number::NhsNumber;
use telederm_domain::policy::{self, ServicePolicy};

const SERVICES_DIR_ENV: &str = "TELEDERM_SERVICES_DIR";
const BANK_HOLIDAYS_ENV: &str = "TELEDERM_BANK_HOLIDAYS";

#[derive(Subcommand)]
pub enum EligibilityCmd {
    /// Evaluate eligibility answers (a JSON file, or - for stdin) against a service; prints the
    /// decision as JSON and exits 0 whatever the decision.
    Check {
        /// Service id, e.g. homerton (see `telederm services list`).
        #[arg(long)]
        service: String,
        /// The eligibility answers JSON (format in docs/services.md).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum SlaCmd {
    /// Print the due date (YYYY-MM-DD) for something received at a moment.
    DueDate {
        /// Moment of receipt, RFC 3339, e.g. 2026-03-02T09:15:00Z.
        #[arg(long)]
        received: String,
        /// Number of working days.
        #[arg(long, required_unless_present = "service", conflicts_with = "service")]
        working_days: Option<u32>,
        /// Use this service's response target instead of --working-days.
        #[arg(long)]
        service: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum NhsNumberCmd {
    /// Validate an NHS number (Modulus 11); prints the normalised ten digits, or exits 1 with the reason.
    Check {
        /// The number; spaces and hyphens are allowed.
        number: String,
    },
}

#[derive(Subcommand)]
pub enum ServicesCmd {
    /// One line per loaded service: id, routes, conditions, response target, name.
    List,
    /// The full policy of one service, as JSON.
    Show {
        /// Service id.
        id: String,
    },
    /// The onward-services directory (`directory.toml` beside the policies, or the built-in
    /// example entries): one line per entry (id, ODS code, name, provider, what it takes).
    Directory {
        /// Print the directory as JSON instead.
        #[arg(long)]
        json: bool,
    },
}

/// A failure that ends the command with exit code 2.
struct Fail {
    code: &'static str,
    message: String,
}

impl Fail {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

fn finish(result: Result<(), Fail>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            eprintln!("error [{}]: {}", fail.code, fail.message);
            ExitCode::from(2)
        }
    }
}

fn load_policies() -> Result<Vec<ServicePolicy>, Fail> {
    match std::env::var_os(SERVICES_DIR_ENV) {
        Some(dir) if !dir.is_empty() => policy::load_dir(Path::new(&dir))
            .map_err(|e| Fail::new(e.code(), format!("{SERVICES_DIR_ENV}: {e}"))),
        _ => Ok(policy::builtin()),
    }
}

fn find_policy(id: &str) -> Result<ServicePolicy, Fail> {
    let policies = load_policies()?;
    policy::find(&policies, id).cloned().ok_or_else(|| {
        let known: Vec<&str> = policies.iter().map(|p| p.id.as_str()).collect();
        Fail::new("unknown_service", format!("no service {id:?}; known services: {}", known.join(", ")))
    })
}

fn load_calendar() -> Result<Calendar, Fail> {
    match std::env::var_os(BANK_HOLIDAYS_ENV) {
        Some(path) if !path.is_empty() => {
            let shown = Path::new(&path).display().to_string();
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Fail::new("bank_holidays_unreadable", format!("{BANK_HOLIDAYS_ENV}={shown}: {e}")))?;
            Calendar::from_json(&text).map_err(|e| Fail::new(e.code(), format!("{shown}: {e}")))
        }
        _ => Ok(Calendar::builtin()),
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), Fail> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Fail::new("internal", e.to_string()))?;
    println!("{text}");
    Ok(())
}

pub fn run_eligibility(cmd: EligibilityCmd) -> ExitCode {
    finish(match cmd {
        EligibilityCmd::Check { service, file } => eligibility_check(&service, &file),
    })
}

fn eligibility_check(service: &str, file: &Path) -> Result<(), Fail> {
    let policy = find_policy(service)?;
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(|e| Fail::new("unreadable_input", format!("stdin: {e}")))?
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| Fail::new("unreadable_input", format!("{}: {e}", file.display())))?
    };
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Fail::new("invalid_json", format!("{}: not valid JSON: {e}", file.display())))?;
    let answers = EligibilityAnswers::from_json(&value)
        .map_err(|e| Fail::new(e.code(), format!("{}: {e}", file.display())))?;
    print_json(&evaluate(&policy, &answers))
}

pub fn run_sla(cmd: SlaCmd) -> ExitCode {
    finish(match cmd {
        SlaCmd::DueDate { received, working_days, service } => due_date(&received, working_days, service.as_deref()),
    })
}

fn due_date(received: &str, working_days: Option<u32>, service: Option<&str>) -> Result<(), Fail> {
    let received: DateTime<Utc> = DateTime::parse_from_rfc3339(received)
        .map_err(|e| {
            Fail::new("invalid_received", format!("--received {received:?} is not RFC 3339 (e.g. 2026-03-02T09:15:00Z): {e}"))
        })?
        .with_timezone(&Utc);
    let n = match (working_days, service) {
        (Some(n), _) => n,
        (None, Some(id)) => find_policy(id)?.response_target_working_days,
        (None, None) => return Err(Fail::new("missing_working_days", "give --working-days N or --service ID")),
    };
    let calendar = load_calendar()?;
    let due = calendar.due_date(received, n).map_err(|e| Fail::new(e.code(), e.to_string()))?;
    println!("{}", due.format("%Y-%m-%d"));
    if calendar.is_provisional(due) {
        eprintln!(
            "note: provisional: {} is past the official bank-holiday data (to {}), so it follows the statutory rules",
            due.format("%Y-%m-%d"),
            calendar.last_day()
        );
    }
    Ok(())
}

pub fn run_nhs_number(cmd: NhsNumberCmd) -> ExitCode {
    match cmd {
        NhsNumberCmd::Check { number } => match NhsNumber::parse(&number) {
            Ok(n) => {
                println!("{}", n.as_digits());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("invalid NHS number [{}]: {e}", e.code());
                ExitCode::from(1)
            }
        },
    }
}

pub fn run_services(cmd: ServicesCmd) -> ExitCode {
    finish(match cmd {
        ServicesCmd::List => services_list(),
        ServicesCmd::Show { id } => find_policy(&id).and_then(|p| print_json(&p)),
        ServicesCmd::Directory { json } => directory_list(json),
    })
}

fn load_directory() -> Result<telederm_domain::directory::Directory, Fail> {
    use telederm_domain::directory::{Directory, FILE_NAME};
    let file = std::env::var_os(SERVICES_DIR_ENV).filter(|d| !d.is_empty()).map(|d| Path::new(&d).join(FILE_NAME)).filter(|p| p.exists());
    match file {
        Some(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| Fail::new("policy_unreadable", format!("{shown}: {e}")))?;
            Directory::from_toml(&shown, &text).map_err(|e| Fail::new(e.code(), e.to_string()))
        }
        None => Ok(Directory::builtin()),
    }
}

fn directory_list(json: bool) -> Result<(), Fail> {
    let directory = load_directory()?;
    if json {
        return print_json(&directory);
    }
    let width = directory.services.iter().map(|e| e.id.len()).max().unwrap_or(0);
    for e in &directory.services {
        let example = if e.example { "  (example entry)" } else { "" };
        println!("{:width$}  {:6}  {}, {}: {}{example}", e.id, e.ods_code, e.name, e.provider, e.takes);
    }
    Ok(())
}

fn services_list() -> Result<(), Fail> {
    let policies = load_policies()?;
    let width = policies.iter().map(|p| p.id.len()).max().unwrap_or(0);
    for p in &policies {
        // The serde names (`advice_and_guidance`, `ras`) are the stable spelling of a route.
        let routes: Vec<String> = p
            .routes
            .iter()
            .map(|r| serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
            .collect();
        let conditions: Vec<&str> = p.conditions.iter().map(|c| c.as_str()).collect();
        let agreed: Vec<String> = p.practice_response_targets.iter().map(|t| format!("{}={}", t.ods_code, t.working_days)).collect();
        let agreed = if agreed.is_empty() { String::new() } else { format!(" (practices: {})", agreed.join(",")) };
        println!(
            "{:width$}  {:23}  {:11}  {} working days{agreed}  {}",
            p.id,
            routes.join(","),
            conditions.join(","),
            p.response_target_working_days,
            p.name,
        );
    }
    Ok(())
}
