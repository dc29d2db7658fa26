//! The calendar providers' clients against the local fakes of Google and Microsoft Graph: OAuth
//! with PKCE, refresh and revocation, paged full syncs and incremental syncs, the providers'
//! errors, and push channels / subscriptions.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use flowday_tests::calendar_fakes::{FakeGoogleCalendar, FakeGraph};
use shared::integrations::calendars::google::GoogleCalendar;
use shared::integrations::calendars::microsoft::MicrosoftCalendar;
use shared::integrations::calendars::{
    CalendarProvider, ChangePage, Grant, Original, ProviderError, SyncFrom, UpstreamChange, UpstreamEvent,
    UpstreamWhen, Watch, WatchRequest,
};

const REDIRECT_URI: &str = "https://api.flowday.test/v1/calendar/connections/callback";
const STATE: &str = "state-4f1c";

/// The outbound client as the functions build it.
fn http() -> reqwest::Client {
    shared::integrations::http_client().unwrap()
}

fn google(fake: &FakeGoogleCalendar) -> GoogleCalendar {
    GoogleCalendar::new(http(), fake.config())
}

fn microsoft(fake: &FakeGraph) -> MicrosoftCalendar {
    MicrosoftCalendar::new(http(), fake.config())
}

/// A PKCE pair: the verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!("verifier-{:032x}-{:032x}", rand::random::<u128>(), rand::random::<u128>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn query_of(url: &str) -> HashMap<String, String> {
    let url = reqwest::Url::parse(url).expect("an absolute URL");
    url.query_pairs().map(|(name, value)| (name.into_owned(), value.into_owned())).collect()
}

/// Follows the consent URL as a browser whose user consents, and returns the code the callback
/// would receive (after checking the state came back).
async fn consent(provider: &dyn CalendarProvider, code_challenge: &str) -> String {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = browser.get(provider.authorize_url(STATE, code_challenge, REDIRECT_URI)).send().await.unwrap();
    assert_eq!(response.status(), 302, "the consent page redirects to the callback");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{REDIRECT_URI}?")), "{location}");
    let callback = query_of(&location);
    assert_eq!(callback["state"], STATE);
    callback["code"].clone()
}

/// Consent and code exchange: a connected account's grant.
async fn connect(provider: &dyn CalendarProvider) -> Grant {
    let (verifier, challenge) = pkce();
    let code = consent(provider, &challenge).await;
    provider.exchange_code(&code, &verifier, REDIRECT_URI).await.expect("the exchange works")
}

/// Pages from `from` until the cursor: every change, the number of pages, the cursor.
async fn sync(
    provider: &dyn CalendarProvider,
    token: &str,
    calendar: &str,
    from: SyncFrom,
) -> (Vec<UpstreamChange>, usize, String) {
    let mut from = from;
    let mut changes = Vec::new();
    for pages in 1..=20 {
        let ChangePage { changes: page, next } = provider.changes(token, calendar, &from).await.expect("a page");
        changes.extend(page);
        match next {
            SyncFrom::Cursor(cursor) => return (changes, pages, cursor),
            next => from = next,
        }
    }
    panic!("no cursor after 20 pages");
}

fn event_ids(changes: &[UpstreamChange]) -> Vec<String> {
    changes
        .iter()
        .map(|change| match change {
            UpstreamChange::Event(event) => event.upstream_id.clone(),
            other => panic!("expected events only, got {other:?}"),
        })
        .collect()
}

