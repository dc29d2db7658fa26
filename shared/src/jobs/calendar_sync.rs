//! The calendar sync, run by calendar-sync-worker for each `calendar-sync` job: brings one
//! connection's events up to date with its provider, page by page.
//!
//! Exactly once and in order per connection, without a FIFO queue: a job first takes the
//! connection's lease (a conditional write; a job that finds it taken asks the holder for one
//! more pass and ends). Under the lease it reads a page from the stored cursor, writes the page's
//! events (each write idempotent), then moves the cursor with a write conditioned on still
//! holding the lease. A crash between the two replays the same page; a duplicate notification
//! becomes one more pass that finds nothing new. docs/data-model.md says why not FIFO.
//!
//! Providers: a 401 refreshes the access token once, then the connection goes to `error` and
//! the user gets one `calendar_disconnected` notification; a refused refresh does the same at
//! once. 429/503 put the job back on the queue after `Retry-After`. 410 starts a full resync of
//! that calendar, whose end deletes every event it did not see.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;

use crate::auth::opaque::{new_secret, sha256_hex};
use crate::domain::calendar::{DESCRIPTION_MAX, Event, EventFields, LOCATION_MAX, OccurrenceChange, Source, TITLE_MAX};
use crate::domain::connection::RemovedConnection;
use crate::domain::messages::{Notification, NotificationJob, NotificationMessage};
use crate::domain::notifications::NotificationType;
use crate::integrations::calendar_clients::{CalendarClients, Loaded};
use crate::integrations::calendars::{
    CalendarProvider, Original, ProviderError, SyncFrom, UpstreamChange, UpstreamEvent, UpstreamWhen, Watch,
    WatchRequest,
};
use crate::jobs::queue::{NotificationQueue, QueueError, SyncQueue};
use crate::state::InitError;
use crate::store::connections::{ConnectionItem, Lease, token_owner};
use crate::store::events::{EventItem, SyncedWrite};
use crate::store::{Store, StoreError, Tenant};

/// Pages one job reads before it queues the rest: 40 pages of 250 stay well inside the worker's
/// timeout (and its lease).
pub const PAGES_PER_JOB: usize = 40;

/// Passes one job makes when other jobs keep asking for one more.
const PASSES_MAX: usize = 3;

/// A watch is renewed when it has less than this left.
const RENEW_BEFORE_HOURS: i64 = 24;

/// Where a throttled job waits when the provider did not say.
const DEFAULT_RETRY_SECONDS: u32 = 60;

pub use crate::domain::messages::CalendarJob;

/// What a job did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub outcome: SyncOutcome,
    pub pages: usize,
    /// Events written (created, changed, or rewritten by a full sync).
    pub written: usize,
    /// Events deleted because upstream deleted them.
    pub deleted: usize,
    /// Events deleted at the end of a full sync because it did not see them.
    pub swept: usize,
    /// Full resyncs started because a cursor expired.
    pub resyncs: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    #[default]
    UpToDate,
    /// More pages remain: a job for them is queued.
    MorePages,
    /// Another job holds the connection; it makes one more pass for this one.
    Busy,
    /// No such connection, or it is in `error`.
    Idle,
    /// The provider refused our grant: the connection is in `error` and the user was told.
    Disconnected,
    /// The provider asked us to wait: the job is queued again after this many seconds.
    Throttled(u32),
    /// A deleted connection's events are gone.
    Purged,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("provider: {0}")]
    Provider(ProviderError),
    #[error("{0:?} calendars are not configured in this deploy")]
    NotConfigured(Source),
    #[error("another job took the connection's lease")]
    LeaseLost,
}

/// What the sync uses.
pub struct SyncContext<'a> {
    pub store: &'a Store,
    pub clients: &'a CalendarClients,
    /// Where a job puts itself back (more pages, a throttled provider).
    pub queue: &'a SyncQueue,
    pub notifications: &'a NotificationQueue,
}

