//! `flowday-local bench`: measures the release binaries as Lambda would run them, against the
//! emulator on loopback: binary size, cold start (process start to first event answered), peak
//! memory, and login latency over 1000 logins. Reported in docs/performance.md.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::lambda_process::{LambdaProcess, load_event};
use crate::{Emulator, LocalStack, Template, workspace_root};

const PASSWORD: &str = "correct horse battery";

/// A release binary where cargo put it (`CARGO_TARGET_DIR` when set).
fn release_binary(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    target.join("release").join(name)
}

pub(crate) fn event(function: &str, name: &str, values: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    load_event(&workspace_root().join("events").join(function).join(format!("{name}.json")), values)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn status_of(answer: &serde_json::Value) -> u64 {
    answer["statusCode"].as_u64().unwrap_or_default()
}

/// The bench measures how fast one client can go: the per-client budgets (a login run from one
/// address is over its 60 a minute at once) are turned off, as the test stack does for counts.
fn without_rate_limits() -> HashMap<String, String> {
    ["RateLimitAnonymousPerMinute", "RateLimitFreePerMinute", "RateLimitProPerMinute", "RateLimitTeamPerMinute"]
        .into_iter()
        .map(|parameter| (parameter.to_string(), "0".to_string()))
        .collect()
}

pub async fn run() -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let stack = LocalStack::create(&emulator.endpoint(), "bench", template, without_rate_limits())
        .await
        .map_err(|error| error.to_string())?;

    println!("## Release binaries (host target, {})\n", std::env::consts::ARCH);
    for name in crate::functions::binaries() {
        let size =
            std::fs::metadata(release_binary(name)).map_err(|error| format!("{name}: {error} (run make bench)"))?.len();
        println!("- {name}: {:.2} MB", size as f64 / 1_000_000.0);
    }

    for (binary, event_name) in [("api-auth", "health"), ("api-account", "get-me")] {
        let samples = cold_starts(&stack, binary, event_name, 20).await?;
        println!(
            "\n## Cold start of {binary} (process start to first `{event_name}` event answered, 20 runs)\n\n- min {}, median {}, p90 {}",
            millis(samples[0]),
            millis(percentile(&samples, 0.5)),
            millis(percentile(&samples, 0.9))
        );
    }

    reads(&stack, 1000).await?;
    tasks(&stack, 1000).await?;
    crate::bench_reminders::reminders(&stack, &release_binary("reminder-scheduler"), 10_000).await?;
    logins(&stack, 1000).await?;
    crate::bench_calendar::calendar(&emulator).await?;
    crate::bench_billing::billing(&emulator).await?;
    crate::bench_planner::planner()?;
    crate::bench_ai::ai(&emulator).await?;
    drop(emulator);
    Ok(())
}

/// Only the logins through api-auth (`bench logins`).
pub async fn logins_only(count: usize) -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let stack = LocalStack::create(&emulator.endpoint(), "bench", template, without_rate_limits())
        .await
        .map_err(|error| error.to_string())?;
    logins(&stack, count).await?;
    drop(emulator);
    Ok(())
}

/// Only the reminder scheduler's run over `count` (10,000) reminders due in one minute.
pub async fn reminders_only(count: usize) -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let stack = LocalStack::create(&emulator.endpoint(), "bench", template, without_rate_limits())
        .await
        .map_err(|error| error.to_string())?;
    crate::bench_reminders::reminders(&stack, &release_binary("reminder-scheduler"), count).await?;
    drop(emulator);
    Ok(())
}

async fn cold_starts(stack: &LocalStack, binary: &str, event_name: &str, runs: usize) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let process = LambdaProcess::start(&release_binary(binary), binary, stack).await.map_err(|e| e.to_string())?;
        // get-me needs no valid token to exercise the path: it answers 401 after a full init.
        let answer = process.invoke(event(binary, event_name, &[("access_token", "none")])?).await?;
        samples.push(process.started().elapsed());
        if status_of(&answer) == 0 {
            return Err(format!("{binary} gave no status: {answer}"));
        }
        process.stop().await;
    }
    samples.sort();
    Ok(samples)
}

