//! Billing end to end against the fake Stripe: a purchase opened as the buyer's browser opens
//! Checkout, the webhooks Stripe then sends (signed, reaching the stack over HTTP), renewals,
//! failed payments, cancellation and the downgrade that follows, credit packs, and the attacks a
//! webhook endpoint and a checkout route must refuse.

use flowday_local::stripe_fake::FakeStripe;
use flowday_tests::{TestStack, billing};
use http::{Method, StatusCode};
use serde_json::{Value, json};

struct Buyer {
    token: String,
    user_id: String,
}

async fn buyer(stack: &TestStack, name: &str) -> Buyer {
    let user = stack.signup(name).await;
    Buyer {
        token: user["access_token"].as_str().unwrap().to_string(),
        user_id: user["user"]["id"].as_str().unwrap().to_string(),
    }
}

impl Buyer {
    async fn get(&self, stack: &TestStack, path: &str) -> Value {
        let response = stack.call(Method::GET, path, Some(&self.token), None).await;
        assert_eq!(response.status, StatusCode::OK, "{path}: {}", response.body);
        response.body
    }
}

/// Buys `what` through Checkout: the URL the API answers, opened as a browser would, pays;
/// answers once Stripe's webhooks were delivered.
async fn buy(stack: &TestStack, stripe: &FakeStripe, buyer: &Buyer, what: Value) -> Value {
    let started = stack.call(Method::POST, "/v1/billing/checkout", Some(&buyer.token), Some(what)).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let url = started.body["url"].as_str().unwrap();
    let page = shared::integrations::http_client().unwrap().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    stripe.settle().await;
    started.body
}

fn subscription_id(stripe: &FakeStripe) -> String {
    let event = stripe.events().into_iter().find(|event| event["type"] == "customer.subscription.created");
    event.expect("a subscription was made")["data"]["object"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_purchase_through_checkout_makes_the_user_pro_with_credits_an_invoice_and_a_portal() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Buyer").await;
    let plans = ada.get(&stack, "/v1/billing/plans").await;
    let pro = plans["plans"].as_array().unwrap().iter().find(|plan| plan["id"] == "pro_monthly").unwrap();
    assert_eq!((pro["available"].as_bool(), pro["tier"].as_str()), (Some(true), Some("pro")), "{plans}");
    let before = ada.get(&stack, "/v1/billing/subscription").await;
    assert_eq!((before["plan"].as_str(), before["status"].as_str()), (Some("free"), None), "{before}");

    buy(&stack, &stripe, &ada, json!({"plan": "pro_monthly"})).await;
    assert!(stripe.deliveries().iter().all(|(_, status)| *status == 200), "{:?}", stripe.deliveries());
    let after = ada.get(&stack, "/v1/billing/subscription").await;
    assert_eq!(
        (after["plan"].as_str(), after["status"].as_str(), after["tier"].as_str()),
        (Some("pro_monthly"), Some("active"), Some("pro")),
        "{after}"
    );
    assert_eq!(after["stripe_subscription_id"], json!(subscription_id(&stripe)));
    assert!(after["current_period_end"].as_str().is_some_and(|end| end > "2026"), "{after}");
    assert_eq!(ada.get(&stack, "/v1/me").await["tier"], "pro");
    let credits = ada.get(&stack, "/v1/credits").await;
    assert_eq!(credits["balance"]["subscription"], 300, "{credits}");

    let invoices = ada.get(&stack, "/v1/billing/invoices").await;
    let invoice = &invoices["items"][0];
    assert_eq!(
        (invoice["status"].as_str(), invoice["amount_paid"].as_i64(), invoice["currency"].as_str()),
        (Some("paid"), Some(900), Some("eur")),
        "{invoices}"
    );
    assert!(invoice["invoice_pdf"].as_str().is_some_and(|url| url.starts_with("http")));
    let portal = stack.call(Method::POST, "/v1/billing/portal", Some(&ada.token), None).await;
    assert_eq!(portal.status, StatusCode::CREATED, "{}", portal.body);
    assert!(portal.body["url"].as_str().unwrap().starts_with(&stripe.uri()));

    // Stripe was spoken to as Stripe asks: every POST idempotent, the version pinned.
    for call in stripe.calls() {
        assert_eq!(call.stripe_version.as_deref(), Some("2024-06-20"), "{call:?}");
        if call.method == "POST" {
            assert!(call.idempotency_key.is_some(), "{call:?}");
        }
    }
    let again =
        stack.call(Method::POST, "/v1/billing/checkout", Some(&ada.token), Some(json!({"plan": "pro_yearly"}))).await;
    again.assert_problem(StatusCode::CONFLICT, "already_subscribed");
}

#[tokio::test]
async fn two_checkouts_at_once_make_one_stripe_customer() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Racer").await;
    let start =
        || stack.call(Method::POST, "/v1/billing/checkout", Some(&ada.token), Some(json!({"plan": "pro_monthly"})));
    let (first, second) = tokio::join!(start(), start());
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{} {}",
        first.body,
        second.body
    );
    assert_eq!(stripe.customers().len(), 1, "{:?}", stripe.customers());
    let customer = stripe.customers()[0]["id"].clone();
    assert_eq!(ada.get(&stack, "/v1/billing/subscription").await["stripe_customer_id"], customer);
    let sessions: Vec<_> = stripe.calls().into_iter().filter(|call| call.path == "/v1/checkout/sessions").collect();
    assert!(sessions.iter().all(|call| call.form.contains(&("customer".into(), customer.as_str().unwrap().into()))));
}