/// Runs one job; `job_id` (the message id) owns the lease while it runs.
pub async fn process(context: &SyncContext<'_>, job: &CalendarJob, job_id: &str) -> Result<SyncReport, SyncError> {
    match job {
        CalendarJob::Sync { user_id, connection_id, renew_watch } => {
            sync(context, user_id, connection_id, *renew_watch, job_id).await
        }
        CalendarJob::Disconnected { connection } => purge(context, connection).await,
    }
}

/// The id of the event a connection's upstream event becomes: derived, so a page written twice
/// writes the same items, and shaped as a ULID like every id of the API.
pub fn synced_event_id(connection_id: &str, upstream_id: &str) -> String {
    crate::domain::derived_id(&format!("{connection_id}\0{upstream_id}"))
}

enum Pass {
    UpToDate,
    MorePages,
    Disconnected,
}

async fn sync(
    context: &SyncContext<'_>,
    user_id: &str,
    connection_id: &str,
    renew_watch: bool,
    job_id: &str,
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let connections = context.store.connections();
    let mut connection = match connections.take_lease(user_id, connection_id, job_id).await? {
        Lease::Taken(connection) => *connection,
        Lease::Busy => return Ok(SyncReport { outcome: SyncOutcome::Busy, ..report }),
        Lease::Idle => return Ok(SyncReport { outcome: SyncOutcome::Idle, ..report }),
    };
    let mut renew = renew_watch;
    for _ in 0..PASSES_MAX {
        let pass = run_pass(context, &mut connection, job_id, renew, &mut report).await;
        renew = false;
        match pass {
            Ok(Pass::UpToDate) => {
                if !connections.release_lease(&connection, job_id).await? {
                    return Ok(report);
                }
            }
            Ok(Pass::MorePages) => {
                return requeue(context, &connection, job_id, 0, SyncOutcome::MorePages, report).await;
            }
            Ok(Pass::Disconnected) => return Ok(SyncReport { outcome: SyncOutcome::Disconnected, ..report }),
            Err(SyncError::Provider(ProviderError::Throttled { retry_after })) => {
                let delay = retry_after.map_or(DEFAULT_RETRY_SECONDS, |wait| wait.as_secs().clamp(1, 900) as u32);
                return requeue(context, &connection, job_id, delay, SyncOutcome::Throttled(delay), report).await;
            }
            Err(error) => {
                if let Err(release) = connections.release_lease(&connection, job_id).await {
                    tracing::warn!(%release, "the lease could not be let go; it expires by itself");
                }
                return Err(error);
            }
        }
    }
    requeue(context, &connection, job_id, 0, SyncOutcome::MorePages, report).await
}

/// Lets the lease go and queues the same sync again after `delay` seconds.
async fn requeue(
    context: &SyncContext<'_>,
    connection: &ConnectionItem,
    job_id: &str,
    delay: u32,
    outcome: SyncOutcome,
    report: SyncReport,
) -> Result<SyncReport, SyncError> {
    context.store.connections().release_lease(connection, job_id).await?;
    context.queue.send(&CalendarJob::sync(&connection.user_id, &connection.id), delay).await?;
    Ok(SyncReport { outcome, ..report })
}

