//! The Stripe client (`shared::integrations::stripe`) against the fake Stripe
//! (`flowday_local::stripe_fake`): what goes over the wire, what comes back, and the webhooks a
//! purchase and its later life emit.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};

use flowday_local::stripe_fake::{FakeStripe, SECRET_KEY, WebhookTarget, sign};
use serde_json::Value;
use sha2::Sha256;
use shared::integrations::stripe::{
    CheckoutMode, NewCheckoutSession, NewCustomer, StripeApi, StripeClient, StripeConfig, StripeError,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const WEBHOOK_SECRET: &str = "whsec_test_flowday";

fn http_client() -> reqwest::Client {
    shared::integrations::http_client().expect("an HTTP client")
}

fn client(fake: &FakeStripe) -> StripeClient {
    client_with_key(fake, SECRET_KEY)
}

fn client_with_key(fake: &FakeStripe, key: &str) -> StripeClient {
    StripeClient::new(http_client(), StripeConfig { api_base: format!("{}/", fake.uri()), secret_key: key.into() })
}

fn ada() -> NewCustomer {
    NewCustomer { email: "ada@example.com".into(), name: "Ada Lovelace".into(), user_id: "user_ada".into() }
}

fn checkout(customer: &str, mode: CheckoutMode, price: &str) -> NewCheckoutSession {
    NewCheckoutSession {
        customer: customer.into(),
        mode,
        price: price.into(),
        quantity: 1,
        success_url: "https://app.flowday.test/billing/done?session={CHECKOUT_SESSION_ID}".into(),
        cancel_url: "https://app.flowday.test/billing".into(),
        client_reference_id: "user_ada".into(),
        metadata: vec![("user_id".into(), "user_ada".into()), ("plan".into(), "pro".into())],
    }
}

/// A webhook receiver answering 200 to every POST.
async fn receiver() -> (MockServer, WebhookTarget) {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let target = WebhookTarget { url: format!("{}/webhooks/stripe", server.uri()), secret: WEBHOOK_SECRET.into() };
    (server, target)
}

/// Opens the checkout URL as the buyer's browser does; returns the status and the page.
async fn open(url: &str) -> (u16, String) {
    let response = http_client().get(url).send().await.expect("the checkout page answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a page"))
}

fn event_types(events: &[Value]) -> Vec<String> {
    events.iter().map(|event| event["type"].as_str().unwrap_or_default().to_string()).collect()
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex")).collect()
}

/// Checks a `Stripe-Signature` header as our webhook handler will: HMAC-SHA256 of "{t}.{body}".
fn verify_signature(header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(decode_hex(value)),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return false };
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() < 300;
    fresh
        && signatures.iter().any(|signature| {
            let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("any key length");
            mac.update(format!("{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(signature).is_ok()
        })
}

/// A customer and a paid subscription; returns (customer id, subscription id).
async fn subscribed(fake: &FakeStripe, stripe: &StripeClient, price: &str) -> (String, String) {
    let customer = stripe.create_customer(&ulid::Ulid::new().to_string(), &ada()).await.expect("customer");
    let session = stripe
        .create_checkout_session(
            &ulid::Ulid::new().to_string(),
            &checkout(&customer.id, CheckoutMode::Subscription, price),
        )
        .await
        .expect("session");
    fake.complete_checkout(&session.id).await;
    let session = fake.checkout_session(&session.id).expect("the session");
    (customer.id, session["subscription"].as_str().expect("a subscription").to_string())
}

#[tokio::test]
async fn creating_a_customer_twice_with_one_key_gives_one_customer() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);

    let first = stripe.create_customer("key-1", &ada()).await.expect("created");
    let again = stripe.create_customer("key-1", &ada()).await.expect("replayed");
    assert_eq!(first, again);
    assert!(first.id.starts_with("cus_"));
    assert_eq!(first.email.as_deref(), Some("ada@example.com"));
    assert_eq!(first.metadata.get("user_id").map(String::as_str), Some("user_ada"));

    // Two at once with one key: one runs, the other replays it.
    let new = ada();
    let (one, two) = tokio::join!(stripe.create_customer("key-2", &new), stripe.create_customer("key-2", &new));
    assert_eq!(one.expect("one").id, two.expect("two").id);
    assert_eq!(fake.customers().len(), 2);
}

