//! The CLI contracts of `telederm eligibility|sla|nhs-number|services`, run as a real process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn telederm(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telederm"));
    cmd.args(args).env_remove("TELEDERM_SERVICES_DIR").env_remove("TELEDERM_BANK_HOLIDAYS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run telederm")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("telederm-cli-rules-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn answers() -> Value {
    json!({
        "referral_date": "2026-03-02",
        "patient": {"date_of_birth": "2016-06-01", "postcode": "WD17 1AB"},
        "condition": "rash",
        "lesion_count": 0,
        "body_sites": ["arm"],
        "meets_2ww_criteria": false,
        "extreme_psychological_distress": false,
        "widespread": false,
        "severe_or_systemic_or_urgent": false,
        "imaging_practical": true,
        "safeguarding_concerns": false,
        "has_capacity_to_consent": true,
        "best_interests_referral": false,
        "consent_given": true,
        "known_chronic_inflammatory_condition": false,
        "face_identifiable_in_images": false,
        "dermoscopic_images": false,
        "images_taken_by": "clinician",
        "seen_face_to_face": true
    })
}

fn services_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services")
}

#[test]
fn eligibility_check_prints_the_decision_and_exits_0_whatever_it_is() {
    let dir = Scratch::new("elig");
    let mut child_face = answers();
    child_face["face_identifiable_in_images"] = json!(true);
    let mut two_week_wait = answers();
    two_week_wait["meets_2ww_criteria"] = json!(true);
    let cases = [
        ("west-herts-paediatric", answers(), "eligible", vec![]),
        ("homerton", child_face, "excluded", vec!["child_face_identifiable"]),
        ("hackney-rash", two_week_wait, "redirect_2ww", vec!["two_week_wait"]),
    ];
    for (service, body, decision, codes) in cases {
        let file = dir.write(&format!("{service}.json"), &body.to_string());
        let out = telederm(&["eligibility", "check", "--service", service, &file], &[]);
        assert_eq!(out.status.code(), Some(0), "{service}: {}", stderr(&out));
        let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(v["service"], service);
        assert_eq!(v["decision"], decision);
        let got: Vec<&str> = v["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
        assert_eq!(got, codes);
        assert!(v["warnings"].is_array());
    }
    // The Homerton reason quotes seed 000.
    let mut body = answers();
    body["body_sites"] = json!(["genital"]);
    let file = dir.write("genital.json", &body.to_string());
    let out = telederm(&["eligibility", "check", "--service", "homerton", &file], &[]);
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["reasons"][0]["message"], "Breast, perianal and genital rashes or lesions");
}

#[test]
fn eligibility_check_exits_2_for_bad_input_or_unknown_service() {
    let dir = Scratch::new("elig-bad");
    let good = dir.write("good.json", &answers().to_string());
    let mut unknown_field = answers();
    unknown_field["colour"] = json!("red");
    let unknown_field = dir.write("unknown.json", &unknown_field.to_string());
    let mut wrong_type = answers();
    wrong_type["consent_given"] = json!("yes");
    let wrong_type = dir.write("wrong.json", &wrong_type.to_string());
    let not_json = dir.write("not.json", "{ this is not json");
    let missing = dir.0.join("missing.json").to_str().unwrap().to_owned();
    let cases = [
        (vec!["--service", "homerton", missing.as_str()], "unreadable_input"),
        (vec!["--service", "homerton", not_json.as_str()], "invalid_json"),
        (vec!["--service", "homerton", unknown_field.as_str()], "colour"),
        (vec!["--service", "homerton", wrong_type.as_str()], "consent_given"),
        (vec!["--service", "no-such-service", good.as_str()], "unknown_service"),
    ];
    for (args, needle) in cases {
        let mut full = vec!["eligibility", "check"];
        full.extend(args);
        let out = telederm(&full, &[]);
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        assert!(stdout(&out).is_empty(), "{full:?}");
        assert!(stderr(&out).contains(needle), "{full:?}: {}", stderr(&out));
    }
}

#[test]
fn services_come_from_the_environment_directory_when_set() {
    let dir = Scratch::new("services-env");
    let west = std::fs::read_to_string(services_dir().join("west-herts-paediatric.toml")).unwrap();
    // A deployment widens the age range to under 18.
    dir.write("west-herts-paediatric.toml", &west.replace("under_years = 16", "under_years = 18"));
    let services = dir.0.to_str().unwrap();
    let mut sixteen = answers();
    sixteen["patient"]["date_of_birth"] = json!("2010-01-01");
    let file = dir.write("sixteen.json", &sixteen.to_string());
    let builtin = telederm(&["eligibility", "check", "--service", "west-herts-paediatric", &file], &[]);
    let v: Value = serde_json::from_str(&stdout(&builtin)).unwrap();
    assert_eq!(v["decision"], "excluded");
    let edited = telederm(
        &["eligibility", "check", "--service", "west-herts-paediatric", &file],
        &[("TELEDERM_SERVICES_DIR", services)],
    );
    let v: Value = serde_json::from_str(&stdout(&edited)).unwrap();
    assert_eq!(v["decision"], "eligible");
    // Homerton is not in that directory.
    let out = telederm(&["services", "show", "homerton"], &[("TELEDERM_SERVICES_DIR", services)]);
    assert_eq!(out.status.code(), Some(2));

    // A malformed file is refused with file, line and reason.
    dir.write("broken.toml", "id = \"broken\"\nname = 3\n");
    let out = telederm(&["services", "list"], &[("TELEDERM_SERVICES_DIR", services)]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("broken.toml: line 2: invalid type"), "{err}");
}