#[tokio::test]
async fn renewals_grant_credits_once_per_invoice_and_cap_what_carries_over() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Renewer").await;
    buy(&stack, &stripe, &ada, json!({"plan": "pro_monthly"})).await;
    let subscription = subscription_id(&stripe);
    stripe.renew(&subscription).await;
    let credits = ada.get(&stack, "/v1/credits").await;
    // 300 of the first period, of which 50 carry over, plus 300 of the second.
    assert_eq!(credits["balance"]["subscription"], 350, "{credits}");
    let history = ada.get(&stack, "/v1/credits/history").await;
    let expired: Vec<&Value> =
        history["items"].as_array().unwrap().iter().filter(|entry| entry["kind"] == "expire").collect();
    assert_eq!(expired.len(), 1, "{history}");
    assert_eq!(expired[0]["amounts"]["subscription"], 250);

    // Stripe delivering the renewal's events again changes nothing.
    let paid = stripe.events().into_iter().rev().find(|event| event["type"] == "invoice.paid").unwrap();
    let replayed = post_event(&stack, &paid, billing::WEBHOOK_SECRET).await;
    assert_eq!(replayed.status, StatusCode::OK);
    assert_eq!(ada.get(&stack, "/v1/credits").await["balance"]["subscription"], 350);
}

async fn post_event(stack: &TestStack, event: &Value, secret: &str) -> flowday_tests::TestResponse {
    let body = event.to_string();
    let request = http::Request::post("/webhooks/stripe")
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", billing::sign(secret, &body))
        .body(axum::body::Body::from(body))
        .unwrap();
    stack.send(request).await
}

#[tokio::test]
async fn a_failed_payment_keeps_the_plan_past_due_and_tells_the_user_once() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Debtor").await;
    buy(&stack, &stripe, &ada, json!({"plan": "pro_monthly"})).await;
    stack.drain_queue("NotificationsQueue").await;
    stripe.fail_payment(&subscription_id(&stripe)).await;
    let state = ada.get(&stack, "/v1/billing/subscription").await;
    assert_eq!((state["status"].as_str(), state["tier"].as_str()), (Some("past_due"), Some("pro")), "{state}");
    let failed = stripe.events().into_iter().find(|event| event["type"] == "invoice.payment_failed").unwrap();
    // The same event delivered again: still one notice.
    assert_eq!(post_event(&stack, &failed, billing::WEBHOOK_SECRET).await.status, StatusCode::OK);
    assert_eq!(stack.run_notification_worker().await, 1);
    let inbox = ada.get(&stack, "/v1/notifications").await;
    assert_eq!(inbox["items"][0]["type"], "billing", "{inbox}");
    assert_eq!(inbox["items"][0]["title"], "Your payment did not go through");
}

