//! Speech to text for voice capture behind one trait, `Transcriber`. Two implementations:
//!
//! - `AmazonTranscribe`: Amazon Transcribe's batch API (awsJson1_1) as plain HTTPS POSTs signed
//!   with SigV4 by the signer the SDK links anyway (no Transcribe SDK crate: its build time).
//!   `StartTranscriptionJob` on the object in S3 (Transcribe reads it itself), named after our AI
//!   job so that a retry finds the job it started (`ConflictException`), then
//!   `GetTranscriptionJob` every `poll_interval` until the job is done or `max_wait` has passed,
//!   then the results file at the job's presigned `TranscriptFileUri`.
//! - `OpenAiTranscriber`: `POST {base_url}/audio/transcriptions` (OpenAI, whisper servers, vLLM):
//!   the bytes are downloaded from the object's presigned URL and sent as `multipart/form-data`
//!   (built here: reqwest's `multipart` feature is left out), answered in `verbose_json`.
//!
//! Errors say what the caller does next: `Retry` (throttling, outages, a job still running) or
//! `Failed` (the job failed, the audio or the request was refused). They never carry the API
//! key, AWS credentials or presigned URLs (whose query holds a signature and a session token).
//! Endpoints are settings, so tests point the clients at local fakes (`transcription_fakes`:
//! `FakeTranscribe`, `FakeWhisper`).

use std::time::{Duration, Instant};

use aws_credential_types::provider::SharedCredentialsProvider;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};

use super::upstream::{KeyedClient, SignedPost, SigningError, causes, scrub, sign_post};

// ---------------------------------------------------------------------------------------------
// The trait and its types

/// One speech-to-text service.
#[async_trait::async_trait]
pub trait Transcriber: Send + Sync {
    async fn transcribe(&self, audio: &Audio) -> Result<Transcript, TranscribeError>;
    /// `"transcribe"` or `"openai"`.
    fn provider(&self) -> &'static str;
}

/// One recording, uploaded to S3 by the client.
#[derive(Clone, PartialEq, Eq)]
pub struct Audio {
    /// Our AI job's id (a ULID): Transcribe's `TranscriptionJobName`, so a retry finds the job it
    /// started instead of paying for a second one.
    pub job_name: String,
    /// `s3://bucket/users/<id>/audio/<job id>.m4a` (Transcribe reads the object itself).
    pub s3_uri: String,
    /// A presigned GET of the same object (the OpenAI-compatible client downloads the bytes).
    pub download_url: String,
    /// `audio/mp4`, `audio/m4a`, `audio/x-m4a`, `audio/mpeg`, `audio/wav`, `audio/x-wav` or `audio/webm`.
    pub content_type: String,
    /// BCP-47 (`en-US`); `None` lets the service identify the language.
    pub language: Option<String>,
}

/// The presigned URL's query (signature, session token) never reaches logs.
impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audio")
            .field("job_name", &self.job_name)
            .field("s3_uri", &self.s3_uri)
            .field("download_url", &without_query(&self.download_url))
            .field("content_type", &self.content_type)
            .field("language", &self.language)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// The length of the speech, when the service says.
    pub duration_seconds: Option<f64>,
    /// The language the service heard (Transcribe: `en-US`; OpenAI-compatible: `en`), else the
    /// one asked for.
    pub language: Option<String>,
}

/// Why a transcription failed, sorted by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranscribeError {
    /// Throttled, 5xx, a network failure or a timeout, or the job still running after `max_wait`.
    #[error("try again: {0}")]
    Retry(String),
    /// The service failed the job or refused the audio or the request (4xx). Never holds secrets.
    #[error("failed: {0}")]
    Failed(String),
}

impl TranscribeError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, TranscribeError::Retry(_))
    }
}

/// The containers voice capture uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    Mp4,
    Mp3,
    Wav,
    Webm,
}

impl AudioFormat {
    /// The format of a content type (its parameters and case ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        match essence(content_type).as_str() {
            "audio/mp4" | "audio/m4a" | "audio/x-m4a" => Some(AudioFormat::Mp4),
            "audio/mpeg" => Some(AudioFormat::Mp3),
            "audio/wav" | "audio/x-wav" => Some(AudioFormat::Wav),
            "audio/webm" => Some(AudioFormat::Webm),
            _ => None,
        }
    }

    /// Transcribe's `MediaFormat`.
    pub fn media_format(self) -> &'static str {
        match self {
            AudioFormat::Mp4 => "mp4",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Wav => "wav",
            AudioFormat::Webm => "webm",
        }
    }

    /// The file name's extension: OpenAI tells the format by it.
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Mp4 => "m4a",
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Wav => "wav",
            AudioFormat::Webm => "webm",
        }
    }
}

