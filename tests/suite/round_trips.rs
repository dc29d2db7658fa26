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
                            "create_feed": 2, "serve_feed": 3, "delete_feed": 1});
    assert_eq!(measured, documented);
}

#[tokio::test]
async fn billing_routes_and_stripe_events_do_the_round_trips_the_data_model_states() {
    let off =
        ["RateLimitAnonymousPerMinute", "RateLimitFreePerMinute", "RateLimitProPerMinute", "RateLimitTeamPerMinute"];
    let (stack, stripe) = TestStack::with_stripe_and(off.map(|name| (name.to_string(), "0".to_string())).into()).await;
    let user = stack.signup("Billing").await;
    let token = user["access_token"].as_str();
    // The first call of a process also checks the session; the counts below are the steady state.
    stack.call(Method::GET, "/v1/billing/plans", token, None).await;
    let get = |path: &'static str| stack.call(Method::GET, path, token, None);
    let credits = counted(&stack, "api-billing", StatusCode::OK, get("/v1/credits")).await;
    let history = counted(&stack, "api-billing", StatusCode::OK, get("/v1/credits/history")).await;
    let plans = counted(&stack, "api-billing", StatusCode::OK, get("/v1/billing/plans")).await;
    let pro = json!({"plan": "pro_monthly"});
    let first_checkout = counted(
        &stack,
        "api-billing",
        StatusCode::CREATED,
        stack.call(Method::POST, "/v1/billing/checkout", token, Some(pro.clone())),
    )
    .await;
    let checkout = counted(
        &stack,
        "api-billing",
        StatusCode::CREATED,
        stack.call(Method::POST, "/v1/billing/checkout", token, Some(pro)),
    )
    .await;
    let started = stack.call(Method::POST, "/v1/billing/checkout", token, Some(json!({"plan": "pro_monthly"}))).await;
    let before = stack.round_trips("webhook-stripe");
    let page = shared::integrations::http_client().unwrap().get(started.body["url"].as_str().unwrap()).send().await;
    assert_eq!(page.unwrap().status(), 200);
    stripe.settle().await;
    let purchase_events = stack.round_trips("webhook-stripe") - before;
    let subscription = counted(&stack, "api-billing", StatusCode::OK, get("/v1/billing/subscription")).await;
    let invoices = counted(&stack, "api-billing", StatusCode::OK, get("/v1/billing/invoices")).await;
    let portal = counted(
        &stack,
        "api-billing",
        StatusCode::CREATED,
        stack.call(Method::POST, "/v1/billing/portal", token, None),
    )
    .await;
    // Per event type: the purchase sent six (subscription created, invoice created, finalized,
    // paid and payment succeeded, checkout completed); a repeat costs one read.
    let event = |kind: &str| stripe.events().into_iter().find(|event| event["type"] == kind).unwrap();
    let mut per_event = serde_json::Map::new();
    for kind in ["customer.subscription.created", "invoice.paid", "checkout.session.completed", "invoice.created"] {
        let mut fresh = event(kind);
        fresh["id"] = json!(format!("evt_again_{}", kind.replace('.', "_")));
        let before = stack.round_trips("webhook-stripe");
        let body = fresh.to_string();
        let request = http::Request::post("/webhooks/stripe")
            .header("content-type", "application/json")
            .header("stripe-signature", flowday_tests::billing::sign(flowday_tests::billing::WEBHOOK_SECRET, &body))
            .body(axum::body::Body::from(body))
            .unwrap();
        assert_eq!(stack.send(request).await.status, StatusCode::OK);
        per_event.insert(kind.to_string(), json!(stack.round_trips("webhook-stripe") - before));
    }
    let measured = json!({"plans": plans, "subscription": subscription, "first_checkout": first_checkout,
                          "checkout": checkout, "portal": portal, "invoices": invoices, "credits": credits,
                          "history": history, "purchase_events": purchase_events, "per_event": per_event});
    let documented = json!({"plans": 0, "subscription": 2, "first_checkout": 3, "checkout": 2, "portal": 1,
                            "invoices": 1, "credits": 2, "history": 1, "purchase_events": 16,
                            "per_event": {"customer.subscription.created": 4, "invoice.paid": 5,
                                          "checkout.session.completed": 4, "invoice.created": 1}});
    assert_eq!(measured, documented);
}

#[tokio::test]
async fn planning_routes_do_the_round_trips_the_data_model_states() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Planning").await;
    let token = user["access_token"].as_str();
    stack.call(Method::GET, "/v1/planning/settings", token, None).await;
    let get_settings =
        counted(&stack, "api-planning", StatusCode::OK, stack.call(Method::GET, "/v1/planning/settings", token, None))
            .await;
    let every_day = json!([{"start": "09:00", "end": "17:00"}]);
    let hours: serde_json::Map<String, Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|day| (day.to_string(), every_day.clone()))
        .collect();
    let settings = json!({"working_hours": hours});
    let put_settings = counted(
        &stack,
        "api-planning",
        StatusCode::OK,
        stack.call(Method::PUT, "/v1/planning/settings", token, Some(settings)),
    )
    .await;
    stack.create_task(token, json!({"title": "Plan me", "estimate_minutes": 30})).await;
    let day = (chrono::Utc::now().with_timezone(&chrono_tz::UTC).date_naive() + chrono::Duration::days(1)).to_string();
    let first = stack.call(Method::POST, "/v1/plans", token, Some(json!({"date": day})));
    let before = stack.round_trips("api-planning");
    let first = first.await;
    let first_propose = stack.round_trips("api-planning") - before;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = stack.call(Method::POST, "/v1/plans", token, Some(json!({"date": day})));
    let before = stack.round_trips("api-planning");
    let plan = again.await.body;
    let propose = stack.round_trips("api-planning") - before;
    let get = counted(
        &stack,
        "api-planning",
        StatusCode::OK,
        stack.call(Method::GET, &format!("/v1/plans/{day}"), token, None),
    )
    .await;
    let accept_path = format!("/v1/plans/{}/accept", plan["id"].as_str().unwrap());
    let accept =
        counted(&stack, "api-planning", StatusCode::OK, stack.call(Method::POST, &accept_path, token, None)).await;
    let third = stack.call(Method::POST, "/v1/plans", token, Some(json!({"date": day}))).await.body;
    let reject_path = format!("/v1/plans/{}/reject", third["id"].as_str().unwrap());
    let reject =
        counted(&stack, "api-planning", StatusCode::OK, stack.call(Method::POST, &reject_path, token, None)).await;
    let measured = json!({"get_settings": get_settings, "put_settings": put_settings, "first_propose": first_propose,
                          "propose": propose, "get": get, "accept": accept, "reject": reject});
    let documented = json!({"get_settings": 1, "put_settings": 2, "first_propose": 8, "propose": 9, "get": 2,
                            "accept": 7, "reject": 2});
    assert_eq!(measured, documented);
}
