//! The maintenance binary, run as Lambda runs it, on the schedule's events of events/maintenance.

use aws_sdk_dynamodb::types::AttributeValue;
use flowday_tests::{TestStack, event};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_maintenance");

/// Moves a trash entry and its tasks eight days into the past, as if their 7 days were over.
async fn age_trash_entry(stack: &TestStack, user_id: &str, task_ids: &[&str]) {
    let expired = chrono::Utc::now().timestamp() - 24 * 3600;
    let bucket = shared::store::keys::purge_bucket(expired);
    let user = AttributeValue::S(format!("USER#{user_id}"));
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", user.clone())
        .key("SK", AttributeValue::S(format!("TRASH#{}", task_ids[0])))
        .update_expression("SET expires_at = :expired, GSI1PK = :bucket, GSI1SK = :position")
        .expression_attribute_values(":expired", AttributeValue::N(expired.to_string()))
        .expression_attribute_values(":bucket", AttributeValue::S(bucket))
        .expression_attribute_values(":position", AttributeValue::S(format!("{expired:012}#{user_id}#{}", task_ids[0])))
        .send()
        .await
        .unwrap();
    for task_id in task_ids {
        stack
            .dynamo()
            .update_item()
            .table_name(stack.table())
            .key("PK", user.clone())
            .key("SK", AttributeValue::S(format!("TASK#{task_id}")))
            .update_expression("SET #ttl = :expired")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":expired", AttributeValue::N(expired.to_string()))
            .send()
            .await
            .unwrap();
    }
}

async fn items_under(stack: &TestStack, user_id: &str, prefix: &str) -> usize {
    let output = stack
        .dynamo()
        .query()
        .table_name(stack.table())
        .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{user_id}")))
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
        .send()
        .await
        .unwrap();
    output.items().len()
}

