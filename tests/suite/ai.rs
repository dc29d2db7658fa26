//! AI jobs end to end: api-ai starts them (credits reserved with the job, the hourly budget
//! counted, an Idempotency-Key required), ai-worker runs them against a fake model speaking
//! OpenAI's wire format, and the credits settle once whatever is delivered twice, crashes, or
//! breaks the rules. Narration of plans goes the same way, and an invented fact is discarded.

use flowday_local::llm_fakes::FakeOpenAi;
use flowday_local::transcription_fakes::FakeWhisper;
use flowday_tests::{TestResponse, TestStack};
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Caller {
    token: String,
    user_id: String,
}

async fn caller(stack: &TestStack) -> Caller {
    let user = stack.signup("Thinker").await;
    Caller {
        token: user["access_token"].as_str().unwrap().to_string(),
        user_id: user["user"]["id"].as_str().unwrap().to_string(),
    }
}

async fn task(stack: &TestStack, caller: &Caller, title: &str, estimate: u32) -> String {
    let body = json!({"title": title, "estimate_minutes": estimate, "priority": "high"});
    let created = stack.create_task(Some(&caller.token), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"].as_str().unwrap().to_string()
}

async fn breakdown(stack: &TestStack, caller: &Caller, task_id: &str, key: &str) -> TestResponse {
    let body = Some(json!({ "task_id": task_id }));
    stack.call_with(Method::POST, "/v1/ai/breakdown", Some(&caller.token), body, &[("idempotency-key", key)]).await
}

async fn job(stack: &TestStack, caller: &Caller, job_id: &str) -> Value {
    let read = stack.call(Method::GET, &format!("/v1/ai/jobs/{job_id}"), Some(&caller.token), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    read.body
}

async fn subtask_titles(stack: &TestStack, caller: &Caller, task_id: &str) -> Vec<String> {
    let path = format!("/v1/tasks/{task_id}/subtasks");
    let listed = stack.call(Method::GET, &path, Some(&caller.token), None).await;
    let items = listed.body["items"].as_array().unwrap();
    items.iter().map(|item| item["title"].as_str().unwrap().to_string()).collect()
}

async fn credits_total(stack: &TestStack, caller: &Caller) -> u64 {
    let credits = stack.call(Method::GET, "/v1/credits", Some(&caller.token), None).await;
    credits.body["total"].as_u64().unwrap()
}

/// The ledger's entries of `kind` (reserve, commit, refund).
async fn ledger(stack: &TestStack, caller: &Caller, kind: &str) -> usize {
    let history = stack.call(Method::GET, "/v1/credits/history", Some(&caller.token), None).await;
    history.body["items"].as_array().unwrap().iter().filter(|entry| entry["kind"] == kind).count()
}

fn steps() -> Value {
    json!({"subtasks": [
        {"title": "Collect the figures", "estimate_minutes": 30},
        {"title": "Draft the summary", "estimate_minutes": 45},
        {"title": "Make the charts", "estimate_minutes": 30},
        {"title": "Send it for review", "estimate_minutes": 10},
    ]})
}

#[tokio::test]
async fn without_a_model_ai_routes_answer_503_naming_the_settings_and_planning_still_works() {
    let stack = TestStack::new().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Write the report", 90).await;
    let refused = breakdown(&stack, &caller, &task_id, "k1").await;
    refused.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "ai_unavailable");
    assert!(refused.body["detail"].as_str().unwrap().contains("LLM_PROVIDER"), "{}", refused.body);
    assert!(stack.ai_messages().await.is_empty());
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let plan = stack.call(Method::POST, "/v1/plans", Some(&caller.token), Some(json!({"date": tomorrow}))).await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);
}

