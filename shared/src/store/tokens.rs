//! One-time tokens sent by email (password reset, email verification): stored hashed under the
//! user's partition with a TTL, consumed by a conditional delete inside the transaction that acts on
//! them, so each works once.

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, keys, to_item};
use crate::auth::opaque;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTimeKind {
    PasswordReset,
    EmailVerification,
}

impl OneTimeKind {
    fn sort_key(self, token_hash: &str) -> String {
        match self {
            OneTimeKind::PasswordReset => keys::password_reset(token_hash),
            OneTimeKind::EmailVerification => keys::email_verification(token_hash),
        }
    }

    /// Password reset tokens last an hour; verification tokens two days.
    pub fn lifetime_seconds(self) -> i64 {
        match self {
            OneTimeKind::PasswordReset => 3600,
            OneTimeKind::EmailVerification => 48 * 3600,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct OneTimeTokenItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    ttl: i64,
}

/// Single-use tokens: email verification and password reset. Reached as `store.tokens()`.
#[derive(Clone, Copy)]
pub struct OneTimeTokens<'a> {
    pub(crate) store: &'a Store,
}

impl OneTimeTokens<'_> {
    /// Issues a new token for `user_id` (its hash is stored) and answers it, to send by email.
    pub async fn issue(self, user_id: &str, kind: OneTimeKind) -> Result<String, StoreError> {
        let (token, put) = self.issue_one_time_token(user_id, kind)?;
        self.store.transact(vec![put]).await?;
        Ok(token)
    }

    /// Whether `token` has the form of one this API issues (checked before any costly work).
    pub fn well_formed(self, token: &str) -> bool {
        opaque::user_of_token(token).is_some()
    }

    /// A new token for `user_id`, and the Put that stores its hash.
    pub(crate) fn issue_one_time_token(
        self,
        user_id: &str,
        kind: OneTimeKind,
    ) -> Result<(String, TransactWriteItem), StoreError> {
        let token = opaque::user_token(user_id);
        let item = OneTimeTokenItem {
            pk: keys::user(user_id),
            sk: kind.sort_key(&opaque::sha256_hex(&token)),
            entity: "one_time_token".into(),
            ttl: super::ttl_in(kind.lifetime_seconds()),
        };
        Ok((token, self.store.put_new(to_item(&item)?)?))
    }

    /// The deletes (for a transaction) of every other unexpired token of this kind the user holds:
    /// a password set by one reset link ends the links sent before it. Few: the mail budget and
    /// the hour-long lifetime bound them (at most 90 are taken).
    pub(crate) async fn revoke_others(
        self,
        user_id: &str,
        kind: OneTimeKind,
        token: &str,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let own = kind.sort_key(&opaque::sha256_hex(token));
        let prefix = kind.sort_key("");
        let items = self.store.query_prefix(keys::user(user_id), &prefix).await?;
        items
            .iter()
            .filter_map(|item| match item.get(keys::SK) {
                Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) if *sk != own => Some(sk.clone()),
                _ => None,
            })
            .take(90)
            .map(|sk| self.store.delete(keys::user(user_id), &sk))
            .collect()
    }

    /// The delete that consumes a token: it fails (cancelling its transaction) unless the token
    /// exists and has not expired. Returns the token's user id too.
    pub(crate) fn consume_one_time_token(
        self,
        token: &str,
        kind: OneTimeKind,
    ) -> Result<Option<(String, TransactWriteItem)>, StoreError> {
        let Some(user_id) = opaque::user_of_token(token) else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        let action = self
            .store
            .delete_existing(super::key(keys::user(user_id), kind.sort_key(&opaque::sha256_hex(token))), Some(now))?;
        Ok(Some((user_id.to_string(), action)))
    }
}
