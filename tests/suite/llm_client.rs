//! The LLM clients (`integrations::llm`: OpenAI-compatible and Bedrock Converse) against the local
//! fakes that speak their wire formats (`flowday_local::llm_fakes`): happy paths (and where the
//! schema lands on the wire), malformed answers, throttling with Retry-After, outages, timeouts,
//! refusals without retries and without the key, SigV4 signing, the token budget, and usage.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use aws_credential_types::Credentials;
use aws_credential_types::credential_fn::provide_credentials_fn;
use aws_credential_types::provider::SharedCredentialsProvider;
use flowday_local::llm_fakes::{FakeBedrock, FakeLlm, FakeOpenAi, Wire};
use shared::integrations::llm::{
    BedrockConfig, BedrockConverse, JsonRequest, LanguageModel, LlmError, Message, OpenAiCompatible, TextRequest, Usage,
};

// ---------------------------------------------------------------------------------------------
// Set-up

fn http() -> reqwest::Client {
    shared::integrations::http_client().expect("an HTTP client")
}

async fn openai_with(
    change: impl FnOnce(&mut shared::integrations::llm::OpenAiConfig),
) -> (FakeOpenAi, OpenAiCompatible) {
    let fake = FakeOpenAi::start().await;
    let mut config = fake.config();
    change(&mut config);
    let client = OpenAiCompatible::new(http(), config);
    (fake, client)
}

async fn openai() -> (FakeOpenAi, OpenAiCompatible) {
    openai_with(|_| {}).await
}

const SYSTEM: &str = "You plan days. Be brief.";

fn text_request(text: &str) -> TextRequest {
    TextRequest {
        system: SYSTEM.to_string(),
        messages: vec![Message::user(text)],
        max_tokens: 256,
        temperature: Some(0.25),
    }
}

fn plan_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "title": { "type": "string" },
            "blocks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": { "task": { "type": "string" }, "minutes": { "type": "integer" } },
                    "required": ["task", "minutes"],
                    "additionalProperties": false,
                },
            },
        },
        "required": ["title", "blocks"],
        "additionalProperties": false,
    })
}

fn json_request() -> JsonRequest {
    JsonRequest {
        system: SYSTEM.to_string(),
        messages: vec![
            Message::user("Plan my morning"),
            Message::assistant("Which tasks?"),
            Message::user("Email, gym"),
        ],
        max_tokens: 512,
        schema_name: "day_plan".to_string(),
        schema: plan_schema(),
    }
}

fn plan() -> Value {
    json!({ "title": "Morning", "blocks": [{ "task": "Email", "minutes": 30 }, { "task": "Gym", "minutes": 60 }] })
}

// ---------------------------------------------------------------------------------------------
// Shared scenarios, run against both fakes

async fn malformed_json_is_malformed<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    fake.reply_text("Sure! Here is your plan: morning, then gym.");
    let error = model.complete_json(&json_request()).await.unwrap_err();
    assert!(matches!(error, LlmError::Malformed(_)), "{error:?}");
    fake.reply_raw(200, "{\"choices\": [ this is not JSON");
    let error = model.complete_json(&json_request()).await.unwrap_err();
    assert!(matches!(error, LlmError::Malformed(_)), "{error:?}");
    assert_eq!(fake.requests().len(), 2, "a malformed answer is not retried");
}

async fn throttled_then_success<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    fake.throttle_next(Some(Duration::from_millis(400)));
    fake.reply_text("Done.");
    let started = Instant::now();
    let answer = model.complete_text(&text_request("Hello")).await.unwrap();
    assert_eq!(answer.text, "Done.");
    assert!(started.elapsed() >= Duration::from_millis(400), "Retry-After honoured: {:?}", started.elapsed());
    assert_eq!(fake.requests().len(), 2);
}