#[tokio::test]
async fn a_breakdown_creates_its_subtasks_once_charges_once_and_tells_the_user() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Write the quarterly report", 180).await;
    let before = credits_total(&stack, &caller).await;
    model.reply_json(steps());

    let started = breakdown(&stack, &caller, &task_id, "b-1").await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    let job_id = started.body["id"].as_str().unwrap().to_string();
    assert_eq!(started.header("location"), Some(format!("/v1/ai/jobs/{job_id}").as_str()));
    assert_eq!((started.body["status"].as_str(), started.body["kind"].as_str()), (Some("queued"), Some("breakdown")));
    assert_eq!(credits_total(&stack, &caller).await, before - 1, "reserved at creation");

    let messages = stack.ai_messages().await;
    assert_eq!(messages.len(), 1);
    assert!(stack.run_ai_worker_on(&messages, 1).await.is_empty());
    let done = job(&stack, &caller, &job_id).await;
    assert_eq!((done["status"].as_str(), done["progress"].as_u64()), (Some("succeeded"), Some(100)), "{done}");
    assert_eq!(done["result"]["subtasks"].as_array().unwrap().len(), 4);
    let titles = subtask_titles(&stack, &caller, &task_id).await;
    assert_eq!(titles, ["Collect the figures", "Draft the summary", "Make the charts", "Send it for review"]);

    // The same message again (SQS delivers at least once): nothing more is made or charged.
    assert!(stack.run_ai_worker_on(&messages, 2).await.is_empty());
    assert_eq!(subtask_titles(&stack, &caller, &task_id).await.len(), 4);
    assert_eq!(model.calls().len(), 1);
    assert_eq!((ledger(&stack, &caller, "reserve").await, ledger(&stack, &caller, "commit").await), (1, 1));
    assert_eq!(credits_total(&stack, &caller).await, before - 1);

    let usage = stack.call(Method::GET, "/v1/ai/usage?days=7", Some(&caller.token), None).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!((usage.body["total"]["requests"].as_u64(), usage.body["total"]["credits"].as_u64()), (Some(1), Some(1)));
    assert!(usage.body["total"]["input_tokens"].as_u64().unwrap() > 0, "{}", usage.body);
    let notices = stack.drain_queue("NotificationsQueue").await;
    let ai_notices: Vec<&Value> =
        notices.iter().filter(|message| message["notification"]["kind"] == "ai_job").collect();
    assert_eq!(ai_notices.len(), 1, "{notices:?}");
}

#[tokio::test]
async fn the_idempotency_key_is_required_and_a_retried_request_starts_one_job() {
    let (stack, _model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Plan the offsite", 120).await;
    let body = Some(json!({ "task_id": task_id }));
    let keyless = stack.call(Method::POST, "/v1/ai/breakdown", Some(&caller.token), body).await;
    keyless.assert_problem(StatusCode::BAD_REQUEST, "idempotency_key_required");

    let first = breakdown(&stack, &caller, &task_id, "same-key").await;
    let again = breakdown(&stack, &caller, &task_id, "same-key").await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(stack.ai_messages().await.len(), 1, "one job queued");
    assert_eq!(ledger(&stack, &caller, "reserve").await, 1, "one charge");
}

#[tokio::test]
async fn a_worker_that_crashed_mid_job_resumes_without_making_anything_twice() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Move flats", 480).await;
    model.reply_json(steps());
    let started = breakdown(&stack, &caller, &task_id, "crash").await;
    let job_id = started.body["id"].as_str().unwrap().to_string();
    let messages = stack.ai_messages().await;
    stack.run_ai_worker_on(&messages, 1).await;

    // As if the worker died after creating the subtasks, before it marked the job: running again.
    let store = stack.store("api-ai");
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", caller.user_id)))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(format!("AI_JOB#{job_id}")))
        .update_expression("SET #status = :running, progress = :ten REMOVE #result")
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#result", "result")
        .expression_attribute_values(":running", aws_sdk_dynamodb::types::AttributeValue::S("running".into()))
        .expression_attribute_values(":ten", aws_sdk_dynamodb::types::AttributeValue::N("10".into()))
        .send()
        .await
        .unwrap();
    assert!(store.ai().get(&caller.user_id, &job_id).await.unwrap().is_some());
    assert!(stack.run_ai_worker_on(&messages, 2).await.is_empty());

    let done = job(&stack, &caller, &job_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"]["subtasks"].as_array().unwrap().len(), 4, "{done}");
    assert_eq!(subtask_titles(&stack, &caller, &task_id).await.len(), 4);
    assert_eq!(model.calls().len(), 1, "the model was not asked again");
    assert_eq!(ledger(&stack, &caller, "commit").await, 1);
}

#[tokio::test]
async fn an_answer_that_breaks_the_rules_is_asked_again_then_the_job_fails_and_refunds() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Renew the passport", 60).await;
    let before = credits_total(&stack, &caller).await;
    let twice = json!({"subtasks": [
        {"title": "Book a photo", "estimate_minutes": 20},
        {"title": "book a  PHOTO", "estimate_minutes": 20},
        {"title": "Fill the form", "estimate_minutes": 20},
    ]});
    model.reply_json(twice.clone());
    model.reply_json(twice);
    let started = breakdown(&stack, &caller, &task_id, "dup").await;
    stack.run_ai_worker().await;

    let failed = job(&stack, &caller, started.body["id"].as_str().unwrap()).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("invalid_answer")));
    let second_ask = model.requests()[1]["messages"].to_string();
    assert!(second_ask.contains("repeats an earlier step"), "the rules broken were told: {second_ask}");
    assert!(subtask_titles(&stack, &caller, &task_id).await.is_empty());
    assert_eq!(credits_total(&stack, &caller).await, before, "refunded");
    assert_eq!(ledger(&stack, &caller, "refund").await, 1);

    // Not JSON at all, twice: the same end.
    model.reply_raw(200, r#"{"id":"x","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Sure! Here are steps:"},"finish_reason":"stop"}]}"#);
    model.reply_raw(200, r#"{"id":"y","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"{not json"},"finish_reason":"stop"}]}"#);
    let started = breakdown(&stack, &caller, &task_id, "garbage").await;
    stack.run_ai_worker().await;
    let failed = job(&stack, &caller, started.body["id"].as_str().unwrap()).await;
    assert_eq!(failed["error"]["code"], "invalid_answer", "{failed}");
    assert_eq!(credits_total(&stack, &caller).await, before);
}

#[tokio::test]
async fn throttling_then_success_finishes_and_an_outage_fails_only_on_the_last_receive() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Prepare the talk", 240).await;
    model.throttle_next(None);
    model.reply_json(steps());
    let started = breakdown(&stack, &caller, &task_id, "throttled").await;
    stack.run_ai_worker().await;
    assert_eq!(job(&stack, &caller, started.body["id"].as_str().unwrap()).await["status"], "succeeded");

    let other = task(&stack, &caller, "Clean the garage", 240).await;
    let before = credits_total(&stack, &caller).await;
    for _ in 0..6 {
        model.fail_next(503);
    }
    let started = breakdown(&stack, &caller, &other, "outage").await;
    let job_id = started.body["id"].as_str().unwrap().to_string();
    let messages = stack.ai_messages().await;
    assert_eq!(stack.run_ai_worker_on(&messages, 1).await.len(), 1, "handed back to the queue");
    let waiting = job(&stack, &caller, &job_id).await;
    assert_eq!(waiting["status"], "running");
    assert_eq!(credits_total(&stack, &caller).await, before - 1, "still reserved");
    assert!(stack.run_ai_worker_on(&messages, worker_last_receive()).await.is_empty());
    let failed = job(&stack, &caller, &job_id).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("ai_unavailable")));
    assert_eq!(credits_total(&stack, &caller).await, before, "refunded");
}

