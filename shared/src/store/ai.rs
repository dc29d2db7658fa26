//! AI jobs in the table, under the user's partition:
//!
//! - `AI_JOB#<job id>`: the job (kind, status, progress, its input, result or error as JSON text,
//!   the credits it reserved, the tokens it took). Status moves only forward, each step a
//!   conditional write: `queued` -> `running` (again on a redelivery) -> `succeeded` | `failed`.
//! - `AI_USAGE#<date>`: the day's requests, tokens and credits (in the user's zone), added to in
//!   the same transaction that finishes a job, so a job is counted once.
//! - `AI_BREAKDOWN#<task id>`: the day's breakdown of a task, with the fingerprint of the task it
//!   was made from; an identical request for the unchanged task reuses it at no cost.
//!
//! Jobs, usage and cached answers expire (TTL): 30 days, 400 days and one day.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::update::ItemUpdate;
use super::{Store, StoreError, from_item, key, keys, n, s, to_item, ttl_in};
use crate::domain::ai::{JobKind, JobStatus};

const JOB_TTL_SECONDS: i64 = 30 * 24 * 3600;
const USAGE_TTL_SECONDS: i64 = 400 * 24 * 3600;
const CACHE_TTL_SECONDS: i64 = 24 * 3600;

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    pub user_id: String,
    pub kind: JobKind,
    pub status: JobStatus,
    /// 0-100.
    pub progress: u8,
    /// What the job works on (JSON text): `{"task_id"}`, `{"plan_id"}`.
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// A problem document (JSON text) when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Reserved at creation; 0 for a cached answer.
    pub credits: u64,
    /// Runs started (a redelivered message starts another).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The user's day it was asked on, where its usage is counted.
    pub day: String,
    pub created_at: String,
    pub updated_at: String,
    pub ttl: i64,
}

impl JobItem {
    /// A queued job.
    pub fn queued(user_id: &str, id: String, kind: JobKind, input: &Value, credits: u64, day: String) -> Self {
        let now = super::now_rfc3339();
        JobItem {
            pk: keys::user(user_id),
            sk: keys::ai_job(&id),
            entity: "ai_job".into(),
            id,
            user_id: user_id.into(),
            kind,
            status: JobStatus::Queued,
            progress: 0,
            input: input.to_string(),
            result: None,
            error: None,
            credits,
            attempts: 0,
            input_tokens: 0,
            output_tokens: 0,
            model: None,
            day,
            created_at: now.clone(),
            updated_at: now,
            ttl: ttl_in(JOB_TTL_SECONDS),
        }
    }

    /// `input` parsed.
    pub fn input_value(&self) -> Value {
        serde_json::from_str(&self.input).unwrap_or(Value::Null)
    }
}

/// Tokens a job's model calls took, and the model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub model: Option<String>,
}

/// What starting a job found.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// Now `running`: do the work (again, after a redelivery).
    Run(JobItem),
    /// It finished before (a duplicate message): only settle its credits again.
    Finished(JobItem),
    /// No such job (expired, or never written).
    Missing,
}

/// One day's AI use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayUsage {
    /// `YYYY-MM-DD`, in the user's zone.
    pub date: String,
    /// Jobs finished that day (succeeded or failed; cached answers included).
    #[serde(default)]
    pub requests: u64,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    /// Credits kept (failed jobs are refunded and count none).
    #[serde(default)]
    pub credits: u64,
}

/// A breakdown kept for reuse the same day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedBreakdown {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// `domain::ai::breakdown_fingerprint` of the task it was made from.
    pub fingerprint: String,
    pub day: String,
    /// The job whose result this is.
    pub job_id: String,
    /// The job's result (JSON text).
    pub result: String,
    pub ttl: i64,
}

/// AI jobs and their usage. Reached as `store.ai()`.
#[derive(Clone, Copy)]
pub struct AiJobs<'a> {
    pub(crate) store: &'a Store,
}

