//! Documents on a referral (issue 14): PDF attachments (referral letter, consent form, other) over
//! HTTP with the real database and blob store: upload, list, download byte for byte, refusals
//! (not a PDF, too large, over the attachment limit together with photos, locked once sent),
//! another practice's GP, the audit trail, and the round trip through a FHIR export and import
//! (the HTTP import as a new draft, and the operator's CLI restore). Then the onward-services
//! directory: the API, a bad entry refused, and an outcome naming an entry on the GP's letter.

mod common;

use base64::Engine;
use common::{Api, Server, complete_draft, pdf_text, photo, sample_pdf};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Digest;

async fn upload_document(api: &Api, referral: &str, kind: Option<&str>, title: Option<&str>, bytes: Vec<u8>, file_name: &str) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new();
    if let Some(k) = kind {
        form = form.text("kind", k.to_string());
    }
    if let Some(t) = title {
        form = form.text("title", t.to_string());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()));
    let r = api.client.post(format!("{}/referrals/{referral}/documents", api.base)).multipart(form).send().await.expect("upload");
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// `GET` the document's bytes: status, content type, content disposition, body.
async fn download(api: &Api, referral: &str, document: &str) -> (StatusCode, String, String, Vec<u8>) {
    let r = api.client.get(format!("{}/referrals/{referral}/documents/{document}", api.base)).send().await.unwrap();
    let header = |h: reqwest::header::HeaderName| r.headers().get(h).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (ct, cd) = (header(reqwest::header::CONTENT_TYPE), header(reqwest::header::CONTENT_DISPOSITION));
    (r.status(), ct, cd, r.bytes().await.unwrap().to_vec())
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// A PDF padded with comment lines to at least `size` bytes (still a PDF by its header).
fn pdf_of_size(size: usize) -> Vec<u8> {
    let mut pdf = sample_pdf(&["Large scan"]);
    while pdf.len() < size {
        pdf.extend_from_slice(b"% padding of a large scanned document..........................................\n");
    }
    pdf
}

/// Another practice and its GP, signed in.
async fn other_practice_gp(server: &Server) -> Api {
    let (ok, out, err) = server.cli(&["organisation", "add", "--ods", "Y99999", "--name", "Elsewhere Practice", "--kind", "practice"], &[]);
    assert!(ok, "{out}{err}");
    let password = "amber kestrel meadow";
    let (ok, out, err) = server.cli(
        &["user", "add", "--email", "gp@elsewhere.nhs.uk", "--name", "Other GP", "--role", "referrer", "--organisation", "Y99999", "--password-env", "PW"],
        &[("PW", password)],
    );
    assert!(ok, "{out}{err}");
    server.sign_in("gp@elsewhere.nhs.uk", password).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_uploaded_listed_downloaded_and_refused_as_documented() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;

    // A real PDF: stored, listed, and served back byte for byte as a download.
    let letter = sample_pdf(&["Referral letter", "Dear colleague, please see this rash."]);
    let (s, doc) = upload_document(&gp, &id, Some("referral_letter"), Some("  Letter from Dr Patel "), letter.clone(), "letter.pdf").await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    assert_eq!(doc["kind"], "referral_letter");
    assert_eq!(doc["title"], "Letter from Dr Patel");
    assert_eq!(doc["size_bytes"], letter.len());
    assert_eq!(doc["sha256"], sha256_hex(&letter));
    assert!(doc.get("blob_key").is_none(), "the blob key is not part of the API: {doc}");
    let doc_id = doc["id"].as_str().unwrap().to_string();
    let (s, list) = gp.get(&format!("/referrals/{id}/documents")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["documents"].as_array().unwrap().len(), 1);
    assert_eq!(list["documents"][0]["id"], doc_id.as_str());
    let (s, ct, cd, bytes) = download(&gp, &id, &doc_id).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/pdf");
    assert_eq!(cd, "attachment; filename=\"letter-from-dr-patel.pdf\"");
    assert_eq!(bytes, letter, "the same bytes back");
    // poppler reads it as the PDF it is.
    assert!(pdf_text(&bytes).contains("Dear colleague, please see this rash."));

    // Stored encrypted at rest like photos: the PDF's text is in no file of the blob store.
    let mut stored_plain = false;
    for entry in walkdir(&server.data_dir.join("blobs")) {
        let data = std::fs::read(&entry).unwrap();
        if data.windows(b"please see this rash".len()).any(|w| w == b"please see this rash") {
            stored_plain = true;
        }
    }
    assert!(!stored_plain, "a document blob is stored in the clear");

    // Not a PDF by its content (whatever its name says): refused with its code.
    let (s, e) = upload_document(&gp, &id, Some("consent_form"), None, photo(3, 0.0), "consent.pdf").await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_pdf")), "{e}");
    let (s, e) = upload_document(&gp, &id, Some("other"), None, b"<html><body>%PDF-1.7 is not at the start</body></html>".repeat(30), "x.pdf").await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_a_pdf")), "{e}");
    // A kind it does not know, none at all, or a title too long.
    for (kind, title) in [(Some("photo"), None), (None, None), (Some("other"), Some("x".repeat(201)))] {
        let (s, e) = upload_document(&gp, &id, kind, title.as_deref(), sample_pdf(&["x"]), "x.pdf").await;
        assert_eq!((s, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_document")), "{kind:?}: {e}");
    }
    // No file.
    let r = gp.client.post(format!("{}/referrals/{id}/documents", gp.base)).multipart(reqwest::multipart::Form::new().text("kind", "other")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "missing_file");

    // Over the service's per-file limit (max_attachment_bytes = 5242880 for hackney-rash), and
    // over the node's 10 MB document limit: 413 file_too_large, saying the limit.
    let (s, e) = upload_document(&gp, &id, Some("other"), None, pdf_of_size(5_242_881), "big.pdf").await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("file_too_large")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("up to 5.2 MB"), "{e}");
    let (s, e) = upload_document(&gp, &id, Some("other"), None, pdf_of_size(10_000_001), "huge.pdf").await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("file_too_large")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("10 MB"), "{e}");
    let (_, list) = gp.get(&format!("/referrals/{id}/documents")).await;
    assert_eq!(list["documents"].as_array().unwrap().len(), 1, "nothing refused was stored: {list}");

    // Photos and documents count together against the referral's limit of 20: 3 photos and 17
    // documents fill it; then neither another document nor another photo is taken.
    for n in 2..=17 {
        let (s, e) = upload_document(&gp, &id, Some("other"), Some(&format!("Page {n}")), sample_pdf(&[&format!("Page {n}")]), "p.pdf").await;
        assert_eq!(s, StatusCode::CREATED, "document {n}: {e}");
    }
    let (s, e) = upload_document(&gp, &id, Some("consent_form"), None, sample_pdf(&["Consent"]), "c.pdf").await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("too_many_attachments")), "{e}");
    assert!(e["message"].as_str().unwrap().contains("3 photo(s) and 17 document(s)"), "{e}");
    let (s, e) = gp.upload(&id, "close_up", photo(9, 0.0)).await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("too_many_attachments")), "{e}");
    // Removing a document makes room again.
    let (_, list) = gp.get(&format!("/referrals/{id}/documents")).await;
    let last = list["documents"][16]["id"].as_str().unwrap().to_string();
    let r = gp.client.delete(format!("{}/referrals/{id}/documents/{last}", gp.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, e) = upload_document(&gp, &id, Some("consent_form"), None, sample_pdf(&["Consent"]), "c.pdf").await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let consent_id = e["id"].as_str().unwrap().to_string();

    // Another practice's GP sees nothing of it; the service's consultant sees no draft.
    let other = other_practice_gp(&server).await;
    for who in [&other, &consultant] {
        let (s, _) = who.get(&format!("/referrals/{id}/documents")).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, ..) = download(who, &id, &doc_id).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, e) = upload_document(who, &id, Some("other"), None, sample_pdf(&["x"]), "x.pdf").await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
        let r = who.client.delete(format!("{}/referrals/{id}/documents/{doc_id}", who.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    // Once sent, the documents are locked, and the service's consultant reads them.
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, e) = upload_document(&gp, &id, Some("other"), None, sample_pdf(&["late"]), "late.pdf").await;
    assert_eq!((s, e["code"].as_str()), (StatusCode::CONFLICT, Some("photos_locked")), "{e}");
    let r = gp.client.delete(format!("{}/referrals/{id}/documents/{consent_id}", gp.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let (s, list) = consultant.get(&format!("/referrals/{id}/documents")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["documents"].as_array().unwrap().len(), 17);
    let (s, _, _, bytes) = download(&consultant, &id, &doc_id).await;
    assert_eq!((s, bytes == letter), (StatusCode::OK, true));
    // The case page lists them with download links, for the consultant and the GP.
    for who in [&consultant, &gp] {
        let page = who.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("/api/v1/referrals/{id}/documents/{doc_id}")), "download link on the case page");
        assert!(page.contains("Referral letter: Letter from Dr Patel"), "the kind and title on the case page");
    }

    // Every upload, read and removal is in the audit trail.
    let (ok, out, err) = server.cli(&["audit", "export", "--since", "2000-01-01", "--format", "jsonl"], &[]);
    assert!(ok, "{err}");
    let actions: Vec<Value> = out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|a| a["referral_id"] == id.as_str()).collect();
    let count = |action: &str, outcome: &str| actions.iter().filter(|a| a["action"] == action && a["outcome"] == outcome).count();
    assert_eq!(count("document.upload", "allowed"), 18, "17 kept and 1 removed");
    assert_eq!(count("document.delete", "allowed"), 1);
    assert!(count("document.download", "allowed") >= 2);
    assert!(count("document.upload", "failed") >= 5, "refusals are recorded too");
}

