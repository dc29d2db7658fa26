//! A local fake of Stripe: a wiremock server on loopback whose one responder reads and changes a
//! state behind a mutex. It speaks Stripe's own formats (API version `API_VERSION`), so the real
//! client of `integrations::stripe` runs against it unchanged: bearer keys, form bodies in
//! bracket notation, idempotency keys with replays and conflicts, Stripe's error objects, list
//! objects with cursors, and signed webhook events in Stripe's order.
//!
//! The buyer's side is a URL on the fake: `GET {uri}/checkout/{session}` (what the browser opens)
//! pays the session. Tests drive the rest through controls that act as time and banks would:
//! `renew`, `fail_payment`, `cancel_at_period_end`, `end_subscription`, `trial_will_end`,
//! `delete_customer`, `fail_next`, and read back `events()`, `deliveries()`, `calls()`.
//!
//! Webhooks go out from a thread of their own, one at a time and in order. The responder cannot
//! wait for them: wiremock answers on one thread and under a lock, so a receiver that calls the
//! fake back while handling an event (say `retrieve_subscription` on `checkout.session.completed`)
//! would deadlock. So the checkout page answers at once, and `settle()` waits until everything
//! emitted so far was delivered; the controls (async) settle before they return.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use chrono::{DateTime, Months, Utc};
use rand::Rng as _;
use rand::distr::Alphanumeric;
use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The only key the fake accepts (`Authorization: Bearer ...`).
pub const SECRET_KEY: &str = "sk_test_flowday_local";
/// The version events are written in (and the one our client pins).
pub const API_VERSION: &str = "2024-06-20";

/// Prices nobody set cost this much (in cents) in this currency.
const DEFAULT_AMOUNT: i64 = 1000;
const DEFAULT_CURRENCY: &str = "eur";
/// Checkout Sessions expire after a day, as Stripe's do by default.
const SESSION_TTL_SECONDS: i64 = 24 * 3600;
/// Invoice lists: Stripe's default and maximum page sizes.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

/// A price the local stack sells: its template parameter, id, amount in cents and interval
/// (None: one-time).
pub struct LocalPrice {
    pub parameter: &'static str,
    pub id: &'static str,
    pub unit_amount: i64,
    pub interval: Option<&'static str>,
}

/// The prices `make dev` and the tests sell with the stand-in, unless the environment gives others.
pub const LOCAL_PRICES: [LocalPrice; 5] = [
    LocalPrice {
        parameter: "StripePriceProMonthly",
        id: "price_flowday_pro_monthly",
        unit_amount: 900,
        interval: Some("month"),
    },
    LocalPrice {
        parameter: "StripePriceProYearly",
        id: "price_flowday_pro_yearly",
        unit_amount: 9000,
        interval: Some("year"),
    },
    LocalPrice { parameter: "StripePriceTeam", id: "price_flowday_team", unit_amount: 1500, interval: Some("month") },
    LocalPrice {
        parameter: "StripePriceCredits100",
        id: "price_flowday_credits_100",
        unit_amount: 500,
        interval: None,
    },
    LocalPrice {
        parameter: "StripePriceCredits500",
        id: "price_flowday_credits_500",
        unit_amount: 2000,
        interval: None,
    },
];

/// Where webhook events go: our endpoint and its signing secret (`whsec_...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

/// One API call as the fake received it (checkout and portal pages are not API calls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    /// The decoded form body (POST), in the order sent.
    pub form: Vec<(String, String)>,
    /// The decoded query (GET).
    pub query: Vec<(String, String)>,
}

