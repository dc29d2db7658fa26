//! The notification-worker binary, run as Lambda runs it, on the SQS batch of events/notification-worker.

use chrono::{TimeDelta, Utc};
use flowday_tests::{TestStack, event};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_notification-worker");

#[tokio::test]
async fn a_batch_is_delivered_record_by_record_and_only_the_malformed_one_fails() {
    let stack = TestStack::new().await;
    let user = stack.signup("Worker").await;
    let token = user["access_token"].as_str();
    let user_id = user["user"]["id"].as_str().unwrap();
    let due = Utc::now() + TimeDelta::days(1);
    let due_text = due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let task = stack
        .call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Pick up keys", "due_at": due_text})))
        .await
        .body;
    let task_id = task["id"].as_str().unwrap();
    let path = format!("/v1/tasks/{task_id}/reminders");
    let reminder = stack.call(Method::POST, &path, token, Some(json!({"minutes_before": 60}))).await;
    assert_eq!(reminder.status, StatusCode::CREATED, "{}", reminder.body);
    let fire_at = (due - TimeDelta::minutes(60)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let values = [
        ("user_id", user_id),
        ("task_id", task_id),
        ("reminder_id", reminder.body["id"].as_str().unwrap()),
        ("occurrence", due_text.as_str()),
        ("fire_at", fire_at.as_str()),
    ];

    let lambda = stack.lambda(BINARY, "notification-worker").await;
    let batch = event("notification-worker", "batch", &values);
    let answer: Value = lambda.invoke(batch.clone()).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "0b7c9a5e-1f0c-4d8e-9a57-3c2a5d4b6e03"}]}));
    let again: Value = lambda.invoke(batch).await.unwrap();
    assert_eq!(again, answer, "a redelivered batch fails the same record and delivers nothing twice");
    let inbox = stack.call(Method::GET, "/v1/notifications", token, None).await.body;
    let titles: Vec<&str> =
        inbox["items"].as_array().unwrap().iter().map(|item| item["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Pick up keys"], "the reminder once; no digest, as it is off by default");
}
