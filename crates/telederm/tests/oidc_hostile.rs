//! Single sign-on refuses hostile ID tokens. The test plays the OpenID Connect provider itself,
//! on loopback (discovery document, JWKS, authorize and token endpoints), so that it can hand the
//! real `telederm` server any ID token it likes at the end of an otherwise correct sign-in: the
//! browser journey is the real one (start, provider, callback, with `state`, nonce, PKCE and the
//! client secret all checked by this provider), only the ID token is hostile.
//!
//! For each token the test asserts the exact refusal (status and page), the reason the server
//! logged (so a token refused for another reason than the one under test counts as a failure),
//! that the token endpoint was reached (the refusal is the ID token check, not an earlier step),
//! and that the browser holds no session afterwards. A valid token, before and after the hostile
//! ones, proves the harness can sign someone in at all.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::{Json, Router};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{Server, free_port};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "telederm-hostile-test";
const CLIENT_SECRET: &str = "another-long-random-client-secret-for-tests";
const KID: &str = "provider-key-1";
const SUBJECT: &str = "248289761001";
/// A demo account an administrator created, so single sign-on may link it.
const EMAIL: &str = "consultant@demo.telederm.nhs.uk";

// Test-only RSA keys (2048 bits), generated with `openssl genpkey` for this file and used nowhere
// else: PKCS#1 RSAPrivateKey DER, base64. The provider publishes the first one's public half.
const PROVIDER_KEY: &[&str] = &[
    "MIIEowIBAAKCAQEAufD1cn4W7Z5EgDx8Fh0UOR+3FpJ5gwUy1/GwdPVcHbr0FdRt",
    "uImYncRYx0IjbCJ/Jy9SrcGNnv6SvvTfXV+xOfV/HMwZxv4TCRNtioRfKxBfS5hk",
    "ehn7Pldk8P//LAYEihy3yNwms32Ef298zuCvvvalutIDwZ1sj23SCMzP73h3ZMB0",
    "iCzfKN9Pu4zKh8Yze0/dgp/w/TNHk6hIQ9lI7pgBZm/hW6BSF1IBHeOmdK/Ix4eH",
    "w+StMYuqsWWic0JjreKSJ+EDIGqBnxlrxW4kAsa7bD1fRyeblwYL+3dbi/1IQTxZ",
    "zLvqohKKMKFiRo9dvFIVHs8HxglnaOceMLgYNQIDAQABAoIBAAYED9Tj+C3LNt25",
    "1z9Z6VtgEM91yiqBq+ipZM7HWJewy7UE0M8bJkSz41qTCEw3RcstQrYJvAXnzMbu",
    "IkMPVZjIhzhe8LG0/Wo+1Cs/MLZ7nQ0cuHU1b9fhlGdEkjSSEY7Q8p2PiU1MERsm",
    "rsKzl0wM4rMUvRw7CJXrGZ0u2FjWsKDtzfZAjFzEWBeKv012IIuU20nWrNoSq/EB",
    "jQ09zeoXRSZ0wfQMK5ao/Ap+hVmcUk/b2QcGQNllMdZC4nDIwc2kRbM/bZc4C5Qu",
    "NMePC7j6EUivkaPZWVFH5GC7EDRPLnyr8QfY8lHfoXvYM+9Gw1iea2KMPrgqxgVC",
    "j2mzbcECgYEA+QujUuonzggZDI9ZKbFxuwNAZVAHTljpFTkPD56l41bU3L02Rnid",
    "FzSIS3ywGPVW+3khVHkbm8O4iHIyuf098rQugKwrKNFIpJqL6pN1HkHXHJqs0LwG",
    "tooWH8w3NGNZglHdyWg7Uzb6rNJ0NE0XZ5YlV4fFWliZLP88N6udXpUCgYEAvyI0",
    "eNu2vVW1dEg9dgUzXNjtV+CseR9Og/mJoYUCCDwTpNhSks/9m6qV/CrA5CAv/pZU",
    "OYRKQrAcek1S6+GuEAMV7xjvJLuUFdJp4CfB3VkYZanVwACzAZ+ALCISYGktau+w",
    "QDuyZDbUbz5tOt6kRgMNVy9wzdi/CVSHgSHEiyECgYEAm8DujR2KdW1VFSjVr6Cd",
    "K0OWU4Zge1xZsX807yTeRLb6e28OcbZfMLMXBnbdv0447x9LfAQeAyW90//vv6gk",
    "xRRw/OIwP9/bma5aEQPVvG2a9fW6XPUrEaB8w7g5UldMFJfUqHC6oYmB7vHT4R3R",
    "pGQfyIVOJPnCGoUqCPsYeZ0CgYAXk4yNa+y6phvf4BlUuYeAaHG+aURdHHN+7AUC",
    "G3oIsgBqURS+b1GFJiGiHVP1z9KbwMda4OqYF0kr/OXBmvDxoK/P8m9tRIYbuvy8",
    "XasYNqk/wRdQu8VY6efRidJiehbUHgTLp5F1sx25KyYmINh6ml3G518uxRGrgPXG",
    "A/hOgQKBgHNB1RQXX9Nr09ByM1WezQyW+6OQyfexwWwpc0VMl5UV3MwvxIvcWSHI",
    "x6Zmr2Mr6+EUJ5/KjVyp9PEOPR/hLWctpBfN352eodV2nAcOTIfSn2G4RNY933+s",
    "DyQqtMdAoDhPmTWUBjPOqqAtiJsfsRRTBRQbe9kwBG/7+c7+yo2P",
];
/// Someone else's key: a token it signs carries the provider's `kid` but not its signature.
const ATTACKER_KEY: &[&str] = &[
    "MIIEowIBAAKCAQEAtIF3R8gcOS6QouAiOx+RGhIm6J8BBgI1L6H/ay9rlyfeglWD",
    "JSWnbWz7mpTtoa6d8aXZoJW1DOGCT04nK1c3rxIuFumGwv5xhRW2zsJ365MtrZXx",
    "g2Jiejr70oB+diq25rHBP0GYwiztutnC7MVTMspo1p8OmQRs3RKuWZijYdVW7VgC",
    "3h3A5w5YwKzZysKMHqGtQ3MTNsphKW82Ql4wXyyCvsavxU+iRtv4HAbc6F0ZA5Xi",
    "piEKgFjbkyki4toqQ7Kxyhu3mwkdXaWRrNBuOEPZCqg8K4hN26G5BlD1K301OV4T",
    "Lxcv1NtjGpDmOU8iaVTHqD0KzPTmeuPxrO3Z5wIDAQABAoIBAEbDKlu9mzLfilwP",
    "uduruFqcGxy+mMweOXN+8n62jFspihVWKJ97b3N6cfhbwfzMU6bT+cj2Z4+xKECm",
    "xrw66N19JwxcaDQxQ5eEt7G+kvyLKjEOwytaeniofug671irziAKN1PxB024B0pk",
    "7AGeKcuThh39JN/f2D2igS8mo4ZKTdW4XB9DP4d5vQcchL3v55SJQp2BQ4XD4MSr",
    "7zrSrWiIW9kqYHrhleigoLgWrlln4NdvogQ9AtbQ2/UQhikIuSva3kOxwpOj9CGT",
    "pUeSKkenQMcyQB8jzVaM7grR3NP/FTjbiq4eGedlv21Lo1SWlT/qWOUYCLSZwmlY",
    "FlMqRcECgYEA+kzFzCLoYGbEyZMPbnxiez9W8M6Gg+l/UeEJ9Rls7cKPyijxNnzg",
    "e3CcKaCEbhgiiLMZjbRbxMK9iBKRvkn2R9afvPB6dGuqiBkn//CEls5pv534iDmb",
    "Dv8i6K2yIYaPP0aRGPsuJzTp876LAb6PP6U0136KEKXcWXBFoa9kWnkCgYEAuJ3M",
    "lem6RX2vG/vRg29UknEy/W+BNxvMDQFnU/wVpanoIFE33RySN8EFKfJUGFLG/x9/",
    "OhUNs4w6KuixRIlv1ubWCMDCUig/73zuDnSFDq08BekCX2UdEaPqgDyP7H8RBcWs",
    "238cukqSyXH+UD/7Sz7jOmvui4s7PHXEsqSwv18CgYEAy37TaU4QIyAqab/YUflq",
    "j81FP+6IyoJx8v3E/LI5L2x5PuDei3AnifRZ4jYQtPmGSiFiayTxXxz8vr5qI406",
    "X9mMcS4KQNCwCop5TMoc4gbbTuB+CTLcb+raVNWy9zLRD56tpOPB+Do64uJNXZOy",
    "HwqP1YuZcEOIzGZNFlDkg/ECgYBsYWcbky0hYpmMahcjfBZAKmhu1CkdexodgHdy",
    "nIjwyoBViJitG/rS9GPdrj+kT+Q3HfyI0pdKksYLLrPysmSP2tBILzFlHe/63nK6",
    "1bjPVu/n4FTeP/QCySH/yo4LnsUViGjkKwlobCMkU+Gipw0VrYOkZnySO1i5M8IX",
    "xgtlLQKBgEyVwkofYtrelYsVolOW87v0OvWrl2tVV0xXfGgkR1qxyKGC3g7GJdli",
    "m9B6j/jHlzkAPZhZkIbx3BTKFAg7LKqMKFtb2bacW11UPo5l9FxI6DYB2OIXxQvx",
    "0znjJie6FmCw63OMDuWzxQuFvU+O2O6kEXycvtFsv73cgqOy6DKV",
];
/// The provider key's public half as anyone may fetch it (SubjectPublicKeyInfo, PEM): the "secret"
/// of the classic algorithm-confusion attack (HS256 keyed with the RSA public key).
const PROVIDER_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAufD1cn4W7Z5EgDx8Fh0U
OR+3FpJ5gwUy1/GwdPVcHbr0FdRtuImYncRYx0IjbCJ/Jy9SrcGNnv6SvvTfXV+x
OfV/HMwZxv4TCRNtioRfKxBfS5hkehn7Pldk8P//LAYEihy3yNwms32Ef298zuCv
vvalutIDwZ1sj23SCMzP73h3ZMB0iCzfKN9Pu4zKh8Yze0/dgp/w/TNHk6hIQ9lI
7pgBZm/hW6BSF1IBHeOmdK/Ix4eHw+StMYuqsWWic0JjreKSJ+EDIGqBnxlrxW4k
Asa7bD1fRyeblwYL+3dbi/1IQTxZzLvqohKKMKFiRo9dvFIVHs8HxglnaOceMLgY
NQIDAQAB
-----END PUBLIC KEY-----
";

