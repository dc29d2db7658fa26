//! The calendar feed: own events as iCalendar at a secret URL, checked by an independent
//! iCalendar library, cached by ETag, and ended by rotation or deletion.

use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::json;

async fn create(stack: &TestStack, token: Option<&str>, body: serde_json::Value) -> flowday_tests::TestResponse {
    let response = stack.call(Method::POST, "/v1/calendar/events", token, Some(body)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
    response
}

/// Creates (or rotates) the caller's feed; answers the path of its secret URL.
async fn feed_path(stack: &TestStack, token: Option<&str>) -> String {
    let created = stack.call(Method::POST, "/v1/calendar/feed", token, None).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    path_of(created.body["url"].as_str().unwrap())
}

fn path_of(url: &str) -> String {
    url[url.find("/v1/calendar/feed/").expect("a feed URL")..].to_string()
}

fn meeting(title: &str) -> serde_json::Value {
    json!({"title": title, "start_at": "2027-02-01T09:00:00Z", "end_at": "2027-02-01T10:00:00Z"})
}

#[tokio::test]
async fn the_feed_serves_own_events_to_anyone_with_its_url_and_answers_304_until_they_change() {
    let stack = TestStack::new().await;
    let me = stack.signup("Feed").await;
    let token = me["access_token"].as_str();
    let other = stack.signup("Other").await;
    create(&stack, token, meeting("Board review")).await;
    create(&stack, other["access_token"].as_str(), meeting("Not yours")).await;

    let created = stack.call(Method::POST, "/v1/calendar/feed", token, None).await;
    assert_eq!((created.status, created.body["rotated"].as_bool()), (StatusCode::CREATED, Some(false)));
    assert!(created.body["url"].as_str().unwrap().ends_with(".ics"), "{}", created.body);
    assert_eq!(created.header("cache-control"), Some("no-store"), "the secret URL is not cached");
    let feed = path_of(created.body["url"].as_str().unwrap());

    // No bearer token: the URL is the credential.
    let served = stack.call(Method::GET, &feed, None, None).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    assert_eq!(served.header("content-type"), Some("text/calendar; charset=utf-8"));
    assert_eq!(served.header("cache-control"), Some("private, max-age=300"));
    let text = served.body.as_str().unwrap();
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.contains("SUMMARY:Board review\r\n"), "{text}");
    assert!(!text.contains("Not yours"), "another user's event leaked into the feed");

    let etag = served.header("etag").unwrap().to_string();
    let again = stack.call(Method::GET, &feed, None, None).await;
    assert_eq!(again.header("etag"), Some(etag.as_str()), "the same events give the same ETag");
    let unchanged = stack.call_with(Method::GET, &feed, None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.body, serde_json::Value::Null, "a 304 has no body");
    assert_eq!(unchanged.header("etag"), Some(etag.as_str()));

    create(&stack, token, meeting("Offsite")).await;
    let changed = stack.call_with(Method::GET, &feed, None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(changed.status, StatusCode::OK, "a new event changes the feed");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));
    assert!(changed.body.as_str().unwrap().contains("SUMMARY:Offsite"));
}

