//! The audit trail's hash chain on SQLite and PostgreSQL: a clean chain verifies; changing any one
//! field of one entry, deleting an entry (in the middle or at the end) is found and the entry
//! named; appends from many tasks and two "nodes" at once keep one valid chain.

use telederm_store::audit::{AuditFilter, COLUMNS, NewAuditEntry};
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

async fn clean_chain_verifies_and_any_changed_field_is_named(store: &Store) {
    assert!(store.verify_audit().await.unwrap().broken.is_none(), "an empty chain verifies");
    let entries = fill(store, 12).await;
    let v = store.verify_audit().await.unwrap();
    assert_eq!((v.entries, v.broken), (12, None));
    assert_eq!(v.head_hash, entries[11].hash);
    let victim = &entries[5];
    let fields = victim.fields();
    for (i, column) in COLUMNS.iter().enumerate() {
        let old = fields[i].clone();
        let new = tampered(column, old.as_deref());
        set_column(store, column, victim.seq, Some(&new)).await;
        let v = store.verify_audit().await.unwrap();
        let b = v.broken.unwrap_or_else(|| panic!("changing {column} of entry {} went unnoticed", victim.seq));
        let named = if *column == "id" { new.as_str() } else { victim.id.as_str() };
        assert_eq!(b.id.as_deref(), Some(named), "changing {column} names the entry (by its id as it now reads): {b}");
        assert_eq!(b.seq, if *column == "seq" { 1000 } else { victim.seq }, "{b}");
        assert!(b.to_string().contains(named) && b.to_string().contains(&format!("sequence {}", b.seq)), "{b}");
        // Put it back; the chain verifies again.
        let current_seq = if *column == "seq" { 1000 } else { victim.seq };
        set_column(store, column, current_seq, old.as_deref()).await;
        assert!(store.verify_audit().await.unwrap().broken.is_none(), "restoring {column} restores the chain");
    }
    // Emptying a NULL-able column (NULL instead of a value) counts too.
    set_column(store, "record_id", victim.seq, None).await;
    assert_eq!(store.verify_audit().await.unwrap().broken.unwrap().id.as_deref(), Some(victim.id.as_str()));
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

async fn concurrent_appends_keep_one_chain(store: &Store, second_node: &Store) {
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

macro_rules! both {
    ($($name:ident),*) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::run(super::Dialect::Sqlite, super::Which::$name).await })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::run(super::Dialect::Postgres, super::Which::$name).await })*
        }
    };
}

#[allow(non_camel_case_types)]
enum Which {
    clean_chain_verifies_and_any_changed_field_is_named,
    deleted_entries_are_found,
    concurrent_appends_keep_one_chain,
    search_filters_and_pages,
}

async fn run(dialect: Dialect, which: Which) {
    let db = TestDatabase::new(dialect).await;
    let store = db.store().await;
    match which {
        Which::clean_chain_verifies_and_any_changed_field_is_named => clean_chain_verifies_and_any_changed_field_is_named(&store).await,
        Which::deleted_entries_are_found => deleted_entries_are_found(&store).await,
        Which::concurrent_appends_keep_one_chain => {
            let node2 = db.store().await;
            concurrent_appends_keep_one_chain(&store, &node2).await;
            node2.close().await;
        }
        Which::search_filters_and_pages => search_filters_and_pages(&store).await,
    }
    store.close().await;
}

both!(clean_chain_verifies_and_any_changed_field_is_named, deleted_entries_are_found, concurrent_appends_keep_one_chain, search_filters_and_pages);
