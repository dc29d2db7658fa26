//! Task templates: saved from a task with its subtasks or written out, validated field by field,
//! limited to 100 per user, paged newest first, private to their owner, and used to create tasks
//! (with their subtasks, in one transaction) through `POST /v1/tasks` with `template_id`.

use aws_sdk_dynamodb::types::AttributeValue;
use flowday_tests::{TestResponse, TestStack};
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Caller<'a> {
    stack: &'a TestStack,
    token: String,
    user_id: String,
}

impl<'a> Caller<'a> {
    async fn new(stack: &'a TestStack, name: &str) -> Self {
        let user = stack.signup(name).await;
        Caller {
            stack,
            token: user["access_token"].as_str().unwrap().to_string(),
            user_id: user["user"]["id"].as_str().unwrap().to_string(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.stack.call(method, path, Some(&self.token), body).await
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let response = self.call(Method::POST, path, Some(body)).await;
        assert_eq!(response.status, StatusCode::CREATED, "{path}: {}", response.body);
        response.body
    }

    async fn template(&self, name: &str) -> Value {
        self.created("/v1/templates", json!({"name": name, "task": {"title": name}})).await
    }

    async fn templates(&self, query: &str) -> TestResponse {
        self.call(Method::GET, &format!("/v1/templates{query}"), None).await
    }

    async fn subtasks(&self, task: &Value) -> Vec<Value> {
        let response = self.call(Method::GET, &format!("/v1/tasks/{}/subtasks", id(task)), None).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        response.body["items"].as_array().unwrap().clone()
    }

    /// The raw counter item the template limit is enforced on.
    async fn template_count(&self) -> Option<i64> {
        let item = self
            .stack
            .dynamo()
            .get_item()
            .table_name(self.stack.table())
            .key("PK", AttributeValue::S(format!("USER#{}", self.user_id)))
            .key("SK", AttributeValue::S("TEMPLATE_COUNTS".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        item.get("templates").and_then(|value| value.as_n().ok()).and_then(|n| n.parse().ok())
    }
}

fn id(object: &Value) -> &str {
    object["id"].as_str().unwrap()
}

fn titles(tasks: &[Value]) -> Vec<&str> {
    tasks.iter().map(|task| task["title"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_task_saved_as_a_template_makes_new_tasks_with_its_subtasks_and_the_overrides() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Tara").await;
    let original = user
        .created(
            "/v1/tasks",
            json!({"title": "Weekly review", "description": "Every Friday", "priority": "high",
                   "estimate_minutes": 45, "labels": ["work"], "category": "rituals",
                   "due_at": "2026-11-27T15:00:00Z"}),
        )
        .await;
    let inbox = user.created(&format!("/v1/tasks/{}/subtasks", id(&original)), json!({"title": "Inbox zero"})).await;
    user.created(
        &format!("/v1/tasks/{}/subtasks", id(&original)),
        json!({"title": "Plan next week", "priority": "urgent"}),
    )
    .await;
    let done = user.call(Method::POST, &format!("/v1/tasks/{}/complete", id(&inbox)), None).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);

    let saved =
        user.call(Method::POST, "/v1/templates", Some(json!({"name": " Review ", "task_id": id(&original)}))).await;
    assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
    assert_eq!(saved.header("etag"), Some("\"1\""));
    let template = saved.body;
    assert_eq!(template["name"], "Review");
    assert_eq!(
        template["task"],
        json!({"title": "Weekly review", "description": "Every Friday", "priority": "high", "estimate_minutes": 45,
               "labels": ["work"], "category": "rituals", "recurrence": null}),
        "a template keeps what repeats, not the due time or the status"
    );
    assert_eq!(
        template["subtasks"],
        json!([
            {"title": "Inbox zero", "description": null, "priority": "medium", "estimate_minutes": null, "labels": []},
            {"title": "Plan next week", "description": null, "priority": "urgent", "estimate_minutes": null, "labels": []},
        ])
    );
    assert_eq!(template["version"], 1);
    assert!(template["created_at"].is_string());

    let from_template = user
        .call(
            Method::POST,
            "/v1/tasks",
            Some(json!({"template_id": id(&template), "title": "Weekly review (week 48)", "due_at": "2026-12-04T15:00:00Z"})),
        )
        .await;
    assert_eq!(from_template.status, StatusCode::CREATED, "{}", from_template.body);
    let task = from_template.body;
    assert_eq!(from_template.headers["location"], format!("/v1/tasks/{}", id(&task)).as_str());
    assert_ne!(id(&task), id(&original));
    assert_eq!(task["title"], "Weekly review (week 48)", "an override wins");
    assert_eq!(task["due_at"], "2026-12-04T15:00:00Z");
    assert_eq!(task["description"], "Every Friday", "the rest comes from the template");
    assert_eq!(task["priority"], "high");
    assert_eq!(task["estimate_minutes"], 45);
    assert_eq!(task["labels"], json!(["work"]));
    assert_eq!(task["category"], "rituals");
    assert_eq!(task["status"], "todo");
    assert_eq!(task["subtasks"], json!({"open": 2, "done": 0}));
    let stored = user.call(Method::GET, &format!("/v1/tasks/{}", id(&task)), None).await.body;
    assert_eq!(stored["subtasks"], json!({"open": 2, "done": 0}));
    assert_eq!(stored["title"], "Weekly review (week 48)");

    let subtasks = user.subtasks(&task).await;
    assert_eq!(titles(&subtasks), ["Inbox zero", "Plan next week"], "in the template's order");
    for subtask in &subtasks {
        assert_eq!(subtask["parent_id"], task["id"]);
        assert_eq!(subtask["status"], "todo", "a template's subtasks start open");
    }
    assert_eq!(subtasks[1]["priority"], "urgent");
    assert_eq!(user.subtasks(&original).await.len(), 2, "the original keeps its own subtasks");

    // Without overrides, the template alone; completing the last subtask completes the new task.
    let plain = user.created("/v1/tasks", json!({"template_id": id(&template)})).await;
    assert_eq!(plain["title"], "Weekly review");
    assert_eq!(plain["due_at"], Value::Null);
    for subtask in user.subtasks(&plain).await {
        user.call(Method::POST, &format!("/v1/tasks/{}/complete", id(&subtask)), None).await;
    }
    let finished = user.call(Method::GET, &format!("/v1/tasks/{}", id(&plain)), None).await.body;
    assert_eq!(finished["status"], "done", "the subtasks are real subtasks of the new task: {finished}");
}

#[tokio::test]
async fn a_template_written_out_is_checked_field_by_field_and_a_refused_one_writes_nothing() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Uma").await;
    let invalid = json!({
        "name": "",
        "task": {"title": " ", "estimate_minutes": 0, "labels": ["ok", "x".repeat(51)]},
        "subtasks": [{"title": "fine"}, {"title": "", "priority": "high"}],
    });
    let refused = user.call(Method::POST, "/v1/templates", Some(invalid)).await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let mut fields = refused.error_fields();
    fields.sort();
    assert_eq!(fields, ["name", "subtasks[1].title", "task.estimate_minutes", "task.labels[1]", "task.title"]);

    let cases = [
        (json!({"name": "x", "task": {"title": "t", "status": "done"}}), "task.status"),
        (
            json!({"name": "x", "task": {"title": "t"}, "subtasks": [{"title": "s", "due_at": "2026-12-01T09:00:00Z"}]}),
            "subtasks[0].due_at",
        ),
        (json!({"name": "x", "task": {"title": "t", "priority": "soon"}}), "task.priority"),
        (json!({"name": "x", "task": {"title": "t"}, "subtasks": vec![json!({"title": "s"}); 51]}), "subtasks"),
        (json!({"name": "x".repeat(101), "task": {"title": "t"}}), "name"),
        (json!({"name": "x"}), "task"),
        (json!({"name": "x", "task": {"title": "t"}, "task_id": ulid::Ulid::new().to_string()}), "task_id"),
        (json!({"name": "x", "task_id": ulid::Ulid::new().to_string()}), "task_id"),
        (json!({"name": "x", "task_id": "not-an-id"}), "task_id"),
        (json!({"name": "x", "tasks": {"title": "t"}}), "tasks"),
    ];
    for (body, field) in cases {
        let response = user.call(Method::POST, "/v1/templates", Some(body.clone())).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(response.error_fields(), [field], "{body}");
    }
    assert_eq!(user.templates("").await.body, json!({"items": [], "next_cursor": null}));
    assert_eq!(user.template_count().await, None, "nothing was counted");

    let written = user
        .created(
            "/v1/templates",
            json!({"name": "Trip", "task": {"title": " Pack ", "labels": [" travel "]},
                   "subtasks": [{"title": "Passport"}, {"title": "Charger", "estimate_minutes": 5}]}),
        )
        .await;
    assert_eq!(written["task"]["title"], "Pack", "normalised as a task is");
    assert_eq!(written["task"]["labels"], json!(["travel"]));
    assert_eq!(written["task"]["priority"], "medium");
    assert_eq!(written["subtasks"][1]["estimate_minutes"], 5);
    assert_eq!(user.template_count().await, Some(1));
}

#[tokio::test]
async fn creating_from_a_template_checks_the_template_the_overrides_and_the_parent() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Vic").await;
    let with_subtasks = user
        .created(
            "/v1/templates",
            json!({"name": "Trip", "task": {"title": "Pack"}, "subtasks": [{"title": "Passport"}]}),
        )
        .await;
    let single = user.template("Call mum").await;
    let parent = user.created("/v1/tasks", json!({"title": "Sunday"})).await;

    let ghost = user.call(Method::POST, "/v1/tasks", Some(json!({"template_id": ulid::Ulid::new().to_string()}))).await;
    ghost.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(ghost.error_fields(), ["template_id"]);
    for template_id in [json!("junk"), json!(42)] {
        let response = user.call(Method::POST, "/v1/tasks", Some(json!({"template_id": template_id}))).await;
        assert_eq!(response.error_fields(), ["template_id"], "{}", response.body);
    }
    let bad_override =
        user.call(Method::POST, "/v1/tasks", Some(json!({"template_id": id(&single), "estimate_minutes": "x"}))).await;
    bad_override.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(bad_override.error_fields(), ["estimate_minutes"], "the field is named as without a template");
    let invalid_override =
        user.call(Method::POST, "/v1/tasks", Some(json!({"template_id": id(&single), "title": ""}))).await;
    assert_eq!(invalid_override.error_fields(), ["title"]);
    let nested = user
        .call(Method::POST, "/v1/tasks", Some(json!({"template_id": id(&with_subtasks), "parent_id": id(&parent)})))
        .await;
    nested.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(nested.error_fields(), ["parent_id"], "subtasks are one level deep");
    let listed = user.call(Method::GET, "/v1/tasks", None).await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "refused requests created nothing: {listed}");

    // A template without subtasks makes a subtask when a parent is named.
    let subtask = user.created("/v1/tasks", json!({"template_id": id(&single), "parent_id": id(&parent)})).await;
    assert_eq!(subtask["parent_id"], parent["id"]);
    assert_eq!(subtask["title"], "Call mum");
    assert_eq!(titles(&user.subtasks(&parent).await), ["Call mum"]);

    // More subtasks than the free tier allows per task (10): the tier's limit answers.
    let big: Vec<Value> = (0..11).map(|index| json!({"title": format!("step {index}")})).collect();
    let big = user.created("/v1/templates", json!({"name": "Big", "task": {"title": "Big"}, "subtasks": big})).await;
    let refused = user.call(Method::POST, "/v1/tasks", Some(json!({"template_id": id(&big)}))).await;
    refused.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(refused.body["limit"], "subtasks_per_task");
}

#[tokio::test]
async fn another_user_cannot_see_delete_or_use_a_template() {
    let stack = TestStack::new().await;
    let owner = Caller::new(&stack, "Wren").await;
    let other = Caller::new(&stack, "Xavi").await;
    let task = owner.created("/v1/tasks", json!({"title": "Secret plan"})).await;
    let template = owner.template("Secret").await;

    assert_eq!(other.templates("").await.body["items"], json!([]));
    other
        .call(Method::DELETE, &format!("/v1/templates/{}", id(&template)), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let used = other.call(Method::POST, "/v1/tasks", Some(json!({"template_id": id(&template)}))).await;
    used.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(used.error_fields(), ["template_id"]);
    let saved = other.call(Method::POST, "/v1/templates", Some(json!({"name": "Mine", "task_id": id(&task)}))).await;
    saved.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(saved.error_fields(), ["task_id"], "another user's task, like parent_id");

    let listed = owner.templates("").await.body;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "the owner's template is untouched: {listed}");
    assert_eq!(
        owner.call(Method::DELETE, &format!("/v1/templates/{}", id(&template)), None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn a_user_keeps_at_most_100_templates_and_deleting_one_frees_a_place() {
    let stack = TestStack::new().await;
    let user = Caller::new(&stack, "Yara").await;
    let first = user.template("first").await;
    // 98 more, as the counter sees them (creating them one by one is slow on the emulator).
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", AttributeValue::S(format!("USER#{}", user.user_id)))
        .key("SK", AttributeValue::S("TEMPLATE_COUNTS".into()))
        .update_expression("ADD templates :more")
        .expression_attribute_values(":more", AttributeValue::N("98".into()))
        .send()
        .await
        .unwrap();
    user.template("hundredth").await;
    assert_eq!(user.template_count().await, Some(100));
    let refused =
        user.call(Method::POST, "/v1/templates", Some(json!({"name": "one more", "task": {"title": "t"}}))).await;
    refused.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(refused.body["limit"], "templates");
    assert_eq!(user.templates("").await.body["items"].as_array().unwrap().len(), 2, "the refused one was not saved");

    let path = format!("/v1/templates/{}", id(&first));
    let stale = user.stack.call_with(Method::DELETE, &path, Some(&user.token), None, &[("if-match", "\"7\"")]).await;
    stale.assert_problem(StatusCode::PRECONDITION_FAILED, "version_conflict");
    assert_eq!(stale.body["current"]["id"], first["id"]);
    let deleted = user.stack.call_with(Method::DELETE, &path, Some(&user.token), None, &[("if-match", "\"1\"")]).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_eq!(user.template_count().await, Some(99));
    user.call(Method::DELETE, &path, None).await.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(user.template_count().await, Some(99), "deleting twice counts once");
    user.template("again").await;
    assert_eq!(user.template_count().await, Some(100));

    let remaining: Vec<String> = user.templates("").await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|template| template["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(remaining, ["again", "hundredth"]);
}

#[tokio::test]
async fn templates_come_newest_first_in_pages_of_one_query_each() {
    let stack = TestStack::without_rate_limits().await;
    let user = Caller::new(&stack, "Zed").await;
    let mut names = Vec::new();
    for index in 0..5 {
        names.push(user.template(&format!("t{index}")).await["name"].as_str().unwrap().to_string());
    }
    names.reverse();

    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    let mut pages = 0;
    loop {
        let before = stack.round_trips("api-tasks");
        let page = user.templates(&query).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(stack.round_trips("api-tasks") - before, 1, "one Query per page");
        pages += 1;
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|template| template["name"].as_str().unwrap().to_string()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, names);
    assert_eq!(pages, 3, "2 + 2 + 1, and no empty page at the end");
    let whole = user.templates("?limit=5").await.body;
    assert_eq!(whole["next_cursor"], Value::Null, "exactly a page: no cursor to an empty page");

    user.templates("?cursor=nonsense").await.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    let bad_limit = user.templates("?limit=0").await;
    bad_limit.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(bad_limit.error_fields(), ["limit"]);
}

#[tokio::test]
async fn template_routes_do_the_round_trips_the_data_model_states() {
    let stack = TestStack::without_rate_limits().await;
    let user = Caller::new(&stack, "Abe").await;
    let task = user.created("/v1/tasks", json!({"title": "parent"})).await;
    user.created(&format!("/v1/tasks/{}/subtasks", id(&task)), json!({"title": "child"})).await;
    let counted = |expected: StatusCode, response: TestResponse, before: u64| {
        assert_eq!(response.status, expected, "{}", response.body);
        stack.round_trips("api-tasks") - before
    };
    let before = stack.round_trips("api-tasks");
    let written = user.call(Method::POST, "/v1/templates", Some(json!({"name": "w", "task": {"title": "t"}}))).await;
    let save_written = counted(StatusCode::CREATED, written, before);
    let before = stack.round_trips("api-tasks");
    let saved = user.call(Method::POST, "/v1/templates", Some(json!({"name": "s", "task_id": id(&task)}))).await;
    let template = saved.body.clone();
    let save_task = counted(StatusCode::CREATED, saved, before);
    let before = stack.round_trips("api-tasks");
    let listed = user.templates("").await;
    let list = counted(StatusCode::OK, listed, before);
    let before = stack.round_trips("api-tasks");
    let used = user.call(Method::POST, "/v1/tasks", Some(json!({"template_id": id(&template)}))).await;
    let create_from = counted(StatusCode::CREATED, used, before);
    let before = stack.round_trips("api-tasks");
    let deleted = user.call(Method::DELETE, &format!("/v1/templates/{}", id(&template)), None).await;
    let delete = counted(StatusCode::NO_CONTENT, deleted, before);
    assert_eq!(
        json!({"save_written": save_written, "save_task": save_task, "list": list,
               "create_from_template": create_from, "delete": delete}),
        json!({"save_written": 2, "save_task": 4, "list": 1, "create_from_template": 2, "delete": 1}),
    );
}
