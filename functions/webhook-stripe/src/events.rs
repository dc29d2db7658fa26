//! What each Stripe event type does. Every step is idempotent on its own (a report only moves the
//! state forward, a grant is made once per invoice or checkout, a notification's id is derived
//! from what it is about), and the event's id is recorded last, so an event that failed halfway
//! is applied whole when Stripe sends it again, and one that succeeded is skipped.
//!
//! Objects are read in the shapes of API version 2024-06-20 (`integrations::stripe`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::domain::billing::{PlanId, SubscriptionReport, SubscriptionStatus};
use shared::domain::credits::CreditKind;
use shared::domain::derived_id;
use shared::domain::messages::{Notification, NotificationJob, NotificationMessage};
use shared::domain::notifications::NotificationType;
use shared::http::ApiError;
use shared::integrations::stripe_webhook::Event;
use shared::store::billing::ReportOutcome;

use crate::StripeWebhookState;

#[derive(Debug, Deserialize)]
struct SubscriptionObject {
    id: String,
    customer: String,
    status: String,
    created: i64,
    current_period_end: Option<i64>,
    #[serde(default)]
    cancel_at_period_end: bool,
    trial_end: Option<i64>,
    #[serde(default)]
    metadata: HashMap<String, String>,
    items: List<PricedItem>,
}

#[derive(Debug, Deserialize)]
struct List<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

/// A subscription item, or an invoice line (which also says its amount and whether it is a
/// proration).
#[derive(Debug, Deserialize)]
struct PricedItem {
    price: Option<PriceObject>,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    proration: bool,
}

#[derive(Debug, Deserialize)]
struct PriceObject {
    id: String,
}

#[derive(Debug, Deserialize)]
struct InvoiceObject {
    id: String,
    customer: String,
    subscription: Option<String>,
    number: Option<String>,
    #[serde(default)]
    attempt_count: u32,
    next_payment_attempt: Option<i64>,
    lines: Option<List<PricedItem>>,
}

