//! Connected calendars end to end, against the local fakes of Google and Microsoft Graph: the
//! OAuth callback, sealed tokens, the webhooks, and the sync worker under duplicates, races,
//! expired cursors, throttling and revoked grants.

use chrono::{DateTime, Duration, Utc};
use flowday_tests::calendar_fakes::{FakeGoogleCalendar, FakeGraph};
use flowday_tests::{TestStack, follow_consent};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::integrations::calendars::Original;
use shared::jobs::calendar_sync::{CalendarJob, SyncContext, SyncOutcome, SyncReport, process};

struct Calendars {
    google: FakeGoogleCalendar,
    graph: FakeGraph,
    stack: TestStack,
}

async fn calendars() -> Calendars {
    let (google, graph) = (FakeGoogleCalendar::start().await, FakeGraph::start().await);
    let stack = TestStack::with_calendar_fakes(&google, &graph).await;
    Calendars { google, graph, stack }
}

fn timed(id: &str, summary: &str, start: &str, end: &str) -> Value {
    json!({
        "id": id, "status": "confirmed", "summary": summary,
        "start": {"dateTime": start, "timeZone": "Europe/Berlin"},
        "end": {"dateTime": end, "timeZone": "Europe/Berlin"},
    })
}

const WEEK: &str = "/v1/calendar/events?from=2027-01-04T00:00:00Z&to=2027-01-11T00:00:00Z";

/// `(title, start, source)` of every occurrence the API lists in `range`.
async fn listed(stack: &TestStack, token: Option<&str>, range: &str) -> Vec<(String, String, String)> {
    let page = stack.call(Method::GET, range, token, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let start = item["start_at"].as_str().or(item["start_date"].as_str()).unwrap_or_default();
            let text = |name: &str| item[name].as_str().unwrap_or_default().to_string();
            (text("title"), start.to_string(), text("source"))
        })
        .collect()
}

async fn connection(stack: &TestStack, token: Option<&str>) -> Value {
    let list = stack.call(Method::GET, "/v1/calendar/connections", token, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body["items"][0].clone()
}

/// Runs one job directly with the worker's state, under `job_id`.
async fn run_job(stack: &TestStack, job: &CalendarJob, job_id: &str) -> SyncReport {
    let state = stack.job_state("calendar-sync-worker", calendar_sync_worker::state);
    let context = SyncContext {
        store: &state.store,
        clients: &state.clients,
        queue: &state.queue,
        notifications: &state.notifications,
    };
    process(&context, job, job_id).await.expect("the job runs")
}

/// Google's notification of a change, as Google sends it to the channel's address.
async fn google_notifies(stack: &TestStack, google: &FakeGoogleCalendar) -> StatusCode {
    let channel = google.channels().last().cloned().expect("a channel");
    let token = channel.token.unwrap_or_default();
    let headers = [
        ("x-goog-channel-id", channel.id.as_str()),
        ("x-goog-channel-token", token.as_str()),
        ("x-goog-resource-id", channel.resource_id.as_str()),
        ("x-goog-resource-state", "exists"),
        ("x-goog-message-number", "2"),
    ];
    stack.call_with(Method::POST, "/webhooks/google-calendar", None, None, &headers).await.status
}

#[tokio::test]
async fn connecting_google_keeps_only_sealed_tokens_sets_up_push_and_syncs_every_page() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    for n in 0..600 {
        let start = Utc::now() + Duration::hours(n);
        let at = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:00:00Z").to_string();
        google.put_event(timed(
            &format!("bulk{n}"),
            &format!("Meeting {n}"),
            &at(start),
            &at(start + Duration::hours(1)),
        ));
    }
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    let back = stack.connect_calendar(token, "google").await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.header("location"), Some("https://app.flowday.example/settings/calendars?connected=google"));
    let listed_connection = connection(&stack, token).await;
    assert_eq!(listed_connection["account"], FakeGoogleCalendar::EMAIL);
    assert_eq!(listed_connection["status"], "connected");
    assert!(listed_connection.get("refresh_token").is_none(), "tokens are never shown: {listed_connection}");

    // What the table holds: sealed tokens only.
    let item = stack
        .dynamo()
        .get_item()
        .table_name(stack.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", me["user"]["id"].as_str().unwrap())))
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "CONNECTION#{}",
                listed_connection["id"].as_str().unwrap()
            )),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let sealed = item["refresh_token"].as_s().unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains("refresh"), "sealed: {sealed}");

    assert_eq!(stack.run_calendar_sync().await, 1, "one job: the first sync");
    assert_eq!(google.calls("/events?"), 3, "600 events in pages of 250");
    let channels = google.channels();
    assert_eq!(channels.len(), 1, "one watch channel");
    assert!(channels[0].address.ends_with("/webhooks/google-calendar"));
    let next_day = format!(
        "/v1/calendar/events?from={}&to={}",
        Utc::now().format("%Y-%m-%dT%H:%M:%SZ"),
        (Utc::now() + Duration::days(26)).format("%Y-%m-%dT%H:%M:%SZ")
    );
    let found = listed(&stack, token, &next_day).await;
    assert!(found.len() >= 599 && found.iter().all(|(_, _, source)| source == "google"), "{}", found.len());
    assert!(connection(&stack, token).await["last_synced_at"].is_string(), "the sync says when it finished");
}

