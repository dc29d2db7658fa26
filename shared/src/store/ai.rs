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
    /// A voice capture's transcript, kept once heard: its audio is deleted then, so a run after
    /// a crash or a throttled model reads the task from this instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
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
            transcript: None,
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

    /// Keeps a running voice capture's transcript on the job (before its audio is deleted).
    /// False when the job is no longer running (a duplicate finished it).
    pub async fn keep_transcript(self, job: &JobItem, transcript: &str) -> Result<bool, StoreError> {
        let update = ItemUpdate::new()
            .set("transcript", s(transcript))
            .set("progress", n(50))
            .set("updated_at", s(super::now_rfc3339()))
            .condition("#status = :running", &[("#status", "status")], [(":running", s(JobStatus::Running.as_str()))]);
        Ok(update.apply(self.store, key(job.pk.clone(), job.sk.clone())).await?.is_some())
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

// ---------------------------------------------------------------------------------------------
// Conversations (`AI_CONVERSATION#<id>`): the messages as JSON text, the jobs that added to them.

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub text: String,
    pub at: String,
    /// The job that added it.
    pub job_id: String,
}

/// A conversation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub id: String,
    /// The start of its first message.
    pub title: String,
    /// `Vec<ChatMessage>` as JSON text, oldest first, at most `MAX_CONVERSATION_MESSAGES`.
    pub messages: String,
    /// How many exchanges were ever added (the guard of the next one).
    pub exchanges: u64,
    /// The jobs that added an exchange (the last ones): a job adds its exchange once.
    #[serde(default)]
    pub job_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl ConversationItem {
    pub fn messages(&self) -> Vec<ChatMessage> {
        serde_json::from_str(&self.messages).unwrap_or_default()
    }
}

/// The most the messages of a conversation take as JSON (an item holds 400 KB in all).
const MAX_MESSAGES_BYTES: usize = 300 * 1024;

/// How many job ids a conversation remembers (more than a client could retry at once).
const REMEMBERED_JOBS: usize = 20;

impl AiJobs<'_> {
    /// A conversation of the user.
    pub async fn conversation(self, user_id: &str, id: &str) -> Result<Option<ConversationItem>, StoreError> {
        self.store.get(keys::user(user_id), &keys::ai_conversation(id)).await
    }

    /// The user's conversations, newest first, a page at a time.
    pub async fn conversations(
        self,
        user_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ConversationItem>, bool), StoreError> {
        let prefix = keys::ai_conversation("");
        let (items, more) = self.store.query_page(keys::user(user_id), &prefix, after, limit, false).await?;
        Ok((items.into_iter().map(from_item).collect::<Result<_, _>>()?, more))
    }

    /// Adds the user's message and the reply of `job_id` to the conversation (creating it), once
    /// per job: conditioned on the exchanges counted when it was read, retried when another
    /// job's exchange came first. The conversation as written.
    pub async fn add_exchange(
        self,
        user_id: &str,
        conversation_id: &str,
        job_id: &str,
        (question, reply): (&str, &str),
    ) -> Result<ConversationItem, StoreError> {
        for _ in 0..5 {
            let stored = self.conversation(user_id, conversation_id).await?;
            if let Some(done) = stored.as_ref().filter(|item| item.job_ids.iter().any(|id| id == job_id)) {
                return Ok(done.clone());
            }
            let item = exchange_added(user_id, conversation_id, job_id, stored.as_ref(), (question, reply));
            let written = match &stored {
                None => self.store.transact(vec![self.store.put_new(to_item(&item)?)?]).await,
                Some(before) => {
                    let put = aws_sdk_dynamodb::types::Put::builder()
                        .table_name(&self.store.table)
                        .set_item(Some(to_item(&item)?))
                        .condition_expression("exchanges = :read")
                        .expression_attribute_values(":read", n(before.exchanges))
                        .build()
                        .map_err(StoreError::from)?;
                    self.store.transact(vec![TransactWriteItem::builder().put(put).build()]).await
                }
            };
            match written {
                Ok(()) => return Ok(item),
                Err(error) if error.is_condition_failure() => continue,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Contended("the conversation kept changing while a reply was added"))
    }
}

/// `stored` (or a new conversation) with the exchange of `job_id` at its end.
fn exchange_added(
    user_id: &str,
    id: &str,
    job_id: &str,
    stored: Option<&ConversationItem>,
    (question, reply): (&str, &str),
) -> ConversationItem {
    use crate::domain::ai::MAX_CONVERSATION_MESSAGES;
    let now = super::now_rfc3339();
    let mut messages = stored.map(ConversationItem::messages).unwrap_or_default();
    for (role, text) in [("user", question), ("assistant", reply)] {
        messages.push(ChatMessage { role: role.into(), text: text.into(), at: now.clone(), job_id: job_id.into() });
    }
    let excess = messages.len().saturating_sub(MAX_CONVERSATION_MESSAGES);
    messages.drain(..excess);
    // And within an item's 400 KB, whatever the characters take (CJK and emoji up to 4 bytes).
    while messages.len() > 2 && serde_json::to_string(&messages).map_or(0, |text| text.len()) > MAX_MESSAGES_BYTES {
        messages.remove(0);
    }
    let mut job_ids = stored.map(|item| item.job_ids.clone()).unwrap_or_default();
    job_ids.push(job_id.into());
    let forgotten = job_ids.len().saturating_sub(REMEMBERED_JOBS);
    job_ids.drain(..forgotten);
    let title = match stored {
        Some(item) => item.title.clone(),
        None => question.chars().take(80).collect::<String>().trim().to_string(),
    };
    ConversationItem {
        pk: keys::user(user_id),
        sk: keys::ai_conversation(id),
        entity: "ai_conversation".into(),
        id: id.into(),
        title,
        messages: serde_json::to_string(&messages).unwrap_or_else(|_| "[]".into()),
        exchanges: stored.map_or(0, |item| item.exchanges) + 1,
        job_ids,
        created_at: stored.map_or_else(|| now.clone(), |item| item.created_at.clone()),
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conversation_keeps_its_newest_messages_within_an_items_size() {
        let long = "🙂".repeat(crate::domain::ai::MAX_CHAT_MESSAGE);
        let mut stored: Option<ConversationItem> = None;
        for index in 0..30 {
            let job_id = format!("job-{index}");
            stored = Some(exchange_added("u1", "c1", &job_id, stored.as_ref(), (&long, &long)));
        }
        let item = stored.unwrap();
        assert!(item.messages.len() <= MAX_MESSAGES_BYTES, "{} bytes", item.messages.len());
        let messages = item.messages();
        assert_eq!(messages.last().unwrap().job_id, "job-29", "the newest are kept");
        assert_eq!((item.exchanges, item.job_ids.len()), (30, REMEMBERED_JOBS));
    }
}
