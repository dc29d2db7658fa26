//! Rate limits per client, in the application: an authenticated request counts against its user's
//! budget per minute (by tier, `settings::RateLimitSettings`), any other against its client
//! address's. Over budget the answer is 429 problem+json with `Retry-After`; every answer carries
//! the `RateLimit-Policy` and `RateLimit` headers (IETF httpapi-ratelimit-headers). A counter is
//! one conditional UpdateItem per request (`store::rate_limits`).

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::auth::{check_live, token_caller};
use super::client_ip::client_ip;
use super::live_sessions;
use super::problem::ApiError;
use crate::state::Base;
use crate::store::rate_limits::Hit;

/// The window every budget is counted in.
pub const WINDOW_SECONDS: i64 = 60;

/// Whose budget a request spends.
struct Budget {
    policy: &'static str,
    scope: String,
    per_window: u32,
}

pub async fn rate_limit(State(base): State<Base>, req: Request, next: Next) -> Response {
    // Read before any await: a Request is not Sync, so a future holding `&req` could not be sent.
    let address = client_ip(&req);
    let headers = req.headers().clone();
    let budget = match budget_of(&base, &headers, address).await {
        Ok(budget) => budget,
        Err(refusal) => return refusal.into_response(),
    };
    if budget.per_window == 0 {
        return next.run(req).await;
    }
    let now = chrono::Utc::now().timestamp();
    let hit = match base.store.rate_limits().hit(&budget.scope, budget.per_window, WINDOW_SECONDS, now).await {
        Ok(hit) => hit,
        Err(error) => {
            // The counter is a guard, not the service: without it the request still runs.
            tracing::error!(error = %error, "rate-limit counter unavailable");
            return next.run(req).await;
        }
    };
    if !hit.allowed {
        let detail = format!(
            "too many requests: {} a minute for this {}; try again in {} s",
            budget.per_window,
            if budget.policy == "user" { "account" } else { "address" },
            hit.reset_after
        );
        let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
            .with_retry_after(hit.reset_after)
            .into_response();
        stamp(response.headers_mut(), &budget, hit);
        return response;
    }
    let mut response = next.run(req).await;
    stamp(response.headers_mut(), &budget, hit);
    response
}

/// The signed-in user's budget by tier (their session checked as `CurrentUser` would, once a
/// minute), or the client address's when the request carries no valid token of a live session
/// (a route that needs one answers 401 itself; a public route serves it as anyone).
async fn budget_of(base: &Base, headers: &HeaderMap, address: Option<IpAddr>) -> Result<Budget, ApiError> {
    let address_budget = || Budget {
        policy: "address",
        scope: format!("IP#{}", address.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())),
        per_window: base.rate_limits.anonymous_per_minute,
    };
    let Ok(caller) = token_caller(headers, base) else {
        return Ok(address_budget());
    };
    let tier = match live_sessions::recent_tier(&caller.session_id) {
        Some(tier) => tier,
        None => match check_live(base, &caller).await {
            Ok(tier) => tier,
            Err(refusal) if refusal.status == StatusCode::UNAUTHORIZED => return Ok(address_budget()),
            Err(error) => return Err(error),
        },
    };
    Ok(Budget {
        policy: "user",
        scope: format!("USER#{}", caller.user_id),
        per_window: base.rate_limits.per_minute(tier),
    })
}

fn stamp(headers: &mut HeaderMap, budget: &Budget, hit: Hit) {
    let policy = format!("\"{}\";q={};w={WINDOW_SECONDS}", budget.policy, budget.per_window);
    let state = format!("\"{}\";r={};t={}", budget.policy, hit.remaining, hit.reset_after);
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// 429 when `email` has had its budget of account emails (password reset, verification) this
/// hour. Counted per address whether or not an account has it, so the answer tells nothing.
pub async fn limit_account_emails(base: &Base, email: &str) -> Result<(), ApiError> {
    let budget = base.rate_limits.account_emails_per_hour;
    if budget == 0 {
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let hit = base.store.rate_limits().hit(&format!("MAIL#{email}"), budget, 3600, now).await?;
    if hit.allowed {
        return Ok(());
    }
    let detail = format!("{budget} account emails an hour to one address at most; try again in {} s", hit.reset_after);
    Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail).with_retry_after(hit.reset_after))
}