async fn logins(stack: &LocalStack, count: usize) -> Result<(), String> {
    let process =
        LambdaProcess::start(&release_binary("api-auth"), "api-auth", stack).await.map_err(|e| e.to_string())?;
    let email = format!("bench-{}@example.com", ulid::Ulid::new().to_string().to_lowercase());
    let values = [("email", email.as_str()), ("password", PASSWORD)];
    let signup = process.invoke(event("api-auth", "signup", &values)?).await?;
    if status_of(&signup) != 201 {
        return Err(format!("signup failed: {signup}"));
    }
    let login = event("api-auth", "login", &values)?;
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let before = Instant::now();
        let answer = process.invoke(login.clone()).await?;
        samples.push(before.elapsed());
        if status_of(&answer) != 200 {
            return Err(format!("login failed: {answer}"));
        }
    }
    let total = started.elapsed();
    samples.sort();
    println!(
        "\n## Login through the api-auth binary ({count} sequential logins, Argon2id 19 MiB / 2 passes)\n\n\
         - p50 {}, p99 {}, max {}; {:.0} logins/s on one process",
        millis(percentile(&samples, 0.5)),
        millis(percentile(&samples, 0.99)),
        millis(samples[samples.len() - 1]),
        count as f64 / total.as_secs_f64()
    );
    // A sixth wrong password would meet the lockout (423, no hash checked): spread the wrong
    // passwords over fresh accounts, four each, to time the path an attacker probes.
    let mut wrong_password = Vec::new();
    for _ in 0..13 {
        let victim = format!("victim-{}@example.com", ulid::Ulid::new().to_string().to_lowercase());
        process.invoke(event("api-auth", "signup", &[("email", victim.as_str()), ("password", PASSWORD)])?).await?;
        let wrong = [("email", victim.as_str()), ("password", "not the password")];
        wrong_password.extend(timed(&process, event("api-auth", "login", &wrong)?, 4).await?);
    }
    wrong_password.sort();
    // Unknown addresses lock after five attempts too: four each, as for the real ones.
    let mut unknown_user = Vec::new();
    for _ in 0..13 {
        let nobody = format!("nobody-{}@example.com", ulid::Ulid::new().to_string().to_lowercase());
        let unknown = [("email", nobody.as_str()), ("password", PASSWORD)];
        unknown_user.extend(timed(&process, event("api-auth", "login", &unknown)?, 4).await?);
    }
    unknown_user.sort();
    println!(
        "- failed logins, median of 52: wrong password {}, unknown email {}",
        millis(percentile(&wrong_password, 0.5)),
        millis(percentile(&unknown_user, 0.5))
    );
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    println!("- peak memory of the api-auth process after signup and {count} logins: {peak}");
    process.stop().await;
    Ok(())
}

async fn timed(process: &LambdaProcess, event: serde_json::Value, count: usize) -> Result<Vec<Duration>, String> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let before = Instant::now();
        process.invoke(event.clone()).await?;
        samples.push(before.elapsed());
    }
    samples.sort();
    Ok(samples)
}

/// A new account made through the api-auth binary: its access token and user id.
pub(crate) async fn signup(stack: &LocalStack, name: &str) -> Result<(String, String), String> {
    let auth = LambdaProcess::start(&release_binary("api-auth"), "api-auth", stack).await.map_err(|e| e.to_string())?;
    let email = format!("{name}-{}@example.com", ulid::Ulid::new().to_string().to_lowercase());
    let signup =
        auth.invoke(event("api-auth", "signup", &[("email", email.as_str()), ("password", PASSWORD)])?).await?;
    auth.stop().await;
    let body: serde_json::Value =
        serde_json::from_str(signup["body"].as_str().unwrap_or("{}")).map_err(|e| e.to_string())?;
    let token = body["access_token"].as_str().ok_or("no access token")?.to_string();
    let user_id = body["user"]["id"].as_str().ok_or("no user id")?.to_string();
    Ok((token, user_id))
}

/// Profile reads through the api-account binary: latency and the memory of a function that never
/// hashes a password.
async fn reads(stack: &LocalStack, count: usize) -> Result<(), String> {
    let (token, _) = signup(stack, "reader").await?;
    let account =
        LambdaProcess::start(&release_binary("api-account"), "api-account", stack).await.map_err(|e| e.to_string())?;
    let samples = timed(&account, event("api-account", "get-me", &[("access_token", token.as_str())])?, count).await?;
    println!(
        "\n## GET /v1/me through the api-account binary ({count} sequential reads)\n\n- p50 {}, p99 {}; peak memory {}",
        millis(percentile(&samples, 0.5)),
        millis(percentile(&samples, 0.99)),
        account.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into())
    );
    account.stop().await;
    Ok(())
}

