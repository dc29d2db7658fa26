//! The webhook-stripe binary, run as Lambda runs it, on the Stripe events of events/webhook-stripe
//! (one story: a trial and its invoice of 0, the first charge failing and its retry paid, a
//! cancellation, a credit pack, the customer deleted), each signed as Stripe signs it. Fed in
//! order, in reverse, and each twice, the story ends in the same state: order and repetition do
//! not matter. A second story ends while the subscription is live (recovered from `past_due`),
//! so that a stale event applied last would show.

use flowday_local::lambda_process::LambdaProcess;
use flowday_tests::{LambdaAnswer, TestStack, billing, event, invoke};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_webhook-stripe");
const CUSTOMER: &str = "cus_QFlowdayAda0001";

/// The story's events, in the order Stripe made them.
const STORY: [&str; 13] = [
    "subscription-created",
    "invoice-paid",
    "checkout-session-completed",
    "subscription-trial-will-end",
    "invoice-payment-failed",
    "subscription-updated",
    "invoice-paid-renewal",
    "subscription-updated-active",
    "subscription-updated-cancel",
    "subscription-deleted",
    "checkout-session-completed-credits",
    "customer-deleted",
    "unhandled-payment-intent-succeeded",
];

/// A Stripe event of events/webhook-stripe for `user_id`, signed now with `secret`.
fn signed(name: &str, user_id: &str, secret: &str) -> Value {
    let values = [
        ("customer", CUSTOMER),
        ("user_id", user_id),
        ("price", billing::PRO_MONTHLY),
        ("pack_price", billing::CREDITS_100),
    ];
    let mut request = event("webhook-stripe", name, &values);
    let body = request["body"].as_str().unwrap().to_string();
    request["headers"]["stripe-signature"] = json!(billing::sign(secret, &body));
    request
}

async fn deliver(lambda: &LambdaProcess, request: Value) -> LambdaAnswer {
    let answer = invoke(lambda, request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer
}

/// Runs the story on a stack of its own, in `order`, and answers what the user ends with.
async fn story(order: &[&str]) -> Value {
    let stack = TestStack::with_parameters(billing::prices()).await;
    let user = stack.signup("Stripe").await;
    let user_id = user["user"]["id"].as_str().unwrap().to_string();
    let store = stack.store("webhook-stripe");
    // What api-billing's checkout did before Stripe's first event.
    store.billing().remember_customer(&user_id, CUSTOMER).await.unwrap();
    let lambda = stack.lambda(BINARY, "webhook-stripe").await;
    for name in order {
        deliver(&lambda, signed(name, &user_id, billing::WEBHOOK_SECRET)).await;
    }
    lambda.stop().await;
    billing::final_state(&stack, &user_id).await
}

#[tokio::test]
async fn the_story_ends_the_same_in_order_in_reverse_and_delivered_twice() {
    let in_order = story(&STORY).await;
    assert_eq!(in_order["tier"], "free", "{in_order}");
    assert_eq!(in_order["status"], "canceled");
    assert_eq!(in_order["stripe_customer_id"], Value::Null, "the deleted customer is forgotten");
    assert_eq!(
        in_order["credits"]["subscription"], 300,
        "one charged period of Pro (monthly); the trial's 0 grants none"
    );
    assert_eq!(in_order["credits"]["purchased"], 100, "one credit pack");
    assert_eq!(in_order["notices"], json!(["Your payment did not go through", "Your trial ends soon"]));

    let reversed: Vec<&str> = STORY.iter().rev().copied().collect();
    assert_eq!(story(&reversed).await, in_order, "in reverse");
    let twice: Vec<&str> = STORY.iter().flat_map(|name| [*name, *name]).collect();
    assert_eq!(story(&twice).await, in_order, "each twice");
}

/// A trial whose first charge failed, then succeeded on Stripe's retry.
const RECOVERY: [&str; 6] = [
    "subscription-created",
    "invoice-paid",
    "invoice-payment-failed",
    "subscription-updated",
    "invoice-paid-renewal",
    "subscription-updated-active",
];

#[tokio::test]
async fn a_subscription_that_recovered_stays_active_whatever_order_the_older_events_come_in() {
    let in_order = story(&RECOVERY).await;
    assert_eq!((in_order["tier"].as_str(), in_order["status"].as_str()), (Some("pro"), Some("active")), "{in_order}");
    assert_eq!(in_order["credits"]["subscription"], 300, "{in_order}");
    let reversed: Vec<&str> = RECOVERY.iter().rev().copied().collect();
    assert_eq!(story(&reversed).await, in_order, "the past_due of the older events never rolls it back");
    let twice: Vec<&str> = RECOVERY.iter().flat_map(|name| [*name, *name]).collect();
    assert_eq!(story(&twice).await, in_order, "each twice");
}

#[tokio::test]
async fn a_forged_stale_or_unsigned_event_is_refused_and_changes_nothing() {
    let stack = TestStack::with_parameters(billing::prices()).await;
    let user = stack.signup("Forger").await;
    let user_id = user["user"]["id"].as_str().unwrap().to_string();
    stack.store("webhook-stripe").billing().remember_customer(&user_id, CUSTOMER).await.unwrap();
    let lambda = stack.lambda(BINARY, "webhook-stripe").await;

    let forged = signed("subscription-created", &user_id, "whsec_guessed");
    let mut stale = signed("subscription-created", &user_id, billing::WEBHOOK_SECRET);
    let body = stale["body"].as_str().unwrap().to_string();
    let old = chrono::Utc::now().timestamp() - 301;
    stale["headers"]["stripe-signature"] =
        json!(shared::integrations::stripe_webhook::signature_header(billing::WEBHOOK_SECRET, old, body.as_bytes()));
    let mut unsigned = signed("subscription-created", &user_id, billing::WEBHOOK_SECRET);
    unsigned["headers"].as_object_mut().unwrap().remove("stripe-signature");
    let mut altered = signed("subscription-created", &user_id, billing::WEBHOOK_SECRET);
    altered["body"] = json!(body.replace("trialing", "active"));
    for request in [forged, stale, unsigned, altered] {
        let answer = invoke(&lambda, request).await;
        assert_eq!((answer.status, answer.body["code"].as_str()), (400, Some("invalid_signature")), "{}", answer.body);
    }
    let state = billing::final_state(&stack, &user_id).await;
    assert_eq!((state["tier"].as_str(), state["status"].as_str()), (Some("free"), None), "{state}");
    // The genuine event still applies: nothing of it was stored by the refused ones.
    deliver(&lambda, signed("subscription-created", &user_id, billing::WEBHOOK_SECRET)).await;
    assert_eq!(billing::final_state(&stack, &user_id).await["tier"], "pro");
    lambda.stop().await;
}
