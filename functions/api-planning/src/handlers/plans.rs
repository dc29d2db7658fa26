//! Plans: `POST /v1/plans {date}` proposes the day's plan (the planner's blocks, each with its
//! reasons, and every task it left out with why), `GET /v1/plans/{date}` answers the day's current
//! plan, `POST /v1/plans/{id}/accept` writes its blocks to the tasks, `POST /v1/plans/{id}/reject`
//! discards it. A new proposal supersedes the day's previous one.
//!
//! Accepting is one transaction conditioned on the plan (still proposed, at its version) and on
//! every task it touches (at the version the plan was made from), so two accepts, a stale plan or
//! a task changed meanwhile never double-book: 409 says what changed.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use shared::Base;
use shared::domain::Versioned;
use shared::domain::ai::JobKind;
use shared::domain::ical::FocusBlock;
use shared::domain::planner::{self, Block, Unplaced};
use shared::domain::task::{ScheduledBlock, Task};
use shared::http::concurrency::{created, with_etag};
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::{ApiError, ApiJson, ApiPath, ApiQuery, CurrentUser, Id};
use shared::jobs::ai::{StartError, start_job};
use shared::jobs::queue::AiJobQueue;
use shared::settings::LlmSettings;
use shared::store::Tenant;
use shared::store::accounts::UserItem;
use shared::store::planning::{Accepted, DayItem, PlanItem};

use crate::input::{busy_time, day_bounds, gather, zone_of};

/// How far ahead a day can be planned.
const DAYS_AHEAD: i64 = 30;
/// Tasks one accept may touch: each is two actions of the transaction (the task, its activity).
const TASKS_PER_ACCEPT: usize = 48;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposeQuery {
    /// Also start a job that narrates the plan (a language model must be configured; it costs
    /// a credit). The plan is proposed whether or not the job starts: `narration_job` says.
    #[param(value_type = Option<bool>)]
    narrate: Option<String>,
}

/// What became of `?narrate=true`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NarrationJob {
    /// The job (`GET /v1/ai/jobs/{id}`), when it started.
    id: Option<String>,
    /// `queued`, or `not_started`.
    status: &'static str,
    /// Why it did not start: `ai_unavailable`, `insufficient_credits` or `rate_limited`.
    reason: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProposeRequest {
    /// The day to plan (`YYYY-MM-DD`, in the user's timezone): today up to 30 days ahead.
    date: String,
}

/// A plan as clients see it (api.md, "Plan").
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    id: String,
    date: String,
    timezone: String,
    /// `proposed`, `accepted`, `rejected` or `superseded`.
    status: String,
    version: u64,
    blocks: Vec<Block>,
    unplaced: Vec<Unplaced>,
    narration: Option<String>,
    /// Only in the answer to `POST /v1/plans?narrate=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    narration_job: Option<NarrationJob>,
    created_at: String,
}

impl Versioned for PlanView {
    const KIND: &'static str = "plan";

    fn version(&self) -> u64 {
        self.version
    }
}

fn view(plan: &PlanItem) -> Result<PlanView, ApiError> {
    Ok(PlanView {
        id: plan.id.clone(),
        date: plan.date.clone(),
        timezone: plan.timezone.clone(),
        status: plan.status.clone(),
        version: plan.version,
        blocks: serde_json::from_str(&plan.blocks).map_err(ApiError::internal)?,
        unplaced: serde_json::from_str(&plan.unplaced).map_err(ApiError::internal)?,
        narration: plan.narration.clone(),
        narration_job: None,
        created_at: plan.created_at.clone(),
    })
}

fn answer(status: StatusCode, plan: &PlanItem) -> Result<Response, ApiError> {
    let view = view(plan)?;
    Ok(with_etag(status, &view, view.version))
}

