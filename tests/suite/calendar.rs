//! Calendar events in the table: the range read model (one Query per source answers "everything
//! busy between two instants"), versions, isolation between tenants, and the activity log.

use chrono::{DateTime, NaiveDate, Utc};
use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::json;
use shared::domain::calendar::{Event, Source};
use shared::store::{Tenant, WriteError};

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn event(title: &str, start: &str, end: &str, rrule: Option<&str>, source: Source) -> Event {
    Event {
        id: ulid::Ulid::new().to_string(),
        title: title.into(),
        description: None,
        location: None,
        start_at: Some(utc(start)),
        end_at: Some(utc(end)),
        start_date: None,
        end_date: None,
        timezone: "Europe/Berlin".into(),
        rrule: rrule.map(String::from),
        exdates: Vec::new(),
        changes: Vec::new(),
        busy: true,
        source,
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn all_day(title: &str, start: &str, end: &str) -> Event {
    let mut event = event(title, "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", None, Source::Flowday);
    event.start_at = None;
    event.end_at = None;
    event.start_date = Some(start.parse::<NaiveDate>().unwrap());
    event.end_date = Some(end.parse::<NaiveDate>().unwrap());
    event
}

fn free() -> shared::domain::plan::PlanLimits {
    shared::domain::plan::limits(shared::domain::account::Tier::Free)
}

fn titles(events: &[Event]) -> Vec<String> {
    let mut titles: Vec<String> = events.iter().map(|event| event.title.clone()).collect();
    titles.sort();
    titles
}

#[tokio::test]
async fn a_range_finds_every_event_that_can_overlap_it_and_nothing_of_another_tenant() {
    let stack = TestStack::new().await;
    let (me, other) = (stack.signup("Cal").await, stack.signup("Other").await);
    let mine = Tenant::user(me["user"]["id"].as_str().unwrap());
    let theirs = Tenant::user(other["user"]["id"].as_str().unwrap());
    let store = stack.store("api-tasks");
    let events = [
        event("dentist", "2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z", None, Source::Flowday),
        event(
            "weekly sync",
            "2026-10-05T07:00:00Z",
            "2026-10-05T07:30:00Z",
            Some("FREQ=WEEKLY;BYDAY=MO"),
            Source::Flowday,
        ),
        event(
            "three mornings",
            "2026-12-01T06:00:00Z",
            "2026-12-01T07:00:00Z",
            Some("FREQ=DAILY;COUNT=3"),
            Source::Flowday,
        ),
        event("board meeting", "2026-12-09T13:00:00Z", "2026-12-09T15:00:00Z", None, Source::Google),
        event("last year", "2025-12-08T09:00:00Z", "2025-12-08T10:00:00Z", None, Source::Outlook),
        all_day("offsite", "2026-12-10", "2026-12-12"),
    ];
    for event in &events {
        store.events().create_event(&mine, event, free()).await.unwrap();
    }
    store
        .events()
        .create_event(
            &theirs,
            &event("not mine", "2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z", None, Source::Flowday),
            free(),
        )
        .await
        .unwrap();

    let (from, to) = (utc("2026-12-07T00:00:00Z"), utc("2026-12-14T00:00:00Z"));
    let found = store.events().events_between(&mine, from, to).await.unwrap();
    assert_eq!(titles(&found), ["board meeting", "dentist", "offsite", "weekly sync"]);
    let occurrences: usize = found.iter().map(|event| event.occurrences_between(from, to).len()).sum();
    assert_eq!(occurrences, 4, "one occurrence each in this week");
    let theirs_found = store.events().events_between(&theirs, from, to).await.unwrap();
    assert_eq!(titles(&theirs_found), ["not mine"]);
    assert!(
        store.events().get_event(&theirs, &events[0].id).await.unwrap().is_none(),
        "another tenant's event is not found"
    );
}

#[tokio::test]
async fn an_event_changes_only_at_its_version_and_moves_in_the_index() {
    let stack = TestStack::new().await;
    let me = stack.signup("Mover").await;
    let token = me["access_token"].as_str();
    let tenant = Tenant::user(me["user"]["id"].as_str().unwrap());
    let store = stack.store("api-tasks");
    let original = event("review", "2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z", None, Source::Flowday);
    store.events().create_event(&tenant, &original, free()).await.unwrap();

    let mut moved = original.clone();
    moved.start_at = Some(utc("2027-01-12T09:00:00Z"));
    moved.end_at = Some(utc("2027-01-12T10:00:00Z"));
    moved.version = 2;
    let stale = Event { version: 0, ..original.clone() };
    match store.events().replace_event(&tenant, &stale, &moved, &[]).await {
        Err(WriteError::VersionConflict(current)) => assert_eq!(current.version, 1),
        other => panic!("a stale version must conflict: {other:?}"),
    }
    store.events().replace_event(&tenant, &original, &moved, &[]).await.unwrap();
    let december =
        store.events().events_between(&tenant, utc("2026-12-01T00:00:00Z"), utc("2027-01-01T00:00:00Z")).await.unwrap();
    assert!(december.is_empty(), "the old place is empty: {december:?}");
    let january =
        store.events().events_between(&tenant, utc("2027-01-01T00:00:00Z"), utc("2027-02-01T00:00:00Z")).await.unwrap();
    assert_eq!(titles(&january), ["review"]);

    match store.events().trash_event(&tenant, &original).await {
        Err(WriteError::VersionConflict(current)) => assert_eq!(current.version, 2),
        other => panic!("trashing a stale version must conflict: {other:?}"),
    }
    store.events().trash_event(&tenant, &moved).await.unwrap();
    assert!(store.events().get_event(&tenant, &moved.id).await.unwrap().is_none());
    let log = stack.call(Method::GET, &format!("/v1/activity?entity_id={}", moved.id), token, None).await.body;
    let actions: Vec<&str> =
        log["items"].as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["trashed", "updated", "created"]);
    match store.events().replace_event(&tenant, &moved, &moved, &[]).await {
        Err(WriteError::NotFound) => {}
        other => panic!("a trashed event cannot be written back by a change read before: {other:?}"),
    }
}

async fn create(stack: &TestStack, token: Option<&str>, body: serde_json::Value) -> flowday_tests::TestResponse {
    stack.call(Method::POST, "/v1/calendar/events", token, Some(body)).await
}

fn listed_starts(page: &serde_json::Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["start_at"].as_str().or(item["start_date"].as_str()).unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn own_events_are_created_listed_as_occurrences_and_changed_one_occurrence_at_a_time() {
    let stack = TestStack::new().await;
    let me = stack.signup("Planner").await;
    let token = me["access_token"].as_str();
    // Mondays 09:00 in Berlin: 08:00 UTC in winter, 07:00 UTC in summer.
    let weekly = json!({"title": "Team sync", "start_at": "2027-03-15T08:00:00Z", "end_at": "2027-03-15T08:30:00Z",
                        "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO", "location": "Room 4"});
    let created = create(&stack, token, weekly).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/calendar/events/{}", created.body["id"].as_str().unwrap()).as_str())
    );
    assert_eq!((created.body["source"].as_str(), created.body["busy"].as_bool()), (Some("flowday"), Some(true)));
    let holiday = json!({"title": "Easter", "start_date": "2027-03-26", "end_date": "2027-03-30", "busy": false});
    assert_eq!(create(&stack, token, holiday).await.status, StatusCode::CREATED);

    let range = "/v1/calendar/events?from=2027-03-20T00:00:00Z&to=2027-04-06T00:00:00Z";
    let page = stack.call(Method::GET, range, token, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // DST starts on 28 March 2027: the meeting stays at 09:00 Berlin time.
    assert_eq!(
        listed_starts(&page.body),
        ["2027-03-22T08:00:00Z", "2027-03-26", "2027-03-29T07:00:00Z", "2027-04-05T07:00:00Z"]
    );
    assert_eq!(page.body["items"][1]["busy"], false);
    assert_eq!(page.body["items"][0]["recurring"], true);

    let path = format!("/v1/calendar/events/{}", created.body["id"].as_str().unwrap());
    let moved = stack
        .call(Method::PATCH, &format!("{path}?occurrence_id=2027-03-29T07:00:00Z"), token,
              Some(json!({"start_at": "2027-03-30T12:00:00Z", "end_at": "2027-03-30T12:30:00Z", "title": "Team sync (Tuesday)"})))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["version"], 2);
    let cancelled =
        stack.call(Method::DELETE, &format!("{path}?occurrence_id=2027-04-05T07:00:00Z"), token, None).await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT, "{}", cancelled.body);
    let page = stack.call(Method::GET, range, token, None).await;
    assert_eq!(listed_starts(&page.body), ["2027-03-22T08:00:00Z", "2027-03-26", "2027-03-30T12:00:00Z"]);
    assert_eq!(page.body["items"][2]["title"], "Team sync (Tuesday)");
    assert_eq!(page.body["items"][2]["occurrence_id"], "2027-03-29T07:00:00Z");

    // Occurrences that are not in the series, or already cancelled, are not found.
    for (method, occurrence) in [(Method::PATCH, "2027-03-30T07:00:00Z"), (Method::DELETE, "2027-04-05T07:00:00Z")] {
        let body = (method == Method::PATCH).then(|| json!({"title": "x"}));
        stack
            .call(method, &format!("{path}?occurrence_id={occurrence}"), token, body)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // A whole-event field cannot be set on one occurrence.
    let wrong = stack
        .call(
            Method::PATCH,
            &format!("{path}?occurrence_id=2027-03-22T08:00:00Z"),
            token,
            Some(json!({"rrule": "FREQ=DAILY"})),
        )
        .await;
    wrong.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(wrong.error_fields(), ["rrule"]);
}

#[tokio::test]
async fn bad_events_and_ranges_name_every_problem_and_write_nothing() {
    let stack = TestStack::new().await;
    let me = stack.signup("Strict").await;
    let token = me["access_token"].as_str();
    let bad = create(
        &stack,
        token,
        json!({"title": " ", "start_at": "2027-01-01T10:00:00Z", "end_at": "2027-01-01T09:00:00Z",
                                             "timezone": "Mars/Olympus", "rrule": "FREQ=SOMETIMES"}),
    )
    .await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["end_at", "timezone", "title"]);
    let both =
        create(&stack, token, json!({"title": "x", "start_at": "2027-01-01T10:00:00Z", "start_date": "2027-01-01"}))
            .await;
    both.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let rule = create(&stack, token, json!({"title": "x", "start_at": "2027-01-01T10:00:00Z", "end_at": "2027-01-01T11:00:00Z", "rrule": "FREQ=SOMETIMES"})).await;
    assert_eq!(rule.error_fields(), ["rrule"]);
    // Oversized input: a title over 500 characters, 1,001 exdates, a COUNT past 10,000.
    let exdates: Vec<String> =
        (0..1001).map(|day| format!("2027-{:02}-{:02}T09:00:00Z", day % 12 + 1, day % 28 + 1)).collect();
    let oversized = create(
        &stack,
        token,
        json!({"title": "x".repeat(501), "start_at": "2027-01-01T09:00:00Z",
                                                   "end_at": "2027-01-01T10:00:00Z", "rrule": "FREQ=DAILY;COUNT=10001",
                                                   "exdates": exdates}),
    )
    .await;
    oversized.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = oversized.error_fields();
    fields.sort();
    assert_eq!(fields, ["exdates", "rrule", "title"]);
    let page = stack
        .call(Method::GET, "/v1/calendar/events?from=2026-12-01T00:00:00Z&to=2027-02-01T00:00:00Z", token, None)
        .await;
    assert_eq!(page.body["items"], json!([]), "nothing was written");

    for (range, field) in [
        ("from=2027-01-01T00:00:00Z", "to"),
        ("from=yesterday&to=2027-01-02T00:00:00Z", "from"),
        ("from=2027-01-01T00:00:00Z&to=2027-03-15T00:00:00Z", "to"),
        ("from=2027-01-02T00:00:00Z&to=2027-01-01T00:00:00Z", "to"),
    ] {
        let response = stack.call(Method::GET, &format!("/v1/calendar/events?{range}"), token, None).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(response.error_fields(), [field], "{range}");
    }
}

