//! Fairness benchmark of the photo gate: the tone x lighting x defect set (`synth::fairness_*`),
//! every photo through `check()` as a q92 JPEG, and a per-tone table of false warnings on good
//! photos and detection of each defect.
//!
//! `cargo run --release -p telederm-imaging --example fairness -- [--size WxH] [--seeds N] [--detail]`
//! (`bench/imaging/fairness.sh` runs it). Nothing is written to disk.
use rayon::prelude::*;
use telederm_imaging::synth::{self, CameraExposure, Defect, JpegOpts, Lighting};
use telederm_imaging::{check, IntakeLimits, IssueCode, QualityReport, QualityRequirements};

struct Case {
    tone: usize,
    lighting: Lighting,
    defect: Defect,
    /// `Some(stops)`: the file carries the camera's exposure record, off by `stops`.
    camera: Option<f64>,
    seed: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut size = (1600u32, 1200u32);
    let mut seeds = 1u64;
    let mut detail = false;
    let mut only: Option<Vec<String>> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--size" => {
                let v = args.get(i + 1).and_then(|s| s.split_once('x')).and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
                size = v.unwrap_or_else(|| usage());
                i += 1;
            }
            "--seeds" => {
                seeds = args.get(i + 1).and_then(|s| s.parse().ok()).filter(|&n| n >= 1).unwrap_or_else(|| usage());
                i += 1;
            }
            "--detail" => detail = true,
            "--tones" => {
                only = Some(args.get(i + 1).unwrap_or_else(|| usage()).split(',').map(str::to_string).collect());
                i += 1;
            }
            _ => usage(),
        }
        i += 1;
    }
    let tones: Vec<(String, [f32; 3])> =
        synth::fairness_tones().into_iter().filter(|(n, _)| only.as_ref().is_none_or(|o| o.contains(n))).collect();
    let mut cases = Vec::new();
    for tone in 0..tones.len() {
        for lighting in Lighting::ALL {
            for defect in Defect::ALL {
                for seed in 1..=seeds {
                    cases.push(Case { tone, lighting, defect, camera: None, seed });
                    let camera = match defect {
                        Defect::None => Some(0.0),
                        Defect::UnderTwo => Some(-2.0),
                        Defect::OverTwo => Some(2.0),
                        _ => None,
                    };
                    if camera.is_some() {
                        cases.push(Case { tone, lighting, defect, camera, seed });
                    }
                }
            }
        }
    }
    let req = QualityRequirements::with_min(320);
    let t0 = std::time::Instant::now();
    let reports: Vec<QualityReport> = cases
        .par_iter()
        .map(|c| {
            let scene = synth::fairness_scene(tones[c.tone].1, c.lighting, c.defect, size.0, size.1, c.seed);
            let opts = JpegOpts { camera: c.camera.map(CameraExposure::off_by), ..Default::default() };
            check(&synth::jpeg(&synth::render(&scene), opts), &IntakeLimits::default(), &req)
        })
        .collect();
    let secs = t0.elapsed().as_secs_f64();

    if detail {
        println!("tone   lighting     defect camera  sharp   dir  meanY  p1 p99  sh%   hi%   skin   ITA   band          issues");
        for (c, r) in cases.iter().zip(&reports) {
            let m = &r.metrics;
            let issues: Vec<String> = r.issues.iter().map(|i| format!("{}:{:?}", i.code, i.severity)).collect();
            println!(
                "{:<6} {:<12} {:<6} {:<6} {:>6.0} {:>5.2} {:>6.1} {:>3} {:>3} {:>5.2} {:>5.2} {:>5.2} {:>6.1} {:<13} {}",
                tones[c.tone].0,
                c.lighting.as_str(),
                c.defect.as_str(),
                c.camera.map(|v| format!("{v:+}")).unwrap_or_default(),
                m.sharpness,
                m.directionality,
                m.mean_luma,
                m.p1_luma,
                m.p99_luma,
                m.shadow_clip * 100.0,
                m.highlight_clip * 100.0,
                m.skin_fraction,
                m.skin_ita.unwrap_or(f64::NAN),
                r.skin_tone_band.map(|b| b.as_str()).unwrap_or("-"),
                issues.join(",")
            );
        }
        println!();
    }

    let per_tone = (Lighting::ALL.len() as u64) * seeds;
    println!(
        "{} photos ({}x{} q92 JPEG, {} tones x {} lightings x {} defects x {} seed(s), plus EXIF variants) checked in {:.1} s",
        cases.len(),
        size.0,
        size.1,
        tones.len(),
        Lighting::ALL.len(),
        Defect::ALL.len(),
        seeds,
        secs
    );
    println!();
    println!("| tone | ITA° (daylight) | band | false exposure/blur warnings, good photos | other warnings, good photos | blur detected | motion detected | −2 EV detected (pixels only) | −2 EV detected (with EXIF) | +2 EV detected (pixels only) | +2 EV detected (with EXIF) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let has = |r: &QualityReport, code: IssueCode| r.has(code);
    let mut totals = [0u64; 9];
    for (t, (name, _)) in tones.iter().enumerate() {
        let sel = |d: Defect, cam: bool| {
            cases.iter().zip(&reports).filter(move |(c, _)| c.tone == t && c.defect == d && c.camera.is_some() == cam).map(|(_, r)| r)
        };
        let good: Vec<&QualityReport> = sel(Defect::None, false).chain(sel(Defect::None, true)).collect();
        let false_eb = good
            .iter()
            .filter(|r| has(r, IssueCode::Underexposed) || has(r, IssueCode::Overexposed) || has(r, IssueCode::Blurred))
            .count() as u64;
        let other: Vec<String> = {
            let mut v: Vec<String> = good
                .iter()
                .flat_map(|r| r.issues.iter())
                .filter(|i| !matches!(i.code, IssueCode::Underexposed | IssueCode::Overexposed | IssueCode::Blurred))
                .map(|i| i.code.as_str().to_string())
                .collect();
            v.sort();
            let mut out = Vec::new();
            for code in v.iter() {
                if !out.iter().any(|(c, _): &(String, u32)| c == code) {
                    out.push((code.clone(), v.iter().filter(|x| *x == code).count() as u32));
                }
            }
            out.into_iter().map(|(c, n)| format!("{n} {c}")).collect()
        };
        let count = |d: Defect, cam: bool, code: IssueCode| sel(d, cam).filter(|r| has(r, code)).count() as u64;
        let daylight = cases
            .iter()
            .zip(&reports)
            .find(|(c, _)| c.tone == t && c.defect == Defect::None && c.lighting == Lighting::Daylight && c.camera.is_none())
            .map(|(_, r)| r);
        let ita = daylight.and_then(|r| r.metrics.skin_ita).map(|v| format!("{v:.0}")).unwrap_or_else(|| "–".into());
        let band = daylight.and_then(|r| r.skin_tone_band).map(|b| b.as_str()).unwrap_or("–");
        let row = [
            false_eb,
            count(Defect::Blur, false, IssueCode::Blurred),
            count(Defect::Motion, false, IssueCode::Blurred),
            count(Defect::UnderTwo, false, IssueCode::Underexposed),
            count(Defect::UnderTwo, true, IssueCode::Underexposed),
            count(Defect::OverTwo, false, IssueCode::Overexposed),
            count(Defect::OverTwo, true, IssueCode::Overexposed),
            good.len() as u64,
            0,
        ];
        for (k, v) in row.iter().enumerate() {
            totals[k] += v;
        }
        println!(
            "| {name} | {ita} | {band} | {}/{} | {} | {}/{per_tone} | {}/{per_tone} | {}/{per_tone} | {}/{per_tone} | {}/{per_tone} | {}/{per_tone} |",
            row[0],
            row[7],
            if other.is_empty() { "none".to_string() } else { other.join(", ") },
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6]
        );
    }
    let n = per_tone * tones.len() as u64;
    println!(
        "| **all** | | | {}/{} | | {}/{n} | {}/{n} | {}/{n} | {}/{n} | {}/{n} | {}/{n} |",
        totals[0], totals[7], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6]
    );
}

fn usage() -> ! {
    eprintln!("usage: fairness [--size WxH] [--seeds N] [--tones MST9,FST6,...] [--detail]");
    std::process::exit(2)
}
