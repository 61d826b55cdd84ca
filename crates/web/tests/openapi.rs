//! The OpenAPI document is the API's contract, made from the Rust types: every route the router
//! serves must be in it with its methods, nothing may be documented that the router does not serve,
//! and every body is described (no bare `{"type": "object"}`), so schemathesis can check answers
//! against it (`scripts/schemathesis.sh`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

fn doc() -> Value {
    serde_json::from_str(telederm_web::api::openapi::json()).expect("the served document is JSON")
}

/// `(method, path)` of every `.route("path", method(...).method(...))` in the sources that build the
/// router: the API's modules (nested under `/api/v1`) and the root operations in `lib.rs`.
fn routed() -> BTreeSet<(String, String)> {
    let sources = [
        include_str!("../src/api/mod.rs"),
        include_str!("../src/api/fhir.rs"),
        include_str!("../src/api/referrals.rs"),
        include_str!("../src/api/photos.rs"),
        include_str!("../src/api/session.rs"),
        include_str!("../src/api/admin.rs"),
        include_str!("../src/api/triage.rs"),
        include_str!("../src/api/teaching.rs"),
        include_str!("../src/api/openapi.rs"),
        include_str!("../src/lib.rs"),
    ];
    let mut out = BTreeSet::new();
    for source in sources {
        for (start, _) in source.match_indices(".route(") {
            // The call's arguments, up to its closing parenthesis.
            let rest = &source[start + ".route(".len()..];
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a closed .route( call");
            let args = &rest[..end];
            let Some(path) = args.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()) else { continue };
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = args.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !args.as_bytes()[i - 1].is_ascii_alphanumeric() && args.as_bytes()[i - 1] != b'_'
                });
                if called {
                    out.insert((method.to_string(), path.to_string()));
                }
            }
        }
    }
    out
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op));
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_routed() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let routed = routed();
    assert!(routed.len() > 25, "found the routes: {routed:?}");
    assert!(routed.contains(&("patch".into(), "/referrals/{id}".into())), "methods chained on one route are found: {routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty() && unrouted.is_empty(), "routed but not documented: {undocumented:?}; documented but not routed: {unrouted:?}");
}

#[test]
fn operations_have_unique_ids_tags_and_the_session_security_unless_public() {
    let doc = doc();
    assert_eq!(doc["components"]["securitySchemes"]["session"], serde_json::json!({"type": "apiKey", "in": "cookie", "name": "telederm_session"}));
    assert_eq!(doc["security"], serde_json::json!([{"session": []}]));
    assert_eq!(doc["servers"], serde_json::json!([{"url": "/api/v1"}]));
    let mut ids = BTreeSet::new();
    let mut public = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        assert!(op["tags"].as_array().is_some_and(|t| t.len() == 1), "{method} {path} has one tag");
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has a summary");
        if op["security"] == serde_json::json!([]) {
            public.insert(path.clone());
        } else {
            assert!(op.get("security").is_none(), "{method} {path}: the document's session requirement or none at all");
            assert_eq!(op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error", "{method} {path} documents 401");
        }
        if ["/healthz", "/readyz", "/metrics"].contains(&path.as_str()) {
            assert_eq!(op["servers"], serde_json::json!([{"url": "/"}]), "{path} is served at the root");
        }
    }
    let expected: BTreeSet<String> =
        ["/healthz", "/readyz", "/metrics", "/openapi.json", "/auth/sign-in", "/auth/sign-out", "/fhir/Questionnaire/telederm-referral"]
            .map(String::from)
            .into();
    assert_eq!(public, expected);
}

/// Follows `$ref`s to `#/components/schemas/...`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected reference {r}"));
            doc["components"]["schemas"].get(name).unwrap_or_else(|| panic!("{r} does not resolve"))
        }
        None => schema,
    }
}

/// Places where a body holds any JSON on purpose, as the server stores or passes it.
const ANY_JSON: [&str; 6] = [
    "Error.details",                    // differs per error code (eligibility reasons, fields to fix, ...)
    "Job.payload",                      // what a background job works on, by its kind
    "Referral.eligibility_answers",     // a draft's checklist as saved, possibly half filled in
    "CreateReferral.eligibility_answers", // the same, as sent (checked strictly only at submit)
    "UpdateDraft.eligibility_answers",  // the same
    "OpenApiDocument.paths",            // this document's operations
];