#[tokio::test]
async fn a_job_handed_back_for_an_unavailable_model_comes_back_in_seconds_not_the_queues_half_hour() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Plan the offsite", 240).await;
    for _ in 0..3 {
        model.fail_next(503);
    }
    breakdown(&stack, &caller, &task_id, "soon").await;
    assert_eq!(stack.run_ai_worker_on_one_received().await.len(), 1, "handed back");
    let back = stack.seconds_until_an_ai_message(std::time::Duration::from_secs(45)).await;
    let first_backoff = f64::from(ai_worker::backoff_seconds(1));
    assert!(
        back.is_some_and(|seconds| seconds >= first_backoff - 5.0),
        "received again after about {first_backoff} s, not at once and not after 30 minutes: {back:?}"
    );
}

fn worker_last_receive() -> u32 {
    ai_worker::LAST_RECEIVE
}

#[tokio::test]
async fn an_identical_request_the_same_day_reuses_the_result_at_no_cost_until_the_task_changes() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Write the grant", 300).await;
    model.reply_json(steps());
    let first = breakdown(&stack, &caller, &task_id, "first").await;
    stack.run_ai_worker().await;
    let first = job(&stack, &caller, first.body["id"].as_str().unwrap()).await;
    let balance = credits_total(&stack, &caller).await;

    let reused = breakdown(&stack, &caller, &task_id, "second").await;
    assert_eq!(reused.status, StatusCode::ACCEPTED, "{}", reused.body);
    assert_eq!((reused.body["status"].as_str(), reused.body["credits"].as_u64()), (Some("succeeded"), Some(0)));
    assert_eq!(reused.body["result"], first["result"]);
    assert!(stack.ai_messages().await.is_empty(), "no job queued");
    assert_eq!((model.calls().len(), credits_total(&stack, &caller).await), (1, balance));

    let path = format!("/v1/tasks/{task_id}");
    let changed =
        stack.call(Method::PATCH, &path, Some(&caller.token), Some(json!({"title": "Write the big grant"}))).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let fresh = breakdown(&stack, &caller, &task_id, "third").await;
    assert_eq!((fresh.body["status"].as_str(), fresh.body["credits"].as_u64()), (Some("queued"), Some(1)));
}

