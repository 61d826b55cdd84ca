//! Moving a whole installation between databases (SQLite ⇄ PostgreSQL): every table, row for row,
//! then counts and checksums compared on both sides. The source is only read. The target must be
//! migrated (to the same schema version) and empty.
//!
//! Column types come from each database's catalogue, so a new migration's columns are copied
//! without changes here; a table this module does not know makes it refuse rather than skip data.

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Dialect, Result, Store, StoreError};

/// Every table, parents before children (foreign keys), with its ordering key.
const TABLES: &[(&str, &str)] = &[
    ("organisations", "id"),
    ("provider_services", "organisation_id, service_id"),
    ("users", "id"),
    ("user_services", "user_id, service_id"),
    ("sessions", "token_hash"),
    ("referrals", "id"),
    ("photos", "id"),
    ("referral_documents", "id"),
    ("messages", "id"),
    ("patient_links", "id"),
    ("patient_link_visits", "secret_hash"),
    ("patient_link_photos", "photo_id"),
    ("patient_feedback", "id"),
    ("referral_events", "seq"),
    ("jobs", "id"),
    ("outbox", "id"),
    ("gp_letters", "id"),
    ("audit_log", "seq"),
    ("audit_chain_head", "id"),
    ("blob_key_rotations", "id"),
    ("sign_in_failures", "id"),
    ("oidc_logins", "state_hash"),
    ("referral_imports", "referral_id"),
    ("oidc_identities", "issuer, subject"),
    ("bank_holiday_files", "id"),
    ("report_facts", "referral_id"),
    ("report_months", "service_id, month, practice_id"),
    ("referral_name_words", "practice_id, word, referral_id"),
    ("saved_phrases", "id"),
    ("teaching_cases", "id"),
];

/// Tables that belong to the database engine or the migrator, not to Telederm's data.
const ENGINE_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "sqlite_sequence",
    "sqlite_stat1",
    "sqlite_stat4",
    // Migration 0017's one-off marker: the target sets its own when it is migrated, and the
    // facts themselves are copied (`report_facts`).
    "report_facts_backfill",
    // Migration 0024's, the same way (the month totals are copied: `report_months`).
    "report_months_backfill",
    // Migration 0025's, the same way (the words are copied: `referral_name_words`).
    "referral_name_words_backfill",
];

/// Rows copied per insert transaction.
const BATCH: usize = 500;

/// A table's row count and a checksum of its contents that does not depend on row order or on
/// the database engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub table: String,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<TableSummary>,
}

impl CopyReport {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Int,
    Text,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: ColumnKind,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Store {
    /// Whether the audit chain is as a migration leaves it: only the genesis head.
    async fn fresh_audit_chain(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM audit_chain_head WHERE seq = 0").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("n")? == 1)
    }

    /// The tables of Telederm's schema in this database (engine tables left out).
    async fn table_names(&self) -> Result<Vec<String>> {
        let sql = match self.dialect {
            Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            Dialect::Postgres => {
                "SELECT table_name::text AS name FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
            }
        };
        Ok(sqlx::query(sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.get::<String, _>("name"))
            .filter(|n| !ENGINE_TABLES.contains(&n.as_str()))
            .collect())
    }

    async fn columns(&self, table: &str) -> Result<Vec<Column>> {
        let rows = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query("SELECT name, type AS data_type FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table)
                    .fetch_all(&self.pool)
                    .await?
            }
            Dialect::Postgres => {
                sqlx::query(
                    "SELECT column_name::text AS name, data_type::text AS data_type FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                )
                .bind(table)
                .fetch_all(&self.pool)
                .await?
            }
        };
        Ok(rows
            .iter()
            .map(|r| {
                let ty = r.get::<String, _>("data_type").to_ascii_uppercase();
                Column { name: r.get("name"), kind: if ty.contains("INT") { ColumnKind::Int } else { ColumnKind::Text } }
            })
            .collect())
    }

    /// Row counts and content checksums of every table (for `db copy` and backups).
    pub async fn summarise_tables(&self) -> Result<Vec<TableSummary>> {
        let present = self.table_names().await?;
        let mut out = Vec::new();
        for (table, _) in TABLES.iter().filter(|(t, _)| present.iter().any(|p| p == t)) {
            let columns = self.columns(table).await?;
            let rows = self.read_rows(table, &columns).await?;
            out.push(summarise(table, &rows));
        }
        Ok(out)
    }

    async fn read_rows(&self, table: &str, columns: &[Column]) -> Result<Vec<Vec<Value>>> {
        let list = columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        let order = TABLES.iter().find(|(t, _)| *t == table).map(|(_, k)| *k).unwrap_or("1");
        let rows = sqlx::query(&format!("SELECT {list} FROM {table} ORDER BY {order}")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| read_row(r, columns)).collect()
    }

    async fn row_count(&self, table: &str) -> Result<i64> {
        Ok(sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}")).fetch_one(&self.pool).await?.get("n"))
    }
}

fn read_row(r: &AnyRow, columns: &[Column]) -> Result<Vec<Value>> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(match c.kind {
                ColumnKind::Int => r.try_get::<Option<i64>, _>(i)?.map_or(Value::Null, Value::Int),
                ColumnKind::Text => r.try_get::<Option<String>, _>(i)?.map_or(Value::Null, Value::Text),
            })
        })
        .collect()
}

