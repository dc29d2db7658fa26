//! `flowday-local bench` (part), billing: Stripe events through the release webhook-stripe binary
//! (time from request to 200, and DynamoDB round trips, per event type), and 100 reservations at
//! once against a balance of 50 (how many succeed, and how long the race takes). Reported in
//! docs/performance.md.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::domain::credits::CreditKind;
use shared::store::Store;
use shared::store::credits::Reserved;

use crate::lambda_process::LambdaProcess;
use crate::stripe_fake::LOCAL_PRICES;
use crate::{Emulator, LocalStack, Template, workspace_root};

/// Events of events/webhook-stripe, each sent this many times (under fresh event ids).
const ROUNDS: usize = 50;
const EVENTS: [&str; 5] = [
    "subscription-created",
    "subscription-updated",
    // A charged period (the grant's transaction); the trial's invoice of 0 grants nothing.
    "invoice-paid-renewal",
    "invoice-payment-failed",
    "checkout-session-completed",
];

pub async fn billing(emulator: &Emulator) -> Result<(), String> {
    let template = Template::load(&workspace_root().join("template.yaml")).map_err(|error| error.to_string())?;
    let prices = LOCAL_PRICES.iter().map(|price| (price.parameter.to_string(), price.id.to_string())).collect();
    let stack =
        LocalStack::create(&emulator.endpoint(), "benchbill", template, prices).await.map_err(|e| e.to_string())?;
    let env = stack.env("webhook-stripe").map_err(|error| error.to_string())?;
    let store = Store::from_env(&env, &stack.sdk).map_err(|error| error.to_string())?;
    println!("\n## Billing\n");
    webhook(&stack, &store).await?;
    reservations(&store).await
}

/// A user with a profile and a remembered customer, as after a checkout.
async fn customer(store: &Store, customer_id: &str) -> Result<String, String> {
    let user = shared::store::accounts::UserItem::new(
        ulid::Ulid::new().to_string(),
        format!("bench-{}@example.com", ulid::Ulid::new().to_string().to_lowercase()),
        "Bench".into(),
        "Europe/Berlin".into(),
        "en".into(),
        &shared::store::now_rfc3339(),
    );
    store.accounts().create_with_google(&user, &ulid::Ulid::new().to_string()).await.map_err(|e| format!("{e:?}"))?;
    store.billing().remember_customer(&user.id, customer_id).await.map_err(|error| error.to_string())?;
    Ok(user.id)
}

fn signed(name: &str, user_id: &str, customer_id: &str, event_id: &str) -> Result<Value, String> {
    let values = [
        ("customer", customer_id),
        ("user_id", user_id),
        ("price", LOCAL_PRICES[0].id),
        ("pack_price", LOCAL_PRICES[3].id),
    ];
    let mut request = crate::bench::event("webhook-stripe", name, &values)?;
    let mut event: Value = serde_json::from_str(request["body"].as_str().unwrap_or("{}")).map_err(|e| e.to_string())?;
    event["id"] = json!(event_id);
    // Each round a new invoice and a new checkout: grants happen every time, as in production.
    if let Some(object) = event["data"]["object"].as_object_mut()
        && name != "subscription-created"
        && name != "subscription-updated"
    {
        object.insert("id".into(), json!(format!("{}_{event_id}", object["id"].as_str().unwrap_or("obj"))));
    }
    let body = event.to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = shared::integrations::stripe_webhook::signature_header(
        crate::stack::LOCAL_STRIPE_WEBHOOK_SECRET,
        timestamp,
        body.as_bytes(),
    );
    request["body"] = json!(body);
    request["headers"]["stripe-signature"] = json!(signature);
    Ok(request)
}

async fn webhook(stack: &LocalStack, store: &Store) -> Result<(), String> {
    let customer_id = "cus_bench";
    let user_id = customer(store, customer_id).await?;
    let binary = workspace_root().join("target/release/webhook-stripe");
    let process = LambdaProcess::start(&binary, "webhook-stripe", stack).await.map_err(|e| e.to_string())?;
    println!(
        "- Stripe events through the release webhook-stripe binary ({ROUNDS} of each type, sequential, \
         signature checked each time); round trips counted in tests/suite/round_trips.rs:"
    );
    let mut all = Vec::new();
    for name in EVENTS {
        let mut samples = Vec::new();
        for round in 0..ROUNDS {
            let request = signed(name, &user_id, customer_id, &format!("evt_bench_{name}_{round}"))?;
            let started = Instant::now();
            let answer = process.invoke(request).await?;
            samples.push(started.elapsed());
            if answer["statusCode"] != 200 {
                return Err(format!("the webhook answered {answer}"));
            }
        }
        samples.sort();
        println!("  - `{name}`: p50 {}, p99 {}", ms(samples[ROUNDS / 2]), ms(samples[ROUNDS * 99 / 100]));
        all.extend(samples);
    }
    let repeat = signed(EVENTS[0], &user_id, customer_id, "evt_bench_subscription-created_0")?;
    let mut repeats = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        process.invoke(repeat.clone()).await?;
        repeats.push(started.elapsed());
    }
    repeats.sort();
    println!("  - a repeated event (one GetItem): p50 {}", ms(repeats[ROUNDS / 2]));
    all.sort();
    let peak =
        process.peak_memory_kib().map(|kib| format!("{:.1} MB", kib as f64 / 1024.0)).unwrap_or("unknown".into());
    println!(
        "  - all {} events: p50 {}, max {}; peak memory {peak}",
        all.len(),
        ms(all[all.len() / 2]),
        ms(all[all.len() - 1])
    );
    process.stop().await;
    Ok(())
}

/// 100 reservations of one credit at once against a balance of 50 (3 daily, 25 kickstart, 22
/// purchased): exactly 50 must succeed.
async fn reservations(store: &Store) -> Result<(), String> {
    let user_id = customer(store, "cus_bench_credits").await?;
    store.credits().grant(&user_id, CreditKind::Purchased, 22, "bench", "bench").await.map_err(|e| e.to_string())?;
    let before = store.round_trips.count();
    let started = Instant::now();
    let attempts = (0..100).map(|index| {
        let user_id = user_id.clone();
        async move {
            let job = format!("bench-job-{index}");
            store.credits().reserve(&user_id, &job, 1, chrono::Utc::now(), "Europe/Berlin", 3).await
        }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let elapsed = started.elapsed();
    let round_trips = store.round_trips.count() - before;
    let taken = outcomes.iter().filter(|outcome| matches!(outcome, Ok(Reserved::Taken(_)))).count();
    let refused = outcomes.iter().filter(|outcome| matches!(outcome, Ok(Reserved::Insufficient(_)))).count();
    let failed = outcomes.len() - taken - refused;
    println!(
        "- 100 reservations of 1 credit at once against a balance of 50: {taken} taken, {refused} refused \
         (402), {failed} failed; {} in all, {round_trips} DynamoDB round trips",
        ms(elapsed)
    );
    if taken != 50 || failed != 0 {
        return Err(format!("expected exactly 50 reservations, got {taken} ({failed} failed)"));
    }
    Ok(())
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// Only the billing part (`bench billing`).
pub async fn billing_only() -> Result<(), String> {
    let emulator = Emulator::start(0).map_err(|error| error.to_string())?;
    billing(&emulator).await
}
