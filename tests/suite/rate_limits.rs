//! Rate limits per client and tier, mounted as floods: one address hammering the sign-in routes,
//! one account hammering the API, one mailbox flooded with reset emails. Each flood is refused
//! with 429 and `Retry-After`, while other clients go on.

use std::collections::HashMap;

use flowday_tests::{PASSWORD, TestResponse, TestStack, unique_email};
use http::{Method, StatusCode};
use serde_json::json;

async fn stack_with(budgets: &[(&str, &str)]) -> TestStack {
    let parameters: HashMap<String, String> =
        budgets.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    TestStack::with_parameters(parameters).await
}

/// Waits for a fresh minute when this one is nearly over, so a flood falls in one window.
async fn fresh_window() {
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
}

async fn login_from(stack: &TestStack, address: &str, email: &str) -> TestResponse {
    let body = json!({"email": email, "password": "not the password"});
    stack.call_with(Method::POST, "/v1/auth/login", None, Some(body), &[("x-forwarded-for", address)]).await
}

#[tokio::test]
async fn one_address_flooding_the_sign_in_routes_is_held_back_and_no_other() {
    let stack = stack_with(&[("RateLimitAnonymousPerMinute", "5")]).await;
    fresh_window().await;
    let email = unique_email("Target");
    for _ in 0..5 {
        let answer = login_from(&stack, "198.51.100.7", &email).await;
        assert_ne!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.body);
        assert_eq!(answer.header("ratelimit-policy"), Some("\"address\";q=5;w=60"));
    }
    let held = login_from(&stack, "198.51.100.7", &email).await;
    held.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = held.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(held.header("ratelimit").is_some_and(|value| value.starts_with("\"address\";r=0;t=")));
    // Another client is not held back by this one.
    let other = login_from(&stack, "198.51.100.8", &unique_email("Other")).await;
    other.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn an_account_spends_its_tiers_budget_and_a_paid_tier_has_more() {
    let stack = stack_with(&[("RateLimitFreePerMinute", "5"), ("RateLimitProPerMinute", "50")]).await;
    let free = stack.signup("Free").await;
    let paid = stack.signup("Paid").await;
    let paid_id = paid["user"]["id"].as_str().unwrap();
    stack.set_tier(paid_id, "pro").await;
    // A new session reads the tier it signs in with.
    let paid = stack.login(paid["user"]["email"].as_str().unwrap(), PASSWORD).await.body;
    fresh_window().await;

    let token = free["access_token"].as_str();
    for _ in 0..5 {
        let answer = stack.call(Method::GET, "/v1/tasks", token, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.header("ratelimit-policy"), Some("\"user\";q=5;w=60"));
    }
    let held = stack.call(Method::GET, "/v1/me", token, None).await;
    held.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(held.header("retry-after").is_some());
    // Changing address does not reset an account's budget.
    let moved = stack.call_with(Method::GET, "/v1/tasks", token, None, &[("x-forwarded-for", "192.0.2.99")]).await;
    moved.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    for _ in 0..10 {
        let answer = stack.call(Method::GET, "/v1/tasks", paid["access_token"].as_str(), None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.header("ratelimit-policy"), Some("\"user\";q=50;w=60"));
    }
}

#[tokio::test]
async fn a_mailbox_gets_a_few_reset_emails_an_hour_whether_or_not_it_has_an_account() {
    let stack = stack_with(&[("AccountEmailsPerHour", "2")]).await;
    let known = stack.signup("Flooded").await;
    let known = known["user"]["email"].as_str().unwrap().to_string();
    let unknown = unique_email("Nobody");
    for email in [&known, &unknown] {
        for _ in 0..2 {
            let answer = stack.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": email}))).await;
            assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
        }
        let held = stack.call(Method::POST, "/v1/auth/password-reset", None, Some(json!({"email": email}))).await;
        held.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert!(held.header("retry-after").is_some());
    }
    assert_eq!(stack.run_notification_worker().await, 4, "two per address were queued");
    let resets = stack.emails_to(&known).await.iter().filter(|mail| !mail.subject.contains("Confirm")).count();
    assert_eq!(resets, 2, "the third reset sent nothing");
}