#[tokio::test]
async fn without_credits_402_carries_the_balance_and_no_job_is_written() {
    let (stack, _model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Learn Rust", 600).await;
    let today = shared::domain::credits::today(chrono::Utc::now(), "Europe/Berlin").to_string();
    let zero = aws_sdk_dynamodb::types::AttributeValue::N("0".into());
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", caller.user_id)))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("CREDITS".into()))
        .update_expression(
            "SET daily = :zero, subscription = :zero, purchased = :zero, kickstart = :zero, daily_day = :today",
        )
        .expression_attribute_values(":zero", zero)
        .expression_attribute_values(":today", aws_sdk_dynamodb::types::AttributeValue::S(today))
        .send()
        .await
        .unwrap();
    let refused = breakdown(&stack, &caller, &task_id, "broke").await;
    refused.assert_problem(StatusCode::PAYMENT_REQUIRED, "insufficient_credits");
    assert!(refused.body["balance"].is_object(), "{}", refused.body);
    assert!(stack.ai_messages().await.is_empty());
    assert_eq!(ledger(&stack, &caller, "reserve").await, 0);
}

#[tokio::test]
async fn the_hourly_ai_budget_of_the_tier_answers_429_with_retry_after() {
    let (stack, _model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let per_hour = shared::domain::plan::limits(shared::domain::account::Tier::Free).ai_requests_per_hour;
    let mut titles = Vec::new();
    for index in 0..per_hour {
        titles.push(task(&stack, &caller, &format!("Task number {index}"), 60).await);
    }
    for (index, task_id) in titles.iter().enumerate() {
        let answer = breakdown(&stack, &caller, task_id, &format!("k{index}")).await;
        assert!(
            answer.status == StatusCode::ACCEPTED || answer.status == StatusCode::PAYMENT_REQUIRED,
            "{}",
            answer.body
        );
    }
    let over = breakdown(&stack, &caller, &titles[0], "one-too-many").await;
    over.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
}

#[tokio::test]
async fn another_users_task_and_job_are_not_found() {
    let (stack, model) = TestStack::with_llm().await;
    let owner = caller(&stack).await;
    let intruder = caller(&stack).await;
    let task_id = task(&stack, &owner, "Secret project", 120).await;
    let refused = breakdown(&stack, &intruder, &task_id, "steal").await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.error_fields(), ["task_id"]);
    model.reply_json(steps());
    let started = breakdown(&stack, &owner, &task_id, "mine").await;
    let path = format!("/v1/ai/jobs/{}", started.body["id"].as_str().unwrap());
    stack
        .call(Method::GET, &path, Some(&intruder.token), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let subtask = stack.create_task(Some(&owner.token), json!({"title": "Step", "parent_id": task_id})).await;
    let nested = breakdown(&stack, &owner, subtask.body["id"].as_str().unwrap(), "nested").await;
    nested.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

// ---------------------------------------------------------------------------------------------
// Narration

/// A plan for tomorrow with narration asked for: the plan and the job's id.
async fn narrated_plan(stack: &TestStack, caller: &Caller) -> (Value, String) {
    task(stack, caller, "Write the report", 60).await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let plan = stack
        .call_with(
            Method::POST,
            "/v1/plans?narrate=true",
            Some(&caller.token),
            Some(json!({"date": tomorrow})),
            &[("idempotency-key", "narrate")],
        )
        .await;
    assert_eq!(plan.status, StatusCode::CREATED, "{}", plan.body);
    let job_id = plan.body["narration_job"]["id"].as_str().expect("a narration job").to_string();
    (plan.body, job_id)
}

fn local_time(at: &str, zone: &str) -> String {
    let at: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
    at.with_timezone(&zone.parse::<chrono_tz::Tz>().unwrap()).format("%H:%M").to_string()
}

#[tokio::test]
async fn a_narration_that_only_explains_is_kept_on_the_plan() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let (plan, job_id) = narrated_plan(&stack, &caller).await;
    let block = &plan["blocks"][0];
    let zone = plan["timezone"].as_str().unwrap();
    let start = local_time(block["start_at"].as_str().unwrap(), zone);
    let text = format!("One focus block: \"Write the report\" at {start}, while your mind is fresh.");
    model.reply_text(text.clone());
    stack.run_ai_worker().await;
    assert_eq!(job(&stack, &caller, &job_id).await["status"], "succeeded");
    let path = format!("/v1/plans/{}", plan["date"].as_str().unwrap());
    let read = stack.call(Method::GET, &path, Some(&caller.token), None).await;
    assert_eq!(read.body["narration"], text.as_str());
    assert_eq!(read.body["version"], plan["version"], "narrating does not move the plan's version");
}

#[tokio::test]
async fn a_narration_that_invents_a_block_is_discarded_and_refunded() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    task(&stack, &caller, "Call the landlord", 30).await;
    let before = credits_total(&stack, &caller).await;
    let (plan, job_id) = narrated_plan(&stack, &caller).await;
    model.reply_text("Three blocks today, starting at 05:55 with yoga. Call the landlord afterwards.");
    stack.run_ai_worker().await;
    let failed = job(&stack, &caller, &job_id).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("narration_rejected"))
    );
    let path = format!("/v1/plans/{}", plan["date"].as_str().unwrap());
    let read = stack.call(Method::GET, &path, Some(&caller.token), None).await;
    assert_eq!((read.body["narration"].clone(), read.body["status"].as_str()), (Value::Null, Some("proposed")));
    assert_eq!(credits_total(&stack, &caller).await, before, "refunded");
}