/// The fake Stripe; `uri()` is the client's `api_base`.
pub struct FakeStripe {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeStripe {
    /// Starts the fake. With a target, every event is POSTed to it, signed, as it is emitted.
    pub async fn start(webhook: Option<WebhookTarget>) -> FakeStripe {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::new(server.uri())));
        let responder = StripeResponder { state: state.clone() };
        Mock::given(any()).respond_with(responder).mount(&server).await;
        let fake = FakeStripe { server, state };
        if let Some(target) = webhook {
            fake.deliver_to(target);
        }
        fake
    }

    /// Knows the amounts and intervals of `LOCAL_PRICES`.
    pub fn sell_local_prices(&self) {
        for price in &LOCAL_PRICES {
            self.set_price(price.id, price.unit_amount, "eur", price.interval);
        }
    }

    /// From now on, every event is POSTed to `target`, signed, as it is emitted (once: a fake
    /// delivers to one endpoint). For a stack that needs the fake's URI before it has its own.
    pub fn deliver_to(&self, target: WebhookTarget) {
        let mut state = lock(&self.state);
        if state.outbox.is_some() {
            return;
        }
        // The webhook client lives on the delivery thread: a reqwest client's connections
        // belong to the runtime that made them.
        let (outbox, inbox) = mpsc::unbounded_channel();
        state.outbox = Some(outbox);
        let http = shared::integrations::http_client().expect("an HTTP client");
        spawn_delivery(inbox, http, target, Arc::downgrade(&self.state));
    }

    /// The API base (also the host of the checkout and portal pages).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// What a price costs: `unit_amount` in cents of `currency`, recurring every `interval`
    /// (`month` or `year`), or one-time with `None`. Unset prices cost 1000 eur a month (a year
    /// when the id contains "year").
    pub fn set_price(&self, id: &str, unit_amount: i64, currency: &str, interval: Option<&str>) {
        let price = FakePrice { unit_amount, currency: currency.to_string(), interval: interval.map(str::to_string) };
        lock(&self.state).prices.insert(id.to_string(), price);
    }

    /// The next API call answers `status` in Stripe's error format (500: `api_error`, 429:
    /// `rate_limit`); calls it again to fail several. Nothing runs, so no idempotent result is kept.
    pub fn fail_next(&self, status: u16) {
        lock(&self.state).failures.push_back(status);
    }

    /// Pays an open Checkout Session as the buyer's browser would (see `GET /checkout/{id}`), and
    /// waits until its events were delivered.
    pub async fn complete_checkout(&self, session_id: &str) {
        let completed = lock(&self.state).complete_session(session_id);
        assert!(completed.is_ok(), "the fake Stripe holds no open checkout session {session_id}");
        self.settle().await;
    }

    /// A new period of the subscription, paid. Returns the new invoice's id.
    pub async fn renew(&self, subscription_id: &str) -> String {
        let invoice = lock(&self.state).renew(subscription_id, true);
        self.settle().await;
        invoice
    }

    /// A new period whose payment failed: the invoice stays `open`, the subscription goes
    /// `past_due`. Returns the invoice's id.
    pub async fn fail_payment(&self, subscription_id: &str) -> String {
        let invoice = lock(&self.state).renew(subscription_id, false);
        self.settle().await;
        invoice
    }

    /// The customer cancelled in the portal: the subscription ends with its period.
    pub async fn cancel_at_period_end(&self, subscription_id: &str) {
        lock(&self.state).change_subscription(subscription_id, |subscription, now| {
            subscription.cancel_at_period_end = true;
            subscription.canceled_at = Some(now);
        });
        self.settle().await;
    }

    /// The subscription is over (its period ran out after a cancellation, or Stripe gave up).
    pub async fn end_subscription(&self, subscription_id: &str) {
        lock(&self.state).end_subscription(subscription_id);
        self.settle().await;
    }

    /// Stripe's notice three days before a trial ends; nothing changes.
    pub async fn trial_will_end(&self, subscription_id: &str) {
        {
            let mut state = lock(&self.state);
            let object = state.subscription_json(subscription_id);
            state.emit("customer.subscription.trial_will_end", object, None);
        }
        self.settle().await;
    }

    /// The customer is deleted (from the dashboard): its subscriptions end first.
    pub async fn delete_customer(&self, customer_id: &str) {
        lock(&self.state).delete_customer(customer_id);
        self.settle().await;
    }

    /// Waits until every event emitted so far was delivered (at once without a target).
    pub async fn settle(&self) {
        let (done, flushed) = oneshot::channel();
        let Some(outbox) = lock(&self.state).outbox.clone() else { return };
        if outbox.send(Outgoing::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// Every event emitted, in order, as sent.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.state).events.clone()
    }

    /// Every webhook delivery so far: the event's id and the answer's status (0: no answer).
    pub fn deliveries(&self) -> Vec<(String, u16)> {
        lock(&self.state).deliveries.clone()
    }

    /// Every API call so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        lock(&self.state).calls.clone()
    }

    /// The customers, oldest first, in Stripe's JSON.
    pub fn customers(&self) -> Vec<Value> {
        let state = lock(&self.state);
        state.customers.iter().map(FakeCustomer::json).collect()
    }

    /// A subscription in Stripe's JSON.
    pub fn subscription(&self, id: &str) -> Option<Value> {
        let state = lock(&self.state);
        state.subscriptions.iter().any(|subscription| subscription.id == id).then(|| state.subscription_json(id))
    }

    /// A Checkout Session in Stripe's JSON.
    pub fn checkout_session(&self, id: &str) -> Option<Value> {
        lock(&self.state).sessions.get(id).map(|session| session.json.clone())
    }
}

/// The `Stripe-Signature` header value of `body` sent at `timestamp`:
/// `t={timestamp},v1={hex HMAC-SHA256(secret, "{timestamp}.{body}")}`.
/// The same signature webhook-stripe checks (`integrations::stripe_webhook`).
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    shared::integrations::stripe_webhook::signature_header(secret, timestamp, body.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Webhook delivery

enum Outgoing {
    Event {
        id: String,
        body: String,
    },
    /// Everything queued before it was delivered.
    Flush(oneshot::Sender<()>),
}

/// Delivers on a thread and runtime of its own, so events go out whatever runtime the test
/// (or `make dev`) runs and however long a receiver takes. The thread holds the state weakly:
/// when the fake is dropped the state goes, and with it the sender, which ends the thread.
fn spawn_delivery(
    inbox: mpsc::UnboundedReceiver<Outgoing>,
    http: reqwest::Client,
    target: WebhookTarget,
    state: Weak<Mutex<State>>,
) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the fake Stripe's webhooks");
        runtime.block_on(deliver(inbox, http, target, state));
    });
}

