//! Subtasks: one level deep, counted on their parent, completing and reopening it, and travelling
//! with it to the trash, back, and into duplicates.

use flowday_tests::{TestResponse, TestStack, task_path};
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Caller<'a> {
    stack: &'a TestStack,
    token: String,
}

impl<'a> Caller<'a> {
    async fn new(stack: &'a TestStack, name: &str) -> Self {
        let user = stack.signup(name).await;
        Caller { stack, token: user["access_token"].as_str().unwrap().to_string() }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.stack.call(method, path, Some(&self.token), body).await
    }

    async fn task(&self, title: &str) -> Value {
        let response = self.call(Method::POST, "/v1/tasks", Some(json!({"title": title}))).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body
    }

    async fn subtask(&self, parent: &Value, title: &str) -> Value {
        let response = self.call(Method::POST, &task_path(parent, "/subtasks"), Some(json!({"title": title}))).await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.body);
        response.body
    }

    async fn get(&self, task: &Value) -> TestResponse {
        self.call(Method::GET, &task_path(task, ""), None).await
    }

    async fn post(&self, task: &Value, action: &str) -> TestResponse {
        let response = self.call(Method::POST, &task_path(task, action), None).await;
        assert!(response.status.is_success(), "{action}: {} {}", response.status, response.body);
        response
    }

    async fn counts(&self, task: &Value) -> Value {
        self.get(task).await.body["subtasks"].clone()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|task| task["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn subtasks_are_one_level_deep_and_counted_on_their_parent() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Pia").await;
    let parent = user.task("Move house").await;
    assert_eq!(parent["subtasks"], json!({"open": 0, "done": 0}));
    let boxes = user.subtask(&parent, "Pack boxes").await;
    assert_eq!(boxes["parent_id"], parent["id"]);
    assert!(boxes.get("subtasks").is_none(), "subtasks carry no counts: {boxes}");
    let by_body =
        user.call(Method::POST, "/v1/tasks", Some(json!({"title": "Book van", "parent_id": parent["id"]}))).await;
    assert_eq!(by_body.status, StatusCode::CREATED, "{}", by_body.body);
    user.post(&by_body.body, "/complete").await;
    assert_eq!(user.counts(&parent).await, json!({"open": 1, "done": 1}));

    let listed = user.call(Method::GET, &task_path(&parent, "/subtasks"), None).await;
    assert_eq!(ids(&listed.body), [boxes["id"].as_str().unwrap(), by_body.body["id"].as_str().unwrap()]);
    let filtered =
        user.call(Method::GET, &format!("/v1/tasks?parent_id={}", parent["id"].as_str().unwrap()), None).await;
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 2);
    let top_level = user.call(Method::GET, "/v1/tasks?parent_id=none", None).await;
    assert_eq!(ids(&top_level.body), [parent["id"].as_str().unwrap()]);

    let nested = user.call(Method::POST, &task_path(&boxes, "/subtasks"), Some(json!({"title": "Tape"}))).await;
    nested.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(nested.error_fields(), ["parent_id"]);
    let moved = user.call(Method::PATCH, &task_path(&boxes, ""), Some(json!({"parent_id": null}))).await;
    moved.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let elsewhere = json!({"title": "x", "parent_id": boxes["id"]});
    let mismatch = user.call(Method::POST, &task_path(&parent, "/subtasks"), Some(elsewhere)).await;
    mismatch.assert_problem(StatusCode::BAD_REQUEST, "parent_mismatch");
    let junk = user.call(Method::GET, "/v1/tasks?parent_id=junk", None).await;
    junk.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(junk.error_fields(), ["parent_id"]);
    assert_eq!(user.counts(&parent).await, json!({"open": 1, "done": 1}), "refused requests wrote nothing");
    let ghost = format!("/v1/tasks/{}/subtasks", ulid::Ulid::new());
    user.call(Method::POST, &ghost, Some(json!({"title": "x"})))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn the_last_subtask_done_completes_the_parent_and_reopening_one_reopens_it() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Quin").await;
    let parent = user.task("Launch").await;
    let first = user.subtask(&parent, "Write copy").await;
    let second = user.subtask(&parent, "Ship it").await;
    user.post(&first, "/complete").await;
    assert_eq!(user.get(&parent).await.body["status"], "todo", "one subtask still open");
    user.post(&second, "/complete").await;
    let completed = user.get(&parent).await.body;
    assert_eq!(completed["status"], "done");
    assert!(completed["completed_at"].is_string());
    assert_eq!(completed["subtasks"], json!({"open": 0, "done": 2}));
    assert_eq!(completed["version"], parent["version"].as_u64().unwrap() + 1, "the parent's ETag moves");

    user.post(&second, "/uncomplete").await;
    let reopened = user.get(&parent).await.body;
    assert_eq!(reopened["status"], "todo");
    assert_eq!(reopened["completed_at"], Value::Null);
    assert_eq!(reopened["subtasks"], json!({"open": 1, "done": 1}));

    // The activity log tells why the parent changed.
    let log = user.call(Method::GET, &format!("/v1/activity?entity_id={}", parent["id"].as_str().unwrap()), None).await;
    let actions: Vec<&str> =
        log.body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["reopened_with_subtask", "completed_with_subtasks", "created"]);
}

