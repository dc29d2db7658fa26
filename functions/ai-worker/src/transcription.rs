//! A voice capture job: the client uploads its audio note with the presigned URL api-ai gave it;
//! until it has arrived the job's message comes back later, without starting the job (until
//! the upload URL has expired: then the job fails and refunds). The audio is transcribed (Amazon
//! Transcribe, or an OpenAI-compatible server); the transcript is kept on the job and the audio
//! deleted; then the model turns the transcript into one task (title, due date or time read in
//! the user's zone, priority), validated like every model answer. A run after a crash or a
//! throttled model starts from the kept transcript, and the task's id derives from the job's, so
//! it is made once. Audio longer than the client declared (and paid for) makes no task.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;
use shared::domain::ai::{
    AiJobMessage, JobKind, VoiceDue, derived_id, validate_voice_task, voice_task_schema, voice_task_system,
};
use shared::domain::plan::limits;
use shared::domain::task::Task;
use shared::integrations::llm::{JsonRequest, LanguageModel, Message};
use shared::integrations::transcription::{Audio, TranscribeError, Transcriber};
use shared::store::ai::{JobItem, JobUsage};
use shared::store::{Tenant, WriteError};

use crate::{AiWorkerState, ComeBack, Made, RunError};

/// How long a client has to upload (api-ai's presigned PUT lives 15 minutes), with a margin.
pub const UPLOAD_WINDOW_SECONDS: i64 = 16 * 60;
const ASKS: usize = 2;

/// What the upload of a voice capture came to.
pub enum Upload {
    Arrived,
    /// Not yet: the message was queued again, to come back after a while.
    Waiting,
    /// The upload URL expired without an upload.
    Missed,
}

/// Before a voice capture starts: is its audio there? If not, its message comes back later.
pub async fn upload(state: &AiWorkerState, message: &AiJobMessage, now: DateTime<Utc>) -> Result<Upload, ComeBack> {
    let Some(job) = state.store.ai().get(&message.user_id, &message.job_id).await? else {
        return Ok(Upload::Arrived); // `start` finds it missing and drops the message.
    };
    let key = audio_key(&job);
    // A kept transcript: the audio was heard, and deleted.
    if job.status.is_finished()
        || job.transcript.is_some()
        || state.files.exists(&key).await.map_err(|error| ComeBack(error.to_string()))?
    {
        return Ok(Upload::Arrived);
    }
    let created = DateTime::parse_from_rfc3339(&job.created_at).map_or(now, |at| at.with_timezone(&Utc));
    let waited = (now - created).num_seconds();
    if waited > UPLOAD_WINDOW_SECONDS {
        return Ok(Upload::Missed);
    }
    // Soon at first (a client uploads right away), then less often.
    let delay = (waited / 4).clamp(5, 60) as u32;
    state.queue.send_after(message, delay).await.map_err(|error| ComeBack(error.to_string()))?;
    Ok(Upload::Waiting)
}

/// Deletes the job's audio: once transcribed, or once it never will be (the job failed).
pub async fn discard_audio(state: &AiWorkerState, job: &JobItem) {
    if let Err(error) = state.files.delete(&audio_key(job)).await {
        // Rare, and not worth a second transcription: the lifecycle rule removes it within days,
        // and the runbook says how to delete it at once.
        tracing::error!(%error, job_id = %job.id, "the audio of a voice capture was not deleted");
    }
}

/// Where the job's audio is: `users/<id>/audio/<job id>.<ext>` (api-ai signs the upload there).
pub fn audio_key(job: &JobItem) -> String {
    job.input_value()["key"].as_str().unwrap_or_default().to_string()
}

pub async fn run(state: &AiWorkerState, model: &dyn LanguageModel, job: &JobItem) -> Result<Made, RunError> {
    let tenant = Tenant::user(&job.user_id);
    let task_id = derived_id(&job.id, 0).unwrap_or_default();
    if let Some(task) = state.store.tasks().get_task(&tenant, &task_id).await? {
        return Ok(made(&task, job.transcript.as_deref().unwrap_or_default(), JobUsage::default()));
    }
    let transcript = match &job.transcript {
        Some(kept) => kept.clone(),
        None => heard(state, job).await?,
    };
    let user = state.store.accounts().get_user(&job.user_id).await?;
    let (tier, zone): (_, Tz) = user.map_or((Default::default(), chrono_tz::UTC), |user| {
        (user.tier, user.timezone.parse().unwrap_or(chrono_tz::UTC))
    });
    let (task, usage) = read_task(model, &transcript, zone, &task_id).await?;
    match state.store.tasks().create_task(&tenant, &task, &[], limits(tier), &[]).await {
        Ok(()) => {}
        Err(WriteError::LimitReached(reached)) => return Err(fail("limit_reached", &reached.detail(), usage)),
        Err(_) if state.store.tasks().get_task(&tenant, &task.id).await?.is_some() => {}
        Err(WriteError::Store(error)) => return Err(error.into()),
        Err(other) => return Err(fail("not_created", &other.to_string(), usage)),
    }
    Ok(made(&task, &transcript, usage))
}

fn fail(code: &'static str, detail: &str, usage: JobUsage) -> RunError {
    RunError::Fail { code, detail: detail.to_string(), usage }
}

