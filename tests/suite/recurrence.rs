//! Repeating tasks: completing or skipping an occurrence, the occurrence history, and the rules'
//! validation. Dates are in 2027 so that the series lie ahead of the clock (occurrences already
//! past when one is closed are passed over).

use flowday_tests::{TestResponse, TestStack, task_path};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn repeating(stack: &TestStack, token: Option<&str>, rrule: &str, due_at: &str) -> Value {
    let body = json!({"title": "Stand-up", "due_at": due_at,
                      "recurrence": {"rrule": rrule, "timezone": "Europe/Berlin", "mode": "from_due"}});
    let created = stack.call(Method::POST, "/v1/tasks", token, Some(body)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body
}

async fn post(stack: &TestStack, token: Option<&str>, task: &Value, suffix: &str) -> TestResponse {
    stack.call(Method::POST, &task_path(task, suffix), token, None).await
}

#[tokio::test]
async fn a_daily_nine_oclock_berlin_task_stays_at_nine_across_both_clock_changes() {
    let stack = TestStack::new().await;
    let user = stack.signup("Dora").await;
    let token = user["access_token"].as_str();
    // 27 March 2027, 09:00 CET = 08:00Z; Berlin moves to CEST on the 28th (09:00 = 07:00Z).
    let task = repeating(&stack, token, "FREQ=DAILY", "2027-03-27T08:00:00Z").await;
    assert_eq!(task["recurrence"], json!({"rrule": "FREQ=DAILY", "timezone": "Europe/Berlin", "mode": "from_due"}));
    let next = post(&stack, token, &task, "/complete").await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_eq!(next.body["due_at"], "2027-03-28T07:00:00Z");
    assert_eq!(next.body["status"], "todo");
    assert_eq!(next.body["completed_at"], Value::Null);
    // 30 October 2027, 09:00 CEST = 07:00Z; back to CET on the 31st (09:00 = 08:00Z).
    let autumn = repeating(&stack, token, "FREQ=DAILY", "2027-10-30T07:00:00Z").await;
    let next = post(&stack, token, &autumn, "/complete").await;
    assert_eq!(next.body["due_at"], "2027-10-31T08:00:00Z");
}

#[tokio::test]
async fn completing_records_the_occurrence_and_reopens_the_subtasks() {
    let stack = TestStack::new().await;
    let user = stack.signup("Eli").await;
    let token = user["access_token"].as_str();
    let task = repeating(&stack, token, "FREQ=WEEKLY;BYDAY=MO", "2027-01-04T08:00:00Z").await;
    let mut subtasks = Vec::new();
    for title in ["Inbox zero", "Plan the week"] {
        let created =
            stack.call(Method::POST, &task_path(&task, "/subtasks"), token, Some(json!({"title": title}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        subtasks.push(created.body);
    }
    let done = post(&stack, token, &subtasks[0], "/complete").await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let parent = stack.call(Method::GET, &task_path(&task, ""), token, None).await.body;
    assert_eq!(parent["status"], "todo", "the last subtask is open: the occurrence is not over");

    let next = post(&stack, token, &task, "/complete").await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert_eq!(next.body["due_at"], "2027-01-11T08:00:00Z");
    assert_eq!(next.body["subtasks"], json!({"open": 2, "done": 0}));
    let listed = stack.call(Method::GET, &task_path(&task, "/subtasks"), token, None).await.body;
    let statuses: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["todo", "todo"], "the next occurrence starts with its checklist open");

    let history = stack.call(Method::GET, &task_path(&task, "/occurrences"), token, None).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let items = history.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["index"], 1);
    assert_eq!(items[0]["due_at"], "2027-01-04T08:00:00Z");
    assert_eq!(items[0]["status"], "completed");
    assert!(items[0]["completed_at"].is_string());
}

#[tokio::test]
async fn count_ends_the_series_and_skipping_moves_on_without_completing() {
    let stack = TestStack::new().await;
    let user = stack.signup("Finn").await;
    let token = user["access_token"].as_str();
    let task = repeating(&stack, token, "FREQ=DAILY;COUNT=3", "2027-05-01T07:00:00Z").await;
    let skipped = post(&stack, token, &task, "/skip").await;
    assert_eq!(skipped.status, StatusCode::OK, "{}", skipped.body);
    assert_eq!(
        (skipped.body["due_at"].as_str(), skipped.body["status"].as_str()),
        (Some("2027-05-02T07:00:00Z"), Some("todo"))
    );
    let second = post(&stack, token, &task, "/complete").await;
    assert_eq!(second.body["due_at"], "2027-05-03T07:00:00Z");
    let last = post(&stack, token, &task, "/complete").await;
    assert_eq!(last.body["status"], "done", "COUNT=3: the third completion ends the series");
    assert_eq!(last.body["due_at"], "2027-05-03T07:00:00Z");
    let over = post(&stack, token, &task, "/skip").await;
    over.assert_problem(StatusCode::CONFLICT, "series_over");

    let history =
        stack.call(Method::GET, &format!("{}?limit=2", task_path(&task, "/occurrences")), token, None).await.body;
    let page: Vec<(u64, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["index"].as_u64().unwrap(), item["status"].as_str().unwrap()))
        .collect();
    assert_eq!(page, [(3, "completed"), (2, "completed")], "newest first");
    let cursor = history["next_cursor"].as_str().expect("a third occurrence follows");
    let rest =
        stack.call(Method::GET, &format!("{}?cursor={cursor}", task_path(&task, "/occurrences")), token, None).await;
    assert_eq!(rest.body["items"][0]["status"], "skipped");
    assert_eq!(rest.body["items"][0]["completed_at"], Value::Null);
    assert_eq!(rest.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn invalid_rules_are_400_naming_the_problem_and_create_nothing() {
    let stack = TestStack::new().await;
    let user = stack.signup("Gus").await;
    let token = user["access_token"].as_str();
    let cases = [
        (json!({"rrule": "FREQ=HOURLY", "timezone": "Europe/Berlin"}), "recurrence.rrule"),
        (json!({"rrule": "FREQ=DAILY", "timezone": "Mars/Olympus"}), "recurrence.timezone"),
        (json!({"rrule": "FREQ=DAILY", "timezone": "UTC", "mode": "sometimes"}), "recurrence.mode"),
        (json!("every day"), "recurrence"),
    ];
    for (recurrence, field) in cases {
        let body = json!({"title": "Repeat", "due_at": "2027-01-01T09:00:00Z", "recurrence": recurrence});
        let response = stack.call(Method::POST, "/v1/tasks", token, Some(body)).await;
        response.assert_problem(StatusCode::BAD_REQUEST, "invalid_recurrence");
        assert!(response.error_fields().contains(&field.to_string()), "{field}: {}", response.body);
    }
    let undated = json!({"title": "Repeat", "recurrence": {"rrule": "FREQ=DAILY", "timezone": "UTC"}});
    let response = stack.call(Method::POST, "/v1/tasks", token, Some(undated)).await;
    response.assert_problem(StatusCode::BAD_REQUEST, "invalid_recurrence");
    assert!(response.body["detail"].as_str().unwrap().contains("due"));
    let listed = stack.call(Method::GET, "/v1/tasks", token, None).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was written");

    let plain = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Once"}))).await.body;
    post(&stack, token, &plain, "/skip").await.assert_problem(StatusCode::CONFLICT, "not_repeating");
}

#[tokio::test]
async fn changing_the_rule_restarts_the_series_and_clearing_it_stops_repeating() {
    let stack = TestStack::new().await;
    let user = stack.signup("Hana").await;
    let token = user["access_token"].as_str();
    let task = repeating(&stack, token, "FREQ=DAILY", "2027-06-01T07:00:00Z").await;
    let weekly = json!({"recurrence": {"rrule": "RRULE:freq=weekly", "timezone": "Europe/Berlin"}});
    let changed = stack.call(Method::PATCH, &task_path(&task, ""), token, Some(weekly)).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["recurrence"]["rrule"], "FREQ=WEEKLY", "stored without the prefix, upper case");
    let next = post(&stack, token, &task, "/complete").await;
    assert_eq!(next.body["due_at"], "2027-06-08T07:00:00Z");
    let cleared = stack.call(Method::PATCH, &task_path(&task, ""), token, Some(json!({"recurrence": null}))).await;
    assert_eq!(cleared.body["recurrence"], Value::Null);
    let done = post(&stack, token, &task, "/complete").await;
    assert_eq!(
        (done.body["status"].as_str(), done.body["due_at"].as_str()),
        (Some("done"), Some("2027-06-08T07:00:00Z"))
    );
}

#[tokio::test]
async fn another_users_occurrences_are_not_found() {
    let stack = TestStack::new().await;
    let owner = stack.signup("Ivo").await;
    let other = stack.signup("Jin").await;
    let task = repeating(&stack, owner["access_token"].as_str(), "FREQ=DAILY", "2027-02-01T07:00:00Z").await;
    let token = other["access_token"].as_str();
    stack
        .call(Method::GET, &task_path(&task, "/occurrences"), token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    post(&stack, token, &task, "/skip").await.assert_problem(StatusCode::NOT_FOUND, "not_found");
}
