//! `GET /v1/billing/plans`: every plan with its limits and whether it can be bought here (a plan
//! whose Stripe price this deployment lacks cannot), and the credit packs.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use shared::domain::account::Tier;
use shared::domain::billing::{CreditPack, Interval, PlanId};
use shared::domain::plan::{PlanLimits, limits};
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::{ApiError, CurrentUser};

use crate::Stripe;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Plans {
    plans: Vec<BillingPlan>,
    credit_packs: Vec<CreditPackView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BillingPlan {
    id: PlanId,
    name: &'static str,
    tier: Tier,
    /// Null for the free plan.
    interval: Option<Interval>,
    /// Whether `POST /v1/billing/checkout {"plan"}` sells it here.
    available: bool,
    /// Subscription credits each paid invoice grants.
    credits_per_invoice: u64,
    limits: LimitsView,
}

/// A plan's limits, as `403 limit_reached` names them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LimitsView {
    open_tasks: u64,
    subtasks_per_task: u64,
    templates: u64,
    attachments: u64,
    attachment_bytes: u64,
    events: u64,
    ai_requests_per_hour: u32,
    daily_credits: u64,
    subscription_credits_per_month: u64,
    requests_per_minute: u32,
}

impl From<PlanLimits> for LimitsView {
    fn from(limits: PlanLimits) -> Self {
        LimitsView {
            open_tasks: limits.open_tasks,
            subtasks_per_task: limits.subtasks_per_task,
            templates: limits.templates,
            attachments: limits.attachments,
            attachment_bytes: limits.attachment_bytes,
            events: limits.events,
            ai_requests_per_hour: limits.ai_requests_per_hour,
            daily_credits: limits.daily_credits,
            subscription_credits_per_month: limits.subscription_credits_per_month,
            requests_per_minute: limits.requests_per_minute,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditPackView {
    /// What `POST /v1/billing/checkout {"credits_pack"}` takes.
    id: CreditPack,
    credits: u64,
    available: bool,
}

/// The plans and credit packs.
#[utoipa::path(get, path = "/v1/billing/plans", tag = "billing",
    responses((status = 200, description = "Every plan and credit pack", body = Plans), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn list(State(stripe): State<Stripe>, _caller: CurrentUser) -> Result<Json<Plans>, ApiError> {
    let plans = PlanId::ALL
        .into_iter()
        .map(|plan| BillingPlan {
            id: plan,
            name: plan.name(),
            tier: plan.tier(),
            interval: plan.interval(),
            available: plan == PlanId::Free || stripe.prices.of_plan(plan).is_some(),
            credits_per_invoice: plan.credits_per_invoice(),
            limits: limits(plan.tier()).into(),
        })
        .collect();
    let credit_packs = CreditPack::ALL
        .into_iter()
        .map(|pack| CreditPackView {
            id: pack,
            credits: pack.credits(),
            available: stripe.prices.of_pack(pack).is_some(),
        })
        .collect();
    Ok(Json(Plans { plans, credit_packs }))
}
