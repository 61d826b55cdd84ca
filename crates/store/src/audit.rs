//! The audit trail: who did what to which patient record, when, from where, and whether it was
//! allowed. Entries are append-only and hash-chained: each stores the previous entry's hash and
//! its own hash, a SHA-256 over a canonical encoding of every other field (see [`entry_hash`]).
//! [`Store::verify_audit`] walks the chain and names the first entry that does not check out.
//!
//! Appends are serialised so the chain stays a single line even with several nodes: the append
//! transaction locks the one `audit_chain_head` row (`SELECT … FOR UPDATE` on PostgreSQL; SQLite
//! has one writer at a time through [`Store::begin`]'s `BEGIN IMMEDIATE`), takes the next sequence
//! number and the previous hash from it, inserts the entry and moves the head. The head also lets
//! verification notice entries deleted from the end of the chain.
//!
//! Entries hold ids, roles and outcome codes, never clinical content.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::codec::{parse_ts, ts};
use crate::{Dialect, Result, Store, StoreError, WriteTx};

/// The hash the first entry chains to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the attempt was allowed (and succeeded), refused by the access rules, or allowed but
/// failed (a conflict, a validation error, an I/O error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Allowed,
    Denied,
    Failed,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<AuditOutcome> {
        match s {
            "allowed" => Some(AuditOutcome::Allowed),
            "denied" => Some(AuditOutcome::Denied),
            "failed" => Some(AuditOutcome::Failed),
            _ => None,
        }
    }
}

/// What to append: everything but the sequence number, time and hashes, which the append sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewAuditEntry {
    /// The user's id; `None` for a patient using an upload link, the command line or a job.
    pub actor_id: Option<String>,
    /// Who, for a person reading the log: the user's email, `patient (link)`, `cli`,
    /// `job:retention_purge`.
    pub actor_label: String,
    pub actor_role: Option<String>,
    pub organisation_id: Option<String>,
    /// What was done, e.g. `referral.read`, `referral.submit`, `photo.download`, `retention.purge`.
    pub action: String,
    /// The kind of record: `referral`, `photo`, `patient_link`, `audit_log`…
    pub record_type: String,
    pub record_id: Option<String>,
    /// The referral the record belongs to, for searching a referral's whole trail.
    pub referral_id: Option<String>,
    pub client_addr: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// A short non-clinical note: the capability asked for, the error code, counts.
    pub detail: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub actor_role: Option<String>,
    pub organisation_id: Option<String>,
    pub action: String,
    pub record_type: String,
    pub record_id: Option<String>,
    pub referral_id: Option<String>,
    pub client_addr: Option<String>,
    pub outcome: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The columns in canonical order (also the CSV header of an export).
pub const COLUMNS: [&str; 16] = [
    "seq",
    "id",
    "at",
    "actor_id",
    "actor_label",
    "actor_role",
    "organisation_id",
    "action",
    "record_type",
    "record_id",
    "referral_id",
    "client_addr",
    "outcome",
    "detail",
    "prev_hash",
    "hash",
];

impl AuditEntry {
    /// The entry's fields as text, in [`COLUMNS`] order (`None` for SQL NULL).
    pub fn fields(&self) -> [Option<String>; 16] {
        [
            Some(self.seq.to_string()),
            Some(self.id.clone()),
            Some(self.at.clone()),
            self.actor_id.clone(),
            Some(self.actor_label.clone()),
            self.actor_role.clone(),
            self.organisation_id.clone(),
            Some(self.action.clone()),
            Some(self.record_type.clone()),
            self.record_id.clone(),
            self.referral_id.clone(),
            self.client_addr.clone(),
            Some(self.outcome.clone()),
            Some(self.detail.clone()),
            Some(self.prev_hash.clone()),
            Some(self.hash.clone()),
        ]
    }

    /// The hash this entry should have: see [`entry_hash`].
    pub fn expected_hash(&self) -> String {
        let f = self.fields();
        entry_hash(&f[..15])
    }

    pub fn timestamp(&self) -> Result<DateTime<Utc>> {
        parse_ts(&self.at)
    }
}

/// SHA-256 (lowercase hex) over the canonical encoding of an entry's fields — every column but
/// `hash`, in [`COLUMNS`] order, `prev_hash` included: a domain tag, then per field its name and
/// either `0xFF` (NULL) or `0x00`, a 4-byte big-endian length and the UTF-8 bytes. Lengths make
/// the encoding unambiguous, so no two different entries share an encoding.
pub fn entry_hash(fields: &[Option<String>]) -> String {
    let mut h = Sha256::new();
    h.update(b"telederm-audit-v1\n");
    for (name, value) in COLUMNS.iter().zip(fields) {
        h.update((name.len() as u32).to_be_bytes());
        h.update(name.as_bytes());
        match value {
            None => h.update([0xFF]),
            Some(v) => {
                h.update([0x00]);
                h.update((v.len() as u32).to_be_bytes());
                h.update(v.as_bytes());
            }
        }
    }
    hex::encode(h.finalize())
}

