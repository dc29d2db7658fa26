//! The api-auth binary, run as Lambda runs it, on every event of events/api-auth.

use std::collections::HashMap;

use flowday_tests::google::{CLIENT_ID, FakeGoogle};
use flowday_tests::{LambdaAnswer, PASSWORD, TestStack, event, invoke, unique_email};

const BINARY: &str = env!("CARGO_BIN_EXE_api-auth");

#[tokio::test]
async fn every_api_auth_event_is_answered_by_the_lambda_binary() {
    let google = FakeGoogle::start().await;
    let stack = TestStack::with_parameters(HashMap::from([
        ("GoogleClientId".to_string(), CLIENT_ID.to_string()),
        ("GoogleJwksUrl".to_string(), google.jwks_url()),
    ]))
    .await;
    let lambda = stack.lambda(BINARY, "api-auth").await;
    let email = unique_email("lambda");
    let run = |name: &'static str, values: Vec<(&'static str, String)>| {
        let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let event = event("api-auth", name, &values);
        async { invoke(&lambda, event).await }
    };

    let health = run("health", vec![]).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["function"], "api-auth");
    assert_eq!(health.header("x-request-id"), Some("health-apigw-0001"), "API Gateway's request id is used");

    let openapi = run("openapi", vec![]).await;
    assert_eq!(openapi.status, 200);
    assert_eq!(openapi.body["openapi"], "3.1.0", "the binary serves the document it was built with");

    let jwks = run("jwks", vec![]).await;
    assert_eq!(jwks.body["keys"][0]["alg"], "RS256");

    let invalid = run("signup-invalid", vec![]).await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.header("content-type"), Some("application/problem+json"));
    assert_eq!(invalid.body["errors"].as_array().map(Vec::len), Some(4));

    let signup = run("signup", vec![("email", email.clone()), ("password", PASSWORD.into())]).await;
    assert_eq!(signup.status, 201, "{}", signup.body);
    let login = run("login", vec![("email", email.clone()), ("password", PASSWORD.into())]).await;
    assert_eq!(login.status, 200);
    let refreshed = run("refresh", vec![("refresh_token", text(&signup, "refresh_token"))]).await;
    assert_eq!(refreshed.status, 200);

    let verification = stack.emails_to(&email).await.into_iter().find(|mail| mail.subject.contains("Confirm")).unwrap();
    let verified = run("verify-email", vec![("token", verification.token())]).await;
    assert_eq!((verified.status, &verified.body["email_verified"]), (200, &serde_json::json!(true)));

    let logout = run("logout", vec![("access_token", text(&login, "access_token"))]).await;
    assert_eq!(logout.status, 204);
    let changed = run(
        "password-change",
        vec![
            ("access_token", text(&refreshed, "access_token")),
            ("password", PASSWORD.into()),
            ("new_password", "second good password".into()),
        ],
    )
    .await;
    assert_eq!(changed.status, 204, "{}", changed.body);

    let reset = run("password-reset", vec![("email", email.clone())]).await;
    assert_eq!(reset.status, 202);
    stack.run_notification_worker().await;
    let mail = stack.emails_to(&email).await.into_iter().find(|mail| mail.subject.contains("Reset")).unwrap();
    let confirmed =
        run("password-reset-confirm", vec![("token", mail.token()), ("new_password", "third good password".into())])
            .await;
    assert_eq!(confirmed.status, 204, "{}", confirmed.body);
    let relogin = run("login", vec![("email", email.clone()), ("password", "third good password".into())]).await;
    assert_eq!(relogin.status, 200);

    let id_token = google.sign(&google.claims("lambda-google-sub", &unique_email("lambda-google")));
    let google_sign_in = run("google", vec![("id_token", id_token)]).await;
    assert_eq!(google_sign_in.status, 201, "{}", google_sign_in.body);
    let failed = run("login", vec![("email", email.clone()), ("password", "a wrong password".into())]).await;
    assert_eq!(failed.status, 401);

    // The JSON logs name every request, and no password or token ever.
    let logs = lambda.logs();
    let lines: Vec<serde_json::Value> = logs.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let requests = lines.iter().filter(|line| line["message"] == "request").count();
    assert!(requests >= 13, "one log line per request, got {requests}:\n{logs}");
    assert!(lines.iter().any(|line| line["request_id"] == "signup-apigw-0001" && line["route"] == "/v1/auth/signup"));
    for secret in [
        PASSWORD.to_string(),
        "a wrong password".into(),
        "third good password".into(),
        text(&signup, "access_token"),
        text(&signup, "refresh_token"),
        text(&relogin, "refresh_token"),
        mail.token(),
        verification.token(),
    ] {
        assert!(!logs.contains(&secret), "a secret reached the logs");
    }
    lambda.stop().await;
}

fn text(answer: &LambdaAnswer, field: &str) -> String {
    answer.body[field].as_str().unwrap_or_else(|| panic!("no {field} in {}", answer.body)).to_string()
}

/// In AWS the client is API Gateway's `sourceIp`: an `X-Forwarded-For` the client writes itself
/// does not give a flooding client a fresh budget.
#[tokio::test]
async fn a_forged_forwarded_for_header_does_not_reset_the_budget() {
    let stack =
        TestStack::with_parameters(HashMap::from([("RateLimitAnonymousPerMinute".to_string(), "3".to_string())])).await;
    let lambda = stack.lambda(BINARY, "api-auth").await;
    // Near the end of a minute, start in the next one so the flood falls in one window.
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second > 50 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
    let mut answers: Vec<LambdaAnswer> = Vec::new();
    for forged in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] {
        let mut health = event("api-auth", "health", &[]);
        health["headers"]["x-forwarded-for"] = serde_json::json!(forged);
        answers.push(invoke(&lambda, health).await);
    }
    let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429], "one sourceIp, one budget");
    assert_eq!(answers[3].body["code"], "rate_limited");
    lambda.stop().await;
}
