//! Reminders (api-tasks) and the reminder scheduler: entries follow their task, each due entry is
//! sent once per run window, an outage is caught up and marked late.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use flowday_tests::{TestResponse, TestStack, instant, task_path};
use http::{Method, StatusCode};
use reminder_scheduler::{SchedulerEvent, run};
use serde_json::{Value, json};

async fn task_due(stack: &TestStack, token: Option<&str>, due: DateTime<Utc>) -> Value {
    let body = json!({"title": "Call the plumber", "due_at": instant(due)});
    let created = stack.call(Method::POST, "/v1/tasks", token, Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body
}

async fn remind(stack: &TestStack, token: Option<&str>, task: &Value, body: Value) -> TestResponse {
    stack.call(Method::POST, &task_path(task, "/reminders"), token, Some(body)).await
}

/// The reminder messages on the queue, as (reminder id, late).
async fn queued(stack: &TestStack) -> Vec<(String, bool)> {
    let mut found: Vec<(String, bool)> = stack
        .drain_queue("NotificationsQueue")
        .await
        .into_iter()
        .map(|message| (message["reminder_id"].as_str().unwrap().to_string(), message["late"].as_bool().unwrap()))
        .collect();
    found.sort();
    found
}

async fn schedule_run(stack: &TestStack, now: DateTime<Utc>) -> reminder_scheduler::SchedulerReport {
    let context = stack.job_state("reminder-scheduler", reminder_scheduler::state);
    run(&context, SchedulerEvent::default(), now, Duration::from_secs(50)).await.expect("the run succeeds")
}

/// Sets the scheduler's watermark, as if its last run had ended at `at`.
async fn set_watermark(stack: &TestStack, at: DateTime<Utc>) {
    let context = stack.job_state("reminder-scheduler", reminder_scheduler::state);
    assert!(context.store.schedule().advance_watermark(None, at).await.unwrap());
}

#[tokio::test]
async fn reminders_are_listed_with_when_they_go_off_and_are_validated() {
    let stack = TestStack::new().await;
    let user = stack.signup("Kai").await;
    let token = user["access_token"].as_str();
    let due = Utc::now() + TimeDelta::days(2);
    let task = task_due(&stack, token, due).await;
    let relative = remind(&stack, token, &task, json!({"minutes_before": 30})).await;
    assert_eq!(relative.status, StatusCode::CREATED, "{}", relative.body);
    assert_eq!(relative.body["fire_at"], instant(due - TimeDelta::minutes(30)));
    let at = Utc::now() + TimeDelta::hours(5);
    let absolute = remind(&stack, token, &task, json!({"at": instant(at)})).await;
    assert_eq!(absolute.body["fire_at"], instant(at));
    let listed = stack.call(Method::GET, &task_path(&task, "/reminders"), token, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let read = stack.call(Method::GET, &task_path(&task, ""), token, None).await;
    assert_eq!(read.body["version"], 3, "a reminder is a change of its task");

    let past = remind(&stack, token, &task, json!({"at": "2020-01-01T00:00:00Z"})).await;
    past.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(past.error_fields(), ["at"]);
    let both = remind(&stack, token, &task, json!({"at": instant(at), "minutes_before": 5})).await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
    let undated = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Someday"}))).await.body;
    let relative_to_nothing = remind(&stack, token, &undated, json!({"minutes_before": 10})).await;
    assert_eq!(relative_to_nothing.error_fields(), ["minutes_before"]);

    for minutes in 0..8 {
        let created = remind(&stack, token, &task, json!({"minutes_before": minutes})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let eleventh = remind(&stack, token, &task, json!({"minutes_before": 99})).await;
    eleventh.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(eleventh.body["limit"], "reminders_per_task");

    let other = stack.signup("Lee").await;
    let theirs = other["access_token"].as_str();
    remind(&stack, theirs, &task, json!({"minutes_before": 5}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let reminder_path = format!("{}/{}", task_path(&task, "/reminders"), relative.body["id"].as_str().unwrap());
    stack.call(Method::DELETE, &reminder_path, theirs, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stack.call(Method::DELETE, &reminder_path, token, None).await.status, StatusCode::NO_CONTENT);
    stack.call(Method::DELETE, &reminder_path, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let listed = stack.call(Method::GET, &task_path(&task, "/reminders"), token, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 9);
}

#[tokio::test]
async fn a_due_reminder_is_sent_once_and_follows_its_task() {
    let stack = TestStack::new().await;
    let user = stack.signup("Mia").await;
    let token = user["access_token"].as_str();
    let due = Utc::now() + TimeDelta::days(3);
    let task = task_due(&stack, token, due).await;
    let reminder = remind(&stack, token, &task, json!({"minutes_before": 60})).await.body;
    let fire_at = due - TimeDelta::minutes(60);
    set_watermark(&stack, fire_at - TimeDelta::minutes(1)).await;

    // The due time moves an hour later: so does the reminder. At its old time nothing is sent.
    let later = json!({"due_at": instant(due + TimeDelta::hours(1))});
    assert_eq!(stack.call(Method::PATCH, &task_path(&task, ""), token, Some(later)).await.status, StatusCode::OK);
    let report = schedule_run(&stack, fire_at + TimeDelta::seconds(30)).await;
    assert_eq!(report.sent, 0, "{report:?}");
    let moved = fire_at + TimeDelta::hours(1);
    let report = schedule_run(&stack, moved + TimeDelta::seconds(30)).await;
    assert_eq!((report.sent, report.late), (1, 0), "{report:?}");
    assert_eq!(queued(&stack).await, [(reminder["id"].as_str().unwrap().to_string(), false)]);

    // The same minute again: the watermark has moved past it.
    let again = schedule_run(&stack, moved + TimeDelta::seconds(40)).await;
    assert_eq!(again.sent, 0);
    assert!(queued(&stack).await.is_empty());
}

#[tokio::test]
async fn after_an_outage_the_next_run_sends_what_was_missed_marked_late() {
    let stack = TestStack::new().await;
    let user = stack.signup("Nia").await;
    let token = user["access_token"].as_str();
    let due = Utc::now() + TimeDelta::days(1) + TimeDelta::hours(4);
    let task = task_due(&stack, token, due).await;
    let early = remind(&stack, token, &task, json!({"minutes_before": 120})).await.body;
    let late = remind(&stack, token, &task, json!({"minutes_before": 30})).await.body;
    let last_run = due - TimeDelta::hours(3);
    set_watermark(&stack, last_run).await;
    // Nothing ran for two and a quarter hours; the run at due - 45 min catches up.
    let report = schedule_run(&stack, due - TimeDelta::minutes(45)).await;
    assert!(report.complete);
    assert_eq!(report.sent, 1, "the reminder two hours ahead, and not the one still to come: {report:?}");
    assert_eq!(report.late, 1);
    assert_eq!(queued(&stack).await, [(early["id"].as_str().unwrap().to_string(), true)]);
    let on_time = schedule_run(&stack, due - TimeDelta::minutes(29)).await;
    assert_eq!((on_time.sent, on_time.late), (1, 0));
    assert_eq!(queued(&stack).await, [(late["id"].as_str().unwrap().to_string(), false)]);
}

#[tokio::test]
async fn completing_or_clearing_the_due_time_takes_the_task_off_the_schedule() {
    let stack = TestStack::new().await;
    let user = stack.signup("Oli").await;
    let token = user["access_token"].as_str();
    let due = Utc::now() + TimeDelta::days(2);
    let done = task_due(&stack, token, due).await;
    remind(&stack, token, &done, json!({"minutes_before": 10})).await;
    let undated = task_due(&stack, token, due).await;
    remind(&stack, token, &undated, json!({"minutes_before": 10})).await;
    assert_eq!(stack.call(Method::POST, &task_path(&done, "/complete"), token, None).await.status, StatusCode::OK);
    let cleared = stack.call(Method::PATCH, &task_path(&undated, ""), token, Some(json!({"due_at": null}))).await;
    assert_eq!(cleared.status, StatusCode::OK);
    let listed = stack.call(Method::GET, &task_path(&undated, "/reminders"), token, None).await;
    assert_eq!(listed.body["items"][0]["fire_at"], Value::Null, "relative to a due time the task no longer has");
    set_watermark(&stack, due - TimeDelta::days(1) - TimeDelta::minutes(5)).await;
    let report = schedule_run(&stack, due + TimeDelta::minutes(1)).await;
    assert_eq!(report.sent, 0, "no reminder and no due-soon alert: {report:?}");
}

#[tokio::test]
async fn a_task_due_within_a_day_gets_its_due_soon_alert_and_a_new_occurrence_reminds_again() {
    let stack = TestStack::new().await;
    let user = stack.signup("Pia").await;
    let token = user["access_token"].as_str();
    let due = Utc::now() + TimeDelta::days(3);
    let body = json!({"title": "Water plants", "due_at": instant(due),
                      "recurrence": {"rrule": "FREQ=DAILY", "timezone": "UTC"}});
    let task = stack.call(Method::POST, "/v1/tasks", token, Some(body)).await.body;
    let reminder = remind(&stack, token, &task, json!({"minutes_before": 5})).await.body;
    let reminder_id = reminder["id"].as_str().unwrap().to_string();
    set_watermark(&stack, due - TimeDelta::days(1) - TimeDelta::minutes(1)).await;
    schedule_run(&stack, due - TimeDelta::days(1) + TimeDelta::seconds(10)).await;
    assert_eq!(queued(&stack).await, [("due-soon".to_string(), false)]);
    schedule_run(&stack, due - TimeDelta::minutes(4)).await;
    assert_eq!(queued(&stack).await, [(reminder_id.clone(), false)]);

    // Completing moves the series a day on: its reminder and alert go off again a day later.
    assert_eq!(stack.call(Method::POST, &task_path(&task, "/complete"), token, None).await.status, StatusCode::OK);
    let next_due = due + TimeDelta::days(1);
    schedule_run(&stack, next_due - TimeDelta::minutes(4)).await;
    assert_eq!(queued(&stack).await, [(reminder_id, false), ("due-soon".to_string(), true)]);
}

#[tokio::test]
async fn a_reminder_set_too_late_goes_off_at_once_but_an_overdue_task_reopened_stays_quiet() {
    let stack = TestStack::new().await;
    let user = stack.signup("Quinn").await;
    let token = user["access_token"].as_str();
    let now = Utc::now();
    set_watermark(&stack, now - TimeDelta::minutes(1)).await;
    let overdue = task_due(&stack, token, now - TimeDelta::hours(2)).await;
    remind(&stack, token, &overdue, json!({"minutes_before": 10})).await;
    assert_eq!(stack.call(Method::POST, &task_path(&overdue, "/complete"), token, None).await.status, StatusCode::OK);
    assert_eq!(stack.call(Method::POST, &task_path(&overdue, "/uncomplete"), token, None).await.status, StatusCode::OK);
    let soon = task_due(&stack, token, now + TimeDelta::minutes(30)).await;
    let late = remind(&stack, token, &soon, json!({"minutes_before": 60})).await.body;

    schedule_run(&stack, now + TimeDelta::minutes(1)).await;
    let sent = queued(&stack).await;
    let ids: Vec<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, [late["id"].as_str().unwrap(), "due-soon"], "only the task still ahead: {sent:?}");
    assert!(sent.iter().all(|(_, late)| !late), "on time: they came due when they were set");
}
