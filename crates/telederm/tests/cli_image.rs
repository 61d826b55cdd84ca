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
    assert!(s.contains("skin-tone band (ITA ") && s.contains("for equity reporting only): "), "{s}");
}

/// A JPEG's bytes up to the end of its first SOS header, and from its last EOI marker on.
fn outside_entropy_data(b: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 2;
    while i + 4 <= b.len() && b[i] == 0xFF {
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        i += 2 + len;
        if b[i - 2 - len + 1] == 0xDA {
            break;
        }
    }
    let eoi = b.windows(2).rposition(|w| w == [0xFF, 0xD9]).unwrap_or(b.len());
    (&b[..i.min(b.len())], &b[eoi.max(i.min(b.len()))..])
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
        // Metadata lives in the segments before the entropy-coded data and after EOI; inside the
        // compressed data any 3 bytes (say "GPS") turn up by chance in about one 2 MB file in 8.
        let (head, tail) = outside_entropy_data(&bytes);
        for needle in [&b"GPS"[..], b"TestPhone", b"SN-1234567890", b"MOTION-PHOTO", b"Exif\0"] {
            for part in [head, tail] {
                assert!(!part.windows(needle.len()).any(|w| w == needle), "{name} contains {:?}", String::from_utf8_lossy(needle));
            }
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

#[test]
fn evaluate_scores_the_gate_against_labels_per_code_and_skin_type() {
    let dir = tempfile::tempdir().unwrap();
    let sc = |tone: usize, defocus: f32| Scene { width: 1400, height: 1050, tone, defocus, ..Default::default() };
    std::fs::create_dir(dir.path().join("photos")).unwrap();
    write(&dir.path().join("photos"), "a.jpg", &photo(sc(5, 0.0), 1)); // sharp, Fitzpatrick VI
    write(&dir.path().join("photos"), "b.jpg", &photo(sc(2, 0.006), 1)); // blurred, III
    write(&dir.path().join("photos"), "c.jpg", &photo(sc(2, 0.0), 1)); // sharp, III
    write(&dir.path().join("photos"), "d.jpg", &photo(sc(1, 0.006), 1)); // blurred, II
    // The labeller agrees on a and b, calls the sharp c blurred (a miss for the gate) and passes
    // the blurred d (a false alarm for the gate).
    let labels = write(
        dir.path(),
        "labels.csv",
        b"file,verdict,issues,skin_type\nphotos/a.jpg,accept,,VI\nphotos/b.jpg,reject,blurred,III\n\"photos/c.jpg\",warn,blurred,III\nphotos/d.jpg,accept,,\n",
    );
    let out = bin().args(["image", "evaluate", "--min-short-side", "500", "--labels", &labels]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "scope,code,files,support,tp,fp,fn,precision,recall,f1");
    // Only `blurred` was labelled or raised: one code row, a macro row and a verdict row per scope.
    assert_eq!(&lines[1..4], ["all,blurred,4,2,1,1,1,0.5,0.5,0.5", "all,macro,4,,,,,,,0.5", "all,verdict,4,4,2,,2,,0.5,"], "{csv}");
    assert_eq!(&lines[4..7], ["skin_type=III,blurred,2,2,1,0,1,1,0.5,0.6667", "skin_type=III,macro,2,,,,,,,0.6667", "skin_type=III,verdict,2,2,1,,1,,0.5,"], "{csv}");
    assert_eq!(&lines[7..10], ["skin_type=VI,blurred,1,0,0,0,0,,,", "skin_type=VI,macro,1,,,,,,,", "skin_type=VI,verdict,1,1,1,,0,,1,"], "{csv}");
    // Then one block per estimated ITA band, lightest first; together they hold every photo.
    let band_rows: Vec<&str> = lines[10..].iter().copied().filter(|l| l.contains(",blurred,")).collect();
    assert!(band_rows.iter().all(|l| l.starts_with("ita_band=")), "{csv}");
    let files: u64 = band_rows.iter().map(|l| l.split(',').nth(2).unwrap().parse::<u64>().unwrap()).sum();
    assert_eq!(files, 4, "{csv}");
    assert_eq!(lines.len(), 10 + 3 * band_rows.len());

    let out = bin().args(["image", "evaluate", "--format", "json", "--min-short-side", "500", "--labels", &labels]).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"], 4);
    let all = &v["scopes"][0];
    assert_eq!(all["scope"], "all");
    assert_eq!((all["verdicts_labelled"].as_u64(), all["verdicts_agreeing"].as_u64()), (Some(4), Some(2)));
    assert_eq!(all["macro_f1"], 0.5);
    assert_eq!(
        all["codes"],
        serde_json::json!([{"code": "blurred", "support": 2, "tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5}])
    );
    assert_eq!(v["scopes"][2]["scope"], "skin_type=VI");
    assert_eq!(v["scopes"][2]["codes"][0]["f1"], serde_json::Value::Null);

    // A label the gate does not know is refused with its line.
    let bad = write(dir.path(), "bad.csv", b"photos/a.jpg,accept,\nphotos/b.jpg,reject,fuzzy\n");
    let out = bin().args(["image", "evaluate", "--labels", &bad]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: unknown issue code `fuzzy`"), "{}", String::from_utf8_lossy(&out.stderr));
    let missing = write(dir.path(), "missing.csv", b"photos/nope.jpg,accept,\n");
    let out = bin().args(["image", "evaluate", "--labels", &missing]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1: no such file"));
}

#[test]
fn check_honours_the_recommended_size() {
    // City & Hackney's "Large" (1632x1224): above its recommended short side (960) it passes;
    // with only a minimum of 640 it draws the "small" warning (recommended = twice the minimum).
    let dir = tempfile::tempdir().unwrap();
    let large = write(dir.path(), "large.jpg", &photo(Scene { width: 1632, height: 1224, tone: 3, ..Default::default() }, 1));
    let run = |extra: &[&str]| {
        let out = bin().args(["image", "check", "--json", "--min-short-side", "640"]).args(extra).arg(&large).output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["issues"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(run(&["--recommended-short-side", "960"]), Vec::<String>::new());
    assert_eq!(run(&[]), vec!["low_resolution".to_string()]);
}