fn only_event(changes: &[UpstreamChange]) -> &UpstreamEvent {
    match changes {
        [UpstreamChange::Event(event)] => event,
        other => panic!("expected one event, got {other:?}"),
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

fn watch_request(channel_id: &str) -> WatchRequest {
    WatchRequest {
        channel_id: channel_id.to_string(),
        address: "https://api.flowday.test/v1/calendar/webhooks/google".to_string(),
        lifecycle_address: Some("https://api.flowday.test/v1/calendar/webhooks/outlook".to_string()),
        secret: "channel-secret-7d2e".to_string(),
    }
}

fn google_event(id: &str, summary: &str, start: &str, end: &str) -> Value {
    json!({
        "id": id, "summary": summary,
        "start": { "dateTime": start, "timeZone": "Europe/Berlin" },
        "end": { "dateTime": end, "timeZone": "Europe/Berlin" },
    })
}

fn graph_event(id: &str, subject: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    json!({
        "id": id, "subject": subject,
        "start": { "dateTime": start.to_rfc3339(), "timeZone": "UTC" },
        "end": { "dateTime": end.to_rfc3339(), "timeZone": "UTC" },
    })
}

/// An hour at `days` from now, on the minute.
fn graph_slot(days: i64) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc::now() + chrono::Duration::days(days);
    let start = Utc.timestamp_opt(start.timestamp() - start.timestamp() % 60, 0).unwrap();
    (start, start + chrono::Duration::hours(1))
}

// ---------------------------------------------------------------------------------------------
// Google

#[tokio::test]
async fn google_consent_and_code_exchange_with_pkce() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);

    let url = provider.authorize_url(STATE, "challenge", REDIRECT_URI);
    let asked = query_of(&url);
    assert!(url.starts_with(&format!("{}/o/oauth2/v2/auth?", fake.uri())));
    assert_eq!(asked["scope"], "openid email https://www.googleapis.com/auth/calendar.readonly");
    assert_eq!(asked["redirect_uri"], REDIRECT_URI);
    assert_eq!((asked["access_type"].as_str(), asked["prompt"].as_str()), ("offline", "consent"));
    assert_eq!((asked["code_challenge"].as_str(), asked["code_challenge_method"].as_str()), ("challenge", "S256"));

    let (verifier, challenge) = pkce();
    let code = consent(&provider, &challenge).await;
    let grant = provider.exchange_code(&code, &verifier, REDIRECT_URI).await.unwrap();
    assert!(grant.refresh_token.is_some(), "offline access gives a refresh token");
    let lifetime = grant.expires_at - Utc::now();
    assert!(lifetime > chrono::Duration::seconds(3500) && lifetime <= chrono::Duration::seconds(3599));
    assert!(provider.account(&grant.access_token).await.is_ok(), "the access token works");

    let reused = provider.exchange_code(&code, &verifier, REDIRECT_URI).await;
    assert!(matches!(reused, Err(ProviderError::GrantRefused(_))), "a code works once: {reused:?}");

    let (_, other_challenge) = pkce();
    let code = consent(&provider, &other_challenge).await;
    let wrong_verifier = provider.exchange_code(&code, &verifier, REDIRECT_URI).await;
    assert!(matches!(wrong_verifier, Err(ProviderError::GrantRefused(_))), "{wrong_verifier:?}");
}

#[tokio::test]
async fn google_refresh_keeps_the_refresh_token_and_revocation_refuses_it() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let grant = connect(&provider).await;
    let refresh_token = grant.refresh_token.clone().unwrap();

    fake.expire_access_tokens();
    assert_eq!(provider.account(&grant.access_token).await, Err(ProviderError::Unauthorized));
    let refreshed = provider.refresh(&refresh_token).await.unwrap();
    assert_eq!(refreshed.refresh_token, None, "Google keeps the refresh token");
    assert_ne!(refreshed.access_token, grant.access_token);
    assert!(provider.account(&refreshed.access_token).await.is_ok());
    assert!(provider.refresh(&refresh_token).await.is_ok(), "the same refresh token works again");
    assert_eq!(fake.refreshes(), 2);

    fake.revoke_grant();
    assert_eq!(
        provider.refresh(&refresh_token).await,
        Err(ProviderError::GrantRefused("Token has been expired or revoked.".into()))
    );
    assert_eq!(provider.account(&refreshed.access_token).await, Err(ProviderError::Unauthorized));
}

#[tokio::test]
async fn google_account_is_the_primary_calendar() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let grant = connect(&provider).await;
    let account = provider.account(&grant.access_token).await.unwrap();
    assert_eq!(account.email, FakeGoogleCalendar::EMAIL);
    assert_eq!(account.calendar_id, FakeGoogleCalendar::EMAIL);
}

#[tokio::test]
async fn google_full_sync_pages_then_hands_out_a_cursor() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;
    for index in 0..600 {
        fake.put_event(google_event(
            &format!("evt{index:03}"),
            &format!("Event {index}"),
            "2026-12-07T10:00:00+01:00",
            "2026-12-07T11:00:00+01:00",
        ));
    }

    let (changes, pages, cursor) = sync(&provider, &token, FakeGoogleCalendar::EMAIL, SyncFrom::Start).await;
    assert_eq!(pages, 3, "250 + 250 + 100");
    let ids = event_ids(&changes);
    assert_eq!(ids.len(), 600);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 600, "each event once");
    assert_eq!(fake.calls("GET /calendar/v3/calendars/ada@example.com/events"), 3);

    let nothing = provider.changes(&token, FakeGoogleCalendar::EMAIL, &SyncFrom::Cursor(cursor.clone())).await.unwrap();
    assert_eq!(nothing, ChangePage { changes: Vec::new(), next: SyncFrom::Cursor(cursor) });
}

