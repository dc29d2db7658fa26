//! The background functions' triggers, run locally in the gateway's process: their schedules, their
//! SQS queues, and `POST /_local/invoke/{function}` (api.md "Local only"), which runs one once.
//!
//! The contract every background crate keeps: it exposes `pub fn state(env, sdk)` and
//! `pub async fn handle(state: Arc<State>, event: serde_json::Value) -> Result<serde_json::Value, lambda_runtime::Error>`,
//! and its main.rs hands exactly those to `shared::jobs::run`; the registry (`functions.rs`) binds
//! the same pair into a `JobHandler` here. So the event a function gets here is the
//! JSON Lambda would give it (the schedule's input; an SQS batch as `SqsEvent`), and its answer is
//! read as Lambda reads it (an SQS consumer's `SqsBatchResponse`: partial batch failures).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::Value;
use shared::http::ApiError;
use shared::jobs::JobHandler;
use tokio::task::JoinHandle;

use crate::functions::{BACKGROUND_FUNCTIONS, Trigger};
use crate::stack::{LocalStack, REGION, StackError};
use crate::template::Template;

/// A background function ready to run: its name, its trigger, and its handler with its state.
#[derive(Clone)]
pub struct Job {
    pub binary: &'static str,
    pub trigger: Trigger,
    pub handler: JobHandler,
}

/// The background functions, each built once as its Lambda builds it.
#[derive(Clone)]
pub struct Jobs {
    jobs: Arc<Vec<Job>>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("no background function is named {0}")]
    UnknownFunction(String),
    #[error("{0}")]
    Failed(String),
}

impl Jobs {
    /// Every function of `BACKGROUND_FUNCTIONS`, with the environment template.yaml gives it.
    pub fn build(stack: &LocalStack) -> Result<Self, StackError> {
        let mut jobs = Vec::new();
        for function in BACKGROUND_FUNCTIONS {
            jobs.push(Job {
                binary: function.binary,
                trigger: function.trigger,
                handler: stack.job_handler(function.binary)?,
            });
        }
        Ok(Self::from_jobs(jobs))
    }

    /// Any set of jobs (tests register their own).
    pub fn from_jobs(jobs: Vec<Job>) -> Self {
        Jobs { jobs: Arc::new(jobs) }
    }

    pub fn get(&self, binary: &str) -> Option<&Job> {
        self.jobs.iter().find(|job| job.binary == binary)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Job> {
        self.jobs.iter()
    }

    /// Runs the function once on `event`, as one Lambda invocation.
    pub async fn invoke(&self, binary: &str, event: Value) -> Result<Value, InvokeError> {
        let job = self.get(binary).ok_or_else(|| InvokeError::UnknownFunction(binary.into()))?;
        (job.handler)(event).await.map_err(|error| InvokeError::Failed(error.to_string()))
    }
}

// ---------------------------------------------------------------- POST /_local/invoke/{function}

/// `POST /_local/invoke/{function}`: only the local gateway merges it (it is never in template.yaml).
pub fn invoke_router(jobs: Jobs) -> Router {
    let route = axum::routing::post(invoke).fallback(shared::http::layers::method_not_allowed);
    Router::new()
        .route("/_local/invoke/{function}", route)
        .with_state(jobs)
        .layer(axum::middleware::from_fn(shared::http::layers::request_envelope))
}

async fn invoke(State(jobs): State<Jobs>, Path(function): Path<String>, body: Bytes) -> Response {
    let event = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(event) => event,
            Err(error) => {
                let detail = format!("the body is not a JSON event: {error}");
                return ApiError::bad_request("malformed_json", detail).into_response();
            }
        }
    };
    match jobs.invoke(&function, event).await {
        Ok(result) => axum::Json(result).into_response(),
        Err(InvokeError::UnknownFunction(_)) => {
            let known: Vec<&str> = jobs.iter().map(|job| job.binary).collect();
            let detail = format!("no background function {function}; known: {}", known.join(", "));
            ApiError::new(StatusCode::NOT_FOUND, "not_found", detail).into_response()
        }
        Err(InvokeError::Failed(error)) => {
            tracing::error!(function = %function, %error, "local invocation failed");
            // Local only: the error text is what the engineer invoking it needs.
            let detail = format!("{function} failed: {error}");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "function_failed", detail).into_response()
        }
    }
}

// ---------------------------------------------------------------- schedules

