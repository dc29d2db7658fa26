//! Local fakes of Amazon Transcribe and of an OpenAI-compatible transcriptions API, each a
//! wiremock server on loopback whose one responder reads and changes a state behind a mutex. They
//! speak the real wire formats, so the clients of `integrations::transcription` run against them
//! unchanged:
//!
//! - `FakeTranscribe` answers awsJson1_1 `POST /` by `X-Amz-Target`
//!   (`Transcribe.StartTranscriptionJob`, `Transcribe.GetTranscriptionJob`) after checking the
//!   SigV4 signature with `SECRET_ACCESS_KEY` (the service's errors: `UnrecognizedClientException`,
//!   `InvalidSignatureException`, `ConflictException` for a job name in use, `BadRequestException`,
//!   `LimitExceededException`), and serves each finished job's results file (Transcribe's shape:
//!   `results.transcripts`, `results.items` with string times) at a presigned-looking URL of its own.
//!   A job is `IN_PROGRESS` for its first `set_polls_before_done` polls, then `COMPLETED` (or
//!   `FAILED` with a `FailureReason`, `fail_next_job`).
//! - `FakeWhisper` answers `POST /v1/audio/transcriptions` (multipart) in `verbose_json` after
//!   checking the bearer key, and records the form's fields; `host_audio` serves bytes at a GET URL,
//!   standing in for the presigned S3 download.
//!
//! Tests script what comes next (`set_transcript`, `throttle_next`, `reply_text`, `fail_next`, ...)
//! and read what the fakes received (`calls()`, `jobs()`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use shared::integrations::transcription::{AmazonTranscribeConfig, OpenAiTranscriberConfig};

// ---------------------------------------------------------------------------------------------
// Amazon Transcribe

/// A fake Amazon Transcribe (batch jobs). `uri()` is the endpoint.
pub struct FakeTranscribe {
    server: MockServer,
    state: Arc<Mutex<TranscribeState>>,
}

/// A request as `FakeTranscribe` received it, and the status it was answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscribeCall {
    pub method: String,
    pub path: String,
    /// `StartTranscriptionJob`, `GetTranscriptionJob` (without `Transcribe.`); `None` for the
    /// results file's GETs and requests without the header.
    pub operation: Option<String>,
    pub authorization: Option<String>,
    pub security_token: Option<String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: Value,
    pub status: u16,
}

/// A job the fake started.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeJob {
    pub name: String,
    pub media_file_uri: String,
    pub media_format: String,
    /// As asked (`None` with `IdentifyLanguage`).
    pub language_code: Option<String>,
    pub identify_language: bool,
    /// `GetTranscriptionJob`s so far.
    pub polls: u32,
    /// Deleted by `DeleteTranscriptionJob` (then gone for Get, and its name free again).
    pub deleted: bool,
    transcript: String,
    duration: f64,
    failure: Option<String>,
}

struct TranscribeState {
    jobs: BTreeMap<String, FakeJob>,
    calls: Vec<TranscribeCall>,
    transcript: (String, f64),
    identified_language: String,
    polls_before_done: u32,
    next_failure: Option<String>,
    throttles: u32,
    poll_throttles: u32,
    base_uri: String,
}

impl FakeTranscribe {
    pub const ACCESS_KEY_ID: &str = "AKIDFAKETRANSCRIBE00";
    pub const SECRET_ACCESS_KEY: &str = "fake/transcribe/secret/access/key/000000";
    pub const REGION: &str = "us-east-1";
    /// The transcript of a job when none is scripted.
    pub const TRANSCRIPT: &str = "Remind me to call the dentist tomorrow at nine.";
    pub const DURATION: f64 = 3.2;

