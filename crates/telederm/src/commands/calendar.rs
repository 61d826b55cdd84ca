//! The working-day calendar a node uses, and `telederm calendar update|status`.
//!
//! Three places can hold England and Wales bank holidays: the copy built into the binary, the file
//! named by `TELEDERM_BANK_HOLIDAYS` (`bank_holidays` in the config file), and the database, where
//! `telederm calendar update FILE` loads a newer gov.uk `bank-holidays.json`. A node uses the one
//! whose official data reaches furthest; on a tie the database wins, then the file (so a corrected
//! file for the same years replaces the built-in copy). Nodes choose at start and again every
//! [`REFRESH`] while running, so a file loaded on one node reaches every node without a restart
//! or a rebuild. Past the official data, due dates follow the statutory rules and are marked
//! provisional (see the domain's `calendar` module); operators are warned from
//! [`calendar::WARNING_DAYS`] days before it ends.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{NaiveDate, Utc};
use chrono_tz::Europe::London;
use clap::Subcommand;
use telederm_domain::calendar::{self, Calendar};
use telederm_notify::dispatch::CancellationToken;
use telederm_store::Store;
use telederm_web::AppState;

use crate::wiring::{Chosen, choose};
use crate::config::Config;

/// How often a running node re-reads the database for a newer bank-holiday file.
pub const REFRESH: Duration = Duration::from_secs(5 * 60);

#[derive(Subcommand)]
pub enum CalendarCmd {
    /// Load a newer gov.uk bank-holidays.json (https://www.gov.uk/bank-holidays.json, saved to a
    /// file) into the database; every node uses it within 5 minutes, or at its next start.
    Update {
        /// The gov.uk `bank-holidays.json` file (its `england-and-wales` division is used).
        file: PathBuf,
    },
    /// Show the calendar in use: where it comes from, the range of its official data, days left.
    Status,
}

pub fn today() -> NaiveDate {
    Utc::now().with_timezone(&London).date_naive()
}

/// Logs the calendar in use, and warns when its official data ends within
/// [`calendar::WARNING_DAYS`] days or has ended.
pub fn log_in_use(calendar: &Calendar, source: &str) {
    tracing::info!(
        source,
        official_data_ends = %calendar.last_day(),
        days_left = calendar.days_left(today()),
        "bank-holiday calendar: {calendar}"
    );
    if let Some(warning) = calendar.warning(today()) {
        tracing::warn!(source, official_data_ends = %calendar.last_day(), days_left = calendar.days_left(today()), "{warning}");
    }
}

/// Re-reads the database every [`REFRESH`] and puts a newer calendar in use, until `stop`.
pub fn watch(config: Config, state: AppState, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(REFRESH) => {}
            }
            match choose(&config, &state.store).await {
                Ok(chosen) => {
                    if state.calendar.replace(chosen.calendar.clone(), chosen.source.clone()) {
                        tracing::info!(source = %chosen.source, "a newer bank-holiday calendar is in use");
                        log_in_use(&chosen.calendar, &chosen.source);
                    }
                }
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "re-reading the bank-holiday calendar failed; keeping the one in use"),
            }
        }
    })
}

pub async fn run(config: &Config, cmd: CalendarCmd) -> anyhow::Result<()> {
    let store = crate::wiring::open_store(config).await?;
    match cmd {
        CalendarCmd::Update { file } => update(config, &store, &file).await,
        CalendarCmd::Status => status(config, &store).await,
    }
}

async fn update(config: &Config, store: &Store, file: &Path) -> anyhow::Result<()> {
    let shown = file.display();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {shown}"))?;
    let new = Calendar::from_json(&text).map_err(|e| anyhow::anyhow!("{shown} was not loaded [{}]: {e}", e.code()))?;
    let today = today();
    anyhow::ensure!(
        new.first_day() <= today,
        "{shown} was not loaded: its {} data starts on {}, after today ({today}); gov.uk's file also lists past years, \
         so this is not it (download https://www.gov.uk/bank-holidays.json)",
        calendar::DIVISION,
        new.first_day()
    );
    let current = choose(config, store).await?;
    anyhow::ensure!(
        new.last_day() >= current.calendar.last_day(),
        "{shown} was not loaded: its {} data ends on {}, before the calendar in use ({}, official data to {}); \
         load a newer file",
        calendar::DIVISION,
        new.last_day(),
        current.source,
        current.calendar.last_day()
    );
    let stored = store.save_bank_holidays(&text, new.first_day(), new.last_day()).await?;
    println!("loaded {shown} into the database (sha256 {})", &stored.sha256[..12]);
    println!("{new}");
    if new.last_day() == current.calendar.last_day() {
        println!("its official data ends on the same day as the calendar in use ({}); it replaces it", current.source);
    }
    println!("running nodes use it within {} minutes; nodes that start from now use it at once", REFRESH.as_secs() / 60);
    Ok(())
}

async fn status(config: &Config, store: &Store) -> anyhow::Result<()> {
    let Chosen { calendar, source } = choose(config, store).await?;
    let today = today();
    let left = calendar.days_left(today);
    println!("source: {source}");
    println!("official data: {} to {} ({} bank holidays)", calendar.first_day(), calendar.last_day(), calendar.holidays().count());
    println!("today: {today} (Europe/London)");
    println!("days of official data left: {left}");
    println!(
        "after {}: due dates are computed from the statutory rules and marked provisional",
        calendar.last_day()
    );
    if let Some(warning) = calendar.warning(today) {
        println!("warning: {warning}");
    }
    Ok(())
}
