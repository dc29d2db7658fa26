//! Profile and sessions (api-account).

use flowday_tests::{PASSWORD, TestStack};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn patch_me_changes_only_what_is_sent_and_bumps_the_version() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Olga").await;
    let token = signup["access_token"].as_str();
    let me = stack.call(Method::GET, "/v1/me", token, None).await;
    assert_eq!(me.header("etag"), Some("\"1\""));
    assert_eq!(me.body["language"], "en");

    let patched = stack
        .call(
            Method::PATCH,
            "/v1/me",
            token,
            Some(json!({"timezone": "Asia/Tokyo", "preferences": {"theme": "dark", "week_starts_on": 1}})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.header("etag"), Some("\"2\""));
    assert_eq!(patched.body["timezone"], "Asia/Tokyo");
    assert_eq!(patched.body["name"], "Olga", "unchanged");
    assert_eq!(patched.body["preferences"], json!({"theme": "dark", "week_starts_on": 1}));
    assert_eq!(stack.call(Method::GET, "/v1/me", token, None).await.body, patched.body);
}

#[tokio::test]
async fn a_stale_if_match_is_412_with_the_current_profile() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Pia").await;
    let token = signup["access_token"].as_str();
    // Two clients read version 1; both write.
    let first =
        stack.call_with(Method::PATCH, "/v1/me", token, Some(json!({"name": "Pia A"})), &[("if-match", "\"1\"")]).await;
    assert_eq!(first.status, StatusCode::OK);
    let second =
        stack.call_with(Method::PATCH, "/v1/me", token, Some(json!({"name": "Pia B"})), &[("if-match", "\"1\"")]).await;
    second.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(second.body["current"]["name"], "Pia A");
    assert_eq!(second.body["current"]["version"], 2);
    let bad =
        stack.call_with(Method::PATCH, "/v1/me", token, Some(json!({"name": "x"})), &[("if-match", "yesterday")]).await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid_if_match");
}

#[tokio::test]
async fn invalid_profile_changes_are_named_and_nothing_changes() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Quinn").await;
    let token = signup["access_token"].as_str();
    let response = stack
        .call(
            Method::PATCH,
            "/v1/me",
            token,
            Some(json!({"name": "Quinn 2", "timezone": "Nowhere/Land", "language": "??", "preferences": [1, 2]})),
        )
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(fields, ["language", "preferences", "timezone"]);
    let me = stack.call(Method::GET, "/v1/me", token, None).await;
    assert_eq!((me.body["name"].as_str(), me.body["version"].as_u64()), (Some("Quinn"), Some(1)));
    let empty = stack.call(Method::PATCH, "/v1/me", token, Some(json!({}))).await;
    empty.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let wrong_type = stack.call(Method::PATCH, "/v1/me", token, Some(json!({"name": 42}))).await;
    wrong_type.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(wrong_type.error_fields(), ["name"]);
}

#[tokio::test]
async fn sessions_are_listed_and_one_can_be_revoked() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Rae").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let laptop = stack
        .call_with(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
            &[("user-agent", "Flowday-Mac/2.1")],
        )
        .await
        .body;
    let token = signup["access_token"].as_str();
    let list = stack.call(Method::GET, "/v1/me/sessions", token, None).await;
    assert_eq!(list.status, StatusCode::OK);
    let items = list.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(list.body["next_cursor"], serde_json::Value::Null);
    let current: Vec<_> = items.iter().filter(|item| item["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["method"], "signup");
    let laptop_session = items.iter().find(|item| item["current"] == false).unwrap();
    assert_eq!(laptop_session["user_agent"], "Flowday-Mac/2.1");
    for field in ["id", "created_at", "last_used_at"] {
        assert!(laptop_session[field].is_string());
    }

    let path = format!("/v1/me/sessions/{}", laptop_session["id"].as_str().unwrap());
    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    stack.call(Method::DELETE, &path, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let refresh = stack.refresh(&laptop["refresh_token"]).await;
    refresh.assert_problem(StatusCode::UNAUTHORIZED, "invalid_refresh_token");
}

#[tokio::test]
async fn another_users_session_is_404_and_survives() {
    let stack = TestStack::new().await;
    let alice = stack.signup("Alice").await;
    let bob = stack.signup("Bob").await;
    let alice_sessions = stack.call(Method::GET, "/v1/me/sessions", alice["access_token"].as_str(), None).await;
    let alice_session = alice_sessions.body["items"][0]["id"].as_str().unwrap().to_string();

    let attempt = stack
        .call(Method::DELETE, &format!("/v1/me/sessions/{alice_session}"), bob["access_token"].as_str(), None)
        .await;
    attempt.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let missing = stack
        .call(Method::DELETE, &format!("/v1/me/sessions/{}", ulid::Ulid::new()), bob["access_token"].as_str(), None)
        .await;
    assert_eq!(attempt.body["detail"], missing.body["detail"], "indistinguishable from a missing one");
    let bob_sees = stack.call(Method::GET, "/v1/me/sessions", bob["access_token"].as_str(), None).await;
    assert!(bob_sees.body["items"].as_array().unwrap().iter().all(|item| item["id"] != alice_session.as_str()));
    let refresh = stack.refresh(&alice["refresh_token"]).await;
    assert_eq!(refresh.status, StatusCode::OK, "Alice's session still works");
}
