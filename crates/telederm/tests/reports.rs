//! Reports (issue 17) over HTTP: figures checked against referrals built for the test, statistical
//! disclosure control at its boundary (4 hidden, 5 shown) with secondary suppression, CSV by
//! `Accept`, the pages, the CLI, and who may see what (a GP never sees another practice).
//!
//! The referrals go to `homerton`, which the demo does not use, so every figure of that service is
//! made here: 12 referrals from two new practices (Y11111: 8, Y22222: 4).

mod common;

use common::{Api, Server, draft_body};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

const SERVICE: &str = "homerton";
const PASSWORD: &str = "amber kestrel meadow";

/// One referral of the fixture: the practice's GP sends it with this patient, and the consultant
/// does this with it.
struct Case {
    dob: &'static str,
    sex: &'static str,
    then: Then,
}

#[derive(Clone, Copy)]
enum Then {
    Open,
    AskForInformation,
    Outcome(&'static str),
    Reject(&'static str),
}

async fn send(gp: &Api, consultant: &Api, case: &Case) {
    // complete_draft's body with this patient (and the same date of birth in the checklist).
    let mut body = draft_body(SERVICE, "ras", json!({}));
    body["patient"]["date_of_birth"] = json!(case.dob);
    body["patient"]["sex"] = json!(case.sex);
    body["eligibility_answers"]["patient"]["date_of_birth"] = json!(case.dob);
    let (status, created) = gp.post("/referrals", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    for (i, kind) in ["locator", "close_up", "close_up"].into_iter().enumerate() {
        let (status, p) = gp.upload(&id, kind, common::photo(i as u64 + 1, 0.0)).await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
    }
    let (status, r) = gp.post(&format!("/referrals/{id}/submit"), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let act = |path: &'static str, body: Value| {
        let id = id.clone();
        async move {
            let (status, r) = consultant.post(&format!("/referrals/{id}/{path}"), &body).await;
            assert_eq!(status, StatusCode::OK, "{path}: {r}");
        }
    };
    match case.then {
        Then::Open => {}
        Then::AskForInformation => {
            act("claim", json!({})).await;
            act("request-information", json!({"message": "Please send a photo in daylight.", "topic": "photos"})).await;
        }
        Then::Outcome(code) => {
            act("claim", json!({})).await;
            act("outcome", json!({"code": code, "diagnosis": "Eczema", "management_plan": "Emollients twice a day."})).await;
        }
        Then::Reject(reason) => {
            act("claim", json!({})).await;
            act("outcome", json!({"code": "rejected", "rejection_reason": reason, "management_plan": "Please re-refer with clearer photos."})).await;
        }
    }
}

fn add_practice_gp(server: &Server, ods: &str, email: &str) {
    let (ok, out, err) = server.cli(&["organisation", "add", "--ods", ods, "--name", &format!("Practice {ods}"), "--kind", "practice"], &[]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = server.cli(
        &["user", "add", "--email", email, "--name", "Dr Test", "--role", "referrer", "--organisation", ods, "--password-env", "PW", "--profession", "gp"],
        &[("PW", PASSWORD)],
    );
    assert!(ok, "{out}{err}");
}

async fn csv(api: &Api, path: &str) -> (StatusCode, String, String) {
    let r = api.client.get(format!("{}{path}", api.base)).header(header::ACCEPT, "text/csv").send().await.unwrap();
    let status = r.status();
    let ty = r.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ty, r.text().await.unwrap())
}

fn group<'a>(report: &'a Value, dimension: &str, group: &str) -> &'a Value {
    report["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dimension"] == dimension)
        .and_then(|d| d["groups"].as_array().unwrap().iter().find(|g| g["group"] == group))
        .unwrap_or_else(|| panic!("{dimension}/{group} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_count_what_was_sent_suppress_small_counts_and_keep_practices_apart() {
    let server = Server::demo().await;
    add_practice_gp(&server, "Y11111", "gp1@reports.test");
    add_practice_gp(&server, "Y22222", "gp2@reports.test");
    // An admin of another service only.
    let (ok, out, err) = server.cli(&["organisation", "add", "--ods", "RWH", "--name", "West Herts", "--kind", "provider", "--service", "west-herts-paediatric"], &[]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = server.cli(
        &["user", "add", "--email", "admin@westherts.test", "--name", "Other Admin", "--role", "service_admin", "--organisation", "RWH", "--service", "west-herts-paediatric", "--password-env", "PW"],
        &[("PW", PASSWORD)],
    );
    assert!(ok, "{out}{err}");
    let gp1 = server.sign_in("gp1@reports.test", PASSWORD).await;
    let gp2 = server.sign_in("gp2@reports.test", PASSWORD).await;
    let consultant = server.sign_in_as("consultant").await;
    let admin = server.sign_in_as("service_admin").await;
    let other_admin = server.sign_in("admin@westherts.test", PASSWORD).await;

    // Ages: five 30-44 (1990), four 45-64 (1975), three 65-74 (1955). Sex: eight female, four male.
    let (a, b, c) = ("1990-02-01", "1975-02-01", "1955-02-01");
    use Then::*;
    let practice1 = [
        Case { dob: a, sex: "female", then: Outcome("advice_management_plan") },
        Case { dob: a, sex: "female", then: Outcome("advice_management_plan") },
        Case { dob: a, sex: "female", then: Outcome("advice_management_plan") },
        Case { dob: a, sex: "female", then: Outcome("face_to_face_routine") },
        Case { dob: a, sex: "female", then: Reject("poor_image_quality") },
        Case { dob: b, sex: "female", then: Reject("poor_image_quality") },
        Case { dob: b, sex: "female", then: AskForInformation },
        Case { dob: b, sex: "female", then: Open },
    ];
    let practice2 = [
        Case { dob: b, sex: "male", then: Outcome("no_further_action") },
        Case { dob: c, sex: "male", then: Reject("insufficient_information") },
        Case { dob: c, sex: "male", then: Open },
        Case { dob: c, sex: "male", then: Open },
    ];
    for case in &practice1 {
        send(&gp1, &consultant, case).await;
    }
    for case in &practice2 {
        send(&gp2, &consultant, case).await;
    }

    // ---- Per-practice quality: a GP sees their own practice beside the service.
    let (status, r) = gp1.get("/reports/practice-quality").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let gp1_report = r.clone();
    assert_eq!(r["services"], json!([SERVICE]));
    let practices = r["practices"].as_array().unwrap();
    assert_eq!(practices.len(), 1, "a GP sees their own practice only: {r}");
    let p = &practices[0];
    assert_eq!(p["ods_code"], "Y11111");
    assert_eq!(p["referrals"], 8);
    assert_eq!(p["by_route"]["ras"], 8);
    assert_eq!(p["by_service"][SERVICE], 8);
    assert_eq!(p["answered"], 6);
    assert_eq!(p["rejected"], 2);
    assert_eq!(p["rejections"]["poor_image_quality"], 2);
    assert_eq!(p["rejections"]["insufficient_information"], 0);
    assert_eq!(p["returned_for_information"], 1);
    assert_eq!(
        p["returned_for_information_by_topic"],
        json!({"photos": 1, "dermoscopy": 0, "history": 0, "treatment": 0, "other": 0, "not_given": 0}),
        "the request named what it asked for"
    );
    assert!((p["returned_for_information_rate"].as_f64().unwrap() - 1.0 / 8.0).abs() < 1e-9);
    assert!((p["rejection_rate"].as_f64().unwrap() - 2.0 / 6.0).abs() < 1e-9);
    // Three answers by advice of four that were not rejections.
    assert!((p["managed_without_face_to_face_rate"].as_f64().unwrap() - 0.75).abs() < 1e-9);
    // Answered on the day received: no working day passed.
    assert_eq!(p["median_working_days"], 0.0);
    assert_eq!(p["p90_working_days"], 0);
    let verdicts = &p["photo_verdicts"];
    assert_eq!(verdicts["accept"].as_u64().unwrap() + verdicts["warn"].as_u64().unwrap() + verdicts["reject"].as_u64().unwrap(), 24);
    let s = &r["service"];
    assert_eq!(r["practice_count"], 2);
    assert_eq!(s["referrals"], 12);
    assert_eq!(s["answered"], 8);
    assert_eq!(s["rejected"], 3);
    assert_eq!(s["rejections"]["insufficient_information"], 1);
    assert!((s["managed_without_face_to_face_rate"].as_f64().unwrap() - 4.0 / 5.0).abs() < 1e-9);

    // ---- The monthly summary: the same figures as a tagged PDF, for the month received.
    let month = gp1_report["to"].as_str().unwrap()[..7].to_string();
    let r = gp1.client.get(format!("{}/reports/practice-quality?month={month}", gp1.base)).header(header::ACCEPT, "application/pdf").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/pdf");
    let text = common::pdf_text(&r.bytes().await.unwrap());
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let month_name = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap().format("%B %Y").to_string();
    assert!(flat.contains(&format!("Referral quality summary, {month_name}")), "{flat}");
    assert!(flat.contains("Practice Y11111 (Y11111)"), "{flat}");
    // The JSON's figures: 8 received beside 6.0 per practice (12 from 2), 2 rejected for poor images.
    assert!(flat.contains("8 (service: 6.0)"), "{flat}");
    assert!(flat.contains("Poor image quality: 2"), "{flat}");
    assert!(flat.contains("Better or more photos: 1"), "{flat}");
    assert!(!flat.contains("Y22222"), "a GP's summary has no other practice: {flat}");
    for (bad, status_code, code) in [
        (format!("month={month}&from=2026-01-01"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_period"),
        ("month=2026-13".to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_period"),
        ("month=26-11".to_string(), StatusCode::BAD_REQUEST, "invalid_query"),
    ] {
        let (status, e) = gp1.get(&format!("/reports/practice-quality?{bad}")).await;
        assert_eq!((status, e["code"].as_str()), (status_code, Some(code)), "{bad}: {e}");
    }
    // The page offers the last months' summaries; its PDF link answers the same document.
    let html = gp1.client.get(format!("{}/reports/practice-quality", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("data-monthly-pdf=\"{month}\"")), "{html}");
    let r = gp1.client.get(format!("{}/reports/practice-quality.pdf?month={month}", server.base)).send().await.unwrap();
    assert_eq!((r.status(), r.headers()[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "application/pdf"));
    let page_text = common::pdf_text(&r.bytes().await.unwrap());
    assert!(page_text.split_whitespace().collect::<Vec<_>>().join(" ").contains("8 (service: 6.0)"));

    // A GP never sees another practice, by ODS code or otherwise, nor the service reports.
    for path in ["/reports/practice-quality?practice=Y22222", "/reports/equity?service=homerton", "/reports/service?service=homerton"] {
        let (status, e) = gp1.get(path).await;
        assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("report_not_permitted")), "{path}: {e}");
    }
    let (status, r2) = gp2.get("/reports/practice-quality?practice=Y22222").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r2["practices"].as_array().unwrap().len(), 1);
    assert_eq!(r2["practices"][0]["referrals"], 4);
    // Consultants and system admins have no reports.
    let (status, e) = consultant.get("/reports/practice-quality").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("report_not_permitted")));

    // A service admin sees every practice of their services, or one by ODS code.
    let (status, all) = admin.get("/reports/practice-quality").await;
    assert_eq!(status, StatusCode::OK);
    let ods: Vec<&str> = all["practices"].as_array().unwrap().iter().filter_map(|p| p["ods_code"].as_str()).collect();
    assert!(ods.contains(&"Y11111") && ods.contains(&"Y22222"), "{ods:?}");
    let (_, one) = admin.get("/reports/practice-quality?practice=Y22222").await;
    assert_eq!(one["practices"].as_array().unwrap().len(), 1);
    assert_eq!(one["practices"][0]["rejections"]["insufficient_information"], 1);
    // An admin of another service sees none of these practices, and not this service's reports.
    let (_, none) = other_admin.get("/reports/practice-quality").await;
    assert_eq!(none["practices"], json!([]), "{none}");
    let (status, e) = other_admin.get("/reports/equity?service=homerton").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::FORBIDDEN, Some("report_not_permitted")), "{e}");