#[tokio::test]
async fn a_key_reused_for_other_parameters_is_refused() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    stripe.create_customer("key-1", &ada()).await.expect("created");

    let other = NewCustomer { email: "grace@example.com".into(), ..ada() };
    let error = stripe.create_customer("key-1", &other).await.expect_err("refused");
    match error {
        StripeError::Invalid { status: 400, code, .. } => assert_eq!(code.as_deref(), Some("idempotency_error")),
        other => panic!("expected an idempotency error, got {other:?}"),
    }
    assert_eq!(fake.customers().len(), 1);
}

#[tokio::test]
async fn a_wrong_key_is_auth_and_never_echoed() {
    let fake = FakeStripe::start(None).await;
    let stripe = client_with_key(&fake, "sk_test_wrong_key_123");

    let error = stripe.create_customer("key-1", &ada()).await.expect_err("refused");
    assert_eq!(error, StripeError::Auth);
    assert!(!format!("{error} {error:?} {stripe:?}").contains("sk_test_wrong_key_123"));
    assert!(fake.customers().is_empty());
}

#[tokio::test]
async fn a_subscription_checkout_emits_signed_events_in_order() {
    let (receiver, target) = receiver().await;
    let fake = FakeStripe::start(Some(target)).await;
    fake.set_price("price_pro_monthly", 900, "eur", Some("month"));
    let stripe = client(&fake);
    let customer = stripe.create_customer("key-c", &ada()).await.expect("customer");

    let session = stripe
        .create_checkout_session("key-s", &checkout(&customer.id, CheckoutMode::Subscription, "price_pro_monthly"))
        .await
        .expect("session");
    assert!(session.id.starts_with("cs_test_"));
    assert_eq!(session.status.as_deref(), Some("open"));
    assert_eq!(session.payment_status, "unpaid");
    assert_eq!(session.client_reference_id.as_deref(), Some("user_ada"));
    assert!(session.expires_at > chrono::Utc::now().timestamp() + 23 * 3600);
    let url = session.url.expect("an open session has a url");
    assert_eq!(url, format!("{}/checkout/{}", fake.uri(), session.id));

    let (status, page) = open(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("https://app.flowday.test/billing/done?session={}", session.id)), "{page}");
    fake.settle().await;

    let events = fake.events();
    assert_eq!(
        event_types(&events),
        [
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "checkout.session.completed",
        ]
    );
    for event in &events {
        assert!(event["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
        assert_eq!(event["object"], "event");
        assert_eq!(event["api_version"], "2024-06-20");
        assert_eq!(event["livemode"], false);
        assert!(event["request"]["id"].is_null());
    }
    let completed = &events[5]["data"]["object"];
    assert_eq!(completed["object"], "checkout.session");
    assert_eq!(completed["status"], "complete");
    assert_eq!(completed["payment_status"], "paid");
    assert_eq!(completed["metadata"]["user_id"], "user_ada");
    let invoice = &events[3]["data"]["object"];
    assert_eq!((invoice["status"].as_str(), invoice["amount_paid"].as_i64()), (Some("paid"), Some(900)));
    assert_eq!(invoice["billing_reason"], "subscription_create");
    assert!(events[1]["data"]["object"]["number"].is_null(), "a draft has no number yet");

    // Delivered one by one, in order, each body signed as sent.
    let received = receiver.received_requests().await.expect("recorded");
    assert_eq!(received.len(), events.len());
    for (request, event) in received.iter().zip(&events) {
        assert_eq!(request.url.path(), "/webhooks/stripe");
        let header = request.headers.get("stripe-signature").and_then(|value| value.to_str().ok());
        assert!(verify_signature(header.expect("signed"), &request.body), "bad signature {header:?}");
        let body: Value = serde_json::from_slice(&request.body).expect("JSON");
        assert_eq!(&body, event);
    }
    assert!(fake.deliveries().iter().all(|(_, status)| *status == 200));

    // The subscription the checkout made, as the client reads it.
    let subscription_id = completed["subscription"].as_str().expect("a subscription id");
    let subscription = stripe.retrieve_subscription(subscription_id).await.expect("subscription");
    assert_eq!(subscription.status, "active");
    assert_eq!(subscription.customer, customer.id);
    assert_eq!(subscription.price_id(), Some("price_pro_monthly"));
    assert_eq!(subscription.items.data[0].price.recurring.as_ref().map(|r| r.interval.as_str()), Some("month"));
    assert_eq!(subscription.metadata.get("user_id").map(String::as_str), Some("user_ada"));
    assert!(subscription.current_period_end > subscription.current_period_start + 27 * 86_400);
    assert!(!subscription.cancel_at_period_end);

    // Opening the page again changes nothing; an unknown session is not found.
    let (status, page) = open(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains("already complete"));
    fake.settle().await;
    assert_eq!(fake.events().len(), events.len());
    assert_eq!(open(&format!("{}/checkout/cs_test_nope", fake.uri())).await.0, 404);
}

#[tokio::test]
async fn a_trial_from_the_session_metadata_starts_trialing() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    let customer = stripe.create_customer("key-c", &ada()).await.expect("customer");
    let mut new = checkout(&customer.id, CheckoutMode::Subscription, "price_pro_yearly");
    new.metadata.push(("trial_days".into(), "14".into()));
    let session = stripe.create_checkout_session("key-s", &new).await.expect("session");
    fake.complete_checkout(&session.id).await;

    let id = fake.checkout_session(&session.id).expect("session")["subscription"].as_str().expect("sub").to_string();
    let subscription = stripe.retrieve_subscription(&id).await.expect("subscription");
    assert_eq!(subscription.status, "trialing");
    assert_eq!(subscription.trial_end, Some(subscription.current_period_end));
    assert_eq!(subscription.items.data[0].price.recurring.as_ref().map(|r| r.interval.as_str()), Some("year"));
    let completed = fake.events().pop().expect("events");
    assert_eq!(completed["data"]["object"]["payment_status"], "no_payment_required");
}

