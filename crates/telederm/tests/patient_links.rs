//! Patient upload links under attack: wrong dates of birth and the lockout after five, expired and
//! revoked links, guessed tokens, a link's cookie used on another link, the patient reaching for
//! clinical content or the API, and what the database keeps of a token.

mod common;

use common::{Server, photo};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};

fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

struct Practice {
    token: String,
    csrf: String,
}

async fn gp(server: &Server) -> Practice {
    let (email, password) = server.demo_credentials()["referrer"].clone();
    let r = client().post(format!("{}/api/v1/auth/sign-in", server.base)).json(&json!({"email": email, "password": password})).send().await.unwrap();
    let token = r.headers()[header::SET_COOKIE].to_str().unwrap().trim_start_matches("telederm_session=").split(';').next().unwrap().to_string();
    let csrf = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("telederm-csrf\0{token}").as_bytes()));
    Practice { token, csrf }
}

impl Practice {
    fn cookie(&self) -> String {
        format!("telederm_session={}", self.token)
    }

    async fn draft(&self, server: &Server, family: &str) -> String {
        let body = json!({"service_id": "clinical-partnership", "route": "advice_and_guidance", "patient": {
            "nhs_number": "943 476 5919", "given_name": "Grace", "family_name": family, "date_of_birth": "1984-02-29",
            "sex": "female", "postcode": "E8 1DY"}});
        let r = client().post(format!("{}/api/v1/referrals", server.base)).header(header::COOKIE, self.cookie()).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
    }

