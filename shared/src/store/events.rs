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
use super::{Store, StoreError, WriteError, dynamo_error, from_item, key, keys, n, s, to_item};
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
    /// `<tenant>#EVENTS#<source>`.
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    /// `<end of the last occurrence, or ~>#<event id>`.
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
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
            event,
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

    pub async fn get_event(self, tenant: &Tenant, event_id: &str) -> Result<Option<Event>, StoreError> {
        let item: Option<EventItem> = self.store.get(tenant.partition(), &keys::event(event_id)).await?;
        Ok(item.map(|item| item.event))
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
            .condition_expression("version = :version")
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

    /// Deletes an event still at its version.
    pub async fn delete_event(self, tenant: &Tenant, event: &Event) -> Result<(), WriteError<Event>> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.store.table)
            .set_key(Some(EventItem::key(tenant, &event.id)))
            .condition_expression("version = :version")
            .expression_attribute_values(":version", n(event.version))
            .build()
            .map_err(StoreError::from)?;
        let mut actions = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.store.activity().record_activity(tenant, "event", &event.id, "deleted", &[])?,
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
        let mut events = Vec::new();
        let mut start = None;
        loop {
            let query = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk AND GSI1SK >= :from")
                .expression_attribute_values(":pk", s(keys::events_index(tenant, source_name(source))))
                .expression_attribute_values(":from", s(instant_key(from)))
                .set_exclusive_start_key(start);
            let query = match to {
                Some(to) => {
                    query.filter_expression("span_start < :to").expression_attribute_values(":to", s(instant_key(to)))
                }
                None => query,
            };
            let output = query.send().await.map_err(dynamo_error)?;
            for item in output.items.unwrap_or_default() {
                events.push(from_item::<EventItem>(item)?.event);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(events);
            }
        }
    }
}
