//! Notifications: preferences and the digest index, the inbox (api-notifications), push devices
//! (api-account), and the delivery of one notification on its channels (`jobs::deliver`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::domain::messages::Notification;
use shared::domain::notifications::{Channel, NotificationType};
use shared::jobs::deliver::{DeliveryReport, deliver};

pub(crate) fn bearer(signup: &Value) -> Option<&str> {
    signup["access_token"].as_str()
}

pub(crate) fn user_id(signup: &Value) -> String {
    signup["user"]["id"].as_str().unwrap().to_string()
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn notification(kind: NotificationType, title: &str) -> Notification {
    Notification {
        id: ulid::Ulid::new().to_string(),
        kind,
        title: title.into(),
        body: format!("body of {title}"),
        task_id: Some(ulid::Ulid::new().to_string()),
        late: false,
        due_at: utc("2026-01-15T09:00:00Z"),
    }
}

/// A unique device token (the emulator's SNS shares endpoints across stacks by token).
fn device_token() -> String {
    format!("device-{}", ulid::Ulid::new())
}

pub(crate) async fn put_preferences(
    stack: &TestStack,
    token: Option<&str>,
    body: Value,
) -> flowday_tests::TestResponse {
    stack.call(Method::PUT, "/v1/notifications/preferences", token, Some(body)).await
}

async fn run_deliver(
    stack: &TestStack,
    user_id: &str,
    notification: &Notification,
    only: Option<&[Channel]>,
    now: DateTime<Utc>,
) -> DeliveryReport {
    // Delivery is the notification worker's: its context has email and push.
    let context = stack.job_state("notification-worker", notification_worker::state);
    deliver(&context.store, context.mailer.sender(), context.push.as_ref(), user_id, notification, only, now)
        .await
        .expect("delivered")
}

// ------------------------------------------------------------------------------ preferences

#[tokio::test]
async fn preferences_start_as_the_defaults_and_round_trip() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Prefs").await;
    let token = bearer(&signup);

    let defaults = stack.call(Method::GET, "/v1/notifications/preferences", token, None).await;
    assert_eq!(defaults.status, StatusCode::OK, "{}", defaults.body);
    assert_eq!(defaults.header("etag"), Some("\"0\""));
    assert_eq!(defaults.body["version"], 0);
    assert_eq!(defaults.body["updated_at"], Value::Null);
    assert_eq!(defaults.body["channels"]["daily_digest"], json!({"in_app": false, "email": false, "push": false}));
    assert_eq!(defaults.body["channels"]["task_reminder"], json!({"in_app": true, "email": false, "push": true}));
    assert_eq!(defaults.body["quiet_hours"], json!({"enabled": false, "start": "22:00", "end": "07:00"}));
    assert_eq!(defaults.body["digest_hour"], 8);

    // A client sends back what it read, changed: version and updated_at are ignored.
    let mut chosen = defaults.body.clone();
    chosen["channels"]["task_reminder"]["email"] = json!(true);
    chosen["quiet_hours"] = json!({"enabled": true, "start": "23:00", "end": "06:30"});
    chosen["digest_hour"] = json!(6);
    let put = stack
        .call_with(Method::PUT, "/v1/notifications/preferences", token, Some(chosen), &[("if-match", "\"0\"")])
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.header("etag"), Some("\"1\""));
    assert_eq!(put.body["version"], 1);
    assert_eq!(put.body["channels"]["task_reminder"]["email"], true);
    assert_eq!(put.body["channels"]["system"], json!({"in_app": true, "email": true, "push": false}));
    assert_eq!(put.body["quiet_hours"]["end"], "06:30");
    assert_eq!(put.body["digest_hour"], 6);
    let read = stack.call(Method::GET, "/v1/notifications/preferences", token, None).await;
    assert_eq!(read.body, put.body);

    // A stale If-Match: 412 with the current preferences, nothing changes.
    let stale = stack
        .call_with(Method::PUT, "/v1/notifications/preferences", token, Some(json!({})), &[("if-match", "\"0\"")])
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stale.body["current"]["version"], 1);
    // Without If-Match the last write wins; `{}` is the defaults again.
    let reset = put_preferences(&stack, token, json!({})).await;
    assert_eq!((reset.body["version"].as_u64(), reset.body["digest_hour"].as_u64()), (Some(2), Some(8)));

    // Each user has their own.
    let other = stack.signup("Other").await;
    let theirs = stack.call(Method::GET, "/v1/notifications/preferences", other["access_token"].as_str(), None).await;
    assert_eq!(theirs.body["version"], 0);
}