#[tokio::test]
async fn a_payment_checkout_emits_the_payment_then_the_session() {
    let fake = FakeStripe::start(None).await;
    fake.set_price("price_credits_100", 499, "eur", None);
    let stripe = client(&fake);
    let customer = stripe.create_customer("key-c", &ada()).await.expect("customer");
    let mut new = checkout(&customer.id, CheckoutMode::Payment, "price_credits_100");
    new.quantity = 2;
    let session = stripe.create_checkout_session("key-s", &new).await.expect("session");
    assert_eq!(session.mode, "payment");
    let (status, _) = open(&session.url.expect("url")).await;
    assert_eq!(status, 200);

    let events = fake.events();
    assert_eq!(event_types(&events), ["payment_intent.succeeded", "checkout.session.completed"]);
    assert_eq!(events[0]["data"]["object"]["metadata"]["user_id"], "user_ada");
    let completed = &events[1]["data"]["object"];
    assert_eq!(completed["payment_status"], "paid");
    assert_eq!(completed["amount_total"], 998);
    assert_eq!(completed["currency"], "eur");
    assert!(completed["subscription"].is_null());

    // The form: bracket notation, the metadata copied to the payment intent only.
    let call = fake.calls().into_iter().find(|call| call.path == "/v1/checkout/sessions").expect("the call");
    let has = |name: &str, value: &str| call.form.iter().any(|(n, v)| n == name && v == value);
    assert!(has("line_items[0][price]", "price_credits_100"));
    assert!(has("line_items[0][quantity]", "2"));
    assert!(has("payment_intent_data[metadata][user_id]", "user_ada"));
    assert!(
        !call.form.iter().any(|(name, _)| name.starts_with("subscription_data") || name == "allow_promotion_codes")
    );
}

