//! The api-ai binary, run as Lambda runs it, on every event of events/api-ai: a breakdown
//! started (202, credits reserved), the job read back, the day's usage, a chat message whose reply
//! starts a conversation, the conversations listed and read, a weekly review started, and a voice
//! capture with its presigned upload.

use flowday_tests::{TestStack, event, invoke};

const BINARY: &str = env!("CARGO_BIN_EXE_api-ai");

#[tokio::test]
async fn every_api_ai_event_is_answered_by_the_lambda_binary() {
    let (stack, _model) = TestStack::with_llm().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let task =
        stack.create_task(Some(token), serde_json::json!({"title": "Write the report", "estimate_minutes": 90})).await;
    let task_id = task.body["id"].as_str().unwrap();
    let lambda = stack.lambda(BINARY, "api-ai").await;
    let key = ulid::Ulid::new().to_string();
    let values = [("access_token", token), ("idempotency_key", key.as_str()), ("task_id", task_id)];

    let started = invoke(&lambda, event("api-ai", "start-breakdown", &values)).await;
    assert_eq!((started.status, started.body["status"].as_str()), (202, Some("queued")), "{}", started.body);
    let job_id = started.body["id"].as_str().unwrap();
    let read = invoke(&lambda, event("api-ai", "get-job", &[("access_token", token), ("job_id", job_id)])).await;
    assert_eq!((read.status, read.body["id"].as_str()), (200, Some(job_id)), "{}", read.body);
    let usage = invoke(&lambda, event("api-ai", "get-usage", &[("access_token", token)])).await;
    assert_eq!((usage.status, usage.body["days"].as_array().map(Vec::len)), (200, Some(0)), "{}", usage.body);
    assert_eq!(stack.ai_messages().await.len(), 1, "the job was queued");

    let key = ulid::Ulid::new().to_string();
    let values = [("access_token", token), ("idempotency_key", key.as_str())];
    let chat = invoke(&lambda, event("api-ai", "send-chat-message", &values)).await;
    assert_eq!((chat.status, chat.body["kind"].as_str()), (202, Some("chat")), "{}", chat.body);
    stack.run_ai_worker().await;
    let listed = invoke(&lambda, event("api-ai", "list-conversations", &[("access_token", token)])).await;
    let conversation_id = listed.body["items"][0]["id"].as_str().expect("a conversation").to_string();
    let values = [("access_token", token), ("conversation_id", conversation_id.as_str())];
    let read = invoke(&lambda, event("api-ai", "get-conversation", &values)).await;
    assert_eq!((read.status, read.body["messages"].as_array().map(Vec::len)), (200, Some(2)), "{}", read.body);
    let key = ulid::Ulid::new().to_string();
    let values = [("access_token", token), ("idempotency_key", key.as_str())];
    let insights = invoke(&lambda, event("api-ai", "start-insights", &values)).await;
    assert_eq!((insights.status, insights.body["kind"].as_str()), (202, Some("insights")), "{}", insights.body);
    stack.set_tier(user["user"]["id"].as_str().unwrap(), "pro").await;
    let key = ulid::Ulid::new().to_string();
    let values = [("access_token", token), ("idempotency_key", key.as_str())];
    let voice = invoke(&lambda, event("api-ai", "start-transcription", &values)).await;
    assert_eq!((voice.status, voice.body["job"]["credits"].as_u64()), (202, Some(1)), "{}", voice.body);
    assert!(voice.body["upload"]["url"].as_str().unwrap().contains("X-Amz-Signature="), "{}", voice.body);
    lambda.stop().await;
}