async fn deliver(
    mut inbox: mpsc::UnboundedReceiver<Outgoing>,
    http: reqwest::Client,
    target: WebhookTarget,
    state: Weak<Mutex<State>>,
) {
    while let Some(outgoing) = inbox.recv().await {
        let (id, body) = match outgoing {
            Outgoing::Event { id, body } => (id, body),
            Outgoing::Flush(done) => {
                let _ = done.send(());
                continue;
            }
        };
        // Signed when sent, as Stripe does (a retry would carry a new timestamp).
        let signature = sign(&target.secret, Utc::now().timestamp(), &body);
        let sent = http
            .post(&target.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", signature)
            .timeout(std::time::Duration::from_secs(10))
            .body(body)
            .send()
            .await;
        // Not retried: tests see a failed delivery here rather than a later duplicate.
        let status = sent.map_or(0, |response| response.status().as_u16());
        if status / 100 != 2 {
            tracing::warn!(event = %id, status, "fake Stripe: webhook delivery failed");
        }
        match state.upgrade() {
            Some(state) => lock(&state).deliveries.push((id, status)),
            None => return,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State

#[derive(Clone)]
struct FakePrice {
    unit_amount: i64,
    currency: String,
    /// `None`: one-time.
    interval: Option<String>,
}

struct FakeCustomer {
    id: String,
    email: Option<String>,
    name: Option<String>,
    metadata: Map<String, Value>,
    invoice_prefix: String,
    created: i64,
}

impl FakeCustomer {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "object": "customer", "address": null, "balance": 0, "created": self.created,
            "currency": null, "default_source": null, "delinquent": false, "description": null,
            "email": self.email, "invoice_prefix": self.invoice_prefix,
            "invoice_settings": {
                "custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null,
            },
            "livemode": false, "metadata": self.metadata, "name": self.name, "phone": null,
            "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null,
        })
    }
}

struct FakeSession {
    /// As Stripe shows it; changed in place when paid.
    json: Value,
    price: String,
    quantity: i64,
    subscription_metadata: Map<String, Value>,
    payment_metadata: Map<String, Value>,
    /// Days of trial (the session's `metadata[trial_days]` or `subscription_data[trial_period_days]`).
    trial_days: Option<i64>,
}

struct FakeSubscription {
    id: String,
    item_id: String,
    customer: String,
    status: String,
    price: String,
    quantity: i64,
    current_period_start: i64,
    current_period_end: i64,
    cancel_at_period_end: bool,
    canceled_at: Option<i64>,
    ended_at: Option<i64>,
    trial_start: Option<i64>,
    trial_end: Option<i64>,
    created: i64,
    metadata: Map<String, Value>,
    latest_invoice: Option<String>,
}

struct FakeInvoice {
    id: String,
    line_id: String,
    /// Shown once finalized.
    number: String,
    customer: String,
    subscription: Option<String>,
    /// `draft`, `open` or `paid`.
    status: String,
    price: String,
    quantity: i64,
    amount: i64,
    currency: String,
    created: i64,
    /// Stripe's invoice period: the one before the invoice (both `created` on a first invoice).
    period_start: i64,
    period_end: i64,
    /// The service period the line is for.
    line_period: (i64, i64),
    billing_reason: String,
    attempted: bool,
    finalized_at: Option<i64>,
    paid_at: Option<i64>,
}

/// A successful POST's answer, kept under its idempotency key.
struct Saved {
    path: String,
    /// Sorted, so the same parameters in another order are still the same request.
    params: Vec<(String, String)>,
    status: u16,
    body: String,
}

/// An answer of the API: the status and Stripe's JSON (an error object on failure).
type Answer = (u16, Value);

struct State {
    base: String,
    calls: Vec<RecordedCall>,
    failures: VecDeque<u16>,
    idempotent: HashMap<String, Saved>,
    prices: HashMap<String, FakePrice>,
    customers: Vec<FakeCustomer>,
    sessions: HashMap<String, FakeSession>,
    subscriptions: Vec<FakeSubscription>,
    /// Oldest first.
    invoices: Vec<FakeInvoice>,
    invoice_numbers: u32,
    events: Vec<Value>,
    deliveries: Vec<(String, u16)>,
    /// Where emitted events go to be delivered; `None` without a webhook target.
    outbox: Option<mpsc::UnboundedSender<Outgoing>>,
}

impl State {
    fn new(base: String) -> State {
        State {
            base,
            calls: Vec::new(),
            failures: VecDeque::new(),
            idempotent: HashMap::new(),
            prices: HashMap::new(),
            customers: Vec::new(),
            sessions: HashMap::new(),
            subscriptions: Vec::new(),
            invoices: Vec::new(),
            invoice_numbers: 0,
            events: Vec::new(),
            deliveries: Vec::new(),
            outbox: None,
        }
    }

    /// Records an event and queues it for delivery; under the lock, so events go out in order.
    fn emit(&mut self, kind: &str, object: Value, previous_attributes: Option<Value>) {
        let mut data = json!({ "object": object });
        if let Some(previous) = previous_attributes {
            data["previous_attributes"] = previous;
        }
        let id = stripe_id("evt_");
        let event = json!({
            "id": id, "object": "event", "api_version": API_VERSION, "created": now(), "data": data,
            "livemode": false, "pending_webhooks": 1, "request": { "id": null, "idempotency_key": null },
            "type": kind,
        });
        if let Some(outbox) = &self.outbox {
            let _ = outbox.send(Outgoing::Event { id, body: event.to_string() });
        }
        self.events.push(event);
    }

    fn price(&self, id: &str) -> FakePrice {
        match self.prices.get(id) {
            Some(price) => price.clone(),
            None => FakePrice {
                unit_amount: DEFAULT_AMOUNT,
                currency: DEFAULT_CURRENCY.to_string(),
                interval: Some(if id.contains("year") { "year" } else { "month" }.to_string()),
            },
        }
    }

    fn price_json(&self, id: &str) -> Value {
        let price = self.price(id);
        let recurring = price.interval.as_ref().map(|interval| {
            json!({
                "aggregate_usage": null, "interval": interval, "interval_count": 1,
                "trial_period_days": null, "usage_type": "licensed",
            })
        });
        json!({
            "id": id, "object": "price", "active": true, "billing_scheme": "per_unit", "created": 0,
            "currency": price.currency, "livemode": false, "lookup_key": null, "metadata": {}, "nickname": null,
            "product": format!("prod_{}", id.trim_start_matches("price_")), "recurring": recurring,
            "tax_behavior": "unspecified",
            "type": if recurring.is_some() { "recurring" } else { "one_time" },
            "unit_amount": price.unit_amount, "unit_amount_decimal": price.unit_amount.to_string(),
        })
    }

    fn customer(&self, id: &str) -> Option<&FakeCustomer> {
        self.customers.iter().find(|customer| customer.id == id)
    }

    fn subscription_index(&self, id: &str) -> Option<usize> {
        self.subscriptions.iter().position(|subscription| subscription.id == id)
    }

    /// The subscription the test names; a test naming none it made is wrong.
    fn subscription_mut(&mut self, id: &str) -> &mut FakeSubscription {
        let index = self.subscription_index(id);
        let index = index.unwrap_or_else(|| panic!("the fake Stripe holds no subscription {id}"));
        &mut self.subscriptions[index]
    }

    fn subscription_json(&self, id: &str) -> Value {
        let subscription = self
            .subscriptions
            .iter()
            .find(|subscription| subscription.id == id)
            .unwrap_or_else(|| panic!("the fake Stripe holds no subscription {id}"));
        let item = json!({
            "id": subscription.item_id, "object": "subscription_item", "created": subscription.created,
            "metadata": {}, "price": self.price_json(&subscription.price), "quantity": subscription.quantity,
            "subscription": subscription.id,
        });
        json!({
            "id": subscription.id, "object": "subscription", "application": null,
            // Fixed when the subscription starts (a trial's end, when it has one).
            "billing_cycle_anchor": subscription.trial_end.unwrap_or(subscription.created),
            "cancel_at": subscription.cancel_at_period_end.then_some(subscription.current_period_end),
            "cancel_at_period_end": subscription.cancel_at_period_end,
            "canceled_at": subscription.canceled_at, "collection_method": "charge_automatically",
            "created": subscription.created, "currency": self.price(&subscription.price).currency,
            "current_period_end": subscription.current_period_end,
            "current_period_start": subscription.current_period_start,
            "customer": subscription.customer, "days_until_due": null, "default_payment_method": null,
            "ended_at": subscription.ended_at,
            "items": {
                "object": "list", "data": [item], "has_more": false, "total_count": 1,
                "url": format!("/v1/subscription_items?subscription={}", subscription.id),
            },
            "latest_invoice": subscription.latest_invoice, "livemode": false, "metadata": subscription.metadata,
            "start_date": subscription.created, "status": subscription.status,
            "trial_end": subscription.trial_end, "trial_start": subscription.trial_start,
        })
    }

    fn invoice_json(&self, invoice: &FakeInvoice) -> Value {
        let customer = self.customer(&invoice.customer);
        let finalized = invoice.status != "draft";
        let paid = invoice.status == "paid";
        let amount_paid = if paid { invoice.amount } else { 0 };
        let line = json!({
            "id": invoice.line_id, "object": "line_item", "amount": invoice.amount, "currency": invoice.currency,
            "description": null, "livemode": false, "metadata": {},
            "period": { "start": invoice.line_period.0, "end": invoice.line_period.1 },
            "price": self.price_json(&invoice.price), "proration": false, "quantity": invoice.quantity,
            "subscription": invoice.subscription, "type": "subscription",
        });
        json!({
            "id": invoice.id, "object": "invoice", "account_country": "DE", "account_name": "Flowday",
            "amount_due": invoice.amount, "amount_paid": amount_paid, "amount_remaining": invoice.amount - amount_paid,
            "attempt_count": u8::from(invoice.attempted), "attempted": invoice.attempted,
            "auto_advance": !paid, "billing_reason": invoice.billing_reason,
            "collection_method": "charge_automatically", "created": invoice.created, "currency": invoice.currency,
            "customer": invoice.customer, "customer_email": customer.and_then(|customer| customer.email.clone()),
            "customer_name": customer.and_then(|customer| customer.name.clone()), "description": null,
            "hosted_invoice_url": finalized.then(|| format!("{}/invoice/{}", self.base, invoice.id)),
            "invoice_pdf": finalized.then(|| format!("{}/invoice/{}/pdf", self.base, invoice.id)),
            "lines": {
                "object": "list", "data": [line], "has_more": false, "total_count": 1,
                "url": format!("/v1/invoices/{}/lines", invoice.id),
            },
            "livemode": false, "metadata": {}, "number": finalized.then_some(&invoice.number), "paid": paid,
            "period_end": invoice.period_end, "period_start": invoice.period_start, "status": invoice.status,
            "status_transitions": {
                "finalized_at": invoice.finalized_at, "marked_uncollectible_at": null,
                "paid_at": invoice.paid_at, "voided_at": null,
            },
            "subscription": invoice.subscription, "subtotal": invoice.amount, "total": invoice.amount,
        })
    }

    /// Bills a subscription's period: the invoice is created, finalized, then paid or failed,
    /// with Stripe's events at each step. Returns its id.
    fn bill(&mut self, subscription_id: &str, billing_reason: &str, period: (i64, i64), pay: bool) -> String {
        let subscription = self.subscription_mut(subscription_id);
        let (customer, price, quantity) =
            (subscription.customer.clone(), subscription.price.clone(), subscription.quantity);
        let trialing = subscription.status == "trialing";
        let (previous_start, previous_end) = (subscription.current_period_start, subscription.current_period_end);
        let price_details = self.price(&price);
        self.invoice_numbers += 1;
        let prefix = self.customer(&customer).map_or("FAKE", |customer| customer.invoice_prefix.as_str());
        let created = now();
        let invoice = FakeInvoice {
            id: stripe_id("in_"),
            line_id: stripe_id("il_"),
            number: format!("{prefix}-{:04}", self.invoice_numbers),
            customer,
            subscription: Some(subscription_id.to_string()),
            status: "draft".to_string(),
            price,
            quantity,
            // A trial's first invoice is for nothing.
            amount: if trialing { 0 } else { price_details.unit_amount * quantity },
            currency: price_details.currency,
            created,
            // A first invoice's period is the instant it was made; later ones the period before.
            period_start: if billing_reason == "subscription_create" { created } else { previous_start },
            period_end: if billing_reason == "subscription_create" { created } else { previous_end },
            line_period: period,
            billing_reason: billing_reason.to_string(),
            attempted: false,
            finalized_at: None,
            paid_at: None,
        };
        let id = invoice.id.clone();
        self.invoices.push(invoice);
        let object = self.invoice_json(self.invoices.last().expect("just pushed"));
        self.emit("invoice.created", object, None);
        self.change_invoice(&id, |invoice, now| {
            invoice.status = "open".to_string();
            invoice.finalized_at = Some(now);
        });
        let object = self.current_invoice_json(&id);
        self.emit("invoice.finalized", object, None);
        self.change_invoice(&id, |invoice, now| {
            invoice.attempted = true;
            if pay {
                invoice.status = "paid".to_string();
                invoice.paid_at = Some(now);
            }
        });
        let object = self.current_invoice_json(&id);
        if pay {
            self.emit("invoice.paid", object.clone(), None);
            self.emit("invoice.payment_succeeded", object, None);
        } else {
            self.emit("invoice.payment_failed", object, None);
        }
        id
    }

    fn change_invoice(&mut self, id: &str, change: impl FnOnce(&mut FakeInvoice, i64)) {
        if let Some(invoice) = self.invoices.iter_mut().find(|invoice| invoice.id == id) {
            change(invoice, now());
        }
    }

    fn current_invoice_json(&self, id: &str) -> Value {
        let invoice = self.invoices.iter().find(|invoice| invoice.id == id).expect("an invoice the fake made");
        self.invoice_json(invoice)
    }

    /// Changes a subscription and emits `customer.subscription.updated` with what changed.
    fn change_subscription(&mut self, id: &str, change: impl FnOnce(&mut FakeSubscription, i64)) {
        let before = self.subscription_json(id);
        change(self.subscription_mut(id), now());
        let after = self.subscription_json(id);
        let previous = previous_attributes(&before, &after);
        self.emit("customer.subscription.updated", after, Some(previous));
    }

    /// The next period: billed and paid (`active`), or billed and failed (`past_due`).
    fn renew(&mut self, id: &str, pay: bool) -> String {
        let subscription = self.subscription_mut(id);
        assert_ne!(subscription.status, "canceled", "the fake Stripe's subscription {id} has ended");
        let start = subscription.current_period_end;
        let price = subscription.price.clone();
        let end = add_interval(start, self.price(&price).interval.as_deref());
        let invoice = self.bill(id, "subscription_cycle", (start, end), pay);
        self.change_subscription(id, |subscription, _| {
            subscription.current_period_start = start;
            subscription.current_period_end = end;
            subscription.status = if pay { "active" } else { "past_due" }.to_string();
            subscription.latest_invoice = Some(invoice.clone());
        });
        invoice
    }

    fn end_subscription(&mut self, id: &str) {
        let subscription = self.subscription_mut(id);
        let now = now();
        subscription.status = "canceled".to_string();
        subscription.ended_at = Some(now);
        subscription.canceled_at = subscription.canceled_at.or(Some(now));
        let object = self.subscription_json(id);
        self.emit("customer.subscription.deleted", object, None);
    }

    fn delete_customer(&mut self, id: &str) {
        let customer = self.customer(id).unwrap_or_else(|| panic!("the fake Stripe holds no customer {id}"));
        let object = customer.json();
        let live: Vec<String> = self
            .subscriptions
            .iter()
            .filter(|subscription| subscription.customer == id && subscription.status != "canceled")
            .map(|subscription| subscription.id.clone())
            .collect();
        for subscription in live {
            self.end_subscription(&subscription);
        }
        self.customers.retain(|customer| customer.id != id);
        self.emit("customer.deleted", object, None);
    }

    /// The buyer paid: what the session was for comes to be, with Stripe's events.
    fn complete_session(&mut self, id: &str) -> Result<(), &'static str> {
        let session = self.sessions.get(id).ok_or("no such session")?;
        if session.json["status"] != "open" {
            return Err("already complete");
        }
        let subscription_mode = session.json["mode"] == "subscription";
        // Without a customer, Checkout makes one from what the buyer typed.
        if session.json["customer"].is_null() {
            let customer = self.create_customer(&[]);
            let session = self.sessions.get_mut(id).expect("checked above");
            session.json["customer"] = customer["id"].clone();
        }
        if subscription_mode {
            self.complete_subscription(id);
        } else {
            self.complete_payment(id);
        }
        let session = self.sessions.get_mut(id).expect("checked above");
        session.json["status"] = json!("complete");
        session.json["url"] = Value::Null;
        let object = session.json.clone();
        self.emit("checkout.session.completed", object, None);
        Ok(())
    }

    fn complete_subscription(&mut self, session_id: &str) {
        let session = &self.sessions[session_id];
        let customer = session.json["customer"].as_str().unwrap_or_default().to_string();
        let (price, quantity, trial_days) = (session.price.clone(), session.quantity, session.trial_days);
        let metadata = session.subscription_metadata.clone();
        let now = now();
        let trial_end = trial_days.map(|days| now + days * 86_400);
        let period_end = trial_end.unwrap_or_else(|| add_interval(now, self.price(&price).interval.as_deref()));
        let id = stripe_id("sub_");
        self.subscriptions.push(FakeSubscription {
            id: id.clone(),
            item_id: stripe_id("si_"),
            customer,
            status: if trial_end.is_some() { "trialing" } else { "active" }.to_string(),
            price,
            quantity,
            current_period_start: now,
            current_period_end: period_end,
            cancel_at_period_end: false,
            canceled_at: None,
            ended_at: None,
            trial_start: trial_end.map(|_| now),
            trial_end,
            created: now,
            metadata,
            latest_invoice: None,
        });
        let created = self.subscription_json(&id);
        // Stripe announces the subscription before billing it.
        self.emit("customer.subscription.created", created, None);
        let invoice = self.bill(&id, "subscription_create", (now, period_end), true);
        self.subscription_mut(&id).latest_invoice = Some(invoice.clone());
        let amount = self.invoices.last().map_or(0, |invoice| invoice.amount);
        let session = &mut self.sessions.get_mut(session_id).expect("checked by the caller").json;
        session["subscription"] = json!(id);
        session["invoice"] = json!(invoice);
        session["amount_total"] = json!(amount);
        session["amount_subtotal"] = json!(amount);
        session["payment_status"] = json!(if amount == 0 { "no_payment_required" } else { "paid" });
    }

    fn complete_payment(&mut self, session_id: &str) {
        let session = &self.sessions[session_id];
        let price = self.price(&session.price);
        let amount = price.unit_amount * session.quantity;
        let intent = stripe_id("pi_");
        let object = json!({
            "id": intent, "object": "payment_intent", "amount": amount, "amount_received": amount,
            "currency": price.currency, "customer": session.json["customer"], "created": now(),
            "latest_charge": stripe_id("ch_"), "livemode": false, "metadata": session.payment_metadata,
            "payment_method": stripe_id("pm_"), "status": "succeeded",
        });
        self.emit("payment_intent.succeeded", object, None);
        let session = &mut self.sessions.get_mut(session_id).expect("checked by the caller").json;
        session["payment_intent"] = json!(intent);
        session["payment_status"] = json!("paid");
        session["amount_total"] = json!(amount);
        session["amount_subtotal"] = json!(amount);
        session["currency"] = json!(price.currency);
    }

    // -----------------------------------------------------------------------------------------
    // The API

    fn api(&mut self, request: &Request) -> ResponseTemplate {
        let call = recorded_call(request);
        self.calls.push(call.clone());
        if let Some(problem) = auth_problem(request) {
            return answer((401, stripe_error("invalid_request_error", None, problem, None)));
        }
        if let Some(status) = self.failures.pop_front() {
            return answer(failure(status));
        }
        let key = call.idempotency_key.as_deref().filter(|_| call.method == "POST");
        let mut params = call.form.clone();
        params.sort();
        if let Some(saved) = key.and_then(|key| self.idempotent.get(key)) {
            if saved.path != call.path || saved.params != params {
                let message = "Keys for idempotent requests can only be used with the same parameters they were \
                               first used with. Try using a key other than the one used for the original request.";
                return answer((400, stripe_error("idempotency_error", None, message, None)));
            }
            return json_response(saved.status, saved.body.clone()).insert_header("idempotent-replayed", "true");
        }
        let (status, body) = match self.route(&call) {
            Ok(object) => (200, object),
            Err(error) => error,
        };
        let body = body.to_string();
        // Stripe keeps the result of a request that ran; a refused one may be sent again.
        if let (Some(key), 200) = (key, status) {
            let saved = Saved { path: call.path.clone(), params, status, body: body.clone() };
            self.idempotent.insert(key.to_string(), saved);
        }
        json_response(status, body)
    }

    fn route(&mut self, call: &RecordedCall) -> Result<Value, Answer> {
        match (call.method.as_str(), call.path.as_str()) {
            ("POST", "/v1/customers") => Ok(self.create_customer(&call.form)),
            ("POST", "/v1/checkout/sessions") => self.create_session(&call.form),
            ("POST", "/v1/billing_portal/sessions") => self.create_portal_session(&call.form),
            ("GET", "/v1/invoices") => self.list_invoices(&call.query),
            ("GET", path) if path.starts_with("/v1/subscriptions/") => {
                // Stripe's ids need no decoding; an encoded one matches nothing, as at Stripe.
                let id = &path["/v1/subscriptions/".len()..];
                match self.subscription_index(id) {
                    Some(_) => Ok(self.subscription_json(id)),
                    None => Err(missing("subscription", id, Some("id"))),
                }
            }
            (method, path) => {
                let message = format!("Unrecognized request URL ({method}: {path}).");
                Err((404, stripe_error("invalid_request_error", None, &message, None)))
            }
        }
    }

    fn create_customer(&mut self, form: &[(String, String)]) -> Value {
        let id = stripe_id("cus_");
        let customer = FakeCustomer {
            invoice_prefix: id[4..12].to_uppercase(),
            id,
            email: field(form, "email").map(str::to_string),
            name: field(form, "name").map(str::to_string),
            metadata: nested(form, "metadata"),
            created: now(),
        };
        let object = customer.json();
        self.customers.push(customer);
        object
    }

    fn create_session(&mut self, form: &[(String, String)]) -> Result<Value, Answer> {
        let mode = required(form, "mode")?;
        if !matches!(mode, "subscription" | "payment") {
            return Err(invalid(
                &format!("Invalid mode: must be one of payment or subscription (got {mode})."),
                "mode",
            ));
        }
        let success_url = required(form, "success_url")?;
        let price = field(form, "line_items[0][price]").ok_or_else(|| missing_param("line_items"))?;
        let quantity = match field(form, "line_items[0][quantity]").map(str::parse::<i64>) {
            None => 1,
            Some(Ok(quantity)) if quantity > 0 => quantity,
            Some(_) => return Err(invalid("Invalid integer.", "line_items[0][quantity]")),
        };
        let customer = field(form, "customer");
        if let Some(customer) = customer.filter(|customer| self.customer(customer).is_none()) {
            return Err(missing("customer", customer, Some("customer")));
        }
        let price_details = self.price(price);
        // What Stripe refuses: a one-time price in subscription mode, and the reverse.
        if (mode == "subscription") != price_details.interval.is_some() {
            let message = format!("The price `{price}` is not usable in `{mode}` mode.");
            return Err(invalid(&message, "line_items[0][price]"));
        }
        let metadata = nested(form, "metadata");
        let trial_days = metadata
            .get("trial_days")
            .and_then(Value::as_str)
            .or_else(|| field(form, "subscription_data[trial_period_days]"))
            .and_then(|days| days.parse().ok());
        let id = stripe_id("cs_test_");
        let amount = price_details.unit_amount * quantity;
        let json = json!({
            "id": id, "object": "checkout.session",
            "allow_promotion_codes": field(form, "allow_promotion_codes").map(|value| value == "true"),
            "amount_subtotal": amount, "amount_total": amount, "cancel_url": field(form, "cancel_url"),
            "client_reference_id": field(form, "client_reference_id"), "created": now(),
            "currency": price_details.currency, "customer": customer, "customer_details": null,
            "customer_email": null, "expires_at": now() + SESSION_TTL_SECONDS, "invoice": null, "livemode": false,
            "locale": null, "metadata": metadata, "mode": mode, "payment_intent": null, "payment_status": "unpaid",
            "status": "open", "subscription": null, "success_url": success_url, "ui_mode": "hosted",
            "url": format!("{}/checkout/{id}", self.base),
        });
        let session = FakeSession {
            json: json.clone(),
            price: price.to_string(),
            quantity,
            subscription_metadata: nested(form, "subscription_data[metadata]"),
            payment_metadata: nested(form, "payment_intent_data[metadata]"),
            trial_days,
        };
        self.sessions.insert(id, session);
        Ok(json)
    }

    fn create_portal_session(&mut self, form: &[(String, String)]) -> Result<Value, Answer> {
        let customer = required(form, "customer")?;
        if self.customer(customer).is_none() {
            return Err(missing("customer", customer, Some("customer")));
        }
        let id = stripe_id("bps_");
        Ok(json!({
            "id": id, "object": "billing_portal.session", "configuration": "bpc_fake", "created": now(),
            "customer": customer, "flow": null, "livemode": false, "locale": null, "on_behalf_of": null,
            "return_url": field(form, "return_url"), "url": format!("{}/portal/{id}", self.base),
        }))
    }

    fn list_invoices(&self, query: &[(String, String)]) -> Result<Value, Answer> {
        let customer = field(query, "customer");
        if let Some(customer) = customer.filter(|customer| self.customer(customer).is_none()) {
            return Err(missing("customer", customer, Some("customer")));
        }
        let limit = match field(query, "limit").map(str::parse::<usize>) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => return Err(invalid("Invalid limit: must be an integer between 1 and 100.", "limit")),
        };
        // Newest first; made in order, so the reverse of creation.
        let matching: Vec<&FakeInvoice> = self
            .invoices
            .iter()
            .rev()
            .filter(|invoice| customer.is_none_or(|customer| invoice.customer == customer))
            .collect();
        let start = match field(query, "starting_after") {
            None => 0,
            Some(after) => match matching.iter().position(|invoice| invoice.id == after) {
                Some(index) => index + 1,
                None => return Err(missing("invoice", after, Some("starting_after"))),
            },
        };
        let page: Vec<Value> =
            matching.iter().skip(start).take(limit).map(|invoice| self.invoice_json(invoice)).collect();
        let has_more = matching.len() > start + page.len();
        Ok(json!({ "object": "list", "data": page, "has_more": has_more, "url": "/v1/invoices" }))
    }

    // -----------------------------------------------------------------------------------------
    // The buyer's pages

    fn page(&mut self, path: &str) -> ResponseTemplate {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["checkout", id] => self.checkout_page(id),
            ["portal", id] => html(200, &format!("Customer portal session {id} of the fake Stripe.")),
            ["invoice", id] | ["invoice", id, "pdf"] if self.invoices.iter().any(|invoice| invoice.id == *id) => {
                html(200, &format!("Invoice {id} of the fake Stripe."))
            }
            _ => html(404, "Not found."),
        }
    }

    /// Opening the checkout URL pays at once (there is no form to fill in). The page names where
    /// the buyer goes next rather than redirecting there: `success_url` is our app's page, and a
    /// test's client would follow it.
    fn checkout_page(&mut self, id: &str) -> ResponseTemplate {
        match self.complete_session(id) {
            Ok(()) => {
                let success_url = self.sessions[id].json["success_url"].as_str().unwrap_or_default();
                // Stripe fills in the session's id where the URL asks for it.
                let success_url = escape(&success_url.replace("{CHECKOUT_SESSION_ID}", id));
                html(200, &format!("Payment complete. Continue to <a href=\"{success_url}\">{success_url}</a>"))
            }
            Err("already complete") => html(200, "This checkout session is already complete."),
            Err(_) => html(404, "No such checkout session."),
        }
    }
}