#[test]
fn sla_due_date_prints_the_working_day() {
    let cases: [(&[&str], &str); 5] = [
        (&["--received", "2026-03-02T09:00:00Z", "--working-days", "3"], "2026-03-05"),
        (&["--received", "2026-04-02T10:00:00+01:00", "--working-days", "2"], "2026-04-08"),
        (&["--received", "2026-06-30T23:30:00Z", "--working-days", "1"], "2026-07-02"),
        (&["--received", "2025-12-24T10:00:00Z", "--service", "homerton"], "2025-12-31"),
        (&["--received", "2026-04-02T15:00:00+01:00", "--service", "clinical-partnership"], "2026-04-09"),
    ];
    for (args, due) in cases {
        let mut full = vec!["sla", "due-date"];
        full.extend_from_slice(args);
        let out = telederm(&full, &[]);
        assert_eq!(out.status.code(), Some(0), "{full:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("{due}\n"), "{full:?}");
        assert!(!stderr(&out).contains("provisional"), "{full:?}");
    }
}

#[test]
fn sla_due_date_past_the_data_follows_the_statutory_rules_and_says_provisional() {
    // Thursday 30 December 2027 + 3: Friday 31st, then Monday 3 January 2028 (New Year's Day
    // substitute) is skipped: Tuesday 4th, Wednesday 5th.
    let out = telederm(&["sla", "due-date", "--received", "2027-12-30T09:00:00Z", "--working-days", "3"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "2028-01-05\n");
    assert!(stderr(&out).contains("provisional"), "{}", stderr(&out));
}

#[test]
fn sla_due_date_refuses_bad_input_and_dates_before_the_data() {
    let cases: [(&[&str], &str); 4] = [
        (&["--received", "2 March 2026", "--working-days", "3"], "invalid_received"),
        (&["--received", "2024-12-30T09:00:00Z", "--working-days", "3"], "calendar_out_of_range"),
        (&["--received", "2026-03-02T09:00:00Z", "--service", "nope"], "unknown_service"),
        (&["--received", "2026-03-02T09:00:00Z", "--working-days", "0"], "zero_working_days"),
    ];
    for (args, needle) in cases {
        let mut full = vec!["sla", "due-date"];
        full.extend_from_slice(args);
        let out = telederm(&full, &[]);
        assert_eq!(out.status.code(), Some(2), "{full:?}");
        assert!(stderr(&out).contains(needle), "{full:?}: {}", stderr(&out));
    }
    // Neither or both of --working-days and --service is a usage error.
    for args in [
        vec!["sla", "due-date", "--received", "2026-03-02T09:00:00Z"],
        vec!["sla", "due-date", "--received", "2026-03-02T09:00:00Z", "--working-days", "2", "--service", "homerton"],
    ] {
        assert_eq!(telederm(&args, &[]).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn sla_uses_the_bank_holiday_file_from_the_environment() {
    let dir = Scratch::new("holidays");
    let file = dir.write(
        "bank-holidays.json",
        r#"{"england-and-wales": {"division": "england-and-wales", "events": [
            {"title": "New Year’s Day", "date": "2028-01-03", "notes": "Substitute day", "bunting": true}]}}"#,
    );
    let env = [("TELEDERM_BANK_HOLIDAYS", file.as_str())];
    let out = telederm(&["sla", "due-date", "--received", "2027-12-31T10:00:00Z", "--working-days", "1"], &env);
    // 31 Dec 2027 is before this file's data (which starts in 2028).
    assert_eq!(out.status.code(), Some(2));
    let out = telederm(&["sla", "due-date", "--received", "2028-01-01T10:00:00Z", "--working-days", "1"], &env);
    assert_eq!(stdout(&out), "2028-01-04\n");
    let bad = dir.write("bad.json", "{}");
    let out = telederm(
        &["sla", "due-date", "--received", "2026-03-02T09:00:00Z", "--working-days", "1"],
        &[("TELEDERM_BANK_HOLIDAYS", bad.as_str())],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("england-and-wales"), "{}", stderr(&out));
}

#[test]
fn nhs_number_check_exit_codes() {
    for (input, normalised) in [("9434765919", "9434765919"), ("943 476 5919", "9434765919"), ("943-476-5919", "9434765919")] {
        let out = telederm(&["nhs-number", "check", input], &[]);
        assert_eq!(out.status.code(), Some(0), "{input}");
        assert_eq!(stdout(&out), format!("{normalised}\n"));
    }
    for (input, code) in [
        ("9434765918", "nhs_number_check_digit_mismatch"),
        ("1234567890", "nhs_number_check_digit_ten"),
        ("4444444444", "nhs_number_repeated_digit"),
        ("943476591", "nhs_number_wrong_length"),
        ("94347a5919", "nhs_number_invalid_character"),
    ] {
        let out = telederm(&["nhs-number", "check", input], &[]);
        assert_eq!(out.status.code(), Some(1), "{input}");
        assert!(stdout(&out).is_empty());
        assert!(stderr(&out).contains(code), "{input}: {}", stderr(&out));
    }
}

#[test]
fn services_list_and_show() {
    let out = telederm(&["services", "list"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let ids: Vec<&str> = text.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(ids, ["clinical-partnership", "hackney-rash", "homerton", "nhs-advice-and-guidance", "west-herts-paediatric"]);
    assert!(text.contains("3 working days"));

    let out = telederm(&["services", "show", "west-herts-paediatric"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["id"], "west-herts-paediatric");
    assert_eq!(v["age_range"]["under_years"], 16);
    assert_eq!(v["max_attachment_bytes"], 5_242_880);
    assert!(v["catchment_postcode_districts"].as_array().unwrap().contains(&json!("WD17")));

    let out = telederm(&["services", "show", "nope"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown_service"));
}