    // ---- Equity: counts below 5 suppressed, 5 shown, and secondary suppression.
    let (status, eq) = admin.get("/reports/equity?service=homerton").await;
    assert_eq!(status, StatusCode::OK, "{eq}");
    assert_eq!(eq["overall"]["referrals"], 12);
    assert_eq!(eq["overall"]["rejected"], 3);
    assert_eq!(eq["overall"]["answered"], 8);
    assert_eq!(eq["overall"]["median_working_days"], 0.0, "all answered the day they arrived");
    let young = group(&eq, "age_band", "30-44");
    assert_eq!(young["referrals"], json!({"count": 5, "suppressed": false}), "5 is shown");
    let middle = group(&eq, "age_band", "45-64");
    assert_eq!(middle["referrals"], json!({"count": null, "suppressed": true}), "4 is suppressed");
    let old = group(&eq, "age_band", "65-74");
    assert_eq!(old["referrals"], json!({"count": null, "suppressed": true}), "3 is suppressed");
    assert_eq!(group(&eq, "age_band", "0-17")["referrals"], json!({"count": 0, "suppressed": false}), "a zero reveals no one");
    // Four men are suppressed; the eight women then are too, or 12 - 8 would give the four away.
    assert_eq!(group(&eq, "sex", "male")["referrals"], json!({"count": null, "suppressed": true}));
    assert_eq!(group(&eq, "sex", "female")["referrals"], json!({"count": null, "suppressed": true}), "secondary suppression");
    // No tone band or ethnic category recorded: everyone is in `not_recorded`, shown.
    assert_eq!(group(&eq, "ethnic_category", "not_recorded")["referrals"], json!({"count": 12, "suppressed": false}));
    // The five in their thirties: 4 answered (3 advice, 1 face-to-face) and 1 rejected = 5
    // answers; rejection 1 of 5 beside 2 of 3 for the rest: a comparison with its interval.
    assert_eq!(young["answered"], json!({"count": 5, "suppressed": false}));
    assert_eq!(young["median_working_days"], 0.0, "five answers: their working days are shown");
    assert!(middle["median_working_days"].is_null(), "two answers: not shown");
    assert_eq!(young["rejected"], json!({"count": null, "suppressed": true}));
    assert!(young["rejection"].is_null(), "no rate on a suppressed count: {young}");
    // None of the five was returned for information, beside 1 of the other 7: too few to tell.
    let info = &young["information_request"];
    assert_eq!(info["rate"], 0.0, "{young}");
    assert!((info["rest_rate"].as_f64().unwrap() - 1.0 / 7.0).abs() < 1e-9);
    assert!(info["ci_low"].as_f64().unwrap() < 0.0 && info["ci_high"].as_f64().unwrap() > -0.15);
    assert_eq!(info["significant"], false);
    let tone = group(&eq, "skin_tone_band", "not_recorded");
    let cmp = &tone["rejection"];
    assert!(cmp.is_null(), "a group that is the whole service has no rest to compare with: {tone}");
    assert!(eq["method"].as_str().unwrap().contains("confidence interval"));
    // Cells that must be equal are hidden together; no group's answers leave one outcome to subtract.
    for d in eq["dimensions"].as_array().unwrap() {
        for g in d["groups"].as_array().unwrap() {
            assert_eq!(g["rejected"]["suppressed"], g["outcomes"]["rejected"]["suppressed"], "{g}");
            let hidden = std::iter::once(&g["answered"]).chain(g["outcomes"].as_object().unwrap().values()).filter(|c| c["suppressed"] == true).count();
            assert_ne!(hidden, 1, "{g}");
        }
    }