struct StripeResponder {
    state: Arc<Mutex<State>>,
}

impl Respond for StripeResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = lock(&self.state);
        let path = request.url.path();
        if path.starts_with("/v1/") {
            state.api(request)
        } else if request.method.as_str() == "GET" {
            state.page(path)
        } else {
            html(404, "Not found.")
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A test that panicked holding the lock must not break the fake for the others.
fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// One `interval` (`month` or `year`; `None` counts as a month) after `at`.
fn add_interval(at: i64, interval: Option<&str>) -> i64 {
    let months = if interval == Some("year") { 12 } else { 1 };
    DateTime::from_timestamp(at, 0)
        .and_then(|at| at.checked_add_months(Months::new(months)))
        .map_or(at + i64::from(months) * 30 * 86_400, |at| at.timestamp())
}

/// An id in Stripe's style: a prefix and random letters and digits.
fn stripe_id(prefix: &str) -> String {
    let random: String = rand::rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
    format!("{prefix}{random}")
}

/// The top-level fields that changed, with their old values: Stripe's `previous_attributes`.
fn previous_attributes(before: &Value, after: &Value) -> Value {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else { return json!({}) };
    let changed = before.iter().filter(|(name, value)| after.get(*name) != Some(value));
    Value::Object(changed.map(|(name, value)| (name.clone(), value.clone())).collect())
}

fn recorded_call(request: &Request) -> RecordedCall {
    let header = |name: &str| request.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_string);
    RecordedCall {
        method: request.method.to_string(),
        path: request.url.path().to_string(),
        idempotency_key: header("idempotency-key"),
        stripe_version: header("stripe-version"),
        form: form_of(request),
        query: request.url.query_pairs().map(|(name, value)| (name.into_owned(), value.into_owned())).collect(),
    }
}

