//! The notification pipeline end to end: reminder schedule → reminder-scheduler → notifications
//! queue → notification-worker → inbox, email, push; and maintenance's digests. Each hand-off is
//! driven by the test (a run at a chosen instant, the queue drained into an SQS batch), so
//! duplicates and redeliveries can be made on purpose.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use chrono::{DateTime, TimeDelta, Utc};
use flowday_tests::{TestStack, instant};
use http::{Method, StatusCode};
use reminder_scheduler::{SchedulerEvent, SchedulerReport};
use serde_json::{Value, json};

use crate::notifications::{bearer, emails_titled, inbox_titles, put_preferences, recipient};

/// The instant of `hour:minute` Berlin time on the day of `day`.
fn berlin_time(day: DateTime<Utc>, hour: u32, minute: u32) -> DateTime<Utc> {
    use chrono::TimeZone;
    let local = day.date_naive().and_hms_opt(hour, minute, 0).unwrap();
    chrono_tz::Europe::Berlin.from_local_datetime(&local).earliest().unwrap().to_utc()
}

async fn scheduler_run(stack: &TestStack, since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> SchedulerReport {
    let context = stack.job_state("reminder-scheduler", reminder_scheduler::state);
    reminder_scheduler::run(&context, SchedulerEvent { since }, now, Duration::from_secs(50)).await.expect("a run")
}

async fn set_watermark(stack: &TestStack, at: DateTime<Utc>) {
    assert!(
        stack
            .job_state("reminder-scheduler", reminder_scheduler::state)
            .store
            .schedule()
            .advance_watermark(None, at)
            .await
            .unwrap()
    );
}

/// An SQS batch as Lambda hands it over, one record per body.
fn batch(bodies: &[String]) -> SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .map(|body| {
            json!({"messageId": ulid::Ulid::new().to_string(), "receiptHandle": "handle", "body": body,
                   "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs",
                   "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notifications"})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).expect("an SQS event")
}

/// Drains the notifications queue into the worker as one batch; returns the ids it reported failed.
async fn work_queue(stack: &TestStack, now: DateTime<Utc>) -> (usize, Vec<String>) {
    let bodies: Vec<String> = stack.drain_queue("NotificationsQueue").await.iter().map(Value::to_string).collect();
    (bodies.len(), work(stack, &bodies, now).await)
}

async fn work(stack: &TestStack, bodies: &[String], now: DateTime<Utc>) -> Vec<String> {
    let context = stack.job_state("notification-worker", notification_worker::state);
    let response = notification_worker::handle_batch(&context, batch(bodies), now).await.expect("the batch is read");
    response.batch_item_failures.into_iter().map(|failure| failure.item_identifier).collect()
}

async fn task_with_reminder(stack: &TestStack, token: Option<&str>, due: DateTime<Utc>, reminder: Value) -> Value {
    let created = stack
        .call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Renew passport", "due_at": instant(due)})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let path = format!("/v1/tasks/{}/reminders", created.body["id"].as_str().unwrap());
    let added = stack.call(Method::POST, &path, token, Some(reminder)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    created.body
}

#[tokio::test]
async fn a_due_reminder_reaches_the_inbox_and_the_phone_once_whatever_repeats() {
    let stack = TestStack::new().await;
    let (signup, _, endpoint) = recipient(&stack, json!({})).await;
    let token = bearer(&signup);
    let due = Utc::now() + TimeDelta::days(3);
    task_with_reminder(&stack, token, due, json!({"minutes_before": 30})).await;
    let fire_at = due - TimeDelta::minutes(30);
    set_watermark(&stack, fire_at - TimeDelta::minutes(1)).await;

    let first = scheduler_run(&stack, None, fire_at + TimeDelta::seconds(10)).await;
    assert_eq!(first.sent, 1, "{first:?}");
    // An overlapping run sends the same entry again, and SQS may deliver each message twice.
    scheduler_run(&stack, Some(fire_at - TimeDelta::minutes(1)), fire_at + TimeDelta::seconds(15)).await;
    let bodies: Vec<String> = stack.drain_queue("NotificationsQueue").await.iter().map(Value::to_string).collect();
    assert_eq!(bodies.len(), 2);
    let now = fire_at + TimeDelta::seconds(20);
    assert_eq!(work(&stack, &bodies, now).await, Vec::<String>::new());
    assert_eq!(work(&stack, &bodies, now).await, Vec::<String>::new());

    assert_eq!(inbox_titles(&stack, &signup).await, ["Renew passport"]);
    let inbox = stack.call(Method::GET, "/v1/notifications", token, None).await.body;
    assert_eq!(inbox["items"][0]["body"], "Due in 30 minutes");
    assert_eq!(inbox["items"][0]["type"], "task_reminder");
    assert_eq!(stack.pushes_to(&endpoint).await.len(), 1, "one push for one reminder");
}

#[tokio::test]
async fn a_reminder_of_a_task_completed_since_sends_nothing() {
    let stack = TestStack::new().await;
    let (signup, _, endpoint) = recipient(&stack, json!({})).await;
    let token = bearer(&signup);
    let due = Utc::now() + TimeDelta::days(2);
    let task = task_with_reminder(&stack, token, due, json!({"minutes_before": 10})).await;
    let fire_at = due - TimeDelta::minutes(10);
    set_watermark(&stack, fire_at - TimeDelta::minutes(1)).await;
    scheduler_run(&stack, None, fire_at + TimeDelta::seconds(5)).await;
    // Completed while the message waited on the queue.
    let done =
        stack.call(Method::POST, &format!("/v1/tasks/{}/complete", task["id"].as_str().unwrap()), token, None).await;
    assert_eq!(done.status, StatusCode::OK);
    let (worked, failed) = work_queue(&stack, fire_at + TimeDelta::seconds(10)).await;
    assert_eq!((worked, failed.len()), (1, 0));
    assert!(inbox_titles(&stack, &signup).await.is_empty());
    assert!(stack.pushes_to(&endpoint).await.is_empty());
}

#[tokio::test]
async fn a_bad_record_fails_alone_and_the_rest_of_its_batch_is_delivered() {
    let stack = TestStack::new().await;
    let (signup, _, _) = recipient(&stack, json!({})).await;
    let token = bearer(&signup);
    let due = Utc::now() + TimeDelta::days(2);
    task_with_reminder(&stack, token, due, json!({"minutes_before": 15})).await;
    let fire_at = due - TimeDelta::minutes(15);
    set_watermark(&stack, fire_at - TimeDelta::minutes(1)).await;
    scheduler_run(&stack, None, fire_at + TimeDelta::seconds(5)).await;
    let good = stack.drain_queue("NotificationsQueue").await.remove(0);
    let mut future_version = good.clone();
    future_version["v"] = json!(2);
    let bodies = ["{not json".to_string(), good.to_string(), future_version.to_string()];
    let event = batch(&bodies);
    let ids: Vec<String> = event.records.iter().map(|record| record.message_id.clone().unwrap()).collect();
    let context = stack.job_state("notification-worker", notification_worker::state);
    let response = notification_worker::handle_batch(&context, event, fire_at + TimeDelta::seconds(10)).await.unwrap();
    let failed: Vec<String> = response.batch_item_failures.into_iter().map(|failure| failure.item_identifier).collect();
    assert_eq!(failed, [ids[0].clone(), ids[2].clone()], "the malformed and the unknown version come back");
    assert_eq!(inbox_titles(&stack, &signup).await, ["Renew passport"]);
}

#[tokio::test]
async fn quiet_hours_hold_a_push_until_they_end_and_the_scheduler_sends_it_then() {
    let stack = TestStack::new().await;
    let quiet = json!({"quiet_hours": {"enabled": true, "start": "22:00", "end": "07:00"}});
    let (signup, _, endpoint) = recipient(&stack, quiet).await; // Europe/Berlin
    let token = bearer(&signup);
    // A reminder at 23:30 Berlin time, some days ahead.
    let fire_at = berlin_time(Utc::now() + TimeDelta::days(3), 23, 30);
    task_with_reminder(&stack, token, fire_at + TimeDelta::hours(10), json!({"at": instant(fire_at)})).await;
    set_watermark(&stack, fire_at - TimeDelta::minutes(1)).await;
    scheduler_run(&stack, None, fire_at + TimeDelta::seconds(5)).await;
    let (worked, failed) = work_queue(&stack, fire_at + TimeDelta::seconds(10)).await;
    assert_eq!((worked, failed.len()), (1, 0));
    assert_eq!(inbox_titles(&stack, &signup).await, ["Renew passport"], "the inbox is never held back");
    assert!(stack.pushes_to(&endpoint).await.is_empty(), "no push at 23:30");

    // 07:00 Berlin the next morning: the held push is due.
    let morning = berlin_time(fire_at + TimeDelta::days(1), 7, 0);
    let report = scheduler_run(&stack, None, morning + TimeDelta::seconds(30)).await;
    assert_eq!(report.sent, 1, "{report:?}");
    let (worked, failed) = work_queue(&stack, morning + TimeDelta::seconds(40)).await;
    assert_eq!((worked, failed.len()), (1, 0));
    assert_eq!(stack.pushes_to(&endpoint).await.len(), 1);
    assert_eq!(inbox_titles(&stack, &signup).await.len(), 1, "and no second inbox item");
}

#[tokio::test]
async fn the_digest_arrives_by_email_at_eight_in_the_users_own_zone_once() {
    let stack = TestStack::new().await;
    let digest = json!({"channels": {"daily_digest": {"email": true}}});
    let (signup, email, _) = recipient(&stack, digest.clone()).await; // Europe/Berlin
    let token = bearer(&signup);
    let elsewhere = stack.signup("Abroad").await;
    let moved =
        stack.call(Method::PATCH, "/v1/me", bearer(&elsewhere), Some(json!({"timezone": "America/New_York"}))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(put_preferences(&stack, bearer(&elsewhere), digest).await.status, StatusCode::OK);

    // Some day ahead, at 08:00 in Berlin.
    let eight = berlin_time(Utc::now() + TimeDelta::days(2), 8, 0);
    for (title, due) in [("Dentist", eight + TimeDelta::hours(3)), ("Tax return", eight - TimeDelta::days(1))] {
        let body = json!({"title": title, "due_at": instant(due)});
        assert_eq!(stack.call(Method::POST, "/v1/tasks", token, Some(body)).await.status, StatusCode::CREATED);
    }
    let maintenance = stack.job_state("maintenance", maintenance::state);
    let event = maintenance::MaintenanceEvent { digest_at: Some(eight + TimeDelta::minutes(5)), ..Default::default() };
    let report = maintenance::run(&maintenance, event).await.expect("maintenance runs");
    assert_eq!(report.digests.queued, 1, "only the Berlin user's hour began: {:?}", report.digests);
    let (worked, failed) = work_queue(&stack, eight + TimeDelta::minutes(6)).await;
    assert_eq!((worked, failed.len()), (1, 0));
    let subject = "Your day: 1 due today, 1 overdue";
    let sent = emails_titled(&stack, &email, subject).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.contains("11:00 Dentist") && sent[0].body.contains("Tax return"), "{}", sent[0].body);

    // The next hourly run overlaps a little: its digest message is a duplicate, sent no second time.
    let again = maintenance::MaintenanceEvent { digest_at: Some(eight + TimeDelta::minutes(6)), ..Default::default() };
    maintenance::run(&maintenance, again).await.expect("maintenance runs");
    work_queue(&stack, eight + TimeDelta::minutes(7)).await;
    assert_eq!(emails_titled(&stack, &email, subject).await.len(), 1);
}
