//! `GET /v1/credits` (the balance per kind and when the daily credits reset) and
//! `GET /v1/credits/history` (the ledger, newest first). Reading never writes: the daily reset
//! is shown as it will be on first use.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use shared::Base;
use shared::domain::credits::{Amounts, CreditKind, next_daily_reset, today};
use shared::domain::plan::limits;
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::pagination::{Page, PageQuery, is_id};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::store::credits::LedgerEntry;
use shared::store::keys;

const HISTORY: &str = "credit_history";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditBalance {
    /// Per kind.
    balance: Amounts,
    total: u64,
    /// The order credits are spent in.
    spending_order: [CreditKind; 4],
    /// What the daily credits are set to each day, by the tier.
    daily_allowance: u64,
    /// The next midnight in the user's zone.
    next_daily_reset: String,
    timezone: String,
}

/// The caller's credits.
#[utoipa::path(get, path = "/v1/credits", tag = "credits",
    responses((status = 200, description = "The balance", body = CreditBalance), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn balance(State(app): State<Base>, caller: CurrentUser) -> Result<Json<CreditBalance>, ApiError> {
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    let now = chrono::Utc::now();
    let allowance = limits(user.tier).daily_credits;
    let balance = app.store.credits().balance(&user.id, today(now, &user.timezone), allowance).await?;
    Ok(Json(CreditBalance {
        total: balance.amounts.total(),
        balance: balance.amounts,
        spending_order: CreditKind::ORDER,
        daily_allowance: allowance,
        next_daily_reset: next_daily_reset(now, &user.timezone).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        timezone: user.timezone,
    }))
}

/// The caller's credit history: grants, reservations, commits, refunds and expiries, newest first.
#[utoipa::path(get, path = "/v1/credits/history", tag = "credits", params(PageQuery),
    responses((status = 200, description = "A page of entries", body = Page<LedgerEntry>), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn history(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<LedgerEntry>>, ApiError> {
    let page = query.page(HISTORY, is_id)?;
    let after = page.after.as_deref().map(keys::credit_ledger);
    let (entries, more) = app.store.credits().history(&caller.user_id, after.as_deref(), page.limit).await?;
    let next = if more { entries.last().map(|entry| entry.id.clone()) } else { None };
    Ok(Json(Page::new(entries, HISTORY, next.as_deref())))
}
