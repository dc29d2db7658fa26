//! Fixed-window request counters (`RATE#<scope>`, `<window start>`): one conditional UpdateItem
//! per request counts it and says whether the budget allows it. The item expires with its window.
//! A fixed window lets a client spend up to twice its budget across a window boundary; in
//! exchange it costs one write and no read, which a sliding log or a token bucket would not.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::{Store, StoreError, key, keys, n, s};

/// What counting one request found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Within the budget: go on.
    pub allowed: bool,
    /// Requests left in this window.
    pub remaining: u32,
    /// Seconds until the window ends.
    pub reset_after: u64,
}

/// Rate-limit counters. Reached as `store.rate_limits()`.
#[derive(Clone, Copy)]
pub struct RateLimits<'a> {
    pub(crate) store: &'a Store,
}

impl RateLimits<'_> {
    /// Counts a request of `scope` at `now` (epoch seconds) against `budget` per `window` seconds.
    pub async fn hit(self, scope: &str, budget: u32, window: i64, now: i64) -> Result<Hit, StoreError> {
        let start = now - now.rem_euclid(window);
        let reset_after = (start + window - now).max(1) as u64;
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::rate_limit(scope), start.to_string())))
            .update_expression("SET entity = :entity, #ttl = if_not_exists(#ttl, :expires) ADD hits :one")
            .condition_expression("attribute_not_exists(#pk) OR hits < :budget")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":entity", s("rate_limit"))
            .expression_attribute_values(":expires", n(start + window))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":budget", n(budget))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let hits = output
                    .attributes
                    .and_then(|attributes| match attributes.get("hits") {
                        Some(AttributeValue::N(hits)) => hits.parse::<u32>().ok(),
                        _ => None,
                    })
                    .unwrap_or(budget);
                Ok(Hit { allowed: true, remaining: budget.saturating_sub(hits), reset_after })
            }
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    Ok(Hit { allowed: false, remaining: 0, reset_after })
                }
                other => Err(StoreError::Dynamo(Box::new(other))),
            },
        }
    }
}