async fn run_pass(
    context: &SyncContext<'_>,
    connection: &mut ConnectionItem,
    job_id: &str,
    renew: bool,
    report: &mut SyncReport,
) -> Result<Pass, SyncError> {
    let loaded = context.clients.loaded().await?;
    let provider = loaded.provider(connection.provider).ok_or(SyncError::NotConfigured(connection.provider))?;
    let Some(mut tokens) = Tokens::open(loaded, connection) else {
        tracing::error!(connection_id = %connection.id, "the connection's tokens do not open: the sealing key changed?");
        return disconnect(context, connection).await;
    };
    if renew || watch_due(connection) {
        match ensure_watch(context, loaded, provider.as_ref(), connection, &mut tokens).await {
            Ok(()) => {}
            Err(Call::Refused) => return disconnect(context, connection).await,
            Err(Call::Failed(error @ ProviderError::Throttled { .. })) => return Err(SyncError::Provider(error)),
            // The sync goes on without push; the next job or maintenance tries again.
            Err(Call::Failed(error)) => {
                tracing::warn!(%error, connection_id = %connection.id, "the watch could not be set up")
            }
            Err(Call::Store(error)) => return Err(error.into()),
        }
    }
    let tenant = Tenant::user(&connection.user_id);
    for _ in 0..PAGES_PER_JOB {
        let from = connection.sync_from.clone();
        let full = connection.full_sync || from == SyncFrom::Start;
        let calendar_id = connection.calendar_id.clone();
        let (provider_ref, calendar_id, from_ref) = (provider.as_ref(), &calendar_id, &from);
        let changes = move |token: String| async move { provider_ref.changes(&token, calendar_id, from_ref).await };
        let page = match with_token(context, loaded, provider.as_ref(), connection, &mut tokens, changes).await {
            Ok(page) => page,
            Err(Call::Refused) => return disconnect(context, connection).await,
            Err(Call::Failed(ProviderError::SyncExpired)) => {
                restart_full_sync(context, connection, job_id).await?;
                report.resyncs += 1;
                continue;
            }
            Err(Call::Failed(error)) => return Err(SyncError::Provider(error)),
            Err(Call::Store(error)) => return Err(error.into()),
        };
        report.pages += 1;
        let (written, deleted) = apply_page(context.store, &tenant, connection, &page.changes, Utc::now()).await?;
        report.written += written;
        report.deleted += deleted;
        let finished = matches!(page.next, SyncFrom::Cursor(_));
        if finished && full {
            report.swept += sweep(context.store, &tenant, connection).await?;
        }
        let still_full = full && !finished;
        if !context.store.connections().advance(connection, job_id, &page.next, still_full, finished).await? {
            return Err(SyncError::LeaseLost);
        }
        connection.sync_from = page.next;
        connection.full_sync = still_full;
        if finished {
            return Ok(Pass::UpToDate);
        }
    }
    Ok(Pass::MorePages)
}

/// A 410: the cursor expired; sync the calendar again from the start under a new generation.
async fn restart_full_sync(
    context: &SyncContext<'_>,
    connection: &mut ConnectionItem,
    job_id: &str,
) -> Result<(), SyncError> {
    tracing::info!(connection_id = %connection.id, "the sync cursor expired: full resync");
    connection.generation += 1;
    if !context.store.connections().advance(connection, job_id, &SyncFrom::Start, true, false).await? {
        return Err(SyncError::LeaseLost);
    }
    connection.sync_from = SyncFrom::Start;
    connection.full_sync = true;
    Ok(())
}

/// The grant is gone: the connection goes to `error` and its owner is told, once (the
/// notification's id is derived from the connection and its generation, so a retried job
/// delivers nothing twice).
async fn disconnect(context: &SyncContext<'_>, connection: &ConnectionItem) -> Result<Pass, SyncError> {
    let provider = match connection.provider {
        Source::Outlook => "Outlook",
        _ => "Google",
    };
    let notification = Notification {
        id: crate::domain::derived_id(&format!("calendar_disconnected\0{}\0{}", connection.id, connection.generation)),
        kind: NotificationType::CalendarDisconnected,
        title: format!("Your {provider} calendar stopped syncing"),
        body: format!(
            "Flowday can no longer read the calendar of {}. Connect it again in Settings to keep planning around it.",
            connection.account
        ),
        task_id: None,
        late: false,
        due_at: Utc::now(),
    };
    let message = NotificationMessage::new(connection.user_id.clone(), NotificationJob::Notice { notification });
    context.notifications.send(&message).await?;
    context.store.connections().mark_error(connection, "grant_refused").await?;
    tracing::info!(connection_id = %connection.id, "the provider refused the grant: connection in error");
    Ok(Pass::Disconnected)
}