#[tokio::test]
async fn the_model_key_never_reaches_a_job_or_an_answer() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let task_id = task(&stack, &caller, "Audit the keys", 60).await;
    model.fail_next(401);
    let started = breakdown(&stack, &caller, &task_id, "refused").await;
    stack.run_ai_worker().await;
    let failed = job(&stack, &caller, started.body["id"].as_str().unwrap()).await;
    assert_eq!(failed["error"]["code"], "model_refused");
    assert!(!failed.to_string().contains(FakeOpenAi::API_KEY));
    assert_eq!(model.calls().len(), 1, "a refusal is not retried");
}

// ---------------------------------------------------------------------------------------------
// Chat

async fn chat(stack: &TestStack, caller: &Caller, body: Value, key: &str) -> TestResponse {
    stack.call_with(Method::POST, "/v1/ai/chat", Some(&caller.token), Some(body), &[("idempotency-key", key)]).await
}

#[tokio::test]
async fn a_conversation_keeps_its_history_and_the_model_sees_the_tasks_once_per_job() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    task(&stack, &caller, "Write the report", 60).await;
    model.reply_text("Start with the report while you are fresh.");
    let first = chat(&stack, &caller, json!({"message": "What should I do first?"}), "c1").await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    let messages = stack.ai_messages().await;
    stack.run_ai_worker_on(&messages, 1).await;
    let done = job(&stack, &caller, first.body["id"].as_str().unwrap()).await;
    assert_eq!(done["result"]["reply"], "Start with the report while you are fresh.", "{done}");
    let conversation_id = done["result"]["conversation_id"].as_str().unwrap().to_string();
    assert!(model.requests()[0].to_string().contains("Write the report"), "the open tasks are the context");

    // Delivered again: the exchange is not added twice.
    stack.run_ai_worker_on(&messages, 2).await;
    model.reply_text("Then answer the email.");
    let body = json!({"message": "And then?", "conversation_id": conversation_id});
    chat(&stack, &caller, body, "c2").await;
    stack.run_ai_worker().await;
    let sent = model.requests()[1]["messages"].clone();
    let texts: Vec<&str> = sent.as_array().unwrap().iter().filter_map(|message| message["content"].as_str()).collect();
    assert_eq!(texts[1..], ["What should I do first?", "Start with the report while you are fresh.", "And then?"]);

    let path = format!("/v1/ai/conversations/{conversation_id}");
    let read = stack.call(Method::GET, &path, Some(&caller.token), None).await;
    let roles: Vec<&str> =
        read.body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"], "{}", read.body);
    let listed = stack.call(Method::GET, "/v1/ai/conversations", Some(&caller.token), None).await;
    assert_eq!(listed.body["items"][0]["title"], "What should I do first?", "{}", listed.body);
    assert_eq!(ledger(&stack, &caller, "commit").await, 2);

    let intruder = self::caller(&stack).await;
    stack
        .call(Method::GET, &path, Some(&intruder.token), None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let theirs = json!({"message": "Hi", "conversation_id": conversation_id});
    let refused = chat(&stack, &intruder, theirs, "c3").await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.error_fields(), ["conversation_id"]);
    let empty = chat(&stack, &caller, json!({"message": "   "}), "c4").await;
    assert_eq!(empty.error_fields(), ["message"]);
}

