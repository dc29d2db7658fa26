//! What every route does with bad input and what every response carries.

use axum::body::Body;
use flowday_tests::TestStack;
use http::{Method, Request, StatusCode};
use serde_json::json;

#[tokio::test]
async fn malformed_wrong_typed_and_oversized_bodies_are_problems() {
    let stack = TestStack::new().await;
    let raw = |body: &str, content_type: &str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/auth/login")
            .header("content-type", content_type)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    stack.send(raw("{\"email\": ", "application/json")).await.assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    stack.send(raw("", "application/json")).await.assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    stack
        .send(raw("email=a", "application/x-www-form-urlencoded"))
        .await
        .assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let wrong_type = stack.send(raw(r#"{"email": ["a"], "password": "x"}"#, "application/json")).await;
    wrong_type.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(wrong_type.error_fields(), ["email"]);
    let missing = stack.call(Method::POST, "/v1/auth/login", None, Some(json!({}))).await;
    let mut fields = missing.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "password"]);

    let huge = format!(r#"{{"email": "a@b.co", "password": "{}"}}"#, "x".repeat(1024 * 1024 + 10));
    stack.send(raw(&huge, "application/json")).await.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let stack = TestStack::new().await;
    stack
        .call(Method::GET, "/v1/nothing-here", None, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "route_not_found");
    stack
        .call(Method::GET, "/v1/auth/login", None, None)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    stack
        .call(Method::DELETE, "/v1/me", None, None)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let stack = TestStack::new().await;
    let echoed = stack.call_with(Method::GET, "/v1/health", None, None, &[("x-request-id", "client-chosen-42")]).await;
    assert_eq!(echoed.status, StatusCode::OK);
    assert_eq!(echoed.header("x-request-id"), Some("client-chosen-42"));
    for response in
        [stack.call(Method::GET, "/v1/health", None, None).await, stack.call(Method::GET, "/nope", None, None).await]
    {
        let id = response.header("x-request-id").expect("request id");
        assert_eq!(id.len(), 26, "a ULID when the client sent none");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert!(response.header("strict-transport-security").is_some());
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
    let evil = stack.call_with(Method::GET, "/v1/health", None, None, &[("x-request-id", &"x".repeat(500))]).await;
    assert_eq!(evil.header("x-request-id").map(str::len), Some(26), "an oversized id is replaced");
}

#[tokio::test]
async fn health_answers_ok() {
    let stack = TestStack::new().await;
    let health = stack.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(health.body["status"], "ok");
}
