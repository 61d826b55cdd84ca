//! The photo gate follows each service's own policy (issue 16), through the real server: City &
//! Hackney's "Large" photos pass its resolution check, a HEIC upload is refused with what to do,
//! the upload pages ask only for what is decoded, and the photo advice comes from the policy.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use telederm_imaging::synth::{JpegOpts, Scene, jpeg, render};

fn sized(w: u32, h: u32) -> Vec<u8> {
    jpeg(&render(&Scene { width: w, height: h, tone: 3, ..Scene::default() }), JpegOpts::default())
}

fn codes(p: &Value) -> Vec<String> {
    p["report"]["issues"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap().to_string()).collect()
}

async fn page(server: &Server, api: &Api, path: &str) -> String {
    let r = api.client.get(format!("{}{path}", server.base)).send().await.expect("GET page");
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_photo_gate_follows_the_services_policy() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let draft = |service: &'static str, overrides: Value| {
        let gp = &gp;
        async move {
            let (s, d) = gp.post("/referrals", &draft_body(service, "ras", overrides)).await;
            assert_eq!(s, StatusCode::CREATED, "{d}");
            d["id"].as_str().unwrap().to_string()
        }
    };
    let hackney = draft("hackney-rash", json!({})).await;
    let homerton = draft("homerton", json!({"condition": "lesion", "lesion_count": 1})).await;

    // "Large" from a phone's mail app passes City & Hackney's resolution check; on Homerton,
    // which states no size, the same photo is accepted with the "small" warning.
    for (w, h) in [(1632, 1224), (1600, 1200)] {
        let (s, p) = gp.upload(&hackney, "close_up", sized(w, h)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        assert_eq!(codes(&p), Vec::<String>::new(), "{w}x{h}: {p}");
        assert_eq!(p["verdict"], "accept");
        assert_eq!(p["report"]["skin_tone_band"], "brown", "the tone band is stored with the photo: {p}");
    }
    let (_, p) = gp.upload(&homerton, "close_up", sized(1632, 1224)).await;
    assert_eq!(codes(&p), vec!["low_resolution".to_string()], "{p}");
    let (_, listed) = gp.get(&format!("/referrals/{hackney}/photos")).await;
    assert!(listed["photos"].as_array().unwrap().iter().all(|p| p["report"]["skin_tone_band"] == "brown"), "{listed}");

    // HEIC: refused, and the message says what to do.
    let (s, body) = gp.upload(&hackney, "close_up", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic\0\0\0\0rest".to_vec()).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unsupported_format")), "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("export it as JPEG") && msg.contains("Most Compatible") && msg.contains("sent as JPEG automatically"), "{msg}");

    // The pages ask only for formats that are decoded, and say so.
    let hackney_page = page(&server, &gp, &format!("/referrals/{hackney}/photos")).await;
    assert!(hackney_page.contains(r#"accept="image/jpeg,image/png,image/gif,image/tiff""#), "{hackney_page}");
    assert!(!hackney_page.contains("HEIC from") && !hackney_page.contains(r#"accept="image/*""#));
    assert!(hackney_page.contains("a HEIC file copied to a computer must be exported as JPEG first"));
    // A rash-only service: no advice about lesions or dermoscopy, and its own words are there.
    assert!(!hackney_page.to_lowercase().contains("dermoscop"), "{hackney_page}");
    assert!(hackney_page.contains("Please attach images as ‘Large’ size"));
    // Homerton requires a dermoscopic view of a lesion, and says so in its name.
    let homerton_page = page(&server, &gp, &format!("/referrals/{homerton}/photos")).await;
    assert!(homerton_page.contains("For a lesion (mole, spot, growth): RAS Teledermatology (Homerton) needs a dermoscopic view."), "{homerton_page}");
    assert!(homerton_page.contains("This is a lesion: RAS Teledermatology (Homerton) needs a dermoscopic view."));
}
