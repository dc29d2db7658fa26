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

#[tokio::test]
async fn an_unknown_body_field_is_refused_by_name_and_nothing_is_written() {
    let stack = TestStack::new().await;
    let user = stack.signup("Stripe-like").await;
    let token = user["access_token"].as_str();
    // A new user's first guess at the due date's name.
    let body = json!({"title": "Buy milk", "due": "2027-01-01", "colour": "red"});
    let response = stack.call(Method::POST, "/v1/tasks", token, Some(body)).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(fields, ["colour", "due"], "each unknown name is named");
    let due = response.body["errors"].as_array().unwrap().iter().find(|error| error["field"] == "due").unwrap();
    let hint = due["message"].as_str().unwrap();
    assert!(hint.contains("did you mean due_at?") || hint.contains("did you mean due_date?"), "{hint}");
    let tasks = stack.call(Method::GET, "/v1/tasks", token, None).await;
    assert_eq!(tasks.body["items"], json!([]), "the refused task was not created");

    let nested = json!({"title": "Gym", "due_date": "2027-01-04",
                        "recurrence": {"rrule": "FREQ=DAILY", "timezone": "UTC", "every": 2}});
    let response = stack.call(Method::POST, "/v1/tasks", token, Some(nested)).await;
    response.assert_problem(StatusCode::BAD_REQUEST, "invalid_recurrence");
    assert_eq!(response.error_fields(), ["recurrence.every"], "a nested unknown name is named with its path");
    let login = stack.call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "a@b.c", "pasword": "x"}))).await;
    login.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(login.error_fields().contains(&"pasword".to_string()), "{}", login.body);
}

#[tokio::test]
async fn an_unknown_query_name_is_refused_and_filter_lists_are_bounded() {
    let stack = TestStack::new().await;
    let user = stack.signup("Query").await;
    let token = user["access_token"].as_str();
    let typo = stack.call(Method::GET, "/v1/tasks?statsu=done", token, None).await;
    typo.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(typo.error_fields(), ["statsu"]);
    assert!(typo.body["errors"][0]["message"].as_str().unwrap().contains("did you mean status?"), "{}", typo.body);
    for path in
        ["/v1/activity?entity=x", "/v1/notifications?read=true", "/v1/templates?page=2", "/v1/trash?sort=newest"]
    {
        let response = stack.call(Method::GET, path, token, None).await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", response.body);
    }
    let many = vec!["todo"; 101].join(",");
    let response = stack.call(Method::GET, &format!("/v1/tasks?status={many}"), token, None).await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.error_fields(), ["status"]);
    let twice = stack.call(Method::GET, "/v1/tasks?status=done&status=todo", token, None).await;
    twice.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn a_cursor_of_one_list_is_refused_by_another() {
    let stack = TestStack::new().await;
    let user = stack.signup("Cursors").await;
    let token = user["access_token"].as_str();
    for title in ["a", "b", "c"] {
        let created = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": title}))).await;
        assert_eq!(created.status, StatusCode::CREATED);
    }
    let page = stack.call(Method::GET, "/v1/tasks?limit=2", token, None).await;
    let cursor = page.body["next_cursor"].as_str().expect("a second page").to_string();
    let next = stack.call(Method::GET, &format!("/v1/tasks?limit=2&cursor={cursor}"), token, None).await;
    assert_eq!(next.body["items"].as_array().unwrap().len(), 1);
    let other_order = stack.call(Method::GET, &format!("/v1/tasks?sort=due&cursor={cursor}"), token, None).await;
    other_order.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    for list in ["/v1/activity", "/v1/notifications", "/v1/templates"] {
        let response = stack.call(Method::GET, &format!("{list}?cursor={cursor}"), token, None).await;
        response.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    }
}

#[tokio::test]
async fn an_id_that_is_not_one_of_ours_is_not_found_before_any_read() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Ids").await;
    let token = user["access_token"].as_str();
    let task = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Typed"}))).await.body;
    let before = stack.round_trips("api-tasks");
    for path in ["/v1/tasks/not-an-id", "/v1/tasks/42/notes", "/v1/tasks/..%2F..%2Fetc/reminders", "/v1/templates/x"] {
        let method = if path.starts_with("/v1/templates") { Method::DELETE } else { Method::GET };
        stack.call(method, path, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(stack.round_trips("api-tasks"), before, "a malformed id costs no read");
    let lower = format!("/v1/tasks/{}", task["id"].as_str().unwrap().to_lowercase());
    assert_eq!(stack.call(Method::GET, &lower, token, None).await.status, StatusCode::OK, "ids are read in any case");
    let notification = stack.call(Method::DELETE, "/v1/notifications/nope", token, None).await;
    notification.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

/// Every 201 says where the new object lives (`Location`), with its `ETag`.
#[tokio::test]
async fn a_created_object_answers_its_location() {
    let stack = TestStack::new().await;
    let user = stack.signup("Located").await;
    let token = user["access_token"].as_str();
    let task = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Here"}))).await;
    let task_id = task.body["id"].as_str().unwrap().to_string();
    assert_eq!(task.header("location"), Some(format!("/v1/tasks/{task_id}").as_str()));
    let note = stack.call(Method::POST, &format!("/v1/tasks/{task_id}/notes"), token, Some(json!({"body": "n"}))).await;
    let note_id = note.body["id"].as_str().unwrap();
    assert_eq!(note.header("location"), Some(format!("/v1/tasks/{task_id}/notes/{note_id}").as_str()));
    let copy = stack.call(Method::POST, &format!("/v1/tasks/{task_id}/duplicate"), token, None).await;
    assert_eq!(copy.header("location"), Some(format!("/v1/tasks/{}", copy.body["id"].as_str().unwrap()).as_str()));
    let body = json!({"name": "Here again", "task_id": task_id});
    let template = stack.call(Method::POST, "/v1/templates", token, Some(body)).await;
    assert_eq!(template.status, StatusCode::CREATED, "{}", template.body);
    let template_id = template.body["id"].as_str().unwrap();
    assert_eq!(template.header("location"), Some(format!("/v1/templates/{template_id}").as_str()));
    for created in [&task, &note, &copy, &template] {
        assert_eq!(created.status, StatusCode::CREATED);
        assert!(created.header("etag").is_some());
    }
}
