//! Telederm image intake.
//!
//! Every photo (GP upload or patient phone) goes through [`intake`]: limits
//! are checked on the raw bytes before any pixel is allocated, the image is
//! decoded with bounded memory, turned upright, stripped of location and
//! device metadata, assessed for quality and turned into the derivatives each
//! consumer needs. [`check`] runs the same assessment without producing the
//! derivatives and never fails. See `docs/imaging.md` for methods and
//! threshold calibration.
//!
//! `intake` is synchronous and CPU-bound: a server runs it on the intake's own
//! threads ([`spawn_on_intake_threads`]), where its few parallel steps (preview
//! resize, strip JPEG encoding, metrics alongside encoding) also run. It never
//! panics on any input (fuzzed: see `fuzz/`).

mod container;
pub mod evaluate;
mod faces;
mod ljpeg;
mod pixels;
mod quality;
pub mod synth;

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use container::Format;
use container::{JpegInfo, WalkError};
pub use pixels::{orient, Rgb};
pub use quality::Metrics;

/// How many steps of nice the intake's threads are below the process, unless
/// [`set_intake_thread_nice`] says otherwise: photo processing yields the CPU to request handling
/// (lists, pages, the database) whenever both want it, so a burst of uploads slows the uploads,
/// not every page on the node (issue 18's mixed load).
pub const INTAKE_THREAD_NICE: i32 = 10;

static NICE_STEPS: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(INTAKE_THREAD_NICE);

/// Sets how many steps of nice (0 to 19) the intake's threads take below the process; 0 keeps
/// them at the process's priority. Takes effect if called before the first photo starts them.
pub fn set_intake_thread_nice(steps: i32) {
    NICE_STEPS.store(steps.clamp(0, 19), std::sync::atomic::Ordering::Relaxed);
}

/// Runs `job` on the intake's threads: one per core, started on first use, each
/// [`INTAKE_THREAD_NICE`] steps of nice (or what [`set_intake_thread_nice`] set) below the thread
/// that started them (Linux; elsewhere at the same priority). Jobs beyond the thread count wait
/// in line, first come first served, instead of sharing the cores among dozens of half-done
/// decodes. A panic in `job` is caught and passed to `done` as `Err` with its message.
pub fn spawn_on_intake_threads<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
    done: impl FnOnce(Result<T, String>) + Send + 'static,
) {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let run = move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).map_err(|p| {
            p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
        });
        done(result);
    };
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("intake-{i}"))
            .start_handler(|_| lower_this_threads_priority(NICE_STEPS.load(std::sync::atomic::Ordering::Relaxed)))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.spawn(run),
        // No threads could be started: run on rayon's global pool instead.
        None => rayon::spawn(run),
    }
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority(steps: i32) {
    // On Linux the nice value belongs to the thread: this lowers only the calling one, which
    // started with its creator's value. Best effort: at worst the thread keeps its priority.
    let tid = Some(rustix::thread::gettid());
    if let Ok(now) = rustix::process::getpriority_process(tid) {
        let _ = rustix::process::setpriority_process(tid, (now + steps).min(19));
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority(_nice: i32) {}

/// Size of an e-RS attachment, in bytes (5 MiB).
pub const ERS_MAX_BYTES: usize = 5_242_880;
/// Long side of the preview.
pub const PREVIEW_LONG_SIDE: u32 = 2048;
/// The least long side a reduced-scale decode may have to be the preview's source: up to 1/32
/// short of [`PREVIEW_LONG_SIDE`], when the preview is then that decode itself. A 4032 px phone
/// photo is decoded at half scale (2016 px), which libjpeg-turbo does with its SIMD 4x4 inverse
/// DCT, instead of at 5/8 (2520 px), which only its C code does, and resized to 2048 px
/// (bench/imaging, 2026-12-07).
const PREVIEW_DECODE_LONG_SIDE: u32 = PREVIEW_LONG_SIDE - PREVIEW_LONG_SIDE / 32;
/// Long side of the thumbnail.
pub const THUMBNAIL_LONG_SIDE: u32 = 256;

/// Limits enforced before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimits {
    /// Maximum upload size in bytes. Default 25 MB (25,000,000).
    pub max_file_bytes: u64,
    /// Maximum width x height from the header. Default 64 megapixels.
    pub max_pixels: u64,
    /// Maximum width or height. Default 16384.
    pub max_side: u32,
    /// Maximum number of JPEG scans (progressive passes). Default 100.
    pub max_scans: u32,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        IntakeLimits { max_file_bytes: 25_000_000, max_pixels: 64_000_000, max_side: 16384, max_scans: 100 }
    }
}

/// The receiving service's requirements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityRequirements {
    /// Reject when the upright short side is below this.
    pub min_short_side_px: u32,
    /// Warn ("small, detail may be lost") when the upright short side is below this; a photo at
    /// least this size passes the resolution check. [`QualityRequirements::with_min`] sets it to
    /// twice the minimum; a service that asks for a particular size (City & Hackney: "Large")
    /// sets it to that size.
    pub recommended_short_side_px: u32,
}

impl QualityRequirements {
    /// Reject below `min`, warn below twice `min`.
    pub fn with_min(min: u32) -> Self {
        QualityRequirements { min_short_side_px: min, recommended_short_side_px: min.saturating_mul(2) }
    }
}

impl Default for QualityRequirements {
    fn default() -> Self {
        QualityRequirements::with_min(640)
    }
}

/// The verdict is the domain's (the store keeps it with the photo, the referral rules count it).
pub use telederm_domain::policy::Verdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Reject,
}

/// Stable issue codes (serialised in snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssueCode {
    Blurred,
    Underexposed,
    Overexposed,
    LowResolution,
    UnsupportedFormat,
    Corrupt,
    DimensionsExceedLimit,
    FileTooLarge,
    NoSkinDetected,
    /// Extra (warn): a face was detected; a person decides whether it is
    /// identifiable and whether the service's rule on children applies.
    FaceDetected,
}

impl IssueCode {
    pub const ALL: [IssueCode; 10] = [
        IssueCode::Blurred,
        IssueCode::Underexposed,
        IssueCode::Overexposed,
        IssueCode::LowResolution,
        IssueCode::UnsupportedFormat,
        IssueCode::Corrupt,
        IssueCode::DimensionsExceedLimit,
        IssueCode::FileTooLarge,
        IssueCode::NoSkinDetected,
        IssueCode::FaceDetected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueCode::Blurred => "blurred",
            IssueCode::Underexposed => "underexposed",
            IssueCode::Overexposed => "overexposed",
            IssueCode::LowResolution => "low_resolution",
            IssueCode::UnsupportedFormat => "unsupported_format",
            IssueCode::Corrupt => "corrupt",
            IssueCode::DimensionsExceedLimit => "dimensions_exceed_limit",
            IssueCode::FileTooLarge => "file_too_large",
            IssueCode::NoSkinDetected => "no_skin_detected",
            IssueCode::FaceDetected => "face_detected",
        }
    }
}

impl fmt::Display for IssueCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Issue {
    pub code: IssueCode,
    pub severity: Severity,
    /// What the sender should do, in plain words.
    pub message: String,
}

/// Skin-tone band from the individual typology angle (ITA°, Chardon et al. 1991, with the bands
/// of Del Bino et al. 2006), for equity reporting: pass rates per band. Never used in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToneBand {
    /// ITA > 55°
    VeryLight,
    /// 41° < ITA <= 55°
    Light,
    /// 28° < ITA <= 41°
    Intermediate,
    /// 10° < ITA <= 28°
    Tan,
    /// -30° < ITA <= 10°
    Brown,
    /// ITA <= -30°
    Dark,
}

