//! Tasks (api-tasks) and the activity log (api-account).

use std::collections::HashSet;

use flowday_tests::{TestStack, task_path};
use http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn create_and_read_a_task_with_every_field() {
    let stack = TestStack::new().await;
    let user = stack.signup("Tara").await;
    let token = user["access_token"].as_str();
    let body = json!({
        "title": "  Write the quarterly report  ", "description": "numbers first", "priority": "high",
        "due_at": "2026-12-01T09:00:00Z", "start_at": "2026-11-30T08:00:00Z", "estimate_minutes": 90,
        "labels": ["work", "q4"], "category": "reports",
    });
    let created = stack.create_task(token, body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.header("location"), Some(task_path(&created.body, "").as_str()));
    let task = &created.body;
    assert_eq!(task["title"], "Write the quarterly report");
    assert_eq!((task["status"].as_str(), task["priority"].as_str()), (Some("todo"), Some("high")));
    assert_eq!(task["labels"], json!(["work", "q4"]));
    assert_eq!(task["due_date"], Value::Null);
    assert_eq!((task["archived"].as_bool(), task["version"].as_u64()), (Some(false), Some(1)));
    for field in ["parent_id", "goal_id", "team_id", "assignee_id", "recurrence", "completed_at", "actual_minutes"] {
        assert!(task.get(field).is_some_and(Value::is_null), "{field} is in the shape, null");
    }
    let read = stack.call(Method::GET, &task_path(task, ""), token, None).await;
    assert_eq!(read.body, *task);
}

#[tokio::test]
async fn invalid_tasks_name_every_field_and_create_nothing() {
    let stack = TestStack::new().await;
    let user = stack.signup("Uma").await;
    let token = user["access_token"].as_str();
    let response = stack
        .create_task(
            token,
            json!({"description": "x".repeat(10_001), "due_date": "2026-12-01", "due_at": "2026-12-01T09:00:00Z",
               "estimate_minutes": 1441, "labels": vec!["l"; 21], "status": "finished"}),
        )
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.error_fields(), ["status"], "an unknown enum value fails parsing first");
    let response = stack
        .create_task(
            token,
            json!({"description": "x".repeat(10_001), "due_date": "2026-12-01", "due_at": "2026-12-01T09:00:00Z",
               "estimate_minutes": 1441, "labels": vec!["l"; 21]}),
        )
        .await;
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(fields, ["description", "due_at", "estimate_minutes", "labels", "title"]);
    let list = stack.call(Method::GET, "/v1/tasks", token, None).await;
    assert_eq!(list.body["items"], json!([]));
}

#[tokio::test]
async fn patch_changes_only_what_is_sent_and_versions_guard_concurrent_writers() {
    let stack = TestStack::new().await;
    let user = stack.signup("Vic").await;
    let token = user["access_token"].as_str();
    let task =
        stack.create_task(token, json!({"title": "Plan", "due_date": "2026-12-24", "labels": ["home"]})).await.body;
    let patched = stack
        .call(Method::PATCH, &task_path(&task, ""), token, Some(json!({"priority": "urgent", "due_date": null})))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!((patched.body["priority"].as_str(), patched.body["due_date"].clone()), (Some("urgent"), Value::Null));
    assert_eq!((patched.body["title"].as_str(), patched.body["labels"].clone()), (Some("Plan"), json!(["home"])));
    assert_eq!(patched.header("etag"), Some("\"2\""));

    // Two clients read version 2 and both write.
    let first = stack
        .call_with(Method::PATCH, &task_path(&task, ""), token, Some(json!({"title": "A"})), &[("if-match", "\"2\"")])
        .await;
    let second = stack
        .call_with(Method::PATCH, &task_path(&task, ""), token, Some(json!({"title": "B"})), &[("if-match", "\"2\"")])
        .await;
    assert_eq!(first.status, StatusCode::OK);
    second.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(
        (second.body["current"]["title"].as_str(), second.body["current"]["version"].as_u64()),
        (Some("A"), Some(3))
    );
    let stale_delete =
        stack.call_with(Method::DELETE, &task_path(&task, ""), token, None, &[("if-match", "\"2\"")]).await;
    stale_delete.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
}

