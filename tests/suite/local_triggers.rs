//! The background functions in the local gateway: `POST /_local/invoke/{function}`, schedules, and
//! the SQS consumer with partial batch failures and the redrive policy template.yaml declares.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::QueueAttributeName;
use axum::body::Body;
use flowday_local::functions::Trigger;
use flowday_local::triggers::{Job, Jobs, QueueConsumer, invoke_router, run_on_schedule};
use flowday_tests::{TestStack, event};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::jobs::JobHandler;
use tower::ServiceExt;

#[tokio::test]
async fn invoking_maintenance_locally_runs_it_once_and_returns_its_report() {
    let stack = TestStack::new().await;
    let report =
        stack.call(Method::POST, "/_local/invoke/maintenance", None, Some(event("maintenance", "hourly", &[])));
    let report = report.await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["trash"], json!({"entries": 0, "items_deleted": 0, "objects_deleted": 0, "failed": 0}));
    assert_eq!(report.body["digests"]["queued"], 0, "no user chose the digest");
    assert!(report.header("x-request-id").is_some(), "the local route gets the same envelope as the others");

    let catch_up = stack.call(Method::POST, "/_local/invoke/maintenance", None, Some(json!({"days_back": 60}))).await;
    assert_eq!(catch_up.status, StatusCode::OK);
    let no_body = stack.call(Method::POST, "/_local/invoke/maintenance", None, None).await;
    assert_eq!(no_body.status, StatusCode::OK, "an empty body is the schedule's {{}}: {}", no_body.body);
    let odd_input = stack.call(Method::POST, "/_local/invoke/maintenance", None, Some(json!({"days_back": "x"}))).await;
    assert_eq!(odd_input.status, StatusCode::OK, "a malformed input runs with the defaults: {}", odd_input.body);

    let unknown = stack.call(Method::POST, "/_local/invoke/no-such-function", None, Some(json!({}))).await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(unknown.body["detail"].as_str().unwrap().contains("maintenance"), "it names the known ones");
    let request = Request::post("/_local/invoke/maintenance").body(Body::from("{not json")).unwrap();
    stack.send(request).await.assert_problem(StatusCode::BAD_REQUEST, "malformed_json");
    let wrong_method = stack.call(Method::GET, "/_local/invoke/maintenance", None, None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_failed_local_run_answers_500_with_its_error() {
    let broken = Job {
        binary: "broken",
        trigger: Trigger::Schedule(Duration::from_secs(60)),
        handler: Arc::new(|_| Box::pin(async { Err("the disk is full".into()) })),
    };
    let jobs = Jobs::from_jobs(vec![broken]);
    let request = Request::post("/_local/invoke/broken").body(Body::from("{}")).unwrap();
    let response = invoke_router(jobs).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["code"], "function_failed");
    assert!(body["detail"].as_str().unwrap().contains("the disk is full"), "{body}");
}

static SCHEDULED_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[tokio::test]
async fn a_schedule_runs_once_per_period_and_not_at_start_up() {
    let count: JobHandler = Arc::new(|event| {
        Box::pin(async move {
            assert_eq!(event, json!({"from": "schedule"}));
            SCHEDULED_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(Value::Null)
        })
    });
    let period = Duration::from_millis(300);
    let schedule = tokio::spawn(run_on_schedule("counted", period, count, json!({"from": "schedule"})));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(SCHEDULED_RUNS.load(std::sync::atomic::Ordering::SeqCst), 0, "not at start-up");
    tokio::time::sleep(Duration::from_millis(800)).await;
    schedule.abort();
    let runs = SCHEDULED_RUNS.load(std::sync::atomic::Ordering::SeqCst);
    assert!((2..=3).contains(&runs), "{runs} runs in 950 ms at one per 300 ms");
    assert_eq!(flowday_local::triggers::schedule_input(&flowday_tests::template(), "maintenance"), json!({}));
}

/// What the test's handler saw: body, receive count.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

