//! Schemathesis (PyPI, installed by `scripts/setup`) fuzzes the running platform from its own
//! OpenAPI document, as an admin and as a customer, following the document's links between
//! operations (its stateful phase): no answer may be a server error, and every answer must fit the
//! document's response schemas.

use std::process::Stdio;

use serde_json::json;
use skycamp::app::{AdminPassword, AuthMode};

use crate::access::token;
use crate::support::{TestApp, cannot_run};

const ADMIN_PASSWORD: &str = "fuzzing admin password";

/// The checks that must hold for every generated request.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    if std::process::Command::new("st").arg("--version").stdout(Stdio::null()).status().is_err() {
        return cannot_run("schemathesis (`st`) is not installed (scripts/setup: pip install schemathesis)");
    }
    let app = TestApp::spawn_with(|s| {
        s.auth.mode = AuthMode::Local;
        s.auth.admin_password = Some(AdminPassword::Plain(ADMIN_PASSWORD.to_owned().into()));
        s.auth.token_ttl = std::time::Duration::from_secs(3600);
        s.gateway_limits.sign_ins_per_minute = 0;
    })
    .await;
    let customer = "01077770001";
    let signed_up = app
        .http
        .post(app.url("/accounts"))
        .json(&json!({ "phone": customer, "password": "fuzzing customer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 202);
    let callers = [
        ("admin", token(&app, "admin", ADMIN_PASSWORD).await),
        ("customer", token(&app, customer, "fuzzing customer").await),
    ];
    for (who, token) in callers {
        let report = app.dir.path().join(format!("schemathesis-{who}"));
        let out = tokio::process::Command::new("st")
            .arg("run")
            .arg(app.url("/openapi.json"))
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", CHECKS, "--max-examples", "25", "--seed", "20261122", "--no-color"])
            .args(["--report", "junit", "--report-dir"])
            .arg(&report)
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let summary = text.rsplit_once("SUMMARY").map_or(text.as_ref(), |(_, s)| s);
        assert!(out.status.success(), "schemathesis as {who}:\n{summary}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(summary.contains("Tested: 40"), "every operation was exercised as {who}:\n{summary}");
        eprintln!("schemathesis as {who}:{summary}");
    }
}