#[tokio::test]
async fn complete_uncomplete_and_archive_keep_completed_at_and_the_activity_log_true() {
    let stack = TestStack::new().await;
    let user = stack.signup("Wes").await;
    let token = user["access_token"].as_str();
    let task = stack.task_titled(token, "Ship it").await;
    let done = stack.call(Method::POST, &task_path(&task, "/complete"), token, None).await;
    assert_eq!((done.body["status"].as_str(), done.body["completed_at"].is_string()), (Some("done"), true));
    let again = stack.call(Method::POST, &task_path(&task, "/complete"), token, None).await;
    assert_eq!(again.body["version"], done.body["version"], "completing a done task changes nothing");
    let reopened = stack.call(Method::POST, &task_path(&task, "/uncomplete"), token, None).await;
    assert_eq!((reopened.body["status"].as_str(), reopened.body["completed_at"].clone()), (Some("todo"), Value::Null));
    let archived = stack.call(Method::POST, &task_path(&task, "/archive"), token, None).await;
    assert_eq!(archived.body["archived"], true);

    let activity =
        stack.call(Method::GET, &format!("/v1/activity?entity_id={}", task["id"].as_str().unwrap()), token, None).await;
    assert_eq!(activity.status, StatusCode::OK, "{}", activity.body);
    let actions: Vec<&str> =
        activity.body["items"].as_array().unwrap().iter().map(|item| item["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["archived", "uncompleted", "completed", "created"], "newest first, one per change");
    let completed = &activity.body["items"][2];
    let status_change =
        completed["changes"].as_array().unwrap().iter().find(|change| change["field"] == "status").unwrap();
    assert_eq!((status_change["old"].as_str(), status_change["new"].as_str()), (Some("todo"), Some("done")));
    assert_eq!(completed["actor_id"], user["user"]["id"]);
}

#[tokio::test]
async fn the_free_tier_allows_fifty_open_tasks() {
    let stack = TestStack::new().await;
    let user = stack.signup("Xia").await;
    let token = user["access_token"].as_str();
    let mut first = Value::Null;
    for index in 0..50 {
        let task = stack.task_titled(token, &format!("task {index}")).await;
        if index == 0 {
            first = task;
        }
    }
    let over = stack.create_task(token, json!({"title": "one too many"})).await;
    over.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert!(over.body["detail"].as_str().unwrap().contains("50"));
    assert_eq!(
        stack.create_task(token, json!({"title": "done already", "status": "done"})).await.status,
        StatusCode::CREATED,
        "done tasks do not count"
    );
    stack.call(Method::POST, &task_path(&first, "/complete"), token, None).await;
    assert_eq!(stack.create_task(token, json!({"title": "fits again"})).await.status, StatusCode::CREATED);
    let reopen = stack.call(Method::POST, &task_path(&first, "/uncomplete"), token, None).await;
    reopen.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
}

#[tokio::test]
async fn deleted_tasks_go_to_the_trash_and_come_back_once() {
    let stack = TestStack::new().await;
    let user = stack.signup("Yan").await;
    let token = user["access_token"].as_str();
    let task = stack.task_titled(token, "Fragile").await;
    assert_eq!(stack.call(Method::DELETE, &task_path(&task, ""), token, None).await.status, StatusCode::NO_CONTENT);
    stack
        .call(Method::GET, &task_path(&task, ""), token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stack.call(Method::GET, "/v1/tasks", token, None).await.body["items"], json!([]));
    let trash = stack.call(Method::GET, "/v1/trash", token, None).await;
    assert_eq!(trash.body["items"][0]["id"], task["id"]);
    assert!(trash.body["items"][0]["expires_at"].is_string());

    let restore = format!("/v1/trash/{}/restore", task["id"].as_str().unwrap());
    let restored = stack.call(Method::POST, &restore, token, None).await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(restored.body["id"], task["id"], "same id");
    assert_eq!(stack.call(Method::GET, &task_path(&task, ""), token, None).await.body["title"], "Fragile");
    stack.call(Method::POST, &restore, token, None).await.assert_problem(StatusCode::CONFLICT, "not_in_trash");
    assert_eq!(stack.call(Method::GET, "/v1/trash", token, None).await.body["items"], json!([]));
}

#[tokio::test]
async fn a_trashed_task_older_than_seven_days_cannot_be_restored() {
    let stack = TestStack::new().await;
    let user = stack.signup("Zed").await;
    let token = user["access_token"].as_str();
    let task = stack.task_titled(token, "Old").await;
    stack.call(Method::DELETE, &task_path(&task, ""), token, None).await;
    // Eight days later: DynamoDB's TTL may not have deleted it yet.
    let eight_days_ago = chrono::Utc::now().timestamp() - 3600;
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", user["user"]["id"].as_str().unwrap())))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(format!("TASK#{}", task["id"].as_str().unwrap())))
        .update_expression("SET #ttl = :past")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::N(eight_days_ago.to_string()))
        .send()
        .await
        .unwrap();
    let restore =
        stack.call(Method::POST, &format!("/v1/trash/{}/restore", task["id"].as_str().unwrap()), token, None).await;
    restore.assert_problem(StatusCode::GONE, "trash_expired");
    stack
        .call(Method::GET, &task_path(&task, ""), token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn lists_filter_and_page_without_repeats_while_tasks_are_added() {
    let stack = TestStack::new().await;
    let user = stack.signup("Abe").await;
    let token = user["access_token"].as_str();
    for index in 0..7 {
        let labels = if index % 2 == 0 { json!(["even"]) } else { json!([]) };
        stack.create_task(token, json!({"title": format!("Task {index} about Groceries"), "labels": labels})).await;
    }
    stack.create_task(token, json!({"title": "Call mum", "priority": "urgent", "status": "in_progress"})).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(cursor) => format!("/v1/tasks?limit=3&cursor={cursor}"),
            None => "/v1/tasks?limit=3".to_string(),
        };
        let page = stack.call(Method::GET, &url, token, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(page.body["items"].as_array().unwrap().iter().map(|task| task["id"].as_str().unwrap().to_string()));
        if pages == 0 {
            stack.create_task(token, json!({"title": "added while paging"})).await;
        }
        pages += 1;
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "every task that existed, once: {seen:?}");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 8);

    let stack = &stack;
    let count = |query: &'static str| async move {
        let response = stack.call(Method::GET, &format!("/v1/tasks?{query}"), token, None).await;
        assert_eq!(response.status, StatusCode::OK, "{query}: {}", response.body);
        response.body["items"].as_array().unwrap().len()
    };
    assert_eq!(count("label=even").await, 4);
    assert_eq!(count("q=groceries").await, 7, "case-insensitive text");
    assert_eq!(count("status=in_progress").await, 1);
    assert_eq!(count("priority=urgent,high").await, 1);
    let bad = stack.call(Method::GET, "/v1/tasks?status=finished&limit=500", token, None).await;
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["limit", "status"]);
    stack
        .call(Method::GET, "/v1/tasks?cursor=garbage", token, None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
}