/// Every file under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

/// (kind, title, bytes) of a referral's documents, oldest first.
async fn documents_of(api: &Api, id: &str) -> Vec<(String, Value, Vec<u8>)> {
    let (s, list) = api.get(&format!("/referrals/{id}/documents")).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mut out = Vec::new();
    for d in list["documents"].as_array().unwrap() {
        let (s, ct, _, bytes) = download(api, id, d["id"].as_str().unwrap()).await;
        assert_eq!((s, ct.as_str()), (StatusCode::OK, "application/pdf"));
        out.push((d["kind"].as_str().unwrap().to_string(), d["title"].clone(), bytes));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_attachment_round_trips_through_fhir_export_and_import() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let consent = sample_pdf(&["Consent form", "I agree to photos of my skin being sent."]);
    let letter = sample_pdf(&["Referral letter"]);
    let (s, e) = upload_document(&gp, &id, Some("consent_form"), Some("Signed consent"), consent.clone(), "consent.pdf").await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, e) = upload_document(&gp, &id, Some("referral_letter"), None, letter.clone(), "letter.pdf").await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    // The patient wants letters only, in large print (exported with the Patient, issue 14).
    let mut patient = common::patient("1980-05-17");
    patient["contact"] = json!({"email": "ada@example.org", "prefers": "letter", "large_print": true});
    let (s, b) = gp.patch(&format!("/referrals/{id}"), &json!({"patient": patient})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let before = documents_of(&gp, &id).await;
    assert_eq!(before, vec![("consent_form".into(), json!("Signed consent"), consent.clone()), ("referral_letter".into(), Value::Null, letter.clone())]);

    // The export carries each as a DocumentReference with its PDF in a Binary, named by the
    // ServiceRequest's supportingInfo.
    let (s, bundle) = gp.get(&format!("/fhir/ServiceRequest/{id}/$everything")).await;
    assert_eq!(s, StatusCode::OK);
    let resources: Vec<&Value> = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let docs: Vec<&&Value> = resources
        .iter()
        .filter(|r| r["resourceType"] == "DocumentReference" && r["type"]["coding"][0]["code"] == "referral-document")
        .collect();
    assert_eq!(docs.len(), 2, "{bundle}");
    let sr = resources.iter().find(|r| r["resourceType"] == "ServiceRequest").unwrap();
    for d in &docs {
        let attachment = &d["content"][0]["attachment"];
        assert_eq!(attachment["contentType"], "application/pdf");
        let bin_ref = attachment["url"].as_str().unwrap();
        let binary = resources.iter().find(|r| r["resourceType"] == "Binary" && format!("Binary/{}", r["id"].as_str().unwrap()) == bin_ref).unwrap();
        let data = base64::engine::general_purpose::STANDARD.decode(binary["data"].as_str().unwrap()).unwrap();
        assert!(data == consent || data == letter);
        assert_eq!(attachment["size"], data.len());
        let reference = format!("DocumentReference/{}", d["id"].as_str().unwrap());
        assert!(sr["supportingInfo"].as_array().unwrap().iter().any(|s| s["reference"] == reference.as_str()));
    }

    // Imported over HTTP as the GP's new draft: the documents' kinds, titles and bytes are equal.
    let (s, resp) = gp.post("/fhir", &bundle).await;
    assert_eq!(s, StatusCode::CREATED, "{resp}");
    let new_id = resp["entry"][0]["response"]["location"].as_str().unwrap().trim_start_matches("ServiceRequest/").to_string();
    assert_ne!(new_id, id);
    assert_eq!(documents_of(&gp, &new_id).await, before, "after the HTTP import");
    let (_, imported) = gp.get(&format!("/referrals/{new_id}")).await;
    assert_eq!(imported["referral"]["patient"]["contact"], json!({"email": "ada@example.org", "prefers": "letter", "large_print": true}), "{imported}");
    let patient_res = resources.iter().find(|r| r["resourceType"] == "Patient").unwrap();
    let exts = patient_res["extension"].as_array().expect("the contact preferences as extensions");
    assert!(exts.iter().any(|e| e["url"].as_str().unwrap().ends_with("/contact-preference") && e["valueCode"] == "letter"), "{patient_res}");
    assert!(exts.iter().any(|e| e["url"].as_str().unwrap().ends_with("/large-print") && e["valueBoolean"] == true), "{patient_res}");

    // Restored by the operator's CLI: the same referral under new ids (the original is still here).
    let mut text = serde_json::to_string(&bundle).unwrap();
    let mut ids: Vec<String> = vec![id.clone()];
    ids.extend(resources.iter().filter(|r| r["resourceType"] == "DocumentReference").filter_map(|r| r["id"].as_str()).filter(|i| uuid::Uuid::parse_str(i).is_ok()).map(str::to_string));
    for old in &ids {
        text = text.replace(old.as_str(), &uuid::Uuid::new_v4().to_string());
    }
    let restored_id = {
        let v: Value = serde_json::from_str(&text).unwrap();
        v["entry"].as_array().unwrap().iter().find(|e| e["resource"]["resourceType"] == "ServiceRequest").unwrap()["resource"]["id"].as_str().unwrap().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bundle.json");
    std::fs::write(&file, &text).unwrap();
    let key = server.data_dir.join("blob.key");
    let (ok, out, err) = server.cli(&["fhir", "import", file.to_str().unwrap()], &[("TELEDERM_BLOB_KEY_FILE", key.to_str().unwrap())]);
    assert!(ok, "{out}{err}");
    assert_eq!(documents_of(&gp, &restored_id).await, before, "after the CLI restore");

    // A Bundle whose document is not a PDF is refused with the place named, and nothing written.
    let mut bad = bundle.clone();
    for e in bad["entry"].as_array_mut().unwrap() {
        if e["resource"]["resourceType"] == "Binary" && e["resource"]["contentType"] == "application/pdf" {
            e["resource"]["data"] = json!(base64::engine::general_purpose::STANDARD.encode(b"not a pdf at all"));
        }
    }
    let (s, resp) = gp.post("/fhir", &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{resp}");
    assert!(resp.to_string().contains("the document is not a PDF"), "{resp}");
}

const ENTRY: &str = "[[service]]\nid = \"local-derm\"\nname = \"Local dermatology clinic\"\nprovider = \"Example Community Health CIC\"\nods_code = \"NQT01\"\ntakes = \"Adults with eczema or psoriasis.\"\n";

/// A services directory with the five seed policies and this `directory.toml`.
fn services_dir(directory: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services");
    for e in std::fs::read_dir(&seeds).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "toml") && p.file_name().unwrap() != "directory.toml" {
            std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(dir.path().join("directory.toml"), directory).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_onward_services_directory_is_listed_checked_and_named_on_the_gp_letter() {
    let server = Server::demo().await;
    let gp = server.sign_in_as("referrer").await;
    let consultant = server.sign_in_as("consultant").await;

    // The built-in example entries, over the API (signed in) and on the command line.
    let (s, d) = gp.get("/directory").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let homerton = d["services"].as_array().unwrap().iter().find(|e| e["id"] == "homerton-dermatology-outpatients").expect("the example entry");
    assert_eq!(homerton["ods_code"], "RQX");
    assert_eq!(homerton["provider"], "Homerton Healthcare NHS Foundation Trust");
    assert_eq!(homerton["example"], true);
    let (s, _) = server.anonymous().get("/directory").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (ok, out, err) = server.cli(&["services", "directory"], &[]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l.starts_with("homerton-dermatology-outpatients") && l.contains("RQX") && l.contains("(example entry)")), "{out}");

    // A deployment's own file replaces them; a bad entry is refused with its line and reason.
    let own = services_dir(ENTRY);
    let (ok, out, err) = server.cli(&["services", "directory", "--json"], &[("TELEDERM_SERVICES_DIR", own.path().to_str().unwrap())]);
    assert!(ok, "{err}");
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["services"].as_array().unwrap().len(), 1);
    assert_eq!(listed["services"][0]["ods_code"], "NQT01");
    let bad = services_dir(&ENTRY.replace("NQT01", "nqt 01"));
    let (ok, _, err) = server.cli(&["services", "directory"], &[("TELEDERM_SERVICES_DIR", bad.path().to_str().unwrap())]);
    assert!(!ok);
    assert!(err.contains("directory.toml: line 1: local-derm: ods_code \"nqt 01\" is not an ODS code (3 to 6 capital letters and digits, e.g. \"RQX\")"), "{err}");
    let unknown = services_dir(&format!("{ENTRY}phone = \"020 7946 0000\"\n"));
    let (ok, _, err) = server.cli(&["services", "directory"], &[("TELEDERM_SERVICES_DIR", unknown.path().to_str().unwrap())]);
    assert!(!ok);
    assert!(err.contains("unknown field `phone`"), "{err}");
    // The policies beside it still load (directory.toml is not taken for a policy).
    let (ok, out, err) = server.cli(&["services", "list"], &[("TELEDERM_SERVICES_DIR", own.path().to_str().unwrap())]);
    assert!(ok && out.lines().count() == 5, "{out}{err}");

    // The consultant chooses the entry for an onward referral; the GP's letter names it with its provider.
    let id = complete_draft(&gp, "hackney-rash", "ras", json!({})).await;
    let (s, b) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = consultant.post(&format!("/referrals/{id}/claim"), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let page = consultant.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<option value=\"homerton-dermatology-outpatients\""), "the directory is offered where the outcome is recorded");
    let body = json!({"code": "onward_referral", "diagnosis": "Psoriasis", "management_plan": "Needs phototherapy.", "follow_up": "",
        "onward_service": "homerton-dermatology-outpatients"});
    let (s, b) = consultant.post(&format!("/referrals/{id}/outcome"), &body).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let pdf = gp.client.get(format!("{}/referrals/{id}/letters/gp?format=pdf", gp.base)).send().await.unwrap().bytes().await.unwrap();
    let text = pdf_text(&pdf).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("Dermatology outpatients, Homerton Healthcare NHS Foundation Trust"), "{text}");
    assert!(!text.contains("homerton-dermatology-outpatients"), "the id is never printed: {text}");
    let page = gp.client.get(format!("{}/referrals/{id}", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Dermatology outpatients, Homerton Healthcare NHS Foundation Trust"), "the GP's case page names it");
}
