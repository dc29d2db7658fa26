//! "Plan my day" end to end: the settings (defaults, a partial PUT, If-Match, every problem
//! named), a proposal around the day's meetings that places or explains every open task, and
//! accepting it into the tasks under conditions that never double-book: a second accept, a
//! stale plan, a superseded plan, a task changed meanwhile, two accepts at once, another user.

use chrono::{Duration, Utc};
use flowday_tests::TestStack;
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Planner {
    stack: TestStack,
    token: String,
}

/// Working hours every day 09:00-17:00 (Europe/Berlin), no default estimate.
async fn planner() -> Planner {
    let stack = TestStack::new().await;
    let user = stack.signup("Planner").await;
    let token = user["access_token"].as_str().unwrap().to_string();
    let every_day = json!([{"start": "09:00", "end": "17:00"}]);
    let hours: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| (day.to_string(), every_day.clone()))
        .collect();
    let body = json!({"working_hours": hours, "default_estimate_minutes": null, "buffer_minutes": 10});
    let put = stack.call(Method::PUT, "/v1/planning/settings", Some(&token), Some(body)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    Planner { stack, token }
}

impl Planner {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> flowday_tests::TestResponse {
        self.stack.call(method, path, Some(&self.token), body).await
    }

    async fn task(&self, body: Value) -> Value {
        let created = self.call(Method::POST, "/v1/tasks", Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        created.body
    }

    async fn propose(&self, date: &str) -> Value {
        let proposed = self.call(Method::POST, "/v1/plans", Some(json!({"date": date}))).await;
        assert_eq!(proposed.status, StatusCode::CREATED, "{}", proposed.body);
        proposed.body
    }
}

/// Tomorrow in Berlin: all of its working hours lie ahead whenever the test runs.
fn tomorrow() -> String {
    (Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive() + Duration::days(1)).to_string()
}

fn at(date: &str, time: &str) -> String {
    let local = chrono::NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M").unwrap();
    let instant = local.and_local_timezone(chrono_tz::Europe::Berlin).earliest().unwrap();
    instant.with_timezone(&Utc).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn settings_start_at_the_defaults_and_every_problem_is_named() {
    let stack = TestStack::new().await;
    let token = stack.signup("Settings").await["access_token"].as_str().unwrap().to_string();
    let defaults = stack.call(Method::GET, "/v1/planning/settings", Some(&token), None).await;
    assert_eq!((defaults.status, defaults.header("etag")), (StatusCode::OK, Some("\"0\"")));
    assert_eq!(defaults.body["working_hours"]["mon"][0], json!({"start": "09:00", "end": "12:30"}));
    assert_eq!(defaults.body["working_hours"]["sun"], json!([]));

    let put = stack.call(Method::PUT, "/v1/planning/settings", Some(&token), Some(json!({"buffer_minutes": 5}))).await;
    assert_eq!(
        (put.status, put.body["version"].as_u64(), put.body["buffer_minutes"].as_u64()),
        (StatusCode::OK, Some(1), Some(5))
    );
    assert_eq!(put.body["max_focus_minutes"], defaults.body["max_focus_minutes"], "what is left out keeps its default");

    let stale = stack
        .call_with(
            Method::PUT,
            "/v1/planning/settings",
            Some(&token),
            Some(json!({"buffer_minutes": 20})),
            &[("if-match", "\"0\"")],
        )
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stale.body["current"]["buffer_minutes"], 5);

    let bad = json!({
        "working_hours": {"mon": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}], "tue": [{"start": "9", "end": "12:00"}]},
        "min_chunk_minutes": 120, "max_chunk_minutes": 60, "lunch": true
    });
    let refused = stack.call(Method::PUT, "/v1/planning/settings", Some(&token), Some(bad)).await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields = refused.error_fields();
    for field in ["lunch", "working_hours.mon[1]", "working_hours.tue[0]", "min_chunk_minutes"] {
        assert!(fields.contains(&field.to_string()), "{field} in {fields:?}");
    }
    // A body near the size limit, of valid-looking ranges: refused by name, never stored.
    let flood: Vec<Value> = (0..20_000).map(|_| json!({"start": "09:00", "end": "10:00"})).collect();
    let huge = stack.call(Method::PUT, "/v1/planning/settings", Some(&token), Some(json!({"peak_hours": flood}))).await;
    huge.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(huge.error_fields(), ["peak_hours"]);
    let unchanged = stack.call(Method::GET, "/v1/planning/settings", Some(&token), None).await;
    assert_eq!(unchanged.body["version"], 1, "nothing half-written");
}

