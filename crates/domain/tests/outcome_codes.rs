//! Outcome codes and labels as `docs/outcomes.md` ("Meaning") lists them, read from the document
//! rather than from the code (issue 19: `OutcomeCode::label` returning "" survived every other
//! test under cargo-mutants). NHS numbers print as their ten digits.

use telederm_domain::NhsNumber;
use telederm_domain::outcome::OutcomeCode;

#[test]
fn every_outcome_code_has_the_label_the_document_gives() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/outcomes.md")).unwrap();
    let meaning = &doc[doc.find("## Meaning").expect("a Meaning section")..];
    // Rows of the table: | `code` | Label | Meaning | Needs |
    let rows: Vec<(String, String)> = meaning
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect();
    assert_eq!(rows.len(), OutcomeCode::ALL.len(), "one row per code: {rows:?}");
    for (code, label) in rows {
        let c = OutcomeCode::parse(&code).unwrap_or_else(|| panic!("{code} in docs/outcomes.md is not a code"));
        assert_eq!(c.label(), label, "{code}");
    }
}

#[test]
fn an_nhs_number_prints_as_its_ten_digits() {
    let n = NhsNumber::parse("943 476 5919").unwrap();
    assert_eq!(n.to_string(), "9434765919");
    assert_eq!(format!("{n:?}"), "NhsNumber(9434765919)");
    assert_eq!(n.formatted(), "943 476 5919");
}