/// A deleted connection: its events go, and its watch is stopped if its refresh token still
/// works (a watch left running only sends notifications that answer 404 until it expires).
async fn purge(context: &SyncContext<'_>, connection: &RemovedConnection) -> Result<SyncReport, SyncError> {
    let tenant = Tenant::user(&connection.user_id);
    let ids = context.store.events().synced_ids(&tenant, connection.provider, &connection.id, None).await?;
    let deleted = ids.len();
    let writes = ids.into_iter().flat_map(|id| [SyncedWrite::Delete(id.clone()), SyncedWrite::DeletePending(id)]);
    context.store.events().write_synced(&tenant, writes.collect()).await?;
    if let Some(watch) = &connection.watch {
        let loaded = context.clients.loaded().await?;
        let owner = token_owner(&connection.user_id, connection.provider);
        let refresh = loaded.sealing.open(&connection.refresh_token, &owner).ok();
        if let (Some(provider), Some(refresh)) = (loaded.provider(connection.provider), refresh) {
            let stopped = match provider.refresh(&refresh).await {
                Ok(grant) => provider.stop(&grant.access_token, watch).await,
                Err(error) => Err(error),
            };
            if let Err(error) = stopped {
                tracing::info!(%error, "the watch of a removed connection could not be stopped; it expires by itself");
            }
        }
    }
    Ok(SyncReport { outcome: SyncOutcome::Purged, deleted, ..SyncReport::default() })
}

fn watch_due(connection: &ConnectionItem) -> bool {
    connection.watch.as_ref().is_none_or(|watch| watch.expires_at < Utc::now() + Duration::hours(RENEW_BEFORE_HOURS))
}

/// Creates the connection's watch, or renews it (Google: a new channel, the old one stopped;
/// Graph: the subscription extended, keeping its `clientState`).
async fn ensure_watch(
    context: &SyncContext<'_>,
    loaded: &Loaded,
    provider: &dyn CalendarProvider,
    connection: &mut ConnectionItem,
    tokens: &mut Tokens,
) -> Result<(), Call> {
    let secret = format!("{}.{}.{}", connection.user_id, connection.id, new_secret());
    let path = match connection.provider {
        Source::Outlook => "/webhooks/microsoft-graph",
        _ => "/webhooks/google-calendar",
    };
    let address = format!("{}{path}", connection.webhook_base);
    let request = WatchRequest {
        channel_id: ulid::Ulid::new().to_string(),
        lifecycle_address: (connection.provider == Source::Outlook).then(|| address.clone()),
        address,
        secret: secret.clone(),
    };
    let calendar_id = connection.calendar_id.clone();
    let (calendar_id, request_ref) = (&calendar_id, &request);
    let current = connection.watch.clone().filter(|watch| watch.expires_at > Utc::now());
    let renewed = match &current {
        Some(watch) => {
            let renew =
                move |token: String| async move { provider.renew(&token, calendar_id, watch, request_ref).await };
            match with_token(context, loaded, provider, connection, tokens, renew).await {
                Err(Call::Failed(ProviderError::WatchGone)) => None,
                other => Some(other?),
            }
        }
        None => None,
    };
    let (watch, secret_hash): (Watch, String) = match renewed {
        // Graph keeps the subscription's clientState: the stored hash stays.
        Some(watch) if connection.provider == Source::Outlook => {
            (watch, connection.watch_secret_hash.clone().unwrap_or_else(|| sha256_hex(&secret)))
        }
        Some(watch) => (watch, sha256_hex(&secret)),
        None => {
            let create = move |token: String| async move { provider.watch(&token, calendar_id, request_ref).await };
            (with_token(context, loaded, provider, connection, tokens, create).await?, sha256_hex(&secret))
        }
    };
    context.store.connections().set_watch(connection, &watch, &secret_hash).await.map_err(Call::Store)?;
    connection.watch = Some(watch);
    connection.watch_secret_hash = Some(secret_hash);
    Ok(())
}

/// Why a call with the connection's tokens did not answer.
#[derive(Debug)]
enum Call {
    /// The grant is gone (a refused refresh, or a 401 right after a refresh).
    Refused,
    Failed(ProviderError),
    Store(StoreError),
}

impl From<StoreError> for Call {
    fn from(error: StoreError) -> Self {
        Call::Store(error)
    }
}

/// The connection's tokens, opened.
struct Tokens {
    access: Option<(String, DateTime<Utc>)>,
    refresh: String,
    refreshed: bool,
}

