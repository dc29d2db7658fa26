//! Language models behind one trait, `LanguageModel`: plain text completions (chat, narration) and
//! structured ones whose answer is a JSON object matching a JSON Schema. Two implementations:
//!
//! - `OpenAiCompatible`: `POST {base_url}/chat/completions` (OpenAI, vLLM, Ollama's `/v1`), JSON
//!   through `response_format: json_schema` (strict).
//! - `BedrockConverse`: Amazon Bedrock's Converse API (the deployed default of issue 13),
//!   `POST {endpoint}/model/{modelId}/converse` signed with SigV4 by the signer the SDK links
//!   anyway (no Bedrock SDK crate: its build time), JSON through one forced tool whose input
//!   schema is the schema. Credentials come from a provider at each attempt (Lambda's rotate).
//!
//! A client refuses a request over the model's context window before sending it (`TooLong`, estimated
//! at ~4 characters a token), give each attempt a timeout, retry throttling and outages with
//! exponential backoff and jitter (at most `RetryPolicy::max_attempts`, honouring `Retry-After`
//! up to a cap), and always return a `Usage` (estimated when a server reports none). Errors never
//! carry the API key or AWS credentials, and requests and answers never reach logs. Base URLs and
//! endpoints are settings, so tests point them at the local fakes (`infra/local/src/llm_fakes.rs`:
//! `FakeOpenAi`, `FakeBedrock`).

use std::future::Future;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::upstream::{KeyedClient, SignedPost, SigningError, causes, scrub, sign_post};

// ---------------------------------------------------------------------------------------------
// The trait and its types

/// One language model.
#[async_trait::async_trait]
pub trait LanguageModel: Send + Sync {
    /// A completion whose answer must be a JSON object matching `request.schema` (structured output).
    async fn complete_json(&self, request: &JsonRequest) -> Result<JsonAnswer, LlmError>;
    /// A plain text completion (chat, narration).
    async fn complete_text(&self, request: &TextRequest) -> Result<TextAnswer, LlmError>;
    /// `"bedrock"` or `"openai"`.
    fn provider(&self) -> &'static str;
}

/// Who said a message of the conversation (the system prompt is apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub text: String,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message { role: Role::User, text: text.into() }
    }

    pub fn assistant(text: impl Into<String>) -> Self {
        Message { role: Role::Assistant, text: text.into() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextRequest {
    /// Left out of the call when empty.
    pub system: String,
    /// In order; Bedrock wants them to start with the user's and alternate.
    pub messages: Vec<Message>,
    /// The most the answer may take.
    pub max_tokens: u32,
    /// The provider's default when `None`.
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    /// The schema's name (OpenAI's `json_schema.name`, Bedrock's tool name): `[A-Za-z0-9_-]{1,64}`.
    pub schema_name: String,
    /// The JSON Schema of the answer, an object. For OpenAI's strict mode every property must be
    /// `required` and every object `additionalProperties: false`.
    pub schema: Value,
}

/// Tokens a call took, as the provider counted them (or as `estimate_tokens` guesses when the
/// server reports none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextAnswer {
    pub text: String,
    pub usage: Usage,
    /// The model that answered (OpenAI's `model`; Bedrock's configured model id).
    pub model: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonAnswer {
    /// A JSON object. Not validated against the schema here: `parse` it into its type.
    pub value: Value,
    pub usage: Usage,
    pub model: String,
}

impl JsonAnswer {
    /// The answer as `T`; an answer that does not fit is `Malformed`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, LlmError> {
        T::deserialize(&self.value).map_err(|error| LlmError::Malformed(format!("the answer does not fit: {error}")))
    }
}

/// Why a completion failed, sorted by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Still throttled after the retries: try again later, after `retry_after` when the provider said.
    #[error("throttled (retry after {retry_after:?})")]
    Throttled { retry_after: Option<Duration> },
    /// 5xx, a network failure or a timeout, after the retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A 4xx other than 429 (bad request, authentication, unknown model, no quota), or the model
    /// refused to answer. Retrying the same request will not help. Never holds the API key.
    #[error("refused: {0}")]
    Refused(String),
    /// The answer is not what was asked for: not JSON, no tool call, not an object, no text.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The request does not fit the model's context window (estimated before sending, or said so
    /// by the provider).
    #[error("the request is too long for the model")]
    TooLong,
}