#[tokio::test]
async fn a_proposal_works_around_meetings_and_places_or_explains_every_task() {
    let planner = planner().await;
    let day = tomorrow();
    let meeting = json!({"title": "Standup", "start_at": at(&day, "10:00"), "end_at": at(&day, "11:00"), "timezone": "Europe/Berlin"});
    let created = planner.call(Method::POST, "/v1/calendar/events", Some(meeting)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let report = planner
        .task(json!({"title": "Quarterly report", "priority": "urgent", "estimate_minutes": 120, "due_date": day}))
        .await;
    let email = planner.task(json!({"title": "Inbox zero", "priority": "low", "estimate_minutes": 30})).await;
    let vague = planner.task(json!({"title": "Think about things", "priority": "medium"})).await;

    let plan = planner.propose(&day).await;
    assert_eq!((plan["status"].as_str(), plan["date"].as_str()), (Some("proposed"), Some(day.as_str())), "{plan}");
    let blocks = plan["blocks"].as_array().unwrap();
    let meeting = (at(&day, "10:00"), at(&day, "11:00"));
    for block in blocks {
        let (start, end) = (block["start_at"].as_str().unwrap(), block["end_at"].as_str().unwrap());
        assert!(end <= meeting.0.as_str() || start >= meeting.1.as_str(), "a block over the meeting: {block}");
        assert!(
            start >= at(&day, "09:00").as_str() && end <= at(&day, "17:00").as_str(),
            "outside working hours: {block}"
        );
        assert!(!block["reasons"].as_array().unwrap().is_empty(), "every block says why: {block}");
    }
    let placed: Vec<&str> = blocks.iter().map(|block| block["task_id"].as_str().unwrap()).collect();
    assert!(
        placed.contains(&report["id"].as_str().unwrap()) && placed.contains(&email["id"].as_str().unwrap()),
        "{plan}"
    );
    let unplaced = plan["unplaced"].as_array().unwrap();
    assert_eq!(unplaced.len(), 1, "{plan}");
    assert_eq!(
        (unplaced[0]["task_id"].as_str(), unplaced[0]["code"].as_str()),
        (vague["id"].as_str(), Some("no_estimate"))
    );
    let report_minutes: i64 = blocks
        .iter()
        .filter(|block| block["task_id"] == report["id"])
        .map(|block| {
            let start = chrono::DateTime::parse_from_rfc3339(block["start_at"].as_str().unwrap()).unwrap();
            let end = chrono::DateTime::parse_from_rfc3339(block["end_at"].as_str().unwrap()).unwrap();
            (end - start).num_minutes()
        })
        .sum();
    assert_eq!(report_minutes, 120, "the whole estimate, in chunks: {plan}");

    let current = planner.call(Method::GET, &format!("/v1/plans/{day}"), None).await;
    assert_eq!((current.status, current.body["id"].clone()), (StatusCode::OK, plan["id"].clone()));
    let other_day = planner.call(Method::GET, "/v1/plans/2020-01-01", None).await;
    other_day.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let past = planner.call(Method::POST, "/v1/plans", Some(json!({"date": "2020-01-01"}))).await;
    past.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn accepting_writes_the_blocks_to_the_tasks_once_and_never_from_a_stale_plan() {
    let planner = planner().await;
    let day = tomorrow();
    let report = planner.task(json!({"title": "Report", "priority": "high", "estimate_minutes": 60})).await;
    let review = planner.task(json!({"title": "Review", "priority": "medium", "estimate_minutes": 30})).await;

    // A proposal, superseded by the next one: only the newest can be accepted.
    let first = planner.propose(&day).await;
    let second = planner.propose(&day).await;
    let superseded =
        planner.call(Method::POST, &format!("/v1/plans/{}/accept", first["id"].as_str().unwrap()), None).await;
    superseded.assert_problem(StatusCode::CONFLICT, "plan_not_proposed");

    // Two accepts at once: one wins.
    let accept = format!("/v1/plans/{}/accept", second["id"].as_str().unwrap());
    let (one, two) = tokio::join!(planner.call(Method::POST, &accept, None), planner.call(Method::POST, &accept, None));
    let mut statuses = [one.status, two.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "{} / {}", one.body, two.body);
    let task = planner.call(Method::GET, &format!("/v1/tasks/{}", report["id"].as_str().unwrap()), None).await;
    let scheduled = task.body["scheduled_blocks"].as_array().unwrap();
    let planned: Vec<&Value> =
        second["blocks"].as_array().unwrap().iter().filter(|block| block["task_id"] == report["id"]).collect();
    assert_eq!(scheduled.len(), planned.len(), "{}", task.body);
    assert_eq!(scheduled[0]["start_at"], planned[0]["start_at"]);
    assert_eq!(scheduled[0]["plan_id"], second["id"]);

    // A task changed after the proposal: accepting it would book stale time.
    let third = planner.propose(&day).await;
    let kept: Vec<&Value> =
        third["blocks"].as_array().unwrap().iter().filter(|block| block["task_id"] == report["id"]).collect();
    assert!(kept[0]["reasons"].as_array().unwrap().contains(&json!("kept_from_accepted_plan")), "{third}");
    let review_path = format!("/v1/tasks/{}", review["id"].as_str().unwrap());
    let patched = planner.call(Method::PATCH, &review_path, Some(json!({"estimate_minutes": 45}))).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let stale = planner.call(Method::POST, &format!("/v1/plans/{}/accept", third["id"].as_str().unwrap()), None).await;
    stale.assert_problem(StatusCode::CONFLICT, "plan_outdated");
    assert_eq!(stale.body["changed"], json!([review["id"]]));

    // Rejected is final.
    let fourth = planner.propose(&day).await;
    let reject = format!("/v1/plans/{}/reject", fourth["id"].as_str().unwrap());
    let rejected = planner.call(Method::POST, &reject, None).await;
    assert_eq!(
        (rejected.status, rejected.body["status"].as_str()),
        (StatusCode::OK, Some("rejected")),
        "{}",
        rejected.body
    );
    let after_reject =
        planner.call(Method::POST, &format!("/v1/plans/{}/accept", fourth["id"].as_str().unwrap()), None).await;
    after_reject.assert_problem(StatusCode::CONFLICT, "plan_not_proposed");
    // The re-plan is gone; the day's plan is the accepted one again, whose blocks the tasks hold.
    let current = planner.call(Method::GET, &format!("/v1/plans/{day}"), None).await;
    assert_eq!(
        (current.body["id"].as_str(), current.body["status"].as_str()),
        (second["id"].as_str(), Some("accepted")),
        "{}",
        current.body
    );
}

fn minutes_of(plan: &Value, task_id: &Value) -> i64 {
    plan["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|block| block["task_id"] == *task_id)
        .map(|block| {
            let start: chrono::DateTime<Utc> = block["start_at"].as_str().unwrap().parse().unwrap();
            let end: chrono::DateTime<Utc> = block["end_at"].as_str().unwrap().parse().unwrap();
            (end - start).num_minutes()
        })
        .sum()
}

#[tokio::test]
async fn work_an_accepted_plan_booked_on_one_day_is_not_booked_again_on_the_next() {
    let planner = planner().await;
    let berlin_today = Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive();
    let (first_day, next_day) = (tomorrow(), (berlin_today + Duration::days(2)).to_string());
    let call = planner.task(json!({"title": "Call the bank", "priority": "high", "estimate_minutes": 30})).await;
    let draft = planner.task(json!({"title": "Draft the memo", "priority": "medium", "estimate_minutes": 120})).await;
    let thesis = planner.task(json!({"title": "Thesis", "priority": "low", "estimate_minutes": 600})).await;
    let first = planner.propose(&first_day).await;
    let accepted =
        planner.call(Method::POST, &format!("/v1/plans/{}/accept", first["id"].as_str().unwrap()), None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!((minutes_of(&first, &call["id"]), minutes_of(&first, &draft["id"])), (30, 120), "{first}");
    assert_eq!(minutes_of(&first, &thesis["id"]), 0, "over the day's focus cap: {first}");

    let next = planner.propose(&next_day).await;
    let named = |id: &Value| {
        next["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .chain(next["unplaced"].as_array().unwrap())
            .any(|item| item["task_id"] == *id)
    };
    assert!(!named(&call["id"]) && !named(&draft["id"]), "booked on another day: not planned again: {next}");
    assert!(named(&thesis["id"]), "a task no plan holds is still considered: {next}");
}

#[tokio::test]
async fn a_meeting_added_after_the_proposal_over_one_of_its_blocks_makes_the_accept_409() {
    let planner = planner().await;
    let day = tomorrow();
    let report = planner.task(json!({"title": "Report", "priority": "high", "estimate_minutes": 60})).await;
    let plan = planner.propose(&day).await;
    let block = plan["blocks"].as_array().unwrap().iter().find(|block| block["task_id"] == report["id"]).unwrap();
    let meeting = json!({"title": "Surprise call", "start_at": block["start_at"], "end_at": block["end_at"], "timezone": "Europe/Berlin"});
    let created = planner.call(Method::POST, "/v1/calendar/events", Some(meeting)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let accept = format!("/v1/plans/{}/accept", plan["id"].as_str().unwrap());
    let refused = planner.call(Method::POST, &accept, None).await;
    refused.assert_problem(StatusCode::CONFLICT, "plan_outdated");
    assert_eq!(refused.body["changed"], json!([report["id"]]));
    let task = planner.call(Method::GET, &format!("/v1/tasks/{}", report["id"].as_str().unwrap()), None).await;
    assert_eq!(task.body["scheduled_blocks"], json!([]), "nothing booked");
    // Proposed again, the plan works around the call, and is accepted.
    let again = planner.propose(&day).await;
    let accepted =
        planner.call(Method::POST, &format!("/v1/plans/{}/accept", again["id"].as_str().unwrap()), None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
}

#[tokio::test]
async fn another_users_plan_is_not_found() {
    let planner = planner().await;
    let day = tomorrow();
    planner.task(json!({"title": "Mine", "estimate_minutes": 30})).await;
    let plan = planner.propose(&day).await;
    let eve = planner.stack.signup("Eve").await["access_token"].as_str().unwrap().to_string();
    for action in ["accept", "reject"] {
        let path = format!("/v1/plans/{}/{action}", plan["id"].as_str().unwrap());
        planner
            .stack
            .call(Method::POST, &path, Some(&eve), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let theirs = planner.stack.call(Method::GET, &format!("/v1/plans/{day}"), Some(&eve), None).await;
    theirs.assert_problem(StatusCode::NOT_FOUND, "not_found");
    let mine = planner.call(Method::GET, &format!("/v1/plans/{day}"), None).await;
    assert_eq!(mine.body["status"], "proposed", "untouched by Eve's attempts");
    // Ids no plan could have (a key DynamoDB would refuse, a guess that is no ULID): not found.
    for id in ["P".repeat(2_000), "not-a-plan".to_string()] {
        for action in ["accept", "reject"] {
            let answer = planner.call(Method::POST, &format!("/v1/plans/{id}/{action}"), None).await;
            answer.assert_problem(StatusCode::NOT_FOUND, "not_found");
        }
    }
}

#[tokio::test]
async fn accepted_blocks_appear_in_the_calendar_feed() {
    let planner = planner().await;
    let day = tomorrow();
    planner.task(json!({"title": "Deep work; part 1", "priority": "urgent", "estimate_minutes": 50})).await;
    let plan = planner.propose(&day).await;
    let accepted =
        planner.call(Method::POST, &format!("/v1/plans/{}/accept", plan["id"].as_str().unwrap()), None).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let feed = planner.call(Method::POST, "/v1/calendar/feed", None).await;
    let url = feed.body["url"].as_str().unwrap();
    let served = planner.stack.call(Method::GET, &url[url.find("/v1/").unwrap()..], None, None).await;
    let ics = served.body.as_str().map(String::from).unwrap_or_else(|| served.body.to_string());
    assert!(ics.contains("SUMMARY:Focus: Deep work\\; part 1"), "{ics}");
    let start = plan["blocks"][0]["start_at"].as_str().unwrap().replace(['-', ':'], "");
    assert!(ics.contains(&format!("DTSTART:{start}")), "{start} in {ics}");

    // The feed follows the tasks: a renamed task shows its new title, a deleted one's block goes.
    let task_id = plan["blocks"][0]["task_id"].as_str().unwrap();
    let renamed =
        planner.call(Method::PATCH, &format!("/v1/tasks/{task_id}"), Some(json!({"title": "Deep work"}))).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let ics = |served: flowday_tests::TestResponse| served.body.as_str().map(String::from).unwrap_or_default();
    let feed_path = &url[url.find("/v1/").unwrap()..];
    let now_served = ics(planner.stack.call(Method::GET, feed_path, None, None).await);
    assert!(
        now_served.contains("SUMMARY:Focus: Deep work\r\n") || now_served.contains("SUMMARY:Focus: Deep work\n"),
        "{now_served}"
    );
    let deleted = planner.call(Method::DELETE, &format!("/v1/tasks/{task_id}"), None).await;
    assert!(deleted.status.is_success(), "{}", deleted.body);
    let after_delete = ics(planner.stack.call(Method::GET, feed_path, None, None).await);
    assert!(!after_delete.contains("SUMMARY:Focus:"), "{after_delete}");
}
