//! The published API contract (`/openapi.json`) and the routes the services really have agree,
//! both ways: a route the document lacks, or an operation no service answers, fails here.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::support::TestApp;

/// Routes that are deliberately not in the public document.
const UNPUBLISHED: &[(&str, &str)] = &[
    // The internal charge: signed by the reservation service, never routed by the gateway.
    ("POST", "/payments"),
    // Probes, on every service.
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    // Prometheus's scrape, on every service (docs/OPERATIONS.md).
    ("GET", "/metrics"),
];

/// Every `(METHOD, path)` an axum `.route("…", …)` in the services' source registers (unit tests
/// left out), with the dead-letter routes at the gateway's paths.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut found = BTreeSet::new();
    let mut files = Vec::new();
    collect_rs(crates, &mut files);
    for file in files {
        if file.starts_with(crates.join("web")) {
            continue; // the web sites' pages, HTML for browsers: not the API
        }
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests (and the fake servers in them) come after `#[cfg(test)]`.
        let text = text.split("#[cfg(test)]").next().unwrap();
        for (at, _) in text.match_indices(".route(") {
            let Some(rest) = text[at + ".route(".len()..].trim_start().strip_prefix('"') else { continue };
            let path = &rest[..rest.find('"').unwrap()];
            let expr = call_arguments(&rest[path.len()..]);
            if path == "/{*path}" {
                continue; // the gateway's proxy
            }
            let path = match path.strip_prefix("/deadLetters") {
                Some(tail) => format!("/deadLetters/{{service}}{tail}"),
                None => path.to_owned(),
            };
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = expr.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !expr.as_bytes()[i - 1].is_ascii_alphanumeric() && expr.as_bytes()[i - 1] != b'_'
                });
                if called {
                    found.insert((method.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    found
}

/// The text up to the `)` that closes the call whose arguments `text` continues.
fn call_arguments(text: &str) -> &str {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..i];
                }
            }
            _ => {}
        }
    }
    text
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !matches!(path.file_name().and_then(|n| n.to_str()), Some("tests" | "target" | "node_modules")) {
                collect_rs(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                ops.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn every_route_is_in_the_document_and_every_operation_is_a_route() {
    let doc = serde_json::to_value(skycamp::openapi::document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(&doc);
    let mut routed = routes_in_source();
    assert!(routed.len() > 30, "the source scan finds the routes: {routed:?}");
    for (method, path) in UNPUBLISHED {
        assert!(routed.remove(&(method.to_string(), path.to_string())), "{method} {path} is still a route");
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routes the document lacks: {undocumented:?}");
    assert!(unrouted.is_empty(), "documented operations no service routes: {unrouted:?}");
    // Every operation has its own id, says who may call it and what an error looks like.
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                "{method} {path}: a repeated operationId"
            );
            assert!(op["security"].is_array(), "{method} {path} names who may call it");
            let problem = &op["responses"]["default"]["content"]["application/problem+json"];
            assert!(problem.is_object(), "{method} {path} documents its problem answers");
        }
    }
}

#[tokio::test]
async fn the_gateway_serves_the_document_and_answers_every_operation_in_it() {
    let app = TestApp::spawn().await;
    let served: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, serde_json::to_value(skycamp::openapi::document()).unwrap());
    let page = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("swagger"), "a page to browse it, served from the binary");

    for (method, path) in operations(&served) {
        let concrete = path
            .replace("{service}", "flight")
            .replace("{customer}", "01000000000")
            .replace(['{', '}'], "")
            .replace("flight_id", "1")
            .replace("campsite_id", "1")
            .replace("/id", "/1");
        let request = app.http.request(method.parse().unwrap(), app.url(&concrete));
        let request =
            if method == "GET" || method == "DELETE" { request } else { request.json(&serde_json::json!({})) };
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_ne!(status, 405, "{method} {path} ({concrete}) is routed: {body}");
        assert!(
            !(status == 404 && body["detail"] == "no such endpoint"),
            "{method} {path} ({concrete}) reaches a service: {body}"
        );
        assert!(status < 500, "{method} {path} ({concrete}): {status} {body}");
    }
}