impl LlmError {
    /// Throttling and outages are worth another attempt.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LlmError::Throttled { .. } | LlmError::Unavailable(_))
    }
}

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each one, with jitter (half to all of it).
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// The longest a `Retry-After` is honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failed + 1`: the provider's `Retry-After` (capped), else the backoff.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let doubled = self.base_delay.saturating_mul(1 << failed.saturating_sub(1).min(16));
        let ceiling = doubled.min(self.max_delay);
        ceiling.mul_f64(rand::random_range(0.5..=1.0))
    }
}

/// About 4 characters a token (rounded up): a conservative guess for English and JSON.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}

/// The estimated input of a request (system, messages, and `extra`: the schema) plus its answer
/// must fit `context_tokens`.
fn check_budget(
    system: &str,
    messages: &[Message],
    extra: &str,
    max_tokens: u32,
    context_tokens: u32,
) -> Result<u32, LlmError> {
    let input = messages.iter().map(|message| estimate_tokens(&message.text)).sum::<u32>()
        + estimate_tokens(system)
        + estimate_tokens(extra);
    if input.saturating_add(max_tokens) > context_tokens {
        tracing::warn!(input, max_tokens, context_tokens, "an LLM request over the context window was refused");
        return Err(LlmError::TooLong);
    }
    Ok(input)
}

