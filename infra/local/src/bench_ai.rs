//! `flowday-local bench` (part), AI jobs: the release ai-worker binary's cold start (process start
//! to its first batch answered, one breakdown job) and peak memory, and the DynamoDB round trips
//! of each job kind, counted in process by the worker's own store: breakdown, chat and insights
//! from jobs written here, a narration and a voice capture started through their routes (the
//! gateway, in process), as a client starts them. The model and the transcriber are local fakes of
//! the OpenAI-compatible formats, so the figures are ours, not a model's.
//! Reported in docs/performance.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::domain::ai::{AiJobMessage, JobKind, JobStatus};
use shared::domain::plan::PlanLimits;
use shared::domain::task::Task;
use shared::store::ai::JobItem;
use shared::store::credits::Reserved;
use shared::store::{Store, Tenant};

use crate::lambda_process::LambdaProcess;
use crate::llm_fakes::FakeOpenAi;
use crate::transcription_fakes::FakeWhisper;
use crate::{Emulator, LocalStack, Template, workspace_root};

const COLD_STARTS: usize = 10;

pub async fn ai(emulator: &Emulator) -> Result<(), String> {
    let model = FakeOpenAi::start().await;
    let whisper = FakeWhisper::start_keyless().await;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let parameters = HashMap::from([
        ("LlmProvider".to_string(), "openai".to_string()),
        ("LlmBaseUrl".to_string(), format!("{}/v1", model.uri())),
        ("LlmModel".to_string(), FakeOpenAi::MODEL.to_string()),
        (crate::stack::secret_override("LlmApiKeySecret"), FakeOpenAi::API_KEY.to_string()),
        ("TranscriptionBaseUrl".to_string(), format!("{}/v1", whisper.uri())),
    ]);
    let stack =
        LocalStack::create(&emulator.endpoint(), "benchai", template, parameters).await.map_err(|e| e.to_string())?;
    let env = stack.env("ai-worker").map_err(|error| error.to_string())?;
    let state = Arc::new(ai_worker::state(&env, &stack.sdk).map_err(|error| error.to_string())?);
    let (token, user_id) = crate::bench::signup(&stack, "thinker").await?;
    println!("\n## AI jobs (ai-worker, the model a local OpenAI-compatible fake)\n");
    cold_starts(&stack, &state.store, &model, &user_id).await?;
    round_trips(&state, &model, &user_id).await?;
    let gateway = crate::gateway::gateway_router(&stack).await.map_err(|error| error.to_string())?;
    let client = Client { gateway, token };
    narration_round_trips(&state, &model, &client, &user_id).await?;
    voice_capture_round_trips(&stack, &state, &model, &whisper, &client, &user_id).await
}

/// A breakdown job of a new task, with its credit reserved: the message that runs it.
async fn breakdown_job(store: &Store, user_id: &str, title: &str) -> Result<AiJobMessage, String> {
    let now = chrono::Utc::now();
    let mut task = Task::new(ulid::Ulid::new().to_string(), now);
    task.title = title.to_string();
    task.estimate_minutes = Some(240);
    task.subtasks = Some(Default::default());
    let limits = PlanLimits { open_tasks: 10_000, ..shared::domain::plan::limits(Default::default()) };
    store.tasks().create_task(&Tenant::user(user_id), &task, &[], limits, &[]).await.map_err(|e| format!("{e:?}"))?;
    job(store, user_id, JobKind::Breakdown, json!({ "task_id": task.id })).await
}

async fn job(store: &Store, user_id: &str, kind: JobKind, input: Value) -> Result<AiJobMessage, String> {
    let now = chrono::Utc::now();
    let day = shared::domain::credits::today(now, "Europe/Berlin").to_string();
    let job = JobItem::queued(user_id, ulid::Ulid::new().to_string(), kind, &input, 1, day);
    // One credit each, from the bench user's kickstart and daily credits (13 jobs in all).
    match store.credits().reserve_for_job(&job, 1, now, "Europe/Berlin", 3).await.map_err(|e| e.to_string())? {
        Reserved::Taken(_) => Ok(AiJobMessage::new(user_id, &job.id)),
        Reserved::Insufficient(_) => Err("no credits".into()),
    }
}

