//! Calendar events under their tenant's partition (`EVENT#<id>`), each with the occurrences
//! changed one by one inside it, so one item holds all an event is.
//!
//! The range read model: every event sits in GSI1 under `<tenant>#EVENTS#<source>`, sorted by
//! the end of its last occurrence (`~` for a rule without end), with the start of its first
//! occurrence as `span_start`. "Everything busy between `from` and `to`" is one Query per source:
//! `GSI1SK >= from`, filtered to `span_start < to`, and the events found are expanded by the domain.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Tenant;
use super::trash::{RestoreError, TRASH_SECONDS, TrashItem, TrashKind};
use super::update::ItemUpdate;
use super::{Store, StoreError, WriteError, dynamo_error, from_item, key, keys, n, s, to_item};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::TransactWriteItem;

use crate::domain::calendar::{Event, Source};
use crate::domain::plan::{Limit, LimitReached, PlanLimits};
use crate::domain::task::FieldChange;

/// Sorts after every instant: the key of an event that never ends.
const ENDLESS: &str = "~";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(flatten)]
    pub event: Event,
    /// The start of the first occurrence (RFC 3339, UTC, seconds).
    pub span_start: String,
    /// `<tenant>#EVENTS#<source>` (absent while the event is in the trash).
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "String::is_empty")]
    pub gsi1pk: String,
    /// `<end of the last occurrence, or ~>#<event id>`.
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "String::is_empty")]
    pub gsi1sk: String,
    /// A synced event's connection, and the full sync that last wrote it (one that a later full
    /// sync did not see is gone upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Set while the event is in the trash (it then has no range-index keys, so no listing or
    /// feed finds it), with its `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trashed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

fn instant_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn source_name(source: Source) -> &'static str {
    match source {
        Source::Flowday => "flowday",
        Source::Google => "google",
        Source::Outlook => "outlook",
    }
}

impl EventItem {
    /// The key of an event of `tenant`.
    pub fn key(tenant: &Tenant, event_id: &str) -> super::Item {
        key(tenant.partition(), keys::event(event_id))
    }

    pub fn new(tenant: &Tenant, event: Event) -> Self {
        let (start, end) = event.span();
        let end = end.map(instant_key).unwrap_or_else(|| ENDLESS.into());
        EventItem {
            pk: tenant.partition(),
            sk: keys::event(&event.id),
            entity: "event".into(),
            span_start: instant_key(start),
            gsi1pk: keys::events_index(tenant, source_name(event.source)),
            gsi1sk: format!("{end}#{}", event.id),
            connection_id: None,
            generation: None,
            trashed_at: None,
            ttl: None,
            event,
        }
    }

    /// A synced event, written by the sync of `connection_id` in its full sync `generation`.
    pub fn synced(tenant: &Tenant, event: Event, connection_id: &str, generation: u64) -> Self {
        EventItem {
            connection_id: Some(connection_id.into()),
            generation: Some(generation),
            ..EventItem::new(tenant, event)
        }
    }
}

/// Calendar events. Reached as `store.events()`.
#[derive(Clone, Copy)]
pub struct Events<'a> {
    pub(crate) store: &'a Store,
}