/// The fields of an `application/x-www-form-urlencoded` body, in order. A body that is not a
/// form reads as no fields, so Stripe's "missing param" answers follow.
fn form_of(request: &Request) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes(&request.body).unwrap_or_default()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(field, _)| field == name).map(|(_, value)| value.as_str())
}

/// The `{prefix}[key]=value` fields as an object, e.g. `metadata[user_id]`.
fn nested(form: &[(String, String)], prefix: &str) -> Map<String, Value> {
    let inner = |name: &str| name.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']').map(str::to_string);
    // Keys holding brackets themselves (deeper nesting) are not metadata keys.
    form.iter()
        .filter_map(|(name, value)| Some((inner(name)?, Value::String(value.clone()))))
        .filter(|(key, _)| !key.contains('[') && !key.contains(']'))
        .collect()
}

/// Why the request's key is refused, if it is.
fn auth_problem(request: &Request) -> Option<&'static str> {
    let header = request.headers.get("authorization").and_then(|value| value.to_str().ok());
    match header.and_then(|value| value.strip_prefix("Bearer ")) {
        None => Some(
            "You did not provide an API key. You need to provide your API key in the Authorization header, \
             using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ),
        // Stripe quotes part of a wrong key; the fake quotes none.
        Some(key) if key != SECRET_KEY => Some("Invalid API Key provided."),
        Some(_) => None,
    }
}

