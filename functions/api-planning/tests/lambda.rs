//! The api-planning binary, run as Lambda runs it, on every event of events/api-planning: the
//! settings read and written, a plan proposed for tomorrow, read back, rejected, proposed again
//! and accepted.

use flowday_tests::{TestStack, event, invoke};

const BINARY: &str = env!("CARGO_BIN_EXE_api-planning");

#[tokio::test]
async fn every_api_planning_event_is_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let task = serde_json::json!({"title": "Write", "estimate_minutes": 45, "priority": "high"});
    stack.create_task(Some(token), task).await;
    let tomorrow = (chrono::Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive()
        + chrono::Duration::days(1))
    .to_string();
    let lambda = stack.lambda(BINARY, "api-planning").await;
    let call = |name: &str, plan_id: &str| {
        let key = ulid::Ulid::new().to_string();
        let values = [
            ("access_token", token),
            ("idempotency_key", key.as_str()),
            ("date", tomorrow.as_str()),
            ("plan_id", plan_id),
        ];
        invoke(&lambda, event("api-planning", name, &values))
    };

    let settings = call("get-settings", "").await;
    assert_eq!((settings.status, settings.header("etag")), (200, Some("\"0\"")), "{}", settings.body);
    let put = call("put-settings", "").await;
    assert_eq!((put.status, put.body["max_focus_minutes"].as_u64()), (200, Some(300)), "{}", put.body);
    let first = call("propose-plan", "").await;
    assert_eq!(first.status, 201, "{}", first.body);
    let read = call("get-plan", "").await;
    assert_eq!((read.status, read.body["id"].clone()), (200, first.body["id"].clone()), "{}", read.body);
    let rejected = call("reject-plan", first.body["id"].as_str().unwrap()).await;
    assert_eq!((rejected.status, rejected.body["status"].as_str()), (200, Some("rejected")), "{}", rejected.body);
    let second = call("propose-plan", "").await;
    let accepted = call("accept-plan", second.body["id"].as_str().unwrap()).await;
    assert_eq!((accepted.status, accepted.body["status"].as_str()), (200, Some("accepted")), "{}", accepted.body);
    lambda.stop().await;
}