    /// A fake that takes requests signed with `ACCESS_KEY_ID` and `SECRET_ACCESS_KEY` for `REGION`.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(TranscribeState {
            jobs: BTreeMap::new(),
            calls: Vec::new(),
            transcript: (Self::TRANSCRIPT.to_string(), Self::DURATION),
            identified_language: "en-US".to_string(),
            polls_before_done: 2,
            next_failure: None,
            throttles: 0,
            poll_throttles: 0,
            base_uri: server.uri(),
        }));
        let responder = TranscribeResponder { state: state.clone() };
        Mock::given(any()).respond_with(responder).mount(&server).await;
        FakeTranscribe { server, state }
    }

    /// The client's settings for this fake: its URI as the endpoint, `REGION`, polls every 50 ms
    /// for at most 5 s, a 5 s timeout.
    pub fn config(&self) -> AmazonTranscribeConfig {
        AmazonTranscribeConfig {
            endpoint: self.uri(),
            poll_interval: Duration::from_millis(50),
            max_wait: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            ..AmazonTranscribeConfig::new(Self::REGION)
        }
    }

    /// Jobs started from now on transcribe to `text`, whose last word ends at `duration_seconds`.
    pub fn set_transcript(&self, text: impl Into<String>, duration_seconds: f64) {
        lock(&self.state).transcript = (text.into(), duration_seconds);
    }

    /// The language a job without a `LanguageCode` is found to speak (`en-US` by default).
    pub fn set_identified_language(&self, code: impl Into<String>) {
        lock(&self.state).identified_language = code.into();
    }

    /// Jobs answer `IN_PROGRESS` to their first `polls` polls (2 by default), all jobs included.
    pub fn set_polls_before_done(&self, polls: u32) {
        lock(&self.state).polls_before_done = polls;
    }

    /// The next job started ends `FAILED` with `reason` as its `FailureReason`.
    pub fn fail_next_job(&self, reason: impl Into<String>) {
        lock(&self.state).next_failure = Some(reason.into());
    }

    /// The next signed call (whatever its operation) is refused with `LimitExceededException`,
    /// as Transcribe throttles. Queued: call it once per refusal.
    pub fn throttle_next(&self) {
        lock(&self.state).throttles += 1;
    }

    /// The next `GetTranscriptionJob` is refused with `LimitExceededException`. Queued.
    pub fn throttle_next_poll(&self) {
        lock(&self.state).poll_throttles += 1;
    }

    /// The jobs started, by name.
    pub fn jobs(&self) -> Vec<FakeJob> {
        lock(&self.state).jobs.values().cloned().collect()
    }

    /// The requests so far, in order.
    pub fn calls(&self) -> Vec<TranscribeCall> {
        lock(&self.state).calls.clone()
    }

    /// The calls of `operation` (`StartTranscriptionJob`) so far, in order.
    pub fn calls_of(&self, operation: &str) -> Vec<TranscribeCall> {
        let calls = lock(&self.state).calls.clone();
        calls.into_iter().filter(|call| call.operation.as_deref() == Some(operation)).collect()
    }

    /// GETs of results files so far.
    pub fn transcript_downloads(&self) -> usize {
        lock(&self.state).calls.iter().filter(|call| call.path.starts_with("/transcripts/")).count()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }
}

struct TranscribeResponder {
    state: Arc<Mutex<TranscribeState>>,
}

impl Respond for TranscribeResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        let operation = header("x-amz-target").map(|target| target.trim_start_matches("Transcribe.").to_string());
        let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let (status, response) = match request.method.as_str() {
            "GET" => results_file(&state, request),
            _ => transcribe_call(&mut state, request, operation.as_deref(), &body),
        };
        state.calls.push(TranscribeCall {
            method: request.method.to_string(),
            path: request.url.path().to_string(),
            operation,
            authorization: header("authorization"),
            security_token: header("x-amz-security-token"),
            body,
            status,
        });
        response
    }
}

/// An API call: checked as Transcribe checks it, then its operation.
fn transcribe_call(
    state: &mut TranscribeState,
    request: &Request,
    operation: Option<&str>,
    body: &Value,
) -> (u16, ResponseTemplate) {
    if request.url.path() != "/" {
        return aws_error(404, "UnknownOperationException", "Unknown operation.");
    }
    if let Err((kind, message)) = verify_sigv4(request) {
        return aws_error(400, kind, &message);
    }
    let content_type = request.headers.get("content-type").and_then(|value| value.to_str().ok());
    if content_type != Some("application/x-amz-json-1.1") {
        return aws_error(400, "SerializationException", "Expected application/x-amz-json-1.1.");
    }
    let known = matches!(operation, Some("StartTranscriptionJob" | "GetTranscriptionJob"));
    let poll = operation == Some("GetTranscriptionJob");
    if known && (state.throttles > 0 || (poll && state.poll_throttles > 0)) {
        match state.throttles {
            0 => state.poll_throttles -= 1,
            _ => state.throttles -= 1,
        }
        let message = "You've either sent too many requests or your input file is too long. Wait before retrying.";
        return aws_error(400, "LimitExceededException", message);
    }
    match operation {
        Some("StartTranscriptionJob") => start_job(state, body),
        Some("GetTranscriptionJob") => get_job(state, body),
        Some("DeleteTranscriptionJob") => delete_job(state, body),
        _ => aws_error(400, "UnknownOperationException", "Unknown operation."),
    }
}

