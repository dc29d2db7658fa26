//! The speech-to-text clients (`integrations::transcription`: Amazon Transcribe and
//! OpenAI-compatible) against the local fakes that speak their wire formats
//! (`transcription_fakes`): happy paths and what lands on the wire, a retry that finds the job it
//! started, failed jobs, throttling, SigV4 signing, the multipart form, refusals without the key,
//! and the size limit of a download.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use flowday_local::transcription_fakes::{FakeTranscribe, FakeWhisper};
use shared::integrations::transcription::{
    AmazonTranscribe, AmazonTranscribeConfig, Audio, OpenAiTranscriber, OpenAiTranscriberConfig, TranscribeError,
    Transcriber,
};

// ---------------------------------------------------------------------------------------------
// Set-up

fn http() -> reqwest::Client {
    shared::integrations::http_client().expect("an HTTP client")
}

const JOB: &str = "01J9ZK3M7Q8R4T6V2X5Y0B1C3D";

fn audio(language: Option<&str>) -> Audio {
    Audio {
        job_name: JOB.to_string(),
        s3_uri: format!("s3://flowday-uploads/users/u1/audio/{JOB}.m4a"),
        download_url: String::new(),
        content_type: "audio/mp4".to_string(),
        language: language.map(str::to_string),
    }
}

fn credentials(access_key_id: &str, secret_access_key: &str, session_token: Option<&str>) -> SharedCredentialsProvider {
    let credentials =
        Credentials::new(access_key_id, secret_access_key, session_token.map(str::to_string), None, "test");
    SharedCredentialsProvider::new(credentials)
}

fn fake_credentials() -> SharedCredentialsProvider {
    credentials(FakeTranscribe::ACCESS_KEY_ID, FakeTranscribe::SECRET_ACCESS_KEY, None)
}

async fn transcribe_with(change: impl FnOnce(&mut AmazonTranscribeConfig)) -> (FakeTranscribe, AmazonTranscribe) {
    let fake = FakeTranscribe::start().await;
    let mut config = fake.config();
    change(&mut config);
    let client = AmazonTranscribe::new(http(), config, fake_credentials());
    (fake, client)
}

async fn transcribe() -> (FakeTranscribe, AmazonTranscribe) {
    transcribe_with(|_| {}).await
}

async fn whisper_with(change: impl FnOnce(&mut OpenAiTranscriberConfig)) -> (FakeWhisper, OpenAiTranscriber) {
    let fake = FakeWhisper::start().await;
    let mut config = fake.config();
    change(&mut config);
    let client = OpenAiTranscriber::new(http(), config);
    (fake, client)
}

async fn whisper() -> (FakeWhisper, OpenAiTranscriber) {
    whisper_with(|_| {}).await
}

/// Bytes standing in for a recording (not a real m4a: the fake does not decode it).
fn recording(len: usize) -> Vec<u8> {
    (0..len).map(|index| (index * 31 % 251) as u8).collect()
}

/// A recording hosted by `fake`, described for the clients.
fn hosted(fake: &FakeWhisper, len: usize, content_type: &str, language: Option<&str>) -> Audio {
    let name = format!("{JOB}.m4a");
    Audio {
        download_url: fake.host_audio(&name, recording(len), content_type),
        content_type: content_type.to_string(),
        ..audio(language)
    }
}

fn operations(fake: &FakeTranscribe) -> Vec<(String, u16)> {
    fake.calls().into_iter().filter_map(|call| Some((call.operation?, call.status))).collect()
}

// ---------------------------------------------------------------------------------------------
// Amazon Transcribe

#[tokio::test]
async fn transcribe_starts_a_job_polls_it_and_reads_the_results() {
    let (fake, client) = transcribe().await;
    fake.set_transcript("Buy milk, then call Anna about Friday.", 2.5);
    let transcript = client.transcribe(&audio(Some("en-GB"))).await.expect("a transcript");

    assert_eq!(transcript.text, "Buy milk, then call Anna about Friday.");
    assert_eq!(transcript.language.as_deref(), Some("en-GB"));
    let duration = transcript.duration_seconds.expect("a duration");
    assert!((duration - 2.5).abs() < 1e-9, "{duration}");
    assert_eq!(client.provider(), "transcribe");

    let start = ("StartTranscriptionJob".to_string(), 200);
    let poll = ("GetTranscriptionJob".to_string(), 200);
    // The finished job is deleted, and Transcribe's copy of the transcript with it.
    let delete = ("DeleteTranscriptionJob".to_string(), 200);
    assert_eq!(operations(&fake), vec![start, poll.clone(), poll.clone(), poll, delete]);
    assert_eq!(fake.transcript_downloads(), 1);
    let jobs = fake.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].name.as_str(), jobs[0].deleted), (JOB, true));
    assert_eq!(jobs[0].media_file_uri, audio(None).s3_uri);
    assert_eq!(jobs[0].media_format, "mp4");
    assert_eq!(jobs[0].language_code.as_deref(), Some("en-GB"));
    assert!(!jobs[0].identify_language);

    let call = &fake.calls_of("StartTranscriptionJob")[0];
    let authorization = call.authorization.as_deref().unwrap_or_default();
    assert!(authorization.contains("/us-east-1/transcribe/aws4_request"), "{authorization}");
    assert!(authorization.contains("x-amz-target"), "the operation is signed: {authorization}");
    assert_eq!(call.body["TranscriptionJobName"], JOB);
}