async fn throttled_throughout<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    for _ in 0..3 {
        fake.throttle_next(Some(Duration::from_millis(20)));
    }
    fake.reply_text("never sent");
    let error = model.complete_text(&text_request("Hello")).await.unwrap_err();
    assert_eq!(error, LlmError::Throttled { retry_after: Some(Duration::from_millis(20)) });
    assert_eq!((fake.requests().len(), fake.pending()), (3, 1));
}

async fn outage_after_three_attempts<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel, status: u16) {
    for _ in 0..3 {
        fake.fail_next(status);
    }
    fake.reply_text("never sent");
    let error = model.complete_text(&text_request("Hello")).await.unwrap_err();
    assert!(matches!(error, LlmError::Unavailable(_)), "{error:?}");
    assert_eq!((fake.requests().len(), fake.pending()), (3, 1), "three attempts, no fourth");
}

async fn outage_then_success<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    fake.fail_next(503);
    fake.fail_next(500);
    fake.reply_json(plan());
    let answer = model.complete_json(&json_request()).await.unwrap();
    assert_eq!(answer.value, plan());
    assert_eq!(fake.requests().len(), 3);
}

/// `model` has a 200 ms timeout per attempt.
async fn timeouts<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    for _ in 0..3 {
        fake.delay_next(Duration::from_secs(2));
    }
    let started = Instant::now();
    let error = model.complete_text(&text_request("Hello")).await.unwrap_err();
    assert!(matches!(error, LlmError::Unavailable(_)), "{error:?}");
    assert_eq!(fake.requests().len(), 3);
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());

    // The delayed answer is the next scripted one: the retry gets the one after.
    fake.delay_next(Duration::from_secs(2));
    fake.reply_text("too late");
    fake.reply_text("on time");
    assert_eq!(model.complete_text(&text_request("Hello")).await.unwrap().text, "on time");
    assert_eq!(fake.requests().len(), 5, "the timed-out attempt is retried");
}

async fn refused_without_retry<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel, secret: &str) {
    for (count, status) in [400, 401, 403, 404].into_iter().enumerate() {
        fake.fail_next(status);
        let error = model.complete_text(&text_request("Hello")).await.unwrap_err();
        assert!(matches!(error, LlmError::Refused(_)), "{status}: {error:?}");
        assert!(!error.to_string().contains(secret), "{status}: the secret leaked: {error}");
        assert!(!format!("{error:?}").contains(secret), "{status}: the secret leaked: {error:?}");
        assert_eq!(fake.requests().len(), count + 1, "{status} is not retried");
    }
}

async fn usage_is_read<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    fake.set_usage(1234, 56);
    fake.reply_json(plan());
    let answer = model.complete_json(&json_request()).await.unwrap();
    assert_eq!(answer.usage, Usage { input_tokens: 1234, output_tokens: 56 });
}

async fn defaults_without_script<W: Wire>(fake: &FakeLlm<W>, model: &dyn LanguageModel) {
    let answer = model.complete_text(&text_request("What's first?")).await.unwrap();
    assert_eq!(answer.text, "echo: What's first?");
    assert!(answer.usage.input_tokens > 0 && answer.usage.output_tokens > 0, "{:?}", answer.usage);
    let answer = model.complete_json(&json_request()).await.unwrap();
    assert_eq!(answer.value, json!({ "title": "", "blocks": [] }));
    assert_eq!(fake.requests().len(), 2);
}

