//! Stripe's REST API (the few calls billing makes) behind one trait, `StripeApi`: customers,
//! Checkout Sessions, Customer Portal sessions, a customer's invoices and a subscription.
//!
//! The API version is pinned (`STRIPE_API_VERSION`): every call sends it, so answers and the
//! webhook payloads we read keep the shapes of that version whatever the account's default is.
//! POST bodies use Stripe's form encoding with bracket notation (`metadata[user_id]=..`). Every
//! POST carries the caller's idempotency key, which makes the one retry of a failed call safe.
//! The base URL is a setting, so tests and `make dev` point it at `infra/local`'s fake Stripe.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Sent as `Stripe-Version` on every call; webhook payloads are read in this version's shapes
/// (e.g. `current_period_*` on the subscription, `subscription` on the invoice).
pub const STRIPE_API_VERSION: &str = "2024-06-20";
/// Stripe's API host.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// Per attempt; Stripe answers these calls in well under a second.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait before the one retry: long enough for a blip, short enough for a request handler.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Where Stripe is and our key to it.
#[derive(Clone, PartialEq, Eq)]
pub struct StripeConfig {
    /// `https://api.stripe.com` (no trailing slash), or a fake's base in tests.
    pub api_base: String,
    pub secret_key: String,
}

impl StripeConfig {
    /// The public Stripe API with our key.
    pub fn new(secret_key: impl Into<String>) -> Self {
        StripeConfig { api_base: DEFAULT_API_BASE.to_string(), secret_key: secret_key.into() }
    }
}

/// The secret key never reaches logs.
impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

/// Why a call to Stripe failed, sorted by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe refused the request (400, 402, 404 other than a missing object, 409): a bug on our
    /// side or a refused card; retrying the same request will not help. `code` is Stripe's
    /// `code`, or its `type` when that is `idempotency_error` (which has no code).
    #[error("Stripe refused the request ({status} {code:?}, param {param:?}): {message}")]
    Invalid { status: u16, code: Option<String>, message: String, param: Option<String> },
    /// 404 `resource_missing`: the customer or subscription does not exist (in this mode).
    #[error("not found at Stripe: {message}")]
    NotFound { message: String },
    /// 401 or 403: the key is wrong, revoked or lacks a permission. Nothing of the key is kept.
    #[error("Stripe refused our API key")]
    Auth,
    /// 429, still after the retry.
    #[error("rate limited by Stripe")]
    RateLimited,
    /// 5xx, a network failure or timeout, or an answer we could not read: try again later.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

/// The calls billing makes to Stripe.
#[async_trait::async_trait]
pub trait StripeApi: Send + Sync {
    /// A customer for one of our users (`metadata[user_id]` links it back).
    async fn create_customer(&self, idempotency_key: &str, new: &NewCustomer) -> Result<Customer, StripeError>;

    /// A hosted Checkout page for one price; the buyer's browser goes to its `url`.
    async fn create_checkout_session(
        &self,
        idempotency_key: &str,
        new: &NewCheckoutSession,
    ) -> Result<CheckoutSession, StripeError>;

    /// A Customer Portal page for `customer`, coming back to `return_url`.
    async fn create_portal_session(
        &self,
        idempotency_key: &str,
        customer: &str,
        return_url: &str,
    ) -> Result<PortalSession, StripeError>;

    /// One page of `customer`'s invoices, newest first, after `starting_after` (an invoice id).
    async fn list_invoices(
        &self,
        customer: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<InvoicePage, StripeError>;

    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, StripeError>;
}

/// A customer to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub email: String,
    pub name: String,
    /// Our user's id, sent as `metadata[user_id]`.
    pub user_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    /// A recurring price: Checkout creates a subscription.
    Subscription,
    /// A one-time price (a credit pack).
    Payment,
}

impl CheckoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckoutMode::Subscription => "subscription",
            CheckoutMode::Payment => "payment",
        }
    }
}

/// A Checkout Session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheckoutSession {
    pub customer: String,
    pub mode: CheckoutMode,
    pub price: String,
    pub quantity: u32,
    pub success_url: String,
    pub cancel_url: String,
    /// Our user's id.
    pub client_reference_id: String,
    /// Set on the session, and copied to what it creates (the subscription, or the payment
    /// intent) so their own events carry it too: Stripe copies nothing by itself.
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: HashMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    /// Present while the session is open.
    #[serde(default)]
    pub url: Option<String>,
    pub mode: String,
    #[serde(default)]
    pub customer: Option<String>,
    /// Set once a subscription-mode session completed.
    #[serde(default)]
    pub subscription: Option<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: HashMap<String, String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    /// Set when the invoice is finalized.
    #[serde(default)]
    pub number: Option<String>,
    pub customer: String,
    #[serde(default)]
    pub subscription: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    #[serde(default)]
    pub status: Option<String>,
    /// In the currency's smallest unit (cents).
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub created: i64,
    pub period_start: i64,
    pub period_end: i64,
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub invoice_pdf: Option<String>,
    /// `subscription_create`, `subscription_cycle`, `manual`, ...
    #[serde(default)]
    pub billing_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicePage {
    pub data: Vec<Invoice>,
    pub has_more: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    /// Stripe's names: `trialing`, `active`, `past_due`, `canceled`, `unpaid`, `incomplete`, ...
    pub status: String,
    pub current_period_start: i64,
    pub current_period_end: i64,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    #[serde(default)]
    pub canceled_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub trial_end: Option<i64>,
    pub created: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: HashMap<String, String>,
    pub items: SubscriptionItems,
}

