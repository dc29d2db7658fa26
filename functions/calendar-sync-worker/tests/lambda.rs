//! The calendar-sync-worker binary, run as Lambda runs it, on events/calendar-sync-worker: a
//! sync job for a connection to the fake Google, and a malformed record it reports as failed.

use flowday_tests::calendar_fakes::{FakeGoogleCalendar, FakeGraph};
use flowday_tests::{TestStack, event};
use http::{Method, StatusCode};
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_calendar-sync-worker");

#[tokio::test]
async fn the_worker_binary_syncs_a_connection_and_reports_a_malformed_record() {
    let (google, graph) = (FakeGoogleCalendar::start().await, FakeGraph::start().await);
    google.put_event(json!({
        "id": "standup", "status": "confirmed", "summary": "Stand-up",
        "start": {"dateTime": "2027-01-04T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2027-01-04T09:15:00+01:00", "timeZone": "Europe/Berlin"},
    }));
    let stack = TestStack::with_calendar_fakes(&google, &graph).await;
    let user = stack.signup("Worker").await;
    let token = user["access_token"].as_str();
    assert_eq!(stack.connect_calendar(token, "google").await.status, StatusCode::SEE_OTHER);
    let connections = stack.call(Method::GET, "/v1/calendar/connections", token, None).await;
    let connection_id = connections.body["items"][0]["id"].as_str().unwrap().to_string();
    stack.drain_queue("CalendarSyncQueue").await;

    let lambda = stack.lambda(BINARY, "calendar-sync-worker").await;
    let values = [("user_id", user["user"]["id"].as_str().unwrap()), ("connection_id", connection_id.as_str())];
    let answer: serde_json::Value = lambda.invoke(event("calendar-sync-worker", "batch", &values)).await.unwrap();
    lambda.stop().await;
    assert_eq!(answer["batchItemFailures"], json!([{"itemIdentifier": "5d2f8c1a-7b3e-4f6a-9c0d-1e2f3a4b5c02"}]));
    let range = "/v1/calendar/events?from=2027-01-04T00:00:00Z&to=2027-01-05T00:00:00Z";
    let listed = stack.call(Method::GET, range, token, None).await;
    assert_eq!(listed.body["items"][0]["title"], "Stand-up", "{}", listed.body);
    assert_eq!(listed.body["items"][0]["source"], "google");
}
