//! `flowday-local bench` (part), the calendar: a full sync of 2,000 upstream events in pages of
//! 250 and an incremental sync of 20 changes, against the fake Google (DynamoDB writes, round
//! trips, time, and the peak memory of the release worker binary); and the range listing of a
//! month holding 30 repeating and 300 single own events, through the api-calendar binary.
//! Reported in docs/performance.md.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use shared::domain::calendar::{Event, EventFields};
use shared::domain::plan::limits;
use shared::integrations::calendars::SyncFrom;
use shared::jobs::calendar_sync::{CalendarJob, SyncContext, SyncReport, process};
use shared::store::Tenant;
use shared::store::connections::ConnectionItem;

use crate::calendar_fakes::{FakeGoogleCalendar, FakeGraph};
use crate::lambda_process::LambdaProcess;
use crate::{Emulator, LocalStack, Template, workspace_root};

const UPSTREAM_EVENTS: usize = 2_000;
const CHANGES: usize = 20;

pub async fn calendar(emulator: &Emulator) -> Result<(), String> {
    let google = FakeGoogleCalendar::start().await;
    let graph = FakeGraph::start().await;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let overrides = crate::calendar_fakes::stack_parameters(&google, &graph);
    let stack =
        LocalStack::create(&emulator.endpoint(), "benchcal", template, overrides).await.map_err(|e| e.to_string())?;
    seed_upstream(&google, UPSTREAM_EVENTS, 0);
    sync_in_process(&stack, &google).await?;
    sync_with_binary(&stack).await?;
    webhook(&stack).await?;
    range(&stack).await
}

