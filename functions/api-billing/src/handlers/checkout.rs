//! `POST /v1/billing/checkout` (a Stripe Checkout Session: a subscription to a plan, or one credit
//! pack) and `POST /v1/billing/portal` (a Billing Portal session: change or cancel the plan,
//! update the card, download invoices). Both answer the URL to open.
//!
//! The user's Stripe customer is made once: created with an idempotency key derived from the
//! user (so two checkouts at once get the same customer from Stripe), then remembered with a
//! conditional write (so both store the same one).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::billing::{CreditPack, PlanId};
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, CurrentUser};
use shared::integrations::stripe::{CheckoutMode, NewCheckoutSession, NewCustomer};
use shared::store::accounts::UserItem;

use super::{billing_unavailable, stripe_problem};
use crate::{AppUrl, Stripe};

/// What to buy: exactly one of `plan` and `credits_pack`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckoutRequest {
    /// A paid plan: `pro_monthly`, `pro_yearly` or `team`.
    plan: Option<String>,
    /// A credit pack: `credits_100` or `credits_500`.
    credits_pack: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckoutStarted {
    /// Stripe Checkout: open it in the browser.
    url: String,
    session_id: String,
    /// When the URL stops working.
    expires_at: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PortalStarted {
    /// The Stripe customer portal: open it in the browser.
    url: String,
}

enum Purchase {
    Plan(PlanId),
    Pack(CreditPack),
}

fn purchase(request: &CheckoutRequest) -> Result<Purchase, ApiError> {
    let invalid = |field: &str, message: &str| ApiError::from(Violations::one(field, message));
    match (request.plan.as_deref(), request.credits_pack.as_deref()) {
        (Some(plan), None) => match serde_json::from_value::<PlanId>(serde_json::json!(plan)) {
            Ok(PlanId::Free) | Err(_) => Err(invalid("plan", "must be pro_monthly, pro_yearly or team")),
            Ok(plan) => Ok(Purchase::Plan(plan)),
        },
        (None, Some(pack)) => CreditPack::from_code(pack)
            .map(Purchase::Pack)
            .ok_or_else(|| invalid("credits_pack", "must be credits_100 or credits_500")),
        _ => Err(invalid("plan", "send exactly one of plan and credits_pack")),
    }
}

/// Starts buying a plan or a credit pack: answers the Stripe Checkout URL. A user whose
/// subscription is live changes plans in the portal instead (409 `already_subscribed`).
#[utoipa::path(post, path = "/v1/billing/checkout", tag = "billing", request_body = CheckoutRequest,
    responses(
        (status = 201, description = "The Checkout URL", body = CheckoutStarted),
        (status = 409, description = "already_subscribed: change plans in the portal", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "billing_provider_error: Stripe refused the request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "billing_unavailable: Stripe is unreachable, or this deployment does not sell it", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn checkout(
    State(app): State<Base>,
    State(stripe): State<Stripe>,
    State(app_url): State<AppUrl>,
    caller: CurrentUser,
    ApiJson(request): ApiJson<CheckoutRequest>,
) -> Result<(http::StatusCode, Json<CheckoutStarted>), ApiError> {
    let purchase = purchase(&request)?;
    let (mode, price, what) = match purchase {
        Purchase::Plan(plan) => {
            let price = stripe.prices.of_plan(plan);
            (
                CheckoutMode::Subscription,
                price,
                ("plan", serde_json::json!(plan).as_str().unwrap_or_default().to_string()),
            )
        }
        Purchase::Pack(pack) => {
            (CheckoutMode::Payment, stripe.prices.of_pack(pack), ("credits_pack", pack.code().to_string()))
        }
    };
    let price =
        price.ok_or_else(|| billing_unavailable(format!("this deployment does not sell {} {}", what.0, what.1)))?;
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    let billing = app.store.billing().get_billing(&caller.user_id).await?;
    if matches!(purchase, Purchase::Plan(_))
        && billing.subscription.as_ref().is_some_and(|report| report.status.grants_tier())
    {
        return Err(ApiError::conflict(
            "already_subscribed",
            "you have a subscription: change or cancel it in the portal (POST /v1/billing/portal)",
        ));
    }
    let customer = match billing.stripe_customer_id {
        Some(customer) => customer,
        None => create_customer(&app, &stripe, &user, billing.deleted_customers.len()).await?,
    };
    let session = NewCheckoutSession {
        customer,
        mode,
        price: price.to_string(),
        quantity: 1,
        success_url: app_url.billing_settings(Some("checkout=success&session_id={CHECKOUT_SESSION_ID}")),
        cancel_url: app_url.billing_settings(Some("checkout=cancelled")),
        client_reference_id: caller.user_id.clone(),
        metadata: vec![("user_id".into(), caller.user_id.clone()), (what.0.into(), what.1)],
    };
    let key = format!("checkout-{}", ulid::Ulid::new());
    let session = stripe.api.create_checkout_session(&key, &session).await.map_err(stripe_problem)?;
    let url = session.url.ok_or_else(|| billing_unavailable("Stripe answered a session without a URL"))?;
    let expires_at = super::subscription::instant(session.expires_at);
    Ok((http::StatusCode::CREATED, Json(CheckoutStarted { url, session_id: session.id, expires_at })))
}

/// The user's Stripe customer, created now: the idempotency key is the user's (and how many of
/// their customers Stripe deleted), so racing checkouts get one customer, remembered once.
async fn create_customer(app: &Base, stripe: &Stripe, user: &UserItem, generation: usize) -> Result<String, ApiError> {
    let key = format!("customer-{}-{generation}", user.id);
    let new = NewCustomer { email: user.email.clone(), name: user.name.clone(), user_id: user.id.clone() };
    let customer = stripe.api.create_customer(&key, &new).await.map_err(stripe_problem)?;
    let remembered = app.store.billing().remember_customer(&user.id, &customer.id).await?;
    remembered.ok_or_else(|| ApiError::conflict("billing_changed", "your billing account changed meanwhile: try again"))
}

/// Opens the Stripe customer portal for the caller: 409 `no_billing_account` before any purchase.
#[utoipa::path(post, path = "/v1/billing/portal", tag = "billing",
    responses(
        (status = 201, description = "The portal URL", body = PortalStarted),
        (status = 409, description = "no_billing_account: nothing bought yet", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "billing_provider_error: Stripe refused the request", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "billing_unavailable: Stripe is unreachable", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn portal(
    State(app): State<Base>,
    State(stripe): State<Stripe>,
    State(app_url): State<AppUrl>,
    caller: CurrentUser,
) -> Result<(http::StatusCode, Json<PortalStarted>), ApiError> {
    let billing = app.store.billing().get_billing(&caller.user_id).await?;
    let customer = billing.stripe_customer_id.ok_or_else(|| {
        ApiError::conflict("no_billing_account", "nothing was bought yet: start with POST /v1/billing/checkout")
    })?;
    let key = format!("portal-{}", ulid::Ulid::new());
    let session = stripe
        .api
        .create_portal_session(&key, &customer, &app_url.billing_settings(None))
        .await
        .map_err(stripe_problem)?;
    Ok((http::StatusCode::CREATED, Json(PortalStarted { url: session.url })))
}