impl Events<'_> {
    /// Saves a new event with its activity entry; an own event counts against the plan's limit.
    pub async fn create_event(
        self,
        tenant: &Tenant,
        event: &Event,
        limits: PlanLimits,
    ) -> Result<(), WriteError<Event>> {
        let change =
            FieldChange { field: "title".into(), old: serde_json::Value::Null, new: event.title.clone().into() };
        let mut actions = vec![
            self.store.put_new(to_item(&EventItem::new(tenant, event.clone()))?)?,
            self.store.activity().record_activity(tenant, "event", &event.id, "created", &[change])?,
        ];
        if event.source == Source::Flowday {
            actions.push(self.count_own(tenant, 1, Some(limits.events))?);
        }
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(2) => {
                Err(WriteError::LimitReached(LimitReached::of(Limit::Events, limits)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The update (for a transaction) that moves the count of own events.
    fn count_own(self, tenant: &Tenant, delta: i64, limit: Option<u64>) -> Result<TransactWriteItem, StoreError> {
        self.store.count(tenant.partition(), keys::EVENT_COUNTS, "events", delta, limit)
    }

    /// A live event (one in the trash reads as absent).
    pub async fn get_event(self, tenant: &Tenant, event_id: &str) -> Result<Option<Event>, StoreError> {
        let item: Option<EventItem> = self.store.get(tenant.partition(), &keys::event(event_id)).await?;
        Ok(item.filter(|item| item.trashed_at.is_none()).map(|item| item.event))
    }

    /// Replaces an event still at `before.version` with `after`, recording `changes`.
    pub async fn replace_event(
        self,
        tenant: &Tenant,
        before: &Event,
        after: &Event,
        changes: &[FieldChange],
    ) -> Result<(), WriteError<Event>> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&EventItem::new(tenant, after.clone()))?))
            .condition_expression("version = :version AND attribute_not_exists(trashed_at)")
            .expression_attribute_values(":version", n(before.version))
            .build()
            .map_err(StoreError::from)?;
        let actions = vec![
            TransactWriteItem::builder().put(put).build(),
            self.store.activity().record_activity(tenant, "event", &after.id, "updated", changes)?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(self.refused(tenant, &before.id).await),
            Err(error) => Err(error.into()),
        }
    }

    /// Moves an event still at its version to the trash for 7 days: it leaves the range index
    /// (no listing or feed finds it) and a trash entry lists it, in one transaction with its
    /// activity entry and (an own event) the count of own events.
    pub async fn trash_event(self, tenant: &Tenant, event: &Event) -> Result<(), WriteError<Event>> {
        let trashed_at = super::now_rfc3339();
        let expires_at = super::ttl_in(TRASH_SECONDS);
        let mark = ItemUpdate::new()
            .set("trashed_at", s(trashed_at.clone()))
            .set(keys::TTL, n(expires_at))
            .remove("GSI1PK")
            .remove("GSI1SK")
            .condition(
                "version = :version AND attribute_not_exists(trashed_at)",
                &[],
                [(":version", n(event.version))],
            );
        let entry = TrashItem::entry(tenant, TrashKind::Event, &event.id, &event.title, trashed_at, expires_at);
        let mut actions = vec![
            mark.into_action(&self.store.table, EventItem::key(tenant, &event.id))?,
            self.store.put(to_item(&entry)?)?,
            self.store.activity().record_activity(tenant, "event", &event.id, "trashed", &[])?,
        ];
        if event.source == Source::Flowday {
            actions.push(self.count_own(tenant, -1, None)?);
        }
        match self.store.transact(actions).await {
            Ok(()) => Ok(()),
            Err(error) if error.failed_condition_at(0) => Err(self.refused(tenant, &event.id).await),
            Err(error) => Err(error.into()),
        }
    }

    /// Brings a trashed event back (its 7 days not over), counted again against the plan's limit.
    pub async fn restore_event(
        self,
        tenant: &Tenant,
        event_id: &str,
        limits: PlanLimits,
    ) -> Result<Event, RestoreError> {
        let item: Option<EventItem> = self.store.get(tenant.partition(), &keys::event(event_id)).await?;
        let Some(item) = item else { return Err(RestoreError::NotFound) };
        if item.trashed_at.is_none() {
            return Err(RestoreError::NotInTrash);
        }
        let now = chrono::Utc::now().timestamp();
        if item.ttl.is_some_and(|ttl| ttl <= now) {
            return Err(RestoreError::Expired);
        }
        let live = EventItem::new(tenant, item.event.clone());
        let unmark = ItemUpdate::new()
            .remove("trashed_at")
            .remove(keys::TTL)
            .set("GSI1PK", s(live.gsi1pk))
            .set("GSI1SK", s(live.gsi1sk))
            .condition("attribute_exists(trashed_at) AND #ttl > :now", &[("#ttl", keys::TTL)], [(":now", n(now))]);
        let mut actions = vec![
            unmark.into_action(&self.store.table, EventItem::key(tenant, event_id))?,
            self.store.delete(tenant.partition(), &keys::trash(event_id))?,
            self.store.activity().record_activity(tenant, "event", event_id, "restored", &[])?,
        ];
        if item.event.source == Source::Flowday {
            actions.push(self.count_own(tenant, 1, Some(limits.events))?);
        }
        match self.store.transact(actions).await {
            Ok(()) => Ok(item.event),
            Err(error) if error.failed_condition_at(0) => Err(RestoreError::NotInTrash),
            Err(error) if error.failed_condition_at(3) => {
                Err(RestoreError::LimitReached(LimitReached::of(Limit::Events, limits)))
            }
            Err(error) => Err(RestoreError::Store(error)),
        }
    }

    /// Deletes an event of an expired trash entry, only while it is still in the trash (or
    /// already gone); false when it was restored meanwhile.
    pub async fn delete_trashed_event(self, tenant: &Tenant, event_id: &str) -> Result<bool, StoreError> {
        let key = EventItem::key(tenant, event_id);
        self.store.delete_on_condition(key, "attribute_not_exists(#pk) OR attribute_exists(trashed_at)").await
    }

    /// Why a conditional write failed: the event changed (here it is now) or is gone.
    async fn refused(self, tenant: &Tenant, event_id: &str) -> WriteError<Event> {
        match self.get_event(tenant, event_id).await {
            Ok(Some(current)) => WriteError::VersionConflict(Box::new(current)),
            Ok(None) => WriteError::NotFound,
            Err(error) => error.into(),
        }
    }

    /// Every event of `tenant` with an occurrence that may overlap `[from, to)`: one Query of
    /// GSI1 per source (eventually consistent, the three at once), pages followed.
    pub async fn events_between(
        self,
        tenant: &Tenant,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Event>, StoreError> {
        let sources = [Source::Flowday, Source::Google, Source::Outlook];
        let found =
            futures::future::try_join_all(sources.map(|source| self.of_source(tenant, source, from, Some(to)))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The tenant's own events with an occurrence ending after `since`, the endless ones included:
    /// what the calendar feed publishes. One Query, pages followed.
    pub async fn own_events_since(self, tenant: &Tenant, since: DateTime<Utc>) -> Result<Vec<Event>, StoreError> {
        self.of_source(tenant, Source::Flowday, since, None).await
    }

    /// The events of one source that end at or after `from` and, with `to`, start before it.
    async fn of_source(
        self,
        tenant: &Tenant,
        source: Source,
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<Event>, StoreError> {
        let items = self
            .source_items(tenant, source, |query| {
                let query = query
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK >= :from")
                    .expression_attribute_values(":from", s(instant_key(from)));
                match to {
                    Some(to) => query
                        .filter_expression("span_start < :to")
                        .expression_attribute_values(":to", s(instant_key(to))),
                    None => query,
                }
            })
            .await?;
        items.into_iter().map(|item| Ok(from_item::<EventItem>(item)?.event)).collect()
    }

    /// Every item a Query of `source`'s range partition (GSI1, `:pk`) shaped by `shape` finds,
    /// pages followed.
    async fn source_items(
        self,
        tenant: &Tenant,
        source: Source,
        shape: impl Fn(QueryFluentBuilder) -> QueryFluentBuilder,
    ) -> Result<Vec<super::Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let query = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .index_name("GSI1")
                .expression_attribute_values(":pk", s(keys::events_index(tenant, source_name(source))))
                .set_exclusive_start_key(start);
            let output = shape(query).send().await.map_err(dynamo_error)?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

/// Occurrence changes of a synced series waiting for the series (`EVENT_CHANGES#<event id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingChangesItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub changes: Vec<crate::domain::calendar::OccurrenceChange>,
    /// A series that never comes leaves these behind for 30 days at most.
    pub ttl: i64,
}

/// What a sync page found of the events it touches: the events, and the changes waiting for
/// series not yet seen.
#[derive(Debug, Default)]
pub struct SyncedState {
    pub events: std::collections::HashMap<String, EventItem>,
    pub pending: std::collections::HashMap<String, Vec<crate::domain::calendar::OccurrenceChange>>,
}

/// One write of a sync page.
pub enum SyncedWrite {
    Put(Box<EventItem>),
    Delete(String),
    Pending(String, Vec<crate::domain::calendar::OccurrenceChange>),
    DeletePending(String),
}

impl Events<'_> {
    /// The synced events `ids` and the pending changes of `pending_ids`, read consistently, 100
    /// keys per BatchGetItem.
    pub async fn synced_state(
        self,
        tenant: &Tenant,
        ids: &[String],
        pending_ids: &[String],
    ) -> Result<SyncedState, StoreError> {
        let mut keys: Vec<super::Item> = ids.iter().map(|id| EventItem::key(tenant, id)).collect();
        keys.extend(pending_ids.iter().map(|id| key(tenant.partition(), keys::pending_changes(id))));
        let mut state = SyncedState::default();
        for chunk in keys.chunks(100) {
            for item in self.store.get_many(chunk.to_vec()).await? {
                let sk = item.get(keys::SK).and_then(|value| value.as_s().ok()).cloned().unwrap_or_default();
                if sk.starts_with("EVENT_CHANGES#") {
                    let pending: PendingChangesItem = from_item(item)?;
                    let id = pending.sk.trim_start_matches("EVENT_CHANGES#").to_string();
                    state.pending.insert(id, pending.changes);
                } else {
                    let event: EventItem = from_item(item)?;
                    state.events.insert(event.event.id.clone(), event);
                }
            }
        }
        Ok(state)
    }

    /// Writes a sync page's results (25 per BatchWriteItem). Each write is idempotent, so a page
    /// written twice (a crash before the cursor moved) ends the same.
    pub async fn write_synced(self, tenant: &Tenant, writes: Vec<SyncedWrite>) -> Result<(), StoreError> {
        let expires = super::ttl_in(30 * 24 * 3600);
        let mut batch = Vec::with_capacity(writes.len());
        for write in writes {
            batch.push(match write {
                SyncedWrite::Put(item) => super::BatchWrite::Put(to_item(&*item)?),
                SyncedWrite::Delete(id) => super::BatchWrite::Delete(EventItem::key(tenant, &id)),
                SyncedWrite::Pending(id, changes) => super::BatchWrite::Put(to_item(&PendingChangesItem {
                    pk: tenant.partition(),
                    sk: keys::pending_changes(&id),
                    entity: "event_changes".into(),
                    changes,
                    ttl: expires,
                })?),
                SyncedWrite::DeletePending(id) => {
                    super::BatchWrite::Delete(key(tenant.partition(), keys::pending_changes(&id)))
                }
            });
        }
        self.store.write_batch(batch).await
    }

    /// The ids of a connection's synced events, those written before full sync `generation` only
    /// when it is given: one Query of the source's range partition, pages followed.
    pub async fn synced_ids(
        self,
        tenant: &Tenant,
        source: Source,
        connection_id: &str,
        older_than: Option<u64>,
    ) -> Result<Vec<String>, StoreError> {
        let items = self
            .source_items(tenant, source, |query| {
                let query = query
                    .key_condition_expression("GSI1PK = :pk")
                    .expression_attribute_values(":connection", s(connection_id))
                    .projection_expression("#id")
                    .expression_attribute_names("#id", "id");
                match older_than {
                    Some(generation) => query
                        .filter_expression("connection_id = :connection AND generation < :generation")
                        .expression_attribute_values(":generation", n(generation)),
                    None => query.filter_expression("connection_id = :connection"),
                }
            })
            .await?;
        Ok(items.iter().filter_map(|item| item.get("id").and_then(|value| value.as_s().ok()).cloned()).collect())
    }
}
