//! Conversions between domain values and the portable column types (text, 64-bit integers).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Result, StoreError};

/// RFC 3339 with microseconds and `Z`: sorts as text in the same order as time.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

pub fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub fn parse_date(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| StoreError::Corrupt(format!("date {s:?}: {e}")))
}

/// A unit enum's serde name, e.g. `ReferralStatus::InReview` -> `in_review`.
pub fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("not a unit enum: {other:?}"),
    }
}

pub fn parse_name<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|e| StoreError::Corrupt(format!("value {s:?}: {e}")))
}

pub fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| panic!("serialising a domain value cannot fail: {e}"))
}

pub fn parse_json<T: DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("json: {e}")))
}

pub fn uuid<T: From<uuid::Uuid>>(s: &str) -> Result<T> {
    uuid::Uuid::parse_str(s).map(T::from).map_err(|e| StoreError::Corrupt(format!("id {s:?}: {e}")))
}

pub fn unique_violation(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!("{what} already exists")),
        _ => StoreError::Database(e),
    }
}
