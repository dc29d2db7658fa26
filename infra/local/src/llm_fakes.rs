//! Local fakes of an OpenAI-compatible chat completions API and of Bedrock's Converse API, each a
//! wiremock server on loopback whose one responder reads and changes a state behind a mutex. They
//! speak the real wire formats, so the clients of `integrations::llm` run against them unchanged:
//! `FakeOpenAi` answers `POST /v1/chat/completions` with chat completion objects and OpenAI's
//! error bodies (and checks the bearer key); `FakeBedrock` answers `POST /model/{modelId}/converse`
//! with Converse responses (`output.message.content[]`, `stopReason`, `usage`, `metrics`) and the
//! runtime's errors (`x-amzn-errortype`), and checks the SigV4 credential.
//!
//! Tests script the next answers, in order: `reply_text`, `reply_json`, `reply_raw` (any status
//! and body), `throttle_next`, `fail_next`; `delay_next` delays the next answers (whatever they
//! are) for timeouts; `set_usage` fixes the token counts. With nothing scripted a fake answers
//! something sensible: `echo: <the last message>` to a text request, and to a structured request
//! the smallest object its schema allows (`minimal_value`). They record every request: `requests()`
//! (the bodies) and `calls()` (with the path and the `Authorization` header).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::calendar_fakes::percent_decode;

use shared::integrations::llm::{BedrockConfig, OpenAiConfig, RetryPolicy};

/// A fake OpenAI-compatible server. `uri()` is the API base (with `/v1`).
pub type FakeOpenAi = FakeLlm<OpenAiWire>;
/// A fake Bedrock runtime (for the SigV4-signed Converse client, `BedrockConverse`): it checks the
/// credential's access key id and answers in the runtime's format.
pub type FakeBedrock = FakeLlm<BedrockWire>;

/// A fake language model server speaking wire format `W`.
pub struct FakeLlm<W: Wire> {
    server: MockServer,
    state: Arc<Mutex<State>>,
    wire: PhantomData<W>,
}

/// A request as a fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCall {
    pub method: String,
    /// As sent (percent-encoded).
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Text(String),
    Json(Value),
    Raw(u16, String),
    Throttle(Option<Duration>),
    Fail(u16),
}

/// What a wire format answers with.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Text(String),
    Json(Value),
}

#[derive(Default)]
struct State {
    script: VecDeque<Step>,
    delays: VecDeque<Duration>,
    usage: Option<(u32, u32)>,
    calls: Vec<FakeCall>,
    /// The key `FakeOpenAi` requires (`None`: any or none, as Ollama).
    key: Option<String>,
}

impl<W: Wire> FakeLlm<W> {
    async fn start_with(key: Option<String>) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State { key, ..State::default() }));
        let responder = Responder::<W> { state: state.clone(), wire: PhantomData };
        Mock::given(any()).respond_with(responder).mount(&server).await;
        FakeLlm { server, state, wire: PhantomData }
    }

    /// The next answer is `text` (OpenAI: the message's `content`; Bedrock: a `text` block).
    pub fn reply_text(&self, text: impl Into<String>) {
        lock(&self.state).script.push_back(Step::Text(text.into()));
    }

    /// The next answer is `value` (OpenAI: serialised as the `content`; Bedrock: a `toolUse`
    /// block of the requested tool, `stopReason: tool_use`).
    pub fn reply_json(&self, value: Value) {
        lock(&self.state).script.push_back(Step::Json(value));
    }

    /// The next answer is `body` with `status`, as is (a broken completion, a foreign error).
    pub fn reply_raw(&self, status: u16, body: impl Into<String>) {
        lock(&self.state).script.push_back(Step::Raw(status, body.into()));
    }

    /// The next answer is the provider's 429, with `retry-after-ms` and `Retry-After` (whole
    /// seconds, rounded up) when `retry_after` is given.
    pub fn throttle_next(&self, retry_after: Option<Duration>) {
        lock(&self.state).script.push_back(Step::Throttle(retry_after));
    }

    /// The next answer is the provider's error for `status` (400, 401, 403, 404, 408, 424, 500,
    /// 503, ...). OpenAI's 401 names the key it received, as a careless server would.
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).script.push_back(Step::Fail(status));
    }

    /// The next answer (scripted or not) comes after `delay`. Queued: call it once per answer.
    pub fn delay_next(&self, delay: Duration) {
        lock(&self.state).delays.push_back(delay);
    }

    /// Every answer from now on reports these token counts (by default: a quarter of the
    /// characters of the request's body and of the answer).
    pub fn set_usage(&self, input_tokens: u32, output_tokens: u32) {
        lock(&self.state).usage = Some((input_tokens, output_tokens));
    }

    /// The bodies of the requests so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state).calls.iter().map(|call| call.body.clone()).collect()
    }

    /// The requests so far, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        lock(&self.state).calls.clone()
    }

    /// Scripted answers not yet given.
    pub fn pending(&self) -> usize {
        lock(&self.state).script.len()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }
}

