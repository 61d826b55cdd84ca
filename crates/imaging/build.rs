//! Copies the SeetaFace frontal model shipped with the vendored `rustface` crate
//! (vendor/rustface, BSD-2, 1.2 MB) into OUT_DIR so it can be embedded with `include_bytes!`.
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let model = manifest.join("../../vendor/rustface/model/seeta_fd_frontal_v1.0.bin");
    println!("cargo:rerun-if-changed={}", model.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy(&model, out.join("seeta_fd_frontal_v1.0.bin")).expect("copy the rustface model from vendor/rustface/model");
}