#[tokio::test]
async fn another_users_task_is_404_on_every_route_and_stays_unchanged() {
    let stack = TestStack::new().await;
    let owner = stack.signup("Owner").await;
    let intruder = stack.signup("Intruder").await;
    let owner_token = owner["access_token"].as_str();
    let token = intruder["access_token"].as_str();
    let task = stack.task_titled(owner_token, "Mine").await;
    let id = task["id"].as_str().unwrap();
    let note =
        stack.call(Method::POST, &task_path(&task, "/notes"), owner_token, Some(json!({"body": "private"}))).await.body;
    let note_id = note["id"].as_str().unwrap();
    let attempts: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/v1/tasks/{id}"), None),
        (Method::PATCH, format!("/v1/tasks/{id}"), Some(json!({"title": "Yours now"}))),
        (Method::DELETE, format!("/v1/tasks/{id}"), None),
        (Method::POST, format!("/v1/tasks/{id}/complete"), None),
        (Method::POST, format!("/v1/tasks/{id}/uncomplete"), None),
        (Method::POST, format!("/v1/tasks/{id}/archive"), None),
        (Method::POST, format!("/v1/trash/{id}/restore"), None),
        (Method::POST, format!("/v1/tasks/{id}/duplicate"), None),
        (Method::GET, format!("/v1/tasks/{id}/subtasks"), None),
        (Method::POST, format!("/v1/tasks/{id}/subtasks"), Some(json!({"title": "Sneaky"}))),
        (Method::GET, format!("/v1/tasks/{id}/notes"), None),
        (Method::POST, format!("/v1/tasks/{id}/notes"), Some(json!({"body": "hi"}))),
        (Method::PATCH, format!("/v1/tasks/{id}/notes/{note_id}"), Some(json!({"body": "hi"}))),
        (Method::DELETE, format!("/v1/tasks/{id}/notes/{note_id}"), None),
        (Method::GET, format!("/v1/tasks/{id}/attachments"), None),
        (
            Method::POST,
            format!("/v1/tasks/{id}/attachments"),
            Some(json!({"filename": "a.txt", "content_type": "text/plain", "size_bytes": 3})),
        ),
        (Method::DELETE, format!("/v1/tasks/{id}/attachments/{}", ulid::Ulid::new()), None),
    ];
    for (method, url, body) in attempts {
        let response = stack.call(method.clone(), &url, token, body).await;
        response.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    // Naming another user's task as the parent is as good as naming none.
    let adopted = stack.create_task(token, json!({"title": "Sneaky", "parent_id": id})).await;
    adopted.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(adopted.body["errors"][0]["field"], "parent_id");
    assert_eq!(stack.call(Method::GET, "/v1/tasks", token, None).await.body["items"], json!([]));
    assert_eq!(
        stack.call(Method::GET, &format!("/v1/activity?entity_id={id}"), token, None).await.body["items"],
        json!([])
    );
    let after = stack.call(Method::GET, &task_path(&task, ""), owner_token, None).await;
    assert_eq!(after.body, task, "nothing changed");
}

