//! `telederm audit verify` and `telederm audit export` (docs/security.md, "Audit trail").

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Subcommand, ValueEnum};
use telederm_store::audit::{AuditEntry, AuditFilter, COLUMNS};

use crate::wiring::record_cli;
use crate::config::Config;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Walk the hash chain: exits 0 when every entry checks out, 1 naming the first broken entry
    /// (its id, sequence number and which check failed).
    Verify,
    /// Write entries for the data protection officer, oldest first.
    Export {
        /// First day (YYYY-MM-DD, UTC) or instant (RFC 3339) to include.
        #[arg(long)]
        since: String,
        /// Last day to include (YYYY-MM-DD), or the instant (RFC 3339) to stop before.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Where to write (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
}

/// The chain is broken: `main` exits with status 1 (other errors exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChainBroken(pub String);

/// A date (the start of that day, UTC) or an RFC 3339 instant.
fn parse_when(raw: &str, flag: &str, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .with_context(|| format!("{flag} {raw:?}: give a date as YYYY-MM-DD or an instant as RFC 3339 (2026-03-14T09:00:00Z)"))?;
    let day = if end_of_day { day.succ_opt().context("date out of range")? } else { day };
    Ok(day.and_hms_opt(0, 0, 0).context("date out of range")?.and_utc())
}

fn csv_field(v: &Option<String>) -> String {
    match v {
        None => String::new(),
        Some(s) if s.contains([',', '"', '\n', '\r']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Some(s) => s.clone(),
    }
}

fn write_entry(out: &mut dyn Write, format: ExportFormat, e: &AuditEntry) -> std::io::Result<()> {
    match format {
        ExportFormat::Jsonl => {
            serde_json::to_writer(&mut *out, e)?;
            writeln!(out)
        }
        ExportFormat::Csv => writeln!(out, "{}", e.fields().iter().map(csv_field).collect::<Vec<_>>().join(",")),
    }
}

pub async fn run(config: &Config, cmd: AuditCmd) -> anyhow::Result<()> {
    let store = crate::wiring::open_store(config).await?;
    match cmd {
        AuditCmd::Verify => {
            let v = store.verify_audit().await?;
            match v.broken {
                Some(b) => {
                    return Err(ChainBroken(format!("audit trail BROKEN after {} good entries: {b}", v.entries)).into());
                }
                None => println!("audit trail intact: {} entries, head hash {}", v.entries, v.head_hash),
            }
        }
        AuditCmd::Export { since, until, format, out } => {
            let since = parse_when(&since, "--since", false)?;
            let until = until.as_deref().map(|u| parse_when(u, "--until", true)).transpose()?;
            let mut sink: Box<dyn Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            if matches!(format, ExportFormat::Csv) {
                writeln!(sink, "{}", COLUMNS.join(","))?;
            }
            let mut after = None;
            let mut n = 0usize;
            loop {
                let filter = AuditFilter { since: Some(since), until, after_seq: after, limit: Some(1000), ..AuditFilter::default() };
                let page = store.search_audit(&filter).await?;
                for e in &page {
                    write_entry(&mut sink, format, e)?;
                }
                n += page.len();
                match page.last() {
                    Some(last) if page.len() == 1000 => after = Some(last.seq),
                    _ => break,
                }
            }
            sink.flush()?;
            drop(sink);
            let range = format!("since={} until={}", since.to_rfc3339(), until.map(|u| u.to_rfc3339()).unwrap_or_else(|| "-".into()));
            record_cli(&store, "audit.export", "audit_log", format!("{range} entries={n}")).await?;
            if let Some(path) = out {
                eprintln!("wrote {n} audit entries to {}", path.display());
            }
        }
    }
    Ok(())
}