/// Retries fast enough for tests.
pub fn test_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(2),
    }
}

struct Responder<W> {
    state: Arc<Mutex<State>>,
    wire: PhantomData<W>,
}

impl<W: Wire> Respond for Responder<W> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let call = FakeCall::of(request);
        state.calls.push(call.clone());
        let delay = state.delays.pop_front();
        let response = match W::check(&call, state.key.as_deref()) {
            Some(refusal) => refusal,
            None => {
                let step = state.script.pop_front();
                answer::<W>(&call, step, state.usage)
            }
        };
        match delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

fn answer<W: Wire>(call: &FakeCall, step: Option<Step>, usage: Option<(u32, u32)>) -> ResponseTemplate {
    let answer = match step {
        Some(Step::Text(text)) => Answer::Text(text),
        Some(Step::Json(value)) => Answer::Json(value),
        Some(Step::Raw(status, body)) => {
            return ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/json");
        }
        Some(Step::Throttle(retry_after)) => return with_retry_after(W::error(call, 429), retry_after),
        Some(Step::Fail(status)) => return W::error(call, status),
        None => match W::schema(&call.body) {
            Some(schema) => Answer::Json(minimal_value(schema)),
            None => Answer::Text(format!("echo: {}", W::last_text(&call.body))),
        },
    };
    let answer_text = match &answer {
        Answer::Text(text) => text.clone(),
        Answer::Json(value) => value.to_string(),
    };
    let usage = usage.unwrap_or_else(|| (quarter(&call.body.to_string()), quarter(&answer_text)));
    W::success(call, answer, usage)
}

fn with_retry_after(response: ResponseTemplate, retry_after: Option<Duration>) -> ResponseTemplate {
    match retry_after {
        Some(wait) => response
            .insert_header("retry-after-ms", wait.as_millis().to_string())
            .insert_header("retry-after", wait.as_secs_f64().ceil().to_string()),
        None => response,
    }
}

/// A wire format: how a fake checks a request and what it answers.
pub trait Wire: Send + Sync + 'static {
    /// The provider's refusal when the request is not one the provider takes.
    fn check(call: &FakeCall, key: Option<&str>) -> Option<ResponseTemplate>;
    /// The schema of a structured request.
    fn schema(body: &Value) -> Option<&Value>;
    /// The text of the request's last message.
    fn last_text(body: &Value) -> String;
    fn success(call: &FakeCall, answer: Answer, usage: (u32, u32)) -> ResponseTemplate;
    fn error(call: &FakeCall, status: u16) -> ResponseTemplate;
}

// ---------------------------------------------------------------------------------------------
// OpenAI

/// The OpenAI wire format.
pub struct OpenAiWire;

impl FakeLlm<OpenAiWire> {
    pub const API_KEY: &str = "sk-fake-0123456789abcdef";
    pub const MODEL: &str = "gpt-4o-mini";