fn key_der(lines: &[&str]) -> Vec<u8> {
    STANDARD.decode(lines.concat()).expect("base64 key")
}

/// Modulus and public exponent of a PKCS#1 RSAPrivateKey (SEQUENCE { version, n, e, ... }), so the
/// JWKS is derived from the very key that signs.
fn rsa_public_parts(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    // (content start, content length) of the DER element at `at`.
    let element = |at: usize| -> (usize, usize) {
        let first = der[at + 1] as usize;
        if first < 0x80 {
            return (at + 2, first);
        }
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n].iter().fold(0usize, |acc, b| acc << 8 | *b as usize);
        (at + 2 + n, len)
    };
    assert_eq!(der[0], 0x30, "a SEQUENCE");
    let (body, _) = element(0);
    let mut at = body;
    let mut ints = Vec::new();
    for _ in 0..3 {
        assert_eq!(der[at], 0x02, "an INTEGER");
        let (start, len) = element(at);
        let mut bytes = &der[start..start + len];
        while bytes.len() > 1 && bytes[0] == 0 {
            bytes = &bytes[1..];
        }
        ints.push(bytes.to_vec());
        at = start + len;
    }
    (ints[1].clone(), ints[2].clone())
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

// ------------------------------------------------------------ the provider this test plays

/// What the authorize endpoint was asked for, kept under the code it issued.
#[derive(Clone)]
struct Authorization {
    nonce: String,
    challenge: String,
}