/// Runs `handler` every `period` (the first run one period from now), as EventBridge would.
pub async fn run_on_schedule(name: &'static str, period: Duration, handler: JobHandler, input: Value) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match handler(input.clone()).await {
            Ok(_) => tracing::info!(function = name, "scheduled run finished"),
            Err(error) => tracing::error!(function = name, %error, "scheduled run failed"),
        }
    }
}

/// The input a function's schedule passes (its `Input` in template.yaml), else `{}`.
pub fn schedule_input(template: &Template, binary: &str) -> Value {
    let Some(id) = template.function_by_binary(binary) else {
        return serde_json::json!({});
    };
    template
        .events_of(&id)
        .into_iter()
        .filter(|(_, event)| matches!(event["Type"].as_str(), Some("ScheduleV2" | "Schedule")))
        .find_map(|(_, event)| serde_json::from_str(event["Properties"]["Input"].as_str()?).ok())
        .unwrap_or_else(|| serde_json::json!({}))
}

/// How many records a function's SQS event source hands it at once (its `BatchSize` in
/// template.yaml; Lambda's default, 10, when none is given).
pub fn queue_batch_size(template: &Template, binary: &str) -> i32 {
    let Some(id) = template.function_by_binary(binary) else { return 10 };
    template
        .events_of(&id)
        .into_iter()
        .filter(|(_, event)| event["Type"].as_str() == Some("SQS"))
        .find_map(|(_, event)| event["Properties"]["BatchSize"].as_i64())
        .map_or(10, |size| size.clamp(1, 10) as i32)
}

/// A trigger as template.yaml declares it, for the parity test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeclaredTrigger {
    Schedule(Duration),
    Queue(String),
}

impl Trigger {
    pub fn declared(self) -> DeclaredTrigger {
        match self {
            Trigger::Schedule(period) => DeclaredTrigger::Schedule(period),
            Trigger::Queue(queue) => DeclaredTrigger::Queue(queue.to_string()),
        }
    }
}

