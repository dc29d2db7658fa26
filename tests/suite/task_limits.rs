//! What one task and one account may hold: notes and attachments capped per task, attachment
//! storage per tier, and the trash listed page by page. Each cap is attacked with parallel
//! requests at its edge: the counters are conditional writes, so none is passed.

use aws_sdk_dynamodb::types::AttributeValue;
use flowday_tests::{TestResponse, TestStack};
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::json;

const MB: u64 = 1024 * 1024;

async fn new_task(stack: &TestStack, token: Option<&str>, title: &str) -> String {
    stack.task_titled(token, title).await["id"].as_str().unwrap().to_string()
}

async fn add_note(stack: &TestStack, token: Option<&str>, task_id: &str, body: impl Into<String>) -> TestResponse {
    let body: String = body.into();
    stack.call(Method::POST, &format!("/v1/tasks/{task_id}/notes"), token, Some(json!({"body": body}))).await
}

async fn attach(
    stack: &TestStack,
    token: Option<&str>,
    task_id: &str,
    name: impl Into<String>,
    size: u64,
) -> TestResponse {
    let name: String = name.into();
    let file = json!({"filename": name, "content_type": "application/pdf", "size_bytes": size});
    stack.call(Method::POST, &format!("/v1/tasks/{task_id}/attachments"), token, Some(file)).await
}

/// How many answers were 201, after checking every other one is the `limit` refused.
fn created_or_refused(answers: &[TestResponse], limit: &str) -> usize {
    for answer in answers.iter().filter(|answer| answer.status != StatusCode::CREATED) {
        answer.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
        assert_eq!(answer.body["limit"], limit, "{}", answer.body);
    }
    answers.iter().filter(|answer| answer.status == StatusCode::CREATED).count()
}

#[tokio::test]
async fn a_task_holds_at_most_a_hundred_notes_even_when_they_race_in() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Scribe").await;
    let token = user["access_token"].as_str();
    let task_id = new_task(&stack, token, "Long discussion").await;
    for round in 0..19 {
        let batch = (0..5).map(|index| add_note(&stack, token, &task_id, format!("note {round}.{index}")));
        for answer in join_all(batch).await {
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        }
    }
    // 95 notes: ten more at once, and exactly five fit.
    let racing = join_all((0..10).map(|index| add_note(&stack, token, &task_id, format!("racing {index}")))).await;
    assert_eq!(created_or_refused(&racing, "notes_per_task"), 5);
    let refused = racing.iter().find(|answer| answer.status == StatusCode::FORBIDDEN).unwrap();
    assert!(refused.body["detail"].as_str().unwrap().contains("100"), "{}", refused.body);
    let notes = stack.call(Method::GET, &format!("/v1/tasks/{task_id}/notes"), token, None).await;
    assert_eq!(notes.body["items"].as_array().unwrap().len(), 100);

    // Deleting one makes room for one.
    let first = &notes.body["items"][0];
    let first_path = format!("/v1/tasks/{task_id}/notes/{}", first["id"].as_str().unwrap());
    assert_eq!(stack.call(Method::DELETE, &first_path, token, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(add_note(&stack, token, &task_id, "in its place").await.status, StatusCode::CREATED);
    add_note(&stack, token, &task_id, "one too many").await.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
}

#[tokio::test]
async fn a_duplicate_brings_its_note_count_with_it() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Copier").await;
    let token = user["access_token"].as_str();
    let user_id = user["user"]["id"].as_str().unwrap();
    let task_id = new_task(&stack, token, "Template-ish").await;
    for body in ["one", "two", "three"] {
        add_note(&stack, token, &task_id, body).await;
    }
    let copy = stack.call(Method::POST, &format!("/v1/tasks/{task_id}/duplicate"), token, None).await;
    assert_eq!(copy.status, StatusCode::CREATED, "{}", copy.body);
    let counters = stack
        .dynamo()
        .get_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S(format!("COUNTS#{}", copy.body["id"].as_str().unwrap())))
        .send()
        .await
        .unwrap();
    assert_eq!(
        counters.item().unwrap()["notes"],
        AttributeValue::N("3".into()),
        "the copy's three notes count against its cap"
    );
}