#[tokio::test]
async fn invalid_preferences_name_every_field_and_change_nothing() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Invalid").await;
    let token = bearer(&signup);
    let response = put_preferences(
        &stack,
        token,
        json!({
            "channels": {"task_reminder": {"sms": true, "push": "yes"}, "weekly": {}},
            "quiet_hours": {"start": "25:00"},
            "digest_hour": 24,
            "colour": "blue"
        }),
    )
    .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(
        fields,
        [
            "channels.task_reminder.push",
            "channels.task_reminder.sms",
            "channels.weekly",
            "colour",
            "digest_hour",
            "quiet_hours.start"
        ]
    );
    put_preferences(&stack, token, json!([]))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let unchanged = stack.call(Method::GET, "/v1/notifications/preferences", token, None).await;
    assert_eq!(unchanged.body["version"], 0);
    let anonymous = stack.call(Method::GET, "/v1/notifications/preferences", None, None).await;
    anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn the_digest_index_follows_the_preferences_and_the_timezone() {
    let stack = TestStack::new().await;
    let store = stack.store("api-notifications");
    let signup = stack.signup("Digest").await; // Europe/Berlin
    let (token, id) = (bearer(&signup), user_id(&signup));
    let recipients = |timezone: &'static str, hour: u32| {
        let store = store.clone();
        async move { store.digests().digest_recipients(timezone, hour).await.unwrap() }
    };
    assert!(recipients("Europe/Berlin", 8).await.is_empty(), "the digest is opt-in");

    let on = json!({"channels": {"daily_digest": {"email": true}}, "digest_hour": 7});
    assert_eq!(put_preferences(&stack, token, on).await.status, StatusCode::OK);
    assert_eq!(recipients("Europe/Berlin", 7).await, [id.as_str()]);

    // Moving to Tokyo moves the entry in the profile's transaction.
    let moved = stack.call(Method::PATCH, "/v1/me", token, Some(json!({"timezone": "Asia/Tokyo"}))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!((moved.body["timezone"].as_str(), moved.body["version"].as_u64()), (Some("Asia/Tokyo"), Some(2)));
    assert_eq!(moved.header("etag"), Some("\"2\""));
    assert!(recipients("Europe/Berlin", 7).await.is_empty());
    assert_eq!(recipients("Asia/Tokyo", 7).await, [id.as_str()]);
    assert_eq!(stack.call(Method::GET, "/v1/me", token, None).await.body, moved.body);

    // A new hour moves it within the zone; a stale If-Match on the profile still answers 412.
    let later = json!({"channels": {"daily_digest": {"push": true}}, "digest_hour": 21});
    assert_eq!(put_preferences(&stack, token, later).await.status, StatusCode::OK);
    assert!(recipients("Asia/Tokyo", 7).await.is_empty());
    assert_eq!(recipients("Asia/Tokyo", 21).await, [id.as_str()]);
    let stale = stack
        .call_with(Method::PATCH, "/v1/me", token, Some(json!({"timezone": "UTC"})), &[("if-match", "\"1\"")])
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stale.body["current"]["timezone"], "Asia/Tokyo");
    assert_eq!(recipients("Asia/Tokyo", 21).await, [id.as_str()]);

    // Off on every channel: out of the index; a later timezone change puts nothing back.
    let off = json!({"channels": {"daily_digest": {"push": false}}});
    assert_eq!(put_preferences(&stack, token, off).await.status, StatusCode::OK);
    assert!(recipients("Asia/Tokyo", 21).await.is_empty());
    let back = stack.call(Method::PATCH, "/v1/me", token, Some(json!({"timezone": "Europe/Berlin"}))).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert!(recipients("Europe/Berlin", 21).await.is_empty());
    assert!(recipients("Europe/Berlin", 8).await.is_empty());

    // Two users in one zone and hour.
    let second = stack.signup("Second").await;
    for signup in [&signup, &second] {
        let on = json!({"channels": {"daily_digest": {"in_app": true}}, "digest_hour": 9});
        assert_eq!(put_preferences(&stack, bearer(signup), on).await.status, StatusCode::OK);
    }
    let mut both = recipients("Europe/Berlin", 9).await;
    both.sort();
    let mut expected = vec![id, user_id(&second)];
    expected.sort();
    assert_eq!(both, expected);
}

