//! Calendar events in the table: the range read model (one Query per source answers "everything
//! busy between two instants"), versions, isolation between tenants, and the activity log.

use chrono::{DateTime, NaiveDate, Utc};
use flowday_tests::TestStack;
use http::Method;
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
        store.events().create_event(&mine, event).await.unwrap();
    }
    store
        .events()
        .create_event(
            &theirs,
            &event("not mine", "2026-12-08T09:00:00Z", "2026-12-08T10:00:00Z", None, Source::Flowday),
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
    store.events().create_event(&tenant, &original).await.unwrap();

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

    match store.events().delete_event(&tenant, &original).await {
        Err(WriteError::VersionConflict(current)) => assert_eq!(current.version, 2),
        other => panic!("deleting a stale version must conflict: {other:?}"),
    }
    store.events().delete_event(&tenant, &moved).await.unwrap();
    assert!(store.events().get_event(&tenant, &moved.id).await.unwrap().is_none());
    let log = stack.call(Method::GET, &format!("/v1/activity?entity_id={}", moved.id), token, None).await.body;
    let actions: Vec<&str> =
        log["items"].as_array().unwrap().iter().map(|entry| entry["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["deleted", "updated", "created"]);
}