/// Makes the ID token for one sign-in from the claims a correct provider would send.
type Mint = Arc<dyn Fn(Value) -> String + Send + Sync>;

fn mint(f: impl Fn(Value) -> String + Send + Sync + 'static) -> Mint {
    Arc::new(f)
}

struct Fake {
    issuer: String,
    redirect_uri: String,
    codes: HashMap<String, Authorization>,
    issued: u64,
    mint: Option<Mint>,
    /// How many codes the token endpoint exchanged (and so how many ID tokens it handed out).
    exchanged: u64,
}

#[derive(Clone)]
struct Provider(Arc<Mutex<Fake>>);

fn query_map(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

fn bad_request(why: String) -> Response {
    (axum::http::StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_request", "error_description": why}))).into_response()
}


async fn discovery(State(p): State<Provider>) -> Json<Value> {
    let issuer = p.0.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks() -> Json<Value> {
    let (n, e) = rsa_public_parts(&key_der(PROVIDER_KEY));
    Json(json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": b64url(&n), "e": b64url(&e)}]}))
}

/// Checks the authorisation request as a strict provider would, and sends the browser back with
/// a fresh code.
async fn authorize(State(p): State<Provider>, uri: Uri) -> Response {
    let q = query_map(uri.query().unwrap_or(""));
    let mut fake = p.0.lock().unwrap();
    let expect = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", fake.redirect_uri.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in expect {
        if q.get(name).map(String::as_str) != Some(value) {
            return bad_request(format!("{name} should be {value:?}, not {:?}", q.get(name)));
        }
    }
    if !q.get("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid")) {
        return bad_request("scope without openid".into());
    }
    let (Some(state), Some(nonce), Some(challenge)) = (q.get("state"), q.get("nonce"), q.get("code_challenge")) else {
        return bad_request("state, nonce and code_challenge are required".into());
    };
    fake.issued += 1;
    let code = format!("code-{}-{}", fake.issued, b64url(&Sha256::digest(state.as_bytes())[..12]));
    fake.codes.insert(code.clone(), Authorization { nonce: nonce.clone(), challenge: challenge.clone() });
    let back = form_urlencoded::Serializer::new(String::new()).append_pair("code", &code).append_pair("state", state).finish();
    let to = format!("{}?{back}", fake.redirect_uri);
    (axum::http::StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, to)]).into_response()
}

