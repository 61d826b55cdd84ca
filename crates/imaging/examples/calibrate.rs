//! Prints quality metrics for synthetic photos across skin tones and defects.
//! `cargo run --release -p telederm-imaging --example calibrate [W H]`
use telederm_imaging::synth::{self, JpegOpts, Scene, SKIN_TONES};
use telederm_imaging::{check, IntakeLimits, QualityRequirements};

fn main() {
    let a: Vec<u32> = std::env::args().skip(1).filter_map(|s| s.parse().ok()).collect();
    let (w, h) = if a.len() == 2 { (a[0], a[1]) } else { (2016, 1512) };
    let cases: Vec<(&str, Scene)> = vec![
        ("sharp", Scene::default()),
        ("defocus.001", Scene { defocus: 0.001, ..Default::default() }),
        ("defocus.002", Scene { defocus: 0.002, ..Default::default() }),
        ("defocus.004", Scene { defocus: 0.004, ..Default::default() }),
        ("defocus.008", Scene { defocus: 0.008, ..Default::default() }),
        ("motion.005", Scene { motion: 0.005, ..Default::default() }),
        ("motion.01", Scene { motion: 0.01, ..Default::default() }),
        ("motion.02", Scene { motion: 0.02, ..Default::default() }),
        ("ev-3", Scene { ev: -3.0, ..Default::default() }),
        ("ev-2", Scene { ev: -2.0, ..Default::default() }),
        ("ev-1", Scene { ev: -1.0, ..Default::default() }),
        ("ev+1", Scene { ev: 1.0, ..Default::default() }),
        ("ev+1.5", Scene { ev: 1.5, ..Default::default() }),
        ("ev+2", Scene { ev: 2.0, ..Default::default() }),
        ("ev+3", Scene { ev: 3.0, ..Default::default() }),
        ("dermoscopic", Scene { dermoscopic: true, ..Default::default() }),
        ("dermo+defocus.004", Scene { dermoscopic: true, defocus: 0.004, ..Default::default() }),
    ];
    println!("{:<18} {:>4} {:>7} {:>9} {:>9} {:>6} {:>6} {:>6} {:>6} {:>4} {:>5} {:>6} {:>6} {:>5} verdict issues",
        "case", "tone", "sharp", "rawVoL", "tenen", "dir", "meanY", "sh%", "hi%", "p99", "p1", "skin", "ITA", "EV");
    for (name, sc) in &cases {
        for (t, (tn, _)) in SKIN_TONES.iter().enumerate() {
            let img = synth::render(&Scene { width: w, height: h, tone: t, marker: false, ..sc.clone() });
            let jpg = synth::jpeg(&img, JpegOpts::default());
            let r = check(&jpg, &IntakeLimits::default(), &QualityRequirements::default());
            let m = &r.metrics;
            let codes: Vec<String> = r.issues.iter().map(|i| format!("{}:{:?}", i.code, i.severity)).collect();
            println!("{:<18} {:>4} {:>7.1} {:>9.1} {:>9.1} {:>6.2} {:>6.1} {:>6.2} {:>6.2} {:>4} {:>5} {:>6.2} {:>6.1} {:>5.2} {:?} {} {}",
                name, tn, m.sharpness, m.laplacian_variance, m.tenengrad, m.directionality, m.mean_luma,
                m.shadow_clip * 100.0, m.highlight_clip * 100.0, m.p99_luma, m.p1_luma, m.skin_fraction,
                m.skin_ita.unwrap_or(f64::NAN), m.exposure_ev.unwrap_or(f64::NAN), r.verdict, if r.dermoscopic { "[D]" } else { "" }, codes.join(","));
        }
    }
}