    /// A fake that takes only `Bearer API_KEY`.
    pub async fn start() -> Self {
        Self::start_with(Some(Self::API_KEY.to_string())).await
    }

    /// A fake that takes any key or none (Ollama, a local vLLM).
    pub async fn start_keyless() -> Self {
        Self::start_with(None).await
    }

    /// The client's settings for this fake: its base, `MODEL`, `API_KEY`, a 5 s timeout and fast retries.
    pub fn config(&self) -> OpenAiConfig {
        OpenAiConfig {
            timeout: Duration::from_secs(5),
            retry: test_retry_policy(),
            ..OpenAiConfig::new(format!("{}/v1", self.uri()), Self::MODEL, Some(Self::API_KEY.to_string()))
        }
    }
}

impl Wire for OpenAiWire {
    fn check(call: &FakeCall, key: Option<&str>) -> Option<ResponseTemplate> {
        if call.method != "POST" || !call.path.ends_with("/chat/completions") {
            return Some(openai_error(
                404,
                "invalid_request_error",
                None,
                format!("Unknown request URL: {}", call.path),
            ));
        }
        if let Some(key) = key
            && call.authorization.as_deref() != Some(&format!("Bearer {key}"))
        {
            return Some(Self::error(call, 401));
        }
        if !call.body["model"].is_string() || !call.body["messages"].is_array() {
            return Some(openai_error(
                400,
                "invalid_request_error",
                None,
                "model and messages are required".to_string(),
            ));
        }
        None
    }

    fn schema(body: &Value) -> Option<&Value> {
        (body["response_format"]["type"] == "json_schema").then(|| &body["response_format"]["json_schema"]["schema"])
    }

    fn last_text(body: &Value) -> String {
        let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
        messages.last().and_then(|message| message["content"].as_str()).unwrap_or_default().to_string()
    }

    fn success(call: &FakeCall, answer: Answer, (input, output): (u32, u32)) -> ResponseTemplate {
        let content = match answer {
            Answer::Text(text) => text,
            Answer::Json(value) => value.to_string(),
        };
        ResponseTemplate::new(200).insert_header("x-request-id", request_id()).set_body_json(json!({
            "id": format!("chatcmpl-{}", request_id()),
            "object": "chat.completion",
            "created": now_seconds(),
            "model": call.body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": content, "refusal": null },
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": { "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output },
        }))
    }

    fn error(call: &FakeCall, status: u16) -> ResponseTemplate {
        let received = call.authorization.as_deref().and_then(|value| value.strip_prefix("Bearer "));
        let (kind, code, message) = match status {
            400 => ("invalid_request_error", None, "Invalid request (fake).".to_string()),
            401 => match received {
                Some(key) => {
                    ("invalid_request_error", Some("invalid_api_key"), format!("Incorrect API key provided: {key}."))
                }
                None => ("invalid_request_error", None, "You didn't provide an API key.".to_string()),
            },
            403 => ("invalid_request_error", Some("unsupported_country_region_territory"), "Forbidden.".to_string()),
            404 => {
                let model = call.body["model"].as_str().unwrap_or_default();
                let message = format!("The model `{model}` does not exist or you do not have access to it.");
                ("invalid_request_error", Some("model_not_found"), message)
            }
            429 => ("requests", Some("rate_limit_exceeded"), "Rate limit reached for requests.".to_string()),
            500.. => ("server_error", None, "The server had an error while processing your request.".to_string()),
            _ => ("invalid_request_error", None, format!("Error {status} (fake).")),
        };
        openai_error(status, kind, code, message)
    }
}

fn openai_error(status: u16, kind: &str, code: Option<&str>, message: String) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("x-request-id", request_id()).set_body_json(json!({
        "error": { "message": message, "type": kind, "param": null, "code": code },
    }))
}

// ---------------------------------------------------------------------------------------------
// Bedrock

/// The Bedrock runtime's wire format (restJson1).
pub struct BedrockWire;