#[tokio::test]
async fn a_parent_completed_by_hand_stays_done_when_a_subtask_reopens() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Rae").await;
    let parent = user.task("Taxes").await;
    let first = user.subtask(&parent, "Gather receipts").await;
    let second = user.subtask(&parent, "File").await;
    user.post(&first, "/complete").await;
    let done = user.post(&parent, "/complete").await.body;
    assert_eq!(done["status"], "done");
    assert_eq!(done["subtasks"], json!({"open": 0, "done": 2}), "completing the parent completes its open subtasks");
    assert_eq!(user.get(&second).await.body["status"], "done");
    assert!(user.get(&second).await.body["completed_at"].is_string());

    user.post(&second, "/uncomplete").await;
    assert_eq!(user.get(&parent).await.body["status"], "done", "it was completed by hand, not by its subtasks");
    assert_eq!(user.counts(&parent).await, json!({"open": 1, "done": 1}));
}

#[tokio::test]
async fn two_last_subtasks_completed_at_once_complete_the_parent_once() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Sol").await;
    let parent = user.task("Race").await;
    let subtasks =
        [user.subtask(&parent, "a").await, user.subtask(&parent, "b").await, user.subtask(&parent, "c").await];
    let paths: Vec<String> = subtasks.iter().map(|subtask| task_path(subtask, "/complete")).collect();
    let completions = paths.iter().map(|path| user.call(Method::POST, path, None));
    for response in futures::future::join_all(completions).await {
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
    let parent_now = user.get(&parent).await.body;
    assert_eq!(parent_now["status"], "done");
    assert_eq!(parent_now["subtasks"], json!({"open": 0, "done": 3}));
    let log = user.call(Method::GET, &format!("/v1/activity?entity_id={}", parent["id"].as_str().unwrap()), None).await;
    let completions = log.body["items"].as_array().unwrap().iter().filter(|e| e["action"] == "completed_with_subtasks");
    assert_eq!(completions.count(), 1);
}

#[tokio::test]
async fn the_free_tier_allows_ten_subtasks_per_task() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Tam").await;
    let parent = user.task("Big").await;
    for index in 0..10 {
        user.subtask(&parent, &format!("step {index}")).await;
    }
    let over = user.call(Method::POST, &task_path(&parent, "/subtasks"), Some(json!({"title": "one more"}))).await;
    over.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(over.body["limit"], "subtasks_per_task");
    assert_eq!(
        user.call(Method::GET, &task_path(&parent, "/subtasks"), None).await.body["items"].as_array().unwrap().len(),
        10
    );
    // Subtasks do not use up open tasks: a new top-level task still fits.
    user.task("Small").await;
}

#[tokio::test]
async fn subtasks_go_to_the_trash_with_their_parent_and_come_back_with_it() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Uma").await;
    let parent = user.task("Garden").await;
    let weed = user.subtask(&parent, "Weed").await;
    let water = user.subtask(&parent, "Water").await;
    user.post(&water, "/complete").await;
    let alone = user.subtask(&parent, "Prune").await;

    // A subtask trashed on its own leaves its parent's counts.
    assert_eq!(user.call(Method::DELETE, &task_path(&alone, ""), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(user.counts(&parent).await, json!({"open": 1, "done": 1}));

    assert_eq!(user.call(Method::DELETE, &task_path(&parent, ""), None).await.status, StatusCode::NO_CONTENT);
    for gone in [&parent, &weed, &water] {
        user.get(gone).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(user.call(Method::GET, "/v1/tasks", None).await.body["items"], json!([]));
    let trash = user.call(Method::GET, "/v1/trash", None).await.body;
    let mut listed = ids(&trash);
    listed.sort();
    let mut expected = vec![parent["id"].as_str().unwrap().to_string(), alone["id"].as_str().unwrap().to_string()];
    expected.sort();
    assert_eq!(listed, expected, "subtasks trashed with their parent are not listed on their own");
    let restore_child = format!("/v1/trash/{}/restore", weed["id"].as_str().unwrap());
    user.call(Method::POST, &restore_child, None).await.assert_problem(StatusCode::CONFLICT, "parent_in_trash");
    let restore_alone = format!("/v1/trash/{}/restore", alone["id"].as_str().unwrap());
    user.call(Method::POST, &restore_alone, None).await.assert_problem(StatusCode::CONFLICT, "parent_in_trash");

    let restored =
        user.call(Method::POST, &format!("/v1/trash/{}/restore", parent["id"].as_str().unwrap()), None).await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(restored.body["subtasks"], json!({"open": 1, "done": 1}));
    assert_eq!(user.get(&weed).await.body["status"], "todo");
    assert_eq!(user.get(&water).await.body["status"], "done");

    let back = user.call(Method::POST, &restore_alone, None).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(user.counts(&parent).await, json!({"open": 2, "done": 1}));
    let listed = ids(&user.call(Method::GET, &task_path(&parent, "/subtasks"), None).await.body);
    assert_eq!(listed.len(), 3);
}

#[tokio::test]
async fn duplicating_a_parent_copies_its_subtasks_reopened() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Vik").await;
    let parent = user.task("Weekly review").await;
    let inbox = user.subtask(&parent, "Clear inbox").await;
    user.subtask(&parent, "Plan week").await;
    user.post(&inbox, "/complete").await;
    let copy = user.post(&parent, "/duplicate").await.body;
    assert_ne!(copy["id"], parent["id"]);
    assert_eq!(copy["subtasks"], json!({"open": 2, "done": 0}));
    let copies = user.call(Method::GET, &task_path(&copy, "/subtasks"), None).await.body;
    let titles: Vec<&str> = copies["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Clear inbox", "Plan week"]);
    for subtask in copies["items"].as_array().unwrap() {
        assert_eq!(subtask["status"], "todo");
        assert_eq!(subtask["parent_id"], copy["id"]);
        assert_ne!(subtask["id"], inbox["id"]);
    }
    assert_eq!(user.counts(&parent).await, json!({"open": 1, "done": 1}), "the original is untouched");
}
