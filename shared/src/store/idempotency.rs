//! Idempotency records: the first request with a key claims it with a conditional Put; the answer
//! is stored on it for 24 hours, so a repeat is answered from the record instead of running again.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, dynamo_error, key, keys, n, s, to_item};

/// Keys live 24 hours.
pub const RECORD_SECONDS: i64 = 24 * 3600;
/// A claim older than this whose request never finished (a crashed invocation) may be taken over.
pub const CLAIM_SECONDS: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// SHA-256 of method, path and body: a repeat must be the same request.
    pub fingerprint: String,
    /// `in_progress` or `completed`.
    pub state: String,
    pub claimed_until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The response headers worth replaying, as JSON text (`content-type`, `etag`, `location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    pub ttl: i64,
}

impl IdempotencyRecord {
    pub fn completed(&self) -> bool {
        self.state == "completed"
    }
}

/// The outcome of claiming a key.
pub enum Claim {
    /// The key is ours: run the request.
    Claimed,
    /// The key was used before (or is in use): here is its record.
    Existing(Box<IdempotencyRecord>),
}

/// Idempotency keys: claimed, completed with the answer, released. Reached as `store.idempotency()`.
#[derive(Clone, Copy)]
pub struct IdempotencyKeys<'a> {
    pub(crate) store: &'a Store,
}

impl IdempotencyKeys<'_> {
    pub async fn claim_idempotency_key(
        self,
        user_id: &str,
        key_hash: &str,
        fingerprint: &str,
    ) -> Result<Claim, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let record = IdempotencyRecord {
            pk: keys::user(user_id),
            sk: keys::idempotency(key_hash),
            entity: "idempotency".into(),
            fingerprint: fingerprint.into(),
            state: "in_progress".into(),
            claimed_until: now + CLAIM_SECONDS,
            status: None,
            headers: None,
            body: None,
            ttl: now + RECORD_SECONDS,
        };
        let result = self
            .store
            .client
            .put_item()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&record)?))
            .condition_expression(
                "attribute_not_exists(#pk) OR #ttl <= :now OR (#state = :in_progress AND claimed_until < :now)",
            )
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(error) => match error.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => {
                    match self.store.get::<IdempotencyRecord>(keys::user(user_id), &keys::idempotency(key_hash)).await?
                    {
                        Some(existing) => Ok(Claim::Existing(Box::new(existing))),
                        // Expired between the two calls: claiming again will succeed.
                        None => Box::pin(self.claim_idempotency_key(user_id, key_hash, fingerprint)).await,
                    }
                }
                other => Err(StoreError::Dynamo(Box::new(other))),
            },
        }
    }

    /// Stores the answer on a claimed key.
    pub async fn complete_idempotency_key(
        self,
        user_id: &str,
        key_hash: &str,
        status: u16,
        headers: String,
        body: String,
    ) -> Result<(), StoreError> {
        self.store
            .client
            .update_item()
            .table_name(&self.store.table)
            .set_key(Some(key(keys::user(user_id), keys::idempotency(key_hash))))
            .update_expression("SET #state = :completed, #status = :status, headers = :headers, body = :body")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":completed", s("completed"))
            .expression_attribute_values(":status", n(status))
            .expression_attribute_values(":headers", s(headers))
            .expression_attribute_values(":body", s(body))
            .send()
            .await
            .map_err(dynamo_error)?;
        Ok(())
    }

    /// Frees a claimed key whose request failed on our side, so that a retry runs it again.
    pub async fn release_idempotency_key(self, user_id: &str, key_hash: &str) -> Result<(), StoreError> {
        self.store.delete_if_exists(keys::user(user_id), &keys::idempotency(key_hash)).await.map(|_| ())
    }
}