fn start_job(state: &mut TranscribeState, body: &Value) -> (u16, ResponseTemplate) {
    let name = body["TranscriptionJobName"].as_str().unwrap_or_default();
    let valid_name = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > 200 || !name.bytes().all(valid_name) {
        return aws_error(400, "BadRequestException", "1 validation error detected: TranscriptionJobName");
    }
    let media = body["Media"]["MediaFileUri"].as_str().unwrap_or_default();
    let format = body["MediaFormat"].as_str().unwrap_or_default();
    let language = body["LanguageCode"].as_str().map(str::to_string);
    let identify = body["IdentifyLanguage"].as_bool().unwrap_or(false);
    if !media.starts_with("s3://") && !media.starts_with("https://") {
        return aws_error(400, "BadRequestException", "The URI that you specified doesn't point to an S3 object.");
    }
    if !matches!(format, "mp3" | "mp4" | "wav" | "flac" | "ogg" | "amr" | "webm" | "m4a") {
        return aws_error(400, "BadRequestException", "1 validation error detected: MediaFormat");
    }
    if language.is_some() == identify {
        let message = "Specify exactly one of LanguageCode, IdentifyLanguage or IdentifyMultipleLanguages.";
        return aws_error(400, "BadRequestException", message);
    }
    if state.jobs.get(name).is_some_and(|job| !job.deleted) {
        let message = "The requested job name already exists. Use a different job name.";
        return aws_error(400, "ConflictException", message);
    }
    let (transcript, duration) = state.transcript.clone();
    let job = FakeJob {
        name: name.to_string(),
        media_file_uri: media.to_string(),
        media_format: format.to_string(),
        language_code: language,
        identify_language: identify,
        polls: 0,
        deleted: false,
        transcript,
        duration,
        failure: state.next_failure.take(),
    };
    let answer = job_json(state, &job, "IN_PROGRESS");
    state.jobs.insert(job.name.clone(), job);
    aws_ok(json!({ "TranscriptionJob": answer }))
}

fn get_job(state: &mut TranscribeState, body: &Value) -> (u16, ResponseTemplate) {
    let name = body["TranscriptionJobName"].as_str().unwrap_or_default();
    let polls_before_done = state.polls_before_done;
    let Some(job) = state.jobs.get_mut(name).filter(|job| !job.deleted) else {
        let message = "The requested job couldn't be found. Check the job name and try your request again.";
        return aws_error(400, "BadRequestException", message);
    };
    job.polls += 1;
    let job = job.clone();
    let status = match &job.failure {
        _ if job.polls <= polls_before_done => "IN_PROGRESS",
        Some(_) => "FAILED",
        None => "COMPLETED",
    };
    aws_ok(json!({ "TranscriptionJob": job_json(state, &job, status) }))
}

/// Deletes a job (its record and transcript): an empty answer.
fn delete_job(state: &mut TranscribeState, body: &Value) -> (u16, ResponseTemplate) {
    let name = body["TranscriptionJobName"].as_str().unwrap_or_default();
    match state.jobs.get_mut(name).filter(|job| !job.deleted) {
        Some(job) => {
            job.deleted = true;
            aws_ok(json!({}))
        }
        None => aws_error(400, "BadRequestException", "The requested job couldn't be found."),
    }
}