// ------------------------------------------------------------------------------ inbox

/// Puts `count` inbox items for a user through the in-app delivery; returns their titles, oldest first.
async fn fill_inbox(stack: &TestStack, user_id: &str, count: usize) -> Vec<String> {
    let store = stack.store("api-notifications");
    let mut titles = Vec::new();
    for index in 0..count {
        let title = format!("reminder {index:03}");
        let now = Utc::now() + chrono::TimeDelta::milliseconds(index as i64);
        assert!(
            store
                .notifications()
                .deliver_to_inbox(user_id, &notification(NotificationType::TaskReminder, &title), now)
                .await
                .unwrap()
        );
        titles.push(title);
    }
    titles
}

fn titles(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|item| item["title"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn the_inbox_lists_newest_first_in_pages_and_filters_unread() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Inbox").await;
    let token = bearer(&signup);
    let created = fill_inbox(&stack, &user_id(&signup), 5).await;

    let all = stack.call(Method::GET, "/v1/notifications", token, None).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(titles(&all.body), newest_first);
    assert_eq!(all.body["next_cursor"], Value::Null);
    let first = &all.body["items"][0];
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, ["body", "created_at", "id", "late", "read", "task_id", "title", "type"]);
    assert_eq!(
        (first["type"].as_str(), first["read"].as_bool(), first["late"].as_bool()),
        (Some("task_reminder"), Some(false), Some(false))
    );

    // Pages of 2: 2 + 2 + 1, each continuing where the last ended.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/notifications?limit=2&cursor={cursor}"),
            None => "/v1/notifications?limit=2".to_string(),
        };
        let page = stack.call(Method::GET, &path, token, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(titles(&page.body));
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!((seen, pages), (newest_first.clone(), 3));

    // Read two; the unread filter leaves them out, in pages too.
    let ids: Vec<String> =
        all.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().into()).collect();
    for id in [&ids[0], &ids[3]] {
        let read = stack.call(Method::POST, &format!("/v1/notifications/{id}/read"), token, None).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.body);
        assert_eq!((read.body["id"].as_str(), read.body["read"].as_bool()), (Some(id.as_str()), Some(true)));
    }
    let again = stack.call(Method::POST, &format!("/v1/notifications/{}/read", ids[0]), token, None).await;
    assert_eq!(again.status, StatusCode::OK, "reading twice is fine");
    let unread = stack.call(Method::GET, "/v1/notifications?unread=true", token, None).await;
    assert_eq!(titles(&unread.body), [newest_first[1].clone(), newest_first[2].clone(), newest_first[4].clone()]);
    let first_page = stack.call(Method::GET, "/v1/notifications?unread=true&limit=2", token, None).await;
    assert_eq!(titles(&first_page.body), [newest_first[1].clone(), newest_first[2].clone()]);
    let cursor = first_page.body["next_cursor"].as_str().unwrap();
    let second_page =
        stack.call(Method::GET, &format!("/v1/notifications?unread=true&limit=2&cursor={cursor}"), token, None).await;
    assert_eq!(titles(&second_page.body), [newest_first[4].clone()]);
    assert_eq!(second_page.body["next_cursor"], Value::Null);
    // A cursor of one list is not one of the other.
    let crossed = stack.call(Method::GET, &format!("/v1/notifications?cursor={cursor}"), token, None).await;
    crossed.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    let invalid = stack.call(Method::GET, "/v1/notifications?limit=0&unread=maybe", token, None).await;
    invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = invalid.error_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "unread"]);
}