#[tokio::test]
async fn every_post_is_form_encoded_with_a_key_and_the_pinned_version() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    let (customer, subscription) = subscribed(&fake, &stripe, "price_pro_monthly").await;
    stripe.create_portal_session("key-p", &customer, "https://app.flowday.test/account").await.expect("portal");
    stripe.list_invoices(&customer, 10, None).await.expect("invoices");
    stripe.retrieve_subscription(&subscription).await.expect("subscription");

    let calls = fake.calls();
    assert_eq!(calls.iter().filter(|call| call.method == "POST").count(), 3);
    for call in &calls {
        assert_eq!(call.stripe_version.as_deref(), Some("2024-06-20"), "{call:?}");
        if call.method == "POST" {
            assert!(call.idempotency_key.as_deref().is_some_and(|key| !key.is_empty()), "{call:?}");
        }
    }
    let customer_call = &calls[0];
    assert_eq!(customer_call.path, "/v1/customers");
    assert!(customer_call.form.contains(&("metadata[user_id]".into(), "user_ada".into())));
    let session_call = &calls[1];
    for (name, value) in [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_pro_monthly"),
        ("line_items[0][quantity]", "1"),
        ("metadata[user_id]", "user_ada"),
        ("subscription_data[metadata][user_id]", "user_ada"),
        ("subscription_data[metadata][plan]", "pro"),
        ("allow_promotion_codes", "true"),
        ("client_reference_id", "user_ada"),
    ] {
        assert!(session_call.form.contains(&(name.into(), value.into())), "{name} missing in {:?}", session_call.form);
    }
    let list_call = calls.iter().find(|call| call.path == "/v1/invoices").expect("the list");
    assert!(list_call.query.contains(&("customer".into(), customer.clone())));
    assert!(list_call.query.contains(&("limit".into(), "10".into())));
}

#[tokio::test]
async fn invoices_page_newest_first_with_starting_after() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    let (customer, subscription) = subscribed(&fake, &stripe, "price_pro_monthly").await;
    let renewals = [fake.renew(&subscription).await, fake.renew(&subscription).await, fake.renew(&subscription).await];
    // Another customer's invoices stay out of the list.
    subscribed(&fake, &stripe, "price_pro_monthly").await;

    let first = stripe.list_invoices(&customer, 2, None).await.expect("page 1");
    assert!(first.has_more);
    let ids: Vec<&str> = first.data.iter().map(|invoice| invoice.id.as_str()).collect();
    assert_eq!(ids, [renewals[2].as_str(), renewals[1].as_str()]);
    let invoice = &first.data[0];
    assert_eq!(
        (invoice.status.as_deref(), invoice.amount_paid, invoice.currency.as_str()),
        (Some("paid"), 1000, "eur")
    );
    assert_eq!(invoice.billing_reason.as_deref(), Some("subscription_cycle"));
    assert_eq!(invoice.subscription.as_deref(), Some(subscription.as_str()));
    assert!(invoice.number.is_some() && invoice.hosted_invoice_url.is_some() && invoice.invoice_pdf.is_some());

    let second = stripe.list_invoices(&customer, 2, Some(&first.data[1].id)).await.expect("page 2");
    assert!(!second.has_more);
    assert_eq!(second.data.len(), 2);
    assert_eq!(second.data[0].id, renewals[0]);
    assert_eq!(second.data[1].billing_reason.as_deref(), Some("subscription_create"));

    let error = stripe.list_invoices("cus_nobody", 2, None).await.expect_err("unknown customer");
    assert!(matches!(error, StripeError::NotFound { .. }), "{error:?}");
}

#[tokio::test]
async fn unknown_objects_and_missing_params() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);

    let error = stripe.retrieve_subscription("sub_nope").await.expect_err("unknown");
    assert!(matches!(&error, StripeError::NotFound { message } if message.contains("sub_nope")), "{error:?}");
    let error = stripe.create_portal_session("key-p", "cus_nope", "https://app").await.expect_err("unknown");
    assert!(matches!(error, StripeError::NotFound { .. }), "{error:?}");

    let customer = stripe.create_customer("key-c", &ada()).await.expect("customer");
    let mut new = checkout(&customer.id, CheckoutMode::Subscription, "price_pro_monthly");
    new.success_url = String::new();
    let error = stripe.create_checkout_session("key-s", &new).await.expect_err("missing");
    match error {
        StripeError::Invalid { status: 400, code, param, .. } => {
            assert_eq!((code.as_deref(), param.as_deref()), (Some("parameter_missing"), Some("success_url")));
        }
        other => panic!("expected a missing param, got {other:?}"),
    }
    // A refused request keeps no result: the same key may be used again, fixed.
    new.success_url = "https://app.flowday.test/done".into();
    stripe.create_checkout_session("key-s", &new).await.expect("accepted");
}