#[tokio::test]
async fn changes_upstream_arrive_through_the_webhook_moved_deleted_and_cancelled_occurrences_included() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    google.put_event(timed("review", "Design review", "2027-01-05T10:00:00+01:00", "2027-01-05T11:00:00+01:00"));
    google.put_event(timed("dentist", "Dentist", "2027-01-06T08:00:00+01:00", "2027-01-06T09:00:00+01:00"));
    let mut standup = timed("standup", "Stand-up", "2027-01-04T09:00:00+01:00", "2027-01-04T09:15:00+01:00");
    standup["recurrence"] = json!(["RRULE:FREQ=DAILY;COUNT=5"]);
    google.put_event(standup);
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    stack.run_calendar_sync().await;
    assert_eq!(listed(&stack, token, WEEK).await.len(), 7, "two events and five stand-ups");

    google.put_event(timed(
        "review",
        "Design review (moved)",
        "2027-01-07T14:00:00+01:00",
        "2027-01-07T15:00:00+01:00",
    ));
    google.delete_event("dentist");
    google.put_event(timed("lunch", "Team lunch", "2027-01-08T12:00:00+01:00", "2027-01-08T13:00:00+01:00"));
    let wednesday = DateTime::parse_from_rfc3339("2027-01-06T08:00:00Z").unwrap().with_timezone(&Utc);
    google.cancel_occurrence("standup", Original::At(wednesday));
    assert_eq!(google_notifies(&stack, &google).await, StatusCode::OK);
    assert_eq!(google_notifies(&stack, &google).await, StatusCode::OK, "Google may send one twice");
    stack.run_calendar_sync().await;

    let found = listed(&stack, token, WEEK).await;
    let titles: Vec<(&str, &str)> = found.iter().map(|(title, start, _)| (title.as_str(), start.as_str())).collect();
    assert_eq!(
        titles,
        [
            ("Stand-up", "2027-01-04T08:00:00Z"),
            ("Stand-up", "2027-01-05T08:00:00Z"),
            ("Stand-up", "2027-01-07T08:00:00Z"),
            ("Design review (moved)", "2027-01-07T13:00:00Z"),
            ("Stand-up", "2027-01-08T08:00:00Z"),
            ("Team lunch", "2027-01-08T11:00:00Z"),
        ],
        "moved, deleted, added and one occurrence cancelled, nothing twice"
    );
}

#[tokio::test]
async fn a_notification_for_an_unknown_channel_or_with_a_wrong_token_is_404_and_queues_nothing() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    let me = stack.signup("Ada").await;
    stack.connect_calendar(me["access_token"].as_str(), "google").await;
    stack.run_calendar_sync().await;
    let channel = google.channels().last().cloned().unwrap();
    let token = channel.token.clone().unwrap();
    let forged = format!("{}x", &token[..token.len() - 1]);
    let attempts: [(&str, &str); 4] = [
        (channel.id.as_str(), forged.as_str()),
        ("01JUNKNOWNCHANNEL000000000", token.as_str()),
        (channel.id.as_str(), "not-a-token"),
        (channel.id.as_str(), ""),
    ];
    for (channel_id, channel_token) in attempts {
        let headers = [
            ("x-goog-channel-id", channel_id),
            ("x-goog-channel-token", channel_token),
            ("x-goog-resource-state", "exists"),
        ];
        let answer = stack.call_with(Method::POST, "/webhooks/google-calendar", None, None, &headers).await;
        answer.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(stack.drain_queue("CalendarSyncQueue").await.is_empty(), "nothing queued");
    let sync = [
        ("x-goog-channel-id", channel.id.as_str()),
        ("x-goog-channel-token", token.as_str()),
        ("x-goog-resource-state", "sync"),
    ];
    let started = stack.call_with(Method::POST, "/webhooks/google-calendar", None, None, &sync).await;
    assert_eq!(started.status, StatusCode::OK);
    assert!(stack.drain_queue("CalendarSyncQueue").await.is_empty(), "the channel's first message changes nothing");
}

