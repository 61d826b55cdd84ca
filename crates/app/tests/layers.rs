//! The dependency rules of the architecture, checked over the source:
//!
//! 1. Only the application crate (and the store itself, and tests) calls the store's write
//!    methods: adapters (the web crate, the binary, the FHIR crate) go through `telederm_app`.
//!    The few exceptions are named below with their reason.
//! 2. The application crate does not depend on the web framework (axum only behind its optional
//!    `axum` feature, to render an error) and the domain crate does no I/O.
//! 3. No two modules of one crate import each other, directly or round a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source of a file without its `#[cfg(test)]` module (tests may set up data directly).
fn non_test_source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Store methods that change what is stored.
const STORE_WRITES: &[&str] = &[
    "apply_change",
    "apply_change_with_letters",
    "mark_gp_letter_failed",
    "insert_referral",
    "insert_referral_audited",
    "update_referral",
    "update_referral_notifying",
    "insert_photo",
    "insert_photo_audited",
    "delete_photo",
    "delete_photo_audited",
    "confirm_photo_face",
    "create_patient_link_notifying",
    "record_patient_link_failure",
    "verify_patient_link",
    "take_patient_link_photo",
    "return_patient_link_photo",
    "revoke_patient_link",
    "submit_patient_link",
    "create_organisation",
    "create_organisation_audited",
    "create_user",
    "create_user_audited",
    "set_password_hash",
    "link_identity",
    "insert_outbox",
    "enqueue_notifications",
    "append_audit",
    "rebuild_report_facts",
    "rebuild_report_months",
    "rebuild_name_words",
    // Free functions that write inside an open transaction.
    "create_organisation_in",
    "create_user_in",
    "insert_referral_in",
    "insert_photo_in",
    "add_message_in",
    "insert_import_source_in",
    "append_audit_in",
    "insert_gp_letter_in",
    "insert_document_in",
    "insert_document_audited",
    "delete_document_audited",
];

/// Callers outside the application crate allowed to write, and why. Each entry is a file and the
/// methods it may call.
const ALLOWED: &[(&str, &[&str], &str)] = &[
    ("crates/telederm/src/wiring.rs", &["append_audit"], "the operator's own commands (exports, key rotation, retention) record themselves"),
    // The operator's whole-installation restore (`telederm fhir import`, never over HTTP): it
    // writes what another Telederm exported as it was, in one transaction with its audit entry.
    (
        "crates/fhir/src/store_io.rs",
        &["create_organisation_in", "create_user_in", "insert_referral_in", "insert_photo_in", "insert_document_in", "add_message_in", "append_audit_in"],
        "the operator's restore",
    ),
];

#[test]
fn only_the_application_crate_writes_to_the_store() {
    let root = root();
    let mut files = Vec::new();
    for krate in ["web", "telederm", "fhir", "notify", "imaging", "domain"] {
        rust_files(&root.join("crates").join(krate).join("src"), &mut files);
    }
    let mut offences = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        let src = non_test_source(f);
        for m in STORE_WRITES {
            // Methods are called as `.name(`; the `_in` functions (inside a transaction) as `::name(`.
            let called = src.contains(&format!(".{m}(")) || (m.ends_with("_in") && src.contains(&format!("::{m}(")));
            if !called {
                continue;
            }
            let allowed = ALLOWED.iter().any(|(file, methods, _)| *file == rel && methods.contains(m));
            if !allowed {
                offences.push(format!("{rel} calls Store::{m}: write through a use case in crates/app"));
            }
        }
    }
    assert!(offences.is_empty(), "store writes outside the application layer:\n{}", offences.join("\n"));
}