/// Which entries to find. Every field narrows; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A user id or the actor label (email) exactly.
    pub actor: Option<String>,
    pub referral_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<AuditOutcome>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only entries a service admin may see: made by someone in this organisation, or about a
    /// referral to one of these services.
    pub visible_to: Option<(String, Vec<String>)>,
    /// Entries with a sequence number above this (for paging through an export).
    pub after_seq: Option<i64>,
    /// Newest first (the admin page) instead of oldest first (exports).
    pub newest_first: bool,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The first problem [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditBreak {
    /// The entry's id (or `None` when the problem is a missing entry at the end of the chain).
    pub id: Option<String>,
    pub seq: i64,
    /// `sequence`, `prev_hash`, `hash` or `chain_head`.
    pub check: &'static str,
    pub message: String,
}

impl std::fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "audit entry {id} (sequence {}) fails the {} check: {}", self.seq, self.check, self.message),
            None => write!(f, "the audit chain fails the {} check at sequence {}: {}", self.check, self.seq, self.message),
        }
    }
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: i64,
    /// The last entry's hash (the chain's current anchor), when there are entries.
    pub head_hash: String,
    pub broken: Option<AuditBreak>,
}

const SELECT: &str = "SELECT seq, id, at, actor_id, actor_label, actor_role, organisation_id, action, record_type, \
                      record_id, referral_id, client_addr, outcome, detail, prev_hash, hash FROM audit_log";