impl ToneBand {
    pub const ALL: [ToneBand; 6] =
        [ToneBand::VeryLight, ToneBand::Light, ToneBand::Intermediate, ToneBand::Tan, ToneBand::Brown, ToneBand::Dark];

    pub fn from_ita(ita: f64) -> ToneBand {
        if ita > 55.0 {
            ToneBand::VeryLight
        } else if ita > 41.0 {
            ToneBand::Light
        } else if ita > 28.0 {
            ToneBand::Intermediate
        } else if ita > 10.0 {
            ToneBand::Tan
        } else if ita > -30.0 {
            ToneBand::Brown
        } else {
            ToneBand::Dark
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ToneBand::VeryLight => "very_light",
            ToneBand::Light => "light",
            ToneBand::Intermediate => "intermediate",
            ToneBand::Tan => "tan",
            ToneBand::Brown => "brown",
            ToneBand::Dark => "dark",
        }
    }

    pub fn parse(s: &str) -> Option<ToneBand> {
        ToneBand::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// How the stored original was turned upright (EXIF orientation other than 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrientationApplied {
    /// Already upright (EXIF orientation 1 or none): the original keeps the camera's data.
    None,
    /// Turned upright without loss: the JPEG's DCT coefficients were rearranged (jpegtran's
    /// transforms); decoded, it is the camera's photo rotated, pixel for pixel.
    Lossless,
    /// Turned upright by decoding and re-encoding (JPEG q92, or PNG for other formats): a JPEG
    /// whose size is not whole blocks on an edge the rotation moves, a CMYK JPEG, or a
    /// GIF/TIFF/PNG.
    Reencoded,
}

impl OrientationApplied {
    pub fn as_str(self) -> &'static str {
        match self {
            OrientationApplied::None => "none",
            OrientationApplied::Lossless => "lossless",
            OrientationApplied::Reencoded => "reencoded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QualityReport {
    pub verdict: Verdict,
    pub issues: Vec<Issue>,
    /// Sniffed container format ("jpeg", "png", "gif", "tiff", "heic", ... or "unknown").
    pub format: String,
    /// Upright dimensions (0 when the header could not be read).
    pub width: u32,
    pub height: u32,
    pub dermoscopic: bool,
    pub faces: u32,
    /// Human-readable list of what was removed from every output.
    pub metadata_removed: Vec<String>,
    /// Estimated skin-tone band of the photo (from `metrics.skin_ita`; null when too little skin
    /// was found), stored with the photo record for equity reporting. Not used in the verdict.
    pub skin_tone_band: Option<ToneBand>,
    /// How the stored original was turned upright: `none` (it already was), `lossless` (DCT
    /// coefficients rearranged) or `reencoded`. From `check` (nothing stored): what intake
    /// would do, predicted from the header.
    pub orientation_applied: OrientationApplied,
    pub metrics: Metrics,
}

impl QualityReport {
    pub fn has(&self, code: IssueCode) -> bool {
        self.issues.iter().any(|i| i.code == code)
    }
}

/// One stored/sent artefact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivative {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub extension: &'static str,
    pub width: u32,
    pub height: u32,
    /// Lowercase hex SHA-256 of `bytes`.
    pub sha256: String,
}

impl Derivative {
    fn new(bytes: Vec<u8>, png: bool, width: u32, height: u32) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let (content_type, extension) = if png { ("image/png", "png") } else { ("image/jpeg", "jpg") };
        Derivative { bytes, content_type, extension, width, height, sha256 }
    }
}

#[derive(Debug, Clone)]
pub struct Intake {
    pub report: QualityReport,
    /// Full resolution, upright, metadata removed. Byte-for-byte the
    /// original entropy-coded data when the JPEG/PNG was already upright.
    pub original: Derivative,
    /// JPEG of at most [`ERS_MAX_BYTES`]; the original itself when it is an
    /// upright RGB/grey JPEG that fits.
    pub attachment: Derivative,
    /// JPEG, at most 2048 px on the long side (never upscaled), q85.
    pub preview: Derivative,
    /// JPEG, at most 256 px on the long side, q80.
    pub thumbnail: Derivative,
}

/// Input refused as unsafe or undecodable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeError {
    pub code: IssueCode,
    pub message: String,
    /// Extra: sniffed format and header dimensions when known (0 otherwise).
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for IntakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for IntakeError {}

