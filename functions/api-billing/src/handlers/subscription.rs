//! `GET /v1/billing/subscription`: the caller's plan and subscription as Stripe last reported it.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use shared::Base;
use shared::domain::account::Tier;
use shared::domain::billing::{PlanId, SubscriptionStatus};
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::{ApiError, CurrentUser};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    /// `free` when there is no subscription, or it ended.
    plan: PlanId,
    /// The tier every limit reads now.
    tier: Tier,
    /// Null when the user never subscribed.
    status: Option<SubscriptionStatus>,
    current_period_end: Option<String>,
    /// The subscription ends at `current_period_end` (canceled in the portal).
    cancel_at_period_end: bool,
    trial_end: Option<String>,
    stripe_customer_id: Option<String>,
    stripe_subscription_id: Option<String>,
}

/// The caller's subscription.
#[utoipa::path(get, path = "/v1/billing/subscription", tag = "billing",
    responses((status = 200, description = "The subscription", body = SubscriptionView), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn get(State(app): State<Base>, caller: CurrentUser) -> Result<Json<SubscriptionView>, ApiError> {
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    let billing = app.store.billing().get_billing(&caller.user_id).await?;
    let report = billing.subscription.as_ref();
    let live = report.filter(|report| report.status.grants_tier());
    Ok(Json(SubscriptionView {
        plan: live.map_or(PlanId::Free, |report| report.plan),
        tier: user.tier,
        status: report.map(|report| report.status),
        current_period_end: report.and_then(|report| report.current_period_end).and_then(instant),
        cancel_at_period_end: report.is_some_and(|report| report.cancel_at_period_end),
        trial_end: report.and_then(|report| report.trial_end).and_then(instant),
        stripe_customer_id: billing.stripe_customer_id.clone(),
        stripe_subscription_id: report.map(|report| report.subscription_id.clone()),
    }))
}

/// Unix seconds as RFC 3339.
pub fn instant(seconds: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(seconds, 0).map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}