#[tokio::test]
async fn a_task_holds_at_most_twenty_attachments_even_when_they_race_in() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Filer").await;
    let token = user["access_token"].as_str();
    let task_id = new_task(&stack, token, "Receipts").await;
    let racing = join_all((0..25).map(|index| attach(&stack, token, &task_id, format!("r{index}.pdf"), 1_000))).await;
    assert_eq!(created_or_refused(&racing, "attachments_per_task"), 20);
    let listed = stack.call(Method::GET, &format!("/v1/tasks/{task_id}/attachments"), token, None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 20);

    let one = listed.body["items"][0]["id"].as_str().unwrap();
    let path = format!("/v1/tasks/{task_id}/attachments/{one}");
    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(attach(&stack, token, &task_id, "again.pdf", 1_000).await.status, StatusCode::CREATED);
    // Another task has its own twenty.
    let other_task = new_task(&stack, token, "More receipts").await;
    assert_eq!(attach(&stack, token, &other_task, "first.pdf", 1_000).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn attachment_storage_is_a_quota_of_the_plan_that_an_upgrade_lifts_at_once() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Hoarder").await;
    let token = user["access_token"].as_str();
    let user_id = user["user"]["id"].as_str().unwrap();
    // The free plan stores 250 MB: ten files of 25 MB, spread over tasks, racing.
    let tasks = [new_task(&stack, token, "Scans A").await, new_task(&stack, token, "Scans B").await];
    let racing =
        join_all((0..13).map(|index| attach(&stack, token, &tasks[index % 2], format!("scan{index}.pdf"), 25 * MB)))
            .await;
    assert_eq!(created_or_refused(&racing, "attachment_bytes"), 10);
    let refused = racing.iter().find(|answer| answer.status == StatusCode::FORBIDDEN).unwrap();
    assert!(refused.body["detail"].as_str().unwrap().contains("250 MB"), "{}", refused.body);
    // A small file does not fit either: the bytes are full, whatever the count.
    attach(&stack, token, &tasks[0], "note.pdf", 10).await.assert_problem(StatusCode::FORBIDDEN, "limit_reached");

    // Deleting a file gives its bytes back.
    let listed = stack.call(Method::GET, &format!("/v1/tasks/{}/attachments", tasks[0]), token, None).await;
    let one = listed.body["items"][0]["id"].as_str().unwrap();
    let path = format!("/v1/tasks/{}/attachments/{one}", tasks[0]);
    assert_eq!(stack.call(Method::DELETE, &path, token, None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(attach(&stack, token, &tasks[0], "fits.pdf", 25 * MB).await.status, StatusCode::CREATED);
    attach(&stack, token, &tasks[0], "full.pdf", 25 * MB).await.assert_problem(StatusCode::FORBIDDEN, "limit_reached");

    // Pro stores more, from the next request on.
    stack.set_tier(user_id, "pro").await;
    assert_eq!(attach(&stack, token, &tasks[1], "pro.pdf", 25 * MB).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_trash_pages_newest_first_without_repeats_and_skips_what_expired() {
    let stack = TestStack::without_rate_limits().await;
    let user = stack.signup("Tidy").await;
    let token = user["access_token"].as_str();
    let mut trashed = Vec::new();
    for index in 0..5 {
        let task_id = new_task(&stack, token, &format!("gone {index}")).await;
        assert_eq!(
            stack.call(Method::DELETE, &format!("/v1/tasks/{task_id}"), token, None).await.status,
            StatusCode::NO_CONTENT
        );
        trashed.push(task_id);
    }
    let mut seen = Vec::new();
    let mut path = "/v1/trash?limit=2".to_string();
    loop {
        let page = stack.call(Method::GET, &path, token, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|entry| entry["id"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/trash?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = trashed.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "every entry once, the last deleted first");

    // An entry whose 7 days are over is not listed, even before the purge deletes it.
    let user_id = user["user"]["id"].as_str().unwrap();
    let past = chrono::Utc::now().timestamp() - 60;
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S(format!("TRASH#{}", trashed[0])))
        .update_expression("SET expires_at = :past, GSI2SK = :position")
        .expression_attribute_values(":past", AttributeValue::N(past.to_string()))
        .expression_attribute_values(":position", AttributeValue::S(format!("{past:012}#{}", trashed[0])))
        .send()
        .await
        .unwrap();
    let listed = stack.call(Method::GET, "/v1/trash", token, None).await.body;
    let ids: Vec<&str> =
        listed["items"].as_array().unwrap().iter().map(|entry| entry["id"].as_str().unwrap()).collect();
    assert_eq!(ids, newest_first[..4].iter().map(String::as_str).collect::<Vec<_>>());

    // A cursor of another list, or a bad limit, is refused.
    let foreign = shared::http::pagination::cursor("templates", &trashed[0]);
    stack
        .call(Method::GET, &format!("/v1/trash?cursor={foreign}"), token, None)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    stack
        .call(Method::GET, "/v1/trash?limit=0", token, None)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