#[tokio::test]
async fn transcribe_identifies_the_language_when_none_or_a_bare_one_is_given() {
    let (fake, client) = transcribe().await;
    fake.set_identified_language("de-DE");
    fake.set_polls_before_done(0);
    let transcript = client.transcribe(&audio(None)).await.expect("a transcript");
    assert_eq!(transcript.language.as_deref(), Some("de-DE"));
    assert_eq!(transcript.text, FakeTranscribe::TRANSCRIPT);
    let start = &fake.calls_of("StartTranscriptionJob")[0].body;
    assert_eq!(start["IdentifyLanguage"], true);
    assert!(start.get("LanguageCode").is_none());

    // Transcribe takes only full codes: a bare "en" is left to identification too.
    let (fake, client) = transcribe().await;
    client.transcribe(&audio(Some("en"))).await.expect("a transcript");
    assert!(fake.jobs()[0].identify_language);
}

#[tokio::test]
async fn a_retry_finds_the_job_it_started_without_starting_another() {
    // The first attempt gives up while the job runs (as a crashed or timed-out worker would).
    let (fake, impatient) = transcribe_with(|config| config.max_wait = Duration::from_millis(120)).await;
    fake.set_polls_before_done(1000);
    let error = impatient.transcribe(&audio(Some("en-US"))).await.expect_err("still running");
    assert!(matches!(&error, TranscribeError::Retry(message) if message.contains("IN_PROGRESS")), "{error}");

    // The retry's start meets the job's name (ConflictException) and waits for that job.
    fake.set_polls_before_done(0);
    let client = AmazonTranscribe::new(http(), fake.config(), fake_credentials());
    let transcript = client.transcribe(&audio(Some("en-US"))).await.expect("a transcript");
    assert_eq!(transcript.text, FakeTranscribe::TRANSCRIPT);

    assert_eq!(fake.jobs().len(), 1, "one job only");
    let starts: Vec<u16> = fake.calls_of("StartTranscriptionJob").iter().map(|call| call.status).collect();
    assert_eq!(starts, vec![200, 400], "the second start was refused as a conflict");
    assert_eq!(fake.transcript_downloads(), 1);
}