/// Exchanges a code only for this client (secret), this redirect URI and the right PKCE verifier,
/// and answers with the ID token the current case mints.
async fn token(State(p): State<Provider>, headers: HeaderMap, body: String) -> Response {
    let form = query_map(&body);
    let mut fake = p.0.lock().unwrap();
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(CLIENT_ID), enc(CLIENT_SECRET))));
    if headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (axum::http::StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return bad_request(format!("grant_type {:?}", form.get("grant_type")));
    }
    if form.get("redirect_uri") != Some(&fake.redirect_uri) {
        return bad_request(format!("redirect_uri {:?}", form.get("redirect_uri")));
    }
    let Some(auth) = form.get("code").and_then(|c| fake.codes.remove(c)) else {
        return bad_request("unknown or used code".into());
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if b64url(&Sha256::digest(verifier.as_bytes())) != auth.challenge {
        return bad_request("the PKCE verifier does not match the challenge".into());
    }
    let Some(make) = fake.mint.clone() else { return bad_request("the test set no ID token".into()) };
    fake.exchanged += 1;
    let iat = now();
    let claims = json!({
        "iss": fake.issuer, "sub": SUBJECT, "aud": CLIENT_ID, "azp": CLIENT_ID,
        "iat": iat, "exp": iat + 300, "auth_time": iat, "nonce": auth.nonce,
        "email": EMAIL, "email_verified": true,
    });
    let id_token = make(claims);
    Json(json!({"access_token": "opaque-access-token", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})).into_response()
}

async fn start_provider(port: u16, redirect_uri: String) -> Provider {
    let provider = Provider(Arc::new(Mutex::new(Fake {
        issuer: format!("http://127.0.0.1:{port}"),
        redirect_uri,
        codes: HashMap::new(),
        issued: 0,
        mint: None,
        exchanged: 0,
    })));
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind the provider's port");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the provider serves") });
    provider
}

