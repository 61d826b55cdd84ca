//! Bank-holiday files in the database (`telederm calendar update`), on SQLite and PostgreSQL.

use chrono::NaiveDate;
use telederm_store::Store;

telederm_store::on_both_databases!(store: the_latest_loaded_file_wins);

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn the_latest_loaded_file_wins(store: &Store) {
    assert_eq!(store.latest_bank_holidays().await.unwrap(), None);
    let first = store.save_bank_holidays("{\"a\": 1}", day("2025-01-01"), day("2028-12-31")).await.unwrap();
    assert_eq!(store.latest_bank_holidays().await.unwrap(), Some(first.clone()));
    let body = "{\"england-and-wales\": {\"events\": []}, \"note\": \"’ unicode kept\"}";
    let second = store.save_bank_holidays(body, day("2026-01-01"), day("2029-12-31")).await.unwrap();
    let latest = store.latest_bank_holidays().await.unwrap().unwrap();
    assert_eq!(latest, second);
    assert_eq!(latest.body, body);
    assert_eq!((latest.first_day, latest.last_day), (day("2026-01-01"), day("2029-12-31")));
    assert_eq!(latest.sha256.len(), 64);
    assert_ne!(latest.sha256, first.sha256);
}