impl FakeLlm<BedrockWire> {
    pub const ACCESS_KEY_ID: &str = "AKIDFAKEBEDROCK00000";
    pub const SECRET_ACCESS_KEY: &str = "fake/bedrock/secret/access/key/0000000000";
    pub const REGION: &str = "us-east-1";
    pub const MODEL_ID: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

    /// A fake that takes requests signed with `ACCESS_KEY_ID`.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// The client's settings for this fake: its URI as the endpoint, `REGION`, `MODEL_ID`, a 5 s
    /// timeout and fast retries. Sign with `ACCESS_KEY_ID` and `SECRET_ACCESS_KEY`.
    pub fn config(&self) -> BedrockConfig {
        BedrockConfig {
            endpoint: self.uri(),
            timeout: Duration::from_secs(5),
            retry: test_retry_policy(),
            ..BedrockConfig::new(Self::REGION, Self::MODEL_ID)
        }
    }

    /// The model ids of the requests so far (decoded from their paths).
    pub fn model_ids(&self) -> Vec<String> {
        self.calls().iter().filter_map(|call| bedrock_model_id(&call.path)).collect()
    }
}

fn bedrock_model_id(path: &str) -> Option<String> {
    let encoded = path.strip_prefix("/model/")?.strip_suffix("/converse")?;
    Some(percent_decode(encoded))
}

impl Wire for BedrockWire {
    fn check(call: &FakeCall, _key: Option<&str>) -> Option<ResponseTemplate> {
        if call.method != "POST" || bedrock_model_id(&call.path).is_none() {
            return Some(bedrock_error(404, "UnknownOperationException", "Unknown operation.".to_string()));
        }
        let credential = format!("AWS4-HMAC-SHA256 Credential={}/", FakeBedrock::ACCESS_KEY_ID);
        if !call.authorization.as_deref().is_some_and(|value| value.starts_with(&credential)) {
            let message = "The security token included in the request is invalid.".to_string();
            return Some(bedrock_error(403, "UnrecognizedClientException", message));
        }
        if !call.body["messages"].is_array() {
            return Some(bedrock_error(400, "ValidationException", "messages: required".to_string()));
        }
        None
    }

    fn schema(body: &Value) -> Option<&Value> {
        let tool = bedrock_tool(body)?;
        Some(&tool["toolSpec"]["inputSchema"]["json"])
    }

    fn last_text(body: &Value) -> String {
        let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
        let content = messages.last().and_then(|message| message["content"].as_array());
        let blocks = content.map(Vec::as_slice).unwrap_or_default();
        blocks.iter().filter_map(|block| block["text"].as_str()).collect()
    }

    fn success(call: &FakeCall, answer: Answer, (input, output): (u32, u32)) -> ResponseTemplate {
        let (block, stop_reason) = match answer {
            Answer::Text(text) => (json!({ "text": text }), "end_turn"),
            Answer::Json(value) => {
                let name = bedrock_tool(&call.body).map_or(json!("answer"), |tool| tool["toolSpec"]["name"].clone());
                let tool_use =
                    json!({ "toolUseId": format!("tooluse_{}", request_id()), "name": name, "input": value });
                (json!({ "toolUse": tool_use }), "tool_use")
            }
        };
        ResponseTemplate::new(200).insert_header("x-amzn-requestid", request_id()).set_body_json(json!({
            "output": { "message": { "role": "assistant", "content": [block] } },
            "stopReason": stop_reason,
            "usage": { "inputTokens": input, "outputTokens": output, "totalTokens": input + output },
            "metrics": { "latencyMs": 42 },
        }))
    }

    fn error(_call: &FakeCall, status: u16) -> ResponseTemplate {
        let (code, message) = match status {
            400 => ("ValidationException", "Malformed input request (fake)."),
            401 => ("UnrecognizedClientException", "The security token included in the request is invalid."),
            403 => ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
            404 => ("ResourceNotFoundException", "Could not resolve the foundation model."),
            408 => ("ModelTimeoutException", "Model has timed out in processing the request."),
            424 => ("ModelErrorException", "The model returned an error (fake)."),
            429 => ("ThrottlingException", "Too many requests, please wait before trying again."),
            503 => ("ServiceUnavailableException", "Bedrock is unable to process your request."),
            500.. => ("InternalServerException", "An internal server error occurred (fake)."),
            _ => ("ValidationException", "Error (fake)."),
        };
        bedrock_error(status, code, message.to_string())
    }
}

