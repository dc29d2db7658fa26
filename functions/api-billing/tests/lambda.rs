//! The api-billing binary, run as Lambda runs it, on every event of events/api-billing, against
//! the fake Stripe: the plans, a checkout (then paid, as a browser would), the subscription, the
//! portal, the invoices, and the credits with their history.

use flowday_tests::{TestStack, event, invoke};

const BINARY: &str = env!("CARGO_BIN_EXE_api-billing");

#[tokio::test]
async fn every_api_billing_event_is_answered_by_the_lambda_binary() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let user = stack.signup("Lambda").await;
    let token = user["access_token"].as_str().unwrap();
    let lambda = stack.lambda(BINARY, "api-billing").await;
    let call = |name: &str| {
        let key = ulid::Ulid::new().to_string();
        invoke(&lambda, event("api-billing", name, &[("access_token", token), ("idempotency_key", &key)]))
    };

    let plans = call("list-plans").await;
    assert_eq!(plans.status, 200, "{}", plans.body);
    assert_eq!(plans.body["plans"].as_array().unwrap().len(), 4);
    let checkout = call("start-checkout").await;
    assert_eq!(checkout.status, 201, "{}", checkout.body);
    let url = checkout.body["url"].as_str().unwrap();
    assert_eq!(shared::integrations::http_client().unwrap().get(url).send().await.unwrap().status(), 200);
    stripe.settle().await;
    let subscription = call("get-subscription").await;
    assert_eq!(
        (subscription.status, subscription.body["plan"].as_str()),
        (200, Some("pro_monthly")),
        "{}",
        subscription.body
    );
    let portal = call("open-portal").await;
    assert_eq!(portal.status, 201, "{}", portal.body);
    let invoices = call("list-invoices").await;
    assert_eq!((invoices.status, invoices.body["items"].as_array().map(Vec::len)), (200, Some(1)), "{}", invoices.body);
    let credits = call("get-credits").await;
    assert_eq!(
        (credits.status, credits.body["balance"]["subscription"].as_u64()),
        (200, Some(300)),
        "{}",
        credits.body
    );
    let history = call("list-credit-history").await;
    assert_eq!(history.status, 200, "{}", history.body);
    assert!(!history.body["items"].as_array().unwrap().is_empty());
    lambda.stop().await;
}
