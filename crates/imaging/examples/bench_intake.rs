//! Benchmark helper (used by bench/imaging/run.sh).
//!
//! * `bench_intake gen DIR` writes 12 MP phone-style JPEGs (Fitzpatrick II, IV,
//!   VI; EXIF orientation 1 and 6; GPS and device tags; q92 4:2:0).
//! * `bench_intake time [--iters N] FILE...` prints JSON: per file the median
//!   milliseconds of a bare JPEG decode (zune-jpeg into a fresh Vec, and into
//!   a reused buffer) and of the whole `intake` (what `image prepare` runs).
//! * `bench_intake prepare [--iters N] FILE` runs only the intake N times (for a profiler) and
//!   prints its mean CPU milliseconds.
//! * `bench_intake rss FILE` runs one intake in a fresh process and prints the
//!   peak resident memory (VmHWM) and the header's working-memory estimate.
//! * `bench_intake big FILE WIDTH HEIGHT [ORIENTATION [progressive] [noisy]]` writes one
//!   phone-style JPEG of any size (q92 4:2:0, EXIF orientation), e.g. the 48 and
//!   64 MP photos of the intake memory benchmark (`bench/intake-memory/run.sh`).
use std::time::Instant;

use telederm_imaging::synth::{self, JpegOpts, Scene};
use telederm_imaging::{intake, IntakeLimits, QualityRequirements};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn bare_decode(bytes: &[u8], reuse: Option<&mut Vec<u8>>) -> usize {
    use zune_core::bytestream::ZCursor;
    let opts = zune_core::options::DecoderOptions::default()
        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
    match reuse {
        None => d.decode().map(|v| v.len()).unwrap_or(0),
        Some(buf) => {
            d.decode_headers().expect("headers");
            buf.resize(d.output_buffer_size().unwrap_or(0), 0);
            d.decode_into(buf).expect("decode");
            buf.len()
        }
    }
}