#[tokio::test]
async fn read_all_marks_every_unread_item_even_past_one_transaction() {
    let stack = TestStack::new().await;
    let signup = stack.signup("ReadAll").await;
    let token = bearer(&signup);
    fill_inbox(&stack, &user_id(&signup), 130).await;
    let first = stack.call(Method::GET, "/v1/notifications?limit=1", token, None).await;
    let id = first.body["items"][0]["id"].as_str().unwrap();
    stack.call(Method::POST, &format!("/v1/notifications/{id}/read"), token, None).await;

    let marked = stack.call(Method::POST, "/v1/notifications/read-all", token, None).await;
    assert_eq!(marked.status, StatusCode::OK, "{}", marked.body);
    assert_eq!(marked.body, json!({"marked_read": 129}));
    let unread = stack.call(Method::GET, "/v1/notifications?unread=true", token, None).await;
    assert_eq!(unread.body["items"], json!([]));
    let all = stack.call(Method::GET, "/v1/notifications?limit=200", token, None).await;
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 130);
    assert!(items.iter().all(|item| item["read"] == true));
    let nothing_left = stack.call(Method::POST, "/v1/notifications/read-all", token, None).await;
    assert_eq!(nothing_left.body, json!({"marked_read": 0}));
}

#[tokio::test]
async fn another_users_notification_is_not_found() {
    let stack = TestStack::new().await;
    let owner = stack.signup("Owner").await;
    let intruder = stack.signup("Intruder").await;
    fill_inbox(&stack, &user_id(&owner), 1).await;
    let listed = stack.call(Method::GET, "/v1/notifications", bearer(&owner), None).await;
    let id = listed.body["items"][0]["id"].as_str().unwrap().to_string();

    let theirs = stack.call(Method::GET, "/v1/notifications", bearer(&intruder), None).await;
    assert_eq!(theirs.body["items"], json!([]));
    for (method, path) in [
        (Method::POST, format!("/v1/notifications/{id}/read")),
        (Method::DELETE, format!("/v1/notifications/{id}")),
        (Method::POST, format!("/v1/notifications/{}/read", ulid::Ulid::new())),
        (Method::DELETE, "/v1/notifications/not-an-id".to_string()),
    ] {
        let response = stack.call(method.clone(), &path, bearer(&intruder), None).await;
        response.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let read_all = stack.call(Method::POST, "/v1/notifications/read-all", bearer(&intruder), None).await;
    assert_eq!(read_all.body, json!({"marked_read": 0}));
    let still = stack.call(Method::GET, "/v1/notifications?unread=true", bearer(&owner), None).await;
    assert_eq!(still.body["items"][0]["id"], id.as_str());

    let deleted = stack.call(Method::DELETE, &format!("/v1/notifications/{id}"), bearer(&owner), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = stack.call(Method::DELETE, &format!("/v1/notifications/{id}"), bearer(&owner), None).await;
    gone.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let empty = stack.call(Method::GET, "/v1/notifications", bearer(&owner), None).await;
    assert_eq!(empty.body["items"], json!([]));
}

// ------------------------------------------------------------------------------ push tokens

async fn register(stack: &TestStack, token: Option<&str>, device: &str, platform: &str) -> flowday_tests::TestResponse {
    stack.call(Method::POST, "/v1/me/push-tokens", token, Some(json!({"token": device, "platform": platform}))).await
}

#[tokio::test]
async fn push_tokens_register_once_and_are_removed() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Devices").await;
    let (token, id) = (bearer(&signup), user_id(&signup));
    let store = stack.store("api-account");
    let device = device_token();

    let created = register(&stack, token, &device, "ios").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["platform"], "ios");
    assert!(created.body.get("token").is_none(), "the token is not echoed");
    let again = register(&stack, token, &device, "ios").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["registered_at"], created.body["registered_at"]);
    let devices = store.devices().push_tokens(&id).await.unwrap();
    assert_eq!(devices.len(), 1);
    assert!(devices[0].endpoint.contains(":endpoint/APNS/"), "{}", devices[0].endpoint);
    assert_ne!(devices[0].token_hash, device, "only the hash is stored");
    let android = register(&stack, token, &device_token(), "android").await;
    assert_eq!(android.status, StatusCode::CREATED, "{}", android.body);
    assert_eq!(store.devices().push_tokens(&id).await.unwrap().len(), 2);

    let invalid = stack.call(Method::POST, "/v1/me/push-tokens", token, Some(json!({"platform": "windows"}))).await;
    invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = invalid.error_fields();
    fields.sort();
    assert_eq!(fields, ["platform", "token"]);

    let removed = stack.call(Method::DELETE, "/v1/me/push-tokens", token, Some(json!({"token": device}))).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    assert_eq!(store.devices().push_tokens(&id).await.unwrap().len(), 1);
    assert!(!endpoint_exists(&stack, &devices[0].endpoint).await, "the endpoint is deleted");
    let twice = stack.call(Method::DELETE, "/v1/me/push-tokens", token, Some(json!({"token": device}))).await;
    twice.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_device_that_changes_hands_stops_receiving_the_previous_users_pushes() {
    let stack = TestStack::new().await;
    let first = stack.signup("First").await;
    let second = stack.signup("Second").await;
    let store = stack.store("api-account");
    let device = device_token();
    assert_eq!(register(&stack, bearer(&first), &device, "android").await.status, StatusCode::CREATED);
    assert_eq!(register(&stack, bearer(&second), &device, "android").await.status, StatusCode::CREATED);
    assert!(store.devices().push_tokens(&user_id(&first)).await.unwrap().is_empty());
    assert_eq!(store.devices().push_tokens(&user_id(&second)).await.unwrap().len(), 1);
    let not_theirs =
        stack.call(Method::DELETE, "/v1/me/push-tokens", bearer(&first), Some(json!({"token": device}))).await;
    not_theirs.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_platform_without_an_application_is_refused_clearly() {
    let parameters = HashMap::from([("PushAndroidAppArn".to_string(), String::new())]);
    let stack = TestStack::with_parameters(parameters).await;
    let signup = stack.signup("NoAndroid").await;
    let refused = register(&stack, bearer(&signup), &device_token(), "android").await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "push_platform_unavailable");
    assert_eq!(refused.error_fields(), ["platform"]);
    assert_eq!(register(&stack, bearer(&signup), &device_token(), "ios").await.status, StatusCode::CREATED);
}

