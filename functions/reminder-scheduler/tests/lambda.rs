//! The reminder-scheduler binary, run as Lambda runs it, on the events of events/reminder-scheduler.

use chrono::{TimeDelta, Utc};
use flowday_tests::{TestStack, event};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_reminder-scheduler");

#[tokio::test]
async fn the_minute_run_sends_what_came_due_and_an_operator_can_send_a_range_again() {
    let stack = TestStack::new().await;
    let user = stack.signup("Sched").await;
    let token = user["access_token"].as_str();
    // Far enough ahead to still be in the future after a signup and a task on a loaded machine.
    let at = Utc::now() + TimeDelta::seconds(4);
    let due = (at + TimeDelta::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let task =
        stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Stretch", "due_at": due}))).await.body;
    let path = format!("/v1/tasks/{}/reminders", task["id"].as_str().unwrap());
    let instant = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let reminder = stack.call(Method::POST, &path, token, Some(json!({"at": instant}))).await;
    assert_eq!(reminder.status, StatusCode::CREATED, "{}", reminder.body);
    // Entries become visible a few seconds after their write; the run reads up to two seconds ago.
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;

    let lambda = stack.lambda(BINARY, "reminder-scheduler").await;
    let report: Value = lambda.invoke(event("reminder-scheduler", "every-minute", &[])).await.unwrap();
    // The reminder, and the due-soon alert of a task due within a day (on time: due since its write).
    assert_eq!((report["sent"].as_u64(), report["late"].as_u64()), (Some(2), Some(0)), "{report}");
    let again: Value = lambda.invoke(event("reminder-scheduler", "every-minute", &[])).await.unwrap();
    assert_eq!(again["sent"], 0, "the watermark moved past it: {again}");
    let since = (at - TimeDelta::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let resent: Value = lambda.invoke(event("reminder-scheduler", "catch-up", &[("since", &since)])).await.unwrap();
    assert_eq!(resent["sent"], 2, "{resent}");
    let mut kinds: Vec<String> =
        stack.drain_queue("NotificationsQueue").await.iter().map(|message| message["kind"].to_string()).collect();
    kinds.sort();
    assert_eq!(kinds, ["\"task_due_soon\"", "\"task_due_soon\"", "\"task_reminder\"", "\"task_reminder\""]);
}
