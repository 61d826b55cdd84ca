//! `telederm image check|prepare|evaluate`: the image intake pipeline from the command line.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;
use telederm_imaging::{IntakeError, IntakeLimits, QualityReport, QualityRequirements};

#[derive(Subcommand)]
pub enum ImageCmd {
    /// Assess photos: verdict, issues with advice, metrics.
    Check {
        /// Photo files (format is sniffed from the bytes, never the name).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON array with one object per file.
        #[arg(long)]
        json: bool,
        /// Minimum short side in pixels required by the service.
        #[arg(long, default_value_t = QualityRequirements::default().min_short_side_px)]
        min_short_side: u32,
        /// Short side from which a photo passes without a "small" warning (default: twice the minimum).
        #[arg(long)]
        recommended_short_side: Option<u32>,
        /// Maximum file size in bytes.
        #[arg(long, default_value_t = IntakeLimits::default().max_file_bytes)]
        max_file_bytes: u64,
    },
    /// Score the gate against photos a dermatologist labelled: precision, recall and F1 per
    /// issue code, over all photos, per labelled skin type and per estimated ITA band.
    Evaluate {
        /// CSV: file, expected verdict, issue codes (separated by `;`), optional skin type.
        /// Relative paths are relative to this file.
        #[arg(long)]
        labels: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = EvalFormat::Csv)]
        format: EvalFormat,
        #[arg(long, default_value_t = QualityRequirements::default().min_short_side_px)]
        min_short_side: u32,
        #[arg(long)]
        recommended_short_side: Option<u32>,
        #[arg(long, default_value_t = IntakeLimits::default().max_file_bytes)]
        max_file_bytes: u64,
    },
    /// Produce original, e-RS attachment, preview and thumbnail (metadata removed, upright).
    Prepare {
        file: PathBuf,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = QualityRequirements::default().min_short_side_px)]
        min_short_side: u32,
        #[arg(long)]
        recommended_short_side: Option<u32>,
        #[arg(long, default_value_t = IntakeLimits::default().max_file_bytes)]
        max_file_bytes: u64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EvalFormat {
    Csv,
    Json,
}

fn requirements(min: u32, recommended: Option<u32>) -> QualityRequirements {
    let mut req = QualityRequirements::with_min(min);
    if let Some(r) = recommended {
        req.recommended_short_side_px = r;
    }
    req
}

pub fn run(cmd: ImageCmd) -> ExitCode {
    match cmd {
        ImageCmd::Check { files, json, min_short_side, recommended_short_side, max_file_bytes } => {
            let limits = IntakeLimits { max_file_bytes, ..IntakeLimits::default() };
            let req = requirements(min_short_side, recommended_short_side);
            let mut all = Vec::with_capacity(files.len());
            for f in &files {
                let report = check_file(f, &limits, &req);
                if json {
                    let mut v = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
                    if let Some(o) = v.as_object_mut() {
                        o.insert("file".into(), json!(f.display().to_string()));
                    }
                    all.push(v);
                } else {
                    print_summary(f, &report);
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all).unwrap_or_else(|_| "[]".into()));
            }
            ExitCode::SUCCESS
        }
        ImageCmd::Prepare { file, out, min_short_side, recommended_short_side, max_file_bytes } => {
            let limits = IntakeLimits { max_file_bytes, ..IntakeLimits::default() };
            let req = requirements(min_short_side, recommended_short_side);
            prepare(&file, &out, &limits, &req)
        }
        ImageCmd::Evaluate { labels, format, min_short_side, recommended_short_side, max_file_bytes } => {
            let limits = IntakeLimits { max_file_bytes, ..IntakeLimits::default() };
            let req = requirements(min_short_side, recommended_short_side);
            evaluate(&labels, format, &limits, &req)
        }
    }
}