/// Process CPU time (user + system, all threads) in milliseconds.
fn cpu_ms() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks * 10.0 // USER_HZ = 100 on Linux
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// A phone-style JPEG: q92 with 4:2:0 chroma subsampling as phone cameras write (synth::jpeg
/// leaves jpeg-encoder's default, 4:4:4 at q >= 90), EXIF orientation, GPS and device tags.
fn phone_jpeg(stored: &telederm_imaging::Rgb, o: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = jpeg_encoder::Encoder::new(&mut out, 92);
    e.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    e.add_exif_metadata(&synth::exif_block(o, true)).expect("exif");
    e.encode(&stored.px, stored.w as u16, stored.h as u16, jpeg_encoder::ColorType::Rgb).expect("encode");
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("gen") => {
            let dir = std::path::PathBuf::from(args.get(1).expect("gen DIR"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            for (tone, name) in [(1usize, "II"), (3, "IV"), (5, "VI")] {
                let up = synth::render(&Scene { width: 4032, height: 3024, tone, seed: tone as u64, ..Default::default() });
                for o in [1u32, 6] {
                    let stored = synth::store_for_orientation(&up, o);
                    let bytes = phone_jpeg(&stored, o as u16);
                    let p = dir.join(format!("phone_{name}_o{o}.jpg"));
                    std::fs::write(&p, &bytes).expect("write");
                    eprintln!("wrote {} ({} bytes)", p.display(), bytes.len());
                }
            }
        }
        Some("seeds") => {
            // Small seed files for the fuzzer.
            let dir = std::path::PathBuf::from(args.get(1).expect("seeds DIR"));
            std::fs::create_dir_all(&dir).expect("mkdir");
            let up = synth::render(&Scene { width: 72, height: 56, ..Default::default() });
            let variants = [
                ("base.jpg", JpegOpts { quality: 60, ..Default::default() }),
                ("exif6.jpg", JpegOpts { quality: 60, exif: Some((6, true)), extras: true, ..Default::default() }),
                ("prog.jpg", JpegOpts { quality: 60, progressive: true, ..Default::default() }),
                ("grey.jpg", JpegOpts { quality: 60, grey: true, ..Default::default() }),
                ("cmyk.jpg", JpegOpts { quality: 60, cmyk: true, ..Default::default() }),
            ];
            for (name, o) in variants {
                std::fs::write(dir.join(name), synth::jpeg(&up, o)).expect("write");
            }
            std::fs::write(dir.join("text.png"), synth::png_with_text(&up)).expect("write");
        }
        Some("time") => {
            let mut iters = 15usize;
            let mut files = Vec::new();
            let mut it = args[1..].iter();
            while let Some(a) = it.next() {
                if a == "--iters" {
                    iters = it.next().and_then(|v| v.parse().ok()).unwrap_or(15);
                } else {
                    files.push(a.clone());
                }
            }
            let (l, r) = (IntakeLimits::default(), QualityRequirements::default());
            let mut out = Vec::new();
            for f in &files {
                let bytes = std::fs::read(f).expect("read");
                let mut reuse = Vec::new();
                for _ in 0..2 {
                    bare_decode(&bytes, None);
                    bare_decode(&bytes, Some(&mut reuse));
                    intake(&bytes, &l, &r).expect("intake");
                }
                let (mut dec, mut dec_reuse, mut full) = (Vec::new(), Vec::new(), Vec::new());
                let (mut dec_cpu, mut full_cpu) = (0.0, 0.0);
                for _ in 0..iters {
                    let c = cpu_ms();
                    std::hint::black_box(bare_decode(&bytes, None));
                    dec_cpu += cpu_ms() - c;
                    let c = cpu_ms();
                    std::hint::black_box(intake(&bytes, &l, &r).expect("intake"));
                    full_cpu += cpu_ms() - c;
                }
                for _ in 0..iters {
                    let t = Instant::now();
                    std::hint::black_box(bare_decode(&bytes, None));
                    dec.push(t.elapsed().as_secs_f64() * 1e3);
                    let t = Instant::now();
                    std::hint::black_box(bare_decode(&bytes, Some(&mut reuse)));
                    dec_reuse.push(t.elapsed().as_secs_f64() * 1e3);
                    let t = Instant::now();
                    std::hint::black_box(intake(&bytes, &l, &r).expect("intake"));
                    full.push(t.elapsed().as_secs_f64() * 1e3);
                }
                out.push(serde_json::json!({
                    "file": f, "decode_ms": median(dec), "decode_reused_ms": median(dec_reuse),
                    "prepare_ms": median(full), "threads": rayon::current_num_threads(),
                    "decode_cpu_ms": dec_cpu / iters as f64, "prepare_cpu_ms": full_cpu / iters as f64,
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        }
        Some("prepare") => {
            // Only the intake, `--iters N` times (for a profiler: `perf record -g bench_intake prepare`).
            let iters: usize = args.get(2).filter(|_| args[1] == "--iters").and_then(|v| v.parse().ok()).unwrap_or(20);
            let f = args.last().expect("prepare [--iters N] FILE");
            let bytes = std::fs::read(f).expect("read");
            let (l, r) = (IntakeLimits::default(), QualityRequirements::default());
            let c = cpu_ms();
            for _ in 0..iters {
                std::hint::black_box(intake(&bytes, &l, &r).expect("intake"));
            }
            println!("{}", serde_json::json!({"file": f, "prepare_cpu_ms": (cpu_ms() - c) / iters as f64}));
        }
        Some("rss") => {
            let f = args.get(1).expect("rss FILE");
            let bytes = std::fs::read(f).expect("read");
            let before = vm_hwm_kb();
            let estimate = telederm_imaging::working_memory(&bytes, &IntakeLimits::default()).expect("header").bytes;
            // On a worker of a two-thread pool, as the server runs it on its intake threads.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
            let i = pool.install(|| intake(&bytes, &IntakeLimits::default(), &QualityRequirements::default())).expect("intake");
            std::hint::black_box(&i);
            println!(
                "{}",
                serde_json::json!({"file": f, "peak_rss_mb": vm_hwm_kb() as f64 / 1024.0, "rss_before_mb": before as f64 / 1024.0,
                    "estimate_mb": estimate as f64 / 1048576.0, "verdict": i.report.verdict.as_str(),
                    "attachment_bytes": i.attachment.bytes.len(), "attachment_width": i.attachment.width})
            );
        }
        Some("big") => {
            let f = args.get(1).expect("big FILE WIDTH HEIGHT [ORIENTATION [progressive]]");
            let num = |i: usize, d: u32| args.get(i).and_then(|v| v.parse().ok()).unwrap_or(d);
            let (w, h, o) = (num(2, 8000), num(3, 6000), num(4, 1));
            let progressive = args[5.min(args.len())..].iter().any(|v| v == "progressive");
            // `noisy`: sensor noise as in a real high-resolution phone photo (bigger files).
            let noise = if args[5.min(args.len())..].iter().any(|v| v == "noisy") { 5.0 } else { 2.5 };
            let up = synth::render(&Scene { width: w, height: h, tone: 3, seed: 7, noise, ..Default::default() });
            let stored = synth::store_for_orientation(&up, o);
            drop(up);
            let bytes = synth::jpeg(&stored, JpegOpts { quality: 92, progressive, exif: Some((o as u16, true)), ..Default::default() });
            std::fs::write(f, &bytes).expect("write");
            eprintln!("wrote {f} ({w}x{h} upright, orientation {o}, {} bytes)", bytes.len());
        }
        _ => {
            eprintln!("usage: bench_intake gen DIR | seeds DIR | time [--iters N] FILE... | prepare [--iters N] FILE | rss FILE | big FILE W H [O [progressive]]");
            std::process::exit(2);
        }
    }
}