fn summarise(table: &str, rows: &[Vec<Value>]) -> TableSummary {
    let mut row_hashes: Vec<[u8; 32]> = rows
        .iter()
        .map(|row| {
            let canonical: Vec<serde_json::Value> = row
                .iter()
                .map(|v| match v {
                    Value::Null => serde_json::Value::Null,
                    Value::Int(i) => serde_json::Value::from(*i),
                    Value::Text(s) => serde_json::Value::from(s.as_str()),
                })
                .collect();
            Sha256::digest(serde_json::to_vec(&canonical).unwrap_or_default()).into()
        })
        .collect();
    row_hashes.sort_unstable();
    let mut all = Sha256::new();
    for h in &row_hashes {
        all.update(h);
    }
    TableSummary { table: table.to_string(), rows: rows.len() as u64, sha256: hex::encode(all.finalize()) }
}

/// Copies every table from `from` to `to` and checks that counts and checksums match.
/// `progress(table, rows_done, rows_total)` is called as rows are written.
pub async fn copy_database(from: &Store, to: &Store, mut progress: impl FnMut(&str, u64, u64)) -> Result<CopyReport> {
    let present = from.table_names().await?;
    // Tables of later migrations than this database has are simply absent.
    let known: Vec<&str> = TABLES.iter().map(|(t, _)| *t).filter(|t| present.iter().any(|p| p == t)).collect();
    for table in &present {
        if !known.contains(&table.as_str()) {
            return Err(StoreError::Conflict(format!(
                "the source has a table `{table}` that db copy does not know; refusing to leave data behind"
            )));
        }
    }
    for table in &known {
        // A freshly migrated database holds the audit chain's genesis head (sequence 0).
        let fresh = if *table == "audit_chain_head" { to.fresh_audit_chain().await? as i64 } else { 0 };
        if to.row_count(table).await? != fresh {
            return Err(StoreError::Conflict(format!("the target is not empty (table `{table}` has rows)")));
        }
    }
    if known.contains(&"audit_chain_head") {
        // Replaced by the source's head, which points at the copied entries.
        sqlx::query("DELETE FROM audit_chain_head WHERE seq = 0").execute(&to.pool).await?;
    }

    let mut summaries = Vec::new();
    for table in &known {
        let source_cols = from.columns(table).await?;
        let target_cols = to.columns(table).await?;
        let names = |cols: &[Column]| cols.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        if names(&source_cols) != names(&target_cols) {
            return Err(StoreError::Conflict(format!(
                "table `{table}` differs between source and target; migrate both to the same version first"
            )));
        }
        let rows = from.read_rows(table, &source_cols).await?;
        let total = rows.len() as u64;
        progress(table, 0, total);
        let list = source_cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
        let params = (1..=source_cols.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let overriding = if to.dialect == Dialect::Postgres && *table == "referral_events" { " OVERRIDING SYSTEM VALUE" } else { "" };
        let sql = format!("INSERT INTO {table} ({list}){overriding} VALUES ({params})");
        let mut done = 0u64;
        for batch in rows.chunks(BATCH) {
            let mut w = to.begin_write().await?;
            for row in batch {
                let mut q = sqlx::query(&sql);
                for (v, c) in row.iter().zip(&source_cols) {
                    q = match (v, c.kind) {
                        (Value::Int(i), _) => q.bind(*i),
                        (Value::Text(s), _) => q.bind(s.as_str()),
                        (Value::Null, ColumnKind::Int) => q.bind(None::<i64>),
                        (Value::Null, ColumnKind::Text) => q.bind(None::<String>),
                    };
                }
                q.execute(&mut *w.tx).await?;
            }
            w.commit().await?;
            done += batch.len() as u64;
            progress(table, done, total);
        }
        if to.dialect == Dialect::Postgres && *table == "referral_events" {
            // The identity column continues after the highest copied value.
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('referral_events', 'seq'), COALESCE((SELECT MAX(seq) FROM referral_events), 0) + 1, false)",
            )
            .fetch_one(&to.pool)
            .await?;
        }
        let source = summarise(table, &rows);
        let target_rows = to.read_rows(table, &target_cols).await?;
        let target = summarise(table, &target_rows);
        if source != target {
            return Err(StoreError::Corrupt(format!(
                "table `{table}` did not copy faithfully: source {} rows {}, target {} rows {}",
                source.rows, source.sha256, target.rows, target.sha256
            )));
        }
        summaries.push(source);
    }
    Ok(CopyReport { tables: summaries })
}