impl Subscription {
    /// The price of the first item: ours have exactly one.
    pub fn price_id(&self) -> Option<&str> {
        self.items.data.first().map(|item| item.price.id.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionItems {
    #[serde(default)]
    pub data: Vec<SubscriptionItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    pub id: String,
    pub price: Price,
    #[serde(default)]
    pub quantity: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub id: String,
    #[serde(default)]
    pub recurring: Option<Recurring>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    pub interval_count: u32,
}

/// Stripe sends `"metadata": {}` but some objects may carry `null`; both read as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Stripe's error body: `{"error": {"type", "code", "message", "param", "decline_code"}}`.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorObject,
}

#[derive(Deserialize, Default)]
struct ErrorObject {
    #[serde(default, rename = "type")]
    kind: String,
    code: Option<String>,
    message: Option<String>,
    param: Option<String>,
}

/// Stripe behind `StripeApi`.
#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    config: StripeConfig,
}

impl StripeClient {
    /// A client calling Stripe (or what `config` points at) with `http`.
    pub fn new(http: reqwest::Client, mut config: StripeConfig) -> Self {
        // Paths are appended with their leading '/'.
        config.api_base = config.api_base.trim_end_matches('/').to_string();
        StripeClient { http, config }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.config.api_base))
            .bearer_auth(&self.config.secret_key)
            .header("Stripe-Version", STRIPE_API_VERSION)
            .timeout(REQUEST_TIMEOUT)
    }

    /// A POST with a form body. The retry sends the same key, so Stripe runs the call at most once.
    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(String, String)],
    ) -> Result<T, StripeError> {
        // Strings always encode.
        let body = serde_urlencoded::to_string(form).unwrap_or_default();
        let build = || {
            self.request(reqwest::Method::POST, path)
                .header("Idempotency-Key", idempotency_key)
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body.clone())
        };
        self.send(path, build).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, StripeError> {
        self.send(path, || self.request(reqwest::Method::GET, path).query(query)).await
    }

    /// Sends a call, and once more after a short wait when it failed in a way that may pass.
    async fn send<T: DeserializeOwned>(
        &self,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, StripeError> {
        let error = match attempt(build()).await {
            Attempt::Done(result) => return result,
            Attempt::Retry(error) => error,
        };
        tracing::warn!(call = what, %error, "Stripe call failed; retrying once");
        tokio::time::sleep(RETRY_DELAY).await;
        match attempt(build()).await {
            Attempt::Done(result) => result,
            Attempt::Retry(error) => Err(error),
        }
    }
}

/// How one attempt ended: settled (success or a final error), or failed in a way worth retrying.
enum Attempt<T> {
    Done(Result<T, StripeError>),
    Retry(StripeError),
}

async fn attempt<T: DeserializeOwned>(request: RequestBuilder) -> Attempt<T> {
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Attempt::Retry(network_error(error)),
    };
    let status = response.status();
    let should_retry = should_retry(response.headers());
    if status.is_success() {
        return Attempt::Done(read_json(response).await);
    }
    let error = api_error(response).await;
    // Stripe's header, when present, knows best (e.g. `true` on a 409 lock timeout).
    let retry = should_retry.unwrap_or(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error());
    if retry { Attempt::Retry(error) } else { Attempt::Done(Err(error)) }
}

/// `Stripe-Should-Retry: true|false`, when sent.
fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("stripe-should-retry")?.to_str().ok()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, StripeError> {
    let body = response.bytes().await.map_err(network_error)?;
    serde_json::from_slice(&body)
        .map_err(|error| StripeError::Unavailable(format!("unreadable answer from Stripe: {error}")))
}