#[tokio::test]
async fn a_subscription_that_ends_returns_the_user_to_free_keeping_their_tasks() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Leaver").await;
    buy(&stack, &stripe, &ada, json!({"plan": "pro_monthly"})).await;
    let subscription = subscription_id(&stripe);
    for index in 0..51 {
        stack.task_titled(Some(&ada.token), &format!("Task {index}")).await;
    }
    stripe.cancel_at_period_end(&subscription).await;
    let canceling = ada.get(&stack, "/v1/billing/subscription").await;
    assert_eq!(
        (canceling["cancel_at_period_end"].as_bool(), canceling["tier"].as_str()),
        (Some(true), Some("pro")),
        "{canceling}"
    );
    stripe.end_subscription(&subscription).await;
    let ended = ada.get(&stack, "/v1/billing/subscription").await;
    assert_eq!(
        (ended["plan"].as_str(), ended["status"].as_str(), ended["tier"].as_str()),
        (Some("free"), Some("canceled"), Some("free")),
        "{ended}"
    );

    // Every task is still there; only creating one more than the free plan holds is refused.
    let tasks = stack.call(Method::GET, "/v1/tasks?limit=200", Some(&ada.token), None).await;
    assert_eq!(tasks.body["items"].as_array().unwrap().len(), 51);
    let refused = stack.create_task(Some(&ada.token), json!({"title": "One more"})).await;
    refused.assert_problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(
        (refused.body["limit"].as_str(), refused.body["upgrade_to"].as_str()),
        (Some("open_tasks"), Some("pro")),
        "{}",
        refused.body
    );
    // A new subscription after the old one ended is the user's again.
    buy(&stack, &stripe, &ada, json!({"plan": "pro_yearly"})).await;
    assert_eq!(ada.get(&stack, "/v1/billing/subscription").await["plan"], "pro_yearly");
    assert_eq!(stack.create_task(Some(&ada.token), json!({"title": "One more"})).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_credit_pack_is_granted_once_and_spent_after_the_other_kinds() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Packer").await;
    let started = buy(&stack, &stripe, &ada, json!({"credits_pack": "credits_100"})).await;
    let credits = ada.get(&stack, "/v1/credits").await;
    assert_eq!(credits["balance"]["purchased"], 100, "{credits}");
    assert_eq!(credits["spending_order"], json!(["daily", "subscription", "purchased", "kickstart"]));
    let completed = stripe.events().into_iter().find(|event| event["type"] == "checkout.session.completed").unwrap();
    assert_eq!(completed["data"]["object"]["id"], started["session_id"]);
    assert_eq!(post_event(&stack, &completed, billing::WEBHOOK_SECRET).await.status, StatusCode::OK);
    assert_eq!(ada.get(&stack, "/v1/credits").await["balance"]["purchased"], 100, "granted once");
    let history = ada.get(&stack, "/v1/credits/history").await;
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["kind"] == "grant" && entry["amounts"]["purchased"] == 100),
        "{history}"
    );
    // A pack is not a plan: the user is still free and may subscribe.
    assert_eq!(ada.get(&stack, "/v1/me").await["tier"], "free");
}

#[tokio::test]
async fn forged_stale_and_unsigned_webhooks_are_refused_with_nothing_stored() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Target").await;
    buy(&stack, &stripe, &ada, json!({"credits_pack": "credits_100"})).await;
    let genuine = stripe.events().into_iter().find(|event| event["type"] == "checkout.session.completed").unwrap();
    // A made-up pack of the attacker's, for the victim, signed with a guessed secret.
    let mut forged = genuine.clone();
    forged["id"] = json!("evt_forged");
    forged["data"]["object"]["id"] = json!("cs_forged");
    let refused = post_event(&stack, &forged, "whsec_guessed").await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid_signature");
    let body = forged.to_string();
    let stale = shared::integrations::stripe_webhook::signature_header(
        billing::WEBHOOK_SECRET,
        chrono::Utc::now().timestamp() - 600,
        body.as_bytes(),
    );
    for signature in [Some(stale.as_str()), None, Some("t=1,v1=zz")] {
        let mut request = http::Request::post("/webhooks/stripe").header("content-type", "application/json");
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        let answer = stack.send(request.body(axum::body::Body::from(body.clone())).unwrap()).await;
        answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_signature");
    }
    assert_eq!(ada.get(&stack, "/v1/credits").await["balance"]["purchased"], 100, "only the genuine pack");
    // Many forged requests at once from one address: each refused, none throttled into success.
    let attempts = (0..20).map(|_| post_event(&stack, &forged, "whsec_guessed"));
    for answer in futures::future::join_all(attempts).await {
        answer.assert_problem(StatusCode::BAD_REQUEST, "invalid_signature");
    }
    // Signed but not an event.
    let junk = http::Request::post("/webhooks/stripe")
        .header("content-type", "application/json")
        .header("stripe-signature", billing::sign(billing::WEBHOOK_SECRET, "[1,2]"))
        .body(axum::body::Body::from("[1,2]"))
        .unwrap();
    stack.send(junk).await.assert_problem(StatusCode::BAD_REQUEST, "malformed_event");
}