/// The note transcribed, kept on the job, and its audio deleted: once transcribed, or once it
/// never will be (a failure other than a passing one).
async fn heard(state: &AiWorkerState, job: &JobItem) -> Result<String, RunError> {
    let Some(transcriber) = state.transcriber.as_deref() else {
        return Err(fail("ai_unavailable", "no transcription service is configured", JobUsage::default()));
    };
    let transcript = transcribe(state, transcriber, job, &audio_key(job)).await;
    if let Ok(text) = &transcript {
        // Kept before the audio goes: without it a later run would find neither.
        state.store.ai().keep_transcript(job, text).await?;
    }
    if !matches!(transcript, Err(RunError::Retry(_))) {
        discard_audio(state, job).await;
    }
    transcript
}

async fn transcribe(
    state: &AiWorkerState,
    transcriber: &dyn Transcriber,
    job: &JobItem,
    key: &str,
) -> Result<String, RunError> {
    let input = job.input_value();
    let download_url = state
        .files
        .download(key, "audio", Duration::from_secs(15 * 60))
        .await
        .map_err(|error| RunError::Retry(error.to_string()))?;
    let audio = Audio {
        job_name: job.id.clone(),
        s3_uri: state.files.s3_uri(key),
        download_url,
        content_type: input["content_type"].as_str().unwrap_or_default().to_string(),
        language: input["language"].as_str().map(str::to_string),
    };
    match transcriber.transcribe(&audio).await {
        Ok(transcript) if transcript.text.trim().is_empty() => {
            Err(fail("nothing_heard", "the audio holds no speech", JobUsage::default()))
        }
        Ok(transcript) if longer_than_paid(transcript.duration_seconds, job.credits) => {
            tracing::warn!(job_id = %job.id, heard = ?transcript.duration_seconds, "audio longer than declared");
            let detail = "the audio is longer than the duration_seconds it was started with";
            Err(fail("audio_longer_than_declared", detail, JobUsage::default()))
        }
        Ok(transcript) => Ok(transcript.text.trim().to_string()),
        Err(TranscribeError::Retry(reason)) => Err(RunError::Retry(reason)),
        Err(TranscribeError::Failed(reason)) => {
            tracing::warn!(job_id = %job.id, %reason, "a transcription failed");
            Err(fail("transcription_failed", "the audio could not be transcribed", JobUsage::default()))
        }
    }
}

/// The credits of a voice capture pay for its declared minutes, started ones included: speech
/// that ends past them (a few seconds' grace for encoders' padding) was not paid for. A service
/// that does not say the length is trusted.
fn longer_than_paid(heard_seconds: Option<f64>, credits: u64) -> bool {
    const GRACE_SECONDS: f64 = 5.0;
    heard_seconds.is_some_and(|heard| heard > (credits * 60) as f64 + GRACE_SECONDS)
}

/// The model reads one task from the transcript (asked once more with the rules it broke).
async fn read_task(
    model: &dyn LanguageModel,
    transcript: &str,
    zone: Tz,
    task_id: &str,
) -> Result<(Task, JobUsage), RunError> {
    let now = Utc::now();
    let today = now.with_timezone(&zone).date_naive();
    let mut messages = vec![Message::user(format!("The note: {}", json!(transcript)))];
    let mut usage = JobUsage::default();
    for asked in 1..=ASKS {
        let request = JsonRequest {
            system: voice_task_system(today, zone.name()),
            messages: messages.clone(),
            max_tokens: JobKind::Transcription.max_answer_tokens(),
            schema_name: "task".into(),
            schema: voice_task_schema(),
        };
        let answer = model.complete_json(&request).await.map_err(|error| RunError::of_model(error, usage.clone()))?;
        usage.input_tokens += u64::from(answer.usage.input_tokens);
        usage.output_tokens += u64::from(answer.usage.output_tokens);
        usage.model = Some(answer.model.clone());
        match validate_voice_task(&answer.value, today, zone) {
            Ok((title, due, priority)) => {
                let mut task = Task::new(task_id.to_string(), now);
                task.title = title;
                task.priority = priority;
                task.version = 1;
                task.subtasks = Some(Default::default());
                match due {
                    VoiceDue::None => {}
                    VoiceDue::Date(date) => task.due_date = Some(date),
                    VoiceDue::At(at) => task.due_at = Some(at),
                }
                return Ok((task, usage));
            }
            Err(violations) if asked < ASKS => {
                let broken: Vec<String> =
                    violations.into_vec().into_iter().map(|(field, message)| format!("{field}: {message}")).collect();
                messages.push(Message::assistant(answer.value.to_string()));
                messages.push(Message::user(format!("That breaks these rules; answer again:\n{}", broken.join("\n"))));
            }
            Err(_) => return Err(fail("invalid_answer", "the model's task broke the rules twice", usage)),
        }
    }
    Err(fail("invalid_answer", "no usable task", usage))
}

/// The job's result: the transcript and the task made.
fn made(task: &Task, transcript: &str, usage: JobUsage) -> Made {
    let result = json!({
        "transcript": transcript,
        "task": { "id": task.id, "title": task.title, "due_at": task.due_at, "due_date": task.due_date, "priority": task.priority },
    });
    Made { result, usage, notice: ("Your voice note is a task".into(), task.title.clone()) }
}
