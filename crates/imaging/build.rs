//! Locates the SeetaFace frontal model shipped inside the `rustface` crate
//! (BSD-2, 1.2 MB) and copies it into OUT_DIR so it can be embedded with
//! `include_bytes!`. Nothing is downloaded: the file comes from the crate
//! source that cargo already fetched. Also exports RUSTFACE_DIR so tests can
//! use the crate's `test.png` (a real photo with faces) without committing it.
use std::path::{Path, PathBuf};

const MODEL: &str = "model/seeta_fd_frontal_v1.0.bin";

fn from_cargo_home() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let src = home.join("registry").join("src");
    for reg in std::fs::read_dir(src).ok()?.flatten() {
        let p = reg.path().join("rustface-0.1.7");
        if p.join(MODEL).is_file() {
            return Some(p);
        }
    }
    None
}

fn from_cargo_metadata() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO")?;
    let manifest = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR")?).join("Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--manifest-path"])
        .arg(&manifest)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    for p in v["packages"].as_array()? {
        if p["name"] == "rustface" {
            let dir = Path::new(p["manifest_path"].as_str()?).parent()?.to_path_buf();
            if dir.join(MODEL).is_file() {
                return Some(dir);
            }
        }
    }
    None
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let dir = from_cargo_home()
        .or_else(from_cargo_metadata)
        .expect("cannot find the rustface 0.1.7 crate source (model/seeta_fd_frontal_v1.0.bin)");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy(dir.join(MODEL), out.join("seeta_fd_frontal_v1.0.bin")).expect("copy model");
    println!("cargo:rustc-env=RUSTFACE_DIR={}", dir.display());
}
