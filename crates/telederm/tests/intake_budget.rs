//! The intake memory budget (issue 11, part 4) against the real server: a burst of large photo
//! uploads beyond `TELEDERM_INTAKE_MEMORY_MB` is answered `503 intake_busy` with `Retry-After`
//! instead of decoding them all at once, uploads within the budget still succeed, a photo that
//! needs more than the whole budget is refused at once, and a patient upload link is checked
//! before the server reads the upload's body.

mod common;

use std::time::Duration;

use common::{Api, Server, draft_body};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use telederm_imaging::synth::{self, JpegOpts};
use telederm_imaging::{IntakeLimits, Rgb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A 24 MP photo-like JPEG (a few MB: gradients with texture), upright.
fn large_photo() -> Vec<u8> {
    let (w, h) = (6000u32, 4000u32);
    let mut px = Vec::with_capacity(w as usize * h as usize * 3);
    for y in 0..h {
        for x in 0..w {
            let n = ((x.wrapping_mul(0x9E37_79B1) ^ y.wrapping_mul(0x85EB_CA77)).wrapping_mul(0xC2B2_AE3D) >> 27) as u8;
            px.extend_from_slice(&[150 + (x * 60 / w) as u8 + n, 100 + (y * 40 / h) as u8 + n, 80 + n]);
        }
    }
    synth::jpeg(&Rgb { w, h, px }, JpegOpts { quality: 80, ..Default::default() })
}

/// A file whose header alone calls for more memory than any small budget: a progressive JPEG
/// frame of 8000x8000 with three full-resolution components (every DCT coefficient is kept while
/// decoding), and hardly any data.
fn header_only_giant() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    // SOF2: length 17, precision 8, height, width, 3 components (id, 1x1 sampling, table 0).
    v.extend_from_slice(&[0xFF, 0xC2, 0, 17, 8, 0x1F, 0x40, 0x1F, 0x40, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    // SOS: length 12, 3 components, spectral 0..0, approximation 0.
    v.extend_from_slice(&[0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0, 3, 0, 0, 0, 0]);
    v.extend_from_slice(&[0x12, 0x34, 0x56]);
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

fn api_clone(a: &Api) -> Api {
    Api { base: a.base.clone(), client: a.client.clone() }
}

async fn upload_raw(api: &Api, referral: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("kind", "close_up")
        .part("file", reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg"));
    api.client.post(format!("{}/referrals/{referral}/photos", api.base)).multipart(form).send().await.expect("upload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_large_uploads_beyond_the_budget_is_answered_503_and_uploads_within_it_succeed() {
    let photo = large_photo();
    let need = telederm_imaging::working_memory(&photo, &IntakeLimits::default()).expect("header").bytes;
    // Room for two of these photos at a time, not three.
    let budget_mb = (need * 5 / 2).div_ceil(1 << 20);
    let budget = budget_mb.to_string();
    let server = Server::demo_with(&[("TELEDERM_INTAKE_MEMORY_MB", budget.as_str()), ("TELEDERM_INTAKE_WAIT_MS", "100")], None).await;
    let gp = server.sign_in_as("referrer").await;
    let (status, body) = gp.post("/referrals", &draft_body("hackney-rash", "ras", json!({}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_string();

    // Eight at once: two are decoded, the others wait 100 ms for memory that is still in use.
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let (api, id, bytes) = (api_clone(&gp), id.clone(), photo.clone());
            tokio::spawn(async move {
                let r = upload_raw(&api, &id, bytes).await;
                let retry_after = r.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
                let status = r.status();
                (status, retry_after, r.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut created = 0;
    let mut busy = 0;
    for t in burst {
        let (status, retry_after, body) = t.await.expect("join");
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(body["code"], "intake_busy", "{body}");
                assert!(body["message"].as_str().unwrap().contains("try again") || body["message"].as_str().unwrap().contains("send it again"), "{body}");
                let secs: u64 = retry_after.expect("Retry-After on 503").parse().expect("seconds");
                assert!((1..=60).contains(&secs));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(created >= 2, "uploads within the budget go through ({created} created, {busy} busy)");
    assert!(busy >= 1, "a burst beyond the budget is refused with 503 ({created} created, {busy} busy)");

    // Once the burst is over, two at a time (within the budget) both succeed.
    let pair: Vec<_> = (0..2)
        .map(|_| {
            let (api, id, bytes) = (api_clone(&gp), id.clone(), photo.clone());
            tokio::spawn(async move { upload_raw(&api, &id, bytes).await.status() })
        })
        .collect();
    for t in pair {
        assert_eq!(t.await.expect("join"), StatusCode::CREATED);
    }

    // A photo whose header alone needs more than the whole budget is refused at once, clearly.
    let started = std::time::Instant::now();
    let r = upload_raw(&gp, &id, header_only_giant()).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "image_too_large_to_process", "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // The GP's photo page shows the same refusal as a page with the form, not as JSON.
    let csrf_page = gp.client.get(format!("{}/referrals/{id}/photos", server.base)).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_page.split("name=\"_csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf field").to_string();
    let burst: Vec<_> = (0..6)
        .map(|_| {
            let (client, url, bytes, csrf) = (gp.client.clone(), format!("{}/referrals/{id}/photos", server.base), photo.clone(), csrf.clone());
            tokio::spawn(async move {
                let form = reqwest::multipart::Form::new()
                    .text("_csrf", csrf)
                    .text("kind", "close_up")
                    .part("file", reqwest::multipart::Part::bytes(bytes).file_name("photo.jpg"));
                let r = client.post(url).multipart(form).send().await.expect("page upload");
                let status = r.status();
                let ct = r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let has_retry = r.headers().contains_key(header::RETRY_AFTER);
                (status, ct, has_retry, r.text().await.unwrap_or_default())
            })
        })
        .collect();
    let mut page_busy = 0;
    for t in burst {
        let (status, ct, has_retry, text) = t.await.expect("join");
        if status == StatusCode::SERVICE_UNAVAILABLE {
            page_busy += 1;
            assert!(ct.starts_with("text/html") && has_retry, "{ct}");
            assert!(text.contains("send it again") && text.contains("<form"), "the photo page with the message");
        }
    }
    assert!(page_busy >= 1, "the page burst met the budget too");
}

/// A patient upload to a link that does not exist is answered without reading the body: the
/// server does not wait for (or buffer) the photo of someone without a valid link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_upload_is_refused_before_its_body_is_read() {
    let server = Server::demo().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let token = "ab".repeat(32);
    let mut s = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /p/{token}/photos HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 20000000\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![0u8; 64 * 1024]).await.unwrap();
    // The rest of the 20 MB never comes.
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("answered without waiting for the body")
        .expect("read");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}
