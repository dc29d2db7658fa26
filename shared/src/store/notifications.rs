//! Notifications under the user's partition: the preferences document, the in-app inbox, and the
//! delivery records that make each delivery happen at most once. The digest index entry the
//! preferences keep is in `digests.rs`.
//!
//! - Preferences: `NOTIFICATION_PREFS` (JSON text, `version`). A user who never chose has none and
//!   reads the defaults at version 0.
//! - Digest index: `DIGEST`, present only while the digest is on for at least one channel, with
//!   `GSI1PK = DIGEST#<timezone>#<local hour>` and `GSI1SK = <user id>`. It is written in the
//!   transaction of the preferences (which checks the profile's timezone) and moved in the
//!   transaction of a timezone change (which checks the entry's hour), so it never disagrees with
//!   either.
//! - Inbox: `NOTIFICATION#<ulid>`, newest first; unread items also sit in GSI1 under
//!   `USER#<id>#UNREAD` (sparse: reading removes the index keys), so the unread filter is one Query.
//! - Delivery records: `DELIVERY#<notification id>#<channel>`, written on `attribute_not_exists`.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::accounts::UserItem;
use super::{Item, Store, StoreError, WriteError, dynamo_error, expired, from_item, key, keys, n, s, to_item};
use crate::domain::messages::Notification;
use crate::domain::notifications::{Channel, NotificationPreferences, NotificationType};

/// Inbox items live 90 days.
pub const INBOX_TTL_SECONDS: i64 = 90 * 24 * 3600;
/// Delivery records outlive any duplicate of their message (SQS keeps a message 14 days at most).
pub const DELIVERY_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// How often a write that lost a race with a concurrent change is computed again.
const RACE_ATTEMPTS: usize = 4;
/// TransactWriteItems takes at most 100 actions.
const TRANSACTION_LIMIT: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreferencesItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// The whole matrix as JSON text (`NotificationPreferences`' own shape).
    pub preferences: String,
    pub version: u64,
    pub updated_at: String,
}

/// A user's preferences with their version (0 and no `updated_at` while the defaults apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPreferences {
    pub preferences: NotificationPreferences,
    pub version: u64,
    pub updated_at: Option<String>,
}

impl StoredPreferences {
    fn from_item(item: Option<PreferencesItem>) -> Self {
        match item {
            Some(item) => StoredPreferences {
                preferences: serde_json::from_str(&item.preferences).unwrap_or_default(),
                version: item.version,
                updated_at: Some(item.updated_at),
            },
            None => StoredPreferences { preferences: NotificationPreferences::default(), version: 0, updated_at: None },
        }
    }
}

/// A refused preferences write.
pub type PutPreferencesError = WriteError<StoredPreferences>;

/// One item of the in-app inbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// A ULID of its own (the inbox sorts by it); `notification_id` is the delivery's id.
    pub id: String,
    pub notification_id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub title: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    pub read: bool,
    #[serde(default)]
    pub late: bool,
    pub created_at: String,
    pub ttl: i64,
    /// `USER#<id>#UNREAD` while unread, absent once read.
    #[serde(rename = "GSI1PK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(rename = "GSI1SK", default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
}

impl InboxItem {
    pub fn new(user_id: &str, notification: &Notification, now: chrono::DateTime<chrono::Utc>) -> Self {
        let id = ulid::Ulid::from_datetime(now.into()).to_string();
        InboxItem {
            pk: keys::user(user_id),
            sk: keys::notification(&id),
            entity: "notification".into(),
            notification_id: notification.id.clone(),
            kind: notification.kind,
            title: notification.title.clone(),
            body: notification.body.clone(),
            task_id: notification.task_id.clone(),
            read: false,
            late: notification.late,
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            // Lifetimes count from the clock, not from `now` (a caller's notion of the moment).
            ttl: super::ttl_in(INBOX_TTL_SECONDS),
            gsi1pk: Some(keys::unread_index(user_id)),
            gsi1sk: Some(id.clone()),
            id,
        }
    }
}

/// One page of the inbox, newest first.
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// The id to continue after.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub notification_id: String,
    pub channel: Channel,
    pub delivered_at: String,
    pub ttl: i64,
}

impl DeliveryItem {
    fn new(user_id: &str, notification_id: &str, channel: Channel, now: chrono::DateTime<chrono::Utc>) -> Self {
        DeliveryItem {
            pk: keys::user(user_id),
            sk: keys::delivery(notification_id, channel.name()),
            entity: "delivery".into(),
            notification_id: notification_id.into(),
            channel,
            delivered_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ttl: super::ttl_in(DELIVERY_TTL_SECONDS),
        }
    }
}

/// Notification preferences, the inbox and delivery records. Reached as `store.notifications()`.
#[derive(Clone, Copy)]
pub struct Notifications<'a> {
    pub(crate) store: &'a Store,
}