// ------------------------------------------------------------------------------ delivery

/// Whether SNS still has an endpoint (the emulator's record lists deleted ones too).
async fn endpoint_exists(stack: &TestStack, endpoint: &str) -> bool {
    let sns = aws_sdk_sns::Client::new(&stack.stack.sdk);
    sns.get_endpoint_attributes().endpoint_arn(endpoint).send().await.is_ok()
}

/// The emails a user got with this subject (signup sends a verification email too).
pub(crate) async fn emails_titled(stack: &TestStack, to: &str, subject: &str) -> Vec<flowday_tests::SentEmail> {
    stack.emails_to(to).await.into_iter().filter(|email| email.subject == subject).collect()
}

/// A user (email verified) with preferences `body`, one push device, and their id, email and
/// device endpoint.
pub(crate) async fn recipient(stack: &TestStack, preferences: Value) -> (Value, String, String) {
    let signup = stack.signup("Recipient").await;
    stack.verify_email(signup["user"]["email"].as_str().unwrap()).await;
    let put = put_preferences(stack, bearer(&signup), preferences).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(register(stack, bearer(&signup), &device_token(), "ios").await.status, StatusCode::CREATED);
    let devices = stack.store("api-account").devices().push_tokens(&user_id(&signup)).await.unwrap();
    let email = signup["user"]["email"].as_str().unwrap().to_string();
    (signup, email, devices[0].endpoint.clone())
}