#[derive(Debug, Deserialize)]
struct SessionObject {
    id: String,
    mode: String,
    customer: Option<String>,
    client_reference_id: Option<String>,
    payment_status: String,
    #[serde(default)]
    metadata: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct CustomerObject {
    id: String,
}

/// Applies one event not seen before.
pub async fn apply(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    match event.kind.as_str() {
        "customer.subscription.created" | "customer.subscription.updated" | "customer.subscription.deleted" => {
            subscription_changed(state, event).await
        }
        "customer.subscription.trial_will_end" => trial_will_end(state, event).await,
        "invoice.paid" => invoice_paid(state, event).await,
        "invoice.payment_failed" => payment_failed(state, event).await,
        "checkout.session.completed" => checkout_completed(state, event).await,
        "customer.deleted" => customer_deleted(state, event).await,
        other => {
            tracing::debug!(event_type = other, "a Stripe event type we do not handle: ignored");
            Ok(())
        }
    }
}

fn object<T: serde::de::DeserializeOwned>(event: &Event) -> Result<T, ApiError> {
    event.object().ok_or_else(|| {
        tracing::error!(event_id = %event.id, event_type = %event.kind, "a Stripe event whose object we cannot read");
        ApiError::bad_request("malformed_event", format!("the object of this {} event cannot be read", event.kind))
    })
}

async fn record(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    state.base.store.billing().record_event(&event.id, &event.kind).await?;
    Ok(())
}

/// The user a customer belongs to: the customer we remembered, else the user id we put in the
/// subscription's metadata at checkout. None for a customer that is not ours.
async fn user_of(
    state: &StripeWebhookState,
    customer: &str,
    metadata: &HashMap<String, String>,
) -> Result<Option<String>, ApiError> {
    if let Some(user_id) = state.base.store.billing().user_of_customer(customer).await? {
        return Ok(Some(user_id));
    }
    Ok(metadata.get("user_id").cloned())
}

/// A subscription was created, changed or ended: its state becomes the user's if it is newer
/// than the one held, and the user's tier follows it.
async fn subscription_changed(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    let subscription: SubscriptionObject = object(event)?;
    let Some(user_id) = user_of(state, &subscription.customer, &subscription.metadata).await? else {
        tracing::warn!(customer = %subscription.customer, "a subscription of a customer that is not ours");
        return record(state, event).await;
    };
    let price = subscription.items.data.iter().find_map(|item| item.price.as_ref().map(|price| price.id.as_str()));
    let (Some(plan), Some(status)) =
        (price.and_then(|price| state.prices.plan_of(price)), SubscriptionStatus::parse(&subscription.status))
    else {
        tracing::warn!(subscription = %subscription.id, ?price, status = %subscription.status, "a subscription to a price or in a status we do not know");
        return record(state, event).await;
    };
    let report = SubscriptionReport {
        subscription_id: subscription.id,
        plan,
        status,
        reported_at: event.created,
        subscription_created: subscription.created,
        current_period_end: subscription.current_period_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
        trial_end: subscription.trial_end,
    };
    let outcome = state.base.store.billing().apply_report(&user_id, &report, &event.id, &event.kind).await?;
    if let ReportOutcome::Applied(tier) = outcome {
        tracing::info!(user_id, ?tier, status = ?report.status, "subscription state applied");
    }
    Ok(())
}

/// A paid invoice of a subscription grants the period it bills its plan's subscription credits,
/// once per invoice. Only a charged period of a plan counts: a trial's invoice of 0 starts no
/// paid period, and a plan change mid-period bills prorations, which buy no new period (the
/// credits come with the next renewal's invoice). A switch to another interval (monthly to
/// yearly) bills the new plan's whole period at once, and grants it.
async fn invoice_paid(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    let invoice: InvoiceObject = object(event)?;
    let plan = invoice_plan(state, &invoice);
    let user_id = user_of(state, &invoice.customer, &HashMap::new()).await?;
    if let (Some(plan), Some(user_id)) = (plan, user_id) {
        let credits = plan.credits_per_invoice();
        let reason = format!("subscription credits, invoice {}", invoice.number.as_deref().unwrap_or(&invoice.id));
        if credits > 0 {
            state.base.store.credits().grant(&user_id, CreditKind::Subscription, credits, &invoice.id, &reason).await?;
        }
    }
    record(state, event).await
}

/// The plan whose period an invoice charges: a line of a plan's price that is no proration and
/// charges something. None for an invoice that charges no plan's period.
fn invoice_plan(state: &StripeWebhookState, invoice: &InvoiceObject) -> Option<PlanId> {
    charged_prices(invoice).find_map(|price| state.prices.plan_of(price))
}

/// The prices of the periods a subscription's invoice charges (prorations and lines of 0 left out).
fn charged_prices(invoice: &InvoiceObject) -> impl Iterator<Item = &str> {
    let lines = invoice.subscription.as_ref().and(invoice.lines.as_ref());
    lines
        .into_iter()
        .flat_map(|lines| &lines.data)
        .filter(|line| !line.proration && line.amount > 0)
        .filter_map(|line| line.price.as_ref().map(|price| price.id.as_str()))
}

/// A subscription payment failed: the subscription is `past_due` (as of this event, unless a
/// newer report says otherwise) and the user is told, once per attempt.
async fn payment_failed(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    let invoice: InvoiceObject = object(event)?;
    let Some(user_id) = user_of(state, &invoice.customer, &HashMap::new()).await? else {
        return record(state, event).await;
    };
    let retry = invoice.next_payment_attempt.and_then(|at| DateTime::<Utc>::from_timestamp(at, 0));
    let body = match retry {
        Some(at) => format!(
            "We could not collect your Flowday subscription payment. Stripe tries again on {}; update your card in Settings > Billing before then.",
            at.format("%Y-%m-%d")
        ),
        None => "We could not collect your Flowday subscription payment. Update your card in Settings > Billing to keep your plan.".to_string(),
    };
    let seed = format!("payment_failed\0{}\0{}", invoice.id, invoice.attempt_count);
    notify(state, &user_id, &seed, "Your payment did not go through", body).await?;
    let billing = state.base.store.billing().get_billing(&user_id).await?;
    let stored = billing.subscription.filter(|stored| Some(&stored.subscription_id) == invoice.subscription.as_ref());
    match stored {
        Some(stored) => {
            let report =
                SubscriptionReport { status: SubscriptionStatus::PastDue, reported_at: event.created, ..stored };
            state.base.store.billing().apply_report(&user_id, &report, &event.id, &event.kind).await?;
            Ok(())
        }
        // The subscription's own events bring its state.
        None => record(state, event).await,
    }
}

/// A trial ends in three days: the user is told, once per subscription and trial end.
async fn trial_will_end(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    let subscription: SubscriptionObject = object(event)?;
    if let Some(user_id) = user_of(state, &subscription.customer, &subscription.metadata).await? {
        let ends = subscription.trial_end.and_then(|at| DateTime::<Utc>::from_timestamp(at, 0));
        let body = match ends {
            Some(at) => format!(
                "Your Flowday trial ends on {}. Your plan continues with the card on file.",
                at.format("%Y-%m-%d")
            ),
            None => "Your Flowday trial ends soon. Your plan continues with the card on file.".to_string(),
        };
        let seed = format!("trial_will_end\0{}\0{:?}", subscription.id, subscription.trial_end);
        notify(state, &user_id, &seed, "Your trial ends soon", body).await?;
    }
    record(state, event).await
}

/// A completed checkout: the customer is the user's (if not remembered yet), and a paid credit
/// pack grants its credits, once per checkout.
async fn checkout_completed(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    let session: SessionObject = object(event)?;
    let user_id = session.client_reference_id.clone().or_else(|| session.metadata.get("user_id").cloned());
    let Some(user_id) = user_id else {
        tracing::warn!(session = %session.id, "a checkout that is not ours");
        return record(state, event).await;
    };
    if let Some(customer) = &session.customer {
        state.base.store.billing().remember_customer(&user_id, customer).await?;
    }
    let pack =
        session.metadata.get("credits_pack").and_then(|code| shared::domain::billing::CreditPack::from_code(code));
    if let (Some(pack), "payment", "paid") = (pack, session.mode.as_str(), session.payment_status.as_str()) {
        let reason = format!("credit pack {}", pack.code());
        state.base.store.credits().grant(&user_id, CreditKind::Purchased, pack.credits(), &session.id, &reason).await?;
    }
    record(state, event).await
}

/// Stripe deleted the customer (and with it its subscriptions): the user is free, and the next
/// checkout makes a new customer.
async fn customer_deleted(state: &StripeWebhookState, event: &Event) -> Result<(), ApiError> {
    let customer: CustomerObject = object(event)?;
    let Some(user_id) = state.base.store.billing().user_of_customer(&customer.id).await? else {
        return record(state, event).await;
    };
    // In this order, each step idempotent, the event marked last: a retry after a failure at any
    // step finishes the rest. (Forgetting the customer first would make a retry see no customer
    // and never cancel.) The cancellation is marked under an id of its own.
    let billing = state.base.store.billing().get_billing(&user_id).await?;
    if let Some(stored) = billing.subscription
        && billing.stripe_customer_id.as_deref() == Some(customer.id.as_str())
    {
        let report = SubscriptionReport { status: SubscriptionStatus::Canceled, reported_at: event.created, ..stored };
        let marker = format!("{}:cancel", event.id);
        state.base.store.billing().apply_report(&user_id, &report, &marker, &event.kind).await?;
    }
    state.base.store.billing().forget_customer(&user_id, &customer.id).await?;
    record(state, event).await
}

/// Queues a billing notice for the user; its id derives from `seed`, so a retried event
/// notifies once.
async fn notify(
    state: &StripeWebhookState,
    user_id: &str,
    seed: &str,
    title: &str,
    body: String,
) -> Result<(), ApiError> {
    let notification = Notification {
        id: derived_id(seed),
        kind: NotificationType::Billing,
        title: title.into(),
        body,
        task_id: None,
        late: false,
        due_at: Utc::now(),
    };
    let message = NotificationMessage::new(user_id, NotificationJob::Notice { notification });
    state.notifications.send(&message).await.map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn invoice(lines: serde_json::Value) -> InvoiceObject {
        let invoice = json!({"id": "in_1", "customer": "cus_1", "subscription": "sub_1", "number": null,
            "next_payment_attempt": null, "lines": {"object": "list", "data": lines}});
        serde_json::from_value(invoice).unwrap()
    }

    #[test]
    fn only_a_charged_period_counts_not_a_trial_or_a_proration() {
        let line = |price: &str, amount: i64, proration: bool| json!({"price": {"id": price}, "amount": amount, "proration": proration});
        let renewal = invoice(json!([line("price_pro", 900, false)]));
        assert_eq!(charged_prices(&renewal).collect::<Vec<_>>(), ["price_pro"]);
        let trial = invoice(json!([line("price_pro", 0, false)]));
        assert_eq!(charged_prices(&trial).count(), 0);
        // An upgrade mid-period: the unused old plan returned, the new plan's rest charged.
        let upgrade = invoice(json!([line("price_pro", -450, true), line("price_team", 950, true)]));
        assert_eq!(charged_prices(&upgrade).count(), 0, "the credits come with the next renewal");
        // Monthly to yearly: the month's rest returned, a whole year charged now.
        let yearly = invoice(json!([line("price_pro", -450, true), line("price_pro_yearly", 9000, false)]));
        assert_eq!(charged_prices(&yearly).collect::<Vec<_>>(), ["price_pro_yearly"]);
    }
}
