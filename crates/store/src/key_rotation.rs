//! Bookkeeping for blob key rotation (`telederm keys rotate`) and the startup key check.
//!
//! A rotation moves every blob's data key from one key-encryption key to another (see
//! [`crate::blob_crypto`]). It is recorded so that it can be resumed, and so that servers accept
//! the previous key only while a rotation to the current key is unfinished.

use chrono::Utc;
use sqlx::Row;

use crate::codec::ts;
use crate::{Result, Store};

/// The `from_key_id` of a rotation that encrypts blobs stored before encryption was turned on.
pub const PLAINTEXT: &str = "plaintext";

/// A rotation as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub id: String,
    pub from_key_id: String,
    pub to_key_id: String,
    pub finished: bool,
    pub blobs_total: i64,
    pub blobs_done: i64,
}

impl Store {
    /// The unfinished rotation from `from` to `to`, or a new one.
    pub async fn start_key_rotation(&self, from: &str, to: &str) -> Result<Rotation> {
        let mut tx = self.begin_write().await?;
        let open = sqlx::query(
            "SELECT id, blobs_total, blobs_done FROM blob_key_rotations \
             WHERE from_key_id = $1 AND to_key_id = $2 AND finished_at IS NULL ORDER BY started_at DESC LIMIT 1",
        )
        .bind(from)
        .bind(to)
        .fetch_optional(tx.conn())
        .await?;
        let rotation = match open {
            Some(row) => Rotation {
                id: row.try_get("id")?,
                from_key_id: from.into(),
                to_key_id: to.into(),
                finished: false,
                blobs_total: row.try_get("blobs_total")?,
                blobs_done: row.try_get("blobs_done")?,
            },
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                sqlx::query("INSERT INTO blob_key_rotations (id, from_key_id, to_key_id, started_at) VALUES ($1, $2, $3, $4)")
                    .bind(&id)
                    .bind(from)
                    .bind(to)
                    .bind(ts(Utc::now()))
                    .execute(tx.conn())
                    .await?;
                Rotation { id, from_key_id: from.into(), to_key_id: to.into(), finished: false, blobs_total: 0, blobs_done: 0 }
            }
        };
        tx.commit().await?;
        Ok(rotation)
    }

    /// Records progress, and the end when `finished`.
    pub async fn record_key_rotation(&self, id: &str, total: i64, done: i64, finished: bool) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE blob_key_rotations SET blobs_total = $1, blobs_done = $2, finished_at = $3 WHERE id = $4")
            .bind(total)
            .bind(done)
            .bind(finished.then(|| ts(Utc::now())))
            .bind(id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether every blob has been moved from `from` to `to` (so `from` must no longer be used).
    pub async fn key_rotation_finished(&self, from: &str, to: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM blob_key_rotations WHERE from_key_id = $1 AND to_key_id = $2 AND finished_at IS NOT NULL",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    /// The blob key of the most recently stored photo's original, to check at startup that the
    /// configured key opens the photos.
    pub async fn latest_photo_blob_key(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT original_key FROM photos ORDER BY created_at DESC LIMIT 1").fetch_optional(&self.pool).await?;
        row.map(|r| r.try_get("original_key")).transpose().map_err(Into::into)
    }
}