/// A `TranscriptionJob` object as Transcribe describes it in `status`.
fn job_json(state: &TranscribeState, job: &FakeJob, status: &str) -> Value {
    let now = now_seconds();
    let mut answer = json!({
        "TranscriptionJobName": job.name,
        "TranscriptionJobStatus": status,
        "MediaFormat": job.media_format,
        "Media": { "MediaFileUri": job.media_file_uri },
        "Transcript": {},
        "CreationTime": now,
        "StartTime": now,
        "Settings": { "ChannelIdentification": false, "ShowAlternatives": false },
    });
    if let Some(code) = &job.language_code {
        answer["LanguageCode"] = json!(code);
    }
    if job.identify_language {
        answer["IdentifyLanguage"] = json!(true);
    }
    match (status, &job.failure) {
        ("FAILED", Some(reason)) => {
            answer["FailureReason"] = json!(reason);
            answer["CompletionTime"] = json!(now);
        }
        ("COMPLETED", _) => {
            let uri = format!(
                "{}/transcripts/{}.json?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-Signature=fake",
                state.base_uri, job.name
            );
            answer["Transcript"] = json!({ "TranscriptFileUri": uri });
            answer["CompletionTime"] = json!(now);
            if job.identify_language {
                answer["LanguageCode"] = json!(state.identified_language);
                answer["IdentifiedLanguageScore"] = json!(0.97);
            }
        }
        _ => {}
    }
    answer
}

/// `GET /transcripts/{job}.json`, presigned: the results file of a finished job.
fn results_file(state: &TranscribeState, request: &Request) -> (u16, ResponseTemplate) {
    let name = request.url.path().strip_prefix("/transcripts/").and_then(|rest| rest.strip_suffix(".json"));
    let signed = request.url.query_pairs().any(|(name, _)| name == "X-Amz-Signature");
    let job = name.and_then(|name| state.jobs.get(name)).filter(|job| job.failure.is_none());
    match job {
        Some(job) if signed => {
            let language = job.language_code.clone().unwrap_or_else(|| state.identified_language.clone());
            let body = results_json(job, &language);
            (200, ResponseTemplate::new(200).set_body_raw(body.to_string().into_bytes(), "application/json"))
        }
        Some(_) => s3_error(403, "AccessDenied", "Access Denied"),
        None => s3_error(404, "NoSuchKey", "The specified key does not exist."),
    }
}

/// Transcribe's results file: words spread evenly over the duration, punctuation without times.
fn results_json(job: &FakeJob, language: &str) -> Value {
    let words: Vec<&str> = job.transcript.split_whitespace().collect();
    let step = if words.is_empty() { 0.0 } else { job.duration / words.len() as f64 };
    let mut items = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let bare = word.trim_end_matches(['.', ',', '?', '!']);
        let (start, end) = (step * index as f64, step * (index + 1) as f64);
        items.push(json!({
            "id": items.len(),
            "type": "pronunciation",
            "start_time": format!("{start:.3}"),
            "end_time": format!("{end:.3}"),
            "alternatives": [{ "confidence": "0.998", "content": bare }],
        }));
        if let Some(mark) = word.strip_prefix(bare).filter(|mark| !mark.is_empty()) {
            items.push(json!({
                "id": items.len(),
                "type": "punctuation",
                "alternatives": [{ "confidence": "0.0", "content": mark }],
            }));
        }
    }
    json!({
        "jobName": job.name,
        "accountId": "123456789012",
        "status": "COMPLETED",
        "results": {
            "transcripts": [{ "transcript": job.transcript }],
            "items": items,
            "audio_segments": [{
                "id": 0,
                "transcript": job.transcript,
                "start_time": "0.000",
                "end_time": format!("{:.3}", job.duration),
                "items": (0..items.len()).collect::<Vec<_>>(),
            }],
            "language_code": language,
            "language_identification": [{ "score": "0.97", "code": language }],
        },
    })
}

fn aws_ok(body: Value) -> (u16, ResponseTemplate) {
    let response = ResponseTemplate::new(200)
        .insert_header("x-amzn-requestid", request_id())
        .set_body_raw(body.to_string().into_bytes(), "application/x-amz-json-1.1");
    (200, response)
}

/// An awsJson1_1 error: the type in `__type` and `x-amzn-errortype`, the text in `Message`.
fn aws_error(status: u16, kind: &str, message: &str) -> (u16, ResponseTemplate) {
    let body = json!({ "__type": format!("com.amazonaws.transcribe#{kind}"), "Message": message });
    let response = ResponseTemplate::new(status)
        .insert_header("x-amzn-requestid", request_id())
        .insert_header("x-amzn-errortype", format!("{kind}:http://internal.amazon.com/coral/com.amazonaws.transcribe/"))
        .set_body_raw(body.to_string().into_bytes(), "application/x-amz-json-1.1");
    (status, response)
}