#[tokio::test]
async fn google_incremental_sync_gives_exactly_the_changes() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;
    let calendar = FakeGoogleCalendar::EMAIL;
    fake.put_event(google_event("moved", "Moved", "2026-12-07T10:00:00+01:00", "2026-12-07T11:00:00+01:00"));
    fake.put_event(google_event("deleted", "Deleted", "2026-12-08T10:00:00+01:00", "2026-12-08T11:00:00+01:00"));
    fake.put_event(google_event("untouched", "Same", "2026-12-09T10:00:00+01:00", "2026-12-09T11:00:00+01:00"));
    let mut series = google_event("series", "Standup", "2026-12-07T09:00:00+01:00", "2026-12-07T09:15:00+01:00");
    series["recurrence"] = json!(["RRULE:FREQ=DAILY;COUNT=10"]);
    fake.put_event(series);
    let (_, _, cursor) = sync(&provider, &token, calendar, SyncFrom::Start).await;

    fake.put_event(google_event("moved", "Moved", "2026-12-07T15:00:00+01:00", "2026-12-07T16:00:00+01:00"));
    fake.delete_event("deleted");
    fake.put_event(google_event("new", "New", "2026-12-10T10:00:00+01:00", "2026-12-10T11:00:00+01:00"));
    fake.cancel_occurrence("series", Original::At(utc("2026-12-08T08:00:00Z")));
    let mut exception = google_event(
        "series_20261209T080000Z",
        "Standup (late)",
        "2026-12-09T12:00:00+01:00",
        "2026-12-09T12:15:00+01:00",
    );
    exception["recurringEventId"] = json!("series");
    exception["originalStartTime"] = json!({ "dateTime": "2026-12-09T09:00:00+01:00", "timeZone": "Europe/Berlin" });
    fake.put_event(exception);

    let (changes, _, _) = sync(&provider, &token, calendar, SyncFrom::Cursor(cursor)).await;
    assert_eq!(changes.len(), 5, "{changes:#?}");
    let moved = changes.iter().find_map(|change| match change {
        UpstreamChange::Event(event) if event.upstream_id == "moved" => Some(event.when),
        _ => None,
    });
    assert_eq!(
        moved,
        Some(UpstreamWhen::Timed { start: utc("2026-12-07T14:00:00Z"), end: utc("2026-12-07T15:00:00Z") })
    );
    assert!(changes.contains(&UpstreamChange::Removed { upstream_id: "deleted".into() }));
    assert!(changes.iter().any(|change| matches!(change, UpstreamChange::Event(event) if event.upstream_id == "new")));
    assert!(changes.contains(&UpstreamChange::Occurrence {
        series_id: "series".into(),
        original: Original::At(utc("2026-12-08T08:00:00Z")),
        replacement: None,
    }));
    let replacement = changes.iter().find_map(|change| match change {
        UpstreamChange::Occurrence { series_id, original, replacement: Some(replacement) } => {
            assert_eq!((series_id.as_str(), *original), ("series", Original::At(utc("2026-12-09T08:00:00Z"))));
            Some(replacement)
        }
        _ => None,
    });
    let replacement = replacement.expect("the moved occurrence");
    assert_eq!(replacement.title, "Standup (late)");
    assert_eq!(
        replacement.when,
        UpstreamWhen::Timed { start: utc("2026-12-09T11:00:00Z"), end: utc("2026-12-09T11:15:00Z") }
    );
}