#[tokio::test]
async fn two_jobs_at_once_for_one_connection_sync_once_and_a_replayed_sync_writes_nothing_twice() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    for n in 0..30 {
        google.put_event(timed(
            &format!("e{n}"),
            &format!("Event {n}"),
            "2027-01-05T10:00:00+01:00",
            "2027-01-05T10:30:00+01:00",
        ));
    }
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    let jobs = stack.drain_queue("CalendarSyncQueue").await;
    let job: CalendarJob = serde_json::from_value(jobs[0].clone()).unwrap();
    let (first, second) = tokio::join!(run_job(&stack, &job, "job-a"), run_job(&stack, &job, "job-b"));
    let outcomes = [first.outcome, second.outcome];
    assert!(outcomes.contains(&SyncOutcome::Busy), "one waits for the other: {outcomes:?}");
    assert_eq!(first.written + second.written, 30, "{first:?} {second:?}");
    assert_eq!(listed(&stack, token, WEEK).await.len(), 30);

    // A sync replayed from the start (a crash before the cursor moved, a duplicate job) lands on
    // the same items: nothing twice, nothing lost.
    let replayed = run_job(&stack, &job, "job-c").await;
    assert_eq!(replayed.outcome, SyncOutcome::UpToDate);
    assert_eq!(listed(&stack, token, WEEK).await.len(), 30);
}

#[tokio::test]
async fn an_expired_sync_token_starts_a_full_resync_that_drops_what_upstream_lost() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    google.put_event(timed("keep", "Kept", "2027-01-05T10:00:00+01:00", "2027-01-05T11:00:00+01:00"));
    google.put_event(timed("lost", "Lost", "2027-01-06T10:00:00+01:00", "2027-01-06T11:00:00+01:00"));
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    stack.run_calendar_sync().await;
    google.delete_event("lost");
    google.expire_sync_tokens();
    let connection_id = connection(&stack, token).await["id"].as_str().unwrap().to_string();
    let job = CalendarJob::sync(me["user"]["id"].as_str().unwrap(), &connection_id);
    let report = run_job(&stack, &job, "after-410").await;
    assert_eq!((report.resyncs, report.swept, report.outcome), (1, 0, SyncOutcome::UpToDate), "{report:?}");
    let titles: Vec<String> = listed(&stack, token, WEEK).await.into_iter().map(|(title, ..)| title).collect();
    assert_eq!(titles, ["Kept"], "the deleted event is gone after the resync");
}

#[tokio::test]
async fn throttling_puts_the_job_back_after_retry_after_and_a_401_refreshes_once() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    google.put_event(timed("one", "One", "2027-01-05T10:00:00+01:00", "2027-01-05T11:00:00+01:00"));
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    let job: CalendarJob = serde_json::from_value(stack.drain_queue("CalendarSyncQueue").await.remove(0)).unwrap();
    // The watch is set up first; throttle the list call that follows.
    run_job(&stack, &job, "first").await;
    google.put_event(timed("two", "Two", "2027-01-06T10:00:00+01:00", "2027-01-06T11:00:00+01:00"));
    google.fail_next(429, Some(7), 1);
    let throttled = run_job(&stack, &job, "throttled").await;
    assert_eq!(throttled.outcome, SyncOutcome::Throttled(7));
    assert_eq!(listed(&stack, token, WEEK).await.len(), 1, "nothing of the throttled page yet");
    let after = run_job(&stack, &job, "after-wait").await;
    assert_eq!(after.outcome, SyncOutcome::UpToDate, "the lease was let go: {after:?}");
    assert_eq!(listed(&stack, token, WEEK).await.len(), 2);

    google.expire_access_tokens();
    google.put_event(timed("three", "Three", "2027-01-07T10:00:00+01:00", "2027-01-07T11:00:00+01:00"));
    let refreshes = google.refreshes();
    assert_eq!(run_job(&stack, &job, "after-401").await.outcome, SyncOutcome::UpToDate);
    assert_eq!(google.refreshes(), refreshes + 1, "one refresh");
    assert_eq!(listed(&stack, token, WEEK).await.len(), 3);
}