/// Creates timed through the binary. The rest of the tasks are written directly: moto copies the
/// whole table for every transaction action (its rollback), so a thousand transactional creates
/// take the emulator's time and memory into the gigabytes, which says nothing about DynamoDB.
const TIMED_CREATES: usize = 200;

/// Writes `count` tasks of the user straight into the table, 25 per BatchWriteItem.
async fn seed_tasks(stack: &LocalStack, user_id: &str, count: usize) -> Result<(), String> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.physical_id("Table").unwrap_or_default();
    let mut ids = ulid::Generator::new();
    let mut requests = Vec::with_capacity(count);
    for index in 0..count {
        let id = ids.generate().map_err(|error| error.to_string())?.to_string();
        let mut task = shared::domain::task::Task::new(id, chrono::Utc::now());
        task.title = format!("Seeded task {index}");
        let item =
            shared::store::to_item(&shared::store::tasks::TaskItem::new(&shared::store::Tenant::user(user_id), task))
                .map_err(|e| e.to_string())?;
        let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| e.to_string())?;
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    for chunk in requests.chunks(25) {
        client
            .batch_write_item()
            .request_items(&table, chunk.to_vec())
            .send()
            .await
            .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Task writes and lists through the api-tasks binary: creates (a pro account, so the free tier's
/// 50 open tasks do not stop it), then `count` tasks read in pages of 200.
async fn tasks(stack: &LocalStack, count: usize) -> Result<(), String> {
    let (token, user_id) = signup(stack, "planner").await?;
    let user_id = user_id.as_str();
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.physical_id("Table").unwrap_or_default())
        .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(format!("USER#{user_id}")))
        .key("SK", aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))
        .update_expression("SET tier = :pro")
        .expression_attribute_values(":pro", aws_sdk_dynamodb::types::AttributeValue::S("pro".into()))
        .send()
        .await
        .map_err(|error| error.to_string())?;

    let process =
        LambdaProcess::start(&release_binary("api-tasks"), "api-tasks", stack).await.map_err(|e| e.to_string())?;
    let create = event("api-tasks", "create-task", &[("access_token", token.as_str())])?;
    let creates = timed(&process, create, TIMED_CREATES).await?;
    seed_tasks(stack, user_id, count.saturating_sub(TIMED_CREATES)).await?;
    let mut list = event("api-tasks", "list-tasks", &[("access_token", token.as_str())])?;
    list["rawQueryString"] = "limit=200".into();
    list["queryStringParameters"] = serde_json::json!({"limit": "200"});
    let mut pages = Vec::new();
    let mut listed = 0;
    let started = Instant::now();
    loop {
        let before = Instant::now();
        let answer = process.invoke(list.clone()).await?;
        pages.push(before.elapsed());
        let page: serde_json::Value =
            serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).map_err(|e| e.to_string())?;
        listed += page["items"].as_array().map(Vec::len).unwrap_or(0);
        let Some(cursor) = page["next_cursor"].as_str() else { break };
        list["rawQueryString"] = format!("limit=200&cursor={cursor}").into();
        list["queryStringParameters"] = serde_json::json!({"limit": "200", "cursor": cursor});
    }
    let all_pages = started.elapsed();
    let page_50 = timed(&process, event("api-tasks", "list-tasks", &[("access_token", token.as_str())])?, 200).await?;
    println!(
        "\n## Tasks through the api-tasks binary\n\n- create: {TIMED_CREATES} sequential, p50 {}, p99 {}\n\
         - list, first page of the list-tasks event (limit=20, status=todo), 200 times: p50 {}, p99 {}\n\
         - all {listed} tasks in pages of 200: {} pages in {}, slowest page {}; peak memory {}",
        millis(percentile(&creates, 0.5)),
        millis(percentile(&creates, 0.99)),
        millis(percentile(&page_50, 0.5)),
        millis(percentile(&page_50, 0.99)),
        pages.len(),
        millis(all_pages),
        millis(pages.iter().copied().max().unwrap_or_default()),
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into())
    );
    process.stop().await;
    Ok(())
}
