//! Web hardening for every request and response, in one middleware ([`harden`]):
//!
//! - **Cross-site request refusal** for every state-changing request (anything but GET, HEAD,
//!   OPTIONS), pages and API alike: a browser's `Sec-Fetch-Site` must be `same-origin` or `none`,
//!   and an `Origin` header, when sent, must be this site. Cookies are `SameSite=Lax` and forms
//!   carry a per-session `_csrf` token besides ([`crate::pages::Viewer::check`]); clients that are
//!   not browsers send neither header and are not affected. Refused with 403 `csrf_refused`.
//! - **Response headers**: a strict Content-Security-Policy (no inline script or style, nothing
//!   from elsewhere, no framing), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//!   `Referrer-Policy: no-referrer`, `Cross-Origin-Opener-Policy: same-origin`,
//!   `Strict-Transport-Security` when served over TLS, and `Cache-Control: no-store` on API answers.
//!


use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, Code};

/// Content Security Policy for every response: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; \
                       connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// [`CSP`] that also allows one inline style by its hash (`'sha256-…'`): for documents that carry
/// their own style, such as the outcome letters' HTML (saved or exported, it must stand alone).
pub fn csp_allowing_style(source: &str) -> String {
    CSP.replacen("style-src 'self'", &format!("style-src 'self' {source}"), 1)
}

/// One year, as recommended for HSTS.
const HSTS: &str = "max-age=31536000; includeSubDomains";

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `host[:port]` of an origin such as `https://example.org:8443`.
fn origin_authority(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest)).filter(|a| !a.is_empty())
}

/// Why a state-changing request looks cross-site, or `None` when it does not.
///
/// `Sec-Fetch-Site`, when the browser sends it, decides. Otherwise `Origin` must be this site.
/// With `Referrer-Policy: no-referrer` browsers send `Origin: null` on same-site form posts; that
/// is accepted for pages (whose forms carry their own token) and refused for the API (our script's
/// `fetch` calls always send the real origin).
pub fn cross_site_reason(headers: &HeaderMap, public_url: &str, trust_proxy: bool, is_api: bool) -> Option<String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(site) = get("sec-fetch-site") {
        return (!matches!(site, "same-origin" | "none")).then(|| format!("Sec-Fetch-Site is {site:?}"));
    }
    let origin = get("origin")?;
    if origin == "null" {
        return is_api.then(|| "Origin is null".to_string());
    }
    let Some(authority) = origin_authority(origin) else { return Some(format!("Origin {origin:?}")) };
    let host = if trust_proxy { get("x-forwarded-host").or_else(|| get("host")) } else { get("host") };
    let ours = host.is_some_and(|h| h.eq_ignore_ascii_case(authority))
        || origin_authority(public_url).is_some_and(|p| p.eq_ignore_ascii_case(authority));
    (!ours).then(|| format!("Origin {origin:?} is not this site"))
}

pub fn csrf_refused() -> ApiError {
    ApiError::new(Code::CsrfRefused, "This request came from another website, so it was refused. Open Telederm directly and try again.")
}

/// The middleware: refuses cross-site state changes, then sets the security headers.
pub async fn harden(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    if !is_safe(req.method())
        && let Some(reason) = cross_site_reason(req.headers(), &state.settings.public_url, state.settings.trust_proxy, is_api)
    {
        tracing::warn!(path = %req.uri().path(), %reason, "cross-site request refused");
        return if is_api { csrf_refused().into_response() } else { crate::pages::PageError(csrf_refused()).into_response() };
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin");
    if is_api {
        set(header::CACHE_CONTROL, "no-store");
    }
    if state.settings.hsts {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_csp_allowing_a_style_changes_only_style_src() {
        let csp = csp_allowing_style("'sha256-abc='");
        assert_eq!(csp, CSP.replace("style-src 'self';", "style-src 'self' 'sha256-abc=';"));
        assert!(!csp.contains("unsafe-inline"));
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass_cross_site_ones_do_not() {
        let public = "https://telederm.example.nhs.uk";
        let check = |h: &[(&'static str, &'static str)], api: bool| cross_site_reason(&headers(h), public, false, api);
        assert_eq!(check(&[], true), None, "curl and API clients");
        assert_eq!(check(&[("sec-fetch-site", "same-origin"), ("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")], true), None);
        // Chromium's same-origin form post under `Referrer-Policy: no-referrer`.
        assert_eq!(check(&[("sec-fetch-site", "same-origin"), ("origin", "null"), ("host", "127.0.0.1:8080")], false), None);
        assert_eq!(check(&[("origin", "null"), ("host", "127.0.0.1:8080")], false), None, "older browsers' form posts: the form token decides");
        assert!(check(&[("origin", "null"), ("host", "127.0.0.1:8080")], true).is_some(), "but not for the API");
        assert_eq!(check(&[("origin", "https://telederm.example.nhs.uk"), ("host", "10.0.0.5:8080")], true), None, "behind a proxy, the public URL");
        assert!(check(&[("sec-fetch-site", "cross-site")], false).is_some());
        assert!(check(&[("sec-fetch-site", "same-site")], true).is_some());
        assert!(check(&[("sec-fetch-site", "cross-site"), ("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")], true).is_some());
        assert!(check(&[("origin", "https://evil.example"), ("host", "127.0.0.1:8080")], false).is_some());
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let req = axum::http::Request::builder().header("x-forwarded-for", "203.0.113.9, 198.51.100.7").body(()).unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(crate::audit::client_addr(&parts, true), crate::audit::ClientAddr("198.51.100.7".into()));
        assert_eq!(crate::audit::client_addr(&parts, false), crate::audit::ClientAddr("unknown".into()));
    }
}