/// Runs `attempt` under `timeout` until it succeeds, fails for good, or `policy` runs out.
async fn with_retries<T, F, Fut>(
    provider: &str,
    policy: &RetryPolicy,
    timeout: Duration,
    mut attempt: F,
) -> Result<T, LlmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut failed = 0;
    loop {
        let result = tokio::time::timeout(timeout, attempt())
            .await
            .unwrap_or_else(|_| Err(LlmError::Unavailable(format!("{provider}: no answer within {timeout:?}"))));
        match result {
            Err(error) if error.is_retryable() && failed + 1 < policy.max_attempts => {
                failed += 1;
                let retry_after = if let LlmError::Throttled { retry_after } = &error { *retry_after } else { None };
                let wait = policy.delay(failed, retry_after);
                tracing::warn!(provider, attempt = failed, ?wait, %error, "LLM call failed; retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// `retry-after-ms` (OpenAI, Azure) or `Retry-After` in seconds. HTTP dates are not read.
fn retry_after(millis: Option<&str>, seconds: Option<&str>) -> Option<Duration> {
    let millis = millis.and_then(|value| value.trim().parse::<f64>().ok()).map(|ms| ms / 1000.0);
    let seconds = millis.or_else(|| seconds.and_then(|value| value.trim().parse::<f64>().ok()))?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// What a status means when nothing more specific is known.
fn error_of_status(status: u16, retry_after: Option<Duration>, message: String) -> LlmError {
    match status {
        429 => LlmError::Throttled { retry_after },
        408 | 409 | 500.. => LlmError::Unavailable(message),
        200..=299 => LlmError::Malformed(message),
        _ => LlmError::Refused(message),
    }
}

/// The text of a JSON answer, without the Markdown fence some local models add.
fn parse_object(provider: &str, text: &str) -> Result<Value, LlmError> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed);
    match serde_json::from_str::<Value>(unfenced) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(LlmError::Malformed(format!("{provider}: the answer is JSON but not an object"))),
        Err(error) => Err(LlmError::Malformed(format!("{provider}: the answer is not JSON: {error}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible chat completions

/// OpenAI's API base.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Where an OpenAI-compatible server is and how to call it.
#[derive(Clone, PartialEq)]
pub struct OpenAiConfig {
    /// With the version, without `/chat/completions`: `https://api.openai.com/v1`,
    /// `http://localhost:11434/v1` (Ollama), `http://vllm:8000/v1`.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; `None` for servers that need none (Ollama, local vLLM).
    pub api_key: Option<String>,
    /// Per attempt.
    pub timeout: Duration,
    /// The model's context window, in tokens (input and answer).
    pub context_tokens: u32,
    pub retry: RetryPolicy,
}

impl OpenAiConfig {
    /// A 60 s timeout per attempt, a 128k context window, the default retries.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, api_key: Option<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key,
            timeout: Duration::from_secs(60),
            context_tokens: 128_000,
            retry: RetryPolicy::default(),
        }
    }
}

/// The API key never reaches logs.
impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .field("context_tokens", &self.context_tokens)
            .field("retry", &self.retry)
            .finish()
    }
}

/// An OpenAI-compatible chat completions API behind `LanguageModel`.
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    http: reqwest::Client,
    url: String,
    config: OpenAiConfig,
}

#[derive(Deserialize)]
struct ChatCompletion {
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
    /// Set instead of `content` when the model declines a structured output.
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

impl OpenAiCompatible {
    pub fn new(http: reqwest::Client, config: OpenAiConfig) -> Self {
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        OpenAiCompatible { http, url, config }
    }

    fn body(&self, system: &str, messages: &[Message], max_tokens: u32) -> Value {
        let system = (!system.is_empty()).then(|| json!({ "role": "system", "content": system }));
        let turns = messages.iter().map(|message| json!({ "role": message.role.as_str(), "content": message.text }));
        json!({
            "model": self.config.model,
            "messages": system.into_iter().chain(turns).collect::<Vec<_>>(),
            "max_tokens": max_tokens,
        })
    }

    /// The answer's text and usage, after the retries.
    async fn chat(&self, body: &Value, estimated_input: u32) -> Result<(String, Usage, String), LlmError> {
        let completion = with_retries("openai", &self.config.retry, self.config.timeout, || self.post(body)).await?;
        let model = if completion.model.is_empty() { self.config.model.clone() } else { completion.model };
        let choice = completion.choices.into_iter().next();
        let choice = choice.ok_or_else(|| LlmError::Malformed("openai: no choices in the answer".to_string()))?;
        if let Some(refusal) = choice.message.refusal.filter(|refusal| !refusal.is_empty()) {
            return Err(LlmError::Refused(format!("openai: the model refused: {}", scrub(&refusal, None))));
        }
        let text = choice.message.content.unwrap_or_default();
        if choice.finish_reason.as_deref() == Some("length") {
            tracing::warn!(model, "an LLM answer was cut at max_tokens");
        }
        let usage = match completion.usage {
            Some(usage) => Usage { input_tokens: usage.prompt_tokens, output_tokens: usage.completion_tokens },
            None => Usage { input_tokens: estimated_input, output_tokens: estimate_tokens(&text) },
        };
        Ok((text, usage, model))
    }

    /// One attempt.
    async fn post(&self, body: &Value) -> Result<ChatCompletion, LlmError> {
        let key = self.config.api_key.as_deref();
        let mut request = self.http.post(&self.url).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let network = |error: reqwest::Error| {
            LlmError::Unavailable(scrub(&format!("openai: {}", causes(&error.without_url())), key))
        };
        let response = request.send().await.map_err(network)?;
        let status = response.status().as_u16();
        let header =
            |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        let wait = retry_after(header("retry-after-ms").as_deref(), header("retry-after").as_deref());
        let text = response.text().await.map_err(network)?;
        if !(200..300).contains(&status) {
            return Err(openai_error(status, wait, &text, key));
        }
        serde_json::from_str(&text)
            .map_err(|error| LlmError::Malformed(format!("openai: not a chat completion: {error}")))
    }
}

/// An error answer: `{"error": {"message", "type", "code"}}` (OpenAI, vLLM) or `{"error": "..."}`
/// (Ollama).
fn openai_error(status: u16, retry_after: Option<Duration>, body: &str, key: Option<&str>) -> LlmError {
    let error = serde_json::from_str::<Value>(body).map(|body| body["error"].clone()).unwrap_or(Value::Null);
    let code = error["code"].as_str().or(error["type"].as_str()).unwrap_or_default().to_string();
    let message = error["message"].as_str().or(error.as_str()).unwrap_or("no message");
    let message = scrub(&format!("openai: {status} {code}: {message}"), key);
    match code.as_str() {
        "context_length_exceeded" => LlmError::TooLong,
        // A 429 that waiting does not cure.
        "insufficient_quota" => LlmError::Refused(message),
        _ => error_of_status(status, retry_after, message),
    }
}

#[async_trait::async_trait]
impl LanguageModel for OpenAiCompatible {
    async fn complete_json(&self, request: &JsonRequest) -> Result<JsonAnswer, LlmError> {
        let schema_text = request.schema.to_string();
        let (system, messages) = (&request.system, &request.messages);
        let input = check_budget(system, messages, &schema_text, request.max_tokens, self.config.context_tokens)?;
        let mut body = self.body(system, messages, request.max_tokens);
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": { "name": request.schema_name, "schema": request.schema, "strict": true },
        });
        let (text, usage, model) = self.chat(&body, input).await?;
        Ok(JsonAnswer { value: parse_object("openai", &text)?, usage, model })
    }

    async fn complete_text(&self, request: &TextRequest) -> Result<TextAnswer, LlmError> {
        let (system, messages) = (&request.system, &request.messages);
        let input = check_budget(system, messages, "", request.max_tokens, self.config.context_tokens)?;
        let mut body = self.body(system, messages, request.max_tokens);
        if let Some(temperature) = request.temperature {
            body["temperature"] = json!(temperature);
        }
        let (text, usage, model) = self.chat(&body, input).await?;
        Ok(TextAnswer { text, usage, model })
    }

    fn provider(&self) -> &'static str {
        "openai"
    }
}

