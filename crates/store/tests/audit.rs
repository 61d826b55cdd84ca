//! The audit trail's hash chain on SQLite and PostgreSQL: a clean chain verifies; changing any one
//! field of one entry is found by that entry's hash check; an entry replaced and re-hashed is found
//! by the next entry's `prev_hash` (or the chain head); deleting an entry (in the middle or at the
//! end) is found; each time the check and the entry are named; appends from many tasks and two "nodes" at once keep one valid chain.

use telederm_store::audit::{AuditFilter, NewAuditEntry};
use telederm_store::testkit::TestDatabase;
use telederm_store::{AuditOutcome, Dialect, Store};

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor_id: (!i.is_multiple_of(3)).then(|| format!("00000000-0000-0000-0000-00000000000{}", i % 10)),
        actor_label: format!("user{i}@nhs.net"),
        actor_role: Some("consultant".into()),
        organisation_id: Some("11111111-1111-1111-1111-111111111111".into()),
        action: if i.is_multiple_of(2) { "referral.read".into() } else { "photo.download".into() },
        record_type: "referral".into(),
        record_id: Some(format!("rec-{i}")),
        referral_id: Some(format!("ref-{}", i % 4)),
        client_addr: Some("127.0.0.1".into()),
        outcome: Some(if i.is_multiple_of(5) { AuditOutcome::Denied } else { AuditOutcome::Allowed }),
        detail: format!("capability=view n={i}"),
    }
}

async fn fill(store: &Store, n: usize) -> Vec<telederm_store::AuditEntry> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(store.append_audit(&entry(i)).await.unwrap());
    }
    out
}

/// A value different from `old` that fits the column (text columns take any text).
fn tampered(column: &str, old: Option<&str>) -> String {
    match column {
        "seq" => "1000".into(),
        _ => match old {
            Some("") => "x".into(),
            Some(v) => {
                let mut chars: Vec<char> = v.chars().collect();
                chars[0] = if chars[0] == 'a' { 'b' } else { 'a' };
                chars.into_iter().collect()
            }
            None => "injected".into(),
        },
    }
}

async fn set_column(store: &Store, column: &str, seq: i64, value: Option<&str>) {
    let sql = if column == "seq" {
        format!("UPDATE audit_log SET seq = CAST($1 AS BIGINT) WHERE seq = {seq}")
    } else {
        format!("UPDATE audit_log SET {column} = $1 WHERE seq = {seq}")
    };
    sqlx::query(&sql).bind(value.map(str::to_string)).execute(store.pool()).await.unwrap();
}

/// Every column of `audit_log`, written out here rather than taken from the code's own list, so a
/// column the hash forgot to cover (or a new column nobody added to it) fails this test.
const AUDIT_LOG_COLUMNS: [&str; 16] = [
    "seq", "id", "at", "actor_id", "actor_label", "actor_role", "organisation_id", "action", "record_type", "record_id",
    "referral_id", "client_addr", "outcome", "detail", "prev_hash", "hash",
];

/// The columns of `audit_log` as the database itself reports them.
async fn columns_in_database(store: &Store) -> Vec<String> {
    let sql = match store.dialect() {
        Dialect::Sqlite => "SELECT name FROM pragma_table_info('audit_log') ORDER BY cid",
        Dialect::Postgres => {
            "SELECT column_name::text AS name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'audit_log' ORDER BY ordinal_position"
        }
    };
    sqlx::query(sql).fetch_all(store.pool()).await.unwrap().iter().map(|r| sqlx::Row::get::<String, _>(r, "name")).collect()
}

/// One cell as text, read straight from the table.
async fn cell(store: &Store, column: &str, seq: i64) -> Option<String> {
    let sql = format!("SELECT CAST({column} AS TEXT) AS v FROM audit_log WHERE seq = {seq}");
    sqlx::Row::get::<Option<String>, _>(&sqlx::query(&sql).fetch_one(store.pool()).await.unwrap(), "v")
}

