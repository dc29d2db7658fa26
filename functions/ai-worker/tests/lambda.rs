//! The ai-worker binary, run as Lambda runs it, on events/ai-worker: a breakdown job run against
//! the fake model (its subtasks made, its credit kept), and a malformed record dropped.

use flowday_tests::{TestStack, event};
use http::Method;
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_ai-worker");

#[tokio::test]
async fn the_worker_binary_runs_a_breakdown_and_drops_a_malformed_record() {
    let (stack, model) = TestStack::with_llm().await;
    let user = stack.signup("Worker").await;
    let token = user["access_token"].as_str();
    let task = stack.create_task(token, json!({"title": "Plan the move", "estimate_minutes": 240})).await;
    let task_id = task.body["id"].as_str().unwrap().to_string();
    let body = Some(json!({"task_id": task_id}));
    let started = stack.call_with(Method::POST, "/v1/ai/breakdown", token, body, &[("idempotency-key", "w")]).await;
    let job_id = started.body["id"].as_str().unwrap().to_string();
    stack.ai_messages().await;
    model.reply_json(json!({"subtasks": [
        {"title": "Book the van", "estimate_minutes": 20},
        {"title": "Pack the books", "estimate_minutes": 90},
        {"title": "Clean the flat", "estimate_minutes": 120},
    ]}));

    let lambda = stack.lambda(BINARY, "ai-worker").await;
    let values = [("user_id", user["user"]["id"].as_str().unwrap()), ("job_id", job_id.as_str())];
    let answer: serde_json::Value = lambda.invoke(event("ai-worker", "batch", &values)).await.unwrap();
    lambda.stop().await;
    assert_eq!(answer["batchItemFailures"], json!([]), "a malformed record is dropped, not retried");
    let job = stack.call(Method::GET, &format!("/v1/ai/jobs/{job_id}"), token, None).await;
    assert_eq!(job.body["status"], "succeeded", "{}", job.body);
    let subtasks = stack.call(Method::GET, &format!("/v1/tasks/{task_id}/subtasks"), token, None).await;
    assert_eq!(subtasks.body["items"].as_array().unwrap().len(), 3);
}