#[tokio::test]
async fn another_users_event_is_404_everywhere_and_a_stale_version_is_412() {
    let stack = TestStack::new().await;
    let (owner, intruder) = (stack.signup("Owner").await, stack.signup("Intruder").await);
    let (token, other) = (owner["access_token"].as_str(), intruder["access_token"].as_str());
    let created = create(
        &stack,
        token,
        json!({"title": "Private", "start_at": "2027-01-04T09:00:00Z", "end_at": "2027-01-04T10:00:00Z"}),
    )
    .await;
    let path = format!("/v1/calendar/events/{}", created.body["id"].as_str().unwrap());
    stack.call(Method::GET, &path, other, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack
        .call(Method::PATCH, &path, other, Some(json!({"title": "Mine now"})))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack.call(Method::DELETE, &path, other, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let theirs = stack
        .call(Method::GET, "/v1/calendar/events?from=2027-01-01T00:00:00Z&to=2027-01-08T00:00:00Z", other, None)
        .await;
    assert_eq!(theirs.body["items"], json!([]));

    let stale =
        stack.call_with(Method::PATCH, &path, token, Some(json!({"title": "Renamed"})), &[("if-match", "\"7\"")]).await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stale.body["current"]["title"], "Private");
    let renamed =
        stack.call_with(Method::PATCH, &path, token, Some(json!({"title": "Renamed"})), &[("if-match", "\"1\"")]).await;
    assert_eq!((renamed.status, renamed.header("etag")), (StatusCode::OK, Some("\"2\"")));
    let unchanged = stack.call(Method::PATCH, &path, token, Some(json!({"title": "Renamed"}))).await;
    assert_eq!(unchanged.body["version"], 2, "a change to the same value is no change");
    assert_eq!(stack.call(Method::GET, &path, token, None).await.body["title"], "Renamed");
}

#[tokio::test]
async fn a_synced_event_is_listed_but_changes_only_at_its_source() {
    let stack = TestStack::new().await;
    let me = stack.signup("Synced").await;
    let token = me["access_token"].as_str();
    let tenant = Tenant::user(me["user"]["id"].as_str().unwrap());
    let board = event("board meeting", "2027-01-05T13:00:00Z", "2027-01-05T15:00:00Z", None, Source::Google);
    stack.store("api-calendar").events().create_event(&tenant, &board, free()).await.unwrap();
    let page = stack
        .call(Method::GET, "/v1/calendar/events?from=2027-01-04T00:00:00Z&to=2027-01-11T00:00:00Z", token, None)
        .await;
    assert_eq!(page.body["items"][0]["source"], "google");
    let path = format!("/v1/calendar/events/{}", board.id);
    stack
        .call(Method::PATCH, &path, token, Some(json!({"title": "x"})))
        .await
        .assert_problem(StatusCode::CONFLICT, "read_only_event");
    stack.call(Method::DELETE, &path, token, None).await.assert_problem(StatusCode::CONFLICT, "read_only_event");
}

#[tokio::test]
async fn a_retried_create_with_its_idempotency_key_makes_one_event() {
    let stack = TestStack::new().await;
    let me = stack.signup("Retry").await;
    let token = me["access_token"].as_str();
    let body = json!({"title": "Dentist", "start_at": "2027-02-01T09:00:00Z", "end_at": "2027-02-01T10:00:00Z"});
    let key = [("idempotency-key", "create-dentist-1")];
    let first = stack.call_with(Method::POST, "/v1/calendar/events", token, Some(body.clone()), &key).await;
    let again = stack.call_with(Method::POST, "/v1/calendar/events", token, Some(body), &key).await;
    assert_eq!((first.status, again.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first.body["id"], again.body["id"], "the retry answers the first result");
    let page = stack
        .call(Method::GET, "/v1/calendar/events?from=2027-02-01T00:00:00Z&to=2027-02-02T00:00:00Z", token, None)
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_free_plan_keeps_a_thousand_own_events_even_when_two_race_for_the_last_place() {
    let stack = TestStack::new().await;
    let me = stack.signup("Busy").await;
    let token = me["access_token"].as_str();
    let user_id = me["user"]["id"].as_str().unwrap();
    let first = create(
        &stack,
        token,
        json!({"title": "first", "start_at": "2027-02-01T09:00:00Z", "end_at": "2027-02-01T10:00:00Z"}),
    )
    .await;
    // 998 more, as the counter sees them.
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("EVENT_COUNTS".into()))
        .update_expression("SET events = :count")
        .expression_attribute_values(":count", aws_sdk_dynamodb::types::AttributeValue::N("999".into()))
        .send()
        .await
        .unwrap();
    let body =
        |title: &str| json!({"title": title, "start_at": "2027-02-02T09:00:00Z", "end_at": "2027-02-02T10:00:00Z"});
    let (one, two) = tokio::join!(create(&stack, token, body("one")), create(&stack, token, body("two")));
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::FORBIDDEN], "{} / {}", one.body, two.body);
    let refused = if one.status == StatusCode::FORBIDDEN { one } else { two };
    refused.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(refused.body["limit"], "events");

    let path = format!("/v1/calendar/events/{}", first.body["id"].as_str().unwrap());
    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(create(&stack, token, body("in its place")).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_deleted_event_waits_in_the_trash_comes_back_once_and_is_purged_after_its_seven_days() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let stack = TestStack::new().await;
    let me = stack.signup("Trash").await;
    let token = me["access_token"].as_str();
    let user_id = me["user"]["id"].as_str().unwrap();
    let body = json!({"title": "Retro", "start_at": "2027-01-05T09:00:00Z", "end_at": "2027-01-05T10:00:00Z"});
    let event = create(&stack, token, body.clone()).await.body;
    let path = format!("/v1/calendar/events/{}", event["id"].as_str().unwrap());
    let range = "/v1/calendar/events?from=2027-01-04T00:00:00Z&to=2027-01-11T00:00:00Z";
    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    stack.call(Method::GET, &path, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(listed_starts(&stack.call(Method::GET, range, token, None).await.body).is_empty());
    let trash = stack.call(Method::GET, "/v1/trash", token, None).await;
    assert_eq!(trash.body["items"][0]["kind"], "event", "{}", trash.body);
    assert_eq!(trash.body["items"][0]["title"], "Retro");

    let restore = format!("/v1/trash/{}/restore", event["id"].as_str().unwrap());
    let other = stack.signup("Other").await;
    stack
        .call(Method::POST, &restore, other["access_token"].as_str(), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let restored = stack.call(Method::POST, &restore, token, None).await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!((restored.body["title"].as_str(), restored.header("etag")), (Some("Retro"), Some("\"1\"")));
    assert_eq!(listed_starts(&stack.call(Method::GET, range, token, None).await.body), ["2027-01-05T09:00:00Z"]);
    stack.call(Method::POST, &restore, token, None).await.assert_problem(StatusCode::CONFLICT, "not_in_trash");
    assert!(stack.call(Method::GET, "/v1/trash", token, None).await.body["items"].as_array().unwrap().is_empty());

    // Trashed again, and its 7 days over: the hourly purge deletes it and its activity.
    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    let expired = Utc::now().timestamp() - 24 * 3600;
    let id = event["id"].as_str().unwrap();
    let user = AttributeValue::S(format!("USER#{user_id}"));
    let entry = stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", user.clone())
        .key("SK", AttributeValue::S(format!("TRASH#{id}")))
        .update_expression("SET expires_at = :expired, GSI1PK = :bucket, GSI1SK = :position")
        .expression_attribute_values(":expired", AttributeValue::N(expired.to_string()))
        .expression_attribute_values(":bucket", AttributeValue::S(shared::store::keys::purge_bucket(expired)))
        .expression_attribute_values(":position", AttributeValue::S(format!("{expired:012}#USER#{user_id}#{id}")))
        .send();
    entry.await.unwrap();
    let state = stack.job_state("maintenance", maintenance::state);
    let report = maintenance::run(&state, maintenance::MaintenanceEvent::default()).await.unwrap();
    assert_eq!(report.trash.entries, 1, "{report:?}");
    let item = stack
        .dynamo()
        .get_item()
        .table_name(stack.table())
        .key("PK", user)
        .key("SK", AttributeValue::S(format!("EVENT#{id}")));
    assert!(item.send().await.unwrap().item.is_none(), "the event is gone for good");
    let log = stack.call(Method::GET, &format!("/v1/activity?entity_id={id}"), token, None).await;
    assert!(log.body["items"].as_array().unwrap().is_empty(), "{}", log.body);
    stack.call(Method::POST, &restore, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
}
