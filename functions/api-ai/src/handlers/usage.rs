//! `GET /v1/ai/usage`: the caller's AI use per day (requests, tokens, credits kept), in their
//! timezone, over the last `days` days (today included).

use axum::Json;
use axum::extract::State;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Violations;
use shared::domain::credits::today;
use shared::http::openapi::{CallerProblems, RequestProblems};
use shared::http::{ApiError, ApiQuery, CurrentUser};
use shared::store::ai::DayUsage;

const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 366;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many days back, today included: 1 to 366 (default 30).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 366)]
    days: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// The first day counted (`YYYY-MM-DD`, in `timezone`).
    from: String,
    to: String,
    timezone: String,
    /// Days with any use, oldest first.
    days: Vec<DayUsage>,
    /// The sums over those days.
    total: Totals,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Totals {
    requests: u64,
    input_tokens: u64,
    output_tokens: u64,
    credits: u64,
}

/// The caller's AI use per day.
#[utoipa::path(get, path = "/v1/ai/usage", tag = "ai", params(UsageQuery),
    responses((status = 200, description = "Use per day, with the sums", body = Usage), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Usage>, ApiError> {
    let span = match query.days.as_deref() {
        None => DEFAULT_DAYS,
        Some(text) => text.parse().ok().filter(|days| (1..=MAX_DAYS).contains(days)).ok_or_else(|| {
            ApiError::from(Violations::one("days", format!("must be a whole number from 1 to {MAX_DAYS}")))
        })?,
    };
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    let to = today(Utc::now(), &user.timezone);
    let from = to - Duration::days(span - 1);
    let days = app.store.ai().usage(&user.id, &from.to_string(), &to.to_string()).await?;
    let total = days.iter().fold(Totals::default(), |sum, day| Totals {
        requests: sum.requests + day.requests,
        input_tokens: sum.input_tokens + day.input_tokens,
        output_tokens: sum.output_tokens + day.output_tokens,
        credits: sum.credits + day.credits,
    });
    Ok(Json(Usage { from: from.to_string(), to: to.to_string(), timezone: user.timezone, days, total }))
}