fn too_long_request() -> TextRequest {
    // With a 300-token window: 300 characters are ~75 tokens, plus the system prompt and 256 for the answer.
    text_request(&"a".repeat(300))
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible

#[tokio::test]
async fn openai_text_reaches_the_wire_and_reads_the_answer() {
    let (fake, model) = openai().await;
    fake.set_usage(40, 7);
    fake.reply_text("Start with email.");
    let answer = model.complete_text(&text_request("What first?")).await.unwrap();
    assert_eq!(
        answer,
        shared::integrations::llm::TextAnswer {
            text: "Start with email.".to_string(),
            usage: Usage { input_tokens: 40, output_tokens: 7 },
            model: FakeOpenAi::MODEL.to_string(),
        }
    );
    assert_eq!(model.provider(), "openai");
    let call = &fake.calls()[0];
    assert_eq!(call.path, "/v1/chat/completions");
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {}", FakeOpenAi::API_KEY).as_str()));
    assert_eq!(
        call.body,
        json!({
            "model": FakeOpenAi::MODEL,
            "messages": [{ "role": "system", "content": SYSTEM }, { "role": "user", "content": "What first?" }],
            "max_tokens": 256,
            "temperature": 0.25,
        })
    );
}

#[tokio::test]
async fn openai_json_sends_the_schema_as_response_format() {
    let (fake, model) = openai().await;
    fake.reply_json(plan());
    let answer = model.complete_json(&json_request()).await.unwrap();
    assert_eq!(answer.value, plan());
    #[derive(serde::Deserialize)]
    struct Plan {
        title: String,
    }
    assert_eq!(answer.parse::<Plan>().unwrap().title, "Morning");
    let body = &fake.requests()[0];
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": { "name": "day_plan", "schema": plan_schema(), "strict": true },
        })
    );
    let roles: Vec<&str> = body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(body["max_tokens"], 512);
    assert!(body.get("temperature").is_none());
}

#[tokio::test]
async fn openai_without_a_key_sends_no_authorization() {
    let fake = FakeOpenAi::start_keyless().await;
    let config = shared::integrations::llm::OpenAiConfig { api_key: None, ..fake.config() };
    let model = OpenAiCompatible::new(http(), config);
    assert_eq!(model.complete_text(&text_request("Hi")).await.unwrap().text, "echo: Hi");
    assert_eq!(fake.calls()[0].authorization, None);
}

#[tokio::test]
async fn openai_defaults_without_script() {
    let (fake, model) = openai().await;
    defaults_without_script(&fake, &model).await;
}

#[tokio::test]
async fn openai_malformed_json_is_malformed() {
    let (fake, model) = openai().await;
    malformed_json_is_malformed(&fake, &model).await;
    fake.reply_text("[1, 2]");
    assert!(matches!(model.complete_json(&json_request()).await, Err(LlmError::Malformed(_))));
}

#[tokio::test]
async fn openai_throttled_then_success() {
    let (fake, model) = openai().await;
    throttled_then_success(&fake, &model).await;
}

#[tokio::test]
async fn openai_throttled_throughout() {
    let (fake, model) = openai().await;
    throttled_throughout(&fake, &model).await;
}