fn s3_error(status: u16, code: &str, message: &str) -> (u16, ResponseTemplate) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/xml"))
}

// ---------------------------------------------------------------------------------------------
// SigV4, checked as AWS checks it

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let fields = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let field =
        |name: &str| fields.split(',').map(str::trim).find_map(|field| field.strip_prefix(name)?.strip_prefix('='));
    let mut scope = field("Credential")?.split('/');
    let (access_key_id, date, region, service) = (scope.next()?, scope.next()?, scope.next()?, scope.next()?);
    (scope.next()? == "aws4_request").then_some(())?;
    Some(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: field("SignedHeaders")?,
        signature: field("Signature")?,
    })
}

/// The error type and message AWS answers a request whose signature does not hold with.
fn verify_sigv4(request: &Request) -> Result<(), (&'static str, String)> {
    let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok());
    let Some(value) = header("authorization") else {
        return Err(("MissingAuthenticationTokenException", "Missing Authentication Token".to_string()));
    };
    let invalid = |message: &str| ("InvalidSignatureException", message.to_string());
    let auth = parse_authorization(value).ok_or_else(|| invalid("Authorization header is malformed."))?;
    if auth.access_key_id != FakeTranscribe::ACCESS_KEY_ID {
        return Err(("UnrecognizedClientException", "The security token included in the request is invalid.".into()));
    }
    if auth.region != FakeTranscribe::REGION || auth.service != "transcribe" {
        return Err(invalid("Credential should be scoped to a valid region and to the transcribe service."));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| invalid("X-Amz-Date is required."))?;
    let payload_hash = hex(&Sha256::digest(&request.body));
    if header("x-amz-content-sha256").is_some_and(|sent| sent != payload_hash) {
        return Err(invalid("The provided x-amz-content-sha256 header does not match what was computed."));
    }
    let mut canonical_headers = String::new();
    for name in auth.signed_headers.split(';') {
        let values: Vec<&str> = request.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",").trim()));
    }
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        request.method,
        request.url.path(),
        request.url.query().unwrap_or_default(),
        auth.signed_headers
    );
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let mut key = hmac_sha256(format!("AWS4{}", FakeTranscribe::SECRET_ACCESS_KEY).as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    if hex(&hmac_sha256(&key, string_to_sign.as_bytes())) != auth.signature {
        let message = "The request signature we calculated does not match the signature you provided.";
        return Err(invalid(message));
    }
    Ok(())
}

/// HMAC-SHA256 (RFC 2104) over the `sha2` the crate has already.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|key_byte| key_byte ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible transcriptions (and the audio host)

/// A fake OpenAI-compatible transcriptions server; `uri()` is its root, `config()` has the API
/// base (with `/v1`). It also hosts audio files (`host_audio`).
pub struct FakeWhisper {
    server: MockServer,
    state: Arc<Mutex<WhisperState>>,
}

/// A transcription request as `FakeWhisper` received it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WhisperCall {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    /// The `file` part's file name and content type, and the length of its bytes.
    pub filename: Option<String>,
    pub file_content_type: Option<String>,
    pub file_len: usize,
    pub model: Option<String>,
    pub language: Option<String>,
    pub response_format: Option<String>,
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
enum WhisperStep {
    Text(String),
    Raw(u16, String),
    Fail(u16),
}

#[derive(Default)]
struct WhisperState {
    key: Option<String>,
    script: VecDeque<WhisperStep>,
    calls: Vec<WhisperCall>,
    /// Path → bytes and content type.
    audio: BTreeMap<String, (Vec<u8>, String)>,
    downloads: usize,
}

impl FakeWhisper {
    pub const API_KEY: &str = "sk-fake-whisper-0123456789abcdef";
    pub const MODEL: &str = "whisper-1";
    /// The text of an answer when none is scripted.
    pub const TEXT: &str = "Buy oat milk and book the car service for Friday.";
    /// Every answer's `duration`.
    pub const DURATION: f64 = 4.25;

    /// A fake that takes only `Bearer API_KEY`.
    pub async fn start() -> Self {
        Self::start_with(Some(Self::API_KEY.to_string())).await
    }

    /// A fake that takes any key or none (a local whisper server).
    pub async fn start_keyless() -> Self {
        Self::start_with(None).await
    }

