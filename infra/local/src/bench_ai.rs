//! `flowday-local bench` (part), AI jobs: the release ai-worker binary's cold start (process start
//! to its first batch answered, one breakdown job) and peak memory, and the DynamoDB round trips
//! of each job kind (breakdown, chat, insights), counted in process by the worker's own store.
//! The model is the local OpenAI-compatible fake, so the figures are ours, not a model's.
//! Reported in docs/performance.md.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::domain::ai::{AiJobMessage, JobKind};
use shared::domain::plan::PlanLimits;
use shared::domain::task::Task;
use shared::store::ai::JobItem;
use shared::store::credits::Reserved;
use shared::store::{Store, Tenant};

use crate::lambda_process::LambdaProcess;
use crate::llm_fakes::FakeOpenAi;
use crate::{Emulator, LocalStack, Template, workspace_root};

const COLD_STARTS: usize = 10;

pub async fn ai(emulator: &Emulator) -> Result<(), String> {
    let model = FakeOpenAi::start().await;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let parameters = HashMap::from([
        ("LlmProvider".to_string(), "openai".to_string()),
        ("LlmBaseUrl".to_string(), format!("{}/v1", model.uri())),
        ("LlmModel".to_string(), FakeOpenAi::MODEL.to_string()),
        (crate::stack::secret_override("LlmApiKeySecret"), FakeOpenAi::API_KEY.to_string()),
    ]);
    let stack =
        LocalStack::create(&emulator.endpoint(), "benchai", template, parameters).await.map_err(|e| e.to_string())?;
    let env = stack.env("ai-worker").map_err(|error| error.to_string())?;
    let state = Arc::new(ai_worker::state(&env, &stack.sdk).map_err(|error| error.to_string())?);
    let user_id = crate::bench::signup(&stack, "thinker").await?.1;
    println!("\n## AI jobs (ai-worker, the model a local OpenAI-compatible fake)\n");
    cold_starts(&stack, &state.store, &model, &user_id).await?;
    round_trips(&state, &model, &user_id).await
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

async fn run_counted(state: &Arc<ai_worker::AiWorkerState>, message: &AiJobMessage) -> Result<(u64, Duration), String> {
    let before = state.store.round_trips.count();
    let started = Instant::now();
    let answer = ai_worker::handle(state.clone(), batch(message)).await.map_err(|error| error.to_string())?;
    let elapsed = started.elapsed();
    if answer["batchItemFailures"] != json!([]) {
        return Err(format!("the job failed: {answer}"));
    }
    Ok((state.store.round_trips.count() - before, elapsed))
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Only the AI part (`bench ai`).
pub async fn ai_only() -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    ai(&emulator).await
}