/// A non-2xx answer as a `StripeError`.
async fn api_error(response: Response) -> StripeError {
    let status = response.status();
    let body: ErrorBody = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => ErrorBody::default(),
    };
    let error = body.error;
    let message = error.message.unwrap_or_else(|| format!("Stripe answered {status}"));
    match status.as_u16() {
        // Stripe's message would quote part of the key.
        401 | 403 => StripeError::Auth,
        429 => StripeError::RateLimited,
        500.. => StripeError::Unavailable(format!("Stripe answered {status}: {message}")),
        404 if error.code.as_deref() == Some("resource_missing") => StripeError::NotFound { message },
        status => {
            // An idempotency error has a type but no code; the caller needs to tell it apart.
            let code = match error.code {
                None if error.kind == "idempotency_error" => Some(error.kind),
                code => code,
            };
            StripeError::Invalid { status, code, message, param: error.param }
        }
    }
}

/// A failed connection or a timeout. The URL is left out: it names customers.
fn network_error(error: reqwest::Error) -> StripeError {
    let kind = if error.is_timeout() { "timed out" } else { "failed" };
    StripeError::Unavailable(format!("request {kind}: {}", error.without_url()))
}

/// Stripe's ids are letters, digits and underscores; anything else is no id of theirs (and must
/// not reach the path).
fn is_stripe_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

fn pair(name: impl Into<String>, value: impl Into<String>) -> (String, String) {
    (name.into(), value.into())
}

/// `metadata` as `{prefix}[key]=value` pairs, e.g. `subscription_data[metadata][user_id]`.
fn metadata_pairs(prefix: &str, metadata: &[(String, String)]) -> impl Iterator<Item = (String, String)> {
    metadata.iter().map(move |(key, value)| pair(format!("{prefix}[{key}]"), value.clone()))
}

fn checkout_form(new: &NewCheckoutSession) -> Vec<(String, String)> {
    let mut form = vec![
        pair("customer", &new.customer),
        pair("mode", new.mode.as_str()),
        pair("line_items[0][price]", &new.price),
        pair("line_items[0][quantity]", new.quantity.to_string()),
        pair("success_url", &new.success_url),
        pair("cancel_url", &new.cancel_url),
        pair("client_reference_id", &new.client_reference_id),
    ];
    form.extend(metadata_pairs("metadata", &new.metadata));
    match new.mode {
        CheckoutMode::Subscription => {
            form.extend(metadata_pairs("subscription_data[metadata]", &new.metadata));
            form.push(pair("allow_promotion_codes", "true"));
        }
        CheckoutMode::Payment => form.extend(metadata_pairs("payment_intent_data[metadata]", &new.metadata)),
    }
    form
}

#[async_trait::async_trait]
impl StripeApi for StripeClient {
    async fn create_customer(&self, idempotency_key: &str, new: &NewCustomer) -> Result<Customer, StripeError> {
        let form = [pair("email", &new.email), pair("name", &new.name), pair("metadata[user_id]", &new.user_id)];
        self.post("/v1/customers", idempotency_key, &form).await
    }

    async fn create_checkout_session(
        &self,
        idempotency_key: &str,
        new: &NewCheckoutSession,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("/v1/checkout/sessions", idempotency_key, &checkout_form(new)).await
    }

    async fn create_portal_session(
        &self,
        idempotency_key: &str,
        customer: &str,
        return_url: &str,
    ) -> Result<PortalSession, StripeError> {
        let form = [pair("customer", customer), pair("return_url", return_url)];
        self.post("/v1/billing_portal/sessions", idempotency_key, &form).await
    }

    async fn list_invoices(
        &self,
        customer: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<InvoicePage, StripeError> {
        let limit = limit.to_string();
        let mut query = vec![("customer", customer), ("limit", limit.as_str())];
        if let Some(after) = starting_after {
            query.push(("starting_after", after));
        }
        self.get("/v1/invoices", &query).await
    }

    async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        if !is_stripe_id(id) {
            // What Stripe answers for an id it never made.
            return Err(StripeError::NotFound { message: format!("No such subscription: '{id}'") });
        }
        self.get(&format!("/v1/subscriptions/{id}"), &[]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkout_form_copies_metadata_for_subscriptions() {
        let new = NewCheckoutSession {
            customer: "cus_1".into(),
            mode: CheckoutMode::Subscription,
            price: "price_pro".into(),
            quantity: 1,
            success_url: "https://app/ok".into(),
            cancel_url: "https://app/no".into(),
            client_reference_id: "user_1".into(),
            metadata: vec![("user_id".into(), "user_1".into())],
        };
        let form = checkout_form(&new);
        assert!(form.contains(&pair("line_items[0][price]", "price_pro")));
        assert!(form.contains(&pair("subscription_data[metadata][user_id]", "user_1")));
        assert!(form.contains(&pair("allow_promotion_codes", "true")));
        assert!(!form.iter().any(|(name, _)| name.starts_with("payment_intent_data")));
    }

    #[test]
    fn debug_hides_the_key() {
        let config = StripeConfig::new("sk_live_secret");
        assert!(!format!("{config:?}").contains("sk_live_secret"));
    }
}