#[test]
fn the_application_crate_stays_free_of_http_and_the_domain_of_io() {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("crates/app/Cargo.toml")).unwrap();
    let axum_line = manifest.lines().find(|l| l.starts_with("axum = {")).expect("axum is an optional dependency of the app crate");
    assert!(axum_line.contains("optional = true"), "axum must stay optional in crates/app: {axum_line}");
    let mut files = Vec::new();
    rust_files(&root.join("crates/app/src"), &mut files);
    for f in &files {
        let src = non_test_source(f);
        let Some(first) = src.find("axum::") else { continue };
        let gate = src.find("#[cfg(feature = \"axum\")]");
        assert!(
            f.ends_with("error.rs") && gate.is_some_and(|g| g < first),
            "{} uses axum outside the error's rendering behind the `axum` feature",
            f.display()
        );
    }
    let domain = std::fs::read_to_string(root.join("crates/domain/Cargo.toml")).unwrap();
    for io in ["tokio", "sqlx", "reqwest", "axum", "object_store"] {
        assert!(!domain.contains(&format!("\n{io}")), "the domain crate must not depend on {io}");
    }
}

/// A module's name within its crate: `commands::server` for `src/commands/server.rs`.
fn module_of(src_dir: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src_dir).unwrap().with_extension("");
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).filter(|p| *p != "mod" && *p != "lib" && *p != "main").collect();
    parts.join("::")
}

/// The modules a file refers to by `crate::a::b` (the longest known prefix), or `super::x` from a
/// sibling.
fn references(src: &str, this: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let parent: Vec<&str> = this.split("::").collect();
    let mut add = |path: Vec<&str>| {
        for n in (1..=path.len()).rev() {
            let candidate = path[..n].join("::");
            if known.contains(&candidate) {
                if candidate != this && !this.starts_with(&format!("{candidate}::")) {
                    out.insert(candidate);
                }
                return;
            }
        }
    };
    for (i, _) in src.match_indices("crate::") {
        let rest = &src[i + 7..];
        let path: Vec<&str> = rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).next().unwrap_or("").split("::").filter(|s| !s.is_empty()).collect();
        add(path);
    }
    for (i, _) in src.match_indices("super::") {
        if i > 0 && src.as_bytes()[i - 1] == b':' {
            continue;
        }
        let rest = &src[i + 7..];
        let tail: Vec<&str> = rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).next().unwrap_or("").split("::").filter(|s| !s.is_empty()).collect();
        let mut path: Vec<&str> = parent[..parent.len().saturating_sub(1)].to_vec();
        path.extend(tail);
        add(path);
    }
    out
}

fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components; a component of two or more modules is a loop.
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        if let Some(edges) = t.g.get(v) {
            for w in edges {
                let w = w.as_str();
                if !t.g.contains_key(w) {
                    continue;
                }
                if !t.index.contains_key(w) {
                    visit(t, w);
                    let l = t.low[v].min(t.low[w]);
                    t.low.insert(v, l);
                } else if t.on.contains(w) {
                    let l = t.low[v].min(t.index[w]);
                    t.low.insert(v, l);
                }
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T { g: graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), next: 0, out: Vec::new() };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn the_cycle_finder_finds_a_loop() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into();
    assert_eq!(cycles(&g), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let root = root();
    let mut found = Vec::new();
    for krate in ["domain", "imaging", "store", "fhir", "notify", "app", "web", "telederm"] {
        let src_dir = root.join("crates").join(krate).join("src");
        let mut files = Vec::new();
        rust_files(&src_dir, &mut files);
        let known: BTreeSet<String> = files.iter().map(|f| module_of(&src_dir, f)).filter(|m| !m.is_empty()).collect();
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &files {
            let m = module_of(&src_dir, f);
            if m.is_empty() {
                continue;
            }
            let code: String = non_test_source(f).lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            let refs = references(&code, &m, &known);
            // A parent module declaring or re-exporting its children is not a dependency loop.
            let refs = refs.into_iter().filter(|r| !r.starts_with(&format!("{m}::"))).collect();
            graph.insert(m, refs);
        }
        for c in cycles(&graph) {
            found.push(format!("{krate}: {}", c.join(" <-> ")));
        }
    }
    assert!(found.is_empty(), "modules that import each other (move the shared part into its own module):\n{}", found.join("\n"));
}
