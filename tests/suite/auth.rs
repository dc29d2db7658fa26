//! Signup and login.

use flowday_tests::{PASSWORD, TestStack, unique_email};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn signup_answers_the_auth_result_and_the_tokens_work() {
    let stack = TestStack::new().await;
    let email = unique_email("Ada");
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(json!({"email": format!("  {}  ", email.to_uppercase()), "password": PASSWORD, "name": "Ada", "timezone": "Europe/Berlin"})),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    let body = &response.body;
    assert_eq!(body["user"]["email"], email, "email is normalised");
    assert_eq!(body["user"]["timezone"], "Europe/Berlin");
    assert_eq!(body["user"]["tier"], "free");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    for field in ["id", "name", "created_at"] {
        assert!(body["user"][field].is_string(), "user.{field}");
    }
    let me = stack.call(Method::GET, "/v1/me", body["access_token"].as_str(), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], body["user"]["id"]);
    assert_eq!(me.body["email_verified"], false);
}

#[tokio::test]
async fn a_taken_email_is_409_in_any_case_and_spacing() {
    let stack = TestStack::new().await;
    let first = stack.signup("Bob").await;
    let email = first["user"]["email"].as_str().unwrap().to_uppercase();
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": "another good password", "name": "Bob 2", "timezone": "UTC"})),
        )
        .await;
    response.assert_problem(StatusCode::CONFLICT, "email_taken");
    // A look-alike in fullwidth letters is the same address (NFKC), so the same account.
    let fullwidth: String = first["user"]["email"]
        .as_str()
        .unwrap()
        .chars()
        .map(|c| if c.is_ascii_lowercase() { char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap() } else { c })
        .collect();
    let body = json!({"email": fullwidth, "password": "another good password", "name": "Bob 3", "timezone": "UTC"});
    let look_alike = stack.call(Method::POST, "/v1/auth/signup", None, Some(body)).await;
    look_alike.assert_problem(StatusCode::CONFLICT, "email_taken");
}

#[tokio::test]
async fn concurrent_signups_with_one_email_create_one_account() {
    let stack = TestStack::new().await;
    let email = unique_email("Race");
    let attempts = (0..5).map(|index| {
        let body = json!({"email": email, "password": PASSWORD, "name": format!("Racer {index}"), "timezone": "UTC"});
        stack.call(Method::POST, "/v1/auth/signup", None, Some(body))
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|response| response.status == StatusCode::CREATED).count();
    let conflicts = results.iter().filter(|response| response.status == StatusCode::CONFLICT).count();
    assert_eq!((created, conflicts), (1, 4));
}

#[tokio::test]
async fn signup_names_every_invalid_field_and_writes_nothing() {
    let stack = TestStack::new().await;
    let email = unique_email("Bad");
    let response = stack
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(json!({"email": email, "password": "password1", "timezone": "Mars/Olympus", "language": "Klingon"})),
        )
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(fields, ["language", "name", "password", "timezone"]);
    let login = stack.login(email, "password1").await;
    login.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");

    let short = stack
        .call(
            Method::POST,
            "/v1/auth/signup",
            None,
            Some(json!({"email": "nope", "password": "short", "name": "N", "timezone": "UTC"})),
        )
        .await;
    let mut fields = short.error_fields();
    fields.sort();
    assert_eq!(fields, ["email", "password"]);
}

#[tokio::test]
async fn login_succeeds_and_unknown_email_and_wrong_password_look_the_same() {
    let stack = TestStack::new().await;
    let user = stack.signup("Cleo").await;
    let email = user["user"]["email"].as_str().unwrap();

    let ok = stack.login(email, PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["user"]["id"], user["user"]["id"]);
    assert_ne!(ok.body["refresh_token"], user["refresh_token"], "a new session");

    let wrong = stack.login(email, "not the password").await;
    let unknown = stack.login(unique_email("nobody"), PASSWORD).await;
    wrong.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    unknown.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let stack = TestStack::new().await;
    let user = stack.signup("Dana").await;
    let email = user["user"]["email"].as_str().unwrap();
    for _ in 0..5 {
        let response = stack.login(email, "wrong password!").await;
        response.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let locked = stack.login(email, PASSWORD).await;
    locked.assert_problem(StatusCode::LOCKED, "account_locked");
    let retry_after: u64 = locked.header("retry-after").expect("retry-after").parse().unwrap();
    assert!((800..=900).contains(&retry_after), "retry-after {retry_after}");
}

#[tokio::test]
async fn failures_below_the_limit_are_forgotten_after_a_good_login() {
    let stack = TestStack::new().await;
    let user = stack.signup("Eve").await;
    let email = user["user"]["email"].as_str().unwrap();
    let login = |password: &'static str| stack.login(email, password);
    for _ in 0..4 {
        assert_eq!(login("wrong password!").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(PASSWORD).await.status, StatusCode::OK);
    for _ in 0..4 {
        assert_eq!(login("wrong password!").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(PASSWORD).await.status, StatusCode::OK, "the count restarted after the good login");
}
