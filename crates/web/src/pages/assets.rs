//! Static assets compiled into the binary: the vendored NHS.UK frontend (see `e2e/vendor-assets.mjs`)
//! and Telederm's own small CSS and JavaScript. Served with long-lived caching; the URLs carry a
//! version so a new release is fetched at once.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;

macro_rules! asset {
    ($name:literal, $path:literal, $ty:literal) => {
        ($name, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)).as_slice(), $ty)
    };
}

const ASSETS: &[(&str, &[u8], &str)] = &[
    asset!("nhsuk-frontend.min.css", "nhsuk/nhsuk-frontend.min.css", "text/css; charset=utf-8"),
    asset!("nhsuk-frontend.min.mjs", "nhsuk/nhsuk-frontend.min.mjs", "text/javascript; charset=utf-8"),
    asset!("app.css", "app.css", "text/css; charset=utf-8"),
    asset!("app.mjs", "app.mjs", "text/javascript; charset=utf-8"),
    asset!("triage.mjs", "triage.mjs", "text/javascript; charset=utf-8"),
    asset!("images/favicon.ico", "nhsuk/images/favicon.ico", "image/x-icon"),
    asset!("images/favicon.svg", "nhsuk/images/favicon.svg", "image/svg+xml"),
    asset!("images/nhsuk-icon-arrow-down.svg", "nhsuk/images/nhsuk-icon-arrow-down.svg", "image/svg+xml"),
    asset!("images/nhsuk-icon-arrow-up.svg", "nhsuk/images/nhsuk-icon-arrow-up.svg", "image/svg+xml"),
    asset!("images/nhsuk-icon-arrow-up-down.svg", "nhsuk/images/nhsuk-icon-arrow-up-down.svg", "image/svg+xml"),
    asset!("images/nhsuk-icon-cross.svg", "nhsuk/images/nhsuk-icon-cross.svg", "image/svg+xml"),
];

pub fn routes() -> Router<AppState> {
    Router::new().route("/assets/{*path}", get(serve)).route("/favicon.ico", get(|| serve(Path("images/favicon.ico".into()))))
}

async fn serve(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == path) {
        Some((_, bytes, ty)) => (
            [
                (header::CONTENT_TYPE, *ty),
                (header::CACHE_CONTROL, "public, max-age=86400"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
