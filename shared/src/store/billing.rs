//! Billing in the table: the user's Stripe customer and subscription (`USER#<id>` / `BILLING`),
//! the way back from a customer to its user (`STRIPE_CUSTOMER#<id>`), and the Stripe events
//! already processed (`STRIPE_EVENT#<id>`, kept 30 days: Stripe retries for 3). The tier every
//! limit reads stays on the profile; a subscription change writes both in one transaction.

use serde::{Deserialize, Serialize};

use super::update::ItemUpdate;
use super::{Store, StoreError, key, keys, n, s, to_item};
use crate::domain::account::Tier;
use crate::domain::billing::SubscriptionReport;

/// How long a processed event's id is remembered.
const EVENT_DAYS: i64 = 30;
const ATTEMPTS: usize = 10;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BillingItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_customer_id: Option<String>,
    /// Customers Stripe deleted: never the user's again, whatever order events arrive in. Their
    /// count keys the idempotency of the next customer's creation.
    #[serde(default)]
    pub deleted_customers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionReport>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CustomerItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    user_id: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct EventItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    event_type: String,
    ttl: i64,
}

/// What a subscription report came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// It is the user's state now, and this their tier.
    Applied(Tier),
    /// What we hold is newer: nothing changed.
    Stale,
    /// The event was processed before: nothing changed.
    Duplicate,
    /// The user is gone (account deleted): nothing to change.
    NoUser,
}

/// Stripe customers, subscriptions and processed events. Reached as `store.billing()`.
#[derive(Clone, Copy)]
pub struct Billing<'a> {
    pub(crate) store: &'a Store,
}