impl IntakeError {
    fn new(code: IssueCode, message: impl Into<String>, format: Format) -> Self {
        IntakeError { code, message: message.into(), format: format.as_str(), width: 0, height: 0 }
    }
    fn dims(mut self, w: u32, h: u32) -> Self {
        self.width = w;
        self.height = h;
        self
    }
    /// Refusal for an upload above `limits.max_file_bytes` (for callers that
    /// check the length before reading the body).
    pub fn file_too_large(limits: &IntakeLimits) -> Self {
        IntakeError::new(IssueCode::FileTooLarge, msg_too_large(limits.max_file_bytes), Format::Unknown)
    }
    /// Refusal for a file that could not be read at all (reported as `corrupt`).
    pub fn unreadable(detail: impl fmt::Display) -> Self {
        IntakeError::new(IssueCode::Corrupt, format!("The file could not be read ({detail}). Send the photo again."), Format::Unknown)
    }
    /// The refusal as a `reject` report.
    pub fn report(&self) -> QualityReport {
        QualityReport {
            verdict: Verdict::Reject,
            issues: vec![Issue { code: self.code, severity: Severity::Reject, message: self.message.clone() }],
            format: self.format.to_string(),
            width: self.width,
            height: self.height,
            dermoscopic: false,
            faces: 0,
            metadata_removed: Vec::new(),
            skin_tone_band: None,
            orientation_applied: OrientationApplied::None,
            metrics: Metrics::default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Messages shown to the sender.

const MSG_CORRUPT: &str = "The photo file is damaged or incomplete. Send the photo again; if it still fails, take a new photo with the phone's camera app and send that.";
const MSG_HEIC: &str = "HEIC/HEIF photos (the iPhone's default format) cannot be read here: send the photo as a JPEG. On the iPhone itself, choose the photo with this page's upload button and it is sent as JPEG automatically. From a computer, export it as JPEG first (Mac: open it in Preview, File > Export, Format JPEG; Windows: open it in Photos, Save as, JPEG). To take JPEGs from now on: iPhone Settings > Camera > Formats > Most Compatible.";
const MSG_FORMAT: &str = "This file is not a supported photo format. Send the photo as a JPEG (or PNG) taken with the camera app.";

fn msg_too_large(limit: u64) -> String {
    format!(
        "The file is larger than {} MB. Send the photo as taken by the camera app (not a scan or an edited export); on a phone choose a smaller or 'Large' size when sharing.",
        limit / 1_000_000
    )
}

// ---------------------------------------------------------------------------
// Decoding.

/// One spare decode buffer shared by all threads: avoids ~15 ms of page faults per 12 MP photo.
/// A single buffer (not one per thread) so that what is kept between photos stays bounded
/// whatever the number of blocking threads: at most [`KEEP_BUF_BYTES`], counted in
/// [`WorkingMemory::bytes`] as part of the fixed overhead.
static SPARE_BUF: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
/// Buffers larger than this are not kept between calls.
const KEEP_BUF_BYTES: usize = 64 << 20;

fn take_buf() -> Vec<u8> {
    SPARE_BUF.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
}

fn return_buf(v: Vec<u8>) {
    if v.capacity() <= KEEP_BUF_BYTES
        && let Ok(mut b) = SPARE_BUF.lock()
        && b.capacity() < v.capacity()
    {
        *b = v;
    }
}

/// Everything known before pixels are decoded.
struct Probe {
    format: Format,
    width: u32,
    height: u32,
    orientation: u32,
    removed: Vec<String>,
    jpeg: Option<JpegInfo>,
    /// Lossless metadata-free copy when the container allows it.
    stripped: Option<Vec<u8>>,
    /// JPEG colour model that e-RS viewers handle (YCbCr or grey).
    plain_jpeg: bool,
    /// The camera's own exposure error in stops, from its EXIF record (negative = less light
    /// than its meter asked for); `None` when the file does not say.
    camera_ev: Option<f64>,
    /// Length of the file in bytes.
    file_len: u64,
}

fn probe(bytes: &[u8], limits: &IntakeLimits, want_strip: bool) -> Result<Probe, IntakeError> {
    let format = container::sniff(bytes);
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(IntakeError::new(IssueCode::FileTooLarge, msg_too_large(limits.max_file_bytes), format));
    }
    let mut p = Probe {
        format,
        width: 0,
        height: 0,
        orientation: 1,
        removed: Vec::new(),
        jpeg: None,
        stripped: None,
        plain_jpeg: false,
        camera_ev: None,
        file_len: bytes.len() as u64,
    };
    let mut exif_range: Option<(usize, usize)> = None;
    match format {
        Format::Jpeg => {
            let info = match container::walk_jpeg(bytes, limits.max_scans) {
                Ok(i) => i,
                Err(WalkError::TooManyScans(n)) => {
                    return Err(IntakeError::new(
                        IssueCode::Corrupt,
                        format!("The photo file is malformed (more than {} progressive scans; found at least {n}). Take a new photo with the camera app and send that.", limits.max_scans),
                        format,
                    ));
                }
                Err(_) => return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, format)),
            };
            p.width = info.width;
            p.height = info.height;
            p.plain_jpeg = matches!(info.components, 1 | 3);
            let x = container::jpeg_extras(bytes, &info);
            exif_range = x.exif;
            if x.xmp {
                p.removed.push("XMP metadata removed".into());
            }
            if x.xmp_gps {
                p.removed.push("location removed (XMP)".into());
            }
            if x.iptc {
                p.removed.push("IPTC metadata removed".into());
            }
            if x.mpf {
                p.removed.push("embedded secondary images removed (MPF)".into());
            }
            if x.comments {
                p.removed.push("comments removed".into());
            }
            if x.other_app {
                p.removed.push("other application metadata removed".into());
            }
            if x.trailing_bytes > 0 {
                p.removed.push(format!("trailing data removed ({} bytes after the image)", x.trailing_bytes));
            }
            if want_strip {
                p.stripped = Some(container::strip_jpeg(bytes, &info));
            }
            p.jpeg = Some(info);
        }
        Format::Png => {
            let Some((w, h)) = container::png_dims(bytes) else {
                return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, format));
            };
            p.width = w;
            p.height = h;
            match container::strip_png(bytes) {
                Some((s, x)) => {
                    if x.text {
                        p.removed.push("text metadata removed".into());
                    }
                    if x.text_gps {
                        p.removed.push("location removed (text)".into());
                    }
                    if x.time {
                        p.removed.push("modification time removed".into());
                    }
                    if x.other {
                        p.removed.push("other metadata chunks removed".into());
                    }
                    if x.trailing_bytes > 0 {
                        p.removed.push(format!("trailing data removed ({} bytes after the image)", x.trailing_bytes));
                    }
                    exif_range = x.exif;
                    if want_strip {
                        p.stripped = Some(s);
                    }
                }
                None => return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, format)),
            }
        }
        Format::Gif | Format::Tiff => {
            let fmt = if format == Format::Gif { image::ImageFormat::Gif } else { image::ImageFormat::Tiff };
            let mut r = image::ImageReader::with_format(std::io::Cursor::new(bytes), fmt);
            r.limits(image_limits(limits));
            match r.into_dimensions() {
                Ok((w, h)) => {
                    p.width = w;
                    p.height = h;
                }
                Err(image::ImageError::Limits(_)) => {
                    return Err(IntakeError::new(IssueCode::DimensionsExceedLimit, msg_dims(limits), format));
                }
                Err(_) => return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, format)),
            }
            if format == Format::Tiff {
                exif_range = Some((0, bytes.len()));
            }
        }
        Format::Heic | Format::Avif => {
            return Err(IntakeError::new(IssueCode::UnsupportedFormat, MSG_HEIC, format));
        }
        _ => return Err(IntakeError::new(IssueCode::UnsupportedFormat, MSG_FORMAT, format)),
    }
    if p.width == 0 || p.height == 0 {
        return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, format));
    }
    if p.width > limits.max_side
        || p.height > limits.max_side
        || p.width as u64 * p.height as u64 > limits.max_pixels
    {
        return Err(IntakeError::new(IssueCode::DimensionsExceedLimit, msg_dims(limits), format).dims(p.width, p.height));
    }
    if let Some((a, b)) = exif_range {
        if let Ok(exif) = exif::Reader::new().read_raw(bytes[a..b].to_vec()) {
            p.orientation = exif
                .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
                .and_then(|f| f.value.get_uint(0))
                .filter(|o| (1..=8).contains(o))
                .unwrap_or(1);
            p.camera_ev = camera_exposure_error(&exif);
            let mut ex = exif_removed(&exif);
            ex.append(&mut p.removed);
            p.removed = ex;
        } else if format != Format::Tiff {
            p.removed.insert(0, "EXIF metadata removed".into());
        }
    }
    Ok(p)
}

/// The exposure error the camera itself records, in stops (negative = underexposed):
/// * with ExposureTime, FNumber, ISO and BrightnessValue, the APEX balance
///   (Bv + Sv) - (Av + Tv), where Av = 2 log2 N, Tv = -log2 t, Sv = log2(ISO / 3.125): how far
///   the light the photo got is from what the metered scene brightness called for;
/// * else the ExposureBiasValue (the compensation dialled in), when present and non-zero.
///
/// This is evidence about the exposure that does not depend on what is in the frame.
fn camera_exposure_error(e: &exif::Exif) -> Option<f64> {
    use exif::{Tag, Value};
    let num = |tag: Tag| -> Option<f64> {
        let f = e.get_field(tag, exif::In::PRIMARY)?;
        let v = match &f.value {
            Value::Rational(v) => v.first().filter(|r| r.denom != 0).map(|r| r.to_f64()),
            Value::SRational(v) => v.first().filter(|r| r.denom != 0).map(|r| r.to_f64()),
            Value::Short(v) => v.first().map(|&x| x as f64),
            Value::Long(v) => v.first().map(|&x| x as f64),
            _ => None,
        }?;
        v.is_finite().then_some(v)
    };
    let t = num(Tag::ExposureTime).filter(|&t| t > 0.0);
    let n = num(Tag::FNumber).filter(|&n| n > 0.0);
    let iso = num(Tag::PhotographicSensitivity).filter(|&s| s > 0.0);
    let bv = num(Tag::BrightnessValue).filter(|b| b.abs() < 30.0);
    if let (Some(t), Some(n), Some(iso), Some(bv)) = (t, n, iso, bv) {
        let (av, tv, sv) = (2.0 * n.log2(), -t.log2(), (iso / 3.125).log2());
        let err = (bv + sv) - (av + tv);
        if err.is_finite() && err.abs() < 20.0 {
            return Some(err);
        }
    }
    num(Tag::ExposureBiasValue).filter(|b| *b != 0.0 && b.abs() < 20.0)
}