impl AiJobs<'_> {
    /// Writes a new job (once: the id is new).
    pub async fn create(self, job: &JobItem) -> Result<(), StoreError> {
        self.store.transact(vec![self.store.put_new(to_item(job)?)?]).await
    }

    /// A job of the user.
    pub async fn get(self, user_id: &str, job_id: &str) -> Result<Option<JobItem>, StoreError> {
        self.store.get(keys::user(user_id), &keys::ai_job(job_id)).await
    }

    /// Moves a queued or running job to `running` and counts the attempt.
    pub async fn start(self, user_id: &str, job_id: &str) -> Result<Started, StoreError> {
        let update = ItemUpdate::new()
            .set("status", s(JobStatus::Running.as_str()))
            .set("progress", n(10))
            .set("updated_at", s(super::now_rfc3339()))
            .add("attempts", n(1))
            .condition(
                "attribute_exists(#pk) AND (#status = :queued OR #status = :running)",
                &[("#pk", keys::PK), ("#status", "status")],
                [(":queued", s(JobStatus::Queued.as_str())), (":running", s(JobStatus::Running.as_str()))],
            );
        let moved = update.apply(self.store, key(keys::user(user_id), keys::ai_job(job_id))).await?.is_some();
        match self.get(user_id, job_id).await? {
            None => Ok(Started::Missing),
            Some(job) if moved && job.status == JobStatus::Running => Ok(Started::Run(job)),
            Some(job) => Ok(Started::Finished(job)),
        }
    }

    /// Marks a running job succeeded with its result, and counts its usage on its day, in one
    /// transaction. False when it was finished already (a duplicate that raced this one).
    pub async fn succeed(self, job: &JobItem, result: &Value, usage: &JobUsage) -> Result<bool, StoreError> {
        let finish = Self::finish(JobStatus::Succeeded, usage).set("result", s(result.to_string()));
        self.finish_with_usage(job, finish, usage, job.credits).await
    }

    /// Marks a queued or running job failed with a problem document; its tokens still count, its
    /// credits (refunded) do not. False when it was finished already.
    pub async fn fail(self, job: &JobItem, problem: &Value, usage: &JobUsage) -> Result<bool, StoreError> {
        let finish = Self::finish(JobStatus::Failed, usage).set("error", s(problem.to_string()));
        self.finish_with_usage(job, finish, usage, 0).await
    }

    fn finish(status: JobStatus, usage: &JobUsage) -> ItemUpdate {
        let mut update = ItemUpdate::new()
            .set("status", s(status.as_str()))
            .set("progress", n(100))
            .set("updated_at", s(super::now_rfc3339()))
            .add("input_tokens", n(usage.input_tokens))
            .add("output_tokens", n(usage.output_tokens))
            .condition(
                "#status = :queued OR #status = :running",
                &[("#status", "status")],
                [(":queued", s(JobStatus::Queued.as_str())), (":running", s(JobStatus::Running.as_str()))],
            );
        if let Some(model) = &usage.model {
            update = update.set("model", s(model));
        }
        update
    }

    async fn finish_with_usage(
        self,
        job: &JobItem,
        finish: ItemUpdate,
        usage: &JobUsage,
        credits: u64,
    ) -> Result<bool, StoreError> {
        let actions = vec![
            finish.into_action(&self.store.table, key(job.pk.clone(), job.sk.clone()))?,
            self.count_usage(job, usage, credits)?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.failed_condition_at(0) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Writes a job that is done already (a cached answer, at no cost) and counts the request.
    pub async fn create_finished(self, job: &JobItem) -> Result<(), StoreError> {
        let actions = vec![self.store.put_new(to_item(job)?)?, self.count_usage(job, &JobUsage::default(), 0)?];
        self.store.transact(actions).await
    }

    /// Adds one request, its tokens and the credits it kept to the job's day.
    fn count_usage(self, job: &JobItem, usage: &JobUsage, credits: u64) -> Result<TransactWriteItem, StoreError> {
        ItemUpdate::new()
            .set("entity", s("ai_usage"))
            .set("date", s(&job.day))
            .set("ttl", n(ttl_in(USAGE_TTL_SECONDS)))
            .add("requests", n(1))
            .add("input_tokens", n(usage.input_tokens))
            .add("output_tokens", n(usage.output_tokens))
            .add("credits", n(credits))
            .into_action(&self.store.table, key(job.pk.clone(), keys::ai_usage(&job.day)))
    }

    /// Sets a running job's progress (0-100), for clients that poll.
    pub async fn progress(self, job: &JobItem, progress: u8) -> Result<(), StoreError> {
        let update = ItemUpdate::new()
            .set("progress", n(progress.min(99)))
            .set("updated_at", s(super::now_rfc3339()))
            .condition("#status = :running", &[("#status", "status")], [(":running", s(JobStatus::Running.as_str()))]);
        update.apply(self.store, key(job.pk.clone(), job.sk.clone())).await?;
        Ok(())
    }

    /// The user's usage per day from `from` to `to` (dates, both included), days without use
    /// left out.
    pub async fn usage(self, user_id: &str, from: &str, to: &str) -> Result<Vec<DayUsage>, StoreError> {
        let items = self.store.query_from(keys::user(user_id), &keys::ai_usage(from), &keys::ai_usage(to)).await?;
        items.into_iter().map(from_item).collect()
    }

    /// The day's breakdown of a task, if it was made from the task as it is now (`fingerprint`).
    pub async fn cached_breakdown(
        self,
        user_id: &str,
        task_id: &str,
        fingerprint: &str,
        day: &str,
    ) -> Result<Option<CachedBreakdown>, StoreError> {
        let cached: Option<CachedBreakdown> = self.store.get(keys::user(user_id), &keys::ai_breakdown(task_id)).await?;
        Ok(cached.filter(|cached| cached.fingerprint == fingerprint && cached.day == day))
    }

    /// Keeps a breakdown for reuse until the day ends (at most a day).
    pub async fn cache_breakdown(
        self,
        user_id: &str,
        task_id: &str,
        fingerprint: &str,
        job: &JobItem,
        result: &Value,
    ) -> Result<(), StoreError> {
        let cached = CachedBreakdown {
            pk: keys::user(user_id),
            sk: keys::ai_breakdown(task_id),
            entity: "ai_breakdown".into(),
            fingerprint: fingerprint.into(),
            day: job.day.clone(),
            job_id: job.id.clone(),
            result: result.to_string(),
            ttl: ttl_in(CACHE_TTL_SECONDS),
        };
        self.store.transact(vec![self.store.put(to_item(&cached)?)?]).await
    }
}
