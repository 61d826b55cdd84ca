//! `telederm image check|prepare` end to end, on generated photos.
use std::path::Path;
use std::process::Command;

use telederm_imaging::synth::{self, JpegOpts, Scene};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_telederm"))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn photo(scene: Scene, o: u16) -> Vec<u8> {
    let up = synth::render(&scene);
    let stored = synth::store_for_orientation(&up, o as u32);
    synth::jpeg(&stored, JpegOpts { exif: Some((o, true)), extras: true, ..Default::default() })
}

#[test]
fn check_json_has_one_object_per_file_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let sharp = write(dir.path(), "sharp.jpg", &photo(Scene { width: 1400, height: 1050, tone: 5, ..Default::default() }, 1));
    let blurred = write(dir.path(), "blurred.jpg", &photo(Scene { width: 1400, height: 1050, defocus: 0.006, ..Default::default() }, 1));
    let rotated = write(dir.path(), "rotated.jpg", &photo(Scene { width: 1400, height: 1050, ..Default::default() }, 6));
    let full = photo(Scene { width: 800, height: 600, ..Default::default() }, 1);
    let truncated = write(dir.path(), "truncated.jpg", &full[..full.len() / 2]);
    let html = write(dir.path(), "photo.jpg", b"<html>not an image</html>");
    let heic = write(dir.path(), "photo.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic");
    let missing = dir.path().join("missing.jpg").display().to_string();

    let out = bin()
        .args(["image", "check", "--json", "--min-short-side", "500"])
        .args([&sharp, &blurred, &rotated, &truncated, &html, &heic, &missing])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON array");
    let a = v.as_array().unwrap();
    assert_eq!(a.len(), 7);
    for o in a {
        for k in ["file", "verdict", "issues", "format", "width", "height", "dermoscopic", "faces", "metadata_removed", "metrics"] {
            assert!(o.get(k).is_some(), "{k} missing in {o}");
        }
    }
    let code0 = |o: &serde_json::Value| o["issues"][0]["code"].as_str().unwrap_or("").to_string();
    assert_eq!(a[0]["file"], sharp.as_str());
    assert_eq!(a[0]["verdict"], "accept", "{}", a[0]);
    assert_eq!(a[1]["verdict"], "reject");
    assert_eq!(code0(&a[1]), "blurred");
    assert!(a[1]["issues"][0]["message"].as_str().unwrap().contains("30 cm"));
    // stored as 1050x1400 pixels with EXIF orientation 6: reported upright
    assert_eq!((a[2]["width"].as_u64(), a[2]["height"].as_u64()), (Some(1400), Some(1050)), "upright dims");
    assert!(a[2]["metadata_removed"].as_array().unwrap().iter().any(|s| s == "location removed"));
    for (i, code) in [(3, "corrupt"), (4, "unsupported_format"), (5, "unsupported_format"), (6, "corrupt")] {
        assert_eq!(a[i]["verdict"], "reject", "{}", a[i]);
        assert_eq!(code0(&a[i]), code, "{}", a[i]);
    }
    assert_eq!(a[5]["format"], "heic");

    // Human-readable mode.
    let out = bin().args(["image", "check", &blurred]).output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("REJECT") && s.contains("blurred"), "{s}");
}

#[test]
fn prepare_writes_clean_upright_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "in.jpg", &photo(Scene { width: 2600, height: 1950, tone: 3, ..Default::default() }, 6));
    let out_dir = dir.path().join("out");
    let out = bin().args(["image", "prepare", &src, "--out"]).arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    // stored as 1950x2600 pixels with EXIF orientation 6: upright is landscape
    assert_eq!((v["report"]["width"].as_u64(), v["report"]["height"].as_u64()), (Some(2600), Some(1950)));
    for (name, long) in [("original.jpg", 2600), ("attachment.jpg", 2600), ("preview.jpg", 2048), ("thumbnail.jpg", 256)] {
        let p = out_dir.join(name);
        let bytes = std::fs::read(&p).unwrap_or_else(|_| panic!("{name} written"));
        for needle in [&b"GPS"[..], b"TestPhone", b"SN-1234567890", b"MOTION-PHOTO", b"Exif\0"] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{name} contains {:?}", String::from_utf8_lossy(needle));
        }
        // The written file is itself a valid photo, with upright (landscape) pixels.
        let c = bin().args(["image", "check", "--json"]).arg(&p).output().unwrap();
        let r: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
        assert_eq!(r[0]["format"], "jpeg", "{name}");
        assert_eq!(r[0]["width"].as_u64(), Some(long), "{name}: {}", r[0]);
        assert!(r[0]["height"].as_u64().unwrap() < long, "{name} landscape");
        assert_eq!(r[0]["metrics"]["exif_orientation"], 1, "{name}");
        let key = name.trim_end_matches(".jpg");
        assert_eq!(v["outputs"][key]["sha256"].as_str().unwrap().len(), 64);
    }
    assert!(std::fs::metadata(out_dir.join("attachment.jpg")).unwrap().len() <= 5_242_880);
}

#[test]
fn prepare_refuses_with_the_error_code() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "x.png", b"GIF89a\x01\x00");
    let out = bin().args(["image", "prepare", &src, "--out"]).arg(dir.path().join("o")).output().unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "corrupt");
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt"));

    let big = write(dir.path(), "big.jpg", &vec![0xFFu8; 2_000_000]);
    let out = bin().args(["image", "prepare", &big, "--max-file-bytes", "1000000", "--out"]).arg(dir.path().join("o")).output().unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "file_too_large");
}