fn msg_dims(l: &IntakeLimits) -> String {
    format!(
        "The image is too large (limit {} megapixels and {} pixels a side). Send the photo as taken by the phone or camera, not a stitched panorama or scan.",
        l.max_pixels / 1_000_000,
        l.max_side
    )
}

fn image_limits(l: &IntakeLimits) -> image::Limits {
    let mut il = image::Limits::default();
    il.max_image_width = Some(l.max_side);
    il.max_image_height = Some(l.max_side);
    // RGBA16 worst case plus a conversion copy.
    il.max_alloc = Some(l.max_pixels.saturating_mul(8).saturating_add(l.max_pixels.saturating_mul(3)));
    il
}

fn exif_removed(e: &exif::Exif) -> Vec<String> {
    use exif::Tag;
    let mut gps = false;
    let mut device = false;
    let mut serial = false;
    let mut maker = false;
    let mut time = false;
    let mut thumb = false;
    let mut owner = false;
    let mut other = false;
    for f in e.fields() {
        match f.tag {
            t if t.context() == exif::Context::Gps => gps = true,
            Tag::GPSInfoIFDPointer => gps = true,
            Tag::Make | Tag::Model | Tag::Software | Tag::LensMake | Tag::LensModel => device = true,
            Tag::BodySerialNumber | Tag::LensSerialNumber | Tag::ImageUniqueID => serial = true,
            Tag::MakerNote => maker = true,
            Tag::DateTime | Tag::DateTimeOriginal | Tag::DateTimeDigitized | Tag::OffsetTime
            | Tag::OffsetTimeOriginal | Tag::SubSecTimeOriginal => time = true,
            Tag::JPEGInterchangeFormat | Tag::JPEGInterchangeFormatLength => thumb = true,
            Tag::Artist | Tag::Copyright | Tag::CameraOwnerName | Tag::ImageDescription | Tag::UserComment => owner = true,
            _ if f.ifd_num == exif::In::THUMBNAIL => thumb = true,
            _ => other = true,
        }
    }
    let mut v = Vec::new();
    if gps {
        v.push("location removed".to_string());
    }
    if device {
        v.push("device make and model removed".to_string());
    }
    if serial {
        v.push("device serial number removed".to_string());
    }
    if maker {
        v.push("maker notes removed".to_string());
    }
    if owner {
        v.push("owner, description and comment fields removed".to_string());
    }
    if time {
        v.push("capture date and time removed".to_string());
    }
    if thumb {
        v.push("embedded thumbnail removed".to_string());
    }
    if other {
        v.push("other EXIF camera settings removed".to_string());
    }
    v
}

/// Decodes to RGB8 (not yet upright). `buf` is a reusable buffer.
fn decode(bytes: &[u8], p: &Probe, limits: &IntakeLimits, mut buf: Vec<u8>) -> Result<Rgb, (IntakeError, Vec<u8>)> {
    let corrupt = |b: Vec<u8>| (IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, p.format).dims(p.width, p.height), b);
    match p.format {
        Format::Jpeg => {
            use zune_core::bytestream::ZCursor;
            use zune_core::colorspace::ColorSpace;
            let opts = zune_core::options::DecoderOptions::default()
                .set_max_width(limits.max_side as usize)
                .set_max_height(limits.max_side as usize)
                .jpeg_set_max_scans(limits.max_scans as usize)
                .jpeg_set_out_colorspace(ColorSpace::RGB);
            let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), opts);
            if d.decode_headers().is_err() {
                return Err(corrupt(buf));
            }
            let Some((w, h)) = d.dimensions() else { return Err(corrupt(buf)) };
            let Some(size) = d.output_buffer_size() else { return Err(corrupt(buf)) };
            if (w as u32, h as u32) != (p.width, p.height) || size != w * h * 3 {
                return Err(corrupt(buf));
            }
            buf.clear();
            buf.resize(size, 0);
            if d.decode_into(&mut buf).is_err() {
                return Err(corrupt(buf));
            }
            Ok(Rgb { w: w as u32, h: h as u32, px: buf })
        }
        Format::Png | Format::Gif | Format::Tiff => {
            let fmt = match p.format {
                Format::Png => image::ImageFormat::Png,
                Format::Gif => image::ImageFormat::Gif,
                _ => image::ImageFormat::Tiff,
            };
            let mut r = image::ImageReader::with_format(std::io::Cursor::new(bytes), fmt);
            r.limits(image_limits(limits));
            let img = match r.decode() {
                Ok(i) => i,
                Err(image::ImageError::Limits(_)) => {
                    return Err((
                        IntakeError::new(IssueCode::DimensionsExceedLimit, msg_dims(limits), p.format).dims(p.width, p.height),
                        buf,
                    ));
                }
                Err(image::ImageError::Unsupported(_)) => {
                    return Err((IntakeError::new(IssueCode::UnsupportedFormat, MSG_FORMAT, p.format), buf));
                }
                Err(_) => return Err(corrupt(buf)),
            };
            let (w, h) = (img.width(), img.height());
            if w == 0 || h == 0 || w > limits.max_side || h > limits.max_side {
                return Err(corrupt(buf));
            }
            // The decoder's own buffer becomes the RGB image: no second full-size copy (an
            // RGB8 PNG is moved as is; RGBA8 is composited in place).
            let px = if img.color() == image::ColorType::Rgb8 {
                img.into_rgb8().into_raw()
            } else if img.color() == image::ColorType::Rgba8 {
                // Composite over white so transparent areas do not turn black.
                let mut v = img.into_rgba8().into_raw();
                let n = v.len() / 4;
                for i in 0..n {
                    let a = v[i * 4 + 3] as u32;
                    for c in 0..3 {
                        let x = v[i * 4 + c] as u32;
                        v[i * 3 + c] = ((x * a + 255 * (255 - a) + 127) / 255) as u8;
                    }
                }
                v.truncate(n * 3);
                v.shrink_to_fit();
                v
            } else if img.color().has_alpha() {
                let rgba = img.into_rgba8();
                let mut v = Vec::with_capacity(w as usize * h as usize * 3);
                for q in rgba.as_raw().chunks_exact(4) {
                    let a = q[3] as u32;
                    for &c in &q[..3] {
                        v.push(((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8);
                    }
                }
                v
            } else {
                img.into_rgb8().into_raw()
            };
            return_buf(buf);
            let buf = px;
            Ok(Rgb { w, h, px: buf })
        }
        _ => Err((IntakeError::new(IssueCode::UnsupportedFormat, MSG_FORMAT, p.format), buf)),
    }
}

// ---------------------------------------------------------------------------
// Pipeline.

