//! Google sign-in against a fake Google that serves a real-format JWKS.

use flowday_tests::google::FakeGoogle;
use flowday_tests::{PASSWORD, TestStack, unique_email};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn google_sign_in_creates_then_finds_the_account() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    let email = unique_email("Grace");
    let token = google.sign(&google.claims("google-sub-1", &email));

    let first = stack
        .call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": token, "timezone": "America/New_York"})))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["user"]["email"], email);
    assert_eq!(first.body["user"]["name"], "Grace Hopper");
    assert_eq!(first.body["user"]["timezone"], "America/New_York");

    let second = stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": token}))).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["user"]["id"], first.body["user"]["id"]);
    let me = stack.call(Method::GET, "/v1/me", second.body["access_token"].as_str(), None).await;
    assert_eq!(me.body["email_verified"], true);
    assert_eq!(me.body["has_password"], false);
    // No password, so a password login fails like any other.
    let login = stack.login(email, PASSWORD).await;
    login.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn google_sign_in_claims_the_unverified_account_with_its_email() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    let signup = stack.signup("Hedy").await;
    let email = signup["user"]["email"].as_str().unwrap();
    let token = google.sign(&google.claims("google-sub-2", &email.to_uppercase()));
    let response = stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": token}))).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.body["user"]["id"], signup["user"]["id"]);
    let me = stack.call(Method::GET, "/v1/me", response.body["access_token"].as_str(), None).await;
    assert_eq!(me.body["google_linked"], true);
    // Nobody proved the address with that password: it went with the claim (tests/suite/takeover.rs).
    assert_eq!(me.body["has_password"], false);
}

#[tokio::test]
async fn bad_google_tokens_are_refused() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    let email = unique_email("Mallory");
    let now = chrono::Utc::now().timestamp();
    let mut cases = Vec::new();
    let mut claims = google.claims("s", &email);
    claims["aud"] = json!("someone-elses-client");
    cases.push(("wrong audience", google.sign(&claims), "invalid_google_token"));
    let mut claims = google.claims("s", &email);
    claims["iss"] = json!("https://evil.example");
    cases.push(("wrong issuer", google.sign(&claims), "invalid_google_token"));
    let mut claims = google.claims("s", &email);
    claims["exp"] = json!(now - 600);
    cases.push(("expired", google.sign(&claims), "invalid_google_token"));
    cases.push((
        "unknown key",
        google.sign_with_kid(&google.claims("s", &email), "not-a-google-key"),
        "invalid_google_token",
    ));
    let other = FakeGoogle::start().await;
    cases.push(("signed by someone else", other.sign(&google.claims("s", &email)), "invalid_google_token"));

    for (name, token, code) in cases {
        let response = stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": token}))).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}: {}", response.body);
        assert_eq!(response.body["code"], code, "{name}");
    }
    let mut unverified = google.claims("s", &email);
    unverified["email_verified"] = json!(false);
    let response =
        stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": google.sign(&unverified)}))).await;
    response.assert_problem(StatusCode::FORBIDDEN, "google_email_unverified");
    let login = stack.login(email, PASSWORD).await;
    assert_eq!(login.status, StatusCode::UNAUTHORIZED, "no account was created");
}

#[tokio::test]
async fn google_keys_are_fetched_once_and_cached() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_google(&google).await;
    for index in 0..3 {
        let token = google.sign(&google.claims(&format!("cached-{index}"), &unique_email("cache")));
        let response = stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": token}))).await;
        assert_eq!(response.status, StatusCode::CREATED);
    }
    let requests = google.server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1, "JWKS fetched once for three sign-ins");
}

#[tokio::test]
async fn google_sign_in_without_a_client_id_is_unavailable() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::new().await;
    let token = google.sign(&google.claims("s", &unique_email("x")));
    let response = stack.call(Method::POST, "/v1/auth/google", None, Some(json!({"id_token": token}))).await;
    response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "google_sign_in_disabled");
}
