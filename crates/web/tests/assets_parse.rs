//! The site's own scripts parse. A script that does not parse takes every enhancement on every
//! page with it (a merge once dropped a closing brace in `app.mjs`), and only the browser suite
//! would notice: `node --check` says so in a second. Node is installed by the test set-up (the
//! browser suite needs it).

use std::path::Path;
use std::process::Command;

#[test]
fn every_script_the_site_serves_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the assets directory") {
        let path = entry.expect("an asset").path();
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("mjs" | "js")) {
            continue;
        }
        let out = Command::new("node").arg("--check").arg(&path).output().expect("node (installed by scripts/test.sh)");
        assert!(out.status.success(), "{} does not parse:\n{}", path.display(), String::from_utf8_lossy(&out.stderr));
        checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(checked.iter().any(|f| f == "app.mjs"), "app.mjs was checked: {checked:?}");
}