/// Assess a photo and produce its derivatives.
///
/// `Err` only for input that is unsafe or cannot be decoded; a decodable
/// photo with a `reject` quality verdict (e.g. blurred beyond use) is `Ok`.
pub fn intake(bytes: &[u8], limits: &IntakeLimits, req: &QualityRequirements) -> Result<Intake, IntakeError> {
    let mut p = probe(bytes, limits, true)?;
    let (w, h) = pixels::upright_dims(p.width, p.height, p.orientation);
    // A YCbCr or grey JPEG: the original is the camera's own data, turned upright losslessly
    // when it has to be, and only as many pixels are decoded as the derivatives need.
    // Pixels are needed at full size only when the original is too big to be the e-RS
    // attachment; otherwise the smallest scaled-IDCT decode at least preview-sized.
    let scale = |original_len: usize| if original_len > ERS_MAX_BYTES { 8 } else { ljpeg::scale_for(w, h, PREVIEW_DECODE_LONG_SIDE) };
    let mut buf = take_buf();
    // A lossless transform decodes the pixels on the way, at the scale the metadata-free file's
    // size calls for (the transformed file differs from it only in its Huffman tables).
    let m_stripped = scale(p.stripped.as_ref().map_or(0, Vec::len));
    let upright_jpeg = if p.format == Format::Jpeg && p.plain_jpeg {
        match upright_original(&mut p, m_stripped, &mut buf) {
            Ok(kept) => kept,
            Err(e) => {
                return_buf(buf);
                return Err(e);
            }
        }
    } else {
        None
    };
    let (full, o, original, applied, full_needed) = match upright_jpeg {
        Some((source, applied, decoded)) => {
            let full_needed = source.len() > ERS_MAX_BYTES;
            let m = scale(source.len());
            let (img, o) = match decoded {
                // Decoded with the transform from the stored photo: turned upright with the preview.
                Some(dims) if m == m_stripped && dims == ljpeg::scaled_dims(p.width, p.height, m) => {
                    (Rgb { w: dims.0, h: dims.1, px: buf }, p.orientation)
                }
                _ => match ljpeg::decode_scaled(&source, m, buf) {
                    Ok((sw, sh, px)) if (sw, sh) == ljpeg::scaled_dims(w, h, m) => (Rgb { w: sw, h: sh, px }, 1),
                    Ok((_, _, px)) | Err((_, px)) => {
                        return_buf(px);
                        return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, p.format).dims(p.width, p.height));
                    }
                },
            };
            (img, o, Some(Derivative::new(source, false, w, h)), applied, full_needed)
        }
        None => match decode(bytes, &p, limits, buf) {
            Ok(f) => {
                let applied = if p.orientation == 1 { OrientationApplied::None } else { OrientationApplied::Reencoded };
                (f, p.orientation, None, applied, true)
            }
            Err((e, b)) => {
                return_buf(b);
                return Err(e);
            }
        },
    };
    // Working memory: the decoded photo (3 bytes a pixel, as stored: never rotated as a whole;
    // reduced in scale when the original needs no pixels) is the only large pixel buffer.
    // Derivatives are made from it (resized in bands, encoded through an upright view) and it is
    // dropped as soon as the attachment no longer needs it. `WorkingMemory` is the upper bound of
    // what this function allocates.
    // Never larger than the pixels decoded (a half-scale decode of 4032 px is the 2016 px preview,
    // taken over rather than copied when nothing else needs it). A full-size decode whose half
    // is within 1/32 of the preview size (4000x3000 gives 2000x1500) is halved by 2x2 averages,
    // as the half-scale decode would have given it, instead of resampled by Lanczos3.
    let (pw, ph) = pixels::fit(w, h, PREVIEW_LONG_SIDE.min(full.w.max(full.h)));
    let (spw, sph) = pixels::upright_dims(pw, ph, o);
    let lossless_ok = original.is_some() || (o == 1 && p.stripped.is_some() && matches!(p.format, Format::Jpeg | Format::Png));
    let half_long = full.w.max(full.h) / 2;
    let (source, preview_raw) = match original {
        // The camera's own JPEG, small enough to be the attachment too: no pixels needed.
        Some(d) if !full_needed && (spw, sph) == (full.w, full.h) => (Originals::Camera(d), full),
        original => {
            let preview = if (PREVIEW_DECODE_LONG_SIDE..=PREVIEW_LONG_SIDE).contains(&half_long) {
                pixels::halve(&full)
            } else {
                pixels::resize_rgb(&full, spw, sph, pixels::LANCZOS)
            };
            (Originals::Pixels(full, original), preview)
        }
    };
    let preview_img = if o == 1 { preview_raw } else { pixels::orient(&preview_raw, o) };

    // Original and attachment (may need the full image).
    let stripped = p.stripped.take();
    let (format, plain_jpeg) = (p.format, p.plain_jpeg);
    let ((original, attachment), (preview, (analysis, faces, thumbnail))) = rayon::join(
        move || {
            let (full, original) = match source {
                Originals::Camera(d) => return (d.clone(), d),
                Originals::Pixels(full, original) => (full, original),
            };
            let original = match (original, stripped) {
                (Some(d), _) => d,
                (None, Some(bytes)) if lossless_ok => Derivative::new(bytes, format == Format::Png, full.w, full.h),
                _ if matches!(format, Format::Jpeg) => Derivative::new(pixels::encode_jpeg_oriented(&full, o, 92), false, w, h),
                _ => Derivative::new(pixels::encode_png_oriented(&full, o), true, w, h),
            };
            let attachment = if original.content_type == "image/jpeg"
                && original.bytes.len() <= ERS_MAX_BYTES
                && (plain_jpeg || !lossless_ok)
            {
                return_buf(full.px);
                original.clone()
            } else {
                make_attachment(full, o)
            };
            (original, attachment)
        },
        || {
            rayon::join(
                || Derivative::new(pixels::encode_jpeg(&preview_img, 85), false, preview_img.w, preview_img.h),
                || {
                    let (small, a, f) = assess(&preview_img);
                    // From the analysis copy (1024 px), a quarter of the preview's pixels.
                    let (tw, th) = pixels::fit(small.w, small.h, THUMBNAIL_LONG_SIDE);
                    let t = pixels::resize_rgb(&small, tw, th, pixels::LANCZOS);
                    (a, f, Derivative::new(pixels::encode_jpeg(&t, 80), false, tw, th))
                },
            )
        },
    );
    // The decode buffer (or the preview that took it over) goes back for the next photo.
    return_buf(preview_img.px);
    let report = build_report(&p, w, h, req, analysis, faces, applied);
    Ok(Intake { report, original, attachment, preview, thumbnail })
}

/// What [`intake`]'s original and e-RS attachment are made from.
enum Originals {
    /// The camera's JPEG (upright, metadata removed), which is also the attachment.
    Camera(Derivative),
    /// The decoded photo, with the camera's JPEG when it is kept but too big to be the attachment.
    Pixels(Rgb, Option<Derivative>),
}

/// The camera's JPEG kept as the original, how it was turned upright, and the size of the pixels
/// decoded on the way (a lossless transform only).
type KeptOriginal = (Vec<u8>, OrientationApplied, Option<(u32, u32)>);

/// For a YCbCr or grey JPEG: the metadata-free original, upright, with the camera's coefficients
/// (the stripped file itself when EXIF orientation is 1, else its coefficients transformed
/// losslessly, when the photo's pixels at scale `m`/8, as stored, are decoded into `buf` from the
/// same coefficients and their size returned). `None` when a lossless transform is impossible for
/// these dimensions: the caller re-encodes. Takes `p.stripped` only when it returns `Some`.
fn upright_original(p: &mut Probe, m: u32, buf: &mut Vec<u8>) -> Result<Option<KeptOriginal>, IntakeError> {
    let Some(stripped) = p.stripped.take() else { return Ok(None) };
    if p.orientation == 1 {
        return Ok(Some((stripped, OrientationApplied::None, None)));
    }
    if predicted_orientation(p) != OrientationApplied::Lossless {
        p.stripped = Some(stripped);
        return Ok(None);
    }
    match ljpeg::upright_lossless_decoded(&stripped, p.orientation, m, buf) {
        Ok(Some((t, sw, sh))) => Ok(Some((t, OrientationApplied::Lossless, Some((sw, sh))))),
        Ok(None) => {
            p.stripped = Some(stripped);
            Ok(None)
        }
        Err(ljpeg::Damaged) => Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, p.format).dims(p.width, p.height)),
    }
}