#[tokio::test]
async fn google_series_exdates_are_converted_across_daylight_saving_time() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;
    let mut series = google_event("weekly", "Weekly", "2026-10-12T10:00:00+02:00", "2026-10-12T11:00:00+02:00");
    series["recurrence"] = json!([
        "RRULE:FREQ=WEEKLY;BYDAY=MO",
        // Summer time (UTC+2), winter time (UTC+1), the doubled hour (the first is meant) and the
        // skipped hour (the offset from before the gap).
        "EXDATE;TZID=Europe/Berlin:20261019T100000,20261026T100000,20261025T023000,20270328T023000",
        "EXDATE:20261102T090000Z",
        "RDATE;TZID=Europe/Berlin:20261020T100000",
    ]);
    fake.put_event(series);

    let (changes, _, _) = sync(&provider, &token, "primary", SyncFrom::Start).await;
    let event = only_event(&changes);
    assert_eq!(event.rrule.as_deref(), Some("FREQ=WEEKLY;BYDAY=MO"));
    assert_eq!(event.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        event.when,
        UpstreamWhen::Timed { start: utc("2026-10-12T08:00:00Z"), end: utc("2026-10-12T09:00:00Z") }
    );
    let expected = [
        "2026-10-19T08:00:00Z",
        "2026-10-26T09:00:00Z",
        "2026-10-25T00:30:00Z",
        "2027-03-28T01:30:00Z",
        "2026-11-02T09:00:00Z",
    ];
    assert_eq!(event.exdates, expected.map(|at| Original::At(utc(at))).to_vec());
}

#[tokio::test]
async fn google_all_day_and_free_events() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;
    fake.put_event(json!({
        "id": "holiday",
        "start": { "date": "2026-12-24" }, "end": { "date": "2026-12-27" },
        "transparency": "transparent",
        "description": "Office closed", "location": "",
        "recurrence": ["RRULE:FREQ=YEARLY", "EXDATE;VALUE=DATE:20271224"],
    }));

    let (changes, _, _) = sync(&provider, &token, "primary", SyncFrom::Start).await;
    let event = only_event(&changes);
    assert_eq!(event.when, UpstreamWhen::AllDay { start: day("2026-12-24"), end: day("2026-12-27") });
    assert_eq!(event.title, "(no title)");
    assert_eq!(event.description.as_deref(), Some("Office closed"));
    assert_eq!(event.location, None);
    assert!(!event.busy);
    assert_eq!(event.timezone, None);
    assert_eq!(event.exdates, vec![Original::Day(day("2027-12-24"))]);
}

#[tokio::test]
async fn google_expired_sync_token_asks_for_a_full_sync() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;
    fake.put_event(google_event("one", "One", "2026-12-07T10:00:00+01:00", "2026-12-07T11:00:00+01:00"));
    let (_, _, cursor) = sync(&provider, &token, "primary", SyncFrom::Start).await;

    fake.expire_sync_tokens();
    let expired = provider.changes(&token, "primary", &SyncFrom::Cursor(cursor)).await;
    assert_eq!(expired, Err(ProviderError::SyncExpired));
    let (changes, _, _) = sync(&provider, &token, "primary", SyncFrom::Start).await;
    assert_eq!(event_ids(&changes), ["one"], "a full sync starts over");
}