impl Tokens {
    fn open(loaded: &Loaded, connection: &ConnectionItem) -> Option<Tokens> {
        let owner = connection.token_owner();
        let refresh = loaded.sealing.open(&connection.refresh_token, &owner).ok()?;
        let access = match (&connection.access_token, connection.access_expires_at) {
            (Some(sealed), Some(expires)) => loaded.sealing.open(sealed, &owner).ok().map(|token| (token, expires)),
            _ => None,
        };
        Some(Tokens { access, refresh, refreshed: false })
    }

    /// An access token good for at least another minute.
    async fn access(
        &mut self,
        context: &SyncContext<'_>,
        loaded: &Loaded,
        provider: &dyn CalendarProvider,
        connection: &ConnectionItem,
    ) -> Result<String, Call> {
        match &self.access {
            Some((token, expires)) if *expires > Utc::now() + Duration::minutes(1) => Ok(token.clone()),
            _ => self.refresh(context, loaded, provider, connection).await,
        }
    }

    /// A new access token (and the new refresh token, if the provider rotated it), stored sealed.
    async fn refresh(
        &mut self,
        context: &SyncContext<'_>,
        loaded: &Loaded,
        provider: &dyn CalendarProvider,
        connection: &ConnectionItem,
    ) -> Result<String, Call> {
        let grant = match provider.refresh(&self.refresh).await {
            Ok(grant) => grant,
            Err(ProviderError::GrantRefused(_) | ProviderError::Unauthorized) => return Err(Call::Refused),
            Err(error) => return Err(Call::Failed(error)),
        };
        let owner = connection.token_owner();
        let sealed_refresh = grant.refresh_token.as_ref().map(|token| loaded.sealing.seal(token, &owner));
        let sealed_access = loaded.sealing.seal(&grant.access_token, &owner);
        context
            .store
            .connections()
            .store_tokens(connection, &sealed_access, grant.expires_at, sealed_refresh.as_deref())
            .await?;
        if let Some(rotated) = grant.refresh_token {
            self.refresh = rotated;
        }
        self.refreshed = true;
        self.access = Some((grant.access_token.clone(), grant.expires_at));
        Ok(grant.access_token)
    }
}

/// Calls the provider with a good access token; a 401 refreshes once and calls again, and a
/// second 401 means the grant is gone.
async fn with_token<T, Fut>(
    context: &SyncContext<'_>,
    loaded: &Loaded,
    provider: &dyn CalendarProvider,
    connection: &ConnectionItem,
    tokens: &mut Tokens,
    call: impl Fn(String) -> Fut,
) -> Result<T, Call>
where
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let token = tokens.access(context, loaded, provider, connection).await?;
    match call(token).await {
        Err(ProviderError::Unauthorized) if !tokens.refreshed => {
            let token = tokens.refresh(context, loaded, provider, connection).await?;
            match call(token).await {
                Err(ProviderError::Unauthorized) => Err(Call::Refused),
                other => other.map_err(Call::Failed),
            }
        }
        Err(ProviderError::Unauthorized) => Err(Call::Refused),
        other => other.map_err(Call::Failed),
    }
}