/// Largest working memory a lossless transform may take; above it (a photo of more than about
/// 40 MP without chroma subsampling, or 80 MP with) the original is re-encoded, which needs less.
const LOSSLESS_MAX_WORKING_BYTES: u64 = 512 << 20;

/// Every DCT coefficient (2 bytes) of every component of a JPEG, padded to whole MCUs: what
/// libjpeg holds to transform it or to decode it progressively.
fn jpeg_coefficient_bytes(info: &JpegInfo) -> u64 {
    let (w, h) = (info.width as u64, info.height as u64);
    let hmax = info.sampling.iter().map(|s| s.0 as u64).max().unwrap_or(1).max(1);
    let vmax = info.sampling.iter().map(|s| s.1 as u64).max().unwrap_or(1).max(1);
    let (mcu_w, mcu_h) = (w.div_ceil(8 * hmax), h.div_ceil(8 * vmax));
    info.sampling.iter().map(|&(sh, sv)| mcu_w * sh as u64 * 64 * mcu_h * sv as u64 * 2).sum::<u64>()
}

/// Working memory of the lossless transform of a `file_len`-byte JPEG: libjpeg holds the source's
/// coefficients and a transformed copy, beside the metadata-free file, the output (grown by
/// doubling) and its copy.
fn lossless_transform_bytes(info: &JpegInfo, file_len: u64) -> u64 {
    2 * jpeg_coefficient_bytes(info) + 4 * file_len
}

/// What [`intake`] will do to turn the original upright, from the header alone (the lossless
/// transforms need whole MCUs on every edge the transform moves: jpegtran's `-perfect` rule; and
/// at most [`LOSSLESS_MAX_WORKING_BYTES`] of memory).
fn predicted_orientation(p: &Probe) -> OrientationApplied {
    let o = p.orientation;
    if !(2..=8).contains(&o) {
        return OrientationApplied::None;
    }
    let Some(info) = p.jpeg.as_ref().filter(|_| p.format == Format::Jpeg && p.plain_jpeg) else {
        return OrientationApplied::Reencoded;
    };
    let (mw, mh) = if info.components == 1 {
        (8, 8)
    } else {
        let hmax = info.sampling.iter().map(|s| s.0 as u32).max().unwrap_or(1).max(1);
        let vmax = info.sampling.iter().map(|s| s.1 as u32).max().unwrap_or(1).max(1);
        (8 * hmax, 8 * vmax)
    };
    let (wa, ha) = (p.width % mw == 0, p.height % mh == 0);
    let ok = match o {
        2 | 8 => wa,
        4 | 6 => ha,
        3 | 7 => wa && ha,
        _ => true, // 5: transpose moves no partial block
    };
    if ok && lossless_transform_bytes(info, p.file_len) <= LOSSLESS_MAX_WORKING_BYTES {
        OrientationApplied::Lossless
    } else {
        OrientationApplied::Reencoded
    }
}

/// Smallest and largest long side [`resized`] makes (the viewer asks for a screen-sized view, then a
/// larger one to zoom into; beyond this the original is downloaded as it is).
pub const RESIZED_MIN_LONG_SIDE: u32 = 256;
pub const RESIZED_MAX_LONG_SIDE: u32 = 4096;

/// A JPEG of a stored photo (an intake derivative: upright, metadata removed) with its long side at
/// most `long_side` (clamped to [`RESIZED_MIN_LONG_SIDE`]..=[`RESIZED_MAX_LONG_SIDE`]), never
/// enlarged: the viewer's large preview. The same probe and decode limits as [`intake`]; a stored
/// photo with an EXIF orientation (none is kept) is turned upright all the same.
pub fn resized(bytes: &[u8], limits: &IntakeLimits, long_side: u32) -> Result<Derivative, IntakeError> {
    let long_side = long_side.clamp(RESIZED_MIN_LONG_SIDE, RESIZED_MAX_LONG_SIDE);
    let p = probe(bytes, limits, false)?;
    let (uw, uh) = pixels::upright_dims(p.width, p.height, p.orientation);
    let (w, h) = pixels::fit(uw, uh, long_side);
    let full = if p.format == Format::Jpeg && p.plain_jpeg {
        // Only as many pixels as the result needs (scaled IDCT).
        let m = ljpeg::scale_for(uw, uh, w.max(h));
        match ljpeg::decode_scaled(bytes, m, Vec::new()) {
            Ok((sw, sh, px)) if (sw, sh) == ljpeg::scaled_dims(p.width, p.height, m) => Rgb { w: sw, h: sh, px },
            _ => return Err(IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, p.format).dims(p.width, p.height)),
        }
    } else {
        decode(bytes, &p, limits, Vec::new()).map_err(|(e, _)| e)?
    };
    let (sw, sh) = pixels::upright_dims(w, h, p.orientation);
    let img = if (sw, sh) == (full.w, full.h) { full } else { pixels::shrink_in_place(full, sw, sh, pixels::LANCZOS) };
    Ok(Derivative::new(pixels::encode_jpeg_oriented(&img, p.orientation, 88), false, w, h))
}

/// JPEG of at most ERS_MAX_BYTES, keeping as much resolution as fits. Takes the decoded photo
/// (as stored, with its EXIF orientation `o`) and scales it down in its own buffer.
fn make_attachment(full: Rgb, o: u32) -> Derivative {
    let mut img = full;
    for _round in 0..8 {
        let (uw, uh) = pixels::upright_dims(img.w, img.h, o);
        let mut last_len = 0;
        for q in [90u8, 82, 75] {
            let b = pixels::encode_jpeg_oriented_lean(&img, o, q);
            if !b.is_empty() && b.len() <= ERS_MAX_BYTES {
                return Derivative::new(b, false, uw, uh);
            }
            last_len = b.len();
        }
        // Scale down so that the q75 size would land at ~90% of the limit.
        let f = ((ERS_MAX_BYTES as f64 * 0.9) / last_len.max(1) as f64).sqrt().clamp(0.3, 0.95);
        let nw = ((img.w as f64 * f) as u32).max(16);
        let nh = ((img.h as f64 * f) as u32).max(16);
        // Scaled down within the same buffer: never a second full-size image.
        img = pixels::shrink_in_place(img, nw, nh, pixels::LANCZOS);
    }
    let (uw, uh) = pixels::upright_dims(img.w, img.h, o);
    let (w, h) = pixels::fit(uw, uh, 1024);
    let (sw, sh) = pixels::upright_dims(w, h, o);
    let s = pixels::shrink_in_place(img, sw, sh, pixels::LANCZOS);
    Derivative::new(pixels::encode_jpeg_oriented(&s, o, 75), false, w, h)
}

/// What [`intake`] will need for one photo, worked out from its header alone (no pixel is
/// decoded): the server admits the photo only when this fits in its intake memory budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingMemory {
    pub format: Format,
    /// Dimensions as stored (before EXIF orientation).
    pub width: u32,
    pub height: u32,
    /// Upper bound of the bytes `intake` allocates for this photo (beyond `bytes` itself).
    pub bytes: u64,
}

