//! The OpenAPI document: generated from the code, kept current in docs/openapi.json, served at
//! `GET /v1/openapi.json`, describing every served route and nothing else, valid OpenAPI 3.1.

use std::collections::BTreeSet;

use flowday_local::functions::HTTP_FUNCTIONS;
use flowday_local::openapi::{DOCUMENT_PATH, document, document_text};
use flowday_local::workspace_root;
use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::Value;

#[test]
fn the_kept_document_is_the_one_the_code_generates() {
    let kept = std::fs::read_to_string(workspace_root().join(DOCUMENT_PATH)).expect("docs/openapi.json");
    assert!(kept == document_text(), "docs/openapi.json is not what the code generates: run `make openapi`");
}

#[test]
fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let document = document();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys().filter(|key| *key != "parameters") {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<(String, String)> = HTTP_FUNCTIONS
        .iter()
        .flat_map(|function| (function.paths)())
        .map(|route| (route.method.to_string(), route.path.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "served but not in the OpenAPI document: {missing:?}");
    assert!(unserved.is_empty(), "documented but not served: {unserved:?}");
}

#[test]
fn every_operation_says_its_problems_and_who_may_call_it() {
    let document = document();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().expect("responses");
            // The OAuth callback's success sends the browser on (303).
            let success = |status: &String| status.starts_with('2') || status == "303";
            assert!(responses.keys().any(success), "{method} {path}: no success answer");
            // Callers that carry no bearer token: signing in, keys and health, the feed (its URL
            // is the secret), the OAuth callback (its `state` is), and the providers' webhooks.
            let public = path.starts_with("/v1/auth/")
                && !["/v1/auth/logout", "/v1/auth/password"].contains(&path.as_str())
                || path.starts_with("/webhooks/")
                || [
                    "/v1/health",
                    "/.well-known/jwks.json",
                    "/v1/openapi.json",
                    "/v1/calendar/feed/{token}",
                    "/v1/calendar/connections/{id}/callback",
                ]
                .contains(&path.as_str());
            if !public {
                assert!(operation["security"].is_array(), "{method} {path}: no bearer security");
                let problem = &responses["401"]["content"]["application/problem+json"];
                assert!(problem.is_object(), "{method} {path}: 401 is not described as problem+json");
            }
        }
    }
    let new_task = &document["components"]["schemas"]["TaskFields"];
    assert_eq!(new_task["additionalProperties"], false, "request bodies refuse unknown names: {new_task}");
    assert_eq!(new_task["properties"]["title"]["maxLength"], 500, "constraints are in the schemas");
}

#[test]
fn the_document_validates_as_openapi_3_1() {
    let validator = workspace_root().join(".venv/bin/openapi-spec-validator");
    let output = std::process::Command::new(&validator)
        .arg(workspace_root().join(DOCUMENT_PATH))
        .output()
        .unwrap_or_else(|error| panic!("{} (make venv installs it): {error}", validator.display()));
    let said = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "docs/openapi.json is not valid OpenAPI 3.1:\n{said}");
}

#[tokio::test]
async fn the_document_is_served_to_anyone() {
    let stack = TestStack::new().await;
    let response = stack.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let served: Value = response.body;
    assert_eq!(served["info"]["title"], "Flowday API");
    assert!(served["paths"]["/v1/tasks"]["post"].is_object(), "it describes the routes");
}