async fn clean_chain_verifies_and_any_changed_field_is_named(store: &Store) {
    assert!(store.verify_audit().await.unwrap().broken.is_none(), "an empty chain verifies");
    assert_eq!(columns_in_database(store).await, AUDIT_LOG_COLUMNS, "this test covers every column of audit_log");
    let entries = fill(store, 12).await;
    let v = store.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken), (12, None));
    assert_eq!(v.head_hash, entries[11].hash);
    let victim = &entries[5];
    for column in AUDIT_LOG_COLUMNS {
        let old = cell(store, column, victim.seq).await;
        let new = tampered(column, old.as_deref());
        set_column(store, column, victim.seq, Some(&new)).await;
        let v = store.verify_audit().await.unwrap();
        let b = v.broken.unwrap_or_else(|| panic!("changing {column} of entry {} went unnoticed", victim.seq));
        let named = if column == "id" { new.as_str() } else { victim.id.as_str() };
        let seq = if column == "seq" { 1000 } else { victim.seq };
        // The entry's own hash no longer matches its fields: that check, and this entry, are named
        // (not a later link, and not the chain head).
        assert_eq!((b.check, b.seq, b.id.as_deref()), ("hash", seq, Some(named)), "changing {column}: {b}");
        // The entries read before it verified (renumbered to 1000, it is read last).
        assert_eq!(v.entries, if column == "seq" { 11 } else { victim.seq - 1 }, "changing {column}");
        assert!(b.message.contains("changed after it was written"), "{b}");
        assert!(b.to_string().contains(named) && b.to_string().contains(&format!("sequence {seq}")), "{b}");
        // Put it back; the chain verifies again.
        set_column(store, column, seq, old.as_deref()).await;
        assert!(store.verify_audit().await.unwrap().broken.is_none(), "restoring {column} restores the chain");
    }
    // Emptying a NULL-able column (NULL instead of a value) counts too.
    set_column(store, "record_id", victim.seq, None).await;
    let b = store.verify_audit().await.unwrap().broken.unwrap();
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("hash", victim.seq, Some(victim.id.as_str())), "{b}");
}

/// An entry replaced by someone who also recomputes its own hash passes the hash check; only the
/// next entry's `prev_hash` (or, for the last entry, the chain head) gives it away.
async fn a_replaced_and_rehashed_entry_is_found_by_the_next_link(store: &Store) {
    let entries = fill(store, 8).await;
    let victim = &entries[4];
    let next = &entries[5];
    let rehash = |e: &telederm_store::AuditEntry, detail: &str| {
        let mut f = e.fields();
        f[13] = Some(detail.to_string());
        telederm_store::audit::entry_hash(&f[..15])
    };
    let forged = rehash(victim, "capability=view n=4 (nothing to see)");
    assert_ne!(forged, victim.hash);
    sqlx::query(&format!("UPDATE audit_log SET detail = $1, hash = $2 WHERE seq = {}", victim.seq))
        .bind("capability=view n=4 (nothing to see)")
        .bind(&forged)
        .execute(store.pool())
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    let b = v.broken.expect("a replaced and re-hashed entry is found");
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("prev_hash", next.seq, Some(next.id.as_str())), "{b}");
    assert!(b.message.contains(&victim.id) && b.message.contains(&format!("sequence {}", victim.seq)), "names the replaced entry: {b}");
    // Putting the original back restores the chain.
    sqlx::query(&format!("UPDATE audit_log SET detail = $1, hash = $2 WHERE seq = {}", victim.seq))
        .bind(&victim.detail)
        .bind(&victim.hash)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(store.verify_audit().await.unwrap().broken, None);

    // The last entry has no next entry: the chain head, which records its hash, gives it away.
    let last = &entries[7];
    let forged = rehash(last, "capability=view n=7 (nothing to see)");
    sqlx::query(&format!("UPDATE audit_log SET detail = $1, hash = $2 WHERE seq = {}", last.seq))
        .bind("capability=view n=7 (nothing to see)")
        .bind(&forged)
        .execute(store.pool())
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    let b = v.broken.expect("a replaced and re-hashed last entry is found");
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("chain_head", last.seq, None), "{b}");
    assert_eq!(v.entries, 8, "every entry passed its own checks");
}