/// Someone signs up with an address that is not theirs and writes the reminder's title: the
/// address's owner gets nothing from us until the address is verified.
#[tokio::test]
async fn product_email_waits_for_a_verified_address() {
    let stack = TestStack::new().await;
    let squatter = stack.signup("Squatter").await;
    let email = squatter["user"]["email"].as_str().unwrap().to_string();
    let every_channel = json!({"channels": {"task_reminder": {"in_app": true, "email": true, "push": true}}});
    assert_eq!(put_preferences(&stack, bearer(&squatter), every_channel).await.status, StatusCode::OK);
    let spam = notification(NotificationType::TaskReminder, "Cheap pills\r\nBcc: everyone@example.com");
    let now = utc("2026-01-15T12:00:00Z");
    let report = run_deliver(&stack, &user_id(&squatter), &spam, None, now).await;
    assert_eq!(report.off, [Channel::Email], "{report:?}");
    assert!(report.sent.contains(&Channel::InApp), "{report:?}");
    let subjects: Vec<String> = stack.emails_to(&email).await.into_iter().map(|mail| mail.subject).collect();
    assert!(subjects.iter().all(|subject| subject.contains("Confirm")), "only the verification email: {subjects:?}");
}

pub(crate) async fn inbox_titles(stack: &TestStack, signup: &Value) -> Vec<String> {
    titles(&stack.call(Method::GET, "/v1/notifications", bearer(signup), None).await.body)
}

#[tokio::test]
async fn a_notification_reaches_each_channel_once_however_often_it_is_delivered() {
    let stack = TestStack::new().await;
    let every_channel = json!({"channels": {"task_reminder": {"in_app": true, "email": true, "push": true}}});
    let (signup, email, endpoint) = recipient(&stack, every_channel).await;
    let id = user_id(&signup);
    let mut reminder = notification(NotificationType::TaskReminder, "Call Ada");
    reminder.late = true;
    let now = utc("2026-01-15T12:00:00Z");

    let first = run_deliver(&stack, &id, &reminder, None, now).await;
    assert_eq!(first.sent, [Channel::InApp, Channel::Email, Channel::Push]);
    assert!(first.already_sent.is_empty() && first.deferred.is_empty() && first.off.is_empty(), "{first:?}");
    // The same message again (SQS delivers at least once): nothing more.
    let second = run_deliver(&stack, &id, &reminder, None, now).await;
    assert_eq!(second.sent, []);
    assert_eq!(second.already_sent, [Channel::InApp, Channel::Email, Channel::Push]);

    assert_eq!(inbox_titles(&stack, &signup).await, ["Call Ada"]);
    let listed = stack.call(Method::GET, "/v1/notifications", bearer(&signup), None).await;
    assert_eq!(listed.body["items"][0]["late"], true);
    assert_eq!(listed.body["items"][0]["task_id"].as_str(), reminder.task_id.as_deref());
    let emails = emails_titled(&stack, &email, "Call Ada (late)").await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0].subject, "Call Ada (late)");
    assert!(emails[0].body.contains("body of Call Ada"));
    let pushes = stack.pushes_to(&endpoint).await;
    assert_eq!(pushes.len(), 1, "{:?}", stack.emulator_record().await["sns"]);
    let sent: Value = serde_json::from_str(&pushes[0]).unwrap();
    let payload: Value = serde_json::from_str(sent["default"].as_str().unwrap()).unwrap();
    assert_eq!(
        payload,
        json!({"notification_id": reminder.id, "title": "Call Ada", "body": "body of Call Ada", "task_id": reminder.task_id})
    );
}