/// Stripe's error object.
fn stripe_error(kind: &str, code: Option<&str>, message: &str, param: Option<&str>) -> Value {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}

fn missing_param(param: &str) -> Answer {
    let message = format!("Missing required param: {param}.");
    (400, stripe_error("invalid_request_error", Some("parameter_missing"), &message, Some(param)))
}

fn required<'a>(form: &'a [(String, String)], name: &str) -> Result<&'a str, Answer> {
    field(form, name).filter(|value| !value.is_empty()).ok_or_else(|| missing_param(name))
}

fn invalid(message: &str, param: &str) -> Answer {
    (400, stripe_error("invalid_request_error", None, message, Some(param)))
}

/// `No such customer: 'cus_..'` (404 `resource_missing`).
fn missing(what: &str, id: &str, param: Option<&str>) -> Answer {
    let message = format!("No such {what}: '{id}'");
    (404, stripe_error("invalid_request_error", Some("resource_missing"), &message, param))
}

/// An injected failure (`fail_next`).
fn failure(status: u16) -> Answer {
    let error = match status {
        429 => stripe_error(
            "invalid_request_error",
            Some("rate_limit"),
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            None,
        ),
        500.. => stripe_error("api_error", None, "Something went wrong on Stripe's end.", None),
        _ => stripe_error("invalid_request_error", None, "The fake Stripe was told to fail this request.", None),
    };
    (status, error)
}

fn answer((status, body): Answer) -> ResponseTemplate {
    json_response(status, body.to_string())
}

fn json_response(status: u16, body: String) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_raw(body, "application/json")
        .insert_header("request-id", stripe_id("req_").as_str())
        .insert_header("stripe-version", API_VERSION)
}

/// Text for an HTML page or attribute.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn html(status: u16, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(format!("<html><body><p>{text}</p></body></html>"), "text/html")
}