#[tokio::test]
async fn a_failed_job_is_failed_with_its_reason() {
    let (fake, client) = transcribe().await;
    fake.fail_next_job("The media format that you specified doesn't match the detected media format.");
    let error = client.transcribe(&audio(Some("en-US"))).await.expect_err("the job failed");
    match &error {
        TranscribeError::Failed(message) => assert!(message.contains("media format"), "{message}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(fake.transcript_downloads(), 0);
}

#[tokio::test]
async fn throttled_calls_are_waited_out() {
    let (fake, client) = transcribe().await;
    fake.throttle_next();
    let transcript = client.transcribe(&audio(Some("en-US"))).await.expect("a transcript after throttling");
    assert_eq!(transcript.text, FakeTranscribe::TRANSCRIPT);
    let starts: Vec<u16> = fake.calls_of("StartTranscriptionJob").iter().map(|call| call.status).collect();
    assert_eq!(starts, vec![400, 200]);
    assert_eq!(fake.jobs().len(), 1);

    // A throttled poll, too.
    let (fake, client) = transcribe().await;
    fake.set_polls_before_done(0);
    fake.throttle_next_poll();
    fake.throttle_next_poll();
    client.transcribe(&audio(Some("en-US"))).await.expect("a transcript after throttled polls");
    let statuses: Vec<u16> = operations(&fake).into_iter().map(|(_, status)| status).collect();
    assert_eq!(statuses, vec![200, 400, 400, 200, 200], "start, two throttled polls, the poll, the delete");
}

#[tokio::test]
async fn throttling_past_max_wait_is_retry() {
    let (fake, client) = transcribe_with(|config| config.max_wait = Duration::from_millis(150)).await;
    for _ in 0..100 {
        fake.throttle_next();
    }
    let error = client.transcribe(&audio(Some("en-US"))).await.expect_err("throttled throughout");
    assert!(matches!(&error, TranscribeError::Retry(message) if message.contains("LimitExceededException")), "{error}");
    assert!(fake.jobs().is_empty());
}

#[tokio::test]
async fn transcribe_refuses_unsigned_requests_and_wrong_credentials() {
    let fake = FakeTranscribe::start().await;

    let unsigned = http()
        .post(format!("{}/", fake.uri()))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", "Transcribe.GetTranscriptionJob")
        .body(format!(r#"{{"TranscriptionJobName": "{JOB}"}}"#))
        .send()
        .await
        .expect("an answer");
    assert_eq!(unsigned.status(), 400);
    assert!(unsigned.text().await.unwrap().contains("MissingAuthenticationTokenException"));

    let secret = "wrong/secret/key/that/must/not/leak/000000";
    let unknown = AmazonTranscribe::new(http(), fake.config(), credentials("AKIDSOMEONEELSE00000", secret, None));
    let error = unknown.transcribe(&audio(Some("en-US"))).await.expect_err("an unknown key");
    assert!(matches!(&error, TranscribeError::Failed(message) if message.contains("UnrecognizedClientException")));

    let forged = AmazonTranscribe::new(http(), fake.config(), credentials(FakeTranscribe::ACCESS_KEY_ID, secret, None));
    let error = forged.transcribe(&audio(Some("en-US"))).await.expect_err("a wrong secret");
    assert!(matches!(&error, TranscribeError::Failed(message) if message.contains("InvalidSignatureException")));
    assert!(!error.to_string().contains(secret));
    assert!(fake.jobs().is_empty());
}

#[tokio::test]
async fn transcribe_sends_the_session_token_of_temporary_credentials() {
    let fake = FakeTranscribe::start().await;
    let token = "FwoGZXIvYXdzEFAKESESSIONTOKEN";
    let temporary = credentials(FakeTranscribe::ACCESS_KEY_ID, FakeTranscribe::SECRET_ACCESS_KEY, Some(token));
    let client = AmazonTranscribe::new(http(), fake.config(), temporary);
    client.transcribe(&audio(Some("en-US"))).await.expect("a transcript");
    let signed = fake.calls_of("GetTranscriptionJob");
    assert!(signed.iter().all(|call| call.security_token.as_deref() == Some(token)));
    assert!(!format!("{client:?}").contains(FakeTranscribe::SECRET_ACCESS_KEY));
}

#[tokio::test]
async fn transcribe_refuses_unsupported_audio_before_calling() {
    let (fake, client) = transcribe().await;
    let ogg = Audio { content_type: "audio/ogg".to_string(), ..audio(None) };
    assert!(matches!(client.transcribe(&ogg).await, Err(TranscribeError::Failed(_))));
    let webm = Audio { content_type: "audio/webm;codecs=opus".to_string(), ..audio(None) };
    client.transcribe(&webm).await.expect("webm is taken");
    assert_eq!(fake.jobs()[0].media_format, "webm");
    assert_eq!(fake.calls_of("StartTranscriptionJob").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible

#[tokio::test]
async fn whisper_downloads_the_audio_and_sends_the_form() {
    let (fake, client) = whisper().await;
    let audio = hosted(&fake, 64 * 1024 + 7, "audio/x-m4a", None);
    let transcript = client.transcribe(&audio).await.expect("a transcript");

    assert_eq!(transcript.text, FakeWhisper::TEXT);
    assert_eq!(transcript.duration_seconds, Some(FakeWhisper::DURATION));
    assert_eq!(transcript.language.as_deref(), Some("en"), "OpenAI's `english` as a code");
    assert_eq!(client.provider(), "openai");
    assert_eq!(fake.downloads(), 1);

    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.path, "/v1/audio/transcriptions");
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {}", FakeWhisper::API_KEY).as_str()));
    assert!(call.content_type.as_deref().unwrap_or_default().starts_with("multipart/form-data; boundary="));
    assert_eq!(call.filename.as_deref(), Some("audio.m4a"));
    assert_eq!(call.file_content_type.as_deref(), Some("audio/x-m4a"));
    assert_eq!(call.file_len, 64 * 1024 + 7);
    assert_eq!(call.model.as_deref(), Some("whisper-1"));
    assert_eq!(call.response_format.as_deref(), Some("verbose_json"));
    assert_eq!(call.language, None);
}

#[tokio::test]
async fn whisper_passes_the_language_and_the_model() {
    let (fake, client) = whisper_with(|config| config.model = "Systran/faster-whisper-small".to_string()).await;
    fake.reply_text("  Milch kaufen.  ");
    let audio = hosted(&fake, 1000, "audio/mpeg", Some("de-DE"));
    let transcript = client.transcribe(&audio).await.expect("a transcript");
    assert_eq!(transcript.text, "Milch kaufen.");
    assert_eq!(transcript.language.as_deref(), Some("de"));
    let call = &fake.calls()[0];
    assert_eq!(call.language.as_deref(), Some("de"));
    assert_eq!(call.model.as_deref(), Some("Systran/faster-whisper-small"));
    assert_eq!(call.filename.as_deref(), Some("audio.mp3"));
}

#[tokio::test]
async fn whisper_takes_a_plain_json_answer_and_needs_no_key_when_the_server_wants_none() {
    let fake = FakeWhisper::start_keyless().await;
    let config = OpenAiTranscriberConfig::new(format!("{}/v1", fake.uri()), "", None);
    assert_eq!(config.model, "whisper-1");
    let client = OpenAiTranscriber::new(http(), config);
    fake.reply_raw(200, r#"{"text": "Call mum."}"#);
    let transcript = client.transcribe(&hosted(&fake, 10, "audio/wav", Some("en-US"))).await.expect("a transcript");
    assert_eq!(transcript.text, "Call mum.");
    assert_eq!(transcript.duration_seconds, None);
    assert_eq!(transcript.language.as_deref(), Some("en-US"), "the language asked for");
    assert_eq!(fake.calls()[0].authorization, None);
}

#[tokio::test]
async fn whisper_throttling_and_outages_are_retry() {
    let (fake, client) = whisper().await;
    let audio = hosted(&fake, 100, "audio/webm", None);
    fake.fail_next(429);
    let error = client.transcribe(&audio).await.expect_err("throttled");
    assert!(matches!(&error, TranscribeError::Retry(message) if message.contains("rate_limit_exceeded")), "{error}");
    fake.fail_next(500);
    assert!(client.transcribe(&audio).await.expect_err("an outage").is_retryable());
    client.transcribe(&audio).await.expect("fine afterwards");
}

#[tokio::test]
async fn whisper_refusals_are_failed_without_the_key() {
    let wrong_key = "sk-wrong-secret-must-not-leak-42";
    let (fake, client) = whisper_with(|config| config.api_key = Some(wrong_key.to_string())).await;
    let error = client.transcribe(&hosted(&fake, 100, "audio/mp4", None)).await.expect_err("a wrong key");
    match &error {
        TranscribeError::Failed(message) => {
            assert!(message.contains("invalid_api_key"), "{message}");
            assert!(!message.contains(wrong_key), "{message}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert!(!format!("{:?}", client).contains(wrong_key));
    let config = OpenAiTranscriberConfig::new("https://api.openai.com/v1", "whisper-1", Some(wrong_key.into()));
    assert!(!format!("{config:?}").contains(wrong_key));
}

#[tokio::test]
async fn whisper_refuses_a_download_over_the_limit() {
    let (fake, client) = whisper_with(|config| config.max_audio_bytes = 1000).await;
    let error = client.transcribe(&hosted(&fake, 1001, "audio/mp4", None)).await.expect_err("too large");
    assert!(matches!(&error, TranscribeError::Failed(message) if message.contains("larger than 1000")), "{error}");
    assert!(fake.calls().is_empty(), "nothing was sent");

    // OpenAI's own limit by default: 25 MB.
    let (fake, client) = whisper().await;
    let error =
        client.transcribe(&hosted(&fake, 25 * 1024 * 1024 + 1, "audio/mp4", None)).await.expect_err("too large");
    assert!(matches!(error, TranscribeError::Failed(_)));
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn whisper_download_failures_keep_the_url_out_of_errors() {
    let (fake, client) = whisper().await;
    let missing = Audio {
        download_url: format!("{}/audio/missing.m4a?X-Amz-Security-Token=SECRETTOKEN", fake.uri()),
        ..audio(None)
    };
    let error = client.transcribe(&missing).await.expect_err("no such object");
    assert!(matches!(&error, TranscribeError::Failed(message) if message.contains("404")), "{error}");
    assert!(!error.to_string().contains("SECRETTOKEN"));

    let unreachable =
        Audio { download_url: "http://127.0.0.1:9/a.m4a?X-Amz-Signature=SECRETSIG".into(), ..audio(None) };
    let error = client.transcribe(&unreachable).await.expect_err("nothing listens");
    assert!(error.is_retryable(), "{error}");
    assert!(!error.to_string().contains("SECRETSIG"), "{error}");
}
