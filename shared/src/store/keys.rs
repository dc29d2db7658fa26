//! Every key format of the single table, in one place. User data sits under its owner's partition
//! (`USER#<id>`; tasks and what hangs on them under their tenant's, `store::Tenant`), so a request
//! can only reach what the caller owns. A few global items exist only to
//! enforce uniqueness or to find a user by an external identifier (email, Google subject).

pub const PK: &str = "PK";
pub const SK: &str = "SK";
/// Epoch seconds after which DynamoDB may delete the item. Readers filter expired items themselves.
pub const TTL: &str = "ttl";

pub fn user(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub const PROFILE: &str = "PROFILE";

/// The uniqueness and lookup item of a normalised email.
pub fn email(normalized_email: &str) -> String {
    format!("EMAIL#{normalized_email}")
}

pub const EMAIL_SK: &str = "EMAIL";

/// The uniqueness and lookup item of a Google account (`sub` of its ID tokens).
/// Password attempts of a normalised email (whether or not an account has it).
pub fn login_attempts(normalized_email: &str) -> String {
    format!("LOGIN#{normalized_email}")
}

pub const ATTEMPTS_SK: &str = "ATTEMPTS";

/// A rate-limit counter's scope: `USER#<id>`, `IP#<address>`, `MAIL#<email>`; the SK is the
/// window's start.
pub fn rate_limit(scope: &str) -> String {
    format!("RATE#{scope}")
}

pub fn google(subject: &str) -> String {
    format!("GOOGLE#{subject}")
}

pub const GOOGLE_SK: &str = "GOOGLE";

pub const SESSION_PREFIX: &str = "SESSION#";

pub fn session(session_id: &str) -> String {
    format!("{SESSION_PREFIX}{session_id}")
}

pub fn password_reset(token_hash: &str) -> String {
    format!("RESET#{token_hash}")
}

pub fn email_verification(token_hash: &str) -> String {
    format!("VERIFY#{token_hash}")
}

/// The record of an idempotent request, under its caller's partition. The key is hashed: clients
/// choose it, and its length and characters should not shape ours.
pub fn idempotency(key_hash: &str) -> String {
    format!("IDEMPOTENCY#{key_hash}")
}

pub const TASK_PREFIX: &str = "TASK#";

pub fn task(task_id: &str) -> String {
    format!("{TASK_PREFIX}{task_id}")
}

/// The per-user counters that tier limits are enforced on.
pub const TASK_COUNTS: &str = "TASK_COUNTS";

pub const ACTIVITY_PREFIX: &str = "ACTIVITY#";

/// Activity entries sort by time: their id is a ULID.
pub fn activity(entry_id: &str) -> String {
    format!("{ACTIVITY_PREFIX}{entry_id}")
}

/// GSI1 partition of one object's activity entries.
pub fn activity_of(tenant: &super::Tenant, entity_id: &str) -> String {
    format!("{}#ACTIVITY#{entity_id}", tenant.partition())
}

pub const TRASH_PREFIX: &str = "TRASH#";

pub fn trash(task_id: &str) -> String {
    format!("{TRASH_PREFIX}{task_id}")
}

/// The trash index (GSI2) of one user: `USER#<id>#TRASH`, sorted by `<expires_at>#<task id>`.
pub fn trash_index(tenant: &super::Tenant) -> String {
    format!("{}#TRASH", tenant.partition())
}

/// The purge index partition (GSI1) of trash entries expiring on one UTC day: the hourly purge
/// reads the days up to today, so no single partition takes every user's deletions.
pub fn purge_bucket(expires_at: i64) -> String {
    let day = chrono::DateTime::from_timestamp(expires_at, 0).unwrap_or_default().format("%Y-%m-%d");
    format!("PURGE#{day}")
}

/// The index partition of a user's tasks: GSI1 sorts them by due time, GSI2 by priority, GSI3 by
/// last update.
pub fn tasks_index(tenant: &super::Tenant) -> String {
    format!("{}#TASKS", tenant.partition())
}

/// Notes sort under their task: `NOTE#<task id>#<note id>`.
pub fn notes_of(task_id: &str) -> String {
    format!("NOTE#{task_id}#")
}

pub fn note(task_id: &str, note_id: &str) -> String {
    format!("NOTE#{task_id}#{note_id}")
}

/// A calendar event under its tenant: `EVENT#<event id>`.
pub fn event(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}

/// The counter of a tenant's own events (`events`), which the plan's limit is enforced on.
pub const EVENT_COUNTS: &str = "EVENT_COUNTS";

/// A calendar connection under its user: `CONNECTION#<connection id>`.
pub const CONNECTION_PREFIX: &str = "CONNECTION#";

pub fn connection(connection_id: &str) -> String {
    format!("{CONNECTION_PREFIX}{connection_id}")
}

/// An OAuth authorization under way, by the SHA-256 of its `state`: `OAUTH_STATE#<hash>`.
pub fn oauth_state(state_hash: &str) -> String {
    format!("OAUTH_STATE#{state_hash}")
}

/// The renewal index (GSI1) of push channels: `WATCHES#<day they expire>`, sorted by
/// `<expiry>#<user id>#<connection id>`.
pub fn watches_bucket(day: chrono::NaiveDate) -> String {
    format!("WATCHES#{day}")
}

/// Occurrence changes of a synced series that arrived before the series itself:
/// `EVENT_CHANGES#<event id>`, merged into the event when it comes.
pub fn pending_changes(event_id: &str) -> String {
    format!("EVENT_CHANGES#{event_id}")
}

/// The calendar feed's token hash, under the user.
pub const CALENDAR_FEED: &str = "CALENDAR_FEED";

/// The range index (GSI1) of a tenant's events of one source: `<tenant>#EVENTS#<source>`.
pub fn events_index(tenant: &super::Tenant, source: &str) -> String {
    format!("{}#EVENTS#{source}", tenant.partition())
}

/// The counters of one task's notes and attachments (`notes`, `attachments`), which the per-task
/// caps are enforced on: `COUNTS#<task id>`.
pub fn task_counts(task_id: &str) -> String {
    format!("COUNTS#{task_id}")
}

/// The user's attachment usage (`attachments`, `bytes`), which the tier's quota is enforced on.
pub const ATTACHMENT_USAGE: &str = "ATTACHMENT_USAGE";

/// Attachment records sort under their task: `ATTACHMENT#<task id>#<attachment id>`.
pub fn attachments_of(task_id: &str) -> String {
    format!("ATTACHMENT#{task_id}#")
}

pub fn attachment(task_id: &str, attachment_id: &str) -> String {
    format!("ATTACHMENT#{task_id}#{attachment_id}")
}

/// The closed occurrences of a repeating task sort under it by index: `OCCURRENCE#<task id>#<index>`.
pub fn occurrences_of(task_id: &str) -> String {
    format!("OCCURRENCE#{task_id}#")
}

pub fn occurrence(task_id: &str, index: u32) -> String {
    format!("OCCURRENCE#{task_id}#{index:06}")
}

/// A task's entries on the reminder schedule: `REMINDER#<task id>#<reminder id>`.
pub fn reminder_entries_of(task_id: &str) -> String {
    format!("REMINDER#{task_id}#")
}

pub fn reminder_entry(task_id: &str, reminder_id: &str) -> String {
    format!("REMINDER#{task_id}#{reminder_id}")
}

/// A delivery held back by quiet hours, on the schedule until they end.
pub fn deferred_entry(notification_id: &str, channel: &str) -> String {
    format!("DEFERRED#{notification_id}#{channel}")
}

/// The schedule index (GSI1) partition of one hour and shard: `REMIND#<yyyy-mm-ddThh>#<shard>`.
pub fn schedule_bucket(at: chrono::DateTime<chrono::Utc>, shard: u32) -> String {
    format!("REMIND#{}#{shard}", at.format("%Y-%m-%dT%H"))
}

/// The reminder scheduler's own item: its watermark.
pub const SCHEDULER: &str = "SCHEDULER#reminders";
pub const WATERMARK: &str = "WATERMARK";

// ---- Task templates (a user's saved tasks with their subtasks).

pub const TEMPLATE_PREFIX: &str = "TEMPLATE#";

/// Templates sort by creation: their id is a ULID.
pub fn template(template_id: &str) -> String {
    format!("{TEMPLATE_PREFIX}{template_id}")
}

/// The counter the per-user template limit is enforced on (`templates`).
pub const TEMPLATE_COUNTS: &str = "TEMPLATE_COUNTS";
/// A user's notification preferences (the whole matrix, as JSON text).
pub const NOTIFICATION_PREFS: &str = "NOTIFICATION_PREFS";

/// The digest index entry of a user who opted in to the daily digest. It sits in GSI1 under
/// `digest_index(timezone, hour)`, so the hourly run finds the users of one local hour with a Query.
pub const DIGEST: &str = "DIGEST";

/// The GSI1 partition of the users whose digest hour, in their timezone, is `hour` (00-23).
pub fn digest_index(timezone: &str, hour: u32) -> String {
    format!("DIGEST#{timezone}#{hour:02}")
}

pub const NOTIFICATION_PREFIX: &str = "NOTIFICATION#";

/// An inbox item; its id is a ULID, so the inbox sorts by creation.
pub fn notification(notification_id: &str) -> String {
    format!("{NOTIFICATION_PREFIX}{notification_id}")
}

/// The GSI1 partition of a user's unread inbox items (sparse: reading an item removes it).
pub fn unread_index(user_id: &str) -> String {
    format!("USER#{user_id}#UNREAD")
}

/// The record that a notification went out on a channel: written once, on condition, so a
/// duplicate message delivers nothing twice.
pub fn delivery(notification_id: &str, channel: &str) -> String {
    format!("DELIVERY#{notification_id}#{channel}")
}

pub const PUSH_TOKEN_PREFIX: &str = "PUSH_TOKEN#";

/// A device's push token under its user, keyed by the token's SHA-256 (tokens are never stored).
pub fn push_token(token_hash: &str) -> String {
    format!("{PUSH_TOKEN_PREFIX}{token_hash}")
}

/// The global claim of a push token: the one user it delivers to (a device that changes hands
/// stops receiving the previous user's notifications).
pub fn push_token_claim(token_hash: &str) -> String {
    format!("{PUSH_TOKEN_PREFIX}{token_hash}")
}

pub const PUSH_TOKEN_CLAIM_SK: &str = "PUSH_TOKEN";

/// The user's AI credit balance.
pub const CREDITS: &str = "CREDITS";

/// What an AI job reserved: `CREDIT_JOB#<job id>`.
pub fn credit_job(job_id: &str) -> String {
    format!("CREDIT_JOB#{job_id}")
}

/// The marker of a grant made once per source (an invoice, a checkout): `CREDIT_GRANT#<source>`.
pub fn credit_grant(source: &str) -> String {
    format!("CREDIT_GRANT#{source}")
}

/// The credit history: `CREDIT_LEDGER#<ulid>`, so a Query reads it in time order.
pub const CREDIT_LEDGER_PREFIX: &str = "CREDIT_LEDGER#";

pub fn credit_ledger(entry_id: &str) -> String {
    format!("{CREDIT_LEDGER_PREFIX}{entry_id}")
}

/// The user's billing state: the Stripe customer and the subscription as last reported.
pub const BILLING: &str = "BILLING";

/// A Stripe customer's user: `STRIPE_CUSTOMER#<customer id>` (partition and sort key), for the
/// webhook events that name only the customer.
pub fn stripe_customer(customer_id: &str) -> String {
    format!("STRIPE_CUSTOMER#{customer_id}")
}

/// A Stripe event processed: `STRIPE_EVENT#<event id>` (partition and sort key).
pub fn stripe_event(event_id: &str) -> String {
    format!("STRIPE_EVENT#{event_id}")
}

/// The user's planning settings.
pub const PLANNING_SETTINGS: &str = "PLANNING_SETTINGS";

/// A plan: `PLAN#<plan id>`.
pub fn plan(plan_id: &str) -> String {
    format!("PLAN#{plan_id}")
}

/// Which plan is a day's current one: `PLAN_DATE#<YYYY-MM-DD>`.
pub fn plan_day(date: &str) -> String {
    format!("PLAN_DATE#{date}")
}

/// Sorts after every `PLAN_DATE#<date>`.
pub const PLAN_DAY_END: &str = "PLAN_DATE#~";

/// An AI job: `AI_JOB#<job id>`.
pub fn ai_job(job_id: &str) -> String {
    format!("AI_JOB#{job_id}")
}

/// A day's AI use: `AI_USAGE#<YYYY-MM-DD>` (the user's day).
pub fn ai_usage(date: &str) -> String {
    format!("AI_USAGE#{date}")
}

/// A conversation with the assistant: `AI_CONVERSATION#<id>`.
pub fn ai_conversation(conversation_id: &str) -> String {
    format!("AI_CONVERSATION#{conversation_id}")
}

/// The day's breakdown of a task, kept for identical requests: `AI_BREAKDOWN#<task id>`.
pub fn ai_breakdown(task_id: &str) -> String {
    format!("AI_BREAKDOWN#{task_id}")
}
