//! The GP's name search over HTTP (`GET /api/v1/referrals?q=`, issue 18): every word typed must
//! begin a word of the patient's name, in any order and any case; only the practice's own
//! referrals come back; too many words is a clear 400.

mod common;

use common::Server;
use reqwest::StatusCode;
use serde_json::Value;

fn ids(list: &Value) -> Vec<String> {
    list["referrals"].as_array().expect("a list").iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gp_finds_patients_by_the_start_of_their_names() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let (s, all) = gp.get("/referrals?limit=1000").await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let first = &all["referrals"][0];
    let id = first["id"].as_str().expect("the demo practice has referrals").to_string();
    let name = first["patient_name"].as_str().unwrap().to_string();
    let words: Vec<&str> = name.split_whitespace().collect();
    let (given, family) = (words[0], words[words.len() - 1]);

    // The first three letters of the family name, in capitals: this referral is found, and every
    // referral found has a word of its name beginning with them.
    let prefix: String = family.chars().take(3).collect::<String>().to_uppercase();
    let (s, found) = gp.get(&format!("/referrals?q={prefix}")).await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert!(ids(&found).contains(&id), "{prefix} finds {name}: {found}");
    for r in found["referrals"].as_array().unwrap() {
        let n = r["patient_name"].as_str().unwrap().to_lowercase();
        assert!(n.split(|c: char| !c.is_alphanumeric()).any(|w| w.starts_with(&prefix.to_lowercase())), "{n} has no word starting {prefix}");
    }
    // Family name first, then the start of the given name: still found.
    let given_start: String = given.chars().take(2).collect();
    let (_, reversed) = gp.get(&format!("/referrals?q={family}%20{given_start}")).await;
    assert!(ids(&reversed).contains(&id), "{family} {given_start}: {reversed}");
    // The middle of a word is not the start of one.
    let middle: String = family.chars().skip(1).collect();
    let (_, none) = gp.get(&format!("/referrals?q={middle}%20{given}")).await;
    assert!(!ids(&none).contains(&id), "{middle} {given}: {none}");
    // Punctuation alone names no one.
    let (s, empty) = gp.get("/referrals?q=%25%27-").await;
    assert_eq!((s, ids(&empty).len()), (StatusCode::OK, 0), "{empty}");

    // Nine words is more than a name search takes: a 400 that says what to do.
    let (s, body) = gp.get("/referrals?q=a%20b%20c%20d%20e%20f%20g%20h%20i").await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("at most 8 words"), "{body}");
}
