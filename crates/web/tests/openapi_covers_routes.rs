//! The OpenAPI document is the API's contract: every route the router serves must be in it, and
//! nothing may be documented that the router does not serve.

use std::collections::BTreeSet;

fn router_paths() -> BTreeSet<String> {
    let sources = [include_str!("../src/api/mod.rs"), include_str!("../src/api/fhir.rs")];
    sources
        .iter()
        .flat_map(|source| source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .map(str::to_string))
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_routed() {
    let doc: serde_json::Value = serde_json::from_str(telederm_web::api::OPENAPI).expect("valid JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented: BTreeSet<String> =
        doc["paths"].as_object().unwrap().keys().filter(|p| !["/healthz", "/readyz", "/metrics"].contains(&p.as_str())).cloned().collect();
    let routed = router_paths();
    assert!(routed.len() > 15, "found the routes: {routed:?}");
    assert_eq!(routed, documented, "router and OpenAPI document disagree");
}