#[tokio::test]
async fn google_throttling_and_failures() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;

    fake.fail_next(429, Some(7), 1);
    let throttled = provider.changes(&token, "primary", &SyncFrom::Start).await;
    assert_eq!(throttled, Err(ProviderError::Throttled { retry_after: Some(Duration::from_secs(7)) }));
    fake.fail_next(403, None, 1);
    assert_eq!(provider.account(&token).await, Err(ProviderError::Throttled { retry_after: None }));
    fake.fail_next(503, Some(2), 1);
    let unavailable = provider.changes(&token, "primary", &SyncFrom::Start).await;
    assert_eq!(unavailable, Err(ProviderError::Throttled { retry_after: Some(Duration::from_secs(2)) }));

    fake.fail_next(500, None, 1);
    match provider.account(&token).await {
        Err(ProviderError::Failed(message)) => {
            assert!(message.contains("500"), "{message}");
            assert!(!message.contains(&token), "no token in errors");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(provider.changes(&token, "primary", &SyncFrom::Start).await.is_ok(), "the failures are over");
}

#[tokio::test]
async fn google_watch_renew_and_stop() {
    let fake = FakeGoogleCalendar::start().await;
    let provider = google(&fake);
    let token = connect(&provider).await.access_token;
    let calendar = FakeGoogleCalendar::EMAIL;

    let watch = provider.watch(&token, calendar, &watch_request("channel-1")).await.unwrap();
    let channels = fake.channels();
    assert_eq!(channels.len(), 1);
    assert_eq!(watch.id, "channel-1");
    assert_eq!(watch.resource_id.as_deref(), Some(channels[0].resource_id.as_str()));
    assert_eq!(channels[0].token.as_deref(), Some("channel-secret-7d2e"));
    assert_eq!(channels[0].address, "https://api.flowday.test/v1/calendar/webhooks/google");
    let lifetime = watch.expires_at - Utc::now();
    assert!(
        lifetime > chrono::Duration::days(7) - chrono::Duration::minutes(1) && lifetime <= chrono::Duration::days(7)
    );

    let renewed = provider.renew(&token, calendar, &watch, &watch_request("channel-2")).await.unwrap();
    assert_eq!(renewed.id, "channel-2");
    let live: Vec<String> = fake.channels().into_iter().map(|channel| channel.id).collect();
    assert_eq!(live, ["channel-2"], "the old channel is stopped");

    provider.stop(&token, &renewed).await.unwrap();
    assert!(fake.channels().is_empty());
    assert_eq!(provider.stop(&token, &renewed).await, Ok(()), "a channel already gone is not an error");
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph

#[tokio::test]
async fn microsoft_consent_and_code_exchange_with_pkce() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);

    let url = provider.authorize_url(STATE, "challenge", REDIRECT_URI);
    let asked = query_of(&url);
    assert!(url.starts_with(&format!("{}/common/oauth2/v2.0/authorize?", fake.login_base())));
    assert_eq!(asked["scope"], "offline_access User.Read Calendars.Read");
    assert_eq!((asked["response_mode"].as_str(), asked["redirect_uri"].as_str()), ("query", REDIRECT_URI));
    assert_eq!((asked["code_challenge"].as_str(), asked["code_challenge_method"].as_str()), ("challenge", "S256"));

    let (verifier, challenge) = pkce();
    let code = consent(&provider, &challenge).await;
    let grant = provider.exchange_code(&code, &verifier, REDIRECT_URI).await.unwrap();
    assert!(grant.refresh_token.is_some());
    assert!(grant.expires_at > Utc::now() + chrono::Duration::seconds(3500));
    assert!(provider.account(&grant.access_token).await.is_ok());

    match provider.exchange_code(&code, &verifier, REDIRECT_URI).await {
        Err(ProviderError::GrantRefused(reason)) => assert!(reason.starts_with("AADSTS54005"), "{reason}"),
        other => panic!("a code works once: {other:?}"),
    }
    let (_, other_challenge) = pkce();
    let code = consent(&provider, &other_challenge).await;
    match provider.exchange_code(&code, &verifier, REDIRECT_URI).await {
        Err(ProviderError::GrantRefused(reason)) => {
            assert!(reason.starts_with("AADSTS501481"), "{reason}");
            assert!(!reason.contains("Trace ID"), "only the first line: {reason}");
        }
        other => panic!("a wrong verifier is refused: {other:?}"),
    }
}

#[tokio::test]
async fn microsoft_refresh_rotates_and_revocation_refuses() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let grant = connect(&provider).await;
    let first = grant.refresh_token.clone().unwrap();

    fake.expire_access_tokens();
    assert_eq!(provider.account(&grant.access_token).await, Err(ProviderError::Unauthorized));
    let refreshed = provider.refresh(&first).await.unwrap();
    let second = refreshed.refresh_token.clone().expect("Microsoft rotates the refresh token");
    assert_ne!(second, first);
    assert!(provider.account(&refreshed.access_token).await.is_ok());
    assert!(matches!(provider.refresh(&first).await, Err(ProviderError::GrantRefused(_))), "the old one is spent");
    assert_eq!(fake.refreshes(), 2);

    fake.revoke_grant();
    match provider.refresh(&second).await {
        Err(ProviderError::GrantRefused(reason)) => assert!(reason.starts_with("AADSTS50173"), "{reason}"),
        other => panic!("expected GrantRefused, got {other:?}"),
    }
    assert_eq!(provider.account(&refreshed.access_token).await, Err(ProviderError::Unauthorized));
}

#[tokio::test]
async fn microsoft_account_prefers_mail_then_the_principal_name() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;

    let account = provider.account(&token).await.unwrap();
    assert_eq!((account.email.as_str(), account.calendar_id.as_str()), (FakeGraph::EMAIL, FakeGraph::CALENDAR_ID));
    fake.set_mail(None);
    assert_eq!(provider.account(&token).await.unwrap().email, FakeGraph::USER_PRINCIPAL_NAME);
}