    // CSV by Accept: the same figures, suppressed cells as `*`.
    let (status, ty, text) = csv(&admin, "/reports/equity?service=homerton").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ty.starts_with("text/csv"), "{ty}");
    assert!(text.lines().any(|l| l.starts_with("age_band,30-44,5,5,")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("age_band,45-64,*,")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("sex,female,*,")), "{text}");

    // ---- The service dashboard.
    let (status, d) = admin.get("/reports/service?service=homerton").await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["referrals"], 12);
    assert_eq!(d["answered"], 8);
    assert_eq!(d["within_target"], 8);
    assert_eq!(d["within_target_percent"], 100.0);
    assert_eq!(d["breaches"], 0);
    assert_eq!(d["turnaround"][0], json!({"working_days": 0, "or_more": false, "referrals": 8}));
    let weeks = d["weeks"].as_array().unwrap();
    assert_eq!(weeks.iter().map(|w| w["referrals"].as_u64().unwrap()).sum::<u64>(), 12);
    let outcome_total: u64 = weeks.iter().flat_map(|w| w["outcomes"].as_object().unwrap().values()).map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(outcome_total, 8);
    let (_, ty, text) = csv(&admin, "/reports/service?service=homerton").await;
    assert!(ty.starts_with("text/csv"));
    assert!(text.starts_with("week_start,referrals,answered,within_target,within_target_percent,breaches,"), "{text}");

    // Wrong input is named.
    let (status, e) = admin.get("/reports/service?service=homerton&from=2026-13-01").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_query")), "{e}");
    let (status, e) = admin.get("/reports/service?service=homerton&from=2026-06-01&to=2026-05-01").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_period")), "{e}");
    let (status, e) = admin.get("/reports/equity?service=homerton&from=2020-01-01&to=2026-01-01").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_period")), "more than three years: {e}");
    let (status, e) = admin.get("/reports/practice-quality?practice=Y99999").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")), "{e}");
    let (status, e) = admin.get("/reports/service?service=nowhere").await;
    assert_eq!((status, e["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_service")), "{e}");

    // ---- The pages: charts as SVG with a table of the same figures, and CSV downloads.
    let page = |api: &Api, path: &str| {
        let url = format!("{}{path}", server.base);
        let client = api.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = page(&admin, "/reports/service?service=homerton").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<svg aria-hidden=\"true\"").count(), 4, "four charts");
    assert!(html.contains("data-table=\"weeks\"") && html.contains("chart=turnaround"));
    let (status, html) = page(&gp1, "/reports/practice-quality").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Practice Y11111") && !html.contains("Practice Y22222"), "a GP's page shows their practice only");
    let (status, _) = page(&gp1, "/reports/equity?service=homerton").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, html) = page(&admin, "/reports/equity?service=homerton").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("[c]") && html.contains("confidence interval"));
    let r = admin.client.get(format!("{}/reports/service.csv?service=homerton&chart=turnaround", server.base)).send().await.unwrap();
    assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    assert!(text.starts_with("working_days,referrals\r\n0,8\r\n"), "{text}");

    // ---- The CLI: the same report, the same access rules.
    let (ok, out, err) = server.cli(&["report", "practice-quality", "--as", "gp2@reports.test", "--format", "json"], &[]);
    assert!(ok, "{err}");
    let cli: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cli["practices"][0]["referrals"], 4);
    let (ok, _, err) = server.cli(&["report", "equity", "--as", "gp2@reports.test", "--service", "homerton"], &[]);
    assert!(!ok && err.contains("report_not_permitted"), "{err}");
    let admin_email = server.demo_credentials()["service_admin"].0.clone();
    let (ok, out, err) = server.cli(&["report", "service", "--as", &admin_email, "--service", "homerton", "--format", "csv"], &[]);
    assert!(ok, "{err}");
    assert!(out.starts_with("week_start,"), "{out}");

    // Rebuilding every referral's facts from the stored referrals (as after a bulk load, or on
    // the first start after the migration) gives the same figures the writes kept.
    let (ok, _, err) = server.cli(&["report", "rebuild-facts"], &[]);
    assert!(ok && err.contains("rewrote the report facts of"), "{err}");
    let (_, again) = gp1.get("/reports/practice-quality").await;
    assert_eq!(again, gp1_report);
}

