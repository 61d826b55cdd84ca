//! The clinical safety case's promise (issue 13): every software control in
//! `docs/clinical-safety/hazard-log.md` names the test that proves it, and that test exists. The
//! Evidence column names files in backticks followed by their tests: Rust test functions in
//! backticks, browser journeys (`.mjs`) by their quoted titles. A named test that is renamed or
//! deleted fails here, so the log cannot point at evidence that is gone.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The log's hazard rows: (id, evidence cell).
fn rows(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter(|l| l.starts_with("| H"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].to_string(), cells.last().unwrap_or(&"").to_string())
        })
        .collect()
}

/// (file, test) pairs named in an evidence cell.
fn named_tests(cell: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut file: Option<String> = None;
    let mut rest = cell;
    loop {
        // The next backticked or quoted token, whichever comes first.
        let tick = rest.find('`');
        let quote = rest.find('"');
        match (tick, quote) {
            (Some(t), q) if q.is_none_or(|q| t < q) => {
                let after = &rest[t + 1..];
                let Some(end) = after.find('`') else { break };
                let token = &after[..end];
                if token.ends_with(".rs") || token.ends_with(".mjs") {
                    file = Some(token.to_string());
                } else if let Some(f) = &file
                    && f.ends_with(".rs")
                    && !token.is_empty()
                    && token.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                {
                    out.push((f.clone(), token.to_string()));
                }
                rest = &after[end + 1..];
            }
            (_, Some(q)) => {
                let after = &rest[q + 1..];
                let Some(end) = after.find('"') else { break };
                if let Some(f) = &file
                    && f.ends_with(".mjs")
                {
                    out.push((f.clone(), after[..end].to_string()));
                }
                rest = &after[end + 1..];
            }
            _ => break,
        }
    }
    out
}

#[test]
fn every_control_names_tests_that_exist() {
    let log = std::fs::read_to_string(root().join("docs/clinical-safety/hazard-log.md")).expect("the hazard log");
    let rows = rows(&log);
    assert!(rows.len() >= 12, "the log covers at least the issue's hazards: {} rows", rows.len());
    let mut missing = Vec::new();
    for (id, evidence) in &rows {
        let tests = named_tests(evidence);
        if tests.is_empty() {
            missing.push(format!("{id}: names no test"));
        }
        for (file, test) in tests {
            let Ok(text) = std::fs::read_to_string(root().join(&file)) else {
                missing.push(format!("{id}: {file} does not exist"));
                continue;
            };
            let found = if file.ends_with(".rs") {
                text.contains(&format!("fn {test}("))
            } else {
                let single = test.replace('\'', "\\'");
                text.contains(&format!("test('{single}'")) || text.contains(&format!("test(\"{test}\"")) || text.contains(&format!("test(`{test}`"))
            };
            if !found {
                missing.push(format!("{id}: no test `{test}` in {file}"));
            }
        }
    }
    assert!(missing.is_empty(), "the hazard log names evidence that is not there:\n{}", missing.join("\n"));
}

#[test]
fn the_parser_reads_rust_and_browser_evidence() {
    let cell = "`crates/a.rs`: `one_test`, `two`; `e2e/t.mjs`: \"a journey\", \"another\" (and `not_a_file_test` after)";
    assert_eq!(
        named_tests(cell),
        [
            ("crates/a.rs".to_string(), "one_test".to_string()),
            ("crates/a.rs".to_string(), "two".to_string()),
            ("e2e/t.mjs".to_string(), "a journey".to_string()),
            ("e2e/t.mjs".to_string(), "another".to_string()),
        ]
    );
}