/// Google notifications through the webhook-calendar binary: the check and the queued sync.
async fn webhook(stack: &LocalStack) -> Result<(), String> {
    use shared::integrations::calendars::Watch;
    let env = stack.env("webhook-calendar").map_err(|error| error.to_string())?;
    let store = shared::store::Store::from_env(&env, &stack.sdk).map_err(|error| error.to_string())?;
    let user_id = ulid::Ulid::new().to_string();
    let connection = ConnectionItem::new(
        &user_id,
        shared::domain::calendar::Source::Google,
        "bench@example.com".into(),
        "primary".into(),
        "v1.unused".into(),
        "http://127.0.0.1".into(),
    );
    store.connections().create_connection(&connection).await.map_err(|error| error.to_string())?;
    let secret = format!("{user_id}.{}.{}", connection.id, shared::auth::opaque::new_secret());
    let watch = Watch { id: "bench-channel".into(), resource_id: None, expires_at: Utc::now() + TimeDelta::days(6) };
    let hash = shared::auth::opaque::sha256_hex(&secret);
    store.connections().set_watch(&connection, &watch, &hash).await.map_err(|error| error.to_string())?;
    let binary = workspace_root().join("target/release/webhook-calendar");
    let process = LambdaProcess::start(&binary, "webhook-calendar", stack).await.map_err(|e| e.to_string())?;
    let values = [("channel_id", "bench-channel"), ("channel_token", secret.as_str())];
    let event = crate::bench::event("webhook-calendar", "google-notification", &values)?;
    let mut samples = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let answer = process.invoke(event.clone()).await?;
        samples.push(started.elapsed());
        if answer["statusCode"] != 200 {
            return Err(format!("the webhook answered {answer}"));
        }
    }
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    process.stop().await;
    samples.sort();
    println!(
        "- Google notifications through the webhook-calendar binary (200 sequential; GetItem + SQS SendMessage each): \
         p50 {:.1} ms, p99 {:.1} ms; peak memory {peak}",
        samples[100].as_secs_f64() * 1000.0,
        samples[198].as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// `count` one-hour events upstream, one every 3 hours from tomorrow, titled with `round`.
fn seed_upstream(google: &FakeGoogleCalendar, count: usize, round: usize) {
    let first =
        Utc::now().date_naive().succ_opt().unwrap_or_default().and_hms_opt(6, 0, 0).unwrap_or_default().and_utc();
    for index in 0..count {
        let start = first + TimeDelta::hours(3 * index as i64 + round as i64);
        let at = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        google.put_event(serde_json::json!({
            "id": format!("bench{index}"), "status": "confirmed", "summary": format!("Meeting {index} ({round})"),
            "start": {"dateTime": at(start), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": at(start + TimeDelta::hours(1)), "timeZone": "Europe/Berlin"},
        }));
    }
}

/// A connection of a new user to the fake Google, made as the callback makes it.
async fn connect(state: &calendar_sync_worker::SyncWorkerState) -> Result<ConnectionItem, String> {
    let loaded = state.clients.loaded().await.map_err(|error| error.to_string())?;
    let provider = loaded.provider(shared::domain::calendar::Source::Google).ok_or("Google is not configured")?;
    let verifier = shared::auth::opaque::new_secret();
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
    };
    let redirect = "http://127.0.0.1/v1/calendar/connections/google/callback";
    let consent = provider.authorize_url("bench", &challenge, redirect);
    let browser =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
    let answer = browser.get(&consent).send().await.map_err(|error| error.to_string())?;
    let location = answer.headers().get("location").and_then(|value| value.to_str().ok()).unwrap_or_default();
    let code = location.split("code=").nth(1).and_then(|rest| rest.split('&').next()).ok_or("no code")?;
    let grant = provider.exchange_code(code, &verifier, redirect).await.map_err(|error| error.to_string())?;
    let account = provider.account(&grant.access_token).await.map_err(|error| error.to_string())?;
    let user_id = ulid::Ulid::new().to_string();
    let owner = shared::store::connections::token_owner(&user_id, shared::domain::calendar::Source::Google);
    let refresh = loaded.sealing.seal(&grant.refresh_token.unwrap_or_default(), &owner);
    let connection = ConnectionItem::new(
        &user_id,
        shared::domain::calendar::Source::Google,
        account.email,
        account.calendar_id,
        refresh,
        "http://127.0.0.1".into(),
    );
    state.store.connections().create_connection(&connection).await.map_err(|error| error.to_string())?;
    Ok(connection)
}

async fn timed_job(
    state: &calendar_sync_worker::SyncWorkerState,
    job: &CalendarJob,
    job_id: &str,
) -> Result<(SyncReport, Duration, u64), String> {
    let context = SyncContext {
        store: &state.store,
        clients: &state.clients,
        queue: &state.queue,
        notifications: &state.notifications,
    };
    let round_trips = state.store.round_trips.count();
    let started = Instant::now();
    let report = process(&context, job, job_id).await.map_err(|error| error.to_string())?;
    Ok((report, started.elapsed(), state.store.round_trips.count() - round_trips))
}

/// The full and the incremental sync, run in this process (the store counts its round trips).
async fn sync_in_process(stack: &LocalStack, google: &FakeGoogleCalendar) -> Result<(), String> {
    let env = stack.env("calendar-sync-worker").map_err(|error| error.to_string())?;
    let state = calendar_sync_worker::state(&env, &stack.sdk).map_err(|error| error.to_string())?;
    let connection = connect(&state).await?;
    let job = CalendarJob::sync(&connection.user_id, &connection.id);
    let lists = google.calls("/events?");
    let (full, full_took, full_trips) = timed_job(&state, &job, "bench-full").await?;
    let full_lists = google.calls("/events?") - lists;
    for index in 0..CHANGES {
        // Every 100th event moves an hour later.
        let start =
            Utc::now().date_naive().succ_opt().unwrap_or_default().and_hms_opt(6, 0, 0).unwrap_or_default().and_utc()
                + TimeDelta::hours(3 * (index * 100) as i64 + 1);
        let at = |at: chrono::DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        google.put_event(serde_json::json!({
            "id": format!("bench{}", index * 100), "status": "confirmed", "summary": "Moved",
            "start": {"dateTime": at(start), "timeZone": "Europe/Berlin"},
            "end": {"dateTime": at(start + TimeDelta::hours(1)), "timeZone": "Europe/Berlin"},
        }));
    }
    let (incremental, incremental_took, incremental_trips) = timed_job(&state, &job, "bench-incremental").await?;
    println!(
        "\n## Calendar sync against the fake Google, in process (the store counts its requests)\n\n\
         - full sync of {UPSTREAM_EVENTS} events: {} pages ({full_lists} list calls of 250), {} events written, \
         {full_trips} DynamoDB round trips, {:.2} s\n\
         - incremental sync of {CHANGES} changes: {} page, {} events written, {incremental_trips} DynamoDB round trips, {:.3} s",
        full.pages,
        full.written,
        full_took.as_secs_f64(),
        incremental.pages,
        incremental.written,
        incremental_took.as_secs_f64(),
    );
    if full.written != UPSTREAM_EVENTS || incremental.written != CHANGES {
        return Err(format!("unexpected sync: {full:?} {incremental:?}"));
    }
    let stored = state.store.connections().get_connection(&connection.user_id, &connection.id).await;
    if !matches!(stored.ok().flatten().map(|item| item.sync_from), Some(SyncFrom::Cursor(_))) {
        return Err("the sync did not end on a cursor".into());
    }
    Ok(())
}

/// A full sync of 2,000 events by the release binary, for its peak memory.
async fn sync_with_binary(stack: &LocalStack) -> Result<(), String> {
    let env = stack.env("calendar-sync-worker").map_err(|error| error.to_string())?;
    let state = calendar_sync_worker::state(&env, &stack.sdk).map_err(|error| error.to_string())?;
    let connection = connect(&state).await?;
    let binary = workspace_root().join("target/release/calendar-sync-worker");
    let process = LambdaProcess::start(&binary, "calendar-sync-worker", stack).await.map_err(|e| e.to_string())?;
    let body = serde_json::to_string(&CalendarJob::sync(&connection.user_id, &connection.id)).unwrap_or_default();
    let batch = serde_json::json!({"Records": [{
        "messageId": "bench-1", "receiptHandle": "bench-1", "body": body,
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "eventSource": "aws:sqs",
    }]});
    let started = Instant::now();
    let answer = process.invoke_within(batch, Duration::from_secs(120)).await;
    let took = started.elapsed();
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    let logs = process.logs();
    process.stop().await;
    let answer = answer.map_err(|error| format!("{error}\n{logs}"))?;
    if answer["batchItemFailures"] != serde_json::json!([]) {
        return Err(format!("the worker failed the job: {answer}\n{logs}"));
    }
    println!(
        "- the same full sync by the release calendar-sync-worker binary (128 MB in Lambda, 256 MB given): \
         {:.2} s, peak memory {peak}",
        took.as_secs_f64()
    );
    Ok(())
}

/// A month with 30 repeating and 300 single own events, listed through the api-calendar binary.
async fn range(stack: &LocalStack) -> Result<(), String> {
    let (token, user_id) = crate::bench::signup(stack, "calendar").await?;
    let env = stack.env("api-calendar").map_err(|error| error.to_string())?;
    let store = shared::store::Store::from_env(&env, &stack.sdk).map_err(|error| error.to_string())?;
    let tenant = Tenant::user(&user_id);
    let month = chrono::NaiveDate::from_ymd_opt(2027, 3, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let rules =
        ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", "FREQ=MONTHLY;BYMONTHDAY=15"];
    for index in 0..330 {
        let start =
            month - TimeDelta::days(if index < 30 { 60 } else { 0 }) + TimeDelta::hours((index % 300) as i64 * 2);
        let fields = EventFields {
            title: Some(Some(format!("Event {index}"))),
            start_at: Some(Some(start)),
            end_at: Some(Some(start + TimeDelta::minutes(45))),
            timezone: Some(Some("Europe/Berlin".into())),
            rrule: Some((index < 30).then(|| rules[index % rules.len()].to_string())),
            ..EventFields::default()
        };
        let event =
            Event::create(ulid::Ulid::new().to_string(), &fields, Utc::now()).map_err(|error| format!("{error:?}"))?;
        store
            .events()
            .create_event(&tenant, &event, limits(shared::domain::account::Tier::Pro))
            .await
            .map_err(|e| e.to_string())?;
    }
    let process = LambdaProcess::start(&workspace_root().join("target/release/api-calendar"), "api-calendar", stack)
        .await
        .map_err(|e| e.to_string())?;
    let mut event = crate::bench::event("api-calendar", "list-events", &[("access_token", token.as_str())])?;
    let query = "from=2027-03-01T00:00:00Z&to=2027-04-01T00:00:00Z";
    event["rawQueryString"] = query.into();
    event["queryStringParameters"] = serde_json::json!({"from": "2027-03-01T00:00:00Z", "to": "2027-04-01T00:00:00Z"});
    let mut samples = Vec::new();
    let mut occurrences = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let answer = process.invoke(event.clone()).await?;
        samples.push(started.elapsed());
        let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap_or_default();
        occurrences = body["items"].as_array().map_or(0, Vec::len);
    }
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    process.stop().await;
    samples.sort();
    // Where the time goes: the three Queries (the emulator) and the expansion (our code).
    let (from, to) = (month, month + TimeDelta::days(31));
    let reading = Instant::now();
    let events = store.events().events_between(&tenant, from, to).await.map_err(|error| error.to_string())?;
    let read = reading.elapsed();
    let expanding = Instant::now();
    let mut expanded = 0;
    for _ in 0..20 {
        expanded = events.iter().map(|event| event.occurrences_between(from, to).len()).sum::<usize>();
    }
    let expansion = expanding.elapsed() / 20;
    println!(
        "\n## GET /v1/calendar/events for a month with 30 repeating and 300 single events (api-calendar binary, 20 runs)\n\n\
         - {occurrences} occurrences; 3 DynamoDB round trips (one Query per source, at once); p50 {:.1} ms, p90 {:.1} ms; peak memory {peak}\n\
         - of which, in this process: the three Queries {:.1} ms ({} events read), the expansion into {expanded} occurrences {:.2} ms",
        samples[10].as_secs_f64() * 1000.0,
        samples[18].as_secs_f64() * 1000.0,
        read.as_secs_f64() * 1000.0,
        events.len(),
        expansion.as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// Only the calendar part (`bench calendar`).
pub async fn calendar_only() -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    calendar(&emulator).await
}