/// `audio/webm;codecs=opus` → `audio/webm`.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn format_of(audio: &Audio) -> Result<AudioFormat, TranscribeError> {
    AudioFormat::from_content_type(&audio.content_type).ok_or_else(|| {
        TranscribeError::Failed(format!("unsupported audio type {:?}", scrub(&essence(&audio.content_type), None)))
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers of both clients

/// A network failure or a timeout: worth another try. The URL is left out (a presigned one holds
/// a signature and a session token).
fn network(context: &str, error: reqwest::Error) -> TranscribeError {
    TranscribeError::Retry(format!("{context}: {}", causes(&error.without_url())))
}

/// A URL without its query, for logs.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// The body of `response`, refused when over `max` bytes: by its `Content-Length` before reading
/// anything, else as soon as the chunks add up to more (a server may send none or lie).
async fn read_capped(mut response: reqwest::Response, max: usize, what: &str) -> Result<Vec<u8>, TranscribeError> {
    let too_large = || TranscribeError::Failed(format!("{what} is larger than {max} bytes"));
    let announced = response.content_length().unwrap_or(0);
    if announced > max as u64 {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = response.chunk().await.map_err(|error| network(what, error))? {
        if bytes.len() + chunk.len() > max {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Seconds as a JSON number or a string (Transcribe's `"1.09"`).
fn seconds(value: &Value) -> Option<f64> {
    let seconds = match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }?;
    (seconds.is_finite() && seconds >= 0.0).then_some(seconds)
}

// ---------------------------------------------------------------------------------------------
// Amazon Transcribe

/// Where Transcribe is and how long to wait for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmazonTranscribeConfig {
    /// Without a path: `https://transcribe.us-east-1.amazonaws.com` (a fake's URI in tests).
    pub endpoint: String,
    /// The region the requests are signed for (the bucket's: Transcribe reads from its region).
    pub region: String,
    /// Between two `GetTranscriptionJob`s, and before another try of a throttled call.
    pub poll_interval: Duration,
    /// The longest a transcription waits for its job; the job is left running (a retry finds it).
    pub max_wait: Duration,
    /// Per request.
    pub timeout: Duration,
    /// The largest results file read.
    pub max_transcript_bytes: usize,
}

impl AmazonTranscribeConfig {
    /// The region's endpoint, a poll every 2 s for at most 60 s, a 10 s timeout per request: the
    /// worst case (60 s plus a request or two) fits ai-worker's 90 s.
    pub fn new(region: impl Into<String>) -> Self {
        let region = region.into();
        AmazonTranscribeConfig {
            endpoint: format!("https://transcribe.{region}.amazonaws.com"),
            region,
            poll_interval: Duration::from_secs(2),
            max_wait: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            max_transcript_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Amazon Transcribe behind `Transcriber`, as plain HTTPS requests signed with SigV4.
#[derive(Clone)]
pub struct AmazonTranscribe {
    http: reqwest::Client,
    url: String,
    config: AmazonTranscribeConfig,
    credentials: SharedCredentialsProvider,
}

/// Credentials never reach logs: a provider's own `Debug` may show what it holds.
impl std::fmt::Debug for AmazonTranscribe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonTranscribe")
            .field("url", &self.url)
            .field("config", &self.config)
            .field("credentials", &"[redacted]")
            .finish_non_exhaustive()
    }
}

const START_JOB: &str = "Transcribe.StartTranscriptionJob";
const GET_JOB: &str = "Transcribe.GetTranscriptionJob";
const DELETE_JOB: &str = "Transcribe.DeleteTranscriptionJob";
const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// A failed call: the error's type (`ConflictException`) and what it means to the caller.
#[derive(Debug)]
struct CallError {
    kind: String,
    error: TranscribeError,
}

impl From<TranscribeError> for CallError {
    fn from(error: TranscribeError) -> Self {
        CallError { kind: String::new(), error }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetJobResponse {
    transcription_job: Job,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Job {
    transcription_job_status: String,
    language_code: Option<String>,
    failure_reason: Option<String>,
    transcript: Option<JobTranscript>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobTranscript {
    transcript_file_uri: Option<String>,
}

/// The results file: `{"jobName", "accountId", "status", "results": {"transcripts", "items", ...}}`.
#[derive(Deserialize)]
struct ResultsFile {
    results: Results,
}

#[derive(Deserialize)]
struct Results {
    #[serde(default)]
    transcripts: Vec<ResultsTranscript>,
    #[serde(default)]
    items: Vec<ResultsItem>,
}

#[derive(Deserialize)]
struct ResultsTranscript {
    transcript: String,
}

/// A word (`pronunciation`, with times) or a punctuation mark (without).
#[derive(Deserialize)]
struct ResultsItem {
    #[serde(default)]
    end_time: Value,
}

impl AmazonTranscribe {
    pub fn new(http: reqwest::Client, config: AmazonTranscribeConfig, credentials: SharedCredentialsProvider) -> Self {
        let url = format!("{}/", config.endpoint.trim_end_matches('/'));
        AmazonTranscribe { http, url, config, credentials }
    }

    /// Starts the job; one that exists already (a retry's) is fine.
    async fn start(&self, audio: &Audio, format: AudioFormat, deadline: Instant) -> Result<(), TranscribeError> {
        let mut body = json!({
            "TranscriptionJobName": audio.job_name,
            "Media": { "MediaFileUri": audio.s3_uri },
            "MediaFormat": format.media_format(),
        });
        match transcribe_language(audio.language.as_deref()) {
            Some(code) => body["LanguageCode"] = json!(code),
            None => body["IdentifyLanguage"] = json!(true),
        }
        match self.call_until(START_JOB, &body, deadline).await {
            Ok(_) => Ok(()),
            Err(error) if error.kind == "ConflictException" => {
                tracing::info!(job = %audio.job_name, "the transcription job exists already; waiting for it");
                Ok(())
            }
            Err(error) => Err(error.error),
        }
    }

    /// Polls the job until it is done: the finished job, `Failed` with its reason, or `Retry`
    /// when it is still running at `deadline`.
    async fn wait(&self, name: &str, deadline: Instant) -> Result<Job, TranscribeError> {
        let body = json!({ "TranscriptionJobName": name });
        loop {
            let answer = self.call_until(GET_JOB, &body, deadline).await.map_err(|error| error.error)?;
            let job = serde_json::from_value::<GetJobResponse>(answer)
                .map_err(|error| TranscribeError::Retry(format!("transcribe: not a transcription job: {error}")))?
                .transcription_job;
            match job.transcription_job_status.as_str() {
                "COMPLETED" => return Ok(job),
                "FAILED" => {
                    let reason = job.failure_reason.as_deref().unwrap_or("no reason given");
                    return Err(TranscribeError::Failed(format!(
                        "transcribe: the job failed: {}",
                        scrub(reason, None)
                    )));
                }
                _ => {}
            }
            if !pause(self.config.poll_interval, deadline).await {
                let (status, waited) = (job.transcription_job_status, self.config.max_wait);
                return Err(TranscribeError::Retry(format!("transcribe: job {name} still {status} after {waited:?}")));
            }
        }
    }

    /// Calls `target` until it answers or fails for good: throttling and outages are waited out
    /// (one `poll_interval` a try) until `deadline`, as a job's polls would be anyway.
    async fn call_until(&self, target: &'static str, body: &Value, deadline: Instant) -> Result<Value, CallError> {
        let body = body.to_string().into_bytes();
        loop {
            match self.call(target, &body).await {
                Err(error) if error.error.is_retryable() => {
                    tracing::warn!(target, error = %error.error, "a Transcribe call failed; trying again");
                    if !pause(self.config.poll_interval, deadline).await {
                        return Err(error);
                    }
                }
                other => return other,
            }
        }
    }

    /// Deletes the finished job, and with it Transcribe's copy of the transcript (we hold it now).
    /// A failure is logged, not returned: the transcript is in hand, and a job left behind is
    /// found by its name (the AI job's id) in the runbook.
    async fn forget(&self, job_name: &str) {
        let body = json!({ "TranscriptionJobName": job_name }).to_string().into_bytes();
        if let Err(error) = self.call(DELETE_JOB, &body).await {
            tracing::warn!(job_name, error = %error.error, "a finished Transcribe job was not deleted");
        }
    }

    /// One request, signed afresh: a retry gets a new `x-amz-date` and the current credentials.
    async fn call(&self, target: &'static str, body: &[u8]) -> Result<Value, CallError> {
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, AMZ_JSON)
            .header("x-amz-target", target)
            .timeout(self.config.timeout)
            .body(body.to_vec());
        for (name, value) in self.sign(target, body).await? {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|error| network("transcribe", error))?;
        let status = response.status().as_u16();
        let error_type =
            response.headers().get("x-amzn-errortype").and_then(|value| value.to_str().ok()).map(str::to_string);
        let text = response.text().await.map_err(|error| network("transcribe", error))?;
        if !(200..300).contains(&status) {
            return Err(transcribe_error(status, error_type.as_deref(), &text));
        }
        let malformed = |error: serde_json::Error| TranscribeError::Retry(format!("transcribe: not JSON: {error}"));
        Ok(serde_json::from_str(&text).map_err(malformed)?)
    }

    /// The SigV4 headers of a POST of `body`: `authorization`, `x-amz-date`, `x-amz-content-sha256`
    /// and, with temporary credentials, `x-amz-security-token`.
    async fn sign(&self, target: &str, body: &[u8]) -> Result<Vec<(&'static str, HeaderValue)>, TranscribeError> {
        // The content type and the operation are signed: the request sends exactly these.
        let headers = [(CONTENT_TYPE.as_str(), AMZ_JSON), ("x-amz-target", target)];
        let post =
            SignedPost { service: "transcribe", region: &self.config.region, url: &self.url, headers: &headers, body };
        sign_post(&self.credentials, &post).await.map_err(|error| match error {
            SigningError::Credentials { message, settings_wrong: false } => {
                TranscribeError::Retry(format!("transcribe: {message}"))
            }
            SigningError::Credentials { message, .. } | SigningError::Unsignable(message) => {
                TranscribeError::Failed(format!("transcribe: {message}"))
            }
        })
    }

    /// The results file of a finished job: its transcript and the end of its last word.
    async fn results(&self, job: &Job) -> Result<(String, Option<f64>), TranscribeError> {
        let uri = job.transcript.as_ref().and_then(|transcript| transcript.transcript_file_uri.as_deref());
        let uri = uri.ok_or_else(|| TranscribeError::Failed("transcribe: the job has no transcript".into()))?;
        // Presigned by Transcribe: an unsigned GET.
        let context = "transcribe: the transcript";
        let response =
            self.http.get(uri).timeout(self.config.timeout).send().await.map_err(|error| network(context, error))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            // Most likely the link expired (15 minutes): the next try's poll gets a fresh one.
            return Err(TranscribeError::Retry(format!("{context} could not be read: {status}")));
        }
        let bytes = read_capped(response, self.config.max_transcript_bytes, context).await?;
        let file = serde_json::from_slice::<ResultsFile>(&bytes)
            .map_err(|error| TranscribeError::Failed(format!("{context} is not a results file: {error}")))?;
        let text = file.results.transcripts.into_iter().next().map(|transcript| transcript.transcript);
        let text = text.ok_or_else(|| TranscribeError::Failed(format!("{context} holds no text")))?;
        // Punctuation has no times: the last item that has one ends the speech.
        let duration = file.results.items.iter().rev().find_map(|item| seconds(&item.end_time));
        Ok((text.trim().to_string(), duration))
    }
}

/// Sleeps `interval`, but not past `deadline`; false when the deadline had passed already.
async fn pause(interval: Duration, deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return false;
    }
    tokio::time::sleep(interval.min(deadline - now)).await;
    true
}

/// Transcribe takes only full codes (`en-US`, `de-DE`): a bare language (`en`) would be refused,
/// so it is left to language identification instead.
fn transcribe_language(language: Option<&str>) -> Option<&str> {
    language.map(str::trim).filter(|code| code.contains('-'))
}

/// Transcribe's job names: `[0-9a-zA-Z._-]`, at most 200 (a ULID always is one).
fn check_job_name(name: &str) -> Result<(), TranscribeError> {
    let valid = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > 200 || !name.bytes().all(valid) {
        return Err(TranscribeError::Failed(format!("transcribe: {:?} is not a job name", scrub(name, None))));
    }
    Ok(())
}

/// An error answer: its type in `x-amzn-errortype` or the body's `__type`
/// (`com.amazonaws.transcribe#LimitExceededException`), its text in `Message` (or `message`).
/// The secret key never leaves this process, so Transcribe cannot echo it.
fn transcribe_error(status: u16, error_type: Option<&str>, body: &str) -> CallError {
    let body = serde_json::from_str::<Value>(body).unwrap_or(Value::Null);
    let kind = error_type.or(body["__type"].as_str()).unwrap_or_default();
    let kind = kind.split(':').next().unwrap_or_default();
    let kind = kind.rsplit('#').next().unwrap_or_default().to_string();
    let message = body["Message"].as_str().or(body["message"].as_str()).unwrap_or("no message");
    let text = scrub(&format!("transcribe: {status} {kind}: {message}"), None);
    let error = match kind.as_str() {
        // Transcribe throttles with a 400 LimitExceededException (and caps concurrent jobs so).
        // An expired token is cured by the provider's next credentials.
        "ThrottlingException"
        | "LimitExceededException"
        | "InternalFailureException"
        | "ServiceUnavailableException"
        | "ExpiredTokenException" => TranscribeError::Retry(text),
        _ if status == 429 || status >= 500 => TranscribeError::Retry(text),
        _ => TranscribeError::Failed(text),
    };
    CallError { kind, error }
}

#[async_trait::async_trait]
impl Transcriber for AmazonTranscribe {
    async fn transcribe(&self, audio: &Audio) -> Result<Transcript, TranscribeError> {
        let format = format_of(audio)?;
        check_job_name(&audio.job_name)?;
        let deadline = Instant::now() + self.config.max_wait;
        self.start(audio, format, deadline).await?;
        let job = self.wait(&audio.job_name, deadline).await?;
        let (text, duration_seconds) = self.results(&job).await?;
        self.forget(&audio.job_name).await;
        let language = job.language_code.or_else(|| audio.language.clone());
        Ok(Transcript { text, duration_seconds, language })
    }

    fn provider(&self) -> &'static str {
        "transcribe"
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible transcriptions

/// OpenAI's API base.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The model when none is configured.
pub const WHISPER_DEFAULT_MODEL: &str = "whisper-1";
/// OpenAI's limit on an upload.
pub const OPENAI_MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

/// Where an OpenAI-compatible server is and how to call it.
#[derive(Clone, PartialEq)]
pub struct OpenAiTranscriberConfig {
    /// With the version, without `/audio/transcriptions`: `https://api.openai.com/v1`,
    /// `http://whisper:8000/v1`.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; `None` for servers that need none.
    pub api_key: Option<String>,
    /// Of the download of the audio.
    pub download_timeout: Duration,
    /// Of the transcription request (the service transcribes before it answers).
    pub timeout: Duration,
    /// The largest recording sent (refused before it is read in full).
    pub max_audio_bytes: usize,
}

impl OpenAiTranscriberConfig {
    /// `model` (`whisper-1` when blank), a 20 s download, a 60 s transcription (both fit
    /// ai-worker's 90 s), OpenAI's 25 MB limit.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, api_key: Option<String>) -> Self {
        let model = model.into();
        OpenAiTranscriberConfig {
            base_url: base_url.into(),
            model: if model.trim().is_empty() { WHISPER_DEFAULT_MODEL.to_string() } else { model },
            api_key,
            download_timeout: Duration::from_secs(20),
            timeout: Duration::from_secs(60),
            max_audio_bytes: OPENAI_MAX_AUDIO_BYTES,
        }
    }
}

/// The API key never reaches logs.
impl std::fmt::Debug for OpenAiTranscriberConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiTranscriberConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("download_timeout", &self.download_timeout)
            .field("timeout", &self.timeout)
            .field("max_audio_bytes", &self.max_audio_bytes)
            .finish()
    }
}

/// An OpenAI-compatible transcriptions API behind `Transcriber`.
#[derive(Debug, Clone)]
pub struct OpenAiTranscriber {
    http: reqwest::Client,
    url: String,
    config: OpenAiTranscriberConfig,
}

/// `verbose_json` (`task`, `language`, `duration`, `text`, `segments`) or plain `json` (`text`).
#[derive(Deserialize)]
struct Verbose {
    text: String,
    #[serde(default)]
    duration: Value,
    #[serde(default)]
    language: Option<String>,
}

impl OpenAiTranscriber {
    pub fn new(http: reqwest::Client, config: OpenAiTranscriberConfig) -> Self {
        let url = format!("{}/audio/transcriptions", config.base_url.trim_end_matches('/'));
        OpenAiTranscriber { http, url, config }
    }

    /// The recording's bytes, from its presigned URL.
    async fn download(&self, audio: &Audio) -> Result<Vec<u8>, TranscribeError> {
        let context = "openai: the audio";
        let request = self.http.get(&audio.download_url).timeout(self.config.download_timeout);
        let response = request.send().await.map_err(|error| network(context, error))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {}
            408 | 429 | 500.. => return Err(TranscribeError::Retry(format!("{context} could not be read: {status}"))),
            _ => return Err(TranscribeError::Failed(format!("{context} could not be read: {status}"))),
        }
        let bytes = read_capped(response, self.config.max_audio_bytes, context).await?;
        if bytes.is_empty() {
            return Err(TranscribeError::Failed(format!("{context} is empty")));
        }
        Ok(bytes)
    }

    /// The request's form: the file, the model, `verbose_json` (for the duration and the
    /// language), and the language when known.
    fn form(&self, audio: &Audio, format: AudioFormat, bytes: &[u8]) -> Multipart {
        let mut form = Multipart::new(bytes.len());
        let filename = format!("audio.{}", format.extension());
        form.file("file", &filename, &essence(&audio.content_type), bytes);
        form.text("model", &self.config.model);
        form.text("response_format", "verbose_json");
        if let Some(language) = whisper_language(audio.language.as_deref()) {
            form.text("language", language);
        }
        form
    }

    /// One transcription request.
    async fn post(&self, form: Multipart) -> Result<Verbose, TranscribeError> {
        let key = self.config.api_key.as_deref();
        let (content_type, body) = form.finish();
        let mut request =
            self.http.post(&self.url).header(CONTENT_TYPE, content_type).timeout(self.config.timeout).body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let failed = |error: reqwest::Error| {
            TranscribeError::Retry(scrub(&format!("openai: {}", causes(&error.without_url())), key))
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(failed)?;
        if !(200..300).contains(&status) {
            return Err(openai_error(status, &text, key));
        }
        serde_json::from_str(&text)
            .map_err(|error| TranscribeError::Failed(format!("openai: not a transcription: {error}")))
    }
}

#[async_trait::async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(&self, audio: &Audio) -> Result<Transcript, TranscribeError> {
        let format = format_of(audio)?;
        let bytes = self.download(audio).await?;
        let answer = self.post(self.form(audio, format, &bytes)).await?;
        let language = answer.language.as_deref().map(language_code).or_else(|| audio.language.clone());
        Ok(Transcript { text: answer.text.trim().to_string(), duration_seconds: seconds(&answer.duration), language })
    }

    fn provider(&self) -> &'static str {
        "openai"
    }
}

/// ISO 639-1 is what the API takes: `en-US` → `en`.
fn whisper_language(language: Option<&str>) -> Option<&str> {
    let primary = language?.split(['-', '_']).next()?.trim();
    (!primary.is_empty()).then_some(primary)
}

/// OpenAI's `verbose_json` names the language (`english`); other servers send a code (`en`).
/// The common names become codes, as Transcribe's answers are; others are kept as they came.
fn language_code(language: &str) -> String {
    const NAMES: [(&str, &str); 24] = [
        ("english", "en"),
        ("german", "de"),
        ("french", "fr"),
        ("spanish", "es"),
        ("italian", "it"),
        ("portuguese", "pt"),
        ("dutch", "nl"),
        ("swedish", "sv"),
        ("danish", "da"),
        ("norwegian", "no"),
        ("finnish", "fi"),
        ("polish", "pl"),
        ("czech", "cs"),
        ("russian", "ru"),
        ("ukrainian", "uk"),
        ("turkish", "tr"),
        ("greek", "el"),
        ("arabic", "ar"),
        ("hebrew", "he"),
        ("hindi", "hi"),
        ("japanese", "ja"),
        ("korean", "ko"),
        ("chinese", "zh"),
        ("vietnamese", "vi"),
    ];
    let lower = language.trim().to_ascii_lowercase();
    NAMES.iter().find(|(name, _)| *name == lower).map_or(lower.clone(), |(_, code)| code.to_string())
}

/// An error answer: `{"error": {"message", "type", "code"}}` (OpenAI, vLLM) or `{"error": "..."}`.
/// A 401's message may repeat the key it received: it is scrubbed.
fn openai_error(status: u16, body: &str, key: Option<&str>) -> TranscribeError {
    let error = serde_json::from_str::<Value>(body).map(|body| body["error"].clone()).unwrap_or(Value::Null);
    let code = error["code"].as_str().or(error["type"].as_str()).unwrap_or_default();
    let message = error["message"].as_str().or(error.as_str()).unwrap_or("no message");
    let text = scrub(&format!("openai: {status} {code}: {message}"), key);
    match (status, code) {
        // A 429 that waiting does not cure.
        (_, "insufficient_quota") => TranscribeError::Failed(text),
        (408 | 429 | 500.., _) => TranscribeError::Retry(text),
        _ => TranscribeError::Failed(text),
    }
}

/// A `multipart/form-data` body (RFC 7578), built by hand: reqwest's `multipart` feature would
/// bring a second copy of the streaming machinery for one request.
struct Multipart {
    boundary: String,
    body: Vec<u8>,
}

impl Multipart {
    /// 128 random bits in the boundary: it cannot turn up in the audio by chance.
    fn new(capacity: usize) -> Self {
        let boundary = format!("flowday-{:032x}", rand::random::<u128>());
        Multipart { boundary, body: Vec::with_capacity(capacity + 1024) }
    }

    fn text(&mut self, name: &str, value: &str) {
        self.part(&format!("Content-Disposition: form-data; name=\"{name}\"\r\n"), value.as_bytes());
    }

    fn file(&mut self, name: &str, filename: &str, content_type: &str, bytes: &[u8]) {
        let headers = format!(
            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n"
        );
        self.part(&headers, bytes);
    }

    fn part(&mut self, headers: &str, content: &[u8]) {
        self.body.extend_from_slice(format!("--{}\r\n{headers}\r\n", self.boundary).as_bytes());
        self.body.extend_from_slice(content);
        self.body.extend_from_slice(b"\r\n");
    }

    /// The `Content-Type` header and the body.
    fn finish(mut self) -> (String, Vec<u8>) {
        self.body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        (format!("multipart/form-data; boundary={}", self.boundary), self.body)
    }
}

// ---------------------------------------------------------------------------------------------
// From the settings

/// The transcription service the settings name. Amazon Transcribe is signed with the function's
/// credentials; an OpenAI-compatible server's key is read from Secrets Manager on first use.
pub fn from_settings(
    settings: &crate::settings::TranscriptionSettings,
    sdk: &crate::state::SdkConfig,
) -> Result<Option<std::sync::Arc<dyn Transcriber>>, crate::state::InitError> {
    use crate::settings::TranscriptionProvider;
    let http = super::http_client()?;
    let transcriber: std::sync::Arc<dyn Transcriber> = match settings.provider {
        TranscriptionProvider::AmazonTranscribe => {
            let (region, credentials) = super::upstream::signing_identity(sdk)?;
            let mut config = AmazonTranscribeConfig::new(region);
            if let Some(endpoint) = &settings.base_url {
                config.endpoint = endpoint.clone();
            }
            std::sync::Arc::new(AmazonTranscribe::new(http, config, credentials))
        }
        TranscriptionProvider::OpenAi => {
            let base_url = settings.base_url.clone().unwrap_or_else(|| OPENAI_BASE_URL.to_string());
            let model = settings.model.clone();
            let build = move |key| {
                OpenAiTranscriber::new(http.clone(), OpenAiTranscriberConfig::new(base_url.clone(), model.clone(), key))
            };
            std::sync::Arc::new(KeyedClient::new(settings.api_key_secret_id.clone(), sdk, build))
        }
    };
    Ok(Some(transcriber))
}

/// An OpenAI-compatible transcriber whose key is read on its first call.
#[async_trait::async_trait]
impl Transcriber for KeyedClient<OpenAiTranscriber> {
    async fn transcribe(&self, audio: &Audio) -> Result<Transcript, TranscribeError> {
        let client = self
            .get()
            .await
            .map_err(|error| TranscribeError::Retry(format!("openai: the API key could not be read: {error}")))?;
        client.transcribe(audio).await
    }

    fn provider(&self) -> &'static str {
        "openai"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_of_content_types() {
        assert_eq!(AudioFormat::from_content_type("audio/x-m4a"), Some(AudioFormat::Mp4));
        assert_eq!(AudioFormat::from_content_type("Audio/WebM; codecs=opus"), Some(AudioFormat::Webm));
        assert_eq!(AudioFormat::from_content_type("audio/x-wav").map(AudioFormat::media_format), Some("wav"));
        assert_eq!(AudioFormat::from_content_type("audio/mpeg").map(AudioFormat::extension), Some("mp3"));
        assert_eq!(AudioFormat::from_content_type("video/mp4"), None);
    }

    #[test]
    fn languages_per_service() {
        assert_eq!(transcribe_language(Some("en-US")), Some("en-US"));
        assert_eq!(transcribe_language(Some("en")), None);
        assert_eq!(whisper_language(Some("pt-BR")), Some("pt"));
        assert_eq!(whisper_language(Some("")), None);
        assert_eq!(language_code("English"), "en");
        assert_eq!(language_code("de"), "de");
        assert_eq!(language_code("klingon"), "klingon");
    }

    #[test]
    fn reads_transcribe_errors() {
        let throttled = r#"{"__type": "com.amazonaws.transcribe#LimitExceededException", "Message": "slow down"}"#;
        let error = transcribe_error(400, None, throttled);
        assert_eq!(error.error, TranscribeError::Retry("transcribe: 400 LimitExceededException: slow down".into()));
        let conflict = transcribe_error(400, None, r#"{"__type": "ConflictException", "Message": "exists"}"#);
        assert_eq!(conflict.kind, "ConflictException");
        assert!(!conflict.error.is_retryable());
        assert!(transcribe_error(503, None, "<html>").error.is_retryable());
        let header = transcribe_error(400, Some("BadRequestException:http://internal"), "{}");
        assert_eq!(header.kind, "BadRequestException");
        assert!(!header.error.is_retryable());
    }

    #[test]
    fn reads_openai_errors_without_the_key() {
        let body = r#"{"error": {"message": "Incorrect API key provided: sk-1.", "code": "invalid_api_key"}}"#;
        let error = openai_error(401, body, Some("sk-1"));
        assert_eq!(
            error,
            TranscribeError::Failed("openai: 401 invalid_api_key: Incorrect API key provided: [redacted].".into())
        );
        assert!(openai_error(429, r#"{"error": {"code": "rate_limit_exceeded"}}"#, None).is_retryable());
        assert!(!openai_error(429, r#"{"error": {"code": "insufficient_quota"}}"#, None).is_retryable());
        assert!(openai_error(502, "bad gateway", None).is_retryable());
    }

    #[test]
    fn builds_multipart_bodies() {
        let mut form = Multipart::new(3);
        form.file("file", "audio.m4a", "audio/mp4", b"abc");
        form.text("model", "whisper-1");
        let boundary = form.boundary.clone();
        let (content_type, body) = form.finish();
        assert_eq!(content_type, format!("multipart/form-data; boundary={boundary}"));
        let expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.m4a\"\r\n\
             Content-Type: audio/mp4\r\n\r\nabc\r\n--{boundary}\r\nContent-Disposition: form-data; \
             name=\"model\"\r\n\r\nwhisper-1\r\n--{boundary}--\r\n"
        );
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn hides_presigned_queries_and_checks_job_names() {
        let audio = Audio {
            job_name: "01J0000000000000000000000".into(),
            s3_uri: "s3://b/k.m4a".into(),
            download_url: "https://b.s3.amazonaws.com/k.m4a?X-Amz-Signature=abc&X-Amz-Security-Token=tok".into(),
            content_type: "audio/mp4".into(),
            language: None,
        };
        let debug = format!("{audio:?}");
        assert!(!debug.contains("abc") && !debug.contains("tok"), "{debug}");
        assert!(check_job_name(&audio.job_name).is_ok());
        assert!(check_job_name("a/b").is_err());
        assert_eq!(seconds(&json!("1.09")), Some(1.09));
        assert_eq!(seconds(&json!(-1)), None);
    }
}