/// The forced tool of a structured request: `toolChoice.tool.name` among `toolConfig.tools`.
fn bedrock_tool(body: &Value) -> Option<&Value> {
    let name = body["toolConfig"]["toolChoice"]["tool"]["name"].as_str()?;
    body["toolConfig"]["tools"].as_array()?.iter().find(|tool| tool["toolSpec"]["name"] == name)
}

fn bedrock_error(status: u16, code: &str, message: String) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("x-amzn-requestid", request_id())
        .insert_header("x-amzn-errortype", format!("{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"))
        .set_body_json(json!({ "message": message }))
}

// ---------------------------------------------------------------------------------------------
// Helpers

impl FakeCall {
    fn of(request: &Request) -> Self {
        let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        FakeCall {
            method: request.method.to_string(),
            path: request.url.path().to_string(),
            authorization: header("authorization"),
            content_type: header("content-type"),
            body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        }
    }
}

/// The smallest value a JSON Schema allows, for the common keywords: `const`, `enum` (the first),
/// `anyOf`/`oneOf` (the first), and by `type`: objects with their `required` properties (all of
/// them when none are listed), arrays of `minItems` items, strings of `minLength` `x`s, numbers at
/// `minimum` or 0, `false`, `null`. `$ref` is not followed (null).
pub fn minimal_value(schema: &Value) -> Value {
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].get(0) {
        return first.clone();
    }
    if let Some(first) = schema["anyOf"].get(0).or(schema["oneOf"].get(0)) {
        return minimal_value(first);
    }
    let count = |keyword: &str| schema[keyword].as_u64().unwrap_or(0) as usize;
    match schema_type(schema) {
        "object" => minimal_object(schema),
        "array" => Value::Array(vec![minimal_value(&schema["items"]); count("minItems")]),
        "string" => Value::String("x".repeat(count("minLength"))),
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or(json!(0)),
        "boolean" => Value::Bool(false),
        _ => Value::Null,
    }
}

fn schema_type(schema: &Value) -> &str {
    match &schema["type"] {
        Value::String(kind) => kind,
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).find(|kind| *kind != "null").unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    }
}

fn minimal_object(schema: &Value) -> Value {
    let properties = schema["properties"].as_object().cloned().unwrap_or_default();
    let required: Vec<String> = match schema["required"].as_array() {
        Some(names) => names.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        None => properties.keys().cloned().collect(),
    };
    let fields = required.into_iter().map(|name| {
        let value = properties.get(&name).map_or(Value::Null, minimal_value);
        (name, value)
    });
    Value::Object(fields.collect())
}

/// A quarter of the characters, rounded up: the fakes' token count.
fn quarter(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("fake-{:08}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_values_of_common_schemas() {
        let schema = json!({
            "type": "object",
            "properties": {
                "title": { "type": "string", "minLength": 2 },
                "minutes": { "type": "integer", "minimum": 5 },
                "kind": { "enum": ["focus", "break"] },
                "tags": { "type": "array", "items": { "type": "string" } },
                "note": { "type": ["string", "null"] },
                "optional": { "type": "boolean" },
            },
            "required": ["title", "minutes", "kind", "tags", "note"],
            "additionalProperties": false,
        });
        let expected = json!({ "title": "xx", "minutes": 5, "kind": "focus", "tags": [], "note": "" });
        assert_eq!(minimal_value(&schema), expected);
    }

    #[test]
    fn decodes_model_ids() {
        let path = "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Feu.x-v1%3A0/converse";
        assert_eq!(bedrock_model_id(path).unwrap(), "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x-v1:0");
    }
}