fn entry_from_row(row: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        actor_id: row.try_get("actor_id")?,
        actor_label: row.try_get("actor_label")?,
        actor_role: row.try_get("actor_role")?,
        organisation_id: row.try_get("organisation_id")?,
        action: row.try_get("action")?,
        record_type: row.try_get("record_type")?,
        record_id: row.try_get("record_id")?,
        referral_id: row.try_get("referral_id")?,
        client_addr: row.try_get("client_addr")?,
        outcome: row.try_get("outcome")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// Adds one entry to an open write transaction (so a change and its audit entry commit
/// together): it is chained when the transaction commits ([`WriteTx::commit`]), which takes the
/// chain head's lock only for its last statements. A transaction dropped without committing
/// leaves no entry.
pub fn append_audit_in(tx: &mut WriteTx<'_>, e: &NewAuditEntry) {
    tx.audit.push(e.clone());
}

/// Chains entries now: locks the head (until the transaction ends), takes the next sequence
/// number and the previous hash from it, inserts the entries in order and moves the head once.
pub(crate) async fn chain_audit_entries(tx: &mut WriteTx<'_>, new: &[NewAuditEntry]) -> Result<Vec<AuditEntry>> {
    if new.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = tx.dialect;
    let lock = match dialect {
        Dialect::Postgres => " FOR UPDATE",
        // SQLite: the transaction already holds the database's write lock (BEGIN IMMEDIATE).
        Dialect::Sqlite => "",
    };
    let head = sqlx::query(&format!("SELECT seq, hash FROM audit_chain_head WHERE id = 1{lock}"))
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| StoreError::Corrupt("the audit chain head row is missing".into()))?;
    let (mut seq, mut prev_hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
    let mut entries = Vec::with_capacity(new.len());
    for e in new {
        seq += 1;
        let mut entry = AuditEntry {
            seq,
            id: uuid::Uuid::now_v7().to_string(),
            at: ts(Utc::now()),
            actor_id: e.actor_id.clone(),
            actor_label: e.actor_label.clone(),
            actor_role: e.actor_role.clone(),
            organisation_id: e.organisation_id.clone(),
            action: e.action.clone(),
            record_type: e.record_type.clone(),
            record_id: e.record_id.clone(),
            referral_id: e.referral_id.clone(),
            client_addr: e.client_addr.clone(),
            outcome: e.outcome.unwrap_or(AuditOutcome::Allowed).as_str().to_string(),
            detail: e.detail.clone(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.expected_hash();
        prev_hash = entry.hash.clone();
        entries.push(entry);
    }
    const COLUMNS: usize = 16;
    let last = entries.last().expect("not empty");
    let (last_seq, last_hash) = (last.seq, last.hash.clone());
    // A hundred rows per statement keeps the bound values under both databases' limits. On
    // PostgreSQL the last statement also moves the head (a data-modifying WITH): one round trip
    // less while the head is locked. SQLite has no data-modifying WITH: the head moves after.
    let chunks: Vec<&[AuditEntry]> = entries.chunks(ROWS_PER_INSERT).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", (1..=COLUMNS).map(|c| format!("${}", r * COLUMNS + c)).collect::<Vec<_>>().join(", ")))
            .collect();
        let insert = format!(
            "INSERT INTO audit_log (seq, id, at, actor_id, actor_label, actor_role, organisation_id, action, record_type, \
             record_id, referral_id, client_addr, outcome, detail, prev_hash, hash) VALUES {}",
            rows.join(", ")
        );
        let moves_head = dialect == Dialect::Postgres && i + 1 == chunks.len();
        let n = chunk.len() * COLUMNS;
        let sql = if moves_head {
            format!("WITH entry AS ({insert}) UPDATE audit_chain_head SET seq = ${}, hash = ${} WHERE id = 1", n + 1, n + 2)
        } else {
            insert
        };
        let mut q = sqlx::query(&sql);
        for entry in chunk.iter() {
            q = q.bind(entry.seq);
            for v in &entry.fields()[1..] {
                q = q.bind(v.clone());
            }
        }
        if moves_head {
            q = q.bind(last_seq).bind(last_hash.clone());
        }
        q.execute(tx.conn()).await?;
    }
    if dialect == Dialect::Sqlite {
        sqlx::query("UPDATE audit_chain_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(last_seq)
            .bind(&last_hash)
            .execute(tx.conn())
            .await?;
    }
    Ok(entries)
}

const ROWS_PER_INSERT: usize = 100;

/// The most entries one batch of [`Store::append_audit`] chains in one transaction.
const BATCH: usize = 256;

/// An entry waiting for [`Store::append_audit`]'s batch, and where its result goes.
pub(crate) type Pending = (NewAuditEntry, tokio::sync::oneshot::Sender<Result<AuditEntry>>);

/// The node's batch writer: takes every entry waiting, chains them in one transaction (one lock of
/// the chain head, one commit), answers each caller, and repeats. Ends when the store is dropped.
async fn write_batches(store: Store, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (entries, replies): (Vec<NewAuditEntry>, Vec<_>) = batch.into_iter().unzip();
        let written = async {
            let mut tx = store.begin_write().await?;
            let chained = chain_audit_entries(&mut tx, &entries).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(chained)
        }
        .await;
        store.audit_batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match written {
            Ok(chained) => {
                for (reply, entry) in replies.into_iter().zip(chained) {
                    let _ = reply.send(Ok(entry));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(e.duplicate()));
                }
            }
        }
    }
}

impl Store {
    /// Appends one entry on its own (a read, a refusal) and answers once it is committed. Entries
    /// appended at the same time on this node are chained together, in the order they arrived, in
    /// one transaction by one writer task (group commit): one lock of the chain head and one commit
    /// for all of them, where each used to take the lock and commit alone and every other
    /// request's entry waited in line for it (issue 18's mixed load). The guarantee is unchanged:
    /// the caller gets its answer only after its entry is committed, or the error.
    pub async fn append_audit(&self, e: &NewAuditEntry) -> Result<AuditEntry> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        {
            let mut queue = self.audit_queue.lock().unwrap_or_else(|p| p.into_inner());
            let pending = (e.clone(), reply);
            // A writer whose runtime has ended has dropped its end: the entry comes back, and a
            // new writer is started for it.
            let unsent = match queue.as_ref() {
                Some(q) => q.send(pending).err().map(|back| back.0),
                None => Some(pending),
            };
            if let Some(p) = unsent {
                let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
                sender.send(p).expect("the receiver is here");
                *queue = Some(sender);
                // The writer's copy of the store has a queue of its own, so the writer does not
                // keep its own queue open: it ends when every other copy of the store is dropped.
                let writer = Store { audit_queue: Default::default(), ..self.clone() };
                tokio::spawn(write_batches(writer, receiver));
            }
        }
        answer.await.map_err(|_| StoreError::Corrupt("the audit writer stopped before answering".into()))?
    }

    /// How many batches [`Store::append_audit`] has committed (or tried to) on this node.
    pub fn audit_batches(&self) -> u64 {
        self.audit_batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Entries matching `f`, oldest first unless `f.newest_first`.
    pub async fn search_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut sql = format!("{SELECT} WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        let mut push = |sql: &mut String, clause: &str, v: String| {
            binds.push(v);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(a) = &f.actor {
            push(&mut sql, " AND (actor_id = ?", a.clone());
            push(&mut sql, " OR actor_label = ?)", a.clone());
        }
        if let Some(r) = &f.referral_id {
            push(&mut sql, " AND (referral_id = ?", r.clone());
            push(&mut sql, " OR record_id = ?)", r.clone());
        }
        if let Some(a) = &f.action {
            push(&mut sql, " AND action = ?", a.clone());
        }
        if let Some(o) = f.outcome {
            push(&mut sql, " AND outcome = ?", o.as_str().to_string());
        }
        if let Some(t) = f.since {
            push(&mut sql, " AND at >= ?", ts(t));
        }
        if let Some(t) = f.until {
            push(&mut sql, " AND at < ?", ts(t));
        }
        if let Some((org, services)) = &f.visible_to {
            push(&mut sql, " AND (organisation_id = ?", org.clone());
            sql.push_str(" OR referral_id IN (SELECT id FROM referrals WHERE service_id IN ('-'");
            for svc in services {
                push(&mut sql, ", ?", svc.clone());
            }
            sql.push_str(")))");
        }
        let after = f.after_seq.map(|s| format!(" AND seq > {s}")).unwrap_or_default();
        sql.push_str(&after);
        sql.push_str(if f.newest_first { " ORDER BY seq DESC" } else { " ORDER BY seq ASC" });
        sql.push_str(&format!(" LIMIT {} OFFSET {}", f.limit.unwrap_or(100).clamp(1, 10_000), f.offset.unwrap_or(0).max(0)));
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b.clone());
        }
        q.fetch_all(&self.pool).await?.iter().map(entry_from_row).collect()
    }

    /// Walks the whole chain in order and reports the entry that breaks it. A `hash` that does
    /// not match the entry's own fields (any field changed, `seq` and `prev_hash` included) names
    /// that entry and wins over everything else; otherwise the first link out of line is named: a
    /// sequence number with a gap before it (an entry deleted) or a `prev_hash` that is not the
    /// previous entry's hash (an entry removed or replaced and re-hashed); finally a chain head
    /// that does not point at the last entry (entries deleted from the end).
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        const PAGE: i64 = 1000;
        let mut expected_seq = 1;
        let mut prev: Option<(String, i64, String)> = None;
        let mut after = i64::MIN;
        let mut entries = 0i64;
        let mut link_break: Option<AuditBreak> = None;
        let broken = |entries, b: AuditBreak| Ok(AuditVerification { entries, head_hash: String::new(), broken: Some(b) });
        loop {
            let rows = sqlx::query(&format!("{SELECT} WHERE seq > $1 ORDER BY seq ASC LIMIT {PAGE}"))
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
            let n = rows.len();
            for row in &rows {
                let e = entry_from_row(row)?;
                if e.hash != e.expected_hash() {
                    let message = "its fields do not match its hash: the entry was changed after it was written".to_string();
                    return broken(entries, AuditBreak { id: Some(e.id), seq: e.seq, check: "hash", message });
                }
                let prev_hash = prev.as_ref().map_or(GENESIS_HASH, |(_, _, h)| h.as_str());
                if link_break.is_none() {
                    if e.seq != expected_seq {
                        let message = if e.seq > expected_seq {
                            format!("expected sequence {expected_seq} next but found {}: entries before it were deleted", e.seq)
                        } else {
                            format!("sequence {} comes after {}: the sequence numbers were changed", e.seq, expected_seq - 1)
                        };
                        link_break = Some(AuditBreak { id: Some(e.id.clone()), seq: e.seq, check: "sequence", message });
                    } else if e.prev_hash != prev_hash {
                        let message = match &prev {
                            Some((id, seq, _)) => format!("its prev_hash is not the hash of the entry before it ({id}, sequence {seq}): that entry was replaced or re-hashed"),
                            None => "the first entry does not chain to the genesis hash".to_string(),
                        };
                        link_break = Some(AuditBreak { id: Some(e.id.clone()), seq: e.seq, check: "prev_hash", message });
                    }
                }
                entries += 1;
                expected_seq = e.seq + 1;
                after = e.seq;
                prev = Some((e.id, e.seq, e.hash));
            }
            if (n as i64) < PAGE {
                break;
            }
        }
        if let Some(b) = link_break {
            return broken(entries, b);
        }
        let prev_hash = prev.map_or(GENESIS_HASH.to_string(), |(_, _, h)| h);
        let fail = |entries, id: Option<String>, seq, check, message: String| broken(entries, AuditBreak { id, seq, check, message });
        let head = sqlx::query("SELECT seq, hash FROM audit_chain_head WHERE id = 1").fetch_optional(&self.pool).await?;
        let Some(head) = head else {
            return fail(entries, None, expected_seq, "chain_head", "the chain head row is missing".into());
        };
        let (head_seq, head_hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
        if head_seq != expected_seq - 1 || head_hash != prev_hash {
            return fail(
                entries,
                None,
                head_seq,
                "chain_head",
                format!(
                    "the chain head (sequence {head_seq}) does not point at the last entry (sequence {}): entries were deleted from the end, or the head was changed",
                    expected_seq - 1
                ),
            );
        }
        Ok(AuditVerification { entries, head_hash: prev_hash, broken: None })
    }
}
