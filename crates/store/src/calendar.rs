//! Bank-holiday files loaded into the database (`telederm calendar update FILE`), so that every
//! node uses the same, newer calendar without a rebuild. The store keeps the text as given; the
//! caller validates it (the domain's `Calendar::from_json`) before saving. The latest row wins.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::codec::{date, parse_date, parse_ts, ts};
use crate::{Result, Store};

/// A bank-holiday file as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBankHolidays {
    pub id: String,
    pub loaded_at: DateTime<Utc>,
    /// The first and last day of its England and Wales data, as validated when loaded.
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    /// SHA-256 of `body`, hex: tells two loads apart in logs and `calendar status`.
    pub sha256: String,
    /// The gov.uk `bank-holidays.json` text.
    pub body: String,
}

impl Store {
    /// Records a validated bank-holiday file; it becomes the latest.
    pub async fn save_bank_holidays(&self, body: &str, first_day: NaiveDate, last_day: NaiveDate) -> Result<StoredBankHolidays> {
        // As stored: to the microsecond.
        let loaded_at = parse_ts(&ts(Utc::now()))?;
        let stored = StoredBankHolidays {
            id: uuid::Uuid::now_v7().to_string(),
            loaded_at,
            first_day,
            last_day,
            sha256: hex::encode(Sha256::digest(body.as_bytes())),
            body: body.to_string(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO bank_holiday_files (id, loaded_at, first_day, last_day, sha256, body) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&stored.id)
        .bind(ts(stored.loaded_at))
        .bind(date(first_day))
        .bind(date(last_day))
        .bind(&stored.sha256)
        .bind(&stored.body)
        .execute(tx.conn())
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// The most recently loaded bank-holiday file, if any was.
    pub async fn latest_bank_holidays(&self) -> Result<Option<StoredBankHolidays>> {
        let row = sqlx::query(
            "SELECT id, loaded_at, first_day, last_day, sha256, body FROM bank_holiday_files ORDER BY loaded_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredBankHolidays {
            id: row.try_get("id")?,
            loaded_at: parse_ts(&row.try_get::<String, _>("loaded_at")?)?,
            first_day: parse_date(&row.try_get::<String, _>("first_day")?)?,
            last_day: parse_date(&row.try_get::<String, _>("last_day")?)?,
            sha256: row.try_get("sha256")?,
            body: row.try_get("body")?,
        }))
    }
}
