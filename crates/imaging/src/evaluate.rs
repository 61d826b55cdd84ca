//! Scoring the gate against a service's own labelled photos (`telederm image evaluate`):
//! precision, recall and F1 per issue code, over all photos, per labelled skin type and per
//! estimated ITA band. Pure: the caller reads the files and runs [`crate::check`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{IssueCode, QualityReport, Verdict};

/// One row of the labels file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// 1-based line number in the labels file.
    pub line: usize,
    /// Path as written (relative paths are relative to the labels file).
    pub file: String,
    /// The verdict the labeller expects, when given.
    pub verdict: Option<Verdict>,
    /// Issue codes the labeller found (stable codes, e.g. `blurred`).
    pub issues: Vec<IssueCode>,
    /// Skin type as labelled (e.g. `V` for Fitzpatrick V, `MST8`), when given.
    pub skin_type: Option<String>,
}


/// Splits one CSV line (RFC 4180: fields may be quoted, `""` is a quote inside quotes).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let mut field_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => cur.push(c),
            }
        } else {
            match c {
                '"' if field_start => quoted = true,
                ',' => {
                    out.push(std::mem::take(&mut cur));
                    field_start = true;
                    continue;
                }
                _ => cur.push(c),
            }
        }
        field_start = false;
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

/// Parses the labels file: `file,verdict,issues[,skin_type]`, one photo a line. A first line
/// starting with `file` is a header. `verdict` is `accept`, `warn`, `reject` or empty; `issues`
/// lists issue codes separated by `;`, `|` or spaces (empty = none). Blank lines and lines
/// starting with `#` are skipped. Errors name the line.
pub fn parse_labels(text: &str) -> Result<Vec<Label>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let fields = split_csv(line).map_err(|e| format!("line {line_no}: {e}"))?;
        if out.is_empty() && fields[0].trim().eq_ignore_ascii_case("file") {
            continue;
        }
        if fields.len() < 3 || fields.len() > 4 {
            return Err(format!("line {line_no}: expected 3 or 4 columns (file, verdict, issues[, skin type]), found {}", fields.len()));
        }
        let file = fields[0].trim().to_string();
        if file.is_empty() {
            return Err(format!("line {line_no}: the file column is empty"));
        }
        let verdict = match fields[1].trim().to_ascii_lowercase().as_str() {
            "" => None,
            "accept" => Some(Verdict::Accept),
            "warn" => Some(Verdict::Warn),
            "reject" => Some(Verdict::Reject),
            other => return Err(format!("line {line_no}: unknown verdict `{other}` (accept, warn, reject or empty)")),
        };
        let mut issues = Vec::new();
        for code in fields[2].split([';', '|', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
            let Some(c) = IssueCode::ALL.iter().copied().find(|c| c.as_str() == code) else {
                return Err(format!("line {line_no}: unknown issue code `{code}`"));
            };
            if !issues.contains(&c) {
                issues.push(c);
            }
        }
        let skin_type = fields.get(3).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        out.push(Label { line: line_no, file, verdict, issues, skin_type });
    }
    Ok(out)
}

/// Counts and scores for one issue code within one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeScore {
    pub code: &'static str,
    /// Photos the labeller marked with this code.
    pub support: u64,
    pub tp: u64,
    pub fp: u64,
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// `None` when the gate never raised the code (no denominator).
    pub precision: Option<f64>,
    /// `None` when no photo was labelled with the code.
    pub recall: Option<f64>,
    /// `None` when the code was neither labelled nor raised.
    pub f1: Option<f64>,
}

/// One group of photos: all of them, one labelled skin type, or one estimated ITA band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeScore {
    /// `all`, `skin_type=<as labelled>` or `ita_band=<band>` (`ita_band=unknown` when too little
    /// skin was found to estimate it).
    pub scope: String,
    pub files: u64,
    /// Files with an expected verdict, and how many of them got it.
    pub verdicts_labelled: u64,
    pub verdicts_agreeing: u64,
    /// Mean F1 over the codes that have one (labelled or raised in this scope).
    pub macro_f1: Option<f64>,
    pub codes: Vec<CodeScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub files: u64,
    pub scopes: Vec<ScopeScore>,
}

fn round4(v: f64) -> f64 {
    (v * 10000.0).round() / 10000.0
}