#[tokio::test]
async fn a_failed_post_is_retried_once_with_the_same_key() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    fake.fail_next(500);

    let customer = stripe.create_customer("key-1", &ada()).await.expect("the retry succeeds");
    let calls = fake.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|call| call.idempotency_key.as_deref() == Some("key-1") && call.form == calls[0].form));
    assert_eq!(fake.customers().len(), 1);
    assert_eq!(fake.customers()[0]["id"], customer.id.as_str());
}

#[tokio::test]
async fn failures_that_persist_are_sorted() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);

    fake.fail_next(429);
    fake.fail_next(429);
    assert_eq!(stripe.retrieve_subscription("sub_x").await, Err(StripeError::RateLimited));
    fake.fail_next(503);
    fake.fail_next(503);
    let error = stripe.create_customer("key-1", &ada()).await.expect_err("down");
    assert!(matches!(error, StripeError::Unavailable(_)), "{error:?}");
    assert_eq!(fake.calls().len(), 4, "each tried twice, no more");

    // A 400 is not retried.
    fake.fail_next(400);
    let error = stripe.create_customer("key-2", &ada()).await.expect_err("refused");
    assert!(matches!(error, StripeError::Invalid { status: 400, .. }), "{error:?}");
    assert_eq!(fake.calls().len(), 5);
}

#[tokio::test]
async fn a_portal_session_is_a_page_on_the_fake() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    let customer = stripe.create_customer("key-c", &ada()).await.expect("customer");
    let portal = stripe.create_portal_session("key-p", &customer.id, "https://app/account").await.expect("portal");
    assert!(portal.id.starts_with("bps_"));
    assert_eq!(portal.url, format!("{}/portal/{}", fake.uri(), portal.id));
    assert_eq!(open(&portal.url).await.0, 200);
}

#[tokio::test]
async fn the_controls_emit_what_stripe_emits() {
    let (_receiver, target) = receiver().await;
    let fake = FakeStripe::start(Some(target)).await;
    let stripe = client(&fake);
    let (customer, subscription) = subscribed(&fake, &stripe, "price_pro_monthly").await;
    let before = stripe.retrieve_subscription(&subscription).await.expect("subscription");
    let seen = fake.events().len();

    fake.renew(&subscription).await;
    let renewed = stripe.retrieve_subscription(&subscription).await.expect("subscription");
    assert_eq!(renewed.current_period_start, before.current_period_end);
    let events = fake.events().split_off(seen);
    assert_eq!(
        event_types(&events),
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    let previous = &events[4]["data"]["previous_attributes"];
    assert_eq!(previous["current_period_end"], before.current_period_end);
    assert!(previous.get("status").is_none(), "the status did not change");

    let seen = fake.events().len();
    fake.fail_payment(&subscription).await;
    assert_eq!(stripe.retrieve_subscription(&subscription).await.expect("sub").status, "past_due");
    let events = fake.events().split_off(seen);
    assert_eq!(
        event_types(&events),
        ["invoice.created", "invoice.finalized", "invoice.payment_failed", "customer.subscription.updated"]
    );
    assert_eq!(events[2]["data"]["object"]["status"], "open");
    assert_eq!(events[3]["data"]["previous_attributes"]["status"], "active");

    let seen = fake.events().len();
    fake.cancel_at_period_end(&subscription).await;
    let events = fake.events().split_off(seen);
    assert_eq!(event_types(&events), ["customer.subscription.updated"]);
    assert_eq!(events[0]["data"]["object"]["cancel_at_period_end"], true);
    assert_eq!(events[0]["data"]["previous_attributes"]["cancel_at_period_end"], false);

    fake.trial_will_end(&subscription).await;
    assert_eq!(event_types(&fake.events()).last().map(String::as_str), Some("customer.subscription.trial_will_end"));

    let seen = fake.events().len();
    fake.delete_customer(&customer).await;
    let events = fake.events().split_off(seen);
    assert_eq!(event_types(&events), ["customer.subscription.deleted", "customer.deleted"]);
    let ended = stripe.retrieve_subscription(&subscription).await.expect("a canceled subscription is still there");
    assert_eq!(ended.status, "canceled");
    assert!(ended.ended_at.is_some() && ended.canceled_at.is_some());
    assert!(fake.customers().is_empty());
    let error = stripe.create_portal_session("key-p", &customer, "https://app").await.expect_err("gone");
    assert!(matches!(error, StripeError::NotFound { .. }));

    // Every event went out, each answered.
    fake.settle().await;
    let delivered: Vec<String> = fake.deliveries().into_iter().map(|(id, _)| id).collect();
    let emitted: Vec<String> =
        fake.events().iter().map(|event| event["id"].as_str().unwrap_or_default().into()).collect();
    assert_eq!(delivered, emitted);
}

#[tokio::test]
async fn end_subscription_deletes_it() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    let (_, subscription) = subscribed(&fake, &stripe, "price_pro_monthly").await;
    fake.end_subscription(&subscription).await;
    let event = fake.events().pop().expect("an event");
    assert_eq!(event["type"], "customer.subscription.deleted");
    assert_eq!(event["data"]["object"]["status"], "canceled");
    assert_eq!(fake.subscription(&subscription).expect("kept")["status"], "canceled");
}