fn evaluate(labels: &Path, format: EvalFormat, limits: &IntakeLimits, req: &QualityRequirements) -> ExitCode {
    let text = match std::fs::read_to_string(labels) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", labels.display());
            return ExitCode::from(2);
        }
    };
    let rows = match telederm_imaging::evaluate::parse_labels(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", labels.display());
            return ExitCode::from(2);
        }
    };
    let base = labels.parent().unwrap_or(Path::new("."));
    let mut pairs = Vec::with_capacity(rows.len());
    for l in rows {
        let p = Path::new(&l.file);
        let path = if p.is_absolute() { p.to_path_buf() } else { base.join(p) };
        if !path.is_file() {
            eprintln!("error: {}: line {}: no such file {}", labels.display(), l.line, path.display());
            return ExitCode::from(2);
        }
        let report = check_file(&path, limits, req);
        pairs.push((l, report));
    }
    let eval = telederm_imaging::evaluate::score(&pairs);
    match format {
        EvalFormat::Csv => print!("{}", eval.to_csv()),
        EvalFormat::Json => println!("{}", serde_json::to_string_pretty(&eval).unwrap_or_else(|_| "{}".into())),
    }
    ExitCode::SUCCESS
}

/// Reads the file with the size cap applied before reading it all.
fn read_capped(path: &Path, limits: &IntakeLimits) -> Result<Vec<u8>, IntakeError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > limits.max_file_bytes => Err(IntakeError::file_too_large(limits)),
        Ok(m) if !m.is_file() => Err(IntakeError::unreadable("not a regular file")),
        Err(e) => Err(IntakeError::unreadable(e)),
        Ok(_) => std::fs::read(path).map_err(IntakeError::unreadable),
    }
}

fn check_file(path: &Path, limits: &IntakeLimits, req: &QualityRequirements) -> QualityReport {
    match read_capped(path, limits) {
        Ok(bytes) => telederm_imaging::check(&bytes, limits, req),
        Err(e) => e.report(),
    }
}

fn print_summary(path: &Path, r: &QualityReport) {
    println!("{}: {} ({} {}x{}{}{})", path.display(), r.verdict.as_str().to_uppercase(), r.format, r.width, r.height,
        if r.dermoscopic { ", dermoscopic" } else { "" },
        if r.faces > 0 { format!(", {} face(s)", r.faces) } else { String::new() });
    for i in &r.issues {
        println!("  - [{:?}] {}: {}", i.severity, i.code, i.message);
    }
    if !r.metadata_removed.is_empty() {
        println!("  metadata removed on intake: {}", r.metadata_removed.join("; "));
    }
    if r.metrics.analysis_width > 0 {
        let m = &r.metrics;
        println!(
            "  sharpness {:.0}, mean luma {:.0}, shadows clipped {:.1}%, highlights clipped {:.1}%, skin {:.0}%",
            m.sharpness, m.mean_luma, m.shadow_clip * 100.0, m.highlight_clip * 100.0, m.skin_fraction * 100.0
        );
        if let Some(b) = r.skin_tone_band {
            println!("  skin-tone band (ITA {:.0}°, for equity reporting only): {}", m.skin_ita.unwrap_or(f64::NAN), b.as_str());
        }
    }
}

fn prepare(file: &Path, out: &Path, limits: &IntakeLimits, req: &QualityRequirements) -> ExitCode {
    let fail = |code: &str, message: &str| {
        println!("{}", serde_json::to_string_pretty(&json!({"file": file.display().to_string(), "error": {"code": code, "message": message}})).unwrap_or_default());
        eprintln!("error: {code}: {message}");
        ExitCode::from(2)
    };
    let bytes = match read_capped(file, limits) {
        Ok(b) => b,
        Err(e) => return fail(e.code.as_str(), &e.message),
    };
    let intake = match telederm_imaging::intake(&bytes, limits, req) {
        Ok(i) => i,
        Err(e) => return fail(e.code.as_str(), &e.message),
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        return fail("io", &format!("cannot create {}: {e}", out.display()));
    }
    let mut outputs = serde_json::Map::new();
    for (name, d) in [
        ("original", &intake.original),
        ("attachment", &intake.attachment),
        ("preview", &intake.preview),
        ("thumbnail", &intake.thumbnail),
    ] {
        let ext = if name == "original" { d.extension } else { "jpg" };
        let p = out.join(format!("{name}.{ext}"));
        if let Err(e) = std::fs::write(&p, &d.bytes) {
            return fail("io", &format!("cannot write {}: {e}", p.display()));
        }
        outputs.insert(
            name.into(),
            json!({"path": p.display().to_string(), "content_type": d.content_type, "bytes": d.bytes.len(),
                   "width": d.width, "height": d.height, "sha256": d.sha256}),
        );
    }
    let summary = json!({"file": file.display().to_string(), "report": intake.report, "outputs": outputs});
    println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    ExitCode::SUCCESS
}