fn batch(message: &AiJobMessage) -> Value {
    let id = ulid::Ulid::new().to_string();
    json!({ "Records": [{
        "messageId": id, "receiptHandle": id, "body": serde_json::to_string(message).unwrap_or_default(),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs", "awsRegion": "us-east-1",
    }]})
}

fn steps() -> Value {
    json!({"subtasks": [
        {"title": "Gather the material", "estimate_minutes": 30},
        {"title": "Write the first draft", "estimate_minutes": 90},
        {"title": "Revise and send", "estimate_minutes": 45},
    ]})
}

async fn cold_starts(stack: &LocalStack, store: &Store, model: &FakeOpenAi, user_id: &str) -> Result<(), String> {
    let binary = workspace_root().join("target/release/ai-worker");
    let mut samples = Vec::new();
    let mut peak = 0;
    for round in 0..COLD_STARTS {
        let message = breakdown_job(store, user_id, &format!("Cold start {round}")).await?;
        model.reply_json(steps());
        let process = LambdaProcess::start(&binary, "ai-worker", stack).await.map_err(|e| e.to_string())?;
        let answer = process.invoke(batch(&message)).await?;
        samples.push(process.started().elapsed());
        peak = peak.max(process.peak_memory_kib().unwrap_or(0));
        process.stop().await;
        if answer["batchItemFailures"] != json!([]) {
            return Err(format!("the job failed: {answer}"));
        }
    }
    samples.sort();
    println!(
        "- Cold start of the release ai-worker (process start to a one-breakdown batch answered, {COLD_STARTS} \
         runs): min {}, median {}, max {}; peak memory {:.1} MB",
        ms(samples[0]),
        ms(samples[COLD_STARTS / 2]),
        ms(samples[COLD_STARTS - 1]),
        peak as f64 / 1024.0
    );
    Ok(())
}

/// Each kind's job run in process once, fresh, then delivered again (a duplicate).
async fn round_trips(state: &Arc<ai_worker::AiWorkerState>, model: &FakeOpenAi, user_id: &str) -> Result<(), String> {
    let store = &state.store;
    println!("- DynamoDB round trips per job (in process; the model call and the SQS notice not counted):");
    let kinds: [(&str, AiJobMessage); 3] = [
        ("breakdown (3 subtasks)", breakdown_job(store, user_id, "Round trips").await?),
        (
            "chat (a new conversation)",
            job(
                store,
                user_id,
                JobKind::Chat,
                json!({"conversation_id": ulid::Ulid::new().to_string(), "message": "What first?"}),
            )
            .await?,
        ),
        ("insights", job(store, user_id, JobKind::Insights, json!({"week": "last_7_days"})).await?),
    ];
    for (name, message) in kinds {
        if name.starts_with("breakdown") {
            model.reply_json(steps());
        } else if name == "insights" {
            model.reply_text("A calm week.");
        }
        let (fresh, elapsed) = run_counted(state, &message).await?;
        let (again, _) = run_counted(state, &message).await?;
        println!("  - {name}: {fresh} ({} in all), delivered again: {again}", ms(elapsed));
    }
    Ok(())
}

/// The bench user calling the local gateway in process, as an app would.
struct Client {
    gateway: axum::Router,
    token: String,
}

