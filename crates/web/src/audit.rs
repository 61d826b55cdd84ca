//! The web side of the audit trail: from which address a request came. Who acted on what, and
//! the entries themselves, are the application layer's ([`telederm_app::audit`]).
//!
//! The client address is captured once per request by [`client_address_layer`] and handed to the
//! use cases ([`telederm_app::audit::with_client_address`]). It is the TCP peer's
//! address; `X-Forwarded-For` is believed only when the operator said a proxy is in front
//! ([`crate::WebSettings::trust_proxy`]), and then only its last entry (the one the proxy added).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
pub use telederm_app::audit::{Actor, Target, current_client_address, denied, entry, outcome_of, record};

use crate::AppState;

/// Middleware: remembers the request's client address for the audit entries it writes.
pub async fn client_address_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let addr = client_address(peer, req.headers(), state.settings.trust_proxy);
    telederm_app::audit::with_client_address(addr, next.run(req)).await
}

/// The address a request came from, as the audit trail records it ([`client_address`]:
/// the peer's IP, or behind a trusted proxy the last `X-Forwarded-For` entry); `unknown` when
/// neither is available (in-process tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub String);

pub fn client_addr(parts: &Parts, trust_proxy: bool) -> ClientAddr {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    ClientAddr(client_address(peer, &parts.headers, trust_proxy).unwrap_or_else(|| "unknown".into()))
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(client_addr(parts, state.settings.trust_proxy))
    }
}

/// The client's address: the last `X-Forwarded-For` entry when a proxy is trusted and sent one,
/// else the TCP peer's address.
pub fn client_address(peer: Option<SocketAddr>, headers: &HeaderMap, trust_proxy: bool) -> Option<String> {
    if trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .and_then(|s| s.parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return Some(ip.to_string());
        }
    }
    peer.map(|p| p.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_believed_only_behind_a_trusted_proxy() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().unwrap());
        assert_eq!(client_address(Some(peer), &h, false).as_deref(), Some("10.0.0.5"));
        assert_eq!(client_address(Some(peer), &h, true).as_deref(), Some("198.51.100.7"));
        let mut junk = HeaderMap::new();
        junk.append("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_address(Some(peer), &junk, true).as_deref(), Some("10.0.0.5"));
        assert_eq!(client_address(None, &HeaderMap::new(), true), None);
    }
}