#[tokio::test]
async fn a_rotated_or_deleted_feed_and_every_guessed_token_answer_404() {
    let stack = TestStack::new().await;
    let me = stack.signup("Feed").await;
    let token = me["access_token"].as_str();
    let user_id = me["user"]["id"].as_str().unwrap();
    create(&stack, token, meeting("Private")).await;
    let first = feed_path(&stack, token).await;
    assert_eq!(stack.call(Method::GET, &first, None, None).await.status, StatusCode::OK);

    // Guesses with the real user id, in parallel: none is served.
    let guesses = (0..20).map(|_| format!("/v1/calendar/feed/{user_id}.{}.ics", shared::auth::opaque::new_secret()));
    let guessed = futures::future::join_all(guesses.map(|path| {
        let stack = &stack;
        async move { stack.call(Method::GET, &path, None, None).await }
    }))
    .await;
    for answer in guessed {
        answer.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let without_suffix = first.trim_end_matches(".ics");
    stack.call(Method::GET, without_suffix, None, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack
        .call(Method::GET, "/v1/calendar/feed/nonsense.ics", None, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    let rotated = stack.call(Method::POST, "/v1/calendar/feed", token, None).await;
    assert_eq!((rotated.status, rotated.body["rotated"].as_bool()), (StatusCode::CREATED, Some(true)));
    let second = path_of(rotated.body["url"].as_str().unwrap());
    stack.call(Method::GET, &first, None, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stack.call(Method::GET, &second, None, None).await.status, StatusCode::OK);

    assert_eq!(stack.call(Method::DELETE, "/v1/calendar/feed", token, None).await.status, StatusCode::NO_CONTENT);
    stack.call(Method::GET, &second, None, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack
        .call(Method::DELETE, "/v1/calendar/feed", token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack
        .call(Method::POST, "/v1/calendar/feed", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn of_two_rotations_at_once_exactly_one_url_handed_out_works() {
    let stack = TestStack::new().await;
    let me = stack.signup("Feed").await;
    let token = me["access_token"].as_str();
    let (a, b) = tokio::join!(
        stack.call(Method::POST, "/v1/calendar/feed", token, None),
        stack.call(Method::POST, "/v1/calendar/feed", token, None)
    );
    let mut working = 0;
    for answer in [a, b] {
        if answer.status == StatusCode::CONFLICT {
            answer.assert_problem(StatusCode::CONFLICT, "feed_rotated");
            continue;
        }
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let path = path_of(answer.body["url"].as_str().unwrap());
        if stack.call(Method::GET, &path, None, None).await.status == StatusCode::OK {
            working += 1;
        }
    }
    assert_eq!(working, 1);
}

/// The occurrences an independent iCalendar library (Python's icalendar and
/// recurring-ical-events, pinned in infra/requirements.txt) expands from `ics` in the range.
fn expanded_elsewhere(ics: &str, from: &str, to: &str) -> Vec<(String, String, String)> {
    use std::io::Write;
    let root = flowday_local::workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make venv`", python.display());
    let mut child = std::process::Command::new(python)
        .arg(root.join("tests/support/ical_occurrences.py"))
        .args([from, to])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(ics.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the iCalendar library refused the feed:\n{ics}");
    let found: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    found
        .iter()
        .map(|item| {
            let text = |name: &str| item[name].as_str().unwrap().to_string();
            (text("uid"), text("start"), text("summary"))
        })
        .collect()
}

#[tokio::test]
async fn the_feed_expands_in_an_independent_library_to_our_listing_across_dst() {
    let stack = TestStack::new().await;
    let me = stack.signup("Feed").await;
    let token = me["access_token"].as_str();
    let bodies = [
        // Mondays 09:00 Berlin, across the change of 28 March 2027.
        json!({"title": "Team sync", "start_at": "2027-03-01T08:00:00Z", "end_at": "2027-03-01T08:30:00Z",
               "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO"}),
        // Weekdays 07:30 New York, across its change of 14 March, twenty times, one left out.
        json!({"title": "Gym, early", "start_at": "2027-03-01T12:30:00Z", "end_at": "2027-03-01T13:30:00Z",
               "timezone": "America/New_York", "rrule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=20",
               "exdates": ["2027-03-16T11:30:00Z"]}),
        json!({"title": "Quarter close", "start_date": "2027-03-31", "end_date": "2027-04-01", "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1"}),
        json!({"title": "Dentist; bring forms", "start_at": "2027-03-10T09:00:00Z", "end_at": "2027-03-10T10:00:00Z"}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        let created = create(&stack, token, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        ids.push(created.body["id"].as_str().unwrap().to_string());
    }
    let sync = format!("/v1/calendar/events/{}", ids[0]);
    let moved = stack
        .call(Method::PATCH, &format!("{sync}?occurrence_id=2027-03-29T07:00:00Z"), token,
              Some(json!({"start_at": "2027-03-30T12:00:00Z", "end_at": "2027-03-30T12:30:00Z", "title": "Team sync, moved"})))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let cancelled =
        stack.call(Method::DELETE, &format!("{sync}?occurrence_id=2027-03-15T08:00:00Z"), token, None).await;
    assert_eq!(cancelled.status, StatusCode::NO_CONTENT);

    let (from, to) = ("2027-03-01T00:00:00Z", "2027-04-26T00:00:00Z");
    let page = stack.call(Method::GET, &format!("/v1/calendar/events?from={from}&to={to}"), token, None).await;
    let mut ours: Vec<(String, String, String)> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            let start = item["start_at"].as_str().or(item["start_date"].as_str()).unwrap().to_string();
            (
                format!("{}@flowday", item["event_id"].as_str().unwrap()),
                start,
                item["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ours.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    assert_eq!(ours.len(), 7 + 19 + 1 + 1, "{}", page.body);

    let feed = feed_path(&stack, token).await;
    let served = stack.call(Method::GET, &feed, None, None).await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.body);
    assert_eq!(expanded_elsewhere(served.body.as_str().unwrap(), from, to), ours);
}