impl Billing<'_> {
    pub async fn get_billing(self, user_id: &str) -> Result<BillingItem, StoreError> {
        let item: Option<BillingItem> = self.store.get(keys::user(user_id), keys::BILLING).await?;
        Ok(item.unwrap_or_default())
    }

    pub async fn user_of_customer(self, customer_id: &str) -> Result<Option<String>, StoreError> {
        let partition = keys::stripe_customer(customer_id);
        let item: Option<CustomerItem> = self.store.get(partition.clone(), &partition).await?;
        Ok(item.map(|item| item.user_id))
    }

    /// Remembers the user's Stripe customer, unless one is remembered already (of two checkouts at
    /// once, both end with the first one stored) or Stripe deleted this one: answers the one
    /// remembered, if any.
    pub async fn remember_customer(self, user_id: &str, customer_id: &str) -> Result<Option<String>, StoreError> {
        let partition = keys::stripe_customer(customer_id);
        let mapping = CustomerItem {
            pk: partition.clone(),
            sk: partition,
            entity: "stripe_customer".into(),
            user_id: user_id.into(),
        };
        let remember = ItemUpdate::new()
            .set("entity", s("billing"))
            .set("stripe_customer_id", s(customer_id))
            .add("version", n(1))
            .condition(
                "attribute_not_exists(stripe_customer_id) AND (attribute_not_exists(deleted_customers) OR NOT contains(deleted_customers, :customer))",
                &[],
                [(":customer", s(customer_id))],
            )
            .into_action(&self.store.table, key(keys::user(user_id), keys::BILLING))?;
        match self.store.transact(vec![remember, self.store.put(to_item(&mapping)?)?]).await {
            Ok(()) => Ok(Some(customer_id.to_string())),
            Err(error) if error.failed_condition_at(0) => Ok(self.get_billing(user_id).await?.stripe_customer_id),
            Err(error) => Err(error),
        }
    }

    /// Whether the event was processed before.
    pub async fn event_seen(self, event_id: &str) -> Result<bool, StoreError> {
        let partition = keys::stripe_event(event_id);
        let item: Option<EventItem> = self.store.get(partition.clone(), &partition).await?;
        Ok(item.is_some())
    }

    fn event_marker(
        &self,
        event_id: &str,
        event_type: &str,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let partition = keys::stripe_event(event_id);
        let item = EventItem {
            pk: partition.clone(),
            sk: partition,
            entity: "stripe_event".into(),
            event_type: event_type.into(),
            ttl: super::ttl_in(EVENT_DAYS * 86_400),
        };
        self.store.put_new(to_item(&item)?)
    }

    /// Marks the event processed; false when it was already (a conditional write).
    pub async fn record_event(self, event_id: &str, event_type: &str) -> Result<bool, StoreError> {
        match self.store.transact(vec![self.event_marker(event_id, event_type)?]).await {
            Ok(()) => Ok(true),
            Err(error) if error.failed_condition_at(0) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Makes `report` the user's subscription state and its tier the profile's, if it is newer
    /// than the state held (`SubscriptionReport::supersedes`), and marks the event processed, all
    /// in one transaction.
    pub async fn apply_report(
        self,
        user_id: &str,
        report: &SubscriptionReport,
        event_id: &str,
        event_type: &str,
    ) -> Result<ReportOutcome, StoreError> {
        for _ in 0..ATTEMPTS {
            let billing = self.get_billing(user_id).await?;
            if billing.subscription.as_ref().is_some_and(|stored| !report.supersedes(stored)) {
                return Ok(if self.record_event(event_id, event_type).await? {
                    ReportOutcome::Stale
                } else {
                    ReportOutcome::Duplicate
                });
            }
            let tier = report.tier();
            let state = ItemUpdate::new()
                .set("entity", s("billing"))
                .set("subscription", serde_dynamo::to_attribute_value(report)?)
                .set("version", n(billing.version + 1))
                .condition("attribute_not_exists(version) OR version = :read", &[], [(":read", n(billing.version))])
                .into_action(&self.store.table, key(keys::user(user_id), keys::BILLING))?;
            let profile = ItemUpdate::new()
                .set("tier", serde_dynamo::to_attribute_value(tier)?)
                .condition("attribute_exists(#pk)", &[("#pk", keys::PK)], [])
                .into_action(&self.store.table, key(keys::user(user_id), keys::PROFILE))?;
            let marker = self.event_marker(event_id, event_type)?;
            match self.store.transact(vec![state, profile, marker]).await {
                Ok(()) => return Ok(ReportOutcome::Applied(tier)),
                Err(error) if error.failed_condition_at(2) => return Ok(ReportOutcome::Duplicate),
                Err(error) if error.failed_condition_at(1) => {
                    self.record_event(event_id, event_type).await?;
                    return Ok(ReportOutcome::NoUser);
                }
                // Another event changed the state since it was read: judge this one again.
                Err(error) if error.is_condition_failure() => continue,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the subscription kept changing while an event was applied"))
    }

    /// Forgets a customer Stripe deleted: it is never the user's customer again (the next checkout
    /// makes a new one). Its way back to the user stays, for its late events.
    pub async fn forget_customer(self, user_id: &str, customer_id: &str) -> Result<(), StoreError> {
        let billing = key(keys::user(user_id), keys::BILLING);
        let tombstone = ItemUpdate::new()
            .set("entity", s("billing"))
            .set_expression(
                "deleted_customers = list_append(if_not_exists(deleted_customers, :none), :customer_list)",
                [
                    (":none", aws_sdk_dynamodb::types::AttributeValue::L(Vec::new())),
                    (":customer_list", aws_sdk_dynamodb::types::AttributeValue::L(vec![s(customer_id)])),
                ],
            )
            .condition(
                "attribute_not_exists(deleted_customers) OR NOT contains(deleted_customers, :customer)",
                &[],
                [(":customer", s(customer_id))],
            );
        tombstone.apply(self.store, billing.clone()).await?;
        let forget = ItemUpdate::new().remove("stripe_customer_id").condition(
            "stripe_customer_id = :customer",
            &[],
            [(":customer", s(customer_id))],
        );
        // Not remembered (another customer, or none yet): nothing more to forget.
        forget.apply(self.store, billing).await?;
        Ok(())
    }
}