/// The figure a dashboard card or status row shows (`data-count="due-today"`, `data-status-count="Submitted"`).
fn figure(html: &str, attribute: &str) -> String {
    let at = html.find(attribute).unwrap_or_else(|| panic!("no {attribute} on the dashboard:\n{html}"));
    let rest = &html[at + attribute.len()..];
    let start = rest.find('>').unwrap() + 1;
    rest[start..start + rest[start..].find('<').unwrap()].trim().to_string()
}

/// The admin dashboard's figures come from every referral of the admin's services (aggregated in
/// the database, not read from one page of the list): they agree with the referral list's own
/// status, due and overdue flags, and with the outcomes the demo recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_dashboard_agrees_with_the_referral_list() {
    let server = Server::demo().await;
    let admin = server.sign_in_as("service_admin").await;
    let (status, list) = admin.get("/referrals?limit=1000").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["referrals"].as_array().unwrap();
    let count = |pred: &dyn Fn(&Value) -> bool| items.iter().filter(|r| pred(r)).count().to_string();
    let waiting = |r: &Value| r["status"] == "submitted" || r["status"] == "in_review";

    let resp = admin.client.get(format!("{}/admin", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert_eq!(figure(&html, "data-count=\"due-today\""), count(&|r| waiting(r) && r["due_today"] == true));
    assert_eq!(figure(&html, "data-count=\"overdue\""), count(&|r| waiting(r) && r["overdue"] == true));
    let statuses = [("submitted", "Submitted"), ("in_review", "In review"), ("awaiting_information", "Information requested"), ("outcome_issued", "Answered"), ("rejected", "Rejected")];
    for (status, label) in statuses {
        assert_eq!(figure(&html, &format!("data-status-count=\"{label}\"")), count(&|r| r["status"] == status), "{label}");
    }
    // The demo answered two referrals: advice, and a rejection for poor photographs.
    assert!(html.contains("<td class=\"nhsuk-table__cell\">Advice and management plan</td><td class=\"nhsuk-table__cell nhsuk-table__cell--numeric\">1</td>"), "{html}");
    assert!(html.contains("<td class=\"nhsuk-table__cell\">The photographs were not good enough to assess</td><td class=\"nhsuk-table__cell nhsuk-table__cell--numeric\">1</td>"), "{html}");
    let median = figure(&html, "data-count=\"median\"");
    assert!(median.ends_with("working day") || median.ends_with("working days"), "{median}");
}