async fn deleted_entries_are_found(store: &Store) {
    let entries = fill(store, 6).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 3").execute(store.pool()).await.unwrap();
    let b = store.verify_audit().await.unwrap().broken.expect("a deleted entry is found");
    assert_eq!((b.check, b.id.as_deref(), b.seq), ("sequence", Some(entries[3].id.as_str()), 4), "{b}");
    let db = TestDatabase::new(store.dialect()).await;
    let other = db.store().await;
    let entries = fill(&other, 4).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 4").execute(other.pool()).await.unwrap();
    let b = other.verify_audit().await.unwrap().broken.expect("deleting the last entry is found");
    assert_eq!((b.check, b.seq), ("chain_head", 4), "{b}");
    assert!(b.to_string().contains("deleted from the end"), "{b}");
    sqlx::query("DELETE FROM audit_log WHERE seq = 1").execute(other.pool()).await.unwrap();
    let b = other.verify_audit().await.unwrap().broken.expect("deleting the first entry is found");
    assert_eq!((b.check, b.id.as_deref()), ("sequence", Some(entries[1].id.as_str())), "{b}");
    other.close().await;
}

async fn concurrent_appends_keep_one_chain(db: &TestDatabase) {
    let (store, second_node) = (db.store().await, db.store().await);
    const TASKS: usize = 16;
    const EACH: usize = 12;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        // Half the tasks go through a second pool on the same database: another node.
        let s = if t % 2 == 0 { store.clone() } else { second_node.clone() };
        handles.push(tokio::spawn(async move {
            for i in 0..EACH {
                s.append_audit(&entry(t * 100 + i)).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!(v.entries, (TASKS * EACH) as i64);
    second_node.close().await;
    store.close().await;
}

async fn search_filters_and_pages(store: &Store) {
    fill(store, 20).await;
    let all = store.search_audit(&AuditFilter { limit: Some(100), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(all.len(), 20);
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first");
    let page = |offset| AuditFilter { newest_first: true, limit: Some(5), offset: Some(offset), ..AuditFilter::default() };
    let first = store.search_audit(&page(0)).await.unwrap();
    let second = store.search_audit(&page(5)).await.unwrap();
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![20, 19, 18, 17, 16]);
    assert_eq!(second[0].seq, 15);
    let by_user = store.search_audit(&AuditFilter { actor: Some("user7@nhs.net".into()), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(by_user.len(), 1);
    let by_ref = store.search_audit(&AuditFilter { referral_id: Some("ref-1".into()), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(by_ref.len(), 5);
    let denied_downloads = AuditFilter { action: Some("photo.download".into()), outcome: Some(AuditOutcome::Denied), ..AuditFilter::default() };
    assert!(store.search_audit(&denied_downloads).await.unwrap().iter().all(|e| e.outcome == "denied" && e.action == "photo.download"));
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(store.search_audit(&AuditFilter { since: Some(future), ..AuditFilter::default() }).await.unwrap().is_empty());
    let scoped = AuditFilter { visible_to: Some(("someone-else".into(), vec!["svc".into()])), ..AuditFilter::default() };
    assert!(store.search_audit(&scoped).await.unwrap().is_empty(), "a service admin of another organisation sees nothing");
}

/// The three outcomes as `docs/security.md` names them ("`allowed`, `denied` ... or `failed`"),
/// read back from their names (the admin page's outcome search) and nothing else.
async fn outcomes_by_their_documented_names(store: &Store) {
    for (outcome, name) in [(AuditOutcome::Allowed, "allowed"), (AuditOutcome::Denied, "denied"), (AuditOutcome::Failed, "failed")] {
        assert_eq!(outcome.as_str(), name);
        assert_eq!(AuditOutcome::parse(name), Some(outcome));
        let e = store.append_audit(&NewAuditEntry { outcome: Some(outcome), ..entry(1) }).await.unwrap();
        assert_eq!(e.outcome, name);
    }
    for other in ["", "Allowed", "refused", "denied "] {
        assert_eq!(AuditOutcome::parse(other), None, "{other:?}");
    }
    let found = store.search_audit(&AuditFilter { outcome: Some(AuditOutcome::Failed), ..AuditFilter::default() }).await.unwrap();
    assert_eq!(found.iter().map(|e| e.outcome.as_str()).collect::<Vec<_>>(), ["failed"]);
}

/// `at` is "when (RFC 3339, UTC, microseconds)": the time of the append, read back as that instant.
async fn entries_are_stamped_with_the_time_of_the_append(store: &Store) {
    let before = chrono::Utc::now();
    let e = store.append_audit(&entry(1)).await.unwrap();
    let after = chrono::Utc::now();
    let at = e.timestamp().unwrap();
    let micros = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros();
    assert!(micros(before) <= micros(at) && micros(at) <= micros(after), "{before} <= {at} <= {after}");
    assert_eq!(at, chrono::DateTime::parse_from_rfc3339(&e.at).unwrap());
    // 2026-12-07T06:50:13.123456Z: a UTC instant with six decimals.
    assert_eq!(e.at.len(), "2026-12-07T06:50:13.123456Z".len(), "{}", e.at);
    assert!(e.at.ends_with('Z'), "{}", e.at);
}

/// `sequence` (docs/security.md): "a gap before this entry — entries were deleted"; an entry
/// numbered below the first (1) is a renumbering, not a deletion.
async fn a_gap_and_a_renumbering_are_told_apart(store: &Store) {
    let entries = fill(store, 5).await;
    sqlx::query("DELETE FROM audit_log WHERE seq IN (2, 3)").execute(store.pool()).await.unwrap();
    let v = store.verify_audit().await.unwrap();
    let b = v.broken.expect("a gap is found");
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("sequence", 4, Some(entries[3].id.as_str())));
    assert_eq!(b.message, "expected sequence 2 next but found 4: entries before it were deleted");
    assert_eq!(v.entries, 3, "entries 1, 4 and 5 pass their own checks");

    // A forged entry numbered 0, hashed correctly and chained to the genesis hash, before entry 1.
    let db = TestDatabase::new(store.dialect()).await;
    let other = db.store().await;
    fill(&other, 2).await;
    let mut forged = other.search_audit(&AuditFilter::default()).await.unwrap().remove(0);
    forged.seq = 0;
    forged.id = "00000000-0000-7000-8000-000000000000".into();
    forged.hash = telederm_store::audit::entry_hash(&forged.fields()[..15]);
    let f = forged.fields();
    let insert = "INSERT INTO audit_log (seq, id, at, actor_id, actor_label, actor_role, organisation_id, action, record_type, \
         record_id, referral_id, client_addr, outcome, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
    let mut q = sqlx::query(insert).bind(0i64);
    for v in &f[1..] {
        q = q.bind(v.clone());
    }
    q.execute(other.pool()).await.unwrap();
    let b = other.verify_audit().await.unwrap().broken.expect("an entry numbered 0 is found");
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("sequence", 0, Some(forged.id.as_str())), "{b}");
    assert_eq!(b.message, "sequence 0 comes after 0: the sequence numbers were changed");
    other.close().await;
}

/// The whole chain is walked, however long: more entries than one page of the walk (1,000).
async fn a_chain_longer_than_a_page_is_walked_to_the_end(store: &Store) {
    const N: usize = 1_003;
    let mut last = None;
    for i in 0..N {
        last = Some(store.append_audit(&entry(i)).await.unwrap());
    }
    let last = last.unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken, v.head_hash.as_str()), (N as i64, None, last.hash.as_str()));
    // A change on the second page is found like one on the first.
    set_column(store, "detail", 1_002, Some("nothing happened")).await;
    let b = store.verify_audit().await.unwrap().broken.expect("a change past the first page is found");
    assert_eq!((b.check, b.seq), ("hash", 1_002), "{b}");
}

/// The head alone moved (entries were not touched): `chain_head`, whether its number or its hash
/// no longer points at the last entry.
async fn a_chain_head_that_does_not_point_at_the_last_entry(store: &Store) {
    let entries = fill(store, 3).await;
    sqlx::query("UPDATE audit_chain_head SET seq = 4 WHERE id = 1").execute(store.pool()).await.unwrap();
    let b = store.verify_audit().await.unwrap().broken.expect("a head numbered past the last entry is found");
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("chain_head", 4, None), "{b}");
    assert_eq!(b.to_string(), format!("the audit chain fails the chain_head check at sequence 4: {}", b.message));
    sqlx::query("UPDATE audit_chain_head SET seq = 3, hash = $1 WHERE id = 1").bind(&entries[1].hash).execute(store.pool()).await.unwrap();
    let b = store.verify_audit().await.unwrap().broken.expect("a head with another entry's hash is found");
    assert_eq!((b.check, b.seq, b.id.as_deref()), ("chain_head", 3, None), "{b}");
    sqlx::query("UPDATE audit_chain_head SET hash = $1 WHERE id = 1").bind(&entries[2].hash).execute(store.pool()).await.unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken, v.head_hash), (3, None, entries[2].hash.clone()));
    // "audit entry ID (sequence N) fails the CHECK check: ..." names the entry.
    set_column(store, "actor_label", 2, Some("someone-else@nhs.net")).await;
    let b = store.verify_audit().await.unwrap().broken.unwrap();
    assert_eq!(b.to_string(), format!("audit entry {} (sequence 2) fails the hash check: {}", entries[1].id, b.message));
}

/// Entries appended at the same moment are committed together: one batch, one lock of the head,
/// one commit, each caller answered with its own entry in the order they arrived, and the chain
/// verifies; an entry appended alone afterwards is a batch of its own.
async fn entries_appended_at_once_are_chained_in_one_batch(store: &Store) {
    const AT_ONCE: usize = 150; // more than one INSERT statement's hundred rows
    let before = store.audit_batches();
    // Every append is queued before the test's task first waits (the test runs on one thread),
    // so the writer finds all of them waiting.
    let answers = futures::future::join_all((0..AT_ONCE).map(|i| {
        let e = entry(i);
        async move { store.append_audit(&e).await.unwrap() }
    }))
    .await;
    assert_eq!(store.audit_batches() - before, 1, "one batch for {AT_ONCE} entries appended at once");
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.seq, i as i64 + 1);
        assert_eq!(a.record_id.as_deref(), Some(format!("rec-{i}").as_str()));
        if i > 0 {
            assert_eq!(a.prev_hash, answers[i - 1].hash);
        }
    }
    store.append_audit(&entry(AT_ONCE)).await.unwrap();
    assert_eq!(store.audit_batches() - before, 2);
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!(v.entries, AT_ONCE as i64 + 1);
    let stored = store.search_audit(&AuditFilter { limit: Some(1000), ..AuditFilter::default() }).await.unwrap();
    let hashes = |v: &[telederm_store::AuditEntry]| v.iter().map(|e| e.hash.clone()).collect::<Vec<_>>();
    assert_eq!(hashes(&stored[..AT_ONCE]), hashes(&answers), "what each caller was told is what was stored");
}

telederm_store::on_both_databases!(store:
    entries_appended_at_once_are_chained_in_one_batch,
    clean_chain_verifies_and_any_changed_field_is_named,
    a_replaced_and_rehashed_entry_is_found_by_the_next_link,
    deleted_entries_are_found,
    search_filters_and_pages,
    outcomes_by_their_documented_names,
    entries_are_stamped_with_the_time_of_the_append,
    a_gap_and_a_renumbering_are_told_apart,
    a_chain_longer_than_a_page_is_walked_to_the_end,
    a_chain_head_that_does_not_point_at_the_last_entry,
);

/// Two pools on one database: two nodes.
mod two_nodes {
    use telederm_store::testkit::TestDatabase;

    telederm_store::on_both_databases!(concurrent_appends_keep_one_chain);

    async fn concurrent_appends_keep_one_chain(db: &TestDatabase) {
        super::concurrent_appends_keep_one_chain(db).await
    }
}