    async fn start_with(key: Option<String>) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(WhisperState { key, ..WhisperState::default() }));
        let responder = WhisperResponder { state: state.clone() };
        Mock::given(any()).respond_with(responder).mount(&server).await;
        FakeWhisper { server, state }
    }

    /// The client's settings for this fake: its base, `MODEL`, `API_KEY`, 5 s timeouts.
    pub fn config(&self) -> OpenAiTranscriberConfig {
        OpenAiTranscriberConfig {
            download_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            ..OpenAiTranscriberConfig::new(format!("{}/v1", self.uri()), Self::MODEL, Some(Self::API_KEY.to_string()))
        }
    }

    /// Serves `bytes` as `content_type` at a presigned-looking URL of this fake (any GET of its
    /// path answers them), which is returned.
    pub fn host_audio(&self, name: &str, bytes: Vec<u8>, content_type: &str) -> String {
        let path = format!("/audio/{name}");
        lock(&self.state).audio.insert(path.clone(), (bytes, content_type.to_string()));
        format!("{}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=fake", self.uri())
    }

    /// GETs of hosted audio so far.
    pub fn downloads(&self) -> usize {
        lock(&self.state).downloads
    }

    /// The next answer's `text`.
    pub fn reply_text(&self, text: impl Into<String>) {
        lock(&self.state).script.push_back(WhisperStep::Text(text.into()));
    }

    /// The next answer is `body` with `status`, as is (`{"text": ".."}` of a plain `json` server).
    pub fn reply_raw(&self, status: u16, body: impl Into<String>) {
        lock(&self.state).script.push_back(WhisperStep::Raw(status, body.into()));
    }

    /// The next answer is OpenAI's error for `status` (400, 401, 413, 429, 500, ...).
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).script.push_back(WhisperStep::Fail(status));
    }

    /// The transcription requests so far, in order.
    pub fn calls(&self) -> Vec<WhisperCall> {
        lock(&self.state).calls.clone()
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }
}

struct WhisperResponder {
    state: Arc<Mutex<WhisperState>>,
}

impl Respond for WhisperResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let path = request.url.path().to_string();
        if request.method.as_str() == "GET" {
            return hosted_audio(&mut state, &path);
        }
        let call = WhisperCall::of(request);
        state.calls.push(call.clone());
        if let Some(refusal) = check_whisper(&call, state.key.as_deref()) {
            return refusal;
        }
        match state.script.pop_front() {
            Some(WhisperStep::Text(text)) => verbose_json(&call, &text),
            Some(WhisperStep::Raw(status, body)) => {
                ResponseTemplate::new(status).set_body_raw(body.into_bytes(), "application/json")
            }
            Some(WhisperStep::Fail(status)) => whisper_error(&call, status),
            None => verbose_json(&call, FakeWhisper::TEXT),
        }
    }
}

fn hosted_audio(state: &mut WhisperState, path: &str) -> ResponseTemplate {
    match state.audio.get(path) {
        Some((bytes, content_type)) => {
            let response = ResponseTemplate::new(200).set_body_raw(bytes.clone(), content_type);
            state.downloads += 1;
            response
        }
        None => s3_error(404, "NoSuchKey", "The specified key does not exist.").1,
    }
}

/// OpenAI's refusal of a request it does not take: unknown URL, wrong key, not a form.
fn check_whisper(call: &WhisperCall, key: Option<&str>) -> Option<ResponseTemplate> {
    if !call.path.ends_with("/audio/transcriptions") {
        let message = format!("Invalid URL (POST {})", call.path);
        return Some(openai_error(404, "invalid_request_error", None, message));
    }
    if let Some(key) = key
        && call.authorization.as_deref() != Some(&format!("Bearer {key}"))
    {
        return Some(whisper_error(call, 401));
    }
    if call.filename.is_none() || call.file_len == 0 {
        let message = "Could not parse multipart form: no file.".to_string();
        return Some(openai_error(400, "invalid_request_error", None, message));
    }
    if call.model.is_none() {
        return Some(openai_error(400, "invalid_request_error", None, "model: field required".to_string()));
    }
    None
}

