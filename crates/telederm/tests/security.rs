//! Trying to get in: sign-in lockout and rate limits, session fixation, idle and absolute expiry,
//! sign-out and password change, cross-site requests, security headers, body limits, password
//! rules, and HTTPS with a certificate made in the test. All against the real binary.

mod common;

use common::{Server, free_port};
use reqwest::{Client, StatusCode, header};
use serde_json::json;

const SESSION: &str = "telederm_session";

fn session_token(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{SESSION}=")))
        .map(|c| c[SESSION.len() + 1..].split(';').next().unwrap_or_default().to_string())
}

fn plain() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in_raw(server: &Server, client: &Client, email: &str, password: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut req = client.post(format!("{}/api/v1/auth/sign-in", server.base)).json(&json!({"email": email, "password": password}));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("{SESSION}={c}"));
    }
    req.send().await.unwrap()
}

async fn me(server: &Server, token: &str) -> StatusCode {
    plain().get(format!("{}/api/v1/me", server.base)).header(header::COOKIE, format!("{SESSION}={token}")).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_per_account_and_rate_limit_per_address_with_stable_codes() {
    let server = Server::demo().await;
    let creds = server.demo_credentials();
    let (gp_email, gp_password) = creds["referrer"].clone();
    let client = plain();

    // Unknown account and wrong password look exactly the same.
    let unknown = sign_in_raw(&server, &client, "nobody@example.nhs.uk", "whatever-it-is-123", None).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown: serde_json::Value = unknown.json().await.unwrap();
    let wrong = sign_in_raw(&server, &client, &gp_email, "not-the-password-1", None).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(unknown, wrong, "the answer does not reveal whether the account exists");
    assert_eq!(wrong["code"], "invalid_credentials");

    // Four more wrong passwords (five in all) lock the account...
    for _ in 0..4 {
        assert_eq!(sign_in_raw(&server, &client, &gp_email, "not-the-password-1", None).await.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = sign_in_raw(&server, &client, &gp_email, &gp_password, None).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    let retry: i64 = locked.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
    let body: serde_json::Value = locked.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    assert_eq!(body["details"]["retry_after_seconds"], retry);
    // The lock is the account's: another account signs in from the same address.
    let (derm_email, derm_password) = creds["consultant"].clone();
    assert_eq!(sign_in_raw(&server, &client, &derm_email, &derm_password, None).await.status(), StatusCode::OK);
    // A locked unknown account is locked the same way (no way to tell accounts apart).
    for _ in 0..5 {
        sign_in_raw(&server, &client, "ghost@example.nhs.uk", "whatever-it-is-123", None).await;
    }
    assert_eq!(sign_in_raw(&server, &client, "ghost@example.nhs.uk", "x", None).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // The sign-in page shows the same lockout (429, with the message and Retry-After).
    let page = client
        .post(format!("{}/sign-in", server.base))
        .form(&[("email", gp_email.as_str()), ("password", gp_password.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers().contains_key(header::RETRY_AFTER));
    assert!(page.text().await.unwrap().contains("Too many sign-in attempts"));

    // Spraying many accounts from one address: after 20 failures the address is slowed and its
    // wrong passwords are answered 429, but a colleague's correct password still signs in.
    // (So far 11 failures were recorded from 127.0.0.1: 1 unknown, 5 for the GP, 5 for the ghost;
    // refused attempts are not counted.)
    let mut status = StatusCode::OK;
    for i in 0..12 {
        status = sign_in_raw(&server, &client, &format!("spray{i}@example.nhs.uk"), "Winter-is-coming-2025", None).await.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the spraying address is told to back off");
    let started = std::time::Instant::now();
    assert_eq!(sign_in_raw(&server, &client, &derm_email, &derm_password, None).await.status(), StatusCode::OK, "a colleague at the same address still signs in");
    assert!(started.elapsed() >= std::time::Duration::from_millis(1500), "attempts from a spraying address are slowed");
}

/// GP practices sit behind one NAT address: one person's typos lock only their own account at
/// that address, never their colleagues, and never the same account from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_typos_do_not_lock_out_a_shared_address() {
    let server = Server::demo_with(&[("TELEDERM_TRUST_PROXY", "true")], None).await;
    let creds = server.demo_credentials();
    let (gp_email, gp_password) = creds["referrer"].clone();
    let (derm_email, derm_password) = creds["consultant"].clone();
    let client = plain();
    let from = |addr: &'static str, email: &str, password: &str| {
        client
            .post(format!("{}/api/v1/auth/sign-in", server.base))
            .header("x-forwarded-for", addr)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(from("198.51.100.7", &gp_email, "not-the-password-1").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(from("198.51.100.7", &gp_email, &gp_password).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "the account is held at that address");
    assert_eq!(from("198.51.100.7", &derm_email, &derm_password).await.unwrap().status(), StatusCode::OK, "a colleague at the same address");
    assert_eq!(from("203.0.113.9", &gp_email, &gp_password).await.unwrap().status(), StatusCode::OK, "the same account from another address");
    // A script guessing 20 different accounts from the practice's address: slowed, not a lockout.
    for i in 0..20 {
        let s = from("198.51.100.20", &format!("user{i}@example.nhs.uk"), "Winter-is-coming-2025").await.unwrap().status();
        assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::TOO_MANY_REQUESTS, "{s}");
    }
    assert_eq!(from("198.51.100.20", "user99@example.nhs.uk", "Winter-is-coming-2025").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(from("198.51.100.20", &derm_email, &derm_password).await.unwrap().status(), StatusCode::OK, "correct passwords still sign in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_rotate_at_sign_in_expire_and_end_at_sign_out_and_password_change() {
    let server = Server::demo().await;
    let creds = server.demo_credentials();
    let (gp_email, gp_password) = creds["referrer"].clone();
    let (derm_email, derm_password) = creds["consultant"].clone();
    let client = plain();

    // Fixation: an attacker's own live session token, planted in a victim's browser, is ended when
    // the victim signs in; the victim gets a new token.
    let attacker = session_token(&sign_in_raw(&server, &client, &gp_email, &gp_password, None).await).expect("cookie");
    assert_eq!(me(&server, &attacker).await, StatusCode::OK);
    let victim_resp = sign_in_raw(&server, &client, &derm_email, &derm_password, Some(&attacker)).await;
    assert_eq!(victim_resp.status(), StatusCode::OK);
    let cookie = victim_resp.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"), "{cookie}");
    let victim = session_token(&victim_resp).unwrap();
    assert_ne!(victim, attacker);
    assert_eq!(me(&server, &attacker).await, StatusCode::UNAUTHORIZED, "the planted token is dead");
    assert_eq!(me(&server, &victim).await, StatusCode::OK);
    // A made-up token is nobody.
    assert_eq!(me(&server, &"ab".repeat(32)).await, StatusCode::UNAUTHORIZED);

    // Idle and absolute expiry: age the sessions in the database, as time would.
    let t_idle = session_token(&sign_in_raw(&server, &client, &gp_email, &gp_password, None).await).unwrap();
    let t_old = session_token(&sign_in_raw(&server, &client, &gp_email, &gp_password, None).await).unwrap();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let hash = |t: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes()));
    let thirty_one_minutes_ago = (chrono::Utc::now() - chrono::Duration::minutes(31)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE sessions SET last_seen_at = ?1 WHERE token_hash = ?2").bind(&thirty_one_minutes_ago).bind(hash(&t_idle)).execute(&db).await.unwrap();
    let an_hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE sessions SET expires_at = ?1 WHERE token_hash = ?2").bind(&an_hour_ago).bind(hash(&t_old)).execute(&db).await.unwrap();
    assert_eq!(me(&server, &t_idle).await, StatusCode::UNAUTHORIZED, "idle for 31 minutes");
    assert_eq!(me(&server, &t_old).await, StatusCode::UNAUTHORIZED, "past its absolute expiry");
    let pages = plain().get(format!("{}/referrals", server.base)).header(header::COOKIE, format!("{SESSION}={t_idle}")).send().await.unwrap();
    assert_eq!(pages.status(), StatusCode::SEE_OTHER, "pages send an expired session to sign in");

    // Sign-out ends the session server-side (a copied cookie does not outlive it).
    let t = session_token(&sign_in_raw(&server, &client, &gp_email, &gp_password, None).await).unwrap();
    let out = client.post(format!("{}/api/v1/auth/sign-out", server.base)).header(header::COOKIE, format!("{SESSION}={t}")).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert_eq!(out.headers()["clear-site-data"], "\"storage\"", "the browser drops drafts kept in its storage");
    assert_eq!(me(&server, &t).await, StatusCode::UNAUTHORIZED);

    // Password change: rules apply; every session of the user ends; this client gets a new one.
    let a = session_token(&sign_in_raw(&server, &client, &gp_email, &gp_password, None).await).unwrap();
    let b = session_token(&sign_in_raw(&server, &client, &gp_email, &gp_password, None).await).unwrap();
    let change = |token: String, current: String, new: &'static str| {
        let client = client.clone();
        let url = format!("{}/api/v1/auth/change-password", server.base);
        async move {
            client
                .post(url)
                .header(header::COOKIE, format!("{SESSION}={token}"))
                .json(&json!({"current_password": current, "new_password": new}))
                .send()
                .await
                .unwrap()
        }
    };
    let weak = change(a.clone(), gp_password.clone(), "Password2024!").await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.json::<serde_json::Value>().await.unwrap()["code"], "password_too_common");
    let short = change(a.clone(), gp_password.clone(), "short").await;
    assert_eq!(short.json::<serde_json::Value>().await.unwrap()["code"], "password_too_short");
    let wrong_current = change(a.clone(), "not-my-password".into(), "cobalt lantern orchard").await;
    assert_eq!(wrong_current.status(), StatusCode::UNAUTHORIZED);
    let ok = change(a.clone(), gp_password.clone(), "cobalt lantern orchard").await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    let fresh = session_token(&ok).expect("a fresh session for this client");
    assert_eq!(me(&server, &a).await, StatusCode::UNAUTHORIZED, "the session used to change it ends");
    assert_eq!(me(&server, &b).await, StatusCode::UNAUTHORIZED, "every other session of the user ends");
    assert_eq!(me(&server, &fresh).await, StatusCode::OK);
    assert_eq!(me(&server, &victim).await, StatusCode::OK, "other users keep their sessions");
    assert_eq!(sign_in_raw(&server, &client, &gp_email, &gp_password, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in_raw(&server, &client, &gp_email, "cobalt lantern orchard", None).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_are_refused_and_forms_need_their_token() {
    let server = Server::demo().await;
    let (email, password) = server.demo_credentials()["referrer"].clone();
    let client = plain();
    let token = session_token(&sign_in_raw(&server, &client, &email, &password, None).await).unwrap();
    let cookie = format!("{SESSION}={token}");
    let draft = json!({"service_id": "nhs-advice-and-guidance", "route": "advice_and_guidance", "patient": {
        "nhs_number": "943 476 5919", "given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1980-05-17",
        "sex": "female", "postcode": "E8 1DY"}});
    let api = |extra: &[(&str, &str)]| {
        let mut req = client.post(format!("{}/api/v1/referrals", server.base)).header(header::COOKIE, &cookie).json(&draft);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        req.send()
    };
    for attack in [
        vec![("origin", "https://evil.example")],
        vec![("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")],
        vec![("sec-fetch-site", "same-site")],
        vec![("origin", "null")],
    ] {
        let r = api(&attack).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{attack:?}");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "csrf_refused");
    }
    // The same call from the site itself (as a browser sends it), and from a non-browser client.
    let origin = server.base.clone();
    for fine in [vec![("sec-fetch-site", "same-origin"), ("origin", origin.as_str())], vec![("sec-fetch-site", "none")], vec![]] {
        let r = api(&fine).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{fine:?}: {}", r.text().await.unwrap());
    }

    // A multipart photo upload (a "simple" request a hostile page could send) is refused too.
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(vec![0xff, 0xd8]).file_name("x.jpg"));
    let r = client
        .post(format!("{}/api/v1/referrals/00000000-0000-0000-0000-000000000000/photos", server.base))
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Pages: a cross-site form post is refused before it reaches the form's own token check...
    let r = client
        .post(format!("{}/referrals/new", server.base))
        .header(header::COOKIE, &cookie)
        .header("origin", "https://evil.example")
        .form(&[("service_id", "hackney-rash")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    // ...and a same-site post without the form's `_csrf` token is refused by the token check.
    let r = client.post(format!("{}/sign-out", server.base)).header(header::COOKIE, &cookie).form(&[("x", "y")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(me(&server, &token).await, StatusCode::OK, "still signed in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers_and_bodies_are_limited() {
    let server = Server::demo().await;
    let client = plain();
    for path in ["/sign-in", "/healthz", "/api/v1/me", "/api/v1/openapi.json", "/referrals", "/p/0000", "/nowhere"] {
        let r = client.get(format!("{}{path}", server.base)).send().await.unwrap();
        let h = r.headers();
        let csp = h.get(header::CONTENT_SECURITY_POLICY).unwrap_or_else(|| panic!("CSP on {path}")).to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY), "no HSTS over plain HTTP ({path})");
    }
    // No page has inline script or inline event handlers (the CSP would block them anyway).
    let html = client.get(format!("{}/sign-in", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("onclick=") && !html.contains("style=\""), "{html}");

    // A body larger than the limit is refused before it is read.
    let big = json!({"email": "x@example.org", "password": "y".repeat(3 * 1024 * 1024)});
    let r = client.post(format!("{}/api/v1/auth/sign-in", server.base)).json(&big).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // ...in the API's error shape (not axum's plain text), with the security headers.
    assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY), "{:?}", r.headers());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large", "{body}");
    // An address that does not exist, or a method an address does not take, is a JSON error too.
    // (A fresh client: the server closes a connection whose over-limit body it did not read.)
    let client = plain();
    let r = client.get(format!("{}/api/v1/no-such-thing", server.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "not_found");
    let r = client.delete(format!("{}/api/v1/services", server.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "method_not_allowed");
    let r = client
        .post(format!("{}/sign-in", server.base))
        .form(&[("email", "x@example.org"), ("password", &"y".repeat(3 * 1024 * 1024))])
        .send()
        .await
        .unwrap();
    assert!(r.status() == StatusCode::PAYLOAD_TOO_LARGE || r.status() == StatusCode::BAD_REQUEST, "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_applies_the_password_rules() {
    let server = Server::demo().await;
    let add = |password: &'static str, email: &'static str| {
        server.cli(
            &["user", "add", "--email", email, "--name", "Nia Jones", "--role", "referrer", "--organisation", "Y00001", "--password-env", "NEW_PW"],
            &[("NEW_PW", password)],
        )
    };
    let (ok, _, err) = add("password1234", "nia@example.nhs.uk");
    assert!(!ok && err.contains("password_too_common"), "{err}");
    let (ok, _, err) = add("tiny", "nia@example.nhs.uk");
    assert!(!ok && err.contains("password_too_short"), "{err}");
    let (ok, _, err) = add("nia.jones.is.great", "nia.jones@example.nhs.uk");
    assert!(!ok && err.contains("password_personal"), "{err}");
    let (ok, out, err) = add("velvet anchor sorrel", "nia@example.nhs.uk");
    assert!(ok, "{out}{err}");
    let api = server.sign_in("nia@example.nhs.uk", "velvet anchor sorrel").await;
    assert_eq!(api.get("/me").await.1["role"], "referrer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_certificate_files_sends_hsts_and_secure_cookies() {
    let tmp = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
        .arg("demo")
        .env("TELEDERM_DATA_DIR", &data)
        .env("TELEDERM_BIND", format!("127.0.0.1:{port}"))
        .env("TELEDERM_TLS_CERT", &cert_path)
        .env("TELEDERM_TLS_KEY", &key_path)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let mut healthy = None;
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            healthy = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = healthy.expect("telederm answers over HTTPS");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::STRICT_TRANSPORT_SECURITY].to_str().unwrap().starts_with("max-age="));
    // Plain HTTP on the same port is not served.
    let http = Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap();
    assert!(http.get(format!("http://127.0.0.1:{port}/healthz")).send().await.map(|r| r.status() != StatusCode::OK).unwrap_or(true));

    let creds = std::fs::read_to_string(data.join("demo-credentials.txt")).unwrap();
    let line: Vec<&str> = creds.lines().find(|l| l.contains("referrer")).unwrap().split_whitespace().collect();
    let r = client.post(format!("{base}/api/v1/auth/sign-in")).json(&json!({"email": line[1], "password": line[2]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let _ = child.kill();
    let _ = child.wait();

    // An unusable key is refused at start with a clear message.
    std::fs::write(&key_path, "not a key").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telederm"))
        .arg("serve")
        .env("TELEDERM_DATA_DIR", tmp.path().join("fresh"))
        .env("TELEDERM_BIND", format!("127.0.0.1:{}", free_port()))
        .env("TELEDERM_TLS_CERT", &cert_path)
        .env("TELEDERM_TLS_KEY", &key_path)
        .env("TELEDERM_BLOB_ENCRYPTION", "off")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS") && err.contains("key.pem"), "{err}");
}

/// After sign-in the browser goes only to a same-origin path: `/\t/evil.example` (which browsers
/// read as `//evil.example`) and its relatives go home instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_never_redirects_to_another_site() {
    let server = Server::demo().await;
    let creds = server.demo_credentials();
    let (email, password) = creds["referrer"].clone();
    for (next, expected) in [
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/referrals", "/referrals"),
    ] {
        let r = plain()
            .post(format!("{}/sign-in", server.base))
            .form(&[("email", email.as_str()), ("password", password.as_str()), ("next", next)])
            .send()
            .await
            .unwrap();
        assert!(r.status().is_redirection(), "{next:?}: {}", r.status());
        assert_eq!(r.headers()[header::LOCATION], expected, "{next:?}");
    }
}
