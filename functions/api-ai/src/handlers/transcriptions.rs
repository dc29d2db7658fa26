//! `POST /v1/ai/transcriptions` (Pro and Team): voice capture. Answers a presigned PUT for the
//! audio note (m4a, mp3, wav or webm; at most 10 minutes and 25 MB, its type and size signed)
//! and the job that will transcribe it and make it a task once the upload has arrived. Credits:
//! one per started minute, reserved now.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::Base;
use shared::domain::Violations;
use shared::domain::account::Tier;
use shared::domain::ai::{JobKind, MAX_AUDIO_BYTES, MAX_AUDIO_SECONDS, transcription_credits};
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::integrations::files::Files;
use shared::integrations::transcription::AudioFormat;
use shared::jobs::ai::start;
use shared::jobs::queue::AiJobQueue;
use shared::settings::LlmSettings;
use shared::store::ai::JobItem;

use super::ai_user;
use super::jobs::JobView;

/// How long the upload URL lives.
const UPLOAD: Duration = Duration::from_secs(15 * 60);
/// The tag of an audio note: the bucket's `ExpireVoiceNotes` rule removes it, and its old
/// versions, after a day, should ai-worker's delete ever not happen.
const VOICE_NOTE_TAG: &str = "kind=voice-note";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TranscriptionRequest {
    /// `audio/mp4` (m4a), `audio/mpeg` (mp3), `audio/wav` or `audio/webm`.
    content_type: String,
    /// The file's size: 1 byte to 25 MB. The upload must be exactly this long.
    #[schema(minimum = 1, maximum = 26214400)]
    size_bytes: u64,
    /// The note's length: 1 to 600 seconds (one credit per started minute).
    #[schema(minimum = 1, maximum = 600)]
    duration_seconds: u32,
    /// The spoken language (BCP 47, `en-US`), when the app knows it.
    language: Option<String>,
}

/// Where to upload the audio.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AudioUpload {
    /// Always `PUT`.
    #[schema(value_type = String, example = "PUT")]
    method: &'static str,
    url: String,
    /// Send exactly these headers with the PUT.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    headers: serde_json::Map<String, serde_json::Value>,
    /// After this (15 minutes) the URL is refused, and the job fails with its credits returned.
    expires_at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TranscriptionStarted {
    job: JobView,
    upload: AudioUpload,
}

/// Starts a voice capture: 202 with the job (it waits for the upload) and the upload.
#[utoipa::path(post, path = "/v1/ai/transcriptions", tag = "ai", request_body = TranscriptionRequest,
    responses(
        (status = 202, description = "The job, with Location, and where to upload the audio", body = TranscriptionStarted),
        (status = 402, description = "insufficient_credits: the balance per kind", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "plan_required: voice capture is a Pro feature", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ai_unavailable: no language model is configured (the detail names the settings)", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(app): State<Base>,
    State(queue): State<AiJobQueue>,
    State(llm): State<LlmSettings>,
    State(files): State<Files>,
    caller: CurrentUser,
    ApiJson(request): ApiJson<TranscriptionRequest>,
) -> Result<Response, ApiError> {
    let user = ai_user(&app.store, &llm, &caller.user_id).await?;
    if user.tier == Tier::Free {
        return Err(ApiError::plan_required("voice capture is a Pro feature", Tier::Pro));
    }
    let extension = checked(&request)?;
    let id = ulid::Ulid::new().to_string();
    let key = format!("users/{}/audio/{id}.{extension}", user.id);
    let upload =
        files.upload_tagged(&key, &request.content_type, request.size_bytes, Some(VOICE_NOTE_TAG), UPLOAD).await;
    let upload = upload.map_err(ApiError::internal)?;
    let input = json!({
        "key": key, "content_type": request.content_type, "size_bytes": request.size_bytes,
        "duration_seconds": request.duration_seconds, "language": request.language,
    });
    let credits = transcription_credits(request.duration_seconds);
    let job = JobItem::queued(&user.id, id, JobKind::Transcription, &input, credits, String::new());
    let job = start(&app.store, &queue, &user, job, Utc::now()).await?;
    let headers = upload.headers.into_iter().map(|(name, value)| (name, json!(value))).collect();
    let expires_at = (Utc::now() + UPLOAD).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = TranscriptionStarted {
        job: JobView::of(&job),
        upload: AudioUpload { method: "PUT", url: upload.url, headers, expires_at },
    };
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/ai/jobs/{}", job.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The file extension of a request that holds: a format we take, a size and a length in range,
/// a plausible language tag. Otherwise every problem.
fn checked(request: &TranscriptionRequest) -> Result<&'static str, ApiError> {
    let mut violations = Violations::new();
    // The formats both transcribers take (parameters such as `;codecs=opus` allowed).
    let extension = AudioFormat::from_content_type(&request.content_type).map(AudioFormat::extension);
    if extension.is_none() {
        violations.add("content_type", "must be audio/mp4 (m4a), audio/mpeg (mp3), audio/wav or audio/webm");
    }
    if !(1..=MAX_AUDIO_BYTES).contains(&request.size_bytes) {
        violations.add("size_bytes", format!("must be 1 to {MAX_AUDIO_BYTES}"));
    }
    if !(1..=MAX_AUDIO_SECONDS).contains(&request.duration_seconds) {
        violations.add("duration_seconds", format!("must be 1 to {MAX_AUDIO_SECONDS} (10 minutes)"));
    }
    if let Some(language) = &request.language {
        let plausible = (2..=12).contains(&language.len())
            && language.split('-').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
        if !plausible {
            violations.add("language", "must be a language tag such as en-US");
        }
    }
    violations.finish(())?;
    Ok(extension.unwrap_or("m4a"))
}