// ---------------------------------------------------------------------------------------------
// Amazon Bedrock Converse

/// Where a Bedrock runtime is and which model it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockConfig {
    /// Without a path: `https://bedrock-runtime.us-east-1.amazonaws.com` (a fake's URI in tests).
    pub endpoint: String,
    /// The region the requests are signed for.
    pub region: String,
    /// A model id, an inference profile id or an ARN: `anthropic.claude-3-5-haiku-20241022-v1:0`.
    pub model_id: String,
    /// Per attempt.
    pub timeout: Duration,
    /// The model's context window, in tokens (input and answer).
    pub context_tokens: u32,
    pub retry: RetryPolicy,
}

impl BedrockConfig {
    /// The region's runtime endpoint, a 60 s timeout per attempt, a 200k context window (Claude's:
    /// set it for smaller models), the default retries.
    pub fn new(region: impl Into<String>, model_id: impl Into<String>) -> Self {
        let region = region.into();
        BedrockConfig {
            endpoint: format!("https://bedrock-runtime.{region}.amazonaws.com"),
            region,
            model_id: model_id.into(),
            timeout: Duration::from_secs(60),
            context_tokens: 200_000,
            retry: RetryPolicy::default(),
        }
    }
}

/// Bedrock's Converse API behind `LanguageModel`, as plain HTTPS requests signed with SigV4.
#[derive(Clone)]
pub struct BedrockConverse {
    http: reqwest::Client,
    url: String,
    config: BedrockConfig,
    credentials: SharedCredentialsProvider,
}

/// Credentials never reach logs: a provider's own `Debug` may show what it holds.
impl std::fmt::Debug for BedrockConverse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockConverse")
            .field("url", &self.url)
            .field("config", &self.config)
            .field("credentials", &"[redacted]")
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseResponse {
    output: Option<ConverseOutput>,
    #[serde(default)]
    stop_reason: String,
    usage: Option<ConverseUsage>,
}

#[derive(Deserialize)]
struct ConverseOutput {
    message: Option<ConverseMessage>,
}

#[derive(Deserialize)]
struct ConverseMessage {
    #[serde(default)]
    content: Vec<ContentBlock>,
}

/// One block of the answer; the kinds read here are `text` and `toolUse` (others, such as
/// `reasoningContent`, are skipped).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContentBlock {
    text: Option<String>,
    tool_use: Option<ToolUse>,
}