#[tokio::test]
async fn a_revoked_grant_marks_the_connection_in_error_tells_the_user_once_and_stops() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    let job: CalendarJob = serde_json::from_value(stack.drain_queue("CalendarSyncQueue").await.remove(0)).unwrap();
    run_job(&stack, &job, "first").await;
    stack.drain_queue("NotificationsQueue").await;
    google.revoke_grant();
    assert_eq!(run_job(&stack, &job, "revoked").await.outcome, SyncOutcome::Disconnected);
    assert_eq!(run_job(&stack, &job, "again").await.outcome, SyncOutcome::Idle, "no retry loop");
    let notices = stack.drain_queue("NotificationsQueue").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["notification"]["kind"], "calendar_disconnected");
    let listed_connection = connection(&stack, token).await;
    assert_eq!(
        (listed_connection["status"].as_str(), listed_connection["error"].as_str()),
        (Some("error"), Some("grant_refused"))
    );
    let path = format!("/v1/calendar/connections/{}/sync", listed_connection["id"].as_str().unwrap());
    stack.call(Method::POST, &path, token, None).await.assert_problem(StatusCode::CONFLICT, "connection_error");
    let channel = google.channels().last().cloned().unwrap();
    let headers = [
        ("x-goog-channel-id", channel.id.as_str()),
        ("x-goog-channel-token", channel.token.as_deref().unwrap_or_default()),
        ("x-goog-resource-state", "exists"),
    ];
    let answer = stack.call_with(Method::POST, "/webhooks/google-calendar", None, None, &headers).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "a connection in error queues nothing");

    // Connecting the same account again brings it back.
    assert_eq!(stack.connect_calendar(token, "google").await.status, StatusCode::SEE_OTHER);
    let connections = stack.call(Method::GET, "/v1/calendar/connections", token, None).await;
    assert_eq!(connections.body["items"].as_array().unwrap().len(), 1, "the same connection");
    assert_eq!(connections.body["items"][0]["status"], "connected");
}