#[tokio::test]
async fn failed_deliveries_are_recorded_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).mount(&server).await;
    let target = WebhookTarget { url: server.uri(), secret: WEBHOOK_SECRET.into() };
    let fake = FakeStripe::start(Some(target)).await;
    let stripe = client(&fake);
    subscribed(&fake, &stripe, "price_pro_monthly").await;

    let deliveries = fake.deliveries();
    assert_eq!(deliveries.len(), 6);
    assert!(deliveries.iter().all(|(_, status)| *status == 500));
    assert_eq!(server.received_requests().await.expect("recorded").len(), 6);
}

/// A receiver that, like our handler, reads the subscription back while handling the event.
struct CallsBack {
    stripe: StripeClient,
    statuses: Arc<Mutex<Vec<String>>>,
}

impl Respond for CallsBack {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let event: Value = serde_json::from_slice(&request.body).expect("JSON");
        if event["type"] == "checkout.session.completed" {
            let id = event["data"]["object"]["subscription"].as_str().expect("sub").to_string();
            let stripe = self.stripe.clone();
            // wiremock's responders are sync: the call runs on a thread and runtime of its own.
            let status = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(stripe.retrieve_subscription(&id)).map(|subscription| subscription.status)
            })
            .join()
            .expect("the call back");
            self.statuses.lock().expect("lock").push(status.unwrap_or_else(|error| error.to_string()));
        }
        ResponseTemplate::new(200)
    }
}

#[tokio::test]
async fn a_receiver_may_call_the_fake_back_while_handling_an_event() {
    // The receiver runs first (the fake needs its URL); its responder is mounted once the fake
    // runs (it needs the fake's URL).
    let server = MockServer::start().await;
    let target = WebhookTarget { url: server.uri(), secret: WEBHOOK_SECRET.into() };
    let fake = FakeStripe::start(Some(target)).await;
    let statuses = Arc::new(Mutex::new(Vec::new()));
    Mock::given(method("POST"))
        .respond_with(CallsBack { stripe: client(&fake), statuses: statuses.clone() })
        .mount(&server)
        .await;
    let stripe = client(&fake);
    let customer = stripe.create_customer("key-c", &ada()).await.expect("customer");
    let session = stripe
        .create_checkout_session("key-s", &checkout(&customer.id, CheckoutMode::Subscription, "price_pro_monthly"))
        .await
        .expect("session");

    let (status, _) = open(&session.url.expect("url")).await;
    assert_eq!(status, 200);
    fake.settle().await;
    assert_eq!(*statuses.lock().expect("lock"), ["active"]);
}

#[test]
fn sign_matches_stripes_scheme() {
    let header = sign(WEBHOOK_SECRET, 1_700_000_000, "{\"id\":\"evt_1\"}");
    assert!(header.starts_with("t=1700000000,v1="));
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(b"1700000000.{\"id\":\"evt_1\"}");
    let expected: String = mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(header, format!("t=1700000000,v1={expected}"));
}