#[derive(Deserialize)]
struct ToolUse {
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseUsage {
    input_tokens: u32,
    output_tokens: u32,
}

impl BedrockConverse {
    pub fn new(http: reqwest::Client, config: BedrockConfig, credentials: SharedCredentialsProvider) -> Self {
        // The id is one path segment: `:` and an ARN's `/` are percent-encoded.
        let model = encode_segment(&config.model_id);
        let url = format!("{}/model/{model}/converse", config.endpoint.trim_end_matches('/'));
        BedrockConverse { http, url, config, credentials }
    }

    fn body(&self, system: &str, messages: &[Message], max_tokens: u32, temperature: Option<f32>) -> Value {
        let turns = messages
            .iter()
            .map(|message| json!({ "role": message.role.as_str(), "content": [{ "text": message.text }] }));
        let mut body = json!({
            "messages": turns.collect::<Vec<_>>(),
            "inferenceConfig": { "maxTokens": max_tokens },
        });
        // Bedrock refuses a blank text block, so an empty system prompt is left out.
        if !system.is_empty() {
            body["system"] = json!([{ "text": system }]);
        }
        if let Some(temperature) = temperature {
            body["inferenceConfig"]["temperature"] = json!(temperature);
        }
        body
    }

    /// The answer's blocks and usage, after the retries. A stop by a guardrail or a content filter
    /// is a refusal.
    async fn converse(&self, body: &Value) -> Result<(Vec<ContentBlock>, Option<Usage>), LlmError> {
        let body = body.to_string().into_bytes();
        let response = with_retries("bedrock", &self.config.retry, self.config.timeout, || self.post(&body)).await?;
        match response.stop_reason.as_str() {
            reason @ ("guardrail_intervened" | "content_filtered") => {
                return Err(LlmError::Refused(format!("bedrock: the answer was stopped ({reason})")));
            }
            "max_tokens" => tracing::warn!(model = %self.config.model_id, "an LLM answer was cut at max_tokens"),
            _ => {}
        }
        let usage =
            response.usage.map(|usage| Usage { input_tokens: usage.input_tokens, output_tokens: usage.output_tokens });
        let content = response.output.and_then(|output| output.message).map(|message| message.content);
        Ok((content.unwrap_or_default(), usage))
    }

    /// One attempt, signed afresh: a retry gets a new `x-amz-date` and the current credentials.
    async fn post(&self, body: &[u8]) -> Result<ConverseResponse, LlmError> {
        let mut request = self.http.post(&self.url).header(CONTENT_TYPE, "application/json").body(body.to_vec());
        for (name, value) in self.sign(body).await? {
            request = request.header(name, value);
        }
        let network =
            |error: reqwest::Error| LlmError::Unavailable(format!("bedrock: {}", causes(&error.without_url())));
        let response = request.send().await.map_err(network)?;
        let status = response.status().as_u16();
        let header =
            |name: &str| response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        let wait = retry_after(header("retry-after-ms").as_deref(), header("retry-after").as_deref());
        let error_type = header("x-amzn-errortype");
        let text = response.text().await.map_err(network)?;
        if !(200..300).contains(&status) {
            return Err(bedrock_error(status, wait, error_type.as_deref(), &text));
        }
        serde_json::from_str(&text)
            .map_err(|error| LlmError::Malformed(format!("bedrock: not a Converse response: {error}")))
    }