#[tokio::test]
async fn a_state_works_once_for_its_provider_and_a_declined_consent_goes_back_to_the_app() {
    let Calendars { google: _google, graph: _graph, stack } = calendars().await;
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    let started = stack.call(Method::POST, "/v1/calendar/connections/google", token, None).await;
    let callback = follow_consent(started.body["url"].as_str().unwrap()).await;
    let for_outlook = callback.replace("/google/", "/outlook/");
    stack.call(Method::GET, &for_outlook, None, None).await.assert_problem(StatusCode::BAD_REQUEST, "invalid_state");
    // The state was spent by that attempt: a replay of the real callback fails too.
    stack.call(Method::GET, &callback, None, None).await.assert_problem(StatusCode::BAD_REQUEST, "invalid_state");

    let started = stack.call(Method::POST, "/v1/calendar/connections/google", token, None).await;
    let callback = follow_consent(started.body["url"].as_str().unwrap()).await;
    let (first, second) =
        tokio::join!(stack.call(Method::GET, &callback, None, None), stack.call(Method::GET, &callback, None, None));
    let statuses = [first.status, second.status];
    assert!(statuses.contains(&StatusCode::SEE_OTHER) && statuses.contains(&StatusCode::BAD_REQUEST), "{statuses:?}");

    let other = stack.signup("Eve").await;
    let state = callback.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let forged = state.replace(me["user"]["id"].as_str().unwrap(), other["user"]["id"].as_str().unwrap());
    let path = format!("/v1/calendar/connections/google/callback?code=x&state={forged}");
    stack.call(Method::GET, &path, None, None).await.assert_problem(StatusCode::BAD_REQUEST, "invalid_state");

    let started = stack.call(Method::POST, "/v1/calendar/connections/google", token, None).await;
    let url = started.body["url"].as_str().unwrap();
    let state = url.split("state=").nth(1).unwrap().split('&').next().unwrap();
    let declined = format!("/v1/calendar/connections/google/callback?error=access_denied&state={state}");
    let back = stack.call(Method::GET, &declined, None, None).await;
    assert_eq!(
        back.header("location"),
        Some("https://app.flowday.example/settings/calendars?calendar_error=access_denied")
    );
    stack
        .call(Method::POST, "/v1/calendar/connections/yahoo", token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn another_users_connection_is_404_and_deleting_one_removes_its_events_and_stops_its_channel() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    google.put_event(timed("one", "One", "2027-01-05T10:00:00+01:00", "2027-01-05T11:00:00+01:00"));
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    stack.run_calendar_sync().await;
    let id = connection(&stack, token).await["id"].as_str().unwrap().to_string();
    let eve = stack.signup("Eve").await;
    let eve_token = eve["access_token"].as_str();
    let path = format!("/v1/calendar/connections/{id}");
    stack.call(Method::DELETE, &path, eve_token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack
        .call(Method::POST, &format!("{path}/sync"), eve_token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(listed(&stack, eve_token, WEEK).await.is_empty());

    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    stack.run_calendar_sync().await;
    assert!(listed(&stack, token, WEEK).await.is_empty(), "its events went with it");
    assert!(google.channels().is_empty(), "its channel was stopped");
    stack.call(Method::DELETE, &path, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn outlook_syncs_through_graph_delta_and_its_notifications_and_lifecycle_events() {
    let Calendars { google: _google, graph, stack } = calendars().await;
    let soon = Utc::now() + Duration::days(2);
    let at = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:00:00Z").to_string();
    graph.put_event(json!({"id": "AAMk-1", "subject": "Quarterly review", "showAs": "busy",
        "start": {"dateTime": at(soon), "timeZone": "UTC"}, "end": {"dateTime": at(soon + Duration::hours(1)), "timeZone": "UTC"}}));
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    let back = stack.connect_calendar(token, "outlook").await;
    assert_eq!(back.header("location"), Some("https://app.flowday.example/settings/calendars?connected=outlook"));
    stack.run_calendar_sync().await;
    let range = format!("/v1/calendar/events?from={}&to={}", at(Utc::now()), at(Utc::now() + Duration::days(7)));
    assert_eq!(
        listed(&stack, token, &range).await,
        [("Quarterly review".to_string(), at(soon), "outlook".to_string())]
    );
    let subscription = graph.subscriptions().last().cloned().expect("a subscription");
    assert!(subscription.expiration <= Utc::now() + Duration::minutes(FakeGraph::MAX_SUBSCRIPTION_MINUTES));

    graph.put_event(json!({"id": "AAMk-2", "subject": "Offsite", "showAs": "free",
        "start": {"dateTime": at(soon + Duration::days(1)), "timeZone": "UTC"}, "end": {"dateTime": at(soon + Duration::days(1) + Duration::hours(3)), "timeZone": "UTC"}}));
    graph.delete_event("AAMk-1");
    let notification = |client_state: &str, lifecycle: Option<&str>| {
        let mut item = json!({"subscriptionId": subscription.id, "clientState": client_state, "changeType": "updated",
            "resource": "Users/x/Events/AAMk-2", "tenantId": "t"});
        if let Some(event) = lifecycle {
            item["lifecycleEvent"] = json!(event);
        }
        json!({"value": [item]})
    };
    let client_state = subscription.client_state.clone().unwrap();
    let wrong =
        stack.call(Method::POST, "/webhooks/microsoft-graph", None, Some(notification("forged.state.x", None))).await;
    assert_eq!(wrong.status, StatusCode::ACCEPTED);
    assert!(stack.drain_queue("CalendarSyncQueue").await.is_empty(), "a wrong clientState queues nothing");
    let right =
        stack.call(Method::POST, "/webhooks/microsoft-graph", None, Some(notification(&client_state, None))).await;
    assert_eq!(right.status, StatusCode::ACCEPTED);
    stack.run_calendar_sync().await;
    let found = listed(&stack, token, &range).await;
    assert_eq!(found.iter().map(|(title, ..)| title.as_str()).collect::<Vec<_>>(), ["Offsite"], "moved on: {found:?}");

    let before = graph.subscriptions().last().unwrap().expiration;
    let lifecycle = notification(&client_state, Some("reauthorizationRequired"));
    assert_eq!(
        stack.call(Method::POST, "/webhooks/microsoft-graph", None, Some(lifecycle)).await.status,
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    stack.run_calendar_sync().await;
    let renewed = graph.subscriptions().last().cloned().unwrap();
    assert_eq!(renewed.id, subscription.id, "renewed in place");
    assert!(renewed.expiration > before, "{} > {before}", renewed.expiration);

    let validation =
        "/webhooks/microsoft-graph?validationToken=Validation%3A%20Testing%20client%20application%20reachability";
    let handshake = stack.call(Method::POST, validation, None, None).await;
    assert_eq!(handshake.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(handshake.body, "Validation: Testing client application reachability");
}

#[tokio::test]
async fn maintenance_queues_the_renewal_of_watches_that_expire_within_a_day() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    stack.run_calendar_sync().await;
    let store = stack.store("api-calendar");
    let user_id = me["user"]["id"].as_str().unwrap();
    let id = connection(&stack, token).await["id"].as_str().unwrap().to_string();
    let mut item = store.connections().get_connection(user_id, &id).await.unwrap().unwrap();
    let mut watch = item.watch.clone().unwrap();
    let state = stack.job_state("maintenance", maintenance::state);
    let report = maintenance::run(&state, maintenance::MaintenanceEvent::default()).await.unwrap();
    assert_eq!(report.watches_renewed, 0, "a week-long channel is not due");

    watch.expires_at = Utc::now() + Duration::hours(20);
    store.connections().set_watch(&item, &watch, item.watch_secret_hash.as_deref().unwrap()).await.unwrap();
    item.watch = Some(watch);
    let report = maintenance::run(&state, maintenance::MaintenanceEvent::default()).await.unwrap();
    assert_eq!(report.watches_renewed, 1);
    let old_channel = google.channels().last().cloned().unwrap();
    stack.run_calendar_sync().await;
    let channels = google.channels();
    assert_eq!(channels.len(), 1, "a new channel, the old one stopped");
    assert_ne!(channels[0].id, old_channel.id);
    assert_eq!(google_notifies(&stack, &google).await, StatusCode::OK, "the new channel's token is the current one");
}

#[tokio::test]
async fn providers_and_calendar_apps_calling_from_one_address_are_not_held_to_a_clients_budget() {
    let Calendars { google, graph: _graph, stack } = calendars().await;
    let me = stack.signup("Ada").await;
    let token = me["access_token"].as_str();
    stack.connect_calendar(token, "google").await;
    stack.run_calendar_sync().await;
    let feed = stack.call(Method::POST, "/v1/calendar/feed", token, None).await;
    let url = feed.body["url"].as_str().unwrap();
    let feed_path = &url[url.find("/v1/").unwrap()..];
    // One address's budget is 60 a minute; Google notifies for all our users from a few.
    for _ in 0..70 {
        assert_eq!(google_notifies(&stack, &google).await, StatusCode::OK);
        assert_eq!(stack.call(Method::GET, feed_path, None, None).await.status, StatusCode::OK);
    }
    let login =
        stack.call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "x@example.com", "password": "y"})));
    // Those 140 calls spent nothing of the address's budget: its own requests still go through.
    login.await.assert_problem(StatusCode::UNAUTHORIZED, "invalid_credentials");
}

#[tokio::test]
async fn a_body_that_is_not_a_graph_notification_batch_is_400_and_queues_nothing() {
    let Calendars { google: _google, graph: _graph, stack } = calendars().await;
    for body in [json!("not a batch"), json!({"value": "x"}), json!({"value": [{"clientState": "a.b.c"}]})] {
        let answer = stack.call(Method::POST, "/webhooks/microsoft-graph", None, Some(body)).await;
        answer.assert_problem(StatusCode::BAD_REQUEST, "malformed_notification");
    }
    let unknown = stack.call(Method::POST, "/webhooks/microsoft-graph?validation=x", None, None).await;
    unknown.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(stack.drain_queue("CalendarSyncQueue").await.is_empty(), "nothing queued");
}
