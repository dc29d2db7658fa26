//! Password attempts per normalised email (`LOGIN#<email>`, `ATTEMPTS`): a fixed window that opens
//! at the first attempt and admits `LOCKOUT_FAILURES` of them. An attempt is reserved with one
//! conditional write *before* the password hash is checked, so a burst of parallel guesses gets
//! exactly the window's budget, never more. The key is the email, not the user: an address with no
//! account locks the same way, so the answer tells nobody which accounts exist.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, condition_held, key, keys, n};
use crate::domain::account::{LOCKOUT_FAILURES, LOCKOUT_WINDOW_SECONDS};

/// The attempts item.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AttemptsItem {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    entity: String,
    attempts: u32,
    /// Epoch seconds of the window's first attempt.
    window_start: i64,
    ttl: i64,
}

/// Whether a password may be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Counted: check the password.
    Granted,
    /// The window's budget is spent: try again in this many seconds.
    Locked { retry_after: u64 },
}

/// Password attempts. Reached as `store.login_attempts()`.
#[derive(Clone, Copy)]
pub struct LoginAttempts<'a> {
    pub(crate) store: &'a Store,
}

impl LoginAttempts<'_> {
    /// Reserves one attempt for `email` at `now` (epoch seconds). One UpdateItem when there is no
    /// window yet or it has budget; a locked window costs one read more, an expired one two.
    pub async fn reserve(self, email: &str, now: i64) -> Result<Attempt, StoreError> {
        // Two racers may both find the window over; one opens the new one and the other counts into it.
        for _ in 0..4 {
            if self.count_into_window(email, now).await? {
                return Ok(Attempt::Granted);
            }
            let current: Option<AttemptsItem> = self.store.get(keys::login_attempts(email), keys::ATTEMPTS_SK).await?;
            if let Some(current) = current.filter(|item| item.window_start > now - LOCKOUT_WINDOW_SECONDS) {
                if current.attempts >= LOCKOUT_FAILURES {
                    let ends = current.window_start + LOCKOUT_WINDOW_SECONDS;
                    return Ok(Attempt::Locked { retry_after: (ends - now).max(1) as u64 });
                }
                continue;
            }
            if self.open_window(email, now).await? {
                return Ok(Attempt::Granted);
            }
        }
        Err(StoreError::Contended("the login attempts of this email kept changing"))
    }

    /// Forgets the attempts after a correct password.
    pub async fn clear(self, email: &str) -> Result<(), StoreError> {
        self.store.delete_if_exists(keys::login_attempts(email), keys::ATTEMPTS_SK).await.map(|_| ())
    }

    /// The delete (for a transaction, e.g. the new session's) that forgets the attempts.
    pub(crate) fn clear_action(self, email: &str) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        self.store.delete(keys::login_attempts(email), keys::ATTEMPTS_SK)
    }

    /// `attempts + 1` in a window that is still open and under the budget, or in a new one when
    /// there is none.
    async fn count_into_window(self, email: &str, now: i64) -> Result<bool, StoreError> {
        let result = self
            .store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::login_attempts(email), keys::ATTEMPTS_SK)))
            .update_expression(
                "SET entity = :entity, window_start = if_not_exists(window_start, :now), \
                 #ttl = if_not_exists(#ttl, :expires) ADD attempts :one",
            )
            .condition_expression("attribute_not_exists(#pk) OR (window_start > :floor AND attempts < :budget)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":entity", super::s("login_attempts"))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(now + LOCKOUT_WINDOW_SECONDS))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":floor", n(now - LOCKOUT_WINDOW_SECONDS))
            .expression_attribute_values(":budget", n(LOCKOUT_FAILURES))
            .send()
            .await;
        condition_held(result)
    }

    /// A new window with this attempt in it, only where none is open.
    async fn open_window(self, email: &str, now: i64) -> Result<bool, StoreError> {
        let item = AttemptsItem {
            pk: keys::login_attempts(email),
            sk: keys::ATTEMPTS_SK.into(),
            entity: "login_attempts".into(),
            attempts: 1,
            window_start: now,
            ttl: now + LOCKOUT_WINDOW_SECONDS,
        };
        let put = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(super::to_item(&item)?))
            .condition_expression("attribute_not_exists(#pk) OR window_start <= :floor")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":floor", n(now - LOCKOUT_WINDOW_SECONDS))
            .send()
            .await;
        condition_held(put)
    }
}
