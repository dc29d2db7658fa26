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

impl Store {
    /// A new token for `user_id`, and the Put that stores its hash.
    pub fn issue_one_time_token(
        &self,
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
        Ok((token, self.put_new(to_item(&item)?)?))
    }

    /// The delete that consumes a token: it fails (cancelling its transaction) unless the token
    /// exists and has not expired. Returns the token's user id too.
    pub fn consume_one_time_token(
        &self,
        token: &str,
        kind: OneTimeKind,
    ) -> Result<Option<(String, TransactWriteItem)>, StoreError> {
        let Some(user_id) = opaque::user_of_token(token) else {
            return Ok(None);
        };
        let now = chrono::Utc::now().timestamp();
        let action =
            self.delete_existing(keys::user(user_id), &kind.sort_key(&opaque::sha256_hex(token)), Some(now))?;
        Ok(Some((user_id.to_string(), action)))
    }
}
