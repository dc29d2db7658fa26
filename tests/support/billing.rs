//! Billing in tests: the prices the stacks sell, Stripe's signature, and what a user ends with
//! (tier, subscription, customer, credits, billing notices queued).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::TestStack;

use flowday_local::stripe_fake::{FakeStripe, LOCAL_PRICES, WebhookTarget};

pub const PRO_MONTHLY: &str = LOCAL_PRICES[0].id;
pub const PRO_YEARLY: &str = LOCAL_PRICES[1].id;
pub const CREDITS_100: &str = LOCAL_PRICES[3].id;
/// The local stack's webhook signing secret (no `STRIPE_WEBHOOK_SECRET` in tests).
pub const WEBHOOK_SECRET: &str = flowday_local::stack::LOCAL_STRIPE_WEBHOOK_SECRET;

/// Template parameters selling every plan and pack at the local prices.
pub fn prices() -> HashMap<String, String> {
    LOCAL_PRICES.iter().map(|price| (price.parameter.to_string(), price.id.to_string())).collect()
}

impl TestStack {
    /// A stack selling the local prices through a fake Stripe, whose webhooks reach this stack's
    /// gateway (served on a loopback port) signed with the local webhook secret.
    pub async fn with_stripe() -> (TestStack, FakeStripe) {
        Self::with_stripe_and(HashMap::new()).await
    }

    /// `with_stripe`, with more template parameters.
    pub async fn with_stripe_and(more: HashMap<String, String>) -> (TestStack, FakeStripe) {
        let stripe = FakeStripe::start(None).await;
        stripe.sell_local_prices();
        let mut parameters = prices();
        parameters.extend(more);
        parameters.insert("StripeApiBase".into(), stripe.uri());
        let stack = TestStack::with_parameters(parameters).await;
        let url = format!("{}/webhooks/stripe", stack.serve().await);
        stripe.deliver_to(WebhookTarget { url, secret: WEBHOOK_SECRET.into() });
        (stack, stripe)
    }
}

/// The Stripe-Signature of `body`, signed now.
pub fn sign(secret: &str, body: &str) -> String {
    shared::integrations::stripe_webhook::signature_header(secret, chrono::Utc::now().timestamp(), body.as_bytes())
}

/// What the user ends with: the profile's tier, the subscription's status and customer, the
/// credits of each kind, and the titles of the billing notices queued (each notification once).
pub async fn final_state(stack: &TestStack, user_id: &str) -> Value {
    let store = stack.store("webhook-stripe");
    let user = store.accounts().get_user(user_id).await.unwrap().expect("the user");
    let billing = store.billing().get_billing(user_id).await.unwrap();
    let today = shared::domain::credits::today(chrono::Utc::now(), &user.timezone);
    let credits = store.credits().balance(user_id, today, 0).await.unwrap();
    let mut notices = BTreeMap::new();
    for message in stack.drain_queue("NotificationsQueue").await {
        if let Some(notification) = message.get("notification") {
            notices.insert(notification["id"].as_str().unwrap().to_string(), notification["title"].clone());
        }
    }
    let mut titles: Vec<Value> = notices.into_values().collect();
    titles.sort_by_key(|title| title.to_string());
    json!({
        "tier": user.tier,
        "status": billing.subscription.as_ref().map(|report| report.status),
        "plan": billing.subscription.as_ref().map(|report| report.plan),
        "stripe_customer_id": billing.stripe_customer_id,
        "credits": credits.amounts,
        "notices": titles,
    })
}