#[tokio::test]
async fn a_disabled_endpoint_loses_its_token_and_is_not_an_error() {
    let stack = TestStack::new().await;
    let (signup, _, endpoint) = recipient(&stack, json!({})).await;
    let id = user_id(&signup);
    let sns = aws_sdk_sns::Client::new(&stack.stack.sdk);
    sns.set_endpoint_attributes().endpoint_arn(&endpoint).attributes("Enabled", "false").send().await.unwrap();

    let report =
        run_deliver(&stack, &id, &notification(NotificationType::TaskDueSoon, "Due soon"), None, Utc::now()).await;
    assert_eq!(report.sent, [Channel::InApp, Channel::Push], "push counts as done: no device is left");
    assert!(stack.store("api-account").devices().push_tokens(&id).await.unwrap().is_empty());
    assert!(stack.pushes_to(&endpoint).await.is_empty());
    assert!(!endpoint_exists(&stack, &endpoint).await, "the rejected endpoint is deleted");
}

#[tokio::test]
async fn quiet_hours_spanning_midnight_defer_push_and_email_but_not_the_inbox() {
    let stack = TestStack::new().await;
    let quiet = json!({
        "channels": {"task_reminder": {"in_app": true, "email": true, "push": true}},
        "quiet_hours": {"enabled": true, "start": "22:00", "end": "07:00"}
    });
    let (signup, email, endpoint) = recipient(&stack, quiet).await; // Europe/Berlin, UTC+1 in January
    let id = user_id(&signup);
    let reminder = notification(NotificationType::TaskReminder, "Late night");

    let night = utc("2026-01-15T23:30:00Z"); // 00:30 in Berlin
    let report = run_deliver(&stack, &id, &reminder, None, night).await;
    assert_eq!(report.sent, [Channel::InApp]);
    let morning = utc("2026-01-16T06:00:00Z"); // 07:00 in Berlin
    assert_eq!(report.deferred, [(Channel::Email, morning), (Channel::Push, morning)]);
    assert_eq!(inbox_titles(&stack, &signup).await, ["Late night"]);
    assert!(emails_titled(&stack, &email, "Late night").await.is_empty());
    assert!(stack.pushes_to(&endpoint).await.is_empty());

    // The caller re-schedules the deferred channels for the morning.
    let deferred: Vec<Channel> = report.deferred.iter().map(|(channel, _)| *channel).collect();
    let later = run_deliver(&stack, &id, &reminder, Some(&deferred), morning).await;
    assert_eq!(later.sent, [Channel::Email, Channel::Push]);
    assert_eq!(emails_titled(&stack, &email, "Late night").await.len(), 1);
    assert_eq!(stack.pushes_to(&endpoint).await.len(), 1);
    assert_eq!(inbox_titles(&stack, &signup).await, ["Late night"], "in_app was not asked for again");
}