#[tokio::test]
async fn microsoft_full_sync_pages_over_the_window_then_hands_out_a_delta_link() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;
    for index in 0..600 {
        let (start, end) = graph_slot(1 + index % 300);
        fake.put_event(graph_event(&format!("AAMk-{index:03}"), &format!("Event {index}"), start, end));
    }
    let (start, end) = graph_slot(400);
    fake.put_event(graph_event("AAMk-too-far", "Beyond the window", start, end));

    let (changes, pages, cursor) = sync(&provider, &token, FakeGraph::CALENDAR_ID, SyncFrom::Start).await;
    assert_eq!(pages, 3, "250 + 250 + 100: the page size is asked for");
    let ids = event_ids(&changes);
    assert_eq!(ids.len(), 600);
    assert!(!ids.contains(&"AAMk-too-far".to_string()), "a year ahead at most");
    assert_eq!(fake.calls("/me/calendarView/delta"), 3);
    assert!(cursor.starts_with(&format!("{}/me/calendarView/delta?", fake.graph_base())));

    let nothing = provider.changes(&token, FakeGraph::CALENDAR_ID, &SyncFrom::Cursor(cursor)).await.unwrap();
    assert!(nothing.changes.is_empty());
    assert!(matches!(nothing.next, SyncFrom::Cursor(_)));
}

#[tokio::test]
async fn microsoft_incremental_sync_gives_exactly_the_changes() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;
    let calendar = FakeGraph::CALENDAR_ID;
    let (start, end) = graph_slot(3);
    fake.put_event(graph_event("AAMk-moved", "Moved", start, end));
    fake.put_event(graph_event("AAMk-deleted", "Deleted", start, end));
    fake.put_event(graph_event("AAMk-untouched", "Same", start, end));
    let (_, _, cursor) = sync(&provider, &token, calendar, SyncFrom::Start).await;

    let (moved_start, moved_end) = graph_slot(5);
    fake.put_event(graph_event("AAMk-moved", "Moved", moved_start, moved_end));
    fake.delete_event("AAMk-deleted");
    fake.put_event(json!({
        "id": "AAMk-new", "subject": "", "bodyPreview": "Agenda: budget", "location": { "displayName": "Room 4" },
        "start": { "dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "UTC" },
        "end": { "dateTime": "2026-12-07T09:30:00.0000000", "timeZone": "UTC" },
        "showAs": "free",
    }));

    let (changes, _, _) = sync(&provider, &token, calendar, SyncFrom::Cursor(cursor)).await;
    assert_eq!(changes.len(), 3, "{changes:#?}");
    assert!(changes.contains(&UpstreamChange::Removed { upstream_id: "AAMk-deleted".into() }));
    let event = |id: &str| {
        changes.iter().find_map(|change| match change {
            UpstreamChange::Event(event) if event.upstream_id == id => Some(event.clone()),
            _ => None,
        })
    };
    assert_eq!(event("AAMk-moved").unwrap().when, UpstreamWhen::Timed { start: moved_start, end: moved_end });
    let new = event("AAMk-new").unwrap();
    assert_eq!(
        new,
        UpstreamEvent {
            upstream_id: "AAMk-new".into(),
            title: "(no title)".into(),
            description: Some("Agenda: budget".into()),
            location: Some("Room 4".into()),
            when: UpstreamWhen::Timed { start: utc("2026-12-07T09:00:00Z"), end: utc("2026-12-07T09:30:00Z") },
            timezone: None,
            rrule: None,
            exdates: Vec::new(),
            busy: false,
        }
    );
}

#[tokio::test]
async fn microsoft_all_day_and_cancelled_instances() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;
    let midnight =
        Utc.from_utc_datetime(&(Utc::now().date_naive() + chrono::Days::new(10)).and_hms_opt(0, 0, 0).unwrap());
    let mut all_day = graph_event("AAMk-trip", "Trip", midnight, midnight + chrono::Duration::days(2));
    all_day["isAllDay"] = json!(true);
    fake.put_event(all_day);
    let (start, end) = graph_slot(2);
    let mut cancelled = graph_event("AAMk-cancelled", "Cancelled meeting", start, end);
    cancelled["isCancelled"] = json!(true);
    fake.put_event(cancelled);

    let (changes, _, _) = sync(&provider, &token, FakeGraph::CALENDAR_ID, SyncFrom::Start).await;
    assert!(changes.contains(&UpstreamChange::Removed { upstream_id: "AAMk-cancelled".into() }));
    let trip = changes.iter().find_map(|change| match change {
        UpstreamChange::Event(event) => Some(event),
        _ => None,
    });
    let start_day = midnight.date_naive();
    assert_eq!(
        trip.map(|trip| (trip.title.as_str(), trip.when, trip.busy)),
        Some(("Trip", UpstreamWhen::AllDay { start: start_day, end: start_day + chrono::Days::new(2) }, true))
    );
}