/// Allowance for everything that does not scale with the photo: the preview, analysis and
/// thumbnail images, resize and rotation bands, encoder state.
const FIXED_WORKING_BYTES: u64 = 32 << 20;

/// The working memory [`intake`] needs for `bytes`, from the header. Fails with the same
/// refusal `intake` would give when the header already shows the photo cannot be taken
/// (format, dimensions, size, malformed structure).
///
/// The bound follows the pipeline: the decoder's output (3 bytes a pixel) plus what the decoder
/// needs beside it (a progressive or multi-scan JPEG keeps every DCT coefficient: 2 bytes per
/// sample of each component; a PNG that is not 8-bit RGB/RGBA is converted from its own
/// buffer), or afterwards the decoded photo and the derivatives' encoded bytes, whichever is
/// larger; plus a fixed allowance for the small images.
pub fn working_memory(bytes: &[u8], limits: &IntakeLimits) -> Result<WorkingMemory, IntakeError> {
    let p = probe(bytes, limits, false)?;
    let (w, h) = (p.width as u64, p.height as u64);
    let px = w * h;
    let rgb = px * 3;
    let file = bytes.len() as u64;
    if let (Format::Jpeg, Some(info), true) = (p.format, &p.jpeg, p.plain_jpeg)
        && (p.orientation == 1 || predicted_orientation(&p) == OrientationApplied::Lossless)
    {
        // The original is the camera's data (turned upright losslessly when it has to be) and
        // pixels are decoded at reduced scale unless the original is too big to be the e-RS
        // attachment (then at full size, to make one).
        let hmax = info.sampling.iter().map(|s| s.0 as u64).max().unwrap_or(1).max(1);
        let mcu_w = w.div_ceil(8 * hmax);
        let coefficients = jpeg_coefficient_bytes(info);
        // One decoding gives both the pixels and the coefficients the transform moves: while it
        // runs, the transform's arrays and the scaled pixels are held at once.
        let transform = if p.orientation == 1 { 0 } else { lossless_transform_bytes(info, file) };
        let (uw, uh) = pixels::upright_dims(p.width, p.height, p.orientation);
        let full_size = file * 10 > ERS_MAX_BYTES as u64 * 9;
        let m = if full_size { 8 } else { ljpeg::scale_for(uw, uh, PREVIEW_DECODE_LONG_SIDE) };
        let (sw, sh) = ljpeg::scaled_dims(p.width, p.height, m);
        let scaled_rgb = sw as u64 * sh as u64 * 3;
        // A progressive (or multi-scan) JPEG keeps every coefficient while decoding.
        let decode = scaled_rgb
            + if info.progressive || info.scans > 1 { coefficients } else { 0 }
            + mcu_w * 8 * hmax * 64 * 4;
        // After decoding: the attachment's full-size JPEG attempts when the original cannot be it.
        let after = scaled_rgb + if full_size { scaled_rgb / 4 } else { 0 };
        return Ok(WorkingMemory {
            format: p.format,
            width: p.width,
            height: p.height,
            bytes: (transform + if transform > 0 { decode } else { 0 }).max(file + decode.max(after)) + FIXED_WORKING_BYTES,
        });
    }
    let decode = match (p.format, &p.jpeg) {
        (Format::Jpeg, Some(info)) => {
            let hmax = info.sampling.iter().map(|s| s.0 as u64).max().unwrap_or(1);
            let vmax = info.sampling.iter().map(|s| s.1 as u64).max().unwrap_or(1);
            let (mcu_w, mcu_h) = (w.div_ceil(8 * hmax), h.div_ceil(8 * vmax));
            let coefficients = if info.progressive || info.scans > 1 {
                info.sampling.iter().map(|&(sh, sv)| mcu_w * sh as u64 * 8 * mcu_h * sv as u64 * 8 * 2).sum::<u64>()
            } else {
                0
            };
            // Row buffers and upsampling scratch: one MCU row per component, generously.
            rgb + coefficients + mcu_w * 8 * hmax * 64 * 4
        }
        (Format::Png, _) => {
            let (depth, colour, interlace) = container::png_format(bytes).unwrap_or((16, 6, 1));
            let channels = match colour {
                0 => 1,
                2 => 3,
                4 => 2,
                _ => 4, // RGBA, or a palette expanded to RGBA
            };
            let native = px * channels * if depth == 16 { 2 } else { 1 };
            let converted = if depth == 8 && matches!(colour, 2 | 6) { 0 } else { rgb };
            native + converted + if interlace == 1 { native } else { 0 }
        }
        // The decoder's limit (`image_limits`) and the RGB copy.
        _ => px.saturating_mul(11) + rgb,
    };
    // After decoding: the photo, plus the e-RS attachment's full-size JPEG attempts (one at a
    // time; scaling down happens in the photo's own buffer) unless the file itself is the
    // attachment, plus the metadata-free copy of the file and, for a photo turned upright, the
    // re-encoded original (q92 JPEG: well under 6 bits a pixel; PNG: at most the pixels).
    let attachment_is_original = p.format == Format::Jpeg && p.orientation == 1 && p.plain_jpeg && bytes.len() <= ERS_MAX_BYTES;
    let after = rgb + if attachment_is_original { 0 } else { rgb / 4 };
    let lossless = p.orientation == 1 && matches!(p.format, Format::Jpeg | Format::Png);
    let original = if lossless {
        file
    } else if p.format == Format::Jpeg {
        file + rgb / 4
    } else {
        file + rgb
    };
    Ok(WorkingMemory {
        format: p.format,
        width: p.width,
        height: p.height,
        bytes: decode.max(after) + original + FIXED_WORKING_BYTES,
    })
}

/// The analysis copy of the upright preview, its metrics and face count.
fn assess(preview: &Rgb) -> (Rgb, quality::Analysis, u32) {
    let (aw, ah) = pixels::fit(preview.w, preview.h, quality::ANALYSIS_LONG_SIDE);
    let small = pixels::resize_rgb(preview, aw, ah, pixels::BILINEAR);
    let a = quality::analyse(&small);
    let faces = faces::count_faces(&a.grey, aw, ah);
    (small, a, faces)
}

/// Assess without producing derivatives. Never fails: refusals become a
/// `reject` report.
pub fn check(bytes: &[u8], limits: &IntakeLimits, req: &QualityRequirements) -> QualityReport {
    let p = match probe(bytes, limits, false) {
        Ok(p) => p,
        Err(e) => return e.report(),
    };
    let o = p.orientation;
    // A YCbCr or grey JPEG is decoded at the smallest scale (M/8, scaled IDCT) that still gives
    // the analysis size: every block is entropy-decoded, a fraction of the pixels produced.
    let scaled = p.format == Format::Jpeg && p.plain_jpeg;
    let m = if scaled { ljpeg::scale_for(p.width, p.height, quality::ANALYSIS_LONG_SIDE) } else { 8 };
    let decoded = if scaled {
        match ljpeg::decode_scaled(bytes, m, take_buf()) {
            Ok((sw, sh, px)) if (sw, sh) == ljpeg::scaled_dims(p.width, p.height, m) => Ok(Rgb { w: sw, h: sh, px }),
            Ok((_, _, px)) | Err((_, px)) => {
                Err((IntakeError::new(IssueCode::Corrupt, MSG_CORRUPT, p.format).dims(p.width, p.height), px))
            }
        }
    } else {
        decode(bytes, &p, limits, take_buf())
    };
    let full = match decoded {
        Ok(f) => f,
        Err((e, b)) => {
            return_buf(b);
            return e.report();
        }
    };
    let (pw, ph) = pixels::fit(p.width, p.height, quality::ANALYSIS_LONG_SIDE);
    let small = pixels::orient(&pixels::resize_rgb(&full, pw, ph, pixels::BILINEAR), o);
    let (w, h) = pixels::upright_dims(p.width, p.height, o);
    return_buf(full.px);
    let a = quality::analyse(&small);
    let faces = faces::count_faces(&a.grey, small.w, small.h);
    build_report(&p, w, h, req, a, faces, predicted_orientation(&p))
}

