//! The api-tasks binary, run as Lambda runs it, on every event of events/api-tasks.

use flowday_tests::{TestStack, event, invoke};

const BINARY: &str = env!("CARGO_BIN_EXE_api-tasks");

#[tokio::test]
async fn every_api_tasks_event_is_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let lambda = stack.lambda(BINARY, "api-tasks").await;
    let created = invoke(&lambda, event("api-tasks", "create-task", &[("access_token", token)])).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let task_id = created.body["id"].as_str().unwrap().to_string();
    let values = [("access_token", token), ("task_id", task_id.as_str())];
    let note = invoke(&lambda, event("api-tasks", "create-note", &values)).await;
    assert_eq!(note.status, 201, "{}", note.body);
    let note_id = note.body["id"].as_str().unwrap().to_string();
    let attachment = invoke(&lambda, event("api-tasks", "create-attachment", &values)).await;
    assert_eq!(attachment.status, 201, "{}", attachment.body);
    assert!(attachment.body["upload"]["url"].as_str().unwrap().contains("X-Amz-Signature"));
    let attachment_id = attachment.body["id"].as_str().unwrap().to_string();
    let values = [
        ("access_token", token),
        ("task_id", task_id.as_str()),
        ("note_id", note_id.as_str()),
        ("attachment_id", attachment_id.as_str()),
    ];
    let expectations = [
        ("create-subtask", 201),
        ("list-subtasks", 200),
        ("list-attachments", 200),
        ("delete-attachment", 204),
        ("list-notes", 200),
        ("edit-note", 200),
        ("delete-note", 204),
        ("duplicate-task", 201),
        ("bulk-tasks", 200),
        ("list-tasks", 200),
        ("get-task", 200),
        ("patch-task", 200),
        ("create-reminder", 201),
        ("list-reminders", 200),
        ("list-occurrences", 200),
        ("skip-occurrence", 409),
        ("complete-task", 200),
        ("uncomplete-task", 200),
        ("archive-task", 200),
        ("delete-task", 204),
        ("list-trash", 200),
        ("restore-task", 200),
    ];
    for (name, status) in expectations {
        let answer = invoke(&lambda, event("api-tasks", name, &values)).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
    }
    let listed = invoke(&lambda, event("api-tasks", "list-tasks", &values)).await;
    let ids: Vec<&str> =
        listed.body["items"].as_array().unwrap().iter().map(|task| task["id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&task_id.as_str()), "the restored task is archived, so not in the default list");
    assert_eq!(ids.len(), 2, "the duplicate and its copied subtask (the original's was completed with it)");
    let trash = invoke(&lambda, event("api-tasks", "list-trash", &values)).await;
    assert_eq!(trash.body["items"], serde_json::json!([]));
    lambda.stop().await;
}

#[tokio::test]
async fn template_events_are_answered_by_the_lambda_binary() {
    let stack = TestStack::new().await;
    let user = stack.signup("Templates").await;
    let token = user["access_token"].as_str().unwrap();
    let lambda = stack.lambda(BINARY, "api-tasks").await;
    let task = invoke(&lambda, event("api-tasks", "create-task", &[("access_token", token)])).await;
    assert_eq!(task.status, 201, "{}", task.body);
    let values = [("access_token", token), ("task_id", task.body["id"].as_str().unwrap())];
    let saved = invoke(&lambda, event("api-tasks", "create-template", &values)).await;
    assert_eq!(saved.status, 201, "{}", saved.body);
    assert_eq!(saved.body["task"]["title"], "Prepare the board meeting");
    let written = invoke(&lambda, event("api-tasks", "create-template-written", &values)).await;
    assert_eq!(written.status, 201, "{}", written.body);
    let listed = invoke(&lambda, event("api-tasks", "list-templates", &values)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["id"], written.body["id"], "newest first");
    let values = [("access_token", token), ("template_id", written.body["id"].as_str().unwrap())];
    let from_template = invoke(&lambda, event("api-tasks", "create-task-from-template", &values)).await;
    assert_eq!(from_template.status, 201, "{}", from_template.body);
    assert_eq!(from_template.body["title"], "Weekly review");
    assert_eq!(from_template.body["due_date"], "2026-12-04");
    assert_eq!(from_template.body["subtasks"], serde_json::json!({"open": 2, "done": 0}));
    let deleted = invoke(&lambda, event("api-tasks", "delete-template", &values)).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let again = invoke(&lambda, event("api-tasks", "delete-template", &values)).await;
    assert_eq!(again.status, 404, "{}", again.body);
    lambda.stop().await;
}