#[tokio::test]
async fn the_hourly_run_purges_expired_trash_with_its_files_and_keeps_the_rest() {
    let stack = TestStack::new().await;
    let user = stack.signup("Purge").await;
    let token = user["access_token"].as_str();
    let user_id = user["user"]["id"].as_str().unwrap();
    let parent = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Old project"}))).await.body;
    let parent_id = parent["id"].as_str().unwrap();
    let subtask = stack
        .call(Method::POST, &format!("/v1/tasks/{parent_id}/subtasks"), token, Some(json!({"title": "Step"})))
        .await
        .body;
    stack.call(Method::POST, &format!("/v1/tasks/{parent_id}/notes"), token, Some(json!({"body": "n"}))).await;
    let file = b"old numbers".to_vec();
    let attachment = stack
        .call(
            Method::POST,
            &format!("/v1/tasks/{parent_id}/attachments"),
            token,
            Some(json!({"filename": "old.txt", "content_type": "text/plain", "size_bytes": file.len()})),
        )
        .await
        .body;
    let http = reqwest::Client::new();
    let upload = attachment["upload"]["url"].as_str().unwrap();
    assert!(
        http.put(upload).header("content-type", "text/plain").body(file).send().await.unwrap().status().is_success()
    );
    let listed = stack.call(Method::GET, &format!("/v1/tasks/{parent_id}/attachments"), token, None).await.body;
    let download = listed["items"][0]["download_url"].as_str().unwrap().to_string();
    assert_eq!(
        stack.call(Method::DELETE, &format!("/v1/tasks/{parent_id}"), token, None).await.status,
        StatusCode::NO_CONTENT
    );
    let recent = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Deleted today"}))).await.body;
    stack.call(Method::DELETE, &format!("/v1/tasks/{}", recent["id"].as_str().unwrap()), token, None).await;
    age_trash_entry(&stack, user_id, &[parent_id, subtask["id"].as_str().unwrap()]).await;

    let lambda = stack.lambda(BINARY, "maintenance").await;
    let report: Value = lambda.invoke(event("maintenance", "hourly", &[])).await.unwrap();
    // The two tasks, the note, the parent's counters of notes and attachments, the attachment
    // record, and the tasks' three activity entries (parent created and trashed, subtask created).
    assert_eq!(report["trash"], json!({"entries": 1, "items_deleted": 8, "objects_deleted": 1, "failed": 0}));
    for task_id in [parent_id, subtask["id"].as_str().unwrap()] {
        let log = stack.call(Method::GET, &format!("/v1/activity?entity_id={task_id}"), token, None).await.body;
        assert_eq!(log["items"], json!([]), "the purged task's history went with it");
    }
    // What remains of the note and the file names no content.
    let log = stack.call(Method::GET, "/v1/activity", token, None).await.body;
    let others: Vec<&Value> =
        log["items"].as_array().unwrap().iter().filter(|entry| entry["entity_type"] != "task").collect();
    assert!(!others.is_empty());
    for entry in others {
        assert!(
            entry["changes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|change| change["old"].is_null() && change["new"].is_null()),
            "{entry}"
        );
    }

    assert!(http.get(&download).send().await.unwrap().status().is_client_error(), "the file is gone from S3");
    let usage = stack
        .dynamo()
        .get_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("ATTACHMENT_USAGE".into()))
        .send()
        .await
        .unwrap();
    let usage = usage.item().expect("the usage counter");
    assert_eq!(usage["attachments"], AttributeValue::N("0".into()), "the purged file's room is given back");
    assert_eq!(usage["bytes"], AttributeValue::N("0".into()));
    for prefix in [
        format!("TASK#{parent_id}"),
        format!("NOTE#{parent_id}#"),
        format!("ATTACHMENT#{parent_id}#"),
        format!("COUNTS#{parent_id}"),
    ] {
        assert_eq!(items_under(&stack, user_id, &prefix).await, 0, "{prefix}");
    }
    assert_eq!(items_under(&stack, user_id, &format!("TASK#{}", subtask["id"].as_str().unwrap())).await, 0);
    let trash = stack.call(Method::GET, "/v1/trash", token, None).await.body;
    assert_eq!(trash["items"].as_array().unwrap().len(), 1, "the entry of today stays: {trash}");
    assert_eq!(trash["items"][0]["id"], recent["id"]);
    let restored = stack.call(Method::POST, &format!("/v1/trash/{parent_id}/restore"), token, None).await;
    restored.assert_problem(StatusCode::NOT_FOUND, "not_found");

    // The next run, or an operator's catch-up run, finds nothing more to do.
    let again: Value = lambda.invoke(event("maintenance", "catch-up", &[])).await.unwrap();
    assert_eq!(again["trash"]["entries"], 0);
    lambda.stop().await;
}

/// The purge index is read eventually consistent: an entry restored a moment ago may still be
/// listed. The purge deletes a task only while it is in the trash, so a restored one keeps
/// everything (simulated: the task is out of the trash, its entry still listed).
#[tokio::test]
async fn the_purge_never_deletes_a_task_restored_meanwhile() {
    let stack = TestStack::new().await;
    let user = stack.signup("Restored").await;
    let token = user["access_token"].as_str();
    let user_id = user["user"]["id"].as_str().unwrap();
    let task = stack.call(Method::POST, "/v1/tasks", token, Some(json!({"title": "Keep me"}))).await.body;
    let task_id = task["id"].as_str().unwrap();
    stack.call(Method::POST, &format!("/v1/tasks/{task_id}/notes"), token, Some(json!({"body": "mine"}))).await;
    assert_eq!(
        stack.call(Method::DELETE, &format!("/v1/tasks/{task_id}"), token, None).await.status,
        StatusCode::NO_CONTENT
    );
    age_trash_entry(&stack, user_id, &[task_id]).await;
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S(format!("TASK#{task_id}")))
        .update_expression("REMOVE trashed_at, #ttl")
        .expression_attribute_names("#ttl", "ttl")
        .send()
        .await
        .unwrap();

    let lambda = stack.lambda(BINARY, "maintenance").await;
    let report: Value = lambda.invoke(event("maintenance", "hourly", &[])).await.unwrap();
    assert_eq!(report["trash"]["items_deleted"], 0, "{report}");
    let kept = stack.call(Method::GET, &format!("/v1/tasks/{task_id}"), token, None).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    assert_eq!(items_under(&stack, user_id, &format!("NOTE#{task_id}#")).await, 1, "its note stays");
    lambda.stop().await;
}