#[tokio::test]
async fn the_queue_consumer_deletes_what_succeeded_and_the_redrive_policy_takes_a_failing_record_to_the_dlq() {
    let stack = TestStack::new().await;
    let sqs = aws_sdk_sqs::Client::new(&stack.stack.sdk);
    let queue_url = stack.stack.physical_id("NotificationsQueue").unwrap();
    let queue_arn = stack.stack.physical_attribute("NotificationsQueue", "Arn").unwrap();
    let dlq_url = stack.stack.physical_id("NotificationsDlq").unwrap();
    // The template's visibility timeout (180 s) would have the test wait minutes between receives.
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .unwrap();
    for body in ["first", "poison", "second"] {
        sqs.send_message().queue_url(&queue_url).message_body(body).send().await.unwrap();
    }

    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let expected_arn = queue_arn.clone();
    let handler: JobHandler = Arc::new(move |event| {
        let recorded = recorded.clone();
        let expected_arn = expected_arn.clone();
        Box::pin(async move {
            let batch: SqsEvent = serde_json::from_value(event)?;
            let mut response = SqsBatchResponse::default();
            for record in batch.records {
                assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
                assert_eq!(record.event_source_arn.as_deref(), Some(expected_arn.as_str()));
                assert!(record.receipt_handle.is_some_and(|handle| !handle.is_empty()));
                let body = record.body.unwrap_or_default();
                let count = record.attributes.get("ApproximateReceiveCount").cloned().unwrap_or_default();
                recorded.lock().unwrap().push((body.clone(), count));
                if body == "poison" {
                    response.add_failure(record.message_id.unwrap_or_default());
                }
            }
            Ok(serde_json::to_value(response)?)
        })
    });
    let consumer = QueueConsumer {
        function: "test-worker".into(),
        sqs: sqs.clone(),
        queue_url: queue_url.clone(),
        queue_arn,
        handler,
        wait: Duration::from_secs(1),
        batch_size: 10,
    };

    let started = Instant::now();
    loop {
        let outcome = consumer.poll_once().await.unwrap();
        assert!(outcome.failed.len() <= 1, "{outcome:?}");
        if messages_in(&sqs, &dlq_url).await == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(25), "not in the DLQ yet: {:?}", seen.lock().unwrap());
    }
    let seen = seen.lock().unwrap().clone();
    let handled = |wanted: &str| {
        seen.iter().filter(|(body, _)| body == wanted).map(|(_, count)| count.as_str()).collect::<Vec<_>>()
    };
    assert_eq!(handled("first"), ["1"], "a record that succeeded is deleted, never seen again");
    assert_eq!(handled("second"), ["1"]);
    assert_eq!(handled("poison"), ["1", "2", "3", "4", "5"], "redelivered until maxReceiveCount (5)");
    assert_eq!(messages_in(&sqs, &queue_url).await, 0, "the queue is empty");
    let dead = sqs.receive_message().queue_url(&dlq_url).send().await.unwrap();
    assert_eq!(dead.messages()[0].body(), Some("poison"));
}

/// The local consumer hands a function as many records at once as its template.yaml event source
/// says: ai-worker one job a run (`BatchSize: 1`), as Lambda runs it.
#[tokio::test]
async fn the_queue_consumer_takes_batches_of_the_templates_batch_size() {
    let stack = TestStack::new().await;
    assert_eq!(flowday_local::triggers::queue_batch_size(&stack.stack.template, "ai-worker"), 1);
    let sqs = aws_sdk_sqs::Client::new(&stack.stack.sdk);
    let queue = "AiJobsQueue";
    let queue_url = stack.stack.physical_id(queue).unwrap();
    for body in ["one", "two", "three"] {
        sqs.send_message().queue_url(&queue_url).message_body(body).send().await.unwrap();
    }
    let batches: Arc<Mutex<Vec<usize>>> = Arc::default();
    let recorded = batches.clone();
    let handler: JobHandler = Arc::new(move |event| {
        let recorded = recorded.clone();
        Box::pin(async move {
            let batch: SqsEvent = serde_json::from_value(event)?;
            recorded.lock().unwrap().push(batch.records.len());
            Ok(serde_json::to_value(SqsBatchResponse::default())?)
        })
    });
    let consumer = QueueConsumer {
        function: "ai-worker".into(),
        sqs: sqs.clone(),
        queue_url: queue_url.clone(),
        queue_arn: stack.stack.physical_attribute(queue, "Arn").unwrap(),
        handler,
        wait: Duration::from_secs(1),
        batch_size: flowday_local::triggers::queue_batch_size(&stack.stack.template, "ai-worker"),
    };
    for _ in 0..3 {
        consumer.poll_once().await.unwrap();
    }
    assert_eq!(*batches.lock().unwrap(), [1, 1, 1]);
}

/// Visible plus in-flight messages of a queue.
async fn messages_in(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> u64 {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    attributes.values().map(|count| count.parse::<u64>().unwrap_or(0)).sum()
}
