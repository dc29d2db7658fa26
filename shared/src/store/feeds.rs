//! The calendar feed's secret: one item per user, `USER#<id>` / `CALENDAR_FEED`, holding only the
//! SHA-256 of the feed token. The token is `<user id>.<secret>` (`auth::opaque::user_token`), so a
//! feed request reads one item of its owner's partition and nothing global.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, condition_held, keys, s};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// SHA-256 (hex) of the whole token.
    pub token_hash: String,
    pub created_at: String,
}

/// The calendar feed's token. Reached as `store.feeds()`.
#[derive(Clone, Copy)]
pub struct Feeds<'a> {
    pub(crate) store: &'a Store,
}

impl Feeds<'_> {
    pub async fn get_feed(self, user_id: &str) -> Result<Option<FeedItem>, StoreError> {
        self.store.get(keys::user(user_id), keys::CALENDAR_FEED).await
    }

    /// Makes `token_hash` the user's only feed token, if the token is still `previous` (`None`:
    /// there was none). False when another rotation got there first: of two at once, one wins and
    /// no URL handed out works without being the stored one.
    pub async fn rotate_feed(
        self,
        user_id: &str,
        previous: Option<&str>,
        token_hash: &str,
    ) -> Result<bool, StoreError> {
        let item = FeedItem {
            pk: keys::user(user_id),
            sk: keys::CALENDAR_FEED.into(),
            entity: "calendar_feed".into(),
            token_hash: token_hash.into(),
            created_at: super::now_rfc3339(),
        };
        let put = self.store.client.put_item().table_name(&self.store.table).set_item(Some(super::to_item(&item)?));
        let put = match previous {
            None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", keys::PK),
            Some(previous) => {
                put.condition_expression("token_hash = :previous").expression_attribute_values(":previous", s(previous))
            }
        };
        condition_held(put.send().await)
    }

    /// Ends the feed: its URL answers 404 from now on. False when there was none.
    pub async fn delete_feed(self, user_id: &str) -> Result<bool, StoreError> {
        self.store.delete_if_exists(keys::user(user_id), keys::CALENDAR_FEED).await
    }
}