#[tokio::test]
async fn openai_no_quota_is_refused_at_once() {
    let (fake, model) = openai().await;
    let body = json!({ "error": { "message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota" } });
    fake.reply_raw(429, body.to_string());
    assert!(matches!(model.complete_text(&text_request("Hi")).await, Err(LlmError::Refused(_))));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn openai_5xx_three_times_is_unavailable() {
    let (fake, model) = openai().await;
    outage_after_three_attempts(&fake, &model, 500).await;
}

#[tokio::test]
async fn openai_5xx_then_success() {
    let (fake, model) = openai().await;
    outage_then_success(&fake, &model).await;
}

#[tokio::test]
async fn openai_timeouts_are_unavailable() {
    let (fake, model) = openai_with(|config| config.timeout = Duration::from_millis(200)).await;
    timeouts(&fake, &model).await;
}

#[tokio::test]
async fn openai_4xx_is_refused_without_retry_or_key() {
    let (fake, model) = openai().await;
    refused_without_retry(&fake, &model, FakeOpenAi::API_KEY).await;
}

#[tokio::test]
async fn openai_wrong_key_is_refused_without_echoing_it() {
    let secret = "sk-wrong-but-still-secret-42";
    let (fake, model) = openai_with(|config| config.api_key = Some(secret.to_string())).await;
    let error = model.complete_text(&text_request("Hi")).await.unwrap_err();
    assert!(matches!(error, LlmError::Refused(_)), "{error:?}");
    assert!(error.to_string().contains("invalid_api_key"), "{error}");
    assert!(error.to_string().contains("[redacted]"), "the fake echoed the key, the client scrubbed it: {error}");
    assert!(!error.to_string().contains(secret), "{error}");
    assert!(!format!("{model:?}").contains(secret), "the key is not in Debug");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn openai_too_long_is_refused_before_sending() {
    let (fake, model) = openai_with(|config| config.context_tokens = 300).await;
    assert_eq!(model.complete_text(&too_long_request()).await.unwrap_err(), LlmError::TooLong);
    let mut request = json_request();
    request.messages.push(Message::user("b".repeat(1200)));
    assert_eq!(model.complete_json(&request).await.unwrap_err(), LlmError::TooLong);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn openai_context_length_exceeded_is_too_long() {
    let (fake, model) = openai().await;
    let body = json!({ "error": { "message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "code": "context_length_exceeded" } });
    fake.reply_raw(400, body.to_string());
    assert_eq!(model.complete_text(&text_request("Hi")).await.unwrap_err(), LlmError::TooLong);
}

#[tokio::test]
async fn openai_model_refusal_is_refused() {
    let (fake, model) = openai().await;
    let completion = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": FakeOpenAi::MODEL,
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": null, "refusal": "I can't help with that." }, "finish_reason": "stop" }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 },
    });
    fake.reply_raw(200, completion.to_string());
    let error = model.complete_json(&json_request()).await.unwrap_err();
    assert!(matches!(&error, LlmError::Refused(message) if message.contains("can't help")), "{error:?}");
}

#[tokio::test]
async fn openai_usage_is_read() {
    let (fake, model) = openai().await;
    usage_is_read(&fake, &model).await;
}

// ---------------------------------------------------------------------------------------------
// Bedrock Converse

/// Static credentials, as Lambda's environment gives them (with a session token there).
fn aws_credentials(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> SharedCredentialsProvider {
    let credentials =
        Credentials::new(access_key_id, secret_access_key, session_token.map(str::to_string), None, "test");
    SharedCredentialsProvider::new(credentials)
}

fn fake_credentials() -> SharedCredentialsProvider {
    aws_credentials(FakeBedrock::ACCESS_KEY_ID, FakeBedrock::SECRET_ACCESS_KEY, None)
}

async fn bedrock_with(change: impl FnOnce(&mut BedrockConfig)) -> (FakeBedrock, BedrockConverse) {
    let fake = FakeBedrock::start().await;
    let mut config = fake.config();
    change(&mut config);
    let client = BedrockConverse::new(http(), config, fake_credentials());
    (fake, client)
}

async fn bedrock() -> (FakeBedrock, BedrockConverse) {
    bedrock_with(|_| {}).await
}

/// The `SignedHeaders=` list of a SigV4 `Authorization` header.
fn signed_headers(authorization: &str) -> &str {
    let rest = authorization.split_once("SignedHeaders=").map_or("", |(_, rest)| rest);
    rest.split(',').next().unwrap_or_default()
}

/// The `Signature=` of a SigV4 `Authorization` header.
fn signature(authorization: &str) -> &str {
    authorization.split_once("Signature=").map_or("", |(_, signature)| signature)
}

#[tokio::test]
async fn bedrock_text_reaches_the_wire_signed_and_reads_the_answer() {
    let (fake, model) = bedrock().await;
    fake.set_usage(40, 7);
    fake.reply_text("Start with email.");
    let answer = model.complete_text(&text_request("What first?")).await.unwrap();
    assert_eq!(
        answer,
        shared::integrations::llm::TextAnswer {
            text: "Start with email.".to_string(),
            usage: Usage { input_tokens: 40, output_tokens: 7 },
            model: FakeBedrock::MODEL_ID.to_string(),
        }
    );
    assert_eq!(model.provider(), "bedrock");
    let call = &fake.calls()[0];
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse")
    );
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    let authorization = call.authorization.as_deref().unwrap();
    let credential = format!("AWS4-HMAC-SHA256 Credential={}/", FakeBedrock::ACCESS_KEY_ID);
    assert!(authorization.starts_with(&credential), "{authorization}");
    let scope = format!("/{}/bedrock/aws4_request, ", FakeBedrock::REGION);
    assert!(authorization.contains(&scope), "{authorization}");
    assert_eq!(signed_headers(authorization), "content-type;host;x-amz-content-sha256;x-amz-date");
    assert_eq!(signature(authorization).len(), 64, "{authorization}");
    assert_eq!(
        call.body,
        json!({
            "system": [{ "text": SYSTEM }],
            "messages": [{ "role": "user", "content": [{ "text": "What first?" }] }],
            "inferenceConfig": { "maxTokens": 256, "temperature": 0.25 },
        })
    );
}

#[tokio::test]
async fn bedrock_json_forces_a_tool_whose_input_schema_is_the_schema() {
    let (fake, model) = bedrock().await;
    fake.reply_json(plan());
    let answer = model.complete_json(&json_request()).await.unwrap();
    assert_eq!(answer.value, plan());
    assert_eq!(answer.model, FakeBedrock::MODEL_ID);
    #[derive(serde::Deserialize)]
    struct Plan {
        title: String,
    }
    assert_eq!(answer.parse::<Plan>().unwrap().title, "Morning");
    assert_eq!(fake.model_ids(), [FakeBedrock::MODEL_ID], "the model id in the path decodes back");
    let body = &fake.requests()[0];
    let tool = &body["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(tool["inputSchema"]["json"], plan_schema());
    assert_eq!(tool["name"], "day_plan");
    assert!(tool["description"].as_str().is_some_and(|text| !text.is_empty()), "{tool}");
    assert_eq!(body["toolConfig"]["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["toolConfig"]["toolChoice"], json!({ "tool": { "name": "day_plan" } }));
    let roles: Vec<&str> = body["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(body["system"], json!([{ "text": SYSTEM }]));
    assert_eq!(body["inferenceConfig"], json!({ "maxTokens": 512 }));
}

#[tokio::test]
async fn bedrock_without_a_system_prompt_sends_none() {
    let (fake, model) = bedrock().await;
    let request = TextRequest { system: String::new(), temperature: None, ..text_request("Hi") };
    assert_eq!(model.complete_text(&request).await.unwrap().text, "echo: Hi");
    let body = &fake.requests()[0];
    assert!(body.get("system").is_none(), "{body}");
    assert_eq!(body["inferenceConfig"], json!({ "maxTokens": 256 }));
}

#[tokio::test]
async fn bedrock_an_inference_profile_arn_is_one_path_segment() {
    let arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-haiku-20241022-v1:0";
    let (fake, model) = bedrock_with(|config| config.model_id = arn.to_string()).await;
    assert_eq!(model.complete_text(&text_request("Hi")).await.unwrap().model, arn);
    let path = &fake.calls()[0].path;
    assert!(path.starts_with("/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A") && path.contains("%2Feu."), "{path}");
    assert_eq!(fake.model_ids(), [arn]);
}

#[tokio::test]
async fn bedrock_defaults_without_script() {
    let (fake, model) = bedrock().await;
    defaults_without_script(&fake, &model).await;
}

#[tokio::test]
async fn bedrock_malformed_json_is_malformed() {
    let (fake, model) = bedrock().await;
    // A text answer where the tool was forced, then a body that is not JSON.
    malformed_json_is_malformed(&fake, &model).await;
    fake.reply_json(json!([1, 2]));
    assert!(matches!(model.complete_json(&json_request()).await, Err(LlmError::Malformed(_))));
    // No content at all.
    let empty = json!({ "output": { "message": { "role": "assistant", "content": [] } }, "stopReason": "end_turn" });
    fake.reply_raw(200, empty.to_string());
    assert!(matches!(model.complete_json(&json_request()).await, Err(LlmError::Malformed(_))));
    fake.reply_raw(200, empty.to_string());
    assert!(matches!(model.complete_text(&text_request("Hi")).await, Err(LlmError::Malformed(_))));
    assert_eq!(fake.requests().len(), 5, "a malformed answer is not retried");
}

#[tokio::test]
async fn bedrock_tool_input_as_a_json_string_is_read() {
    let (fake, model) = bedrock().await;
    fake.reply_json(Value::String(plan().to_string()));
    assert_eq!(model.complete_json(&json_request()).await.unwrap().value, plan());
}

#[tokio::test]
async fn bedrock_throttled_then_success() {
    let (fake, model) = bedrock().await;
    throttled_then_success(&fake, &model).await;
}

#[tokio::test]
async fn bedrock_throttled_throughout() {
    let (fake, model) = bedrock().await;
    throttled_throughout(&fake, &model).await;
}

#[tokio::test]
async fn bedrock_503_three_times_is_unavailable() {
    let (fake, model) = bedrock().await;
    outage_after_three_attempts(&fake, &model, 503).await;
}

#[tokio::test]
async fn bedrock_model_timeout_three_times_is_unavailable() {
    let (fake, model) = bedrock().await;
    outage_after_three_attempts(&fake, &model, 408).await;
}

#[tokio::test]
async fn bedrock_5xx_then_success() {
    let (fake, model) = bedrock().await;
    outage_then_success(&fake, &model).await;
}

#[tokio::test]
async fn bedrock_timeouts_are_unavailable() {
    let (fake, model) = bedrock_with(|config| config.timeout = Duration::from_millis(200)).await;
    timeouts(&fake, &model).await;
}

#[tokio::test]
async fn bedrock_4xx_is_refused_without_retry_or_secret() {
    let (fake, model) = bedrock().await;
    refused_without_retry(&fake, &model, FakeBedrock::SECRET_ACCESS_KEY).await;
}

#[tokio::test]
async fn bedrock_wrong_credentials_are_refused_without_retry() {
    let secret = "wrong/but/still/secret/access/key/42";
    let fake = FakeBedrock::start().await;
    let credentials = aws_credentials("AKIDWRONGWRONGWRONG0", secret, None);
    let model = BedrockConverse::new(http(), fake.config(), credentials);
    let error = model.complete_text(&text_request("Hi")).await.unwrap_err();
    assert!(
        matches!(&error, LlmError::Refused(message) if message.contains("UnrecognizedClientException")),
        "{error:?}"
    );
    assert!(!error.to_string().contains(secret), "{error}");
    assert!(!format!("{model:?}").contains(secret), "the secret is not in Debug");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn bedrock_a_session_token_is_signed() {
    let token = "FwoGZXIvYXdzEFAKESESSIONTOKEN";
    let fake = FakeBedrock::start().await;
    let credentials = aws_credentials(FakeBedrock::ACCESS_KEY_ID, FakeBedrock::SECRET_ACCESS_KEY, Some(token));
    let model = BedrockConverse::new(http(), fake.config(), credentials);
    assert_eq!(model.complete_text(&text_request("Hi")).await.unwrap().text, "echo: Hi");
    let authorization = fake.calls()[0].authorization.clone().unwrap();
    assert_eq!(
        signed_headers(&authorization),
        "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    );
    let debug = format!("{model:?}");
    assert!(!debug.contains(token) && !debug.contains(FakeBedrock::SECRET_ACCESS_KEY), "{debug}");
}

#[tokio::test]
async fn bedrock_each_attempt_is_signed_with_the_current_credentials() {
    let fake = FakeBedrock::start().await;
    let fetched = Arc::new(AtomicU32::new(0));
    let counter = fetched.clone();
    // Rotating credentials: the same key id, a new secret each time (Lambda's are renewed).
    let provider = provide_credentials_fn(move || {
        let count = counter.fetch_add(1, Ordering::SeqCst);
        let secret = format!("{}-{count}", FakeBedrock::SECRET_ACCESS_KEY);
        async move { Ok(Credentials::new(FakeBedrock::ACCESS_KEY_ID, secret, None, None, "rotating")) }
    });
    let model = BedrockConverse::new(http(), fake.config(), SharedCredentialsProvider::new(provider));
    fake.throttle_next(None);
    fake.reply_text("Done.");
    assert_eq!(model.complete_text(&text_request("Hi")).await.unwrap().text, "Done.");
    assert_eq!(fetched.load(Ordering::SeqCst), 2, "the credentials are fetched per attempt");
    let authorizations: Vec<String> = fake.calls().into_iter().filter_map(|call| call.authorization).collect();
    assert_eq!(authorizations.len(), 2);
    assert_ne!(signature(&authorizations[0]), signature(&authorizations[1]), "the retry is signed afresh");
}

#[tokio::test]
async fn bedrock_too_long_is_refused_before_sending() {
    let (fake, model) = bedrock_with(|config| config.context_tokens = 300).await;
    assert_eq!(model.complete_text(&too_long_request()).await.unwrap_err(), LlmError::TooLong);
    let mut request = json_request();
    request.messages.push(Message::user("b".repeat(1200)));
    assert_eq!(model.complete_json(&request).await.unwrap_err(), LlmError::TooLong);
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn bedrock_input_too_long_is_too_long() {
    let (fake, model) = bedrock().await;
    let body = json!({ "__type": "ValidationException", "message": "Input is too long for requested model." });
    fake.reply_raw(400, body.to_string());
    assert_eq!(model.complete_text(&text_request("Hi")).await.unwrap_err(), LlmError::TooLong);
    let body = json!({ "message": "The model returned the following errors: prompt is too long: 201234 tokens > 200000 maximum" });
    fake.reply_raw(400, body.to_string());
    assert_eq!(model.complete_json(&json_request()).await.unwrap_err(), LlmError::TooLong);
    assert_eq!(fake.requests().len(), 2, "not retried");
}

#[tokio::test]
async fn bedrock_guardrail_and_content_filter_are_refused() {
    let (fake, model) = bedrock().await;
    for reason in ["guardrail_intervened", "content_filtered"] {
        let answer = json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": "Sorry, I can't answer that." }] } },
            "stopReason": reason,
            "usage": { "inputTokens": 10, "outputTokens": 5, "totalTokens": 15 },
        });
        fake.reply_raw(200, answer.to_string());
        let error = model.complete_text(&text_request("Hi")).await.unwrap_err();
        assert!(matches!(&error, LlmError::Refused(message) if message.contains(reason)), "{error:?}");
    }
    assert_eq!(fake.requests().len(), 2, "not retried");
}

#[tokio::test]
async fn bedrock_usage_is_read() {
    let (fake, model) = bedrock().await;
    usage_is_read(&fake, &model).await;
}

#[tokio::test]
async fn bedrock_usage_is_estimated_when_missing_and_a_cut_answer_is_kept() {
    let (fake, model) = bedrock().await;
    let answer = json!({
        "output": { "message": { "role": "assistant", "content": [{ "text": "First email, then" }] } },
        "stopReason": "max_tokens",
    });
    fake.reply_raw(200, answer.to_string());
    let answer = model.complete_text(&text_request("Plan my day")).await.unwrap();
    assert_eq!(answer.text, "First email, then");
    assert_eq!(answer.usage.output_tokens, 5);
    assert!(answer.usage.input_tokens > 0, "{:?}", answer.usage);
}
