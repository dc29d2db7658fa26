//! The webhook-calendar binary, run as Lambda runs it, on every event of events/webhook-calendar:
//! a Google push notification, Graph's validation request, a Graph change notification and a
//! Graph lifecycle notification.

use chrono::{Duration, Utc};
use flowday_tests::{TestStack, event, invoke};
use shared::auth::opaque::sha256_hex;
use shared::domain::calendar::Source;
use shared::integrations::calendars::Watch;
use shared::store::connections::ConnectionItem;

const BINARY: &str = env!("CARGO_BIN_EXE_webhook-calendar");

/// A connection with a live watch whose secret is the one returned.
async fn watched(stack: &TestStack, provider: Source, watch_id: &str) -> (ConnectionItem, String) {
    let user = stack.signup("Webhook").await;
    let user_id = user["user"]["id"].as_str().unwrap();
    let store = stack.store("webhook-calendar");
    let connection = ConnectionItem::new(
        user_id,
        provider,
        "ada@example.com".into(),
        "primary".into(),
        "v1.x".into(),
        "https://api.flowday.example".into(),
    );
    store.connections().create_connection(&connection).await.unwrap();
    let secret = format!("{user_id}.{}.{}", connection.id, shared::auth::opaque::new_secret());
    let watch = Watch { id: watch_id.into(), resource_id: None, expires_at: Utc::now() + Duration::days(6) };
    store.connections().set_watch(&connection, &watch, &sha256_hex(&secret)).await.unwrap();
    (connection, secret)
}

#[tokio::test]
async fn every_webhook_calendar_event_is_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let lambda = stack.lambda(BINARY, "webhook-calendar").await;
    let (google, token) = watched(&stack, Source::Google, "01JCHANNEL0000000000000000").await;
    let notified = invoke(
        &lambda,
        event(
            "webhook-calendar",
            "google-notification",
            &[("channel_id", "01JCHANNEL0000000000000000"), ("channel_token", &token)],
        ),
    )
    .await;
    assert_eq!(notified.status, 200, "{}", notified.body);
    let forged = invoke(
        &lambda,
        event(
            "webhook-calendar",
            "google-notification",
            &[("channel_id", "01JCHANNEL0000000000000000"), ("channel_token", &format!("{token}x"))],
        ),
    )
    .await;
    assert_eq!(forged.status, 404, "a wrong channel token is refused");

    let validation = invoke(&lambda, event("webhook-calendar", "graph-validation", &[])).await;
    assert_eq!(validation.status, 200);
    assert_eq!(validation.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        validation.body.as_str(),
        Some(
            "Validation: Testing client application reachability for subscription Request-Id: 25f1d7b3-0e5a-4b9e-8f0a-2f7c1d3b9a11"
        ),
        "the token comes back decoded"
    );
    let (outlook, client_state) = watched(&stack, Source::Outlook, "7f105c7d-2dc5-4530-97cd-4e7ae6534c07").await;
    let values = [("subscription_id", "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"), ("client_state", client_state.as_str())];
    let change = invoke(&lambda, event("webhook-calendar", "graph-notification", &values)).await;
    assert_eq!(change.status, 202, "{}", change.body);
    let lifecycle = invoke(&lambda, event("webhook-calendar", "graph-lifecycle", &values)).await;
    assert_eq!(lifecycle.status, 202, "{}", lifecycle.body);
    lambda.stop().await;

    let jobs = stack.drain_queue("CalendarSyncQueue").await;
    let named: Vec<(&str, bool)> = jobs
        .iter()
        .map(|job| (job["connection_id"].as_str().unwrap(), job["renew_watch"].as_bool().unwrap()))
        .collect();
    assert_eq!(named, [(google.id.as_str(), false), (outlook.id.as_str(), false), (outlook.id.as_str(), true)]);
}
