//! Idempotency-Key on mutations: replay, reuse with another body, in flight, per caller.

use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::json;
use shared::auth::opaque::sha256_hex;
use shared::http::idempotency::fingerprint;

#[tokio::test]
async fn a_repeated_mutation_is_replayed_not_run_again() {
    let stack = TestStack::new().await;
    let user = stack.signup("Ivy").await;
    let token = user["access_token"].as_str();
    let body = json!({"name": "Ivy Two"});
    let key = [("idempotency-key", "patch-name-1")];
    let first = stack.call_with(Method::PATCH, "/v1/me", token, Some(body.clone()), &key).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = stack.call_with(Method::PATCH, "/v1/me", token, Some(body), &key).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("content-type"), Some("application/json"));
    let me = stack.call(Method::GET, "/v1/me", token, None).await;
    assert_eq!(me.body["version"], 2, "the change ran once");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_changes_nothing() {
    let stack = TestStack::new().await;
    let user = stack.signup("Jon").await;
    let token = user["access_token"].as_str();
    let key = [("idempotency-key", "k-1")];
    stack.call_with(Method::PATCH, "/v1/me", token, Some(json!({"name": "A"})), &key).await;
    let other = stack.call_with(Method::PATCH, "/v1/me", token, Some(json!({"name": "B"})), &key).await;
    other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(stack.call(Method::GET, "/v1/me", token, None).await.body["name"], "A");
}

#[tokio::test]
async fn a_key_still_in_flight_is_409() {
    let stack = TestStack::new().await;
    let user = stack.signup("Kai").await;
    let token = user["access_token"].as_str();
    let user_id = user["user"]["id"].as_str().unwrap();
    let body = json!({"name": "Kai Two"});
    // Another invocation claimed the key and is still running.
    let print = fingerprint(&Method::PATCH, "/v1/me", body.to_string().as_bytes());
    stack
        .store("api-account")
        .idempotency()
        .claim_idempotency_key(user_id, &sha256_hex("slow-1"), &print)
        .await
        .unwrap();
    let response = stack.call_with(Method::PATCH, "/v1/me", token, Some(body), &[("idempotency-key", "slow-1")]).await;
    response.assert_problem(StatusCode::CONFLICT, "idempotency_in_progress");
    assert_eq!(response.header("retry-after"), Some("1"));
    assert_eq!(stack.call(Method::GET, "/v1/me", token, None).await.body["version"], 1);
}

#[tokio::test]
async fn keys_belong_to_their_caller_and_must_be_well_formed() {
    let stack = TestStack::new().await;
    let ann = stack.signup("Ann").await;
    let ben = stack.signup("Ben").await;
    let key = [("idempotency-key", "shared-key")];
    let body = json!({"name": "Renamed"});
    let for_ann =
        stack.call_with(Method::PATCH, "/v1/me", ann["access_token"].as_str(), Some(body.clone()), &key).await;
    let for_ben = stack.call_with(Method::PATCH, "/v1/me", ben["access_token"].as_str(), Some(body), &key).await;
    assert_eq!(for_ben.header("idempotent-replayed"), None);
    assert_ne!(for_ann.body["id"], for_ben.body["id"]);

    let bad = stack
        .call_with(
            Method::PATCH,
            "/v1/me",
            ann["access_token"].as_str(),
            Some(json!({})),
            &[("idempotency-key", &"x".repeat(300))],
        )
        .await;
    bad.assert_problem(StatusCode::BAD_REQUEST, "invalid_idempotency_key");
}

/// The attack: a client (or someone replaying its request) sends a bearer token and an
/// Idempotency-Key to a route that answers fresh tokens. Those answers must never be stored, so a
/// replay hands out no tokens of the first answer.
#[tokio::test]
async fn routes_that_answer_fresh_tokens_never_store_or_replay_them() {
    let stack = TestStack::new().await;
    let user = stack.signup("Tokens").await;
    let token = user["access_token"].as_str();
    let email = user["user"]["email"].as_str().unwrap();
    let key = [("idempotency-key", "login-1")];
    let body = json!({"email": email, "password": flowday_tests::PASSWORD});
    let first = stack.call_with(Method::POST, "/v1/auth/login", token, Some(body.clone()), &key).await;
    let again = stack.call_with(Method::POST, "/v1/auth/login", token, Some(body), &key).await;
    assert_eq!((first.status, again.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(again.header("idempotent-replayed"), None, "a login is never replayed");
    assert_ne!(first.body["refresh_token"], again.body["refresh_token"], "each login opens its own session");

    let refresh = json!({"refresh_token": again.body["refresh_token"]});
    let key = [("idempotency-key", "refresh-1")];
    let rotated = stack.call_with(Method::POST, "/v1/auth/refresh", token, Some(refresh.clone()), &key).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let replayed = stack.call_with(Method::POST, "/v1/auth/refresh", token, Some(refresh), &key).await;
    assert_eq!(replayed.header("idempotent-replayed"), None, "nothing of the first answer was stored");
    // Within its grace the retry derives the same successor again (tests/suite/tokens.rs), from
    // the session, not from a stored answer.
    assert_eq!(replayed.status, StatusCode::OK);
    assert_eq!(replayed.body["refresh_token"], rotated.body["refresh_token"]);
}

/// An answer that says "try again" (here a 401 for an ended session's token) is not stored: the
/// same key, sent again with a live token, runs the request instead of replaying the refusal.
#[tokio::test]
async fn an_answer_that_says_try_again_is_not_replayed() {
    let stack = TestStack::new().await;
    let user = stack.signup("Retry").await;
    let email = user["user"]["email"].as_str().unwrap();
    let ended = stack.login(email, flowday_tests::PASSWORD).await.body;
    let out = stack.call(Method::POST, "/v1/auth/logout", ended["access_token"].as_str(), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let key = [("idempotency-key", "task-after-sign-in")];
    let body = json!({"title": "Write the report"});
    let refused =
        stack.call_with(Method::POST, "/v1/tasks", ended["access_token"].as_str(), Some(body.clone()), &key).await;
    refused.assert_problem(StatusCode::UNAUTHORIZED, "session_ended");
    let created = stack.call_with(Method::POST, "/v1/tasks", user["access_token"].as_str(), Some(body), &key).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.header("idempotent-replayed"), None);
}
