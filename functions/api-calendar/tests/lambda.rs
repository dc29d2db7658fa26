//! The api-calendar binary, run as Lambda runs it, on every event of events/api-calendar.

use flowday_tests::{TestStack, event, invoke};

const BINARY: &str = env!("CARGO_BIN_EXE_api-calendar");

#[tokio::test]
async fn every_api_calendar_event_is_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let lambda = stack.lambda(BINARY, "api-calendar").await;
    let with = |name: &str, extra: &[(&str, &str)]| {
        let mut values = vec![("access_token", token)];
        values.extend_from_slice(extra);
        event("api-calendar", name, &values)
    };

    let created = invoke(&lambda, with("create-event", &[])).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("etag"), Some("\"1\""));
    let id = created.body["id"].as_str().unwrap().to_string();
    let listed = invoke(&lambda, with("list-events", &[])).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2, "two Mondays in the range: {}", listed.body);
    let got = invoke(&lambda, with("get-event", &[("event_id", &id)])).await;
    assert_eq!((got.status, got.body["title"].as_str()), (200, Some("Team sync")));
    let patched = invoke(&lambda, with("patch-event", &[("event_id", &id)])).await;
    assert_eq!((patched.status, patched.body["version"].as_u64()), (200, Some(2)), "{}", patched.body);
    let stale = invoke(&lambda, with("patch-event", &[("event_id", &id)])).await;
    assert_eq!((stale.status, stale.body["code"].as_str()), (412, Some("version_conflict")));
    let moved = invoke(&lambda, with("move-occurrence", &[("event_id", &id)])).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let cancelled = invoke(&lambda, with("cancel-occurrence", &[("event_id", &id)])).await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
    let listed = invoke(&lambda, with("list-events", &[])).await;
    let starts: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|item| item["start_at"].as_str().unwrap()).collect();
    assert_eq!(starts, ["2026-12-15T13:00:00Z"], "the first Monday cancelled, the second moved: {}", listed.body);
    let feed = invoke(&lambda, with("create-feed", &[])).await;
    assert_eq!(feed.status, 201, "{}", feed.body);
    let url = feed.body["url"].as_str().unwrap();
    let feed_token =
        url.strip_prefix("https://api.flowday.example/v1/calendar/feed/").unwrap().strip_suffix(".ics").unwrap();
    let served = invoke(&lambda, with("serve-feed", &[("feed_token", feed_token)])).await;
    assert_eq!(served.status, 200, "{}", served.body);
    assert_eq!(served.header("content-type"), Some("text/calendar; charset=utf-8"));
    assert!(served.body.as_str().unwrap().contains("SUMMARY:Team sync"), "{}", served.body);
    assert_eq!(invoke(&lambda, with("delete-feed", &[])).await.status, 204);
    let ended = invoke(&lambda, with("serve-feed", &[("feed_token", feed_token)])).await;
    assert_eq!(ended.status, 404, "a deleted feed's URL ends at once");
    let deleted = invoke(&lambda, with("delete-event", &[("event_id", &id)])).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let gone = invoke(&lambda, with("get-event", &[("event_id", &id)])).await;
    assert_eq!((gone.status, gone.body["code"].as_str()), (404, Some("not_found")));
    lambda.stop().await;
}
