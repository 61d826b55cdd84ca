//! The name search's index (migration 0025): each word of a referral's patient name under its
//! practice, written in the transaction that writes the referral, so a search reads the words
//! that begin with what was typed and the referrals they name, not the practice's whole history.

use sqlx::Row;
use telederm_domain::patient::name_words;

use crate::{Result, Store};

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Just above every string that begins with a prefix, in byte order (the column sorts by bytes
/// on both databases): no valid name holds U+10FFFF, the highest code point.
const PAST_PREFIX: char = '\u{10FFFF}';

/// Replaces a referral's words with those of `name` (when `old_name` is given and has the same
/// words, nothing is written).
pub(crate) async fn write_name_words(tx: &mut Tx, referral_id: &str, practice_id: &str, old_name: Option<&str>, name: &str) -> Result<()> {
    let words = name_words(name);
    if let Some(old) = old_name {
        if name_words(old) == words {
            return Ok(());
        }
        sqlx::query("DELETE FROM referral_name_words WHERE referral_id = $1").bind(referral_id).execute(&mut **tx).await?;
    }
    insert_words(tx, &[(practice_id.to_string(), referral_id.to_string(), words)]).await
}

/// One INSERT of every word of `rows` (practice, referral, words).
async fn insert_words(tx: &mut Tx, rows: &[(String, String, Vec<String>)]) -> Result<()> {
    let mut marks = Vec::new();
    let mut binds: Vec<&str> = Vec::new();
    for (practice, referral, words) in rows {
        for w in words {
            let n = binds.len();
            marks.push(format!("(${}, ${}, ${})", n + 1, n + 2, n + 3));
            binds.extend([practice.as_str(), w.as_str(), referral.as_str()]);
        }
    }
    if marks.is_empty() {
        return Ok(());
    }
    let sql = format!("INSERT INTO referral_name_words (practice_id, word, referral_id) VALUES {}", marks.join(", "));
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(b);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// The condition a referral of `practice` (any practice when `None`) meets when one of its name's
/// words begins with `word`, with its bound values: `$n` numbered from `next`.
pub(crate) fn begins_a_word(practice: Option<&str>, word: &str, next: usize) -> (String, Vec<String>) {
    let range = vec![word.to_string(), format!("{word}{PAST_PREFIX}")];
    match practice {
        Some(p) => (
            format!(
                "id IN (SELECT referral_id FROM referral_name_words WHERE practice_id = ${} AND word >= ${} AND word < ${})",
                next,
                next + 1,
                next + 2
            ),
            [vec![p.to_string()], range].concat(),
        ),
        None => (
            format!("id IN (SELECT referral_id FROM referral_name_words WHERE word >= ${} AND word < ${})", next, next + 1),
            range,
        ),
    }
}

impl Store {
    /// Rewrites the name words of every referral (after a bulk load that bypassed the use cases,
    /// or once after migration 0025 for referrals written before it). Returns how many referrals
    /// were read. Works in batches of 500 referrals, one transaction each.
    pub async fn rebuild_name_words(&self) -> Result<u64> {
        let mut after = String::new();
        let mut done = 0u64;
        loop {
            let rows: Vec<(String, String, Vec<String>)> =
                sqlx::query("SELECT id, practice_id, patient_name FROM referrals WHERE id > $1 ORDER BY id LIMIT 500")
                    .bind(&after)
                    .fetch_all(self.pool())
                    .await?
                    .iter()
                    .map(|r| (r.get("practice_id"), r.get("id"), name_words(r.get::<String, _>("patient_name").as_str())))
                    .collect();
            let Some((_, last, _)) = rows.last() else { break };
            after = last.clone();
            let mut w = self.begin_write().await?;
            let marks: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
            let sql = format!("DELETE FROM referral_name_words WHERE referral_id IN ({})", marks.join(", "));
            let mut delete = sqlx::query(&sql);
            for (_, id, _) in &rows {
                delete = delete.bind(id.as_str());
            }
            delete.execute(&mut *w.tx).await?;
            insert_words(&mut w.tx, &rows).await?;
            w.commit().await?;
            done += rows.len() as u64;
        }
        Ok(done)
    }

    /// Fills the name words of referrals written before migration 0025, once.
    pub(crate) async fn backfill_name_words(&self) -> Result<()> {
        if let Some(read @ 1..) = self.once("referral_name_words_backfill", self.rebuild_name_words()).await? {
            tracing::info!(referrals = read, "name search words filled in for referrals written before migration 0025");
        }
        Ok(())
    }
}
