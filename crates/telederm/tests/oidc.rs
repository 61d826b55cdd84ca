//! Single sign-on against a real OpenID Connect provider (node-oidc-provider, `e2e/oidc`) on
//! loopback: the whole journey over HTTP, as a browser makes it (sign-in button, the provider's
//! login and consent pages, the callback, a working session), and the ways it must refuse.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port};
use reqwest::{Client, StatusCode, Url, header};

const CLIENT_ID: &str = "telederm-test";
const CLIENT_SECRET: &str = "a-long-random-client-secret-for-tests";

struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

async fn start_provider(port: u16, redirect_uri: &str, accounts: &str) -> Provider {
    let script = workspace_root().join("scripts/test-services.sh");
    let out = Command::new("bash").arg(&script).arg("oidc").stderr(Stdio::inherit()).output().expect("test-services.sh oidc");
    assert!(out.status.success(), "scripts/test-services.sh oidc failed");
    let dir = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().trim().to_string();
    let child = Command::new("node")
        .arg(format!("{dir}/provider.mjs"))
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_REDIRECT_URI", redirect_uri)
        .env("OIDC_CLIENT_ID", CLIENT_ID)
        .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
        .env("OIDC_ACCOUNTS", accounts)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node provider.mjs");
    let provider = Provider { child, issuer: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("{}/.well-known/openid-configuration", provider.issuer);
    while Instant::now() < deadline {
        if Client::new().get(&url).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return provider;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the OpenID Connect provider did not start on port {port}");
}

fn browser() -> Client {
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Follows redirects like a browser; returns the last URL and its (non-redirect) response.
async fn follow(client: &Client, mut url: Url, mut resp: reqwest::Response) -> (Url, reqwest::Response) {
    for _ in 0..20 {
        if !resp.status().is_redirection() {
            return (url, resp);
        }
        let location = resp.headers()[header::LOCATION].to_str().unwrap().to_string();
        url = url.join(&location).unwrap();
        resp = client.get(url.clone()).send().await.unwrap();
    }
    panic!("too many redirects, at {url}");
}

/// The first form of a page: its absolute action URL and its hidden inputs.
fn form_of(page_url: &Url, html: &str) -> (Url, Vec<(String, String)>) {
    let form = &html[html.find("<form").unwrap_or_else(|| panic!("a form on {page_url}: {html}"))..];
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|i| tag[i + key.len()..].split('"').next().unwrap_or_default().replace("&amp;", "&"))
    };
    let action = attr(&form[..form.find('>').unwrap()], "action").unwrap_or_default();
    let body = &form[..form.find("</form>").unwrap_or(form.len())];
    let hidden = body
        .split("<input")
        .skip(1)
        .map(|t| &t[..t.find('>').unwrap_or(t.len())])
        .filter(|t| t.contains("type=\"hidden\""))
        .filter_map(|t| Some((attr(t, "name")?, attr(t, "value").unwrap_or_default())))
        .collect();
    (page_url.join(&action).unwrap(), hidden)
}

/// Signs in at the provider as `login` starting from Telederm's sign-in button, and returns where
/// the browser ends up (and the callback URL it passed through).
async fn journey(server: &Server, provider: &Provider, client: &Client, login: &str) -> (Url, reqwest::Response, Url) {
    let sign_in = client.get(format!("{}/sign-in?next=%2Fworklist", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(sign_in.contains("href=\"/auth/oidc/start?next=%2Fworklist\""), "the sign-in page offers single sign-on: {sign_in}");
    let start = Url::parse(&format!("{}/auth/oidc/start?next=%2Fworklist", server.base)).unwrap();
    let resp = client.get(start.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(to.starts_with(&format!("{}/auth?", provider.issuer)), "{to}");
    for needed in ["code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "response_type=code", "scope=openid"] {
        assert!(to.contains(needed), "{needed} in {to}");
    }
    // The provider's login page.
    let (url, page) = follow(client, start, resp).await;
    assert_eq!(page.status(), StatusCode::OK, "{url}");
    let html = page.text().await.unwrap();
    let (action, mut fields) = form_of(&url, &html);
    fields.push(("login".into(), login.into()));
    fields.push(("password".into(), "anything".into()));
    let resp = client.post(action.clone()).form(&fields).send().await.unwrap();
    // The consent page, unless the provider skips it.
    let (mut url, mut resp) = follow(client, action, resp).await;
    if url.as_str().starts_with(&provider.issuer) && resp.status() == StatusCode::OK {
        let html = resp.text().await.unwrap();
        let (action, fields) = form_of(&url, &html);
        let r = client.post(action.clone()).form(&fields).send().await.unwrap();
        (url, resp) = (action, r);
    }
    // Through the provider's redirects to Telederm's callback, and on.
    let mut callback = None;
    for _ in 0..20 {
        if !resp.status().is_redirection() {
            break;
        }
        let location = resp.headers()[header::LOCATION].to_str().unwrap().to_string();
        url = url.join(&location).unwrap();
        if url.path() == "/auth/oidc/callback" {
            callback = Some(url.clone());
        }
        resp = client.get(url.clone()).send().await.unwrap();
    }
    (url, resp, callback.expect("the provider sent the browser back to the callback"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_journey_against_a_real_provider() {
    let (telederm_port, provider_port) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{telederm_port}");
    let accounts = r#"{
        "gp@demo.telederm.nhs.uk": {"telederm_role": "consultant"},
        "mallory": {"email": "consultant@demo.telederm.nhs.uk"},
        "service-admin@demo.telederm.nhs.uk": {"nhsid_nrbac_roles": [{"org_code": "Y00001", "role_code": "S0030"}]},
        "nurse@demo.telederm.nhs.uk": {"telederm_profession": "nurse"},
        "locum@demo.telederm.nhs.uk": {"telederm_profession": "surgeon"}
    }"#;
    let provider = start_provider(provider_port, &format!("{public}/auth/oidc/callback"), accounts).await;
    let env = [
        ("TELEDERM_OIDC_ISSUER", provider.issuer.as_str()),
        ("TELEDERM_OIDC_CLIENT_ID", CLIENT_ID),
        ("TELEDERM_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("TELEDERM_PUBLIC_URL", public.as_str()),
    ];
    let server = Server::demo_with(&env, Some(telederm_port)).await;

    // The whole journey: button, provider login and consent, callback, a working session.
    let client = browser();
    let (url, resp, callback) = journey(&server, &provider, &client, "consultant@demo.telederm.nhs.uk").await;
    assert_eq!(resp.status(), StatusCode::OK, "ended at {url}");
    assert_eq!(url.path(), "/worklist", "back where the person was going");
    let me: serde_json::Value = client.get(format!("{}/api/v1/me", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["email"], "consultant@demo.telederm.nhs.uk");
    assert_eq!(me["role"], "consultant");
    // The callback cannot be replayed (state and code are single use).
    let replay = client.get(callback.clone()).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    // Nor used from another browser (no state cookie there).
    assert_eq!(browser().get(callback).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    // The first sign-in linked that identity (issuer, subject) to the account: another identity at
    // the provider that claims the same email cannot take the account over.
    let (_, resp, _) = journey(&server, &provider, &browser(), "mallory").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("already linked to another identity"));
    let (url, resp, _) = journey(&server, &provider, &browser(), "consultant@demo.telederm.nhs.uk").await;
    assert_eq!(resp.status(), StatusCode::OK, "the linked identity still signs in ({url})");
    // A made-up callback is refused.
    let forged = browser().get(format!("{}/auth/oidc/callback?code=abc&state=def", server.base)).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);

    // Someone the provider knows but Telederm does not is refused with a clear page.
    let (_, resp, _) = journey(&server, &provider, &browser(), "stranger@example.org").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = resp.text().await.unwrap();
    assert!(page.contains("no Telederm account for that email address"), "{page}");

    // A role claim that disagrees with the account is refused.
    let (_, resp, _) = journey(&server, &provider, &browser(), "gp@demo.telederm.nhs.uk").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("role"));

    // CIS2-style organisation claims must include the account's organisation (here they name the
    // practice, but the service admin works for the provider).
    let (_, resp, _) = journey(&server, &provider, &browser(), "service-admin@demo.telederm.nhs.uk").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("RQX"));

    // A profession claim sets a referrer's profession (recorded as a GP by the administrator, the
    // provider says nurse), and a profession Telederm does not know is refused with the ones it does.
    for (email, profession) in [("nurse@demo.telederm.nhs.uk", "gp"), ("locum@demo.telederm.nhs.uk", "gp")] {
        let (ok, out, err) = server.cli(
            &["user", "add", "--email", email, "--name", "Sam Referrer", "--role", "referrer", "--organisation", "Y00001", "--profession", profession, "--password-env", "PW"],
            &[("PW", "amber kestrel meadow")],
        );
        assert!(ok, "{out}{err}");
    }
    let client = browser();
    let (url, resp, _) = journey(&server, &provider, &client, "nurse@demo.telederm.nhs.uk").await;
    assert_eq!((resp.status(), url.path()), (StatusCode::FORBIDDEN, "/worklist"), "signed in, and a referrer has no worklist");
    let me: serde_json::Value = client.get(format!("{}/api/v1/me", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["profession"], "nurse", "{me}");
    let (_, resp, _) = journey(&server, &provider, &browser(), "locum@demo.telederm.nhs.uk").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = resp.text().await.unwrap();
    assert!(page.contains("surgeon") && page.contains("physician_associate"), "{page}");

    // Without SSO configured the routes do not exist.
    let plain = Server::demo().await;
    assert_eq!(browser().get(format!("{}/auth/oidc/start", plain.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let page = browser().get(format!("{}/sign-in", plain.base)).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("/auth/oidc/start"));
}
