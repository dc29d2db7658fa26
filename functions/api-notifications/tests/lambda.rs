//! The api-notifications binary, run as Lambda runs it, on every event of events/api-notifications.

use flowday_tests::{TestStack, event, invoke};
use shared::domain::messages::Notification;
use shared::domain::notifications::NotificationType;

const BINARY: &str = env!("CARGO_BIN_EXE_api-notifications");

#[tokio::test]
async fn every_api_notifications_event_is_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let user_id = user["user"]["id"].as_str().unwrap();
    let store = stack.store("api-notifications");
    let reminder = Notification {
        id: ulid::Ulid::new().to_string(),
        kind: NotificationType::TaskReminder,
        title: "Call Ada".into(),
        body: "at 10:00".into(),
        task_id: None,
        late: false,
        due_at: chrono::Utc::now(),
    };
    assert!(store.notifications().deliver_to_inbox(user_id, &reminder, chrono::Utc::now()).await.unwrap());
    let lambda = stack.lambda(BINARY, "api-notifications").await;
    let with_token = |name: &str, extra: &[(&str, &str)]| {
        let mut values = vec![("access_token", token)];
        values.extend_from_slice(extra);
        event("api-notifications", name, &values)
    };

    let preferences = invoke(&lambda, with_token("get-preferences", &[])).await;
    assert_eq!(preferences.status, 200, "{}", preferences.body);
    assert_eq!(preferences.header("etag"), Some("\"0\""));
    let put = invoke(&lambda, with_token("put-preferences", &[])).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!((put.body["version"].as_u64(), put.body["digest_hour"].as_u64()), (Some(1), Some(7)));
    let stale = invoke(&lambda, with_token("put-preferences", &[])).await;
    assert_eq!((stale.status, stale.body["code"].as_str()), (412, Some("version_conflict")));
    assert_eq!(store.digests().digest_recipients("Europe/Berlin", 7).await.unwrap(), [user_id]);

    let listed = invoke(&lambda, with_token("list-notifications", &[])).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["title"], "Call Ada");
    let id = listed.body["items"][0]["id"].as_str().unwrap().to_string();
    let read = invoke(&lambda, with_token("read-notification", &[("notification_id", &id)])).await;
    assert_eq!((read.status, read.body["read"].as_bool()), (200, Some(true)), "{}", read.body);
    let read_all = invoke(&lambda, with_token("read-all-notifications", &[])).await;
    assert_eq!((read_all.status, read_all.body["marked_read"].as_u64()), (200, Some(0)), "{}", read_all.body);
    let deleted = invoke(&lambda, with_token("delete-notification", &[("notification_id", &id)])).await;
    assert_eq!(deleted.status, 204);
    let again = invoke(&lambda, with_token("delete-notification", &[("notification_id", &id)])).await;
    assert_eq!((again.status, again.body["code"].as_str()), (404, Some("not_found")));
    lambda.stop().await;
}