/// Writes one page's changes; answers (events written, events deleted).
async fn apply_page(
    store: &Store,
    tenant: &Tenant,
    connection: &ConnectionItem,
    changes: &[UpstreamChange],
    now: DateTime<Utc>,
) -> Result<(usize, usize), StoreError> {
    let id_of = |upstream_id: &str| synced_event_id(&connection.id, upstream_id);
    let (mut ids, mut pending_ids) = (BTreeSet::new(), BTreeSet::new());
    for change in changes {
        match change {
            UpstreamChange::Event(event) => {
                let id = id_of(&event.upstream_id);
                if event.rrule.is_some() {
                    pending_ids.insert(id.clone());
                }
                ids.insert(id);
            }
            UpstreamChange::Occurrence { series_id, .. } => {
                ids.insert(id_of(series_id));
                pending_ids.insert(id_of(series_id));
            }
            UpstreamChange::Removed { upstream_id } => {
                ids.insert(id_of(upstream_id));
            }
        }
    }
    let ids: Vec<String> = ids.into_iter().collect();
    let pending_ids: Vec<String> = pending_ids.into_iter().collect();
    let found = store.events().synced_state(tenant, &ids, &pending_ids).await?;
    let mut page = PageState {
        current: found.events.into_iter().map(|(id, item)| (id, Some(item.event))).collect(),
        pending: found.pending,
        touched: BTreeSet::new(),
        pending_touched: BTreeSet::new(),
    };
    for change in changes {
        page.apply(change, connection, now);
    }
    let (mut writes, mut written, mut deleted) = (Vec::new(), 0, 0);
    for id in &page.touched {
        match page.current.get(id).cloned().flatten() {
            Some(event) => {
                written += 1;
                writes.push(SyncedWrite::Put(Box::new(EventItem::synced(
                    tenant,
                    event,
                    &connection.id,
                    connection.generation,
                ))));
            }
            None => {
                deleted += 1;
                writes.push(SyncedWrite::Delete(id.clone()));
            }
        }
    }
    for id in &page.pending_touched {
        match page.pending.get(id) {
            Some(waiting) if !waiting.is_empty() => writes.push(SyncedWrite::Pending(id.clone(), waiting.clone())),
            _ => writes.push(SyncedWrite::DeletePending(id.clone())),
        }
    }
    store.events().write_synced(tenant, writes).await?;
    Ok((written, deleted))
}

/// A page's events as the changes leave them (`None`: deleted), and occurrence changes waiting
/// for their series.
struct PageState {
    current: HashMap<String, Option<Event>>,
    pending: HashMap<String, Vec<OccurrenceChange>>,
    touched: BTreeSet<String>,
    pending_touched: BTreeSet<String>,
}

impl PageState {
    fn apply(&mut self, change: &UpstreamChange, connection: &ConnectionItem, now: DateTime<Utc>) {
        match change {
            UpstreamChange::Event(upstream) => {
                let id = synced_event_id(&connection.id, &upstream.upstream_id);
                let existing = self.current.get(&id).cloned().flatten();
                let Some(mut event) = synced_event(&id, upstream, connection.provider, existing.as_ref(), now) else {
                    return;
                };
                if let Some(waiting) = self.pending.remove(&id) {
                    for change in waiting {
                        event = with_change(event, change, now);
                    }
                    self.pending_touched.insert(id.clone());
                }
                self.current.insert(id.clone(), Some(event));
                self.touched.insert(id);
            }
            UpstreamChange::Occurrence { series_id, original, replacement } => {
                let id = synced_event_id(&connection.id, series_id);
                let change = occurrence_change(*original, replacement.as_deref());
                match self.current.get(&id).cloned().flatten() {
                    Some(series) => {
                        self.current.insert(id.clone(), Some(with_change(series, change, now)));
                        self.touched.insert(id);
                    }
                    None => {
                        let waiting = self.pending.entry(id.clone()).or_default();
                        waiting.retain(|other| other.occurrence_id != change.occurrence_id);
                        waiting.push(change);
                        self.pending_touched.insert(id);
                    }
                }
            }
            UpstreamChange::Removed { upstream_id } => {
                let id = synced_event_id(&connection.id, upstream_id);
                self.current.insert(id.clone(), None);
                self.pending.remove(&id);
                self.touched.insert(id.clone());
                self.pending_touched.insert(id);
            }
        }
    }
}

/// The series with one occurrence changed; a change we cannot hold (past the cap of changes, a
/// timed occurrence of an all-day series) is left out and logged.
fn with_change(series: Event, change: OccurrenceChange, now: DateTime<Utc>) -> Event {
    match series.change_occurrence(change, now) {
        Ok(changed) => changed,
        Err(violations) => {
            tracing::warn!(event_id = %series.id, ?violations, "an upstream occurrence change was left out");
            series
        }
    }
}

fn occurrence_id(original: Original) -> String {
    match original {
        Original::At(at) => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        Original::Day(day) => day.to_string(),
    }
}