#[tokio::test]
async fn the_fake_replays_and_records_raw_calls_like_stripe() {
    let fake = FakeStripe::start(None).await;
    let http = http_client();
    let post = |key: Option<&str>| {
        let request = http
            .post(format!("{}/v1/customers", fake.uri()))
            .bearer_auth(SECRET_KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("email=ada%40example.com&metadata[user_id]=user_ada");
        match key {
            Some(key) => request.header("idempotency-key", key),
            None => request,
        }
    };

    // No Stripe-Version and no key: accepted, and recorded as such.
    let response = post(None).send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    let call = fake.calls().pop().expect("recorded");
    assert_eq!((call.stripe_version, call.idempotency_key), (None, None));
    assert!(call.form.contains(&("metadata[user_id]".into(), "user_ada".into())));

    // A replay is the first answer, byte for byte, marked as such.
    let first = post(Some("raw-1")).send().await.expect("answer");
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first = first.text().await.expect("body");
    let replay = post(Some("raw-1")).send().await.expect("answer");
    assert_eq!(replay.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(replay.text().await.expect("body"), first);
    assert_eq!(fake.customers().len(), 2);

    // No key at all: Stripe's 401 error object.
    let response = http.get(format!("{}/v1/subscriptions/sub_x", fake.uri())).send().await.expect("answer");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn no_connection_is_unavailable_after_one_retry() {
    // Nothing listens on port 1.
    let config = StripeConfig { api_base: "http://127.0.0.1:1".into(), secret_key: SECRET_KEY.into() };
    let stripe = StripeClient::new(http_client(), config);
    let error = stripe.retrieve_subscription("sub_x").await.expect_err("no connection");
    assert!(matches!(&error, StripeError::Unavailable(message) if !message.contains(SECRET_KEY)), "{error:?}");
}

#[test]
fn the_fake_can_be_shared_across_tasks() {
    fn is_send_sync<T: Send + Sync>() {}
    fn is_send<T: Send>(_: &T) {}
    is_send_sync::<FakeStripe>();
    is_send_sync::<StripeClient>();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let fake = runtime.block_on(FakeStripe::start(None));
    // Futures not polled: only their types matter.
    is_send(&fake.renew("sub_x"));
    is_send(&fake.settle());
    is_send(&fake.complete_checkout("cs_x"));
}

#[tokio::test]
async fn a_session_without_a_customer_gets_one_on_payment() {
    let fake = FakeStripe::start(None).await;
    let stripe = client(&fake);
    // The client always sends `customer`, so this goes raw.
    let response = http_client()
        .post(format!("{}/v1/checkout/sessions", fake.uri()))
        .bearer_auth(SECRET_KEY)
        .form(&[
            ("mode", "subscription"),
            ("success_url", "https://app/done"),
            ("line_items[0][price]", "price_pro_monthly"),
            ("line_items[0][quantity]", "1"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    let session: Value = response.json().await.expect("JSON");
    fake.complete_checkout(session["id"].as_str().expect("id")).await;
    let completed = fake.events().pop().expect("event");
    let customer = completed["data"]["object"]["customer"].as_str().expect("a customer").to_string();
    assert_eq!(fake.customers().len(), 1);
    let sub = completed["data"]["object"]["subscription"].as_str().expect("sub");
    assert_eq!(stripe.retrieve_subscription(sub).await.expect("sub").customer, customer);
}

#[tokio::test]
async fn a_malformed_subscription_id_never_reaches_the_path() {
    let fake = FakeStripe::start(None).await;
    let error = client(&fake).retrieve_subscription("../customers").await.expect_err("no such id");
    assert!(matches!(error, StripeError::NotFound { .. }), "{error:?}");
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn stripe_should_retry_decides_when_sent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(500)
                .insert_header("stripe-should-retry", "false")
                .set_body_raw(r#"{"error":{"type":"api_error","message":"Boom."}}"#, "application/json"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409).insert_header("stripe-should-retry", "true").set_body_raw(
            r#"{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"Busy."}}"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let config = StripeConfig { api_base: server.uri(), secret_key: SECRET_KEY.into() };
    let stripe = StripeClient::new(http_client(), config);

    let error = stripe.retrieve_subscription("sub_x").await.expect_err("failed");
    assert!(matches!(error, StripeError::Unavailable(_)), "{error:?}");
    let error = stripe.create_customer("key-1", &ada()).await.expect_err("failed");
    assert!(
        matches!(&error, StripeError::Invalid { status: 409, code, .. } if code.as_deref() == Some("lock_timeout"))
    );
    let methods: Vec<String> =
        server.received_requests().await.expect("recorded").iter().map(|request| request.method.to_string()).collect();
    assert_eq!(methods, ["GET", "POST", "POST"], "the 500 was not retried, the 409 was");
}