impl Provider {
    fn issuer(&self) -> String {
        self.0.lock().unwrap().issuer.clone()
    }
    fn set_mint(&self, mint: Mint) {
        self.0.lock().unwrap().mint = Some(mint);
    }
    fn exchanged(&self) -> u64 {
        self.0.lock().unwrap().exchanged
    }
}

// ------------------------------------------------------------ tokens

fn header(alg: Algorithm) -> Header {
    Header { kid: Some(KID.into()), ..Header::new(alg) }
}

/// Signed RS256 with a PKCS#1 key (the provider's, or someone else's).
fn rs256(claims: &Value, key: &[&str]) -> String {
    jsonwebtoken::encode(&header(Algorithm::RS256), claims, &EncodingKey::from_rsa_der(&key_der(key))).expect("sign RS256")
}

/// No signature at all: `alg` as given (`none` and its spellings), an empty third part.
fn unsigned(alg: &str, claims: &Value) -> String {
    let head = json!({"alg": alg, "typ": "JWT", "kid": KID});
    format!("{}.{}.", b64url(head.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
}

/// HMAC-SHA256 keyed with `secret`.
fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&header(Algorithm::HS256), claims, &EncodingKey::from_secret(secret)).expect("sign HS256")
}

/// A correct provider's token: its claims, signed with its key.
fn good(claims: Value) -> String {
    rs256(&claims, PROVIDER_KEY)
}