    /// Sends a patient link for the referral; returns its token.
    async fn link(&self, server: &Server, referral: &str) -> String {
        let r = client()
            .post(format!("{}/referrals/{referral}/patient-links", server.base))
            .header(header::COOKIE, self.cookie())
            .form(&[("_csrf", self.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
        let encoded = location.split("link=").nth(1).unwrap().split('#').next().unwrap();
        let path: String = form_urlencoded::parse(format!("p={encoded}").as_bytes()).next().unwrap().1.into_owned();
        path.trim_start_matches("/p/").to_string()
    }

    async fn revoke_all(&self, server: &Server, referral: &str) {
        let page = client().get(format!("{}/referrals/{referral}", server.base)).header(header::COOKIE, self.cookie()).send().await.unwrap().text().await.unwrap();
        let marker = format!("/referrals/{referral}/patient-links/");
        for chunk in page.split(&marker).skip(1) {
            let link_id = chunk.split('/').next().unwrap();
            let r = client()
                .post(format!("{}{marker}{link_id}/revoke", server.base))
                .header(header::COOKIE, self.cookie())
                .form(&[("_csrf", self.csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
        }
    }
}

async fn verify(server: &Server, token: &str, dob: (&str, &str, &str)) -> reqwest::Response {
    client()
        .post(format!("{}/p/{token}", server.base))
        .form(&[("dob_day", dob.0), ("dob_month", dob.1), ("dob_year", dob.2)])
        .send()
        .await
        .unwrap()
}

fn patient_cookie(resp: &reqwest::Response) -> String {
    resp.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patient_links_refuse_every_way_in_but_the_right_one() {
    let server = Server::demo().await;
    let practice = gp(&server).await;
    let a = practice.draft(&server, "Hopper").await;
    let b = practice.draft(&server, "Turing").await;

    // At least 128 bits: 64 hex digits (256 bits); the database keeps only its hash.
    let token = practice.link(&server, &a).await;
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|c| c.is_ascii_hexdigit()));
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", server.data_dir.join("telederm.db").display())).await.unwrap();
    let stored: Vec<(String,)> = sqlx::query_as("SELECT token_hash FROM patient_links").fetch_all(&db).await.unwrap();
    assert!(stored.iter().all(|(h,)| h != &token && !h.contains(&token)), "the token itself is never stored");

    // The landing page asks for the date of birth and shows nothing clinical.
    let landing = client().get(format!("{}/p/{token}", server.base)).send().await.unwrap();
    assert_eq!(landing.status(), StatusCode::OK);
    let html = landing.text().await.unwrap();
    for secret in ["Hopper", "Grace", "943 476 5919", "9434765919", "clinical-partnership", &a] {
        assert!(!html.contains(secret), "the link page shows {secret:?}");
    }

    // Wrong dates of birth: four say how many tries are left, the fifth locks the link, and then
    // even the right date does not open it.
    for left in (1..=4).rev() {
        let r = verify(&server, &token, ("1", "3", "1984")).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.text().await.unwrap().contains(&format!("{left} tries left")));
    }
    let r = verify(&server, &token, ("1", "3", "1984")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("locked"));
    assert_eq!(verify(&server, &token, ("29", "2", "1984")).await.status(), StatusCode::NOT_FOUND);

    // A new link, the right date: the patient gets a cookie scoped to that link and the upload page.
    let token = practice.link(&server, &a).await;
    let ok = verify(&server, &token, ("29", "2", "1984")).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let set_cookie = ok.headers()[header::SET_COOKIE].to_str().unwrap().to_string();
    assert!(set_cookie.contains(&format!("Path=/p/{token}")) && set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = patient_cookie(&ok);
    let page = client().get(format!("{}/p/{token}", server.base)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("/p/{token}/photos")));
    assert!(!html.contains("Hopper") && !html.contains("943 476 5919"));

    // The patient's cookie opens nothing else: not another referral's link, not the API, not pages.
    let other = practice.link(&server, &b).await;
    let r = client().get(format!("{}/p/{other}", server.base)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!r.text().await.unwrap().contains(&format!("/p/{other}/photos")), "another link still asks for the date of birth");
    let csrf = html.split("name=\"_csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    // A refused upload is answered before its body is read, so those send a small body: a large
    // one could meet a closed connection before the client reads the answer.
    let upload_bytes = |to: String, cookie: String, csrf: String, bytes: Vec<u8>| async move {
        let form = reqwest::multipart::Form::new()
            .text("_csrf", csrf)
            .text("kind", "close_up")
            .part("file", reqwest::multipart::Part::bytes(bytes).file_name("me.jpg"));
        client().post(to).header(header::COOKIE, cookie).multipart(form).send().await.unwrap()
    };
    let upload = |to: String, cookie: String, csrf: String| upload_bytes(to, cookie, csrf, photo(3, 0.0));
    let refused = |to: String, cookie: String, csrf: String| upload_bytes(to, cookie, csrf, b"not read".to_vec());
    let r = refused(format!("{}/p/{other}/photos", server.base), cookie.clone(), csrf.clone()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sent back to verify");
    assert!(r.headers()[header::LOCATION].to_str().unwrap().ends_with(&format!("/p/{other}")));
    let photos_of_b = client().get(format!("{}/api/v1/referrals/{b}/photos", server.base)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(photos_of_b.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(client().get(format!("{}/referrals/{a}", server.base)).header(header::COOKIE, &cookie).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    // An upload without the page's form token is refused; with it, accepted.
    let r = refused(format!("{}/p/{token}/photos", server.base), cookie.clone(), "forged".into()).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = upload(format!("{}/p/{token}/photos", server.base), cookie.clone(), csrf.clone()).await;
    // A sharp photo: accepted, and the patient is shown its check.
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_string();
    let photo_id = location
        .strip_prefix(&format!("/p/{token}?photo="))
        .and_then(|l| l.strip_suffix("#photo-check"))
        .unwrap_or_else(|| panic!("back to the link page with the photo's check: {location}"));
    let (on,): (String,) = sqlx::query_as("SELECT referral_id FROM photos WHERE id = ?1").bind(photo_id).fetch_one(&db).await.unwrap();
    assert_eq!(on, a, "the photo was added to the link's referral");

    // Revoked: the patient's page is gone at once.
    practice.revoke_all(&server, &a).await;
    let r = client().get(format!("{}/p/{token}", server.base)).header(header::COOKIE, &cookie).send().await.unwrap();
    // The patient already verified: they get the status view (200), with no upload form.
    assert_eq!(r.status(), StatusCode::OK, "a verified patient sees the link's status view");
    let html = r.text().await.unwrap();
    assert!(!html.contains(&format!("/p/{token}/photos")) && !html.contains("type=\"file\""), "a revoked link takes no photos: {html}");
    assert_eq!(verify(&server, &token, ("29", "2", "1984")).await.status(), StatusCode::NOT_FOUND);

    // Expired: age the link as seven days would.
    let expired = practice.link(&server, &b).await;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(expired.as_bytes()));
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE patient_links SET expires_at = ?1 WHERE token_hash = ?2").bind(&past).bind(&hash).execute(&db).await.unwrap();
    assert_eq!(client().get(format!("{}/p/{expired}", server.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(verify(&server, &expired, ("29", "2", "1984")).await.status(), StatusCode::NOT_FOUND);

    // Guessed and malformed tokens all get the same page, which says nothing about why.
    let guessed = client().get(format!("{}/p/{}", server.base, "a".repeat(64))).send().await.unwrap();
    assert_eq!(guessed.status(), StatusCode::NOT_FOUND);
    let guessed = guessed.text().await.unwrap();
    for bad in ["short", "..%2F..%2Fetc%2Fpasswd", &"Z".repeat(64)] {
        let r = client().get(format!("{}/p/{bad}", server.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
        assert_eq!(r.text().await.unwrap(), guessed);
    }
    let expired_page = client().get(format!("{}/p/{expired}", server.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(expired_page, guessed, "an expired link looks like one that never existed");
}