#[tokio::test]
async fn only_restricts_the_channels_and_switched_off_ones_are_reported() {
    let stack = TestStack::new().await;
    // Reminders: in_app and push by default; email switched on, push off.
    let chosen = json!({"channels": {"task_reminder": {"email": true, "push": false}}});
    let (signup, email, endpoint) = recipient(&stack, chosen).await;
    let id = user_id(&signup);
    let now = Utc::now();

    let only_email = run_deliver(
        &stack,
        &id,
        &notification(NotificationType::TaskReminder, "Email only"),
        Some(&[Channel::Email]),
        now,
    )
    .await;
    assert_eq!(only_email, DeliveryReport { sent: vec![Channel::Email], ..DeliveryReport::default() });
    assert!(inbox_titles(&stack, &signup).await.is_empty());
    assert_eq!(emails_titled(&stack, &email, "Email only").await.len(), 1);

    let all = run_deliver(&stack, &id, &notification(NotificationType::TaskReminder, "All"), None, now).await;
    assert_eq!(all.sent, [Channel::InApp, Channel::Email]);
    assert_eq!(all.off, [Channel::Push]);
    assert!(stack.pushes_to(&endpoint).await.is_empty());

    // The digest is off everywhere by default.
    let digest = run_deliver(&stack, &id, &notification(NotificationType::DailyDigest, "Digest"), None, now).await;
    assert_eq!(digest.off, [Channel::InApp, Channel::Email, Channel::Push]);
    assert!(digest.sent.is_empty());

    // A user who no longer exists: nothing, and no error.
    let ghost = run_deliver(
        &stack,
        &ulid::Ulid::new().to_string(),
        &notification(NotificationType::System, "Ghost"),
        None,
        now,
    )
    .await;
    assert_eq!(ghost, DeliveryReport::default());
}

// ------------------------------------------------------------------------------ round trips

#[tokio::test]
async fn notification_routes_do_the_round_trips_the_data_model_states() {
    let stack = TestStack::without_rate_limits().await;
    let signup = stack.signup("Counted").await;
    let token = bearer(&signup);
    fill_inbox(&stack, &user_id(&signup), 3).await;
    let function = "api-notifications";
    let device = json!({"token": device_token(), "platform": "ios"});
    let mut measured = serde_json::Map::new();
    let id = stack.call(Method::GET, "/v1/notifications", token, None).await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let requests: Vec<(&str, &str, Method, String, Option<Value>)> = vec![
        ("get_preferences", function, Method::GET, "/v1/notifications/preferences".into(), None),
        (
            "put_preferences",
            function,
            Method::PUT,
            "/v1/notifications/preferences".into(),
            Some(json!({"digest_hour": 9})),
        ),
        ("list", function, Method::GET, "/v1/notifications?limit=2".into(), None),
        ("list_unread", function, Method::GET, "/v1/notifications?unread=true".into(), None),
        ("read", function, Method::POST, format!("/v1/notifications/{id}/read"), None),
        ("read_all", function, Method::POST, "/v1/notifications/read-all".into(), None),
        ("delete", function, Method::DELETE, format!("/v1/notifications/{id}"), None),
        ("patch_me_timezone", "api-account", Method::PATCH, "/v1/me".into(), Some(json!({"timezone": "Asia/Tokyo"}))),
        ("register_device", "api-account", Method::POST, "/v1/me/push-tokens".into(), Some(device.clone())),
        ("register_known_device", "api-account", Method::POST, "/v1/me/push-tokens".into(), Some(device.clone())),
        (
            "remove_device",
            "api-account",
            Method::DELETE,
            "/v1/me/push-tokens".into(),
            Some(json!({"token": device["token"]})),
        ),
    ];
    for (name, function, method, path, body) in requests {
        let before = stack.round_trips(function);
        let response = stack.call(method, &path, token, body).await;
        assert!(response.status.is_success(), "{name}: {}", response.body);
        measured.insert(name.into(), json!(stack.round_trips(function) - before));
    }
    let documented = json!({
        "get_preferences": 1, "put_preferences": 2, "list": 1, "list_unread": 1, "read": 1,
        "read_all": 2, "delete": 1, "patch_me_timezone": 2,
        // Push devices are account routes: the session is checked on every call (one BatchGetItem).
        "register_device": 4, "register_known_device": 2, "remove_device": 3,
    });
    assert_eq!(Value::Object(measured), documented);
}
