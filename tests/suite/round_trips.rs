//! DynamoDB round trips per route, counted on the functions' own clients: each route does what
//! docs/data-model.md says, and no more.

use flowday_tests::{PASSWORD, TestStack};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// Runs `request` and returns how many DynamoDB requests `function` sent for it.
async fn counted<F: std::future::Future<Output = flowday_tests::TestResponse>>(
    stack: &TestStack,
    function: &str,
    expected_status: StatusCode,
    request: F,
) -> u64 {
    let before = stack.round_trips(function);
    let response = request.await;
    assert_eq!(response.status, expected_status, "{}", response.body);
    stack.round_trips(function) - before
}

#[tokio::test]
async fn each_route_does_the_round_trips_the_data_model_states() {
    let stack = TestStack::without_rate_limits().await;
    let email = flowday_tests::unique_email("Counted");
    let signup_body = json!({"email": email, "password": PASSWORD, "name": "C", "timezone": "UTC"});
    let before = stack.round_trips("api-auth");
    let signup = stack.call(Method::POST, "/v1/auth/signup", None, Some(signup_body)).await;
    assert_eq!(stack.round_trips("api-auth") - before, 1, "signup");
    let token = signup.body["access_token"].as_str();

    let login = counted(&stack, "api-auth", StatusCode::OK, stack.login(&email, PASSWORD)).await;
    let refresh = counted(&stack, "api-auth", StatusCode::OK, stack.refresh(&signup.body["refresh_token"])).await;
    let me = counted(&stack, "api-account", StatusCode::OK, stack.call(Method::GET, "/v1/me", token, None)).await;
    let patch_me = counted(
        &stack,
        "api-account",
        StatusCode::OK,
        stack.call(Method::PATCH, "/v1/me", token, Some(json!({"name": "D"}))),
    )
    .await;
    let sessions =
        counted(&stack, "api-account", StatusCode::OK, stack.call(Method::GET, "/v1/me/sessions", token, None)).await;

    let create_request = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "t"})));
    let before = stack.round_trips("api-tasks");
    let created = create_request.await;
    let create = stack.round_trips("api-tasks") - before;
    let task: Value = created.body;
    let task_path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());
    let get = counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::GET, &task_path, token, None)).await;
    let list = counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::GET, "/v1/tasks", token, None)).await;
    let patch = counted(
        &stack,
        "api-tasks",
        StatusCode::OK,
        stack.call(Method::PATCH, &task_path, token, Some(json!({"title": "u"}))),
    )
    .await;
    let complete = counted(
        &stack,
        "api-tasks",
        StatusCode::OK,
        stack.call(Method::POST, &format!("{task_path}/complete"), token, None),
    )
    .await;
    let add_note = counted(
        &stack,
        "api-tasks",
        StatusCode::CREATED,
        stack.call(Method::POST, &format!("{task_path}/notes"), token, Some(json!({"body": "n"}))),
    )
    .await;
    let notes = counted(
        &stack,
        "api-tasks",
        StatusCode::OK,
        stack.call(Method::GET, &format!("{task_path}/notes"), token, None),
    )
    .await;
    let parent = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "parent"}))).await.body;
    let parent_path = format!("/v1/tasks/{}", parent["id"].as_str().unwrap());
    let add_subtask = counted(
        &stack,
        "api-tasks",
        StatusCode::CREATED,
        stack.call(Method::POST, &format!("{parent_path}/subtasks"), token, Some(json!({"title": "s"}))),
    )
    .await;
    let subtasks_path = format!("{parent_path}/subtasks");
    let list_subtasks =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::GET, &subtasks_path, token, None)).await;
    let subtask = stack.call(Method::GET, &subtasks_path, token, None).await.body["items"][0].clone();
    let subtask_path = format!("/v1/tasks/{}/complete", subtask["id"].as_str().unwrap());
    let complete_subtask =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::POST, &subtask_path, token, None)).await;
    let delete =
        counted(&stack, "api-tasks", StatusCode::NO_CONTENT, stack.call(Method::DELETE, &task_path, token, None)).await;
    let trash = counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::GET, "/v1/trash", token, None)).await;
    let restore_path = format!("/v1/trash/{}/restore", task["id"].as_str().unwrap());
    let restore =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::POST, &restore_path, token, None)).await;
    let activity =
        counted(&stack, "api-account", StatusCode::OK, stack.call(Method::GET, "/v1/activity", token, None)).await;

    let measured = json!({
        "login": login, "refresh": refresh, "get_me": me, "patch_me": patch_me, "sessions": sessions,
        "create_task": create, "get_task": get, "list_tasks": list, "patch_task": patch, "complete_task": complete,
        "add_note": add_note, "list_notes": notes, "delete_task": delete, "list_trash": trash,
        "restore_task": restore, "activity": activity, "add_subtask": add_subtask,
        "list_subtasks": list_subtasks, "complete_subtask": complete_subtask,
    });
    let documented = json!({
        "login": 5, "refresh": 2, "get_me": 1, "patch_me": 1, "sessions": 3,
        "create_task": 2, "get_task": 1, "list_tasks": 1, "patch_task": 2, "complete_task": 2,
        "add_note": 3, "list_notes": 2, "delete_task": 2, "list_trash": 1,
        "restore_task": 3, "activity": 1, "add_subtask": 3, "list_subtasks": 2, "complete_subtask": 3,
    });
    assert_eq!(measured, documented);
}