/// OpenAI's `verbose_json`: the language by name, as OpenAI gives it (`english`).
fn verbose_json(call: &WhisperCall, text: &str) -> ResponseTemplate {
    let language = match call.language.as_deref() {
        None | Some("en") => "english",
        Some("de") => "german",
        Some("fr") => "french",
        Some(other) => other,
    };
    ResponseTemplate::new(200).insert_header("x-request-id", request_id()).set_body_json(json!({
        "task": "transcribe",
        "language": language,
        "duration": FakeWhisper::DURATION,
        "text": text,
        "segments": [{
            "id": 0, "seek": 0, "start": 0.0, "end": FakeWhisper::DURATION, "text": format!(" {text}"),
            "tokens": [50364, 50564], "temperature": 0.0, "avg_logprob": -0.21,
            "compression_ratio": 1.1, "no_speech_prob": 0.01,
        }],
    }))
}

fn whisper_error(call: &WhisperCall, status: u16) -> ResponseTemplate {
    let received = call.authorization.as_deref().and_then(|value| value.strip_prefix("Bearer "));
    let (kind, code, message) = match status {
        // Names the key it received, as a careless server would.
        401 => match received {
            Some(key) => {
                ("invalid_request_error", Some("invalid_api_key"), format!("Incorrect API key provided: {key}."))
            }
            None => ("invalid_request_error", None, "You didn't provide an API key.".to_string()),
        },
        413 => ("invalid_request_error", None, "Maximum content size limit (26214400) exceeded.".to_string()),
        429 => ("requests", Some("rate_limit_exceeded"), "Rate limit reached for requests.".to_string()),
        500.. => ("server_error", None, "The server had an error while processing your request.".to_string()),
        _ => ("invalid_request_error", None, format!("Error {status} (fake).")),
    };
    openai_error(status, kind, code, message)
}

fn openai_error(status: u16, kind: &str, code: Option<&str>, message: String) -> ResponseTemplate {
    ResponseTemplate::new(status).insert_header("x-request-id", request_id()).set_body_json(json!({
        "error": { "message": message, "type": kind, "param": null, "code": code },
    }))
}

impl WhisperCall {
    fn of(request: &Request) -> Self {
        let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
        let content_type = header("content-type");
        let parts = content_type.as_deref().and_then(|value| parse_multipart(value, &request.body)).unwrap_or_default();
        let text = |name: &str| {
            let part = parts.iter().find(|part| part.name == name && part.filename.is_none())?;
            Some(String::from_utf8_lossy(&part.body).into_owned())
        };
        let file = parts.iter().find(|part| part.name == "file");
        WhisperCall {
            path: request.url.path().to_string(),
            authorization: header("authorization"),
            filename: file.and_then(|part| part.filename.clone()),
            file_content_type: file.and_then(|part| part.content_type.clone()),
            file_len: file.map_or(0, |part| part.body.len()),
            model: text("model"),
            language: text("language"),
            response_format: text("response_format"),
            content_type,
        }
    }
}

/// The parts of a `multipart/form-data` body (RFC 7578), or `None` when it is not one.
pub fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let (essence, params) = content_type.split_once(';')?;
    if !essence.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.split(';').find_map(|param| param.trim().strip_prefix("boundary="))?;
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let mut rest = body.strip_prefix(delimiter.as_bytes())?;
    let closing = format!("\r\n{delimiter}");
    let mut parts = Vec::new();
    while !rest.starts_with(b"--") {
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, closing.as_bytes())?;
        parts.push(parse_part(&rest[..end])?);
        rest = &rest[end + closing.len()..];
    }
    Some(parts)
}

fn parse_part(part: &[u8]) -> Option<FormPart> {
    let split = find(part, b"\r\n\r\n")?;
    let headers = std::str::from_utf8(&part[..split]).ok()?;
    let mut form_part =
        FormPart { name: String::new(), filename: None, content_type: None, body: part[split + 4..].to_vec() };
    for line in headers.split("\r\n") {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-disposition" => {
                form_part.name = disposition_param(value, "name")?;
                form_part.filename = disposition_param(value, "filename");
            }
            "content-type" => form_part.content_type = Some(value.trim().to_string()),
            _ => {}
        }
    }
    Some(form_part)
}

/// `name="file"` in `form-data; name="file"; filename="audio.m4a"`.
fn disposition_param(value: &str, name: &str) -> Option<String> {
    value.split(';').map(str::trim).find_map(|param| {
        let quoted = param.strip_prefix(name)?.strip_prefix('=')?;
        Some(quoted.trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("fake-{:08}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}