/// Scores `reports` (one per label, same order) against the labels.
pub fn score(pairs: &[(Label, QualityReport)]) -> Evaluation {
    // The codes to score: every code labelled or raised anywhere, in the stable order.
    let codes: Vec<IssueCode> = IssueCode::ALL
        .iter()
        .copied()
        .filter(|c| pairs.iter().any(|(l, r)| l.issues.contains(c) || r.has(*c)))
        .collect();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, (l, r)) in pairs.iter().enumerate() {
        if let Some(t) = &l.skin_type {
            groups.entry(format!("skin_type={t}")).or_default().push(i);
        }
        let band = r.skin_tone_band.map(|b| b.as_str()).unwrap_or("unknown");
        groups.entry(format!("ita_band={band}")).or_default().push(i);
    }
    let all: Vec<usize> = (0..pairs.len()).collect();
    let mut scopes = vec![scope_score("all".into(), &all, pairs, &codes)];
    // Skin types as labelled, then ITA bands from lightest to darkest.
    for (k, idx) in &groups {
        if k.starts_with("skin_type=") {
            scopes.push(scope_score(k.clone(), idx, pairs, &codes));
        }
    }
    for band in crate::ToneBand::ALL.iter().map(|b| b.as_str()).chain(["unknown"]) {
        let k = format!("ita_band={band}");
        if let Some(idx) = groups.get(&k) {
            scopes.push(scope_score(k, idx, pairs, &codes));
        }
    }
    Evaluation { files: pairs.len() as u64, scopes }
}

fn scope_score(scope: String, idx: &[usize], pairs: &[(Label, QualityReport)], codes: &[IssueCode]) -> ScopeScore {
    let mut out = Vec::new();
    for &c in codes {
        let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
        for &i in idx {
            let (l, r) = &pairs[i];
            match (l.issues.contains(&c), r.has(c)) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                (false, false) => {}
            }
        }
        let precision = (tp + fp > 0).then(|| tp as f64 / (tp + fp) as f64);
        let recall = (tp + fn_ > 0).then(|| tp as f64 / (tp + fn_) as f64);
        let f1 = (tp + fp + fn_ > 0).then(|| 2.0 * tp as f64 / (2 * tp + fp + fn_) as f64);
        out.push(CodeScore {
            code: c.as_str(),
            support: tp + fn_,
            tp,
            fp,
            fn_,
            precision: precision.map(round4),
            recall: recall.map(round4),
            f1: f1.map(round4),
        });
    }
    let f1s: Vec<f64> = out.iter().filter_map(|c| c.f1).collect();
    let macro_f1 = (!f1s.is_empty()).then(|| round4(f1s.iter().sum::<f64>() / f1s.len() as f64));
    let labelled: Vec<&usize> = idx.iter().filter(|&&i| pairs[i].0.verdict.is_some()).collect();
    let agreeing = labelled.iter().filter(|&&&i| pairs[i].0.verdict == Some(pairs[i].1.verdict)).count();
    ScopeScore {
        scope,
        files: idx.len() as u64,
        verdicts_labelled: labelled.len() as u64,
        verdicts_agreeing: agreeing as u64,
        macro_f1,
        codes: out,
    }
}

impl Evaluation {
    /// One row per scope and code, plus a `macro` row (F1 only) and a `verdict` row per scope
    /// (`support` = files with an expected verdict, `tp` = those that got it, `recall` = the
    /// share). Empty cells where a figure is undefined.
    pub fn to_csv(&self) -> String {
        let f = |v: Option<f64>| v.map(|x| format!("{x}")).unwrap_or_default();
        let mut s = String::from("scope,code,files,support,tp,fp,fn,precision,recall,f1\n");
        for sc in &self.scopes {
            for c in &sc.codes {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{},{},{}\n",
                    sc.scope,
                    c.code,
                    sc.files,
                    c.support,
                    c.tp,
                    c.fp,
                    c.fn_,
                    f(c.precision),
                    f(c.recall),
                    f(c.f1)
                ));
            }
            s.push_str(&format!("{},macro,{},,,,,,,{}\n", sc.scope, sc.files, f(sc.macro_f1)));
            let agree = (sc.verdicts_labelled > 0).then(|| round4(sc.verdicts_agreeing as f64 / sc.verdicts_labelled as f64));
            s.push_str(&format!(
                "{},verdict,{},{},{},,{},,{},\n",
                sc.scope,
                sc.files,
                sc.verdicts_labelled,
                sc.verdicts_agreeing,
                sc.verdicts_labelled - sc.verdicts_agreeing,
                f(agree)
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_with_header_quotes_and_separators() {
        let t = "file,verdict,issues,skin_type\n\"a, b.jpg\",warn,blurred;underexposed,V\nc.jpg,,, \n# note\n\nd.jpg,accept,\"\"\n";
        let l = parse_labels(t).unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0], Label { line: 2, file: "a, b.jpg".into(), verdict: Some(Verdict::Warn), issues: vec![IssueCode::Blurred, IssueCode::Underexposed], skin_type: Some("V".into()) });
        assert_eq!(l[1], Label { line: 3, file: "c.jpg".into(), verdict: None, issues: vec![], skin_type: None });
        assert_eq!(l[2].line, 6);
        assert_eq!(parse_labels("x.jpg,maybe,").unwrap_err(), "line 1: unknown verdict `maybe` (accept, warn, reject or empty)");
        assert_eq!(parse_labels("x.jpg,warn,fuzzy").unwrap_err(), "line 1: unknown issue code `fuzzy`");
        assert!(parse_labels("x.jpg,warn").unwrap_err().starts_with("line 1: expected 3 or 4 columns"));
    }
}