/// The day asked for, in the user's zone: today up to `DAYS_AHEAD` days on.
fn planned_day(text: &str, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    let invalid = |message: String| ApiError::from(shared::domain::Violations::one("date", message));
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| invalid("must be a date, YYYY-MM-DD".into()))?;
    if date < today || date > today + Duration::days(DAYS_AHEAD) {
        return Err(invalid(format!("must be from today ({today}) to {DAYS_AHEAD} days ahead")));
    }
    Ok(date)
}

/// Proposes a plan for the day: every open task is placed (with its reasons) or listed in
/// `unplaced` with a code and a sentence.
#[utoipa::path(post, path = "/v1/plans", tag = "planning", request_body = ProposeRequest, params(ProposeQuery),
    responses(
        (status = 201, description = "The proposal, with ETag and Location", body = PlanView),
        (status = 409, description = "plan_busy: another proposal for the day was made at the same moment", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn propose(
    State(app): State<Base>,
    State(queue): State<AiJobQueue>,
    State(llm): State<LlmSettings>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<ProposeQuery>,
    ApiJson(request): ApiJson<ProposeRequest>,
) -> Result<Response, ApiError> {
    // Read first: a bad value must not leave a plan behind.
    let narrate = match query.narrate.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(shared::domain::Violations::one("narrate", "must be true or false").into()),
    };
    let user = app.store.accounts().get_user(&caller.user_id).await?.ok_or_else(ApiError::not_found)?;
    let now = Utc::now();
    let date = planned_day(&request.date, now.with_timezone(&zone_of(&user)).date_naive())?;
    let gathered = gather(&app, &user, date, now).await?;
    let plan = planner::plan(&gathered.input);
    let texts = (
        serde_json::to_string(&plan.blocks).map_err(ApiError::internal)?,
        serde_json::to_string(&plan.unplaced).map_err(ApiError::internal)?,
    );
    let id = ulid::Ulid::new().to_string();
    let item = PlanItem::new(&user.id, id, date.to_string(), user.timezone.clone(), texts, gathered.task_versions);
    let day = app.store.planning().get_day(&user.id, &item.date).await?;
    let previous = match &day {
        Some(day) => app.store.planning().get_plan(&user.id, &day.plan_id).await?,
        None => None,
    };
    if !app.store.planning().propose(&user.id, &item, day.as_ref(), previous.as_ref()).await? {
        return Err(ApiError::conflict("plan_busy", "another plan for this day was proposed at the same moment"));
    }
    let mut view = view(&item)?;
    if narrate {
        view.narration_job = Some(start_narration(&app, &queue, &llm, &user, &item).await?);
    }
    Ok(created(&format!("/v1/plans/{}", item.date), &view))
}

/// Starts the plan's narration job, if a model is configured and the user's credits and hourly
/// budget allow; the plan stands either way.
async fn start_narration(
    app: &Base,
    queue: &AiJobQueue,
    llm: &LlmSettings,
    user: &UserItem,
    plan: &PlanItem,
) -> Result<NarrationJob, ApiError> {
    let not_started = |reason: &str| NarrationJob { id: None, status: "not_started", reason: Some(reason.into()) };
    if llm.require().is_err() {
        return Ok(not_started("ai_unavailable"));
    }
    let input = serde_json::json!({ "plan_id": plan.id, "date": plan.date });
    match start_job(&app.store, queue, user, JobKind::Narration, &input, Utc::now()).await {
        Ok(job) => Ok(NarrationJob { id: Some(job.id), status: "queued", reason: None }),
        Err(StartError::Insufficient(_)) => Ok(not_started("insufficient_credits")),
        Err(StartError::RateLimited { .. }) => Ok(not_started("rate_limited")),
        Err(StartError::Queue(_)) => Ok(not_started("ai_unavailable")),
        Err(StartError::Store(error)) => Err(error.into()),
    }
}

/// The day's current plan: the latest proposal, or what became of it (accepted, rejected).
#[utoipa::path(get, path = "/v1/plans/{id}", tag = "planning",
    params(("id" = String, Path, description = "The day, YYYY-MM-DD")),
    responses((status = 200, description = "The plan, with ETag", body = PlanView), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(date): ApiPath<String>,
) -> Result<Response, ApiError> {
    let date = NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| ApiError::not_found())?;
    let plan = app.store.planning().plan_of_day(&caller.user_id, &date.to_string()).await?;
    answer(StatusCode::OK, &plan.ok_or_else(ApiError::not_found)?)
}