#[tokio::test]
async fn checkout_refuses_what_cannot_be_bought_and_stripe_outages_write_nothing() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Picky").await;
    for (body, field) in [
        (json!({"plan": "free"}), "plan"),
        (json!({"plan": "platinum"}), "plan"),
        (json!({"credits_pack": "credits_7"}), "credits_pack"),
        (json!({"plan": "pro_monthly", "credits_pack": "credits_100"}), "plan"),
        (json!({}), "plan"),
    ] {
        let answer = stack.call(Method::POST, "/v1/billing/checkout", Some(&ada.token), Some(body.clone())).await;
        answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(answer.error_fields(), [field], "{body}");
    }
    let portal = stack.call(Method::POST, "/v1/billing/portal", Some(&ada.token), None).await;
    portal.assert_problem(StatusCode::CONFLICT, "no_billing_account");
    assert_eq!(ada.get(&stack, "/v1/billing/invoices").await["items"], json!([]));

    stripe.fail_next(503);
    stripe.fail_next(503);
    let down =
        stack.call(Method::POST, "/v1/billing/checkout", Some(&ada.token), Some(json!({"plan": "pro_monthly"}))).await;
    down.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "billing_unavailable");
    assert!(down.header("retry-after").is_some());
    assert_eq!(ada.get(&stack, "/v1/billing/subscription").await["stripe_customer_id"], Value::Null);
    assert!(stripe.customers().is_empty());
    // The next try works, and makes one customer.
    let up =
        stack.call(Method::POST, "/v1/billing/checkout", Some(&ada.token), Some(json!({"plan": "pro_monthly"}))).await;
    assert_eq!(up.status, StatusCode::CREATED, "{}", up.body);
    assert_eq!(stripe.customers().len(), 1);
}

#[tokio::test]
async fn another_users_billing_is_not_reachable() {
    let (stack, stripe) = TestStack::with_stripe().await;
    let ada = buyer(&stack, "Owner").await;
    let eve = buyer(&stack, "Eve").await;
    buy(&stack, &stripe, &ada, json!({"plan": "pro_monthly"})).await;
    let theirs = eve.get(&stack, "/v1/billing/subscription").await;
    assert_eq!((theirs["stripe_customer_id"].clone(), theirs["tier"].as_str()), (Value::Null, Some("free")));
    assert_eq!(eve.get(&stack, "/v1/billing/invoices").await["items"], json!([]));
    stack
        .call(Method::POST, "/v1/billing/portal", Some(&eve.token), None)
        .await
        .assert_problem(StatusCode::CONFLICT, "no_billing_account");
    // A cursor naming Ada's invoice pages nothing of hers for Eve (Eve has no customer at all).
    let invoice = ada.get(&stack, "/v1/billing/invoices").await["items"][0]["id"].as_str().unwrap().to_string();
    let cursor = shared::http::pagination::cursor("invoices", &invoice);
    let page = eve.get(&stack, &format!("/v1/billing/invoices?cursor={cursor}")).await;
    assert_eq!(page["items"], json!([]));
    assert_ne!(ada.user_id, eve.user_id);
    // Once Eve is a customer too, Stripe refuses the cursor of another customer's invoice: her
    // mistake (400), not Stripe's failure, and nothing of Ada's or of Stripe's words shown.
    buy(&stack, &stripe, &eve, json!({"plan": "pro_monthly"})).await;
    let path = format!("/v1/billing/invoices?cursor={cursor}");
    let refused = stack.call(Method::GET, &path, Some(&eve.token), None).await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    assert!(!refused.body.to_string().contains(&invoice), "{}", refused.body);
}