#[tokio::test]
async fn reminder_and_occurrence_routes_do_the_round_trips_the_data_model_states() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Repeat").await;
    let token = user["access_token"].as_str();
    let body = json!({"title": "Weekly review", "due_at": "2027-01-04T08:00:00Z",
                      "recurrence": {"rrule": "FREQ=WEEKLY", "timezone": "UTC"}});
    let task = stack.call(Method::POST, "/v1/tasks", token, Some(body)).await.body;
    let path = |suffix: &str| format!("/v1/tasks/{}{suffix}", task["id"].as_str().unwrap());
    let add = counted(
        &stack,
        "api-tasks",
        StatusCode::CREATED,
        stack.call(Method::POST, &path("/reminders"), token, Some(json!({"minutes_before": 15}))),
    )
    .await;
    let reminders = stack.call(Method::GET, &path("/reminders"), token, None).await;
    let reminder_path = format!("{}/{}", path("/reminders"), reminders.body["items"][0]["id"].as_str().unwrap());
    let list =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::GET, &path("/reminders"), token, None)).await;
    let complete =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::POST, &path("/complete"), token, None)).await;
    let skip =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::POST, &path("/skip"), token, None)).await;
    let occurrences =
        counted(&stack, "api-tasks", StatusCode::OK, stack.call(Method::GET, &path("/occurrences"), token, None)).await;
    let remove =
        counted(&stack, "api-tasks", StatusCode::NO_CONTENT, stack.call(Method::DELETE, &reminder_path, token, None))
            .await;
    assert_eq!(
        [add, list, complete, skip, occurrences, remove],
        [2, 1, 2, 2, 2, 2],
        "reminder add, list; complete and skip of a repeating task; occurrences; reminder delete"
    );
}

#[tokio::test]
async fn calendar_routes_do_the_round_trips_the_data_model_states() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Calendar").await;
    let token = user["access_token"].as_str();
    let range = "/v1/calendar/events?from=2027-01-04T00:00:00Z&to=2027-01-11T00:00:00Z";
    // The first call of a process also checks the session; the counts below are the steady state.
    stack.call(Method::GET, range, token, None).await;
    let body = json!({"title": "Sync", "start_at": "2027-01-04T09:00:00Z", "end_at": "2027-01-04T09:30:00Z",
                      "rrule": "FREQ=WEEKLY", "timezone": "Europe/Berlin"});
    let create_request = stack.call(Method::POST, "/v1/calendar/events", token, Some(body));
    let before = stack.round_trips("api-calendar");
    let created = create_request.await;
    let create = stack.round_trips("api-calendar") - before;
    let path = format!("/v1/calendar/events/{}", created.body["id"].as_str().unwrap());
    let list = counted(&stack, "api-calendar", StatusCode::OK, stack.call(Method::GET, range, token, None)).await;
    let get = counted(&stack, "api-calendar", StatusCode::OK, stack.call(Method::GET, &path, token, None)).await;
    let patch = counted(
        &stack,
        "api-calendar",
        StatusCode::OK,
        stack.call(Method::PATCH, &path, token, Some(json!({"title": "Weekly sync"}))),
    )
    .await;
    let occurrence = format!("{path}?occurrence_id=2027-01-11T09:00:00Z");
    let cancel =
        counted(&stack, "api-calendar", StatusCode::NO_CONTENT, stack.call(Method::DELETE, &occurrence, token, None))
            .await;
    let delete =
        counted(&stack, "api-calendar", StatusCode::NO_CONTENT, stack.call(Method::DELETE, &path, token, None)).await;
    let feed = stack.call(Method::POST, "/v1/calendar/feed", token, None);
    let before = stack.round_trips("api-calendar");
    let feed = feed.await;
    let create_feed = stack.round_trips("api-calendar") - before;
    let url = feed.body["url"].as_str().unwrap();
    let feed_path = &url[url.find("/v1/").unwrap()..];
    let serve_feed =
        counted(&stack, "api-calendar", StatusCode::OK, stack.call(Method::GET, feed_path, None, None)).await;
    let delete_feed = counted(
        &stack,
        "api-calendar",
        StatusCode::NO_CONTENT,
        stack.call(Method::DELETE, "/v1/calendar/feed", token, None),
    )
    .await;
    let measured = json!({"create": create, "list": list, "get": get, "patch": patch, "cancel_occurrence": cancel, "delete": delete,
                          "create_feed": create_feed, "serve_feed": serve_feed, "delete_feed": delete_feed});
    let documented = json!({"create": 2, "list": 3, "get": 1, "patch": 2, "cancel_occurrence": 2, "delete": 2,
                            "create_feed": 2, "serve_feed": 2, "delete_feed": 1});
    assert_eq!(measured, documented);
}
