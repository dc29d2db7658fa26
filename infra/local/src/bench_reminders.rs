//! `flowday-local bench` (part): 10,000 reminders due in the same minute, sent by one run of the
//! reminder-scheduler release binary against the emulator. Reported in docs/performance.md.

use std::time::Instant;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use chrono::{TimeDelta, Utc};
use shared::domain::notifications::NotificationType;
use shared::jobs::notifications::{NotificationJob, NotificationMessage};
use shared::store::schedule::ScheduleEntry;

use crate::LocalStack;
use crate::lambda_process::LambdaProcess;

pub async fn reminders(stack: &LocalStack, binary: &std::path::Path, count: usize) -> Result<(), String> {
    let started = Utc::now();
    let minute_ago = started - TimeDelta::seconds(62);
    seed(stack, count, minute_ago).await?;
    let context = stack.job_context("reminder-scheduler").map_err(|error| error.to_string())?;
    context.store.advance_watermark(None, minute_ago - TimeDelta::seconds(1)).await.map_err(|e| e.to_string())?;

    let process = LambdaProcess::start(binary, "reminder-scheduler", stack).await.map_err(|e| e.to_string())?;
    let before = Instant::now();
    let report = process.invoke(serde_json::json!({})).await?;
    let took = before.elapsed();
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    process.stop().await;
    let queued = queue_depth(stack).await?;
    println!(
        "\n## Reminder scheduler: {count} reminders due in the same minute, one run of the release binary\n\n\
         - run: {:.1} s (timeout 60 s); sent {}, on the queue {queued}; complete: {}\n- peak memory: {peak}",
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

async fn queue_depth(stack: &LocalStack) -> Result<u64, String> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let client = aws_sdk_sqs::Client::new(&stack.sdk);
    let url = stack.physical_id("NotificationsQueue").unwrap_or_default();
    let output = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    Ok(output
        .attributes
        .and_then(|attributes| attributes.get(&QueueAttributeName::ApproximateNumberOfMessages).cloned())
        .and_then(|depth| depth.parse().ok())
        .unwrap_or_default())
}