/// The proposed plan `id`, or 404 / 409 `plan_not_proposed`.
async fn proposed(app: &Base, user_id: &str, id: &str) -> Result<PlanItem, ApiError> {
    let plan = app.store.planning().get_plan(user_id, id).await?.ok_or_else(ApiError::not_found)?;
    if plan.status != "proposed" {
        return Err(not_proposed(&plan));
    }
    Ok(plan)
}

fn not_proposed(plan: &PlanItem) -> ApiError {
    ApiError::conflict("plan_not_proposed", format!("this plan is {}: propose a new one", plan.status))
}

/// Accepts a proposal: its blocks become the tasks' `scheduled_blocks` for the day (replacing
/// what an earlier accepted plan of the day scheduled), and appear in the calendar feed.
#[utoipa::path(post, path = "/v1/plans/{id}/accept", tag = "planning",
    params(("id" = String, Path, description = "The plan's id")),
    responses(
        (status = 200, description = "The plan, accepted", body = PlanView),
        (status = 409, description = "plan_not_proposed (accepted, rejected or superseded), or plan_outdated: `changed` lists the tasks changed since the plan was made, or whose blocks a calendar event added since overlaps; propose again", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn accept(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Response, ApiError> {
    let plan = proposed(&app, &caller.user_id, &id).await?;
    let tenant = caller.tenant();
    let blocks: Vec<Block> = serde_json::from_str(&plan.blocks).map_err(ApiError::internal)?;
    let day = app.store.planning().get_day(&caller.user_id, &plan.date).await?.ok_or_else(|| not_proposed(&plan))?;
    let changes = task_changes(&app, &tenant, &plan, &day, &blocks).await?;
    let day = DayItem { accepted_blocks: Some(feed_blocks(&blocks, &changes)?), ..day };
    match app.store.planning().accept(&tenant, &plan, &day, &changes).await? {
        Accepted::Done => {}
        Accepted::NotProposed => {
            let now = app.store.planning().get_plan(&caller.user_id, &id).await?.ok_or_else(ApiError::not_found)?;
            return Err(not_proposed(&now));
        }
        Accepted::TasksChanged(changed) => return Err(outdated(changed)),
    }
    let accepted = PlanItem { status: "accepted".into(), version: plan.version + 1, ..plan };
    answer(StatusCode::OK, &accepted)
}

fn outdated(changed: Vec<String>) -> ApiError {
    ApiError::conflict("plan_outdated", "tasks changed since this plan was made: propose again")
        .with_extra("changed", serde_json::json!(changed))
}

fn blocked_tasks(blocks: &[Block]) -> Vec<String> {
    let mut ids: Vec<String> = blocks.iter().map(|block| block.task_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Each task the accept touches, as read and as it will be: the plan's tasks (at the versions it
/// was made from, else 409) get its blocks; the day's blocks of an earlier accepted plan go.
async fn task_changes(
    app: &Base,
    tenant: &Tenant,
    plan: &PlanItem,
    day: &DayItem,
    blocks: &[Block],
) -> Result<Vec<(Task, Task)>, ApiError> {
    let planned = blocked_tasks(blocks);
    let mut ids: Vec<String> = planned.iter().cloned().chain(day.accepted_task_ids()?).collect();
    ids.sort();
    ids.dedup();
    if ids.len() > TASKS_PER_ACCEPT {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_large",
            format!("a plan can schedule at most {TASKS_PER_ACCEPT} tasks at once"),
        ));
    }
    let tasks = app.store.tasks().live_tasks(tenant, &ids).await?;
    let changed: Vec<String> = planned
        .iter()
        .filter(|id| {
            let current = tasks.iter().find(|task| &&task.id == id).map(|task| task.version);
            current.is_none() || current != plan.task_versions.get(*id).copied()
        })
        .cloned()
        .collect();
    if !changed.is_empty() {
        return Err(outdated(changed));
    }
    let zone = plan.timezone.parse().unwrap_or(chrono_tz::Tz::UTC);
    let date = NaiveDate::parse_from_str(&plan.date, "%Y-%m-%d").map_err(ApiError::internal)?;
    let (start, end) = day_bounds(date, zone);
    let overlapped = overlapping_busy_time(app, tenant, blocks, (start, end)).await?;
    if !overlapped.is_empty() {
        return Err(ApiError::conflict(
            "plan_outdated",
            "a calendar event added or moved since this plan was made overlaps its blocks: propose again",
        )
        .with_extra("changed", serde_json::json!(overlapped)));
    }
    let now = Utc::now();
    Ok(tasks
        .into_iter()
        .map(|task| {
            let mut next = task.clone();
            next.scheduled_blocks.retain(|block| block.end_at <= start || block.start_at >= end);
            next.scheduled_blocks.extend(
                blocks.iter().filter(|block| block.task_id == task.id).map(|block| ScheduledBlock {
                    start_at: block.start,
                    end_at: block.end,
                    plan_id: plan.id.clone(),
                }),
            );
            next.scheduled_blocks.sort_by_key(|block| block.start_at);
            next.version = task.version + 1;
            next.updated_at = now;
            (task, next)
        })
        .collect())
}

/// The tasks whose blocks a busy event of the day now overlaps (one added, moved or synced after
/// the proposal): accepting them would double-book.
async fn overlapping_busy_time(
    app: &Base,
    tenant: &Tenant,
    blocks: &[Block],
    day: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
) -> Result<Vec<String>, ApiError> {
    let busy = busy_time(app, tenant, day.0, day.1).await?;
    let mut ids: Vec<String> = blocks
        .iter()
        .filter(|block| busy.iter().any(|event| event.start < block.end && block.start < event.end))
        .map(|block| block.task_id.clone())
        .collect();
    // A task's chunks need not be next to each other.
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// What the calendar feed shows of the day: each block with its task's title.
fn feed_blocks(blocks: &[Block], changes: &[(Task, Task)]) -> Result<String, ApiError> {
    let titles: BTreeMap<&str, &str> =
        changes.iter().map(|(task, _)| (task.id.as_str(), task.title.as_str())).collect();
    let entries: Vec<FocusBlock> = blocks
        .iter()
        .map(|block| FocusBlock {
            task_id: block.task_id.clone(),
            title: titles.get(block.task_id.as_str()).copied().unwrap_or("Focus").to_string(),
            start_at: block.start,
            end_at: block.end,
        })
        .collect();
    serde_json::to_string(&entries).map_err(ApiError::internal)
}

/// Discards a proposal.
#[utoipa::path(post, path = "/v1/plans/{id}/reject", tag = "planning",
    params(("id" = String, Path, description = "The plan's id")),
    responses(
        (status = 200, description = "The plan, rejected", body = PlanView),
        (status = 409, description = "plan_not_proposed: it was accepted, rejected or superseded", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn reject(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Response, ApiError> {
    let plan = proposed(&app, &caller.user_id, &id).await?;
    if !app.store.planning().reject(&caller.user_id, &plan).await? {
        let now = app.store.planning().get_plan(&caller.user_id, &id).await?.ok_or_else(ApiError::not_found)?;
        return Err(not_proposed(&now));
    }
    let rejected = PlanItem { status: "rejected".into(), version: plan.version + 1, ..plan };
    answer(StatusCode::OK, &rejected)
}