/// Walks a schema and everything it refers to, reporting bare objects (`type: object` with nothing
/// saying what is inside) and any-JSON schemas outside [`ANY_JSON`].
fn walk(doc: &Value, schema: &Value, at: &str, seen: &mut BTreeSet<String>, problems: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        if seen.insert(r.to_string()) {
            let name = r.trim_start_matches("#/components/schemas/");
            walk(doc, resolve(doc, schema), name, seen, problems);
        }
        return;
    }
    let Some(obj) = schema.as_object() else {
        problems.push(format!("{at}: not a schema: {schema}"));
        return;
    };
    let types: Vec<&str> = match &obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let composed = ["allOf", "oneOf", "anyOf"].iter().any(|k| obj.contains_key(*k));
    let described = ["properties", "additionalProperties", "enum", "const", "items", "$ref"].iter().any(|k| obj.contains_key(*k));
    if types.contains(&"object") && !composed && !described {
        problems.push(format!("{at}: a bare object"));
    }
    if types.is_empty() && !composed && !described && !ANY_JSON.iter().any(|allowed| at.starts_with(allowed)) {
        problems.push(format!("{at}: any JSON ({schema}); describe it, or add it to ANY_JSON with the reason"));
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, s) in obj.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
            walk(doc, s, &format!("{at}/{key}[{i}]"), seen, problems);
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, s) in props {
            walk(doc, s, &format!("{at}.{name}"), seen, problems);
        }
    }
    if let Some(s @ Value::Object(_)) = obj.get("additionalProperties") {
        walk(doc, s, &format!("{at}.*"), seen, problems);
    }
    if let Some(s) = obj.get("items") {
        walk(doc, s, &format!("{at}[]"), seen, problems);
    }
}

#[test]
fn every_body_is_described_and_no_body_is_a_bare_object() {
    let doc = doc();
    let mut problems = Vec::new();
    let mut bodies = 0;
    for (method, path, op) in operations(&doc) {
        let request = op.get("requestBody").into_iter().flat_map(|b| b["content"].as_object().unwrap().iter().map(|(t, c)| (format!("request {t}"), c)));
        let responses = op["responses"].as_object().unwrap().iter().flat_map(|(status, r)| {
            r.get("content").and_then(Value::as_object).into_iter().flatten().map(move |(t, c)| (format!("{status} {t}"), c))
        });
        for (what, content) in request.chain(responses) {
            let at = format!("{method} {path} {what}");
            match content.get("schema") {
                // Images, PDFs, HTML and Prometheus text: bytes, not JSON.
                None => assert!(!what.contains("json"), "{at}: a JSON body without a schema"),
                Some(schema) => {
                    bodies += 1;
                    walk(&doc, schema, &at, &mut BTreeSet::new(), &mut problems);
                }
            }
        }
    }
    assert!(bodies > 80, "found {bodies} bodies");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn primitives_are_inline_not_components() {
    // A type alias such as `ServiceId = String` becomes a `String` component unless its field
    // says `#[schema(value_type = String)]`.
    let doc = doc();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in ["String", "bool", "i64", "u32", "Value"] {
        assert!(!schemas.contains_key(name), "a component named {name}");
    }
}

#[test]
fn every_reference_resolves() {
    let doc = doc();
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r);
                }
                o.values().for_each(|c| refs(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| refs(c, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50);
    for r in all {
        resolve(&doc, &serde_json::json!({ "$ref": r }));
    }
}

#[test]
fn errors_are_the_error_schema_and_successes_have_bodies() {
    let doc = doc();
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["code", "message"]));
    for (method, path, op) in operations(&doc) {
        let mut success = 0;
        for (status, r) in op["responses"].as_object().unwrap() {
            let content: BTreeMap<&String, &Value> = r.get("content").and_then(Value::as_object).into_iter().flatten().collect();
            if status.starts_with('2') {
                success += 1;
                if status != "204" {
                    assert!(!content.is_empty(), "{method} {path} {status} has no body");
                }
            } else {
                let json = content.get(&"application/json".to_string());
                let fhir = content.get(&"application/fhir+json".to_string());
                assert!(json.is_some() || fhir.is_some(), "{method} {path} {status}: an error without a JSON body");
                if let Some(c) = json {
                    assert_eq!(c["schema"]["$ref"], "#/components/schemas/Error", "{method} {path} {status}");
                }
                if let Some(c) = fhir {
                    assert_eq!(c["schema"]["$ref"], "#/components/schemas/OperationOutcome", "{method} {path} {status}");
                }
            }
        }
        assert!(success >= 1, "{method} {path} documents a success");
    }
}

#[test]
fn capabilities_serialise_as_their_names() {
    for c in telederm_app::access::Capability::ALL {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

#[test]
fn the_list_filters_and_the_upload_fields_say_what_the_server_takes() {
    let doc = doc();
    for path in ["/referrals", "/worklist"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        for name in ["status", "route", "priority"] {
            let p = params.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("{path} takes {name}"));
            assert!(p["schema"]["pattern"].as_str().is_some_and(|r| r.starts_with("^$|")), "{path} {name}: {p}");
        }
    }
    assert!(doc["components"]["schemas"]["PhotoUpload"]["propertyNames"]["pattern"].is_string());
    assert_eq!(doc["components"]["schemas"]["PhotoUpload"]["required"], serde_json::json!(["file"]));
    assert!(doc["components"]["schemas"]["DocumentUpload"]["propertyNames"]["pattern"].is_string());
    assert_eq!(doc["components"]["schemas"]["DocumentUpload"]["required"], serde_json::json!(["file", "kind"]));
}