#[tokio::test]
async fn the_history_sent_is_capped_by_the_tiers_context_budget() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let long = |tag: &str| format!("{tag} {}", "word ".repeat(700));
    let mut conversation_id: Option<String> = None;
    for round in 0..4 {
        model.reply_text(format!("Reply {round}"));
        let mut body = json!({"message": long(&format!("Question {round}"))});
        if let Some(id) = &conversation_id {
            body["conversation_id"] = json!(id);
        }
        let started = chat(&stack, &caller, body, &format!("long-{round}")).await;
        assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
        stack.run_ai_worker().await;
        let done = job(&stack, &caller, started.body["id"].as_str().unwrap()).await;
        assert_eq!(done["status"], "succeeded", "{done}");
        conversation_id = done["result"]["conversation_id"].as_str().map(str::to_string);
    }
    let last = model.requests()[3]["messages"].to_string();
    assert!(last.contains("Question 3") && last.contains("Question 2"), "the newest history is kept");
    assert!(!last.contains("Question 0"), "the oldest history is left out on the free tier");
}

#[tokio::test]
async fn the_tasks_given_as_context_are_capped_by_the_tiers_budget_too() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    for n in 0..30 {
        let title = format!("Task {n:02} {}", "long words ".repeat(44));
        let created =
            stack.call(Method::POST, "/v1/tasks", Some(&caller.token), Some(json!({"title": title.trim()}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    model.reply_text("Start with the first.");
    let started = chat(&stack, &caller, json!({"message": "What first?"}), "many").await;
    stack.run_ai_worker().await;
    assert_eq!(job(&stack, &caller, started.body["id"].as_str().unwrap()).await["status"], "succeeded");
    let sent = model.requests()[0]["messages"].to_string();
    let tokens = shared::integrations::llm::estimate_tokens(&sent);
    let budget = shared::domain::ai::chat_context_tokens(shared::domain::account::Tier::Free);
    assert!(tokens <= budget, "{tokens} tokens sent; the free tier's budget is {budget}");
    assert!(sent.contains("Task 00") && sent.contains("more"), "the soonest tasks, then how many were left out");
}

// ---------------------------------------------------------------------------------------------
// Insights

async fn insights(stack: &TestStack, caller: &Caller, key: &str) -> TestResponse {
    stack.call_with(Method::POST, "/v1/ai/insights", Some(&caller.token), None, &[("idempotency-key", key)]).await
}

#[tokio::test]
async fn the_weekly_review_states_only_figures_we_computed() {
    let (stack, model) = TestStack::with_llm().await;
    let caller = caller(&stack).await;
    let now = chrono::Utc::now();
    let at = |hours: i64| flowday_tests::instant(now + chrono::Duration::hours(hours));
    let on_time = stack.create_task(Some(&caller.token), json!({"title": "Pay rent", "due_at": at(24)})).await;
    let late = stack.create_task(Some(&caller.token), json!({"title": "File taxes", "due_at": at(-1)})).await;
    stack.create_task(Some(&caller.token), json!({"title": "Call mum", "due_at": at(-2)})).await;
    for done in [&on_time, &late] {
        let path = format!("/v1/tasks/{}/complete", done.body["id"].as_str().unwrap());
        let completed = stack.call(Method::POST, &path, Some(&caller.token), None).await;
        assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    }
    model.reply_text("You finished 2 tasks, 1 of them on time (50%). 1 task is overdue now.");
    let started = insights(&stack, &caller, "week-1").await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["credits"], 2);
    stack.run_ai_worker().await;
    let done = job(&stack, &caller, started.body["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let figures = &done["result"]["figures"];
    assert_eq!(
        (figures["tasks_completed"].as_u64(), figures["completed_on_time"].as_u64(), figures["overdue_now"].as_u64()),
        (Some(2), Some(1), Some(1)),
        "{figures}"
    );
    assert!(model.requests()[0].to_string().contains("\\\"tasks_completed\\\":2"), "the figures are passed in");

    let before = credits_total(&stack, &caller).await;
    model.reply_text("You finished 5 tasks!");
    model.reply_text("You finished 9 tasks!");
    let started = insights(&stack, &caller, "week-2").await;
    stack.run_ai_worker().await;
    let failed = job(&stack, &caller, started.body["id"].as_str().unwrap()).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("invalid_answer")));
    assert!(model.requests()[2].to_string().contains("not in my figures: 5"), "the made-up number was named");
    assert_eq!(credits_total(&stack, &caller).await, before, "refunded");
}

// ---------------------------------------------------------------------------------------------
// Voice capture

async fn voice_stack() -> (TestStack, FakeOpenAi, FakeWhisper) {
    let whisper = FakeWhisper::start_keyless().await;
    let more = std::collections::HashMap::from([
        ("TranscriptionProvider".to_string(), "openai".to_string()),
        ("TranscriptionBaseUrl".to_string(), format!("{}/v1", whisper.uri())),
    ]);
    let (stack, model) = TestStack::with_llm_and(more).await;
    (stack, model, whisper)
}

async fn voice(stack: &TestStack, caller: &Caller, body: Value, key: &str) -> TestResponse {
    let path = "/v1/ai/transcriptions";
    stack.call_with(Method::POST, path, Some(&caller.token), Some(body), &[("idempotency-key", key)]).await
}

fn note(seconds: u32, size: usize) -> Value {
    json!({"content_type": "audio/mp4", "size_bytes": size, "duration_seconds": seconds, "language": "en-US"})
}

/// PUTs `bytes` with the upload an answer gave.
async fn upload(answer: &Value, bytes: Vec<u8>) {
    let upload = &answer["upload"];
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap()).body(bytes);
    for (name, value) in upload["headers"].as_object().unwrap() {
        request = request.header(name.as_str(), value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
}

#[tokio::test]
async fn voice_capture_is_for_pro_and_checks_the_audio_it_is_promised() {
    let (stack, _model, _whisper) = voice_stack().await;
    let caller = caller(&stack).await;
    voice(&stack, &caller, note(30, 1000), "free").await.assert_problem(StatusCode::FORBIDDEN, "plan_required");
    stack.set_tier(&caller.user_id, "pro").await;
    let bad = json!({"content_type": "video/mp4", "size_bytes": 0, "duration_seconds": 601, "language": "en US"});
    let refused = voice(&stack, &caller, bad, "bad").await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.error_fields(), ["content_type", "size_bytes", "duration_seconds", "language"]);
    assert!(stack.ai_messages().await.is_empty());
}

#[tokio::test]
async fn a_voice_note_becomes_one_task_in_the_users_zone_and_its_audio_is_deleted() {
    let (stack, model, whisper) = voice_stack().await;
    let caller = caller(&stack).await;
    stack.set_tier(&caller.user_id, "pro").await;
    let before = credits_total(&stack, &caller).await;
    let audio = vec![7u8; 4096];
    let started = voice(&stack, &caller, note(61, audio.len()), "note").await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["job"]["credits"], 2, "one credit per started minute");
    assert_eq!(started.body["upload"]["headers"]["x-amz-tagging"], "kind=voice-note", "the lifecycle rule's tag");
    assert_eq!(credits_total(&stack, &caller).await, before - 2);
    let job_id = started.body["job"]["id"].as_str().unwrap().to_string();
    let messages = stack.ai_messages().await;

    // Before the upload the job waits (its message comes back later) and nothing is asked.
    assert!(stack.run_ai_worker_on(&messages, 1).await.is_empty());
    assert_eq!(job(&stack, &caller, &job_id).await["status"], "queued");
    assert!(whisper.calls().is_empty());

    upload(&started.body, audio.clone()).await;
    whisper.reply_text("Call the dentist tomorrow at half past nine, it's urgent.");
    let tomorrow = (chrono::Utc::now().with_timezone(&chrono_tz::Europe::Berlin).date_naive()
        + chrono::Duration::days(1))
    .to_string();
    model.reply_json(
        json!({"title": "Call the dentist", "due_date": tomorrow, "due_time": "09:30", "priority": "urgent"}),
    );
    assert!(stack.run_ai_worker_on(&messages, 2).await.is_empty());
    let done = job(&stack, &caller, &job_id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let task_id = done["result"]["task"]["id"].as_str().unwrap();
    let task = stack.call(Method::GET, &format!("/v1/tasks/{task_id}"), Some(&caller.token), None).await;
    assert_eq!(
        (task.body["title"].as_str(), task.body["priority"].as_str()),
        (Some("Call the dentist"), Some("urgent"))
    );
    let due: chrono::DateTime<chrono::Utc> = task.body["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        due.with_timezone(&chrono_tz::Europe::Berlin).format("%Y-%m-%d %H:%M").to_string(),
        format!("{tomorrow} 09:30")
    );
    assert_eq!(whisper.calls().len(), 1);
    let key = format!("users/{}/audio/{job_id}.m4a", caller.user_id);
    let files =
        shared::integrations::files::Files::from_env(&stack.stack.env("ai-worker").unwrap(), &stack.stack.sdk).unwrap();
    assert!(!files.exists(&key).await.unwrap(), "the audio is deleted once transcribed");

    // Delivered again: no second task, no second charge.
    assert!(stack.run_ai_worker_on(&messages, 3).await.is_empty());
    let listed = stack.call(Method::GET, "/v1/tasks", Some(&caller.token), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(ledger(&stack, &caller, "commit").await, 1);
}

#[tokio::test]
async fn a_voice_note_never_uploaded_fails_and_returns_its_credits() {
    let (stack, _model, whisper) = voice_stack().await;
    let caller = caller(&stack).await;
    stack.set_tier(&caller.user_id, "pro").await;
    let before = credits_total(&stack, &caller).await;
    let started = voice(&stack, &caller, note(200, 1000), "never").await;
    let job_id = started.body["job"]["id"].as_str().unwrap().to_string();
    let messages = stack.ai_messages().await;
    let long_ago = (chrono::Utc::now() - chrono::Duration::minutes(20)).to_rfc3339();
    stack
        .dynamo()
        .update_item()
        .table_name(stack.table())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{}", caller.user_id)))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(format!("AI_JOB#{job_id}")))
        .update_expression("SET created_at = :then")
        .expression_attribute_values(":then", aws_sdk_dynamodb::types::AttributeValue::S(long_ago))
        .send()
        .await
        .unwrap();
    assert!(stack.run_ai_worker_on(&messages, 1).await.is_empty());
    let failed = job(&stack, &caller, &job_id).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("upload_missing")));
    assert_eq!(credits_total(&stack, &caller).await, before, "refunded");
    assert!(whisper.calls().is_empty());
}

#[tokio::test]
async fn a_voice_note_heard_before_the_model_was_down_is_not_lost_when_its_job_comes_back() {
    let (stack, model, whisper) = voice_stack().await;
    let caller = caller(&stack).await;
    stack.set_tier(&caller.user_id, "pro").await;
    let audio = vec![5u8; 2048];
    let started = voice(&stack, &caller, note(20, audio.len()), "outage").await;
    let job_id = started.body["job"]["id"].as_str().unwrap().to_string();
    let messages = stack.ai_messages().await;
    upload(&started.body, audio).await;
    whisper.reply_text("Water the plants on Sunday.");
    // Every attempt of one run (the client tries 3 times).
    for _ in 0..3 {
        model.fail_next(503);
    }
    assert_eq!(stack.run_ai_worker_on(&messages, 1).await.len(), 1, "the model is down: handed back to the queue");
    let key = format!("users/{}/audio/{job_id}.m4a", caller.user_id);
    let files =
        shared::integrations::files::Files::from_env(&stack.stack.env("ai-worker").unwrap(), &stack.stack.sdk).unwrap();
    assert!(!files.exists(&key).await.unwrap(), "the audio is deleted once transcribed, outage or not");

    model.reply_json(json!({"title": "Water the plants", "due_date": "", "due_time": "", "priority": "low"}));
    assert!(stack.run_ai_worker_on(&messages, 2).await.is_empty());
    let done = job(&stack, &caller, &job_id).await;
    assert_eq!(done["status"], "succeeded", "the kept transcript made the task, not `upload_missing`: {done}");
    assert_eq!(done["result"]["transcript"], "Water the plants on Sunday.");
    assert_eq!(done["result"]["task"]["title"], "Water the plants");
    assert_eq!(whisper.calls().len(), 1, "heard once");
}

#[tokio::test]
async fn audio_longer_than_the_minutes_paid_for_makes_no_task_and_is_deleted() {
    let (stack, _model, whisper) = voice_stack().await;
    let caller = caller(&stack).await;
    stack.set_tier(&caller.user_id, "pro").await;
    let before = credits_total(&stack, &caller).await;
    let audio = vec![6u8; 2048];
    // One credit declared (5 seconds); the upload holds seven minutes of speech.
    let started = voice(&stack, &caller, note(5, audio.len()), "longer").await;
    assert_eq!(started.body["job"]["credits"], 1);
    let job_id = started.body["job"]["id"].as_str().unwrap().to_string();
    upload(&started.body, audio).await;
    let verbose = json!({"task": "transcribe", "language": "english", "duration": 420.0, "text": "A long story."});
    whisper.reply_raw(200, verbose.to_string());
    assert!(stack.run_ai_worker().await.len() == 1);
    let failed = job(&stack, &caller, &job_id).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("audio_longer_than_declared")),
        "{failed}"
    );
    assert!(failed["result"].is_null(), "no transcript handed out: {failed}");
    let listed = stack.call(Method::GET, "/v1/tasks", Some(&caller.token), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
    assert_eq!(credits_total(&stack, &caller).await, before, "refunded, as every failed job is");
    let key = format!("users/{}/audio/{job_id}.m4a", caller.user_id);
    let files =
        shared::integrations::files::Files::from_env(&stack.stack.env("ai-worker").unwrap(), &stack.stack.sdk).unwrap();
    assert!(!files.exists(&key).await.unwrap());
}