/// The triggers template.yaml gives the function `function_id`: schedules (`rate(...)`) and SQS
/// event sources (`Queue: !GetAtt <Queue>.Arn`). A schedule it cannot read is reported as an error.
pub fn declared_triggers(template: &Template, function_id: &str) -> Result<Vec<DeclaredTrigger>, String> {
    let mut triggers = Vec::new();
    for (name, event) in template.events_of(function_id) {
        match event["Type"].as_str() {
            Some("ScheduleV2" | "Schedule") => {
                let expression = event["Properties"]["ScheduleExpression"].as_str().unwrap_or_default();
                let period = rate_period(expression)
                    .ok_or_else(|| format!("{function_id}.{name}: the local stack runs rate(...) schedules only"))?;
                triggers.push(DeclaredTrigger::Schedule(period));
            }
            Some("SQS") => {
                let queue = match &event["Properties"]["Queue"] {
                    serde_yaml::Value::Tagged(tagged) if tagged.tag == "GetAtt" => match &tagged.value {
                        serde_yaml::Value::String(text) => text.split_once('.').map(|(id, _)| id.to_string()),
                        serde_yaml::Value::Sequence(parts) => {
                            parts.first().and_then(|id| id.as_str()).map(String::from)
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let queue = queue.ok_or_else(|| format!("{function_id}.{name}: Queue must be !GetAtt <Queue>.Arn"))?;
                triggers.push(DeclaredTrigger::Queue(queue));
            }
            _ => {}
        }
    }
    Ok(triggers)
}

/// `rate(1 hour)`, `rate(5 minutes)`, `rate(1 day)`.
pub fn rate_period(expression: &str) -> Option<Duration> {
    let inner = expression.trim().strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok().filter(|count| *count > 0)?;
    let seconds = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(count * seconds))
}

// ---------------------------------------------------------------- SQS queue consumers

/// Polls one queue and hands each batch to a function as Lambda's SQS event source mapping does,
/// with `ReportBatchItemFailures`: the records the function reports as failed (or the whole batch,
/// when it fails or answers something unreadable) stay in the queue, to come back after the
/// visibility timeout, and after `maxReceiveCount` receives the queue's redrive policy moves them
/// to its DLQ. The others are deleted.
#[derive(Clone)]
pub struct QueueConsumer {
    /// The function's name, for logs.
    pub function: String,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub handler: JobHandler,
    /// How long one ReceiveMessage waits for messages (long polling).
    pub wait: Duration,
    /// Records per invocation at most (the event source's `BatchSize`, 1 to 10).
    pub batch_size: i32,
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub received: usize,
    pub deleted: usize,
    /// Message ids left in the queue.
    pub failed: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConsumerError(String);

fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: aws_sdk_sqs::error::SdkError<E, R>,
) -> ConsumerError {
    ConsumerError(aws_sdk_sqs::error::DisplayErrorContext(&error).to_string())
}

impl QueueConsumer {
    /// One ReceiveMessage (up to `batch_size` messages, all system attributes) and, if anything
    /// came, one invocation and the deletion of the records that succeeded.
    pub async fn poll_once(&self) -> Result<BatchOutcome, ConsumerError> {
        let output = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(self.wait.as_secs().clamp(0, 20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sdk_error)?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let event = sqs_event(&messages, &self.queue_arn);
        let ids: Vec<String> = messages.iter().map(|message| message.message_id.clone().unwrap_or_default()).collect();
        let payload = serde_json::to_value(&event).map_err(|error| ConsumerError(error.to_string()))?;
        let failed: HashSet<String> = match (self.handler)(payload).await {
            Ok(answer) => failed_records(&answer, &ids).unwrap_or_else(|problem| {
                tracing::error!(function = %self.function, %problem, "the batch answer is not a batch response; the whole batch is retried");
                ids.iter().cloned().collect()
            }),
            Err(error) => {
                tracing::error!(function = %self.function, %error, "the batch failed; it is retried after the visibility timeout");
                ids.iter().cloned().collect()
            }
        };
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter(|(_, message)| !failed.contains(message.message_id.as_deref().unwrap_or_default()))
            .filter_map(|(index, message)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(message.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        let mut deleted = 0;
        if !entries.is_empty() {
            let output = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk_error)?;
            deleted = output.successful.len();
            for failure in output.failed {
                tracing::warn!(function = %self.function, entry = %failure.id, code = %failure.code, "a processed message could not be deleted; it will come again");
            }
        }
        let failed = ids.into_iter().filter(|id| failed.contains(id)).collect();
        Ok(BatchOutcome { received: messages.len(), deleted, failed })
    }

    /// Polls for ever; an error (the emulator restarting, say) is logged and retried a second later.
    pub async fn run(self) {
        loop {
            match self.poll_once().await {
                Ok(outcome) if outcome.received > 0 => tracing::info!(
                    function = %self.function,
                    received = outcome.received,
                    failed = outcome.failed.len(),
                    "queue batch handled"
                ),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(function = %self.function, %error, "polling the queue failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// The batch as Lambda's SQS event source delivers it.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    for message in messages {
        let mut record = SqsMessage::default();
        record.message_id = message.message_id.clone();
        record.receipt_handle = message.receipt_handle.clone();
        record.body = message.body.clone();
        record.md5_of_body = message.md5_of_body.clone();
        record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
        record.attributes = message
            .attributes
            .iter()
            .flatten()
            .map(|(name, value)| (name.as_str().to_string(), value.clone()))
            .collect();
        for (name, value) in message.message_attributes.iter().flatten() {
            let mut attribute = SqsMessageAttribute::default();
            attribute.string_value = value.string_value.clone();
            attribute.binary_value = value.binary_value.clone().map(base64_data);
            attribute.string_list_values = value.string_list_values.clone().unwrap_or_default();
            attribute.binary_list_values =
                value.binary_list_values.clone().unwrap_or_default().into_iter().map(base64_data).collect();
            attribute.data_type = Some(value.data_type.clone());
            record.message_attributes.insert(name.clone(), attribute);
        }
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = Some(queue_arn.to_string());
        record.aws_region = Some(REGION.into());
        event.records.push(record);
    }
    event
}

fn base64_data(blob: aws_smithy_types::Blob) -> Base64Data {
    let mut data = Base64Data::default();
    *data = blob.into_inner();
    data
}

/// The records a function's answer reports as failed, as Lambda reads it: `null`, `{}` or an empty
/// or null `batchItemFailures` mean all succeeded; an answer that is not a batch response, or that
/// names an empty or unknown message id, fails the whole batch (`Err`).
pub fn failed_records(answer: &Value, ids: &[String]) -> Result<HashSet<String>, String> {
    let empty = match answer {
        Value::Null => true,
        Value::Object(fields) => fields.get("batchItemFailures").is_none_or(Value::is_null),
        _ => false,
    };
    if empty {
        return Ok(HashSet::new());
    }
    let response: SqsBatchResponse =
        serde_json::from_value(answer.clone()).map_err(|error| format!("not an SqsBatchResponse: {error}"))?;
    let mut failed = HashSet::new();
    for failure in response.batch_item_failures {
        if failure.item_identifier.is_empty() || !ids.contains(&failure.item_identifier) {
            return Err(format!("itemIdentifier {:?} is not a message of the batch", failure.item_identifier));
        }
        failed.insert(failure.item_identifier);
    }
    Ok(failed)
}

// ---------------------------------------------------------------- all of them

/// The running schedule and queue loops; dropping it stops them.
pub struct Triggers {
    handles: Vec<JoinHandle<()>>,
}

impl Drop for Triggers {
    fn drop(&mut self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

/// Starts every schedule and every queue consumer of `jobs` on the stack's resources.
pub fn start(stack: &LocalStack, jobs: &Jobs) -> Result<Triggers, StackError> {
    let mut handles = Vec::new();
    for job in jobs.iter() {
        let name = job.binary;
        match job.trigger {
            Trigger::Schedule(period) => {
                let input = schedule_input(&stack.template, name);
                handles.push(tokio::spawn(run_on_schedule(name, period, job.handler.clone(), input)));
            }
            Trigger::Queue(queue) => {
                let missing = |what: &str| StackError::Init {
                    function: name.into(),
                    reason: format!("queue {queue} has no {what} in the local stack"),
                };
                let consumer = QueueConsumer {
                    function: name.to_string(),
                    sqs: aws_sdk_sqs::Client::new(&stack.sdk),
                    queue_url: stack.physical_id(queue).ok_or_else(|| missing("URL"))?,
                    queue_arn: stack.physical_attribute(queue, "Arn").ok_or_else(|| missing("ARN"))?,
                    handler: job.handler.clone(),
                    wait: Duration::from_secs(2),
                    batch_size: queue_batch_size(&stack.template, name),
                };
                handles.push(tokio::spawn(consumer.run()));
            }
        }
    }
    Ok(Triggers { handles })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["m1".into(), "m2".into()]
    }

    #[test]
    fn a_batch_answer_is_read_as_lambda_reads_it() {
        for success in [Value::Null, serde_json::json!({}), serde_json::json!({"batchItemFailures": []})] {
            assert!(failed_records(&success, &ids()).unwrap().is_empty(), "{success}");
        }
        assert!(failed_records(&serde_json::json!({"batchItemFailures": null}), &ids()).unwrap().is_empty());
        let mut partial = SqsBatchResponse::default();
        partial.add_failure("m2");
        let partial = serde_json::to_value(partial).unwrap();
        assert_eq!(failed_records(&partial, &ids()).unwrap(), HashSet::from(["m2".to_string()]));
        for whole in [
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m9"}]}),
            serde_json::json!({"batchItemFailures": [{"id": "m1"}]}),
            serde_json::json!("ok"),
        ] {
            assert!(failed_records(&whole, &ids()).is_err(), "{whole}");
        }
    }

    #[test]
    fn rates_read_as_periods() {
        assert_eq!(rate_period("rate(1 hour)"), Some(Duration::from_secs(3600)));
        assert_eq!(rate_period("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(rate_period("rate(5 minutes)"), Some(Duration::from_secs(300)));
        assert_eq!(rate_period("rate(2 days)"), Some(Duration::from_secs(172_800)));
        assert_eq!(rate_period("cron(0 8 * * ? *)"), None);
        assert_eq!(rate_period("rate(0 hours)"), None);
    }

    #[test]
    fn an_sqs_batch_has_lambdas_shape() {
        let message = aws_sdk_sqs::types::Message::builder()
            .message_id("m1")
            .receipt_handle("r1")
            .body("{\"v\":1}")
            .md5_of_body("abc")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .message_attributes(
                "kind",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("reminder")
                    .build()
                    .unwrap(),
            )
            .build();
        let event = serde_json::to_value(sqs_event(&[message], "arn:aws:sqs:us-east-1:123456789012:q")).unwrap();
        let record = &event["Records"][0];
        assert_eq!(record["messageId"], "m1");
        assert_eq!(record["receiptHandle"], "r1");
        assert_eq!(record["body"], "{\"v\":1}");
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(record["messageAttributes"]["kind"]["stringValue"], "reminder");
        assert_eq!(record["messageAttributes"]["kind"]["dataType"], "String");
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(record["eventSourceARN"], "arn:aws:sqs:us-east-1:123456789012:q");
        assert_eq!(record["awsRegion"], "us-east-1");
        let parsed: SqsEvent = serde_json::from_value(event).unwrap();
        assert_eq!(parsed.records[0].message_id.as_deref(), Some("m1"));
    }
}