    /// The SigV4 headers of a POST of `body` to the model: `authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, with temporary credentials, `x-amz-security-token`.
    async fn sign(&self, body: &[u8]) -> Result<Vec<(&'static str, HeaderValue)>, LlmError> {
        // The content type is signed: the request sends exactly this one.
        let headers = [(CONTENT_TYPE.as_str(), "application/json")];
        let post =
            SignedPost { service: "bedrock", region: &self.config.region, url: &self.url, headers: &headers, body };
        sign_post(&self.credentials, &post).await.map_err(|error| match error {
            SigningError::Credentials { message, settings_wrong: true } => {
                LlmError::Refused(format!("bedrock: {message}"))
            }
            SigningError::Credentials { message, .. } => LlmError::Unavailable(format!("bedrock: {message}")),
            SigningError::Unsignable(message) => LlmError::Refused(format!("bedrock: {message}")),
        })
    }
}

/// An error answer: its type in `x-amzn-errortype` (`ThrottlingException:http://internal...`) or
/// in the body's `__type` (`com.amazon.coral...#ThrottlingException`), its text in `message` (or
/// `Message`). The secret key never leaves this process, so Bedrock cannot echo it.
fn bedrock_error(status: u16, retry_after: Option<Duration>, error_type: Option<&str>, body: &str) -> LlmError {
    let body = serde_json::from_str::<Value>(body).unwrap_or(Value::Null);
    let kind = error_type.or(body["__type"].as_str()).unwrap_or_default();
    let kind = kind.split(':').next().unwrap_or_default();
    let kind = kind.rsplit('#').next().unwrap_or_default();
    let message = body["message"].as_str().or(body["Message"].as_str()).unwrap_or("no message");
    let text = scrub(&format!("bedrock: {status} {kind}: {message}"), None);
    match kind {
        "ThrottlingException" => LlmError::Throttled { retry_after },
        "ServiceUnavailableException" | "InternalServerException" | "ModelTimeoutException" => {
            LlmError::Unavailable(text)
        }
        "ValidationException" | "" if status == 400 && overflows(message) => LlmError::TooLong,
        "ValidationException"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "ResourceNotFoundException" => LlmError::Refused(text),
        _ => error_of_status(status, retry_after, text),
    }
}

/// Bedrock tells a request over the model's window only in words, which vary by model: "Input is
/// too long for requested model.", "prompt is too long: 201234 tokens > 200000 maximum", "Too many
/// input tokens.", "The maximum tokens you requested exceeds the model limit".
fn overflows(message: &str) -> bool {
    let message = message.to_lowercase();
    [
        "too long",
        "too many input tokens",
        "max tokens",
        "max_tokens",
        "maximum tokens",
        "context length",
        "context window",
    ]
    .iter()
    .any(|wording| message.contains(wording))
}

/// One URL path segment, percent-encoded as RFC 3986 wants it (all but the unreserved characters).
fn encode_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(char::from(byte)),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

/// The one tool of a structured request, forced: its input schema is the answer's schema, so its
/// input is the answer.
fn answer_tool(name: &str, schema: &Value) -> Value {
    json!({
        "tools": [{
            "toolSpec": {
                "name": name,
                "description": format!("Gives the answer: a `{name}` object matching the input schema."),
                "inputSchema": { "json": schema },
            },
        }],
        "toolChoice": { "tool": { "name": name } },
    })
}

/// The input of the answer tool: an object (some models send it as a JSON string instead).
fn tool_input(name: &str, content: Vec<ContentBlock>) -> Result<Value, LlmError> {
    let answered_in_text = content.iter().any(|block| block.text.is_some());
    let tool_use = content.into_iter().filter_map(|block| block.tool_use).find(|tool_use| tool_use.name == name);
    match tool_use.map(|tool_use| tool_use.input) {
        Some(value @ Value::Object(_)) => Ok(value),
        Some(Value::String(text)) => parse_object("bedrock", &text),
        Some(_) => Err(LlmError::Malformed("bedrock: the tool's input is not an object".to_string())),
        None if answered_in_text => {
            Err(LlmError::Malformed("bedrock: the model answered in text instead of with the tool".to_string()))
        }
        None => Err(LlmError::Malformed("bedrock: no tool use in the answer".to_string())),
    }
}

/// The text blocks of an answer, joined; an answer without any is malformed.
fn text_of(content: Vec<ContentBlock>) -> Result<String, LlmError> {
    let texts: Vec<String> = content.into_iter().filter_map(|block| block.text).collect();
    if texts.is_empty() {
        return Err(LlmError::Malformed("bedrock: no text in the answer".to_string()));
    }
    Ok(texts.concat())
}

#[async_trait::async_trait]
impl LanguageModel for BedrockConverse {
    async fn complete_json(&self, request: &JsonRequest) -> Result<JsonAnswer, LlmError> {
        let schema_text = request.schema.to_string();
        let (system, messages) = (&request.system, &request.messages);
        let input = check_budget(system, messages, &schema_text, request.max_tokens, self.config.context_tokens)?;
        let mut body = self.body(system, messages, request.max_tokens, None);
        body["toolConfig"] = answer_tool(&request.schema_name, &request.schema);
        let (content, usage) = self.converse(&body).await?;
        let value = tool_input(&request.schema_name, content)?;
        let usage =
            usage.unwrap_or_else(|| Usage { input_tokens: input, output_tokens: estimate_tokens(&value.to_string()) });
        Ok(JsonAnswer { value, usage, model: self.config.model_id.clone() })
    }