impl Notifications<'_> {
    /// The user's preferences (the defaults at version 0 when never stored). 1 GetItem.
    pub async fn notification_preferences(self, user_id: &str) -> Result<StoredPreferences, StoreError> {
        let item: Option<PreferencesItem> = self.store.get(keys::user(user_id), keys::NOTIFICATION_PREFS).await?;
        Ok(StoredPreferences::from_item(item))
    }

    /// The profile and the preferences of a user in one BatchGetItem; `None` when the user is gone.
    pub async fn user_with_preferences(
        self,
        user_id: &str,
    ) -> Result<Option<(UserItem, StoredPreferences)>, StoreError> {
        let items = self
            .store
            .get_many(vec![key(keys::user(user_id), keys::PROFILE), key(keys::user(user_id), keys::NOTIFICATION_PREFS)])
            .await?;
        let (mut user, mut preferences) = (None, None);
        for item in items {
            match sort_key(&item) {
                Some(keys::PROFILE) => user = Some(from_item::<UserItem>(item)?),
                Some(keys::NOTIFICATION_PREFS) => preferences = Some(from_item::<PreferencesItem>(item)?),
                _ => {}
            }
        }
        Ok(user.map(|user| (user, StoredPreferences::from_item(preferences))))
    }

    /// Replaces the preferences and puts or removes the digest index entry in one transaction,
    /// which also checks that the profile still has the timezone the entry was computed with.
    /// With `expected_version`, only if the stored version is that one. 2 round trips (BatchGetItem,
    /// TransactWriteItems); a lost race is computed again.
    pub async fn put_notification_preferences(
        self,
        user_id: &str,
        preferences: &NotificationPreferences,
        expected_version: Option<u64>,
        now: &str,
    ) -> Result<StoredPreferences, PutPreferencesError> {
        for _ in 0..RACE_ATTEMPTS {
            let (user, current) = self.user_with_preferences(user_id).await?.ok_or(PutPreferencesError::NotFound)?;
            if expected_version.is_some_and(|expected| expected != current.version) {
                return Err(PutPreferencesError::VersionConflict(Box::new(current)));
            }
            let stored = StoredPreferences {
                preferences: preferences.clone(),
                version: current.version + 1,
                updated_at: Some(now.to_string()),
            };
            let item = PreferencesItem {
                pk: keys::user(user_id),
                sk: keys::NOTIFICATION_PREFS.into(),
                entity: "notification_preferences".into(),
                preferences: serde_json::to_string(preferences).map_err(StoreError::Json)?,
                version: stored.version,
                updated_at: now.to_string(),
            };
            let put =
                aws_sdk_dynamodb::types::Put::builder().table_name(&self.store.table).set_item(Some(to_item(&item)?));
            let put = if current.version == 0 {
                put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", keys::PK)
            } else {
                put.condition_expression("version = :version")
                    .expression_attribute_values(":version", n(current.version))
            };
            let digest = self.store.digests().follow_preferences(user_id, &user.timezone, preferences)?;
            let check = ConditionCheck::builder()
                .table_name(&self.store.table)
                .set_key(Some(key(keys::user(user_id), keys::PROFILE)))
                .condition_expression("attribute_exists(#pk) AND #tz = :timezone")
                .expression_attribute_names("#pk", keys::PK)
                // TIMEZONE is a reserved word of DynamoDB expressions.
                .expression_attribute_names("#tz", "timezone")
                .expression_attribute_values(":timezone", s(&user.timezone))
                .build()
                .map_err(StoreError::from)?;
            let actions = vec![
                TransactWriteItem::builder().put(put.build().map_err(StoreError::from)?).build(),
                digest,
                TransactWriteItem::builder().condition_check(check).build(),
            ];
            match self.store.transact(actions).await {
                Ok(()) => return Ok(stored),
                // The preferences or the timezone changed since they were read: read again.
                Err(error) if error.is_condition_failure() => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Contended("preferences kept changing concurrently").into())
    }

    /// One page of the inbox, newest first, after the item `after`: one Query (on GSI1's unread
    /// partition for `unread_only`). Asks for one item more than the page to know if there is more.
    pub async fn list_inbox(
        self,
        user_id: &str,
        unread_only: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<InboxPage, StoreError> {
        let mut query =
            self.store.client.query().table_name(&self.store.table).scan_index_forward(false).limit(limit as i32 + 1);
        query = if unread_only {
            query
                .index_name("GSI1")
                .key_condition_expression("GSI1PK = :pk")
                .expression_attribute_values(":pk", s(keys::unread_index(user_id)))
        } else {
            query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(keys::user(user_id)))
                .expression_attribute_values(":prefix", s(keys::NOTIFICATION_PREFIX))
                .consistent_read(true)
        };
        if let Some(after) = after {
            let mut start = key(keys::user(user_id), keys::notification(after));
            if unread_only {
                start.insert("GSI1PK".into(), s(keys::unread_index(user_id)));
                start.insert("GSI1SK".into(), s(after));
            }
            query = query.set_exclusive_start_key(Some(start));
        }
        let output = query.send().await.map_err(dynamo_error)?;
        let now = chrono::Utc::now().timestamp();
        let mut items = Vec::new();
        let mut more = false;
        for item in output.items.unwrap_or_default() {
            if items.len() == limit {
                more = true;
                break;
            }
            if !expired(&item, now) {
                items.push(from_item::<InboxItem>(item)?);
            }
        }
        // Expired items skipped on a full read can leave the page short while more follow.
        let more = more || (items.len() < limit && output.last_evaluated_key.is_some());
        let next = if more { items.last().map(|item: &InboxItem| item.id.clone()) } else { None };
        Ok(InboxPage { items, next })
    }

    /// Marks one inbox item read (and takes it out of the unread index): one UpdateItem on
    /// condition that it exists. `None` when it does not (or expired).
    pub async fn mark_inbox_read(self, user_id: &str, id: &str) -> Result<Option<InboxItem>, StoreError> {
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::notification(id))))
            .update_expression("SET #read = :true REMOVE GSI1PK, GSI1SK")
            .condition_expression("attribute_exists(#pk) AND #ttl > :now")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#read", "read")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":now", n(chrono::Utc::now().timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(from_item(output.attributes.unwrap_or_default())?)),
            Err(error) => match error.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(StoreError::Dynamo(Box::new(other))),
            },
        }
    }

    /// Marks every unread item read: a consistent Query of the inbox (keys of unread items only,
    /// page by page), then one TransactWriteItems per 100 items. A transaction that meets an item
    /// deleted meanwhile is redone item by item. Returns how many items it marked.
    pub async fn mark_all_inbox_read(self, user_id: &str) -> Result<usize, StoreError> {
        let mut unread: Vec<String> = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .store
                .client
                .query()
                .table_name(&self.store.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .filter_expression("#read = :false")
                .projection_expression("#sk")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_names("#read", "read")
                .expression_attribute_values(":pk", s(keys::user(user_id)))
                .expression_attribute_values(":prefix", s(keys::NOTIFICATION_PREFIX))
                .expression_attribute_values(":false", AttributeValue::Bool(false))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(dynamo_error)?;
            unread.extend(
                output.items.unwrap_or_default().into_iter().filter_map(|item| sort_key(&item).map(String::from)),
            );
            start = output.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let mut marked = 0;
        for chunk in unread.chunks(TRANSACTION_LIMIT) {
            let actions =
                chunk.iter().map(|sk| self.mark_read_action(user_id, sk)).collect::<Result<Vec<_>, StoreError>>()?;
            match self.store.transact(actions).await {
                Ok(()) => marked += chunk.len(),
                Err(error) if error.is_condition_failure() => {
                    for sk in chunk {
                        let id = sk.trim_start_matches(keys::NOTIFICATION_PREFIX);
                        if self.mark_inbox_read(user_id, id).await?.is_some() {
                            marked += 1;
                        }
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Ok(marked)
    }

    fn mark_read_action(self, user_id: &str, sk: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), sk)))
            .update_expression("SET #read = :true REMOVE GSI1PK, GSI1SK")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#read", "read")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Deletes one inbox item; false when there was none.
    pub async fn delete_inbox_item(self, user_id: &str, id: &str) -> Result<bool, StoreError> {
        self.store.delete_if_exists(keys::user(user_id), &keys::notification(id)).await
    }

    /// Delivers a notification to the inbox exactly once: the inbox item and the delivery record
    /// in one TransactWriteItems, the record on condition that none exists. False when the
    /// notification was delivered to the inbox before (a duplicate message).
    pub async fn deliver_to_inbox(
        self,
        user_id: &str,
        notification: &Notification,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let inbox = InboxItem::new(user_id, notification, now);
        let record = DeliveryItem::new(user_id, &notification.id, Channel::InApp, now);
        let actions = vec![self.store.put_new(to_item(&inbox)?)?, self.put_delivery_record(&record)?];
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.failed_condition_at(1) => Ok(false),
            Err(error) => Err(error),
        }
    }

    fn put_delivery_record(self, record: &DeliveryItem) -> Result<TransactWriteItem, StoreError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(record)?))
            // An expired record DynamoDB has not deleted yet counts as absent.
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", n(chrono::Utc::now().timestamp()))
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Claims the delivery of a notification on a channel: one PutItem on condition that no
    /// record exists. False when it was claimed before.
    pub async fn claim_delivery(
        self,
        user_id: &str,
        notification_id: &str,
        channel: Channel,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let record = DeliveryItem::new(user_id, notification_id, channel, now);
        let result = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&record)?))
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", n(chrono::Utc::now().timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::Dynamo(Box::new(other))),
            },
        }
    }

    /// Gives a claimed delivery back (its send failed), so a retry sends it.
    pub async fn release_delivery(
        self,
        user_id: &str,
        notification_id: &str,
        channel: Channel,
    ) -> Result<(), StoreError> {
        self.store
            .client
            .delete_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::delivery(notification_id, channel.name()))))
            .send()
            .await
            .map_err(dynamo_error)?;
        Ok(())
    }
}

fn sort_key(item: &Item) -> Option<&str> {
    match item.get(keys::SK) {
        Some(AttributeValue::S(sk)) => Some(sk.as_str()),
        _ => None,
    }
}