#[tokio::test]
async fn microsoft_expired_delta_link_asks_for_a_full_sync() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;
    let (_, _, cursor) = sync(&provider, &token, FakeGraph::CALENDAR_ID, SyncFrom::Start).await;

    fake.expire_delta_links();
    let expired = provider.changes(&token, FakeGraph::CALENDAR_ID, &SyncFrom::Cursor(cursor)).await;
    assert_eq!(expired, Err(ProviderError::SyncExpired));
}

#[tokio::test]
async fn microsoft_throttling_and_expired_tokens() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;

    fake.fail_next(429, Some(7), 1);
    let throttled = provider.changes(&token, FakeGraph::CALENDAR_ID, &SyncFrom::Start).await;
    assert_eq!(throttled, Err(ProviderError::Throttled { retry_after: Some(Duration::from_secs(7)) }));
    fake.fail_next(503, None, 1);
    assert_eq!(provider.account(&token).await, Err(ProviderError::Throttled { retry_after: None }));
    assert!(provider.account(&token).await.is_ok(), "the failures are over");

    fake.expire_access_tokens();
    let refused = provider.changes(&token, FakeGraph::CALENDAR_ID, &SyncFrom::Start).await;
    assert_eq!(refused, Err(ProviderError::Unauthorized));
}

#[tokio::test]
async fn microsoft_subscription_create_renew_and_delete() {
    let fake = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;
    let calendar = FakeGraph::CALENDAR_ID;
    let request = watch_request("unused-by-graph");

    let watch = provider.watch(&token, calendar, &request).await.unwrap();
    let subscriptions = fake.subscriptions();
    assert_eq!(subscriptions.len(), 1);
    let subscription = &subscriptions[0];
    assert_eq!(watch, Watch { id: subscription.id.clone(), resource_id: None, expires_at: subscription.expiration });
    assert_eq!(
        (subscription.resource.as_str(), subscription.change_type.as_str()),
        ("me/events", "created,updated,deleted")
    );
    assert_eq!(subscription.client_state.as_deref(), Some("channel-secret-7d2e"));
    assert_eq!(subscription.notification_url, request.address);
    assert_eq!(subscription.lifecycle_notification_url, request.lifecycle_address);
    assert!(watch.expires_at > Utc::now() + chrono::Duration::minutes(10_060), "close to Graph's week");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let renewed = provider.renew(&token, calendar, &watch, &request).await.unwrap();
    assert_eq!(renewed.id, watch.id, "Graph extends in place");
    assert!(renewed.expires_at > watch.expires_at);
    assert_eq!(fake.subscriptions()[0].expiration, renewed.expires_at);

    provider.stop(&token, &renewed).await.unwrap();
    assert!(fake.subscriptions().is_empty());
    assert_eq!(provider.stop(&token, &renewed).await, Ok(()), "already gone is not an error");
    assert_eq!(provider.renew(&token, calendar, &renewed, &request).await, Err(ProviderError::WatchGone));
}

#[tokio::test]
async fn microsoft_refuses_links_outside_graph() {
    let fake = FakeGraph::start().await;
    let elsewhere = FakeGraph::start().await;
    let provider = microsoft(&fake);
    let token = connect(&provider).await.access_token;

    let foreign = [
        format!("{}/me/calendarView/delta?$deltatoken=abc", elsewhere.graph_base()),
        format!("{}.elsewhere.test/me/calendarView/delta", fake.graph_base()),
        format!("{}/me/calendarView/delta", fake.uri()),
    ];
    for link in foreign {
        for from in [SyncFrom::Page(link.clone()), SyncFrom::Cursor(link.clone())] {
            match provider.changes(&token, FakeGraph::CALENDAR_ID, &from).await {
                Err(ProviderError::Failed(message)) => assert!(!message.contains(&link), "{message}"),
                other => panic!("{link} was followed: {other:?}"),
            }
        }
    }
    assert!(elsewhere.requests().is_empty(), "the token never left for another host");
    assert_eq!(fake.calls("delta"), 0);
}