    async fn complete_text(&self, request: &TextRequest) -> Result<TextAnswer, LlmError> {
        let (system, messages) = (&request.system, &request.messages);
        let input = check_budget(system, messages, "", request.max_tokens, self.config.context_tokens)?;
        let body = self.body(system, messages, request.max_tokens, request.temperature);
        let (content, usage) = self.converse(&body).await?;
        let text = text_of(content)?;
        let usage = usage.unwrap_or_else(|| Usage { input_tokens: input, output_tokens: estimate_tokens(&text) });
        Ok(TextAnswer { text, usage, model: self.config.model_id.clone() })
    }

    fn provider(&self) -> &'static str {
        "bedrock"
    }
}

// ---------------------------------------------------------------------------------------------
// From the settings

/// The model of `LLM_MODEL` when it is blank, per provider.
pub const BEDROCK_DEFAULT_MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";

/// The language model the settings name, or none when no provider is configured. Bedrock is
/// signed with the function's credentials; an OpenAI-compatible key is read from Secrets
/// Manager on first use (`upstream::KeyedClient`), so a background function's cold start reads
/// no secret.
pub fn from_settings(
    settings: &crate::settings::LlmSettings,
    sdk: &crate::state::SdkConfig,
) -> Result<Option<std::sync::Arc<dyn LanguageModel>>, crate::state::InitError> {
    use crate::settings::LlmProvider;
    let Some(provider) = settings.provider else {
        return Ok(None);
    };
    let http = super::http_client()?;
    let model: std::sync::Arc<dyn LanguageModel> = match provider {
        LlmProvider::Bedrock => {
            let (region, credentials) = super::upstream::signing_identity(sdk)?;
            let mut config = BedrockConfig::new(region, settings.model.clone());
            if let Some(endpoint) = &settings.base_url {
                config.endpoint = endpoint.clone();
            }
            std::sync::Arc::new(BedrockConverse::new(http, config, credentials))
        }
        LlmProvider::OpenAi => {
            let base_url = settings.base_url.clone().unwrap_or_else(|| OPENAI_BASE_URL.to_string());
            let model = settings.model.clone();
            let build =
                move |key| OpenAiCompatible::new(http.clone(), OpenAiConfig::new(base_url.clone(), model.clone(), key));
            std::sync::Arc::new(KeyedClient::new(settings.api_key_secret_id.clone(), sdk, build))
        }
    };
    Ok(Some(model))
}

impl KeyedClient<OpenAiCompatible> {
    async fn client(&self) -> Result<&OpenAiCompatible, LlmError> {
        self.get()
            .await
            .map_err(|error| LlmError::Unavailable(format!("openai: the API key could not be read: {error}")))
    }
}

/// An OpenAI-compatible client whose API key is read on its first call. A failed read is
/// `Unavailable`: the job comes back.
#[async_trait::async_trait]
impl LanguageModel for KeyedClient<OpenAiCompatible> {
    async fn complete_json(&self, request: &JsonRequest) -> Result<JsonAnswer, LlmError> {
        self.client().await?.complete_json(request).await
    }

    async fn complete_text(&self, request: &TextRequest) -> Result<TextAnswer, LlmError> {
        self.client().await?.complete_text(request).await
    }