fn occurrence_change(original: Original, replacement: Option<&UpstreamEvent>) -> OccurrenceChange {
    let id = occurrence_id(original);
    let Some(moved) = replacement else { return OccurrenceChange::cancellation(&id) };
    let mut change = OccurrenceChange {
        occurrence_id: id,
        title: Some(clipped(&moved.title, TITLE_MAX)),
        busy: Some(moved.busy),
        ..OccurrenceChange::default()
    };
    match moved.when {
        UpstreamWhen::Timed { start, end } => (change.start_at, change.end_at) = (Some(start), Some(end)),
        UpstreamWhen::AllDay { start, end } => (change.start_date, change.end_date) = (Some(start), Some(end)),
    }
    change
}

/// An upstream event as ours, checked as an own event is. A rule our engine does not take is
/// dropped (the first occurrence stays) rather than losing the event.
fn synced_event(
    id: &str,
    upstream: &UpstreamEvent,
    source: Source,
    existing: Option<&Event>,
    now: DateTime<Utc>,
) -> Option<Event> {
    let zone: chrono_tz::Tz = upstream.timezone.as_deref().and_then(|name| name.parse().ok()).unwrap_or(chrono_tz::UTC);
    let mut fields = EventFields {
        title: Some(Some(clipped(&upstream.title, TITLE_MAX))),
        description: Some(upstream.description.as_deref().map(|text| clipped(text, DESCRIPTION_MAX))),
        location: Some(upstream.location.as_deref().map(|text| clipped(text, LOCATION_MAX))),
        timezone: Some(Some(zone.name().to_string())),
        busy: Some(Some(upstream.busy)),
        ..EventFields::default()
    };
    match upstream.when {
        // Providers allow events of no length (a marker at one instant); ours last at least a
        // minute, rather than be left out.
        UpstreamWhen::Timed { start, end } => {
            let end = end.max(start + Duration::minutes(1));
            (fields.start_at, fields.end_at) = (Some(Some(start)), Some(Some(end)))
        }
        UpstreamWhen::AllDay { start, end } => {
            (fields.start_date, fields.end_date) = (Some(Some(start)), Some(Some(end)))
        }
    }
    if upstream.rrule.is_some() {
        fields.rrule = Some(upstream.rrule.clone());
        let exdates = upstream.exdates.iter().map(|original| original_instant(*original, zone)).collect();
        fields.exdates = Some(Some(exdates));
    }
    let mut event = match Event::create(id.to_string(), &fields, now) {
        Ok(event) => event,
        Err(violations) if fields.rrule.is_some() => {
            tracing::warn!(event_id = id, ?violations, "an upstream series kept as its first occurrence");
            (fields.rrule, fields.exdates) = (None, None);
            Event::create(id.to_string(), &fields, now).ok()?
        }
        Err(violations) => {
            tracing::warn!(event_id = id, ?violations, "an upstream event was left out");
            return None;
        }
    };
    event.source = source;
    if let Some(existing) = existing {
        event.created_at = existing.created_at;
        event.version = existing.version + 1;
        // Changed occurrences belong to the series as it was: they stay while it keeps its rule
        // and its first occurrence.
        if existing.rrule == event.rrule && existing.when() == event.when() {
            event.changes = existing.changes.clone();
        }
    }
    Some(event)
}

/// An original start as the instant our exdates hold (an all-day one: its midnight in the zone).
fn original_instant(original: Original, zone: chrono_tz::Tz) -> DateTime<Utc> {
    match original {
        Original::At(at) => at,
        Original::Day(day) => zone
            .from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap_or_default())),
    }
}

fn clipped(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The end of a full sync: the connection's events it did not write are gone upstream.
async fn sweep(store: &Store, tenant: &Tenant, connection: &ConnectionItem) -> Result<usize, StoreError> {
    let stale =
        store.events().synced_ids(tenant, connection.provider, &connection.id, Some(connection.generation)).await?;
    let count = stale.len();
    if count > 0 {
        tracing::info!(connection_id = %connection.id, count, "events not seen by the full sync deleted");
        store.events().write_synced(tenant, stale.into_iter().map(SyncedWrite::Delete).collect()).await?;
    }
    Ok(count)
}
