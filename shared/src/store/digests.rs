//! The digest index: `DIGEST` under the user's partition, present only while the digest is on
//! for at least one channel, with `GSI1PK = DIGEST#<timezone>#<local hour>` and
//! `GSI1SK = <user id>`, so the hourly run finds the users of one local hour with one Query. The
//! entry is written in the transaction of the preferences (which checks the profile's timezone)
//! and moved in the transaction of a timezone change (which checks the entry's hour), so it never
//! disagrees with either.

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::{IndexRange, Store, StoreError, key, keys, n, s, to_item};
use crate::domain::notifications::NotificationPreferences;

/// The digest index entry of one opted-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DigestItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: String,
    pub timezone: String,
    /// The local digest hour, 0-23.
    pub hour: u32,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
}

impl DigestItem {
    pub fn new(user_id: &str, timezone: &str, hour: u32) -> Self {
        DigestItem {
            pk: keys::user(user_id),
            sk: keys::DIGEST.into(),
            entity: "digest".into(),
            user_id: user_id.into(),
            timezone: timezone.into(),
            hour,
            gsi1pk: keys::digest_index(timezone, hour),
            gsi1sk: user_id.into(),
        }
    }
}

/// The digest index. Reached as `store.digests()`.
#[derive(Clone, Copy)]
pub struct Digests<'a> {
    pub(crate) store: &'a Store,
}

impl Digests<'_> {
    /// The users whose digest is due at local `hour` (0-23) in `timezone`: one Query per page of
    /// GSI1 `DIGEST#<timezone>#<hour>` (eventually consistent, like every index read).
    pub async fn digest_recipients(self, timezone: &str, hour: u32) -> Result<Vec<String>, StoreError> {
        let items = self.store.index_items(keys::digest_index(timezone, hour), IndexRange::All).await?;
        Ok(items
            .into_iter()
            .filter_map(|mut item| match item.remove("GSI1SK") {
                Some(AttributeValue::S(user_id)) => Some(user_id),
                _ => None,
            })
            .collect())
    }

    /// The digest index entry of a user, if the digest is on.
    pub async fn digest_entry(self, user_id: &str) -> Result<Option<DigestItem>, StoreError> {
        self.store.get(keys::user(user_id), keys::DIGEST).await
    }

    /// The action (for the preferences' transaction) that puts the entry where the digest is on
    /// (at its hour in `timezone`) or removes it.
    pub(crate) fn follow_preferences(
        self,
        user_id: &str,
        timezone: &str,
        preferences: &NotificationPreferences,
    ) -> Result<TransactWriteItem, StoreError> {
        if preferences.digest_enabled() {
            let entry = DigestItem::new(user_id, timezone, u32::from(preferences.digest_hour()));
            self.store.put(to_item(&entry)?)
        } else {
            self.store.delete(keys::user(user_id), keys::DIGEST)
        }
    }

    /// The action (for a timezone change's transaction) that keeps the digest entry with the
    /// profile: moves `entry` to `timezone` while it still has the hour read, or, without an
    /// entry, checks that none appeared meanwhile.
    pub(crate) fn follow_timezone(
        self,
        user_id: &str,
        entry: Option<&DigestItem>,
        timezone: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let Some(entry) = entry else {
            let check = ConditionCheck::builder()
                .table_name(&self.store.table)
                .set_key(Some(key(keys::user(user_id), keys::DIGEST)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK)
                .build()
                .map_err(StoreError::from)?;
            return Ok(TransactWriteItem::builder().condition_check(check).build());
        };
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::DIGEST)))
            .update_expression("SET #tz = :timezone, GSI1PK = :index")
            .condition_expression("#hour = :hour AND #tz = :old")
            .expression_attribute_names("#hour", "hour")
            .expression_attribute_names("#tz", "timezone")
            .expression_attribute_values(":timezone", s(timezone))
            .expression_attribute_values(":index", s(keys::digest_index(timezone, entry.hour)))
            .expression_attribute_values(":hour", n(entry.hour))
            .expression_attribute_values(":old", s(&entry.timezone))
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