    fn provider(&self) -> &'static str {
        "openai"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_four_characters_a_token() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("ééééé"), 2);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps_retry_after() {
        let policy = RetryPolicy { base_delay: Duration::from_millis(100), ..RetryPolicy::default() };
        for failed in 1..=3 {
            let ceiling = Duration::from_millis(100 * (1 << (failed - 1)));
            let wait = policy.delay(failed, None);
            assert!(wait >= ceiling / 2 && wait <= ceiling, "{wait:?} for failure {failed}");
        }
        assert_eq!(policy.delay(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(60))), policy.max_retry_after);
    }

    #[test]
    fn reads_retry_after() {
        assert_eq!(retry_after(Some("250"), Some("1")), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(None, Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    }

    #[test]
    fn scrubs_secrets_and_unfences_json() {
        assert_eq!(scrub("bad key sk-123", Some("sk-123")), "bad key [redacted]");
        assert_eq!(parse_object("t", "```json\n{\"a\":1}\n```").unwrap(), json!({"a": 1}));
        assert!(matches!(parse_object("t", "[1]"), Err(LlmError::Malformed(_))));
    }

    #[test]
    fn encodes_model_ids_as_one_segment() {
        assert_eq!(
            encode_segment("anthropic.claude-3-5-haiku-20241022-v1:0"),
            "anthropic.claude-3-5-haiku-20241022-v1%3A0"
        );
        assert_eq!(
            encode_segment("arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x"),
            "arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Feu.x"
        );
        let config = BedrockConfig::new("eu-west-1", "m:0");
        assert_eq!(config.endpoint, "https://bedrock-runtime.eu-west-1.amazonaws.com");
    }

    #[test]
    fn reads_bedrock_errors() {
        let header = Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
        let wait = Some(Duration::from_secs(1));
        assert_eq!(bedrock_error(429, wait, header, "{}"), LlmError::Throttled { retry_after: wait });
        let body = r#"{"__type": "com.amazon.coral.service#ServiceUnavailableException", "Message": "down"}"#;
        assert_eq!(
            bedrock_error(503, None, None, body),
            LlmError::Unavailable("bedrock: 503 ServiceUnavailableException: down".into())
        );
        let too_long = r#"{"message": "Input is too long for requested model."}"#;
        assert_eq!(bedrock_error(400, None, Some("ValidationException"), too_long), LlmError::TooLong);
        assert_eq!(bedrock_error(400, None, None, too_long), LlmError::TooLong);
        let invalid = r#"{"message": "The provided model identifier is invalid."}"#;
        assert!(matches!(bedrock_error(400, None, Some("ValidationException"), invalid), LlmError::Refused(_)));
        assert!(matches!(bedrock_error(424, None, Some("ModelErrorException"), "{}"), LlmError::Refused(_)));
        assert!(matches!(bedrock_error(408, None, Some("ModelTimeoutException"), "{}"), LlmError::Unavailable(_)));
        assert!(matches!(bedrock_error(502, None, None, "<html>Bad gateway</html>"), LlmError::Unavailable(_)));
    }

    #[test]
    fn reads_the_answer_tool_and_text() {
        let blocks =
            |content: Value| serde_json::from_value::<ConverseMessage>(json!({ "content": content })).unwrap().content;
        let tool = |input: Value| blocks(json!([{ "toolUse": { "toolUseId": "t", "name": "plan", "input": input } }]));
        assert_eq!(tool_input("plan", tool(json!({ "a": 1 }))).unwrap(), json!({ "a": 1 }));
        assert_eq!(tool_input("plan", tool(json!("{\"a\": 1}"))).unwrap(), json!({ "a": 1 }));
        assert!(matches!(tool_input("plan", tool(json!([1]))), Err(LlmError::Malformed(_))));
        assert!(matches!(tool_input("plan", blocks(json!([{ "text": "{}" }]))), Err(LlmError::Malformed(_))));
        let text = blocks(json!([{ "reasoningContent": {} }, { "text": "a" }, { "text": "b" }]));
        assert_eq!(text_of(text).unwrap(), "ab");
        assert!(matches!(text_of(blocks(json!([]))), Err(LlmError::Malformed(_))));
    }
}