impl Client {
    /// POSTs `body` with an Idempotency-Key; the answer's status and JSON body.
    async fn post(&self, path: &str, body: Value) -> Result<(u16, Value), String> {
        use tower::ServiceExt;
        let request = axum::http::Request::post(path)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("idempotency-key", ulid::Ulid::new().to_string())
            .body(axum::body::Body::from(body.to_string()))
            .map_err(|error| error.to_string())?;
        let response = self.gateway.clone().oneshot(request).await.map_err(|error| error.to_string())?;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.map_err(|error| error.to_string())?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}

/// A narration of tomorrow's plan (one task), asked for with `POST /v1/plans?narrate=true`.
async fn narration_round_trips(
    state: &Arc<ai_worker::AiWorkerState>,
    model: &FakeOpenAi,
    client: &Client,
    user_id: &str,
) -> Result<(), String> {
    let (status, task) = client.post("/v1/tasks", json!({"title": "Write the report", "estimate_minutes": 60})).await?;
    if status != 201 {
        return Err(format!("the task was not made: {status} {task}"));
    }
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let (status, plan) = client.post("/v1/plans?narrate=true", json!({"date": tomorrow})).await?;
    let job_id = plan["narration_job"]["id"].as_str().ok_or(format!("no narration job: {status} {plan}"))?;
    let message = AiJobMessage::new(user_id, job_id);
    model.reply_text("A calm day that leaves room to think.");
    let (fresh, elapsed) = run_counted(state, &message).await?;
    let (again, _) = run_counted(state, &message).await?;
    println!("  - narration (a one-task plan): {fresh} ({} in all), delivered again: {again}", ms(elapsed));
    Ok(())
}

/// A voice note of 61 s (two credits) by a Pro user: started with `POST /v1/ai/transcriptions`,
/// uploaded with the answer's presigned PUT, then transcribed and read into a task.
async fn voice_capture_round_trips(
    stack: &LocalStack,
    state: &Arc<ai_worker::AiWorkerState>,
    model: &FakeOpenAi,
    whisper: &FakeWhisper,
    client: &Client,
    user_id: &str,
) -> Result<(), String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.physical_id("Table").unwrap_or_default())
        .key("PK", AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", AttributeValue::S("PROFILE".into()))
        .update_expression("SET tier = :tier")
        .expression_attribute_values(":tier", AttributeValue::S("pro".into()))
        .send()
        .await
        .map_err(|error| format!("{error:?}"))?;
    let audio = vec![7u8; 4096];
    let note = json!({"content_type": "audio/mp4", "size_bytes": audio.len(), "duration_seconds": 61});
    let (status, started) = client.post("/v1/ai/transcriptions", note).await?;
    let job_id = started["job"]["id"].as_str().ok_or(format!("no voice capture job: {status} {started}"))?;
    let upload = &started["upload"];
    let mut put = reqwest::Client::new().put(upload["url"].as_str().unwrap_or_default()).body(audio);
    for (name, value) in upload["headers"].as_object().into_iter().flatten() {
        put = put.header(name.as_str(), value.as_str().unwrap_or_default());
    }
    let uploaded = put.send().await.map_err(|error| error.to_string())?;
    if !uploaded.status().is_success() {
        return Err(format!("the upload failed: {}", uploaded.status()));
    }
    whisper.reply_text("Call the dentist tomorrow, it's urgent.");
    model.reply_json(json!({"title": "Call the dentist", "priority": "urgent"}));
    let message = AiJobMessage { waits_for_upload: true, ..AiJobMessage::new(user_id, job_id) };
    let (fresh, elapsed) = run_counted(state, &message).await?;
    let (again, _) = run_counted(state, &message).await?;
    println!(
        "  - voice capture (a 61 s note; the transcriber's call and S3's HEAD and DELETE not counted): {fresh} ({} \
         in all), delivered again: {again}",
        ms(elapsed)
    );
    Ok(())
}

async fn run_counted(state: &Arc<ai_worker::AiWorkerState>, message: &AiJobMessage) -> Result<(u64, Duration), String> {
    let before = state.store.round_trips.count();
    let started = Instant::now();
    let answer = ai_worker::handle(state.clone(), batch(message)).await.map_err(|error| error.to_string())?;
    let elapsed = started.elapsed();
    if answer["batchItemFailures"] != json!([]) {
        return Err(format!("the job came back: {answer}"));
    }
    let counted = state.store.round_trips.count() - before;
    // Counted only for a job that did its work: a failed one stops early and costs less.
    let job = state.store.ai().get(&message.user_id, &message.job_id).await.map_err(|error| error.to_string())?;
    match job {
        Some(job) if job.status == JobStatus::Succeeded => Ok((counted, elapsed)),
        Some(job) => Err(format!("the {} job did not succeed: {:?} {:?}", job.kind.as_str(), job.status, job.error)),
        None => Err(format!("no job {}", message.job_id)),
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Only the AI part (`bench ai`).
pub async fn ai_only() -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    ai(&emulator).await
}