fn with(mut claims: Value, changes: Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

// ------------------------------------------------------------ the browser

fn browser() -> Client {
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

struct Outcome {
    browser: Client,
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

/// Sign-in button to callback with a fresh browser, the provider minting the ID token with `mint`.
async fn sign_in(server: &Server, provider: &Provider, token: Mint) -> Outcome {
    provider.set_mint(token);
    let browser = browser();
    let resp = browser.get(format!("{}/auth/oidc/start?next=%2Fworklist", server.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to_provider = resp.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(to_provider.starts_with(&format!("{}/authorize?", provider.issuer())), "{to_provider}");
    let resp = browser.get(&to_provider).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the provider accepted the authorisation request: {}", resp.text().await.unwrap());
    let callback = resp.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert!(callback.starts_with(&format!("{}/auth/oidc/callback?code=", server.base)), "{callback}");
    let resp = browser.get(&callback).send().await.unwrap();
    let status = resp.status();
    let location = resp.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
    let set_cookies = resp.headers().get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let body = resp.text().await.unwrap();
    Outcome { browser, status, location, set_cookies, body }
}

fn session_cookies(o: &Outcome) -> Vec<&String> {
    o.set_cookies.iter().filter(|c| c.starts_with("telederm_session=")).collect()
}

/// What this browser gets from an API call and a page that need a session.
async fn access(server: &Server, browser: &Client) -> ((StatusCode, Value), (StatusCode, Option<String>)) {
    let me = browser.get(format!("{}/api/v1/me", server.base)).send().await.unwrap();
    let me = (me.status(), me.json::<Value>().await.unwrap_or(Value::Null));
    let page = browser.get(format!("{}/worklist", server.base)).send().await.unwrap();
    let page = (page.status(), page.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string()));
    (me, page)
}

/// The reasons the server logged for failed single sign-ons (JSON log lines), oldest first.
fn sso_failures(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "single sign-on failed")
        .map(|v| v["fields"]["error"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn assert_signs_in(server: &Server, provider: &Provider, log: &Path) {
    let (exchanged, failures) = (provider.exchanged(), sso_failures(log).len());
    let o = sign_in(server, provider, mint(good)).await;
    assert_eq!((o.status, o.location.as_deref()), (StatusCode::SEE_OTHER, Some("/worklist")), "the valid token signs in: {}", o.body);
    assert_eq!(session_cookies(&o).len(), 1, "{:?}", o.set_cookies);
    assert_eq!(provider.exchanged(), exchanged + 1);
    assert_eq!(sso_failures(log).len(), failures, "nothing logged as a failure: {:?}", sso_failures(log));
    let ((me_status, me), (page, _)) = access(server, &o.browser).await;
    assert_eq!(me_status, StatusCode::OK, "{me}");
    assert_eq!((me["email"].as_str(), me["role"].as_str()), (Some(EMAIL), Some("consultant")), "{me}");
    assert_eq!(page, StatusCode::OK, "the worklist opens");
}

/// A hostile token: how it is minted, and the refusal Telederm must give.
struct Case {
    name: &'static str,
    mint: Mint,
    status: StatusCode,
    /// On the error page.
    page: &'static str,
    /// The start of the reason in the log (`None`: the refusal is not a logged failure).
    logged: Option<&'static str>,
}

const SSO_FAILED_PAGE: &str = "Single sign-on did not work this time.";
const REJECTED: &str = "the ID token was not accepted: ";

/// Runs one hostile sign-in; returns what was wrong, if anything.
async fn check_refused(server: &Server, provider: &Provider, log: &Path, case: &Case) -> Result<(), String> {
    let (exchanged, failures) = (provider.exchanged(), sso_failures(log));
    let o = sign_in(server, provider, case.mint.clone()).await;
    let mut wrong = Vec::new();
    if provider.exchanged() != exchanged + 1 {
        wrong.push("the token endpoint was not reached".to_string());
    }
    if o.status != case.status {
        wrong.push(format!("status {} (expected {}), Location {:?}", o.status, case.status, o.location));
    }
    if !o.body.contains(case.page) || !o.body.contains(&format!("Error code {}", case.status.as_u16())) {
        wrong.push(format!("the page does not say {:?} with error code {}: {}", case.page, case.status.as_u16(), o.body));
    }
    if !session_cookies(&o).is_empty() {
        wrong.push(format!("a session cookie was set: {:?}", o.set_cookies));
    }
    let now_logged = sso_failures(log);
    let new = &now_logged[failures.len().min(now_logged.len())..];
    match case.logged {
        Some(reason) if new.len() != 1 || !new[0].starts_with(reason) => {
            wrong.push(format!("logged {new:?}, expected one failure starting {reason:?}"));
        }
        None if !new.is_empty() => wrong.push(format!("logged {new:?}, expected no failure")),
        _ => {}
    }
    let ((me_status, me), page) = access(server, &o.browser).await;
    if (me_status, me["code"].as_str()) != (StatusCode::UNAUTHORIZED, Some("unauthenticated")) {
        wrong.push(format!("GET /api/v1/me afterwards: {me_status} {me}"));
    }
    if page != (StatusCode::SEE_OTHER, Some("/sign-in?next=%2Fworklist".to_string())) {
        wrong.push(format!("GET /worklist afterwards: {page:?}"));
    }
    if wrong.is_empty() { Ok(()) } else { Err(format!("{}: {}", case.name, wrong.join("; "))) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_sign_on_refuses_hostile_id_tokens() {
    let (telederm_port, provider_port) = (free_port(), free_port());
    let public = format!("http://127.0.0.1:{telederm_port}");
    let provider = start_provider(provider_port, format!("{public}/auth/oidc/callback")).await;
    let issuer = provider.issuer();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("telederm.log");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let env = [
        ("TELEDERM_OIDC_ISSUER", issuer.as_str()),
        ("TELEDERM_OIDC_CLIENT_ID", CLIENT_ID),
        ("TELEDERM_OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("TELEDERM_PUBLIC_URL", public.as_str()),
        ("TELEDERM_LOG_FORMAT", "json"),
    ];
    let server = Server::start_on_with("demo", &data, &env, telederm_port, Stdio::from(std::fs::File::create(&log).unwrap())).await;

    // The harness can sign someone in: a correct token from this provider works.
    assert_signs_in(&server, &provider, &log).await;

    // The public key the confusion attack uses is the one the provider publishes.
    let (n, _) = rsa_public_parts(&key_der(PROVIDER_KEY));
    let spki = STANDARD.decode(PROVIDER_PUBLIC_PEM.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap();
    assert!(spki.windows(n.len()).any(|w| w == n.as_slice()), "PROVIDER_PUBLIC_PEM is the provider key's public half");

    // A token that is not valid is a refusal (401 `sso_refused`), not a provider outage (502).
    let failed = |name, token: Mint, logged| Case { name, mint: token, status: StatusCode::UNAUTHORIZED, page: SSO_FAILED_PAGE, logged: Some(logged) };
    let hour_ago = now() - 3600;
    let in_an_hour = now() + 3600;
    let cases = vec![
        failed("signed by another key under the provider's kid", mint(|c| rs256(&c, ATTACKER_KEY)), "the ID token was not accepted: InvalidSignature"),
        failed("the provider's token with its claims changed after signing (another email)", mint(|c| {
            let genuine = good(c.clone());
            let parts: Vec<&str> = genuine.split('.').collect();
            let tampered = with(c, json!({"email": "service-admin@demo.telederm.nhs.uk"}));
            format!("{}.{}.{}", parts[0], b64url(tampered.to_string().as_bytes()), parts[2])
        }), "the ID token was not accepted: InvalidSignature"),
        failed("alg none", mint(|c| unsigned("none", &c)), "the ID token was not accepted: header: JSON error: unknown variant `none`"),
        failed("alg None", mint(|c| unsigned("None", &c)), "the ID token was not accepted: header: JSON error: unknown variant `None`"),
        failed("alg NONE", mint(|c| unsigned("NONE", &c)), "the ID token was not accepted: header: JSON error: unknown variant `NONE`"),
        failed("HS256 keyed with the provider's public key (PEM)", mint(|c| hs256(&c, PROVIDER_PUBLIC_PEM.as_bytes())),
            "the ID token was not accepted: signature algorithm HS256 is not accepted"),
        failed("HS256 keyed with the provider's public modulus", mint(|c| hs256(&c, &rsa_public_parts(&key_der(PROVIDER_KEY)).0)),
            "the ID token was not accepted: signature algorithm HS256 is not accepted"),
        failed("wrong nonce", mint(|c| good(with(c, json!({"nonce": "a-nonce-from-another-sign-in"})))),
            "the ID token was not accepted: the nonce does not match this sign-in"),
        failed("no nonce", mint(|c| good(with(c, json!({"nonce": null})))), "the ID token was not accepted: the nonce does not match this sign-in"),
        failed("wrong audience", mint(|c| good(with(c, json!({"aud": "some-other-client", "azp": null})))),
            "the ID token was not accepted: InvalidAudience"),
        failed("our audience, but authorised party another client", mint(|c| good(with(c, json!({"aud": [CLIENT_ID, "some-other-client"], "azp": "some-other-client"})))),
            "the ID token was not accepted: the token was issued to \"some-other-client\""),
        failed("several audiences and no authorised party", mint(|c| good(with(c, json!({"aud": [CLIENT_ID, "some-other-client"], "azp": null})))),
            "the ID token was not accepted: the token names several audiences and no authorised party"),
        failed("wrong issuer", mint(|c| good(with(c, json!({"iss": "https://idp.attacker.example"})))), "the ID token was not accepted: InvalidIssuer"),
        failed("expired an hour ago", mint(move |c| good(with(c, json!({"iat": hour_ago - 300, "exp": hour_ago, "auth_time": hour_ago - 300})))),
            "the ID token was not accepted: ExpiredSignature"),
        failed("not valid before an hour from now", mint(move |c| good(with(c, json!({"nbf": in_an_hour})))),
            "the ID token was not accepted: ImmatureSignature"),
        Case {
            name: "email_verified false",
            mint: mint(|c| good(with(c, json!({"email_verified": false})))),
            status: StatusCode::FORBIDDEN,
            page: "Your identity provider has not verified the email address consultant@demo.telederm.nhs.uk.",
            logged: None,
        },
    ];
    assert!(cases.iter().all(|c| c.logged.is_none_or(|l| l.starts_with(REJECTED))));
    let mut wrong = Vec::new();
    for case in &cases {
        if let Err(e) = check_refused(&server, &provider, &log, case).await {
            wrong.push(e);
        }
    }
    assert!(wrong.is_empty(), "hostile ID tokens not refused as they must be:\n{}", wrong.join("\n"));

    // And the harness still signs in after them (nothing above broke the provider or the server).
    assert_signs_in(&server, &provider, &log).await;
}