#[tokio::test]
async fn notes_are_created_listed_edited_and_deleted_under_their_task() {
    let stack = TestStack::new().await;
    let user = stack.signup("Noa").await;
    let token = user["access_token"].as_str();
    let task = stack.task_titled(token, "With notes").await;
    let first =
        stack.call(Method::POST, &task_path(&task, "/notes"), token, Some(json!({"body": "call the printer"}))).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    stack.call(Method::POST, &task_path(&task, "/notes"), token, Some(json!({"body": "second"}))).await;
    let empty = stack.call(Method::POST, &task_path(&task, "/notes"), token, Some(json!({"body": "  "}))).await;
    empty.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let list = stack.call(Method::GET, &task_path(&task, "/notes"), token, None).await;
    let bodies: Vec<&str> =
        list.body["items"].as_array().unwrap().iter().map(|note| note["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["call the printer", "second"]);

    let note_path = task_path(&task, &format!("/notes/{}", first.body["id"].as_str().unwrap()));
    let edited = stack
        .call_with(Method::PATCH, &note_path, token, Some(json!({"body": "printer called"})), &[("if-match", "\"1\"")])
        .await;
    assert_eq!((edited.status, edited.body["version"].as_u64()), (StatusCode::OK, Some(2)));
    let stale = stack
        .call_with(Method::PATCH, &note_path, token, Some(json!({"body": "late"})), &[("if-match", "\"1\"")])
        .await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stack.call(Method::DELETE, &note_path, token, None).await.status, StatusCode::NO_CONTENT);
    stack.call(Method::DELETE, &note_path, token, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Notes go to the trash with their task and come back with it.
    stack.call(Method::DELETE, &task_path(&task, ""), token, None).await;
    stack
        .call(Method::GET, &task_path(&task, "/notes"), token, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    stack.call(Method::POST, &format!("/v1/trash/{}/restore", task["id"].as_str().unwrap()), token, None).await;
    let back = stack.call(Method::GET, &task_path(&task, "/notes"), token, None).await;
    assert_eq!(back.body["items"][0]["body"], "second");
}

#[tokio::test]
async fn duplicate_copies_the_task_and_its_notes_as_new_objects() {
    let stack = TestStack::new().await;
    let user = stack.signup("Dup").await;
    let token = user["access_token"].as_str();
    let task =
        stack.create_task(token, json!({"title": "Weekly review", "labels": ["ritual"], "status": "done"})).await.body;
    stack.call(Method::POST, &task_path(&task, "/notes"), token, Some(json!({"body": "checklist"}))).await;
    let copy = stack.call(Method::POST, &task_path(&task, "/duplicate"), token, None).await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.body);
    assert_ne!(copy.body["id"], task["id"]);
    assert_eq!((copy.body["title"].as_str(), copy.body["labels"].clone()), (Some("Weekly review"), json!(["ritual"])));
    assert_eq!((copy.body["status"].as_str(), copy.body["completed_at"].clone()), (Some("todo"), Value::Null));
    let notes = stack.call(Method::GET, &task_path(&copy.body, "/notes"), token, None).await;
    assert_eq!(notes.body["items"][0]["body"], "checklist");
    assert_eq!(notes.body["items"][0]["task_id"], copy.body["id"]);
}

#[tokio::test]
async fn bulk_changes_each_task_on_its_own() {
    let stack = TestStack::new().await;
    let owner = stack.signup("Bulk").await;
    let other = stack.signup("Other").await;
    let token = owner["access_token"].as_str();
    let a = stack.task_titled(token, "a").await;
    let b = stack.task_titled(token, "b").await;
    let foreign = stack.task_titled(other["access_token"].as_str(), "not yours").await;
    let ids = json!([a["id"], foreign["id"], b["id"], "not-an-id"]);

    let completed =
        stack.call(Method::POST, "/v1/tasks/bulk", token, Some(json!({"action": "complete", "ids": ids}))).await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    let statuses: Vec<u64> =
        completed.body["results"].as_array().unwrap().iter().map(|result| result["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 404, 200, 404], "one failure does not undo the others");
    assert_eq!(completed.body["results"][0]["task"]["status"], "done");
    assert_eq!(completed.body["results"][1]["error"]["code"], "not_found");

    let updated = stack
        .call(
            Method::POST,
            "/v1/tasks/bulk",
            token,
            Some(json!({"action": "update", "ids": [a["id"]], "fields": {"priority": "low", "title": ""}})),
        )
        .await;
    assert_eq!(updated.body["results"][0]["status"], 422);
    let deleted = stack
        .call(Method::POST, "/v1/tasks/bulk", token, Some(json!({"action": "delete", "ids": [a["id"], b["id"]]})))
        .await;
    assert_eq!(deleted.body["results"][1]["status"], 204);
    assert_eq!(stack.call(Method::GET, "/v1/trash", token, None).await.body["items"].as_array().unwrap().len(), 2);
    let still = stack.call(Method::GET, &task_path(&foreign, ""), other["access_token"].as_str(), None).await;
    assert_eq!(still.body["status"], "todo", "the other user's task is untouched");

    let too_many: Vec<String> = (0..101).map(|_| ulid::Ulid::new().to_string()).collect();
    let rejected =
        stack.call(Method::POST, "/v1/tasks/bulk", token, Some(json!({"action": "delete", "ids": too_many}))).await;
    rejected.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let no_fields =
        stack.call(Method::POST, "/v1/tasks/bulk", token, Some(json!({"action": "update", "ids": [b["id"]]}))).await;
    assert_eq!(no_fields.error_fields(), ["fields"]);
}

#[tokio::test]
async fn attachments_upload_through_a_presigned_url_and_download_the_same_bytes() {
    let stack = TestStack::new().await;
    let user = stack.signup("Att").await;
    let token = user["access_token"].as_str();
    let task = stack.task_titled(token, "With a file").await;
    let content = b"%PDF-1.7 quarterly numbers".to_vec();
    let created = stack
        .call(
            Method::POST,
            &task_path(&task, "/attachments"),
            token,
            Some(json!({"filename": "q4.pdf", "content_type": "application/pdf", "size_bytes": content.len()})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let upload = &created.body["upload"];
    assert_eq!(upload["method"], "PUT");
    let http = reqwest::Client::new();
    let put = http
        .put(upload["url"].as_str().unwrap())
        .header("content-type", "application/pdf")
        .body(content.clone())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "upload: {}", put.status());

    let list = stack.call(Method::GET, &task_path(&task, "/attachments"), token, None).await;
    let item = &list.body["items"][0];
    assert_eq!((item["filename"].as_str(), item["size_bytes"].as_u64()), (Some("q4.pdf"), Some(content.len() as u64)));
    let downloaded = http.get(item["download_url"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(downloaded.to_vec(), content);

    let attachment_path = task_path(&task, &format!("/attachments/{}", item["id"].as_str().unwrap()));
    let other = stack.signup("Peeker").await;
    stack
        .call(Method::DELETE, &attachment_path, other["access_token"].as_str(), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(stack.call(Method::DELETE, &attachment_path, token, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(stack.call(Method::GET, &task_path(&task, "/attachments"), token, None).await.body["items"], json!([]));
    let gone = http.get(item["download_url"].as_str().unwrap()).send().await.unwrap();
    assert!(gone.status().is_client_error(), "the object was removed: {}", gone.status());
}

#[tokio::test]
async fn attachments_refuse_big_files_and_dangerous_types() {
    let stack = TestStack::new().await;
    let user = stack.signup("Big").await;
    let token = user["access_token"].as_str();
    let task = stack.task_titled(token, "Files").await;
    let response = stack
        .call(
            Method::POST,
            &task_path(&task, "/attachments"),
            token,
            Some(json!({"filename": "../evil.html", "content_type": "text/html", "size_bytes": 26 * 1024 * 1024})),
        )
        .await;
    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = response.error_fields();
    fields.sort();
    assert_eq!(fields, ["content_type", "filename", "size_bytes"]);
    assert_eq!(stack.call(Method::GET, &task_path(&task, "/attachments"), token, None).await.body["items"], json!([]));
}

#[tokio::test]
async fn lists_sort_by_due_priority_and_update_and_page_in_each_order() {
    let stack = TestStack::new().await;
    let user = stack.signup("Sorter").await;
    let token = user["access_token"].as_str();
    let later =
        stack.create_task(token, json!({"title": "later", "due_date": "2026-12-20", "priority": "low"})).await.body;
    stack.create_task(token, json!({"title": "undated", "priority": "urgent"})).await;
    stack.create_task(token, json!({"title": "soon", "due_at": "2026-12-01T08:00:00Z", "priority": "high"})).await;
    stack.create_task(token, json!({"title": "middle", "due_date": "2026-12-05"})).await;
    stack.call(Method::PATCH, &task_path(&later, ""), token, Some(json!({"description": "touched"}))).await;

    let stack = &stack;
    let titles = |sort: &'static str| async move {
        let mut titles = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(cursor) => format!("/v1/tasks?sort={sort}&limit=2&cursor={cursor}"),
                None => format!("/v1/tasks?sort={sort}&limit=2"),
            };
            let page = stack.call(Method::GET, &url, token, None).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            titles.extend(
                page.body["items"].as_array().unwrap().iter().map(|task| task["title"].as_str().unwrap().to_string()),
            );
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return titles,
            }
        }
    };
    assert_eq!(titles("due").await, ["soon", "middle", "later", "undated"]);
    assert_eq!(titles("priority").await, ["undated", "soon", "middle", "later"]);
    assert_eq!(titles("updated").await[0], "later");
    assert_eq!(titles("created").await, ["middle", "soon", "undated", "later"]);

    let first = stack.call(Method::GET, "/v1/tasks?limit=1", token, None).await;
    let created_cursor = first.body["next_cursor"].as_str().unwrap();
    let mixed = stack.call(Method::GET, &format!("/v1/tasks?sort=due&cursor={created_cursor}"), token, None).await;
    mixed.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    let bad = stack.call(Method::GET, "/v1/tasks?sort=alphabetical", token, None).await;
    assert_eq!(bad.error_fields(), ["sort"]);
}

/// The worst case of a duplicate: 50 subtasks due within a day (each copy brings its due-soon
/// schedule entry) and notes. Counted with every write it makes, it is refused whole, before
/// DynamoDB would refuse the transaction.
#[tokio::test]
async fn a_duplicate_too_large_for_one_transaction_is_refused_and_writes_nothing() {
    let stack = TestStack::new().await;
    let signup = stack.signup("Heavy").await;
    stack.set_tier(signup["user"]["id"].as_str().unwrap(), "pro").await;
    let token = signup["access_token"].as_str();
    let parent = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Launch"}))).await.body;
    let parent_id = parent["id"].as_str().unwrap();
    let due = (chrono::Utc::now() + chrono::TimeDelta::hours(6)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for step in 0..50 {
        let body = json!({"title": format!("Step {step}"), "due_at": due});
        let created = stack.call(Method::POST, &format!("/v1/tasks/{parent_id}/subtasks"), token, Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    for note in 0..10 {
        let body = json!({"body": format!("note {note}")});
        let added = stack.call(Method::POST, &format!("/v1/tasks/{parent_id}/notes"), token, Some(body)).await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    }
    let before =
        stack.call(Method::GET, "/v1/tasks?limit=200", token, None).await.body["items"].as_array().unwrap().len();
    let copy = stack.call(Method::POST, &format!("/v1/tasks/{parent_id}/duplicate"), token, None).await;
    copy.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "too_large");
    let after =
        stack.call(Method::GET, "/v1/tasks?limit=200", token, None).await.body["items"].as_array().unwrap().len();
    assert_eq!(after, before, "nothing of the copy was written");
}
