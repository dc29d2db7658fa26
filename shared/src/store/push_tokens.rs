//! Push tokens: one item per device under its user (`PUSH_TOKEN#<sha256 of token>`, holding the
//! platform endpoint), and one global claim per token (`PUSH_TOKEN#<sha256>` / `PUSH_TOKEN`) naming
//! the one user the device belongs to now. Registering a token another user had moves it: their
//! item goes in the same transaction, so a phone that changes hands stops showing the previous
//! user's notifications. The token itself is never stored.

use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, key, keys, s, to_item};
use crate::domain::notifications::Platform;

/// A user keeps at most this many devices; registering one more forgets the oldest.
pub const MAX_PUSH_TOKENS: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushTokenItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: String,
    pub token_hash: String,
    pub platform: Platform,
    /// The SNS platform endpoint of the device.
    pub endpoint: String,
    pub registered_at: String,
}

impl PushTokenItem {
    pub fn new(user_id: &str, token_hash: &str, platform: Platform, endpoint: &str, now: &str) -> Self {
        PushTokenItem {
            pk: keys::user(user_id),
            sk: keys::push_token(token_hash),
            entity: "push_token".into(),
            user_id: user_id.into(),
            token_hash: token_hash.into(),
            platform,
            endpoint: endpoint.into(),
            registered_at: now.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushTokenClaim {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub user_id: String,
}

/// Push devices: a token per device, one owner per token. Reached as `store.devices()`.
#[derive(Clone, Copy)]
pub struct PushDevices<'a> {
    pub(crate) store: &'a Store,
}

impl PushDevices<'_> {
    /// Every device of a user: one Query.
    pub async fn push_tokens(self, user_id: &str) -> Result<Vec<PushTokenItem>, StoreError> {
        self.store
            .query_prefix(keys::user(user_id), keys::PUSH_TOKEN_PREFIX)
            .await?
            .into_iter()
            .map(super::from_item)
            .collect()
    }

    /// The user a token belongs to now, if any.
    pub async fn push_token_owner(self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let claim: Option<PushTokenClaim> =
            self.store.get(keys::push_token_claim(token_hash), keys::PUSH_TOKEN_CLAIM_SK).await?;
        Ok(claim.map(|claim| claim.user_id))
    }

    /// Saves a device for `item.user_id` in one transaction: the claim (on condition it still
    /// names `previous_owner`), the item, the previous owner's item (if another user), and the
    /// evicted oldest device with its claim (when the user is at the limit).
    pub async fn save_push_token(
        self,
        item: &PushTokenItem,
        previous_owner: Option<&str>,
        evict: Option<&PushTokenItem>,
    ) -> Result<(), StoreError> {
        let claim = PushTokenClaim {
            pk: keys::push_token_claim(&item.token_hash),
            sk: keys::PUSH_TOKEN_CLAIM_SK.into(),
            entity: "push_token_claim".into(),
            user_id: item.user_id.clone(),
        };
        let put_claim = Put::builder().table_name(&self.store.table).set_item(Some(to_item(&claim)?));
        let put_claim = match previous_owner {
            Some(owner) => {
                put_claim.condition_expression("user_id = :owner").expression_attribute_values(":owner", s(owner))
            }
            None => {
                put_claim.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", keys::PK)
            }
        };
        let mut actions = vec![
            TransactWriteItem::builder().put(put_claim.build().map_err(StoreError::from)?).build(),
            self.store.put(to_item(item)?)?,
        ];
        if let Some(owner) = previous_owner.filter(|owner| *owner != item.user_id) {
            actions.push(self.store.delete(keys::user(owner), &keys::push_token(&item.token_hash))?);
        }
        if let Some(evicted) = evict {
            actions.push(self.store.delete(keys::user(&evicted.user_id), &evicted.sk)?);
            actions.push(self.delete_claim_of(&evicted.user_id, &evicted.token_hash)?);
        }
        self.store.transact(actions).await
    }

    /// Forgets a device of a user: its item and (if it is still theirs) its claim, in one
    /// transaction. True when nobody holds the token any more (its endpoint may go); false when
    /// it moved to another user meanwhile (their claim and the endpoint stay).
    pub async fn remove_push_token(self, item: &PushTokenItem) -> Result<bool, StoreError> {
        let actions = vec![
            self.store.delete(keys::user(&item.user_id), &item.sk)?,
            self.delete_claim_of(&item.user_id, &item.token_hash)?,
        ];
        match self.store.transact(actions).await {
            Ok(()) => Ok(true),
            Err(error) if error.failed_condition_at(1) => {
                self.store.delete_if_exists(keys::user(&item.user_id), &item.sk).await.map(|_| false)
            }
            Err(error) => Err(error),
        }
    }

    /// A device of a user, by the hash of its token.
    pub async fn push_token(self, user_id: &str, token_hash: &str) -> Result<Option<PushTokenItem>, StoreError> {
        self.store.get(keys::user(user_id), &keys::push_token(token_hash)).await
    }

    /// Deletes a token's claim while it names `user_id` (absent is fine).
    fn delete_claim_of(self, user_id: &str, token_hash: &str) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::push_token_claim(token_hash), keys::PUSH_TOKEN_CLAIM_SK)))
            .condition_expression("attribute_not_exists(#pk) OR user_id = :user")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":user", s(user_id))
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}
