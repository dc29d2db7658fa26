//! AI in tests: a stack whose language model is a local fake speaking OpenAI's wire format, and
//! ai-worker run on what waits on the `ai-jobs` queue, as its SQS event source would.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::TestStack;

use flowday_local::llm_fakes::FakeOpenAi;

impl TestStack {
    /// A stack whose model is `fake` (OpenAI-compatible, with its key in the local secret).
    pub async fn with_llm() -> (TestStack, FakeOpenAi) {
        Self::with_llm_and(HashMap::new()).await
    }

    /// `with_llm`, with more template parameters.
    pub async fn with_llm_and(more: HashMap<String, String>) -> (TestStack, FakeOpenAi) {
        let fake = FakeOpenAi::start().await;
        let mut parameters = HashMap::from([
            ("LlmProvider".to_string(), "openai".to_string()),
            ("LlmBaseUrl".to_string(), format!("{}/v1", fake.uri())),
            ("LlmModel".to_string(), FakeOpenAi::MODEL.to_string()),
            (flowday_local::stack::secret_override("LlmApiKeySecret"), FakeOpenAi::API_KEY.to_string()),
        ]);
        parameters.extend(more);
        (TestStack::with_parameters(parameters).await, fake)
    }

    /// Takes every message waiting on the `ai-jobs` queue (bodies as JSON).
    pub async fn ai_messages(&self) -> Vec<Value> {
        self.drain_queue("AiJobsQueue").await
    }

    /// Receives one message of the `ai-jobs` queue as Lambda's event source does (its real
    /// receipt handle, the message then invisible for the queue's visibility timeout) and runs
    /// ai-worker on it: answers the ids of the records handed back.
    pub async fn run_ai_worker_on_one_received(&self) -> Vec<String> {
        let client = aws_sdk_sqs::Client::new(&self.stack.sdk);
        let url = self.stack.physical_id("AiJobsQueue").expect("the ai-jobs queue");
        let received = client.receive_message().queue_url(&url).send().await.expect("the queue answers");
        let message = received.messages.unwrap_or_default().into_iter().next().expect("a message waits");
        let record = json!({
            "messageId": message.message_id, "receiptHandle": message.receipt_handle, "body": message.body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        });
        let answer = self.gateway.jobs.invoke("ai-worker", json!({ "Records": [record] })).await;
        let failures = answer.expect("the worker runs")["batchItemFailures"].as_array().cloned().unwrap_or_default();
        failures.iter().filter_map(|failure| failure["itemIdentifier"].as_str().map(str::to_string)).collect()
    }

    /// Seconds until a message of the `ai-jobs` queue can be received (polling up to `limit`).
    pub async fn seconds_until_an_ai_message(&self, limit: std::time::Duration) -> Option<f64> {
        let client = aws_sdk_sqs::Client::new(&self.stack.sdk);
        let url = self.stack.physical_id("AiJobsQueue").expect("the ai-jobs queue");
        let started = std::time::Instant::now();
        while started.elapsed() < limit {
            let received =
                client.receive_message().queue_url(&url).wait_time_seconds(2).send().await.expect("the queue answers");
            if !received.messages.unwrap_or_default().is_empty() {
                return Some(started.elapsed().as_secs_f64());
            }
        }
        None
    }

    /// Runs ai-worker on `bodies`, each received `receives` times before: answers the ids of the
    /// records it handed back to the queue.
    pub async fn run_ai_worker_on(&self, bodies: &[Value], receives: u32) -> Vec<String> {
        let records: Vec<Value> = bodies
            .iter()
            .map(|body| {
                let id = ulid::Ulid::new().to_string();
                json!({
                    "messageId": id, "receiptHandle": id, "body": body.to_string(),
                    "attributes": {"ApproximateReceiveCount": receives.to_string()}, "messageAttributes": {},
                    "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                })
            })
            .collect();
        let answer = self.gateway.jobs.invoke("ai-worker", json!({ "Records": records })).await;
        let answer = answer.expect("the worker runs");
        let failures = answer["batchItemFailures"].as_array().cloned().unwrap_or_default();
        failures.iter().filter_map(|failure| failure["itemIdentifier"].as_str().map(str::to_string)).collect()
    }

    /// Runs ai-worker on every message waiting, received once; answers the messages it ran.
    pub async fn run_ai_worker(&self) -> Vec<Value> {
        let bodies = self.ai_messages().await;
        if !bodies.is_empty() {
            let failed = self.run_ai_worker_on(&bodies, 1).await;
            assert!(failed.is_empty(), "every AI job finished: {failed:?}");
        }
        bodies
    }
}
