//! api-billing: what the signed-in user can buy and has bought. The plans and credit packs, the
//! subscription as Stripe last reported it (webhook-stripe keeps it true), Stripe Checkout and the
//! customer portal, the customer's invoices, and the AI credit balance with its history. Each
//! route's handler is in `handlers/<file>.rs`, named in the table below.

mod handlers;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::domain::billing::Prices;
use shared::http::{Route, RouteGroup};
use shared::integrations::stripe::{StripeApi, StripeClient, StripeConfig};
use shared::settings::{BillingSettings, Env};
use shared::state::{InitError, SdkConfig};

use handlers::{checkout, credits, invoices, plans, subscription};

/// What the handlers use: the base, Stripe (the client and our prices), and where the app is,
/// for the buyer's way back from Checkout and the portal.
#[derive(Clone, FromRef)]
pub struct BillingState {
    pub base: Base,
    pub stripe: Stripe,
    pub app_url: AppUrl,
}

/// The Stripe API and this deployment's prices.
#[derive(Clone)]
pub struct Stripe {
    pub api: Arc<dyn StripeApi>,
    pub prices: Arc<Prices>,
}

/// The app's URL (`APP_BASE_URL`).
#[derive(Clone, Debug)]
pub struct AppUrl(pub String);

impl AppUrl {
    /// The app's billing settings, told how a checkout went (`checkout=success`).
    pub fn billing_settings(&self, outcome: Option<&str>) -> String {
        match outcome {
            Some(outcome) => format!("{}/settings/billing?{outcome}", self.0),
            None => format!("{}/settings/billing", self.0),
        }
    }
}

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route<BillingState>> {
    vec![
        Route::get("/v1/billing/plans", plans::list),
        Route::get("/v1/billing/subscription", subscription::get),
        Route::post("/v1/billing/checkout", checkout::checkout),
        Route::post("/v1/billing/portal", checkout::portal),
        Route::get("/v1/billing/invoices", invoices::list).with_query(),
        Route::get("/v1/credits", credits::balance),
        Route::get("/v1/credits/history", credits::history).with_query(),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike: the Stripe API key
/// is read from Secrets Manager here.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<BillingState, InitError> {
    let settings = BillingSettings::read(env)?;
    let secret_key = shared::state::secret(sdk, &settings.api_key_secret_id).await?;
    let config = StripeConfig { api_base: settings.stripe_api_base.clone(), secret_key };
    let api: Arc<dyn StripeApi> = Arc::new(StripeClient::new(shared::integrations::http_client()?, config));
    Ok(BillingState {
        base: Base::from_env(env, sdk).await?,
        stripe: Stripe { api, prices: Arc::new(settings.prices) },
        app_url: AppUrl(env.url("APP_BASE_URL")?),
    })
}

pub fn route_group(state: BillingState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    plans::list,
    subscription::get,
    checkout::checkout,
    checkout::portal,
    invoices::list,
    credits::balance,
    credits::history
))]
pub struct ApiDoc;

pub fn router(state: BillingState) -> Router {
    route_group(state).router()
}
