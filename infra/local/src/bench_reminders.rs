//! `flowday-local bench` (part): 10,000 reminders due in the same minute, sent by one run of the
//! reminder-scheduler release binary. It reads its schedule from the emulator's DynamoDB; its SQS
//! is a counting stand-in on loopback, because the emulator's SQS slows down with every message a
//! queue holds (measured: 100 SendMessageBatch calls 42 s, 200 calls 196 s), which would measure
//! the emulator, not the scheduler. Reported in docs/performance.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{TimeDelta, Utc};
use shared::domain::messages::{NotificationJob, NotificationMessage};
use shared::domain::notifications::NotificationType;
use shared::store::schedule::ScheduleEntry;

use crate::LocalStack;
use crate::lambda_process::LambdaProcess;

pub async fn reminders(stack: &LocalStack, binary: &std::path::Path, count: usize) -> Result<(), String> {
    let seeding = Instant::now();
    let minute_ago = Utc::now() - TimeDelta::seconds(62);
    seed(stack, count, minute_ago).await?;
    println!("(seeded {count} schedule entries in {:.1} s)", seeding.elapsed().as_secs_f64());
    let env = stack.env("reminder-scheduler").map_err(|error| error.to_string())?;
    let store = shared::store::Store::from_env(&env, &stack.sdk).map_err(|error| error.to_string())?;
    store.schedule().advance_watermark(None, minute_ago - TimeDelta::seconds(1)).await.map_err(|e| e.to_string())?;

    let (sqs_endpoint, received) = counting_sqs().await?;
    let extra = [("AWS_ENDPOINT_URL_SQS", sqs_endpoint.as_str())];
    let process =
        LambdaProcess::start_with(binary, "reminder-scheduler", stack, &extra).await.map_err(|e| e.to_string())?;
    let before = Instant::now();
    let answer = process.invoke_within(serde_json::json!({}), std::time::Duration::from_secs(300)).await;
    let took = before.elapsed();
    let report = answer.map_err(|error| format!("{error}; the scheduler logged:\n{}", process.logs()))?;
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    process.stop().await;
    let queued = received.load(Ordering::Relaxed);
    println!(
        "\n## Reminder scheduler: {count} reminders due in the same minute, one run of the release binary\n\n\
         - run: {:.1} s (timeout 60 s); sent {}, received by SQS {queued}; complete: {}\n- peak memory: {peak}",
        took.as_secs_f64(),
        report["sent"],
        report["complete"]
    );
    if report["sent"].as_u64() != Some(count as u64) {
        return Err(format!("the run sent {} of {count}: {report}", report["sent"]));
    }
    Ok(())
}

/// `count` reminder entries of as many users, due across the minute after `from`.
async fn seed(stack: &LocalStack, count: usize, from: chrono::DateTime<Utc>) -> Result<(), String> {
    let client = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let table = stack.physical_id("Table").unwrap_or_default();
    let mut requests = Vec::with_capacity(count);
    for index in 0..count {
        let fire_at = from + TimeDelta::milliseconds((index * 60_000 / count) as i64);
        let user_id = ulid::Ulid::new().to_string();
        let task_id = ulid::Ulid::new().to_string();
        let message = NotificationMessage::new(
            user_id,
            NotificationJob::Reminder {
                task_id: task_id.clone(),
                reminder_id: "r".into(),
                occurrence: "once".into(),
                kind: NotificationType::TaskReminder,
                fire_at,
                late: false,
            },
        );
        // Written long before it is due, as reminders are: the entry is indexed at its own time.
        let entry = ScheduleEntry::new(format!("REMINDER#{task_id}#r"), fire_at, message, from - TimeDelta::hours(1));
        let item = shared::store::to_item(&entry).map_err(|error| error.to_string())?;
        let put = PutRequest::builder().set_item(Some(item)).build().map_err(|error| error.to_string())?;
        requests.push(WriteRequest::builder().put_request(put).build());
    }
    for chunk in requests.chunks(25) {
        let output = client
            .batch_write_item()
            .request_items(&table, chunk.to_vec())
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if output.unprocessed_items.is_some_and(|left| !left.is_empty()) {
            return Err("the emulator left writes unprocessed".into());
        }
    }
    Ok(())
}

/// A stand-in for SQS's SendMessageBatch (JSON protocol) that accepts every entry and counts them.
async fn counting_sqs() -> Result<(String, Arc<AtomicUsize>), String> {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let entries = request["Entries"].as_array().cloned().unwrap_or_default();
                counter.fetch_add(entries.len(), Ordering::Relaxed);
                let successful: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|entry| serde_json::json!({"Id": entry["Id"], "MessageId": ulid::Ulid::new().to_string(), "MD5OfMessageBody": ""}))
                    .collect();
                ([("content-type", "application/x-amz-json-1.0")], serde_json::json!({"Successful": successful, "Failed": []}).to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|error| error.to_string())?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{address}"), received))
}