// ---------------------------------------------------------------------------
// Verdict. Thresholds: see docs/imaging.md ("Calibration").

/// Normalised sharpness (tile maximum) below which the photo is rejected.
pub const SHARPNESS_REJECT: f64 = 60.0;
/// Normalised sharpness below which the sender is warned.
pub const SHARPNESS_WARN: f64 = 150.0;
/// Gradient anisotropy that marks motion blur (with low sharpness).
pub const MOTION_DIRECTIONALITY: f64 = 3.0;

// Exposure is called only on evidence that does not depend on the colour of the skin in the
// frame: clipping, a histogram squeezed against black (no highlight anywhere in the photo), and
// the camera's own exposure record. Skin colour is never evidence: the darkest well-lit skin
// (Monk 10) has a mean luma of about 35, the value an underexposed photo of light skin could
// also have, so a stop or two of doubt on dark skin is a pass. See docs/imaging.md.

/// Fraction of pixels at Y <= 5 that rejects / warns (underexposed).
pub const UNDER_CLIP_REJECT: f64 = 0.30;
pub const UNDER_CLIP_WARN: f64 = 0.08;
/// 99th percentile of Y below which the photo is clearly too dark: the whole histogram is
/// squeezed against black. Below every good photo of every tone on the fairness set
/// (the darkest, Monk 10 in shade, has p99 35 at 1600x1200).
pub const UNDER_P99_REJECT: u8 = 16;
pub const UNDER_P99_WARN: u8 = 28;
/// The camera's own record (EXIF) says the exposure was this many stops away from its meter:
/// warn (never reject: phones' Bv conventions differ by a fraction of a stop).
pub const CAMERA_EV_WARN: f64 = 1.5;
/// Fraction of pixels at Y >= 250 that rejects / warns (overexposed).
pub const OVER_CLIP_REJECT: f64 = 0.25;
pub const OVER_CLIP_WARN: f64 = 0.05;
/// 1st percentile of Y above which the whole photo is washed out.
pub const OVER_P1_REJECT: u8 = 215;
/// Skin fraction below which `no_skin_detected` warns.
pub const SKIN_WARN: f64 = 0.15;

fn build_report(
    p: &Probe,
    w: u32,
    h: u32,
    req: &QualityRequirements,
    a: quality::Analysis,
    faces: u32,
    orientation_applied: OrientationApplied,
) -> QualityReport {
    let mut issues = Vec::new();
    let mut m = a.metrics;
    m.exif_orientation = p.orientation;
    m.exposure_ev = p.camera_ev.map(|v| (v * 100.0).round() / 100.0);
    let push = |v: &mut Vec<Issue>, code, severity, msg: &str| v.push(Issue { code, severity, message: msg.to_string() });

    // Resolution.
    let short = w.min(h);
    if short < req.min_short_side_px {
        issues.push(Issue {
            code: IssueCode::LowResolution,
            severity: Severity::Reject,
            message: format!(
                "The photo is too small ({w}x{h}; at least {} pixels on the short side are needed). Send the original photo from the camera, not a screenshot or a resized copy.",
                req.min_short_side_px
            ),
        });
    } else if short < req.recommended_short_side_px {
        issues.push(Issue {
            code: IssueCode::LowResolution,
            severity: Severity::Warn,
            message: format!("The photo is small ({w}x{h}); detail may be lost. If you can, send the original full-size photo from the camera."),
        });
    }

    // Blur (including motion blur).
    let motion = m.directionality >= MOTION_DIRECTIONALITY;
    let blur_msg = if motion {
        "The photo is blurred by movement. Hold the phone steady with both hands (or rest your elbows), about 30 cm from the skin, tap the lesion to focus and take the photo again."
    } else {
        "The photo is out of focus. Hold the phone about 30 cm from the skin, tap the lesion on the screen to focus, wait a moment and take the photo again."
    };
    if m.sharpness < SHARPNESS_REJECT {
        push(&mut issues, IssueCode::Blurred, Severity::Reject, blur_msg);
    } else if m.sharpness < SHARPNESS_WARN || motion {
        push(&mut issues, IssueCode::Blurred, Severity::Warn, blur_msg);
    }

    // Exposure: judged on clipping, on the histogram's upper end (which stays fair for dark skin:
    // a well-lit photo of the darkest skin has a low mean but unclipped shadows and highlights
    // that reach p99 ~40) and on the camera's own exposure record. Never on skin colour.
    let under_msg = "The photo is too dark. Move to daylight near a window or turn on the room lights (avoid the flash close up), make sure nothing shades the skin, and take the photo again.";
    let over_msg = "The photo is too bright or washed out by glare. Turn off the flash, move out of direct sunlight, tilt the phone slightly to avoid reflections and take the photo again.";
    let camera = m.exposure_ev.unwrap_or(0.0);
    if m.shadow_clip > UNDER_CLIP_REJECT || m.p99_luma < UNDER_P99_REJECT {
        push(&mut issues, IssueCode::Underexposed, Severity::Reject, under_msg);
    } else if m.shadow_clip > UNDER_CLIP_WARN || m.p99_luma < UNDER_P99_WARN || camera <= -CAMERA_EV_WARN {
        push(&mut issues, IssueCode::Underexposed, Severity::Warn, under_msg);
    }
    if m.highlight_clip > OVER_CLIP_REJECT || m.p1_luma > OVER_P1_REJECT {
        push(&mut issues, IssueCode::Overexposed, Severity::Reject, over_msg);
    } else if m.highlight_clip > OVER_CLIP_WARN || camera >= CAMERA_EV_WARN {
        push(&mut issues, IssueCode::Overexposed, Severity::Warn, over_msg);
    }

    // Skin (warn only; colour rules under-detect dark skin).
    if m.skin_fraction < SKIN_WARN {
        push(
            &mut issues,
            IssueCode::NoSkinDetected,
            Severity::Warn,
            "Little or no skin was found in the photo. Make sure the affected skin fills most of the picture, about 30 cm away, with a plain background.",
        );
    }
    if faces > 0 {
        push(
            &mut issues,
            IssueCode::FaceDetected,
            Severity::Warn,
            "A face may be visible. Unless the face is the affected area, retake the photo showing only the affected skin; photos identifying children are not accepted by some services.",
        );
    }

    let verdict = if issues.iter().any(|i| i.severity == Severity::Reject) {
        Verdict::Reject
    } else if issues.iter().any(|i| i.severity == Severity::Warn) {
        Verdict::Warn
    } else {
        Verdict::Accept
    };
    QualityReport {
        verdict,
        issues,
        format: p.format.as_str().to_string(),
        width: w,
        height: h,
        dermoscopic: a.dermoscopic,
        faces,
        metadata_removed: p.removed.clone(),
        skin_tone_band: m.skin_ita.map(ToneBand::from_ita),
        orientation_applied,
        metrics: m,
    }
}
