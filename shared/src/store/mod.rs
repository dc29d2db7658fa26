//! The single DynamoDB table: key formats, item mapping (serde_dynamo) and repositories.

pub mod accounts;
pub mod activity;
pub mod ai;
pub mod attachments;
pub mod billing;
pub mod connections;
pub mod credentials;
pub mod credits;
pub mod digests;
pub mod events;
pub mod feeds;
pub mod idempotency;
pub mod keys;
pub mod login_attempts;
pub mod notes;
pub mod notifications;
pub mod occurrences;
pub mod planning;
pub mod push_tokens;
pub mod rate_limits;
pub mod round_trips;
pub mod schedule;
pub mod sessions;
pub mod tasks;
pub mod templates;
mod tenant;
pub mod tokens;
pub mod trash;
pub mod update;
mod write_error;

pub use tenant::Tenant;

pub use write_error::WriteError;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub type Item = HashMap<String, AttributeValue>;

/// A failed request to DynamoDB, as the SDK reported it (its cause chain kept for the log).
pub type SdkFailure = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write's condition did not hold.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; one entry per action, `Some(code)` for the ones that failed.
    #[error("transaction cancelled: {0:?}")]
    TransactionCancelled(Vec<Option<String>>),
    #[error("DynamoDB: {}", aws_smithy_types::error::display::DisplayErrorContext(.0.as_ref()))]
    Dynamo(#[source] SdkFailure),
    /// A request missing a required field: a bug of ours, caught by the SDK's builder.
    #[error("building a DynamoDB request: {0}")]
    Build(#[from] aws_sdk_dynamodb::error::BuildError),
    /// A write lost its race this many times in a row and gave up rather than loop.
    #[error("{0}")]
    Contended(&'static str),
    /// A batch request left items unprocessed after its retries.
    #[error("{0}")]
    Unprocessed(String),
    #[error("item mapping: {0}")]
    Mapping(#[from] serde_dynamo::Error),
    /// An attribute stored as JSON text that could not be written.
    #[error("JSON attribute: {0}")]
    Json(#[source] serde_json::Error),
}

impl StoreError {
    /// Whether action `index` of a cancelled transaction failed its condition.
    pub fn failed_condition_at(&self, index: usize) -> bool {
        match self {
            StoreError::TransactionCancelled(reasons) => {
                reasons.get(index).and_then(|code| code.as_deref()) == Some("ConditionalCheckFailed")
            }
            StoreError::ConditionFailed => true,
            _ => false,
        }
    }

    pub fn is_condition_failure(&self) -> bool {
        match self {
            StoreError::ConditionFailed => true,
            StoreError::TransactionCancelled(reasons) => {
                reasons.iter().flatten().any(|code| code == "ConditionalCheckFailed")
            }
            _ => false,
        }
    }
}

/// Whether a conditional request went through: `Ok(false)` when its condition did not hold.
pub(crate) fn condition_held<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error.as_service_error().and_then(|service| service.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(error) => Err(dynamo_error(error)),
    }
}

pub(crate) fn dynamo_error<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Dynamo(Box::new(error))
}

/// Which sort keys of a GSI1 partition a read wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRange {
    All,
    /// Strictly below this sort key.
    Below(String),
    /// From the first to the second, both included.
    Between(String, String),
}

/// The table and its client, built once per cold start.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) table: String,
    /// Requests this store's client has sent.
    pub round_trips: round_trips::RoundTripCounter,
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn key(pk: String, sk: impl Into<String>) -> Item {
    HashMap::from([(keys::PK.to_string(), s(pk)), (keys::SK.to_string(), s(sk))])
}

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    Ok(serde_dynamo::to_item(value)?)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    Ok(serde_dynamo::from_item(item)?)
}

/// Whether an item's TTL has passed: DynamoDB deletes expired items late, so readers check.
pub fn expired(item: &Item, now: i64) -> bool {
    match item.get(keys::TTL) {
        Some(AttributeValue::N(ttl)) => ttl.parse::<i64>().is_ok_and(|ttl| ttl <= now),
        _ => false,
    }
}

/// The key (PK and SK) of an item read whole.
pub(crate) fn key_of(item: &Item) -> Item {
    item.iter()
        .filter(|(name, _)| *name == keys::PK || *name == keys::SK)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The repositories: one per aggregate, each holding the store for its calls.
impl Store {
    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts { store: self }
    }

    pub fn activity(&self) -> activity::ActivityLog<'_> {
        activity::ActivityLog { store: self }
    }

    pub fn ai(&self) -> ai::AiJobs<'_> {
        ai::AiJobs { store: self }
    }

    pub fn attachments(&self) -> attachments::Attachments<'_> {
        attachments::Attachments { store: self }
    }

    pub fn billing(&self) -> billing::Billing<'_> {
        billing::Billing { store: self }
    }

    pub fn credits(&self) -> credits::Credits<'_> {
        credits::Credits { store: self }
    }

    pub fn planning(&self) -> planning::Planning<'_> {
        planning::Planning { store: self }
    }

    pub fn connections(&self) -> connections::Connections<'_> {
        connections::Connections { store: self }
    }

    pub fn digests(&self) -> digests::Digests<'_> {
        digests::Digests { store: self }
    }

    pub fn events(&self) -> events::Events<'_> {
        events::Events { store: self }
    }

    pub fn feeds(&self) -> feeds::Feeds<'_> {
        feeds::Feeds { store: self }
    }

    pub fn idempotency(&self) -> idempotency::IdempotencyKeys<'_> {
        idempotency::IdempotencyKeys { store: self }
    }

    pub fn notes(&self) -> notes::Notes<'_> {
        notes::Notes { store: self }
    }

    pub fn notifications(&self) -> notifications::Notifications<'_> {
        notifications::Notifications { store: self }
    }

    pub fn occurrences(&self) -> occurrences::Occurrences<'_> {
        occurrences::Occurrences { store: self }
    }

    pub fn devices(&self) -> push_tokens::PushDevices<'_> {
        push_tokens::PushDevices { store: self }
    }

    pub fn schedule(&self) -> schedule::Schedule<'_> {
        schedule::Schedule { store: self }
    }

    pub fn login_attempts(&self) -> login_attempts::LoginAttempts<'_> {
        login_attempts::LoginAttempts { store: self }
    }

    pub fn rate_limits(&self) -> rate_limits::RateLimits<'_> {
        rate_limits::RateLimits { store: self }
    }

    pub fn sessions(&self) -> sessions::Sessions<'_> {
        sessions::Sessions { store: self }
    }

    pub fn tasks(&self) -> tasks::Tasks<'_> {
        tasks::Tasks { store: self }
    }

    pub fn templates(&self) -> templates::Templates<'_> {
        templates::Templates { store: self }
    }

    pub fn tokens(&self) -> tokens::OneTimeTokens<'_> {
        tokens::OneTimeTokens { store: self }
    }

    pub fn trash(&self) -> trash::Trash<'_> {
        trash::Trash { store: self }
    }
}

impl Store {
    /// The table of `TABLE_NAME`.
    pub fn from_env(
        env: &crate::settings::Env,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, crate::settings::SettingError> {
        Ok(Store::new(sdk, crate::settings::table_name(env)?))
    }

    /// A store on `table`, its client built from `sdk` with a round-trip counter attached.
    pub fn new(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        let round_trips = round_trips::RoundTripCounter::default();
        let config = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(round_trips.clone()).build();
        Store { client: Client::from_conf(config), table: table.into(), round_trips }
    }

    /// Reads one item (strongly consistent); an item whose TTL has passed reads as absent.
    pub(crate) async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo_error)?;
        match output.item {
            Some(item) if !expired(&item, chrono::Utc::now().timestamp()) => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    /// Reads up to 100 items in one round trip (more when DynamoDB leaves keys unprocessed, which
    /// are asked for again); absent and expired items are left out.
    pub(crate) async fn get_many(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut request = Some(
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(StoreError::from)?,
        );
        let mut items = Vec::new();
        for attempt in 0..5u32 {
            let Some(pending) = request.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            let output =
                self.client.batch_get_item().request_items(&self.table, pending).send().await.map_err(dynamo_error)?;
            items.extend(output.responses.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default());
            request = output.unprocessed_keys.and_then(|mut left| left.remove(&self.table));
        }
        if request.is_some() {
            return Err(StoreError::Unprocessed("BatchGetItem left keys unprocessed after 5 attempts".into()));
        }
        let now = chrono::Utc::now().timestamp();
        Ok(items.into_iter().filter(|item| !expired(item, now)).collect())
    }

    /// Every item of a partition whose sort key starts with `prefix` (unexpired ones), in
    /// sort-key order; pages followed, consistent.
    pub(crate) async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = self.query_all(pk, "begins_with(#sk, :prefix)", vec![(":prefix", s(prefix))]).await?;
        let now = chrono::Utc::now().timestamp();
        items.retain(|item| !expired(item, now));
        Ok(items)
    }

    /// Every item of a partition whose sort key is between `from` and `to` (both included), in
    /// sort-key order; pages followed, consistent.
    pub(crate) async fn query_from(&self, pk: String, from: &str, to: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(pk, "#sk BETWEEN :from AND :to", vec![(":from", s(from)), (":to", s(to))]).await
    }

    /// Every item of the partition `pk` whose sort key meets `sort_key_condition` (`#sk` names it;
    /// `values` are its placeholders): one consistent Query per 1 MB page.
    async fn query_all(
        &self,
        pk: String,
        sort_key_condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(format!("#pk = :pk AND {sort_key_condition}"))
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start_key);
            for (name, value) in &values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let output = query.send().await.map_err(dynamo_error)?;
            items.extend(output.items.unwrap_or_default());
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                return Ok(items);
            }
        }
    }

    /// Every item of one GSI1 partition whose `GSI1SK` is in `range` (one Query per 1 MB page;
    /// eventually consistent, as index reads are).
    pub(crate) async fn index_items(&self, partition: String, range: IndexRange) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("GSI1")
                .expression_attribute_values(":pk", s(partition.clone()))
                .set_exclusive_start_key(start.take());
            query = match &range {
                IndexRange::All => query.key_condition_expression("GSI1PK = :pk"),
                IndexRange::Below(end) => query
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK < :end")
                    .expression_attribute_values(":end", s(end.as_str())),
                IndexRange::Between(low, high) => query
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK BETWEEN :low AND :high")
                    .expression_attribute_values(":low", s(low.as_str()))
                    .expression_attribute_values(":high", s(high.as_str())),
            };
            let output = query.send().await.map_err(dynamo_error)?;
            items.extend(output.items.unwrap_or_default());
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// One page of a partition's items whose sort key starts with `prefix`: at most `limit` items
    /// after the sort key `after`, in sort-key order (`forward`) or reversed, and whether more
    /// follow. One consistent Query for one item more than the page, so a last page is known as
    /// such (no cursor to an empty page); items whose TTL has passed are left out.
    pub(crate) async fn query_page(
        &self,
        pk: String,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
        forward: bool,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let start = after.map(|sk| key(pk.clone(), sk));
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .scan_index_forward(forward)
            .limit(limit as i32 + 1)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(dynamo_error)?;
        let returned = output.items.unwrap_or_default();
        // More follow when the extra item came back, or when DynamoDB stopped at 1 MB.
        let more = returned.len() > limit || output.last_evaluated_key.is_some();
        let now = chrono::Utc::now().timestamp();
        let items = returned.into_iter().take(limit).filter(|item| !expired(item, now)).collect();
        Ok((items, more))
    }

    /// Runs actions as one TransactWriteItems: all happen or none.
    pub(crate) async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let result = self.client.transact_write_items().set_transact_items(Some(actions)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.into_service_error() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|reason| reason.code().filter(|code| *code != "None").map(String::from))
                        .collect();
                    Err(StoreError::TransactionCancelled(reasons))
                }
                other => Err(StoreError::Dynamo(Box::new(other))),
            },
        }
    }

    /// A Put that fails if an item with the same key exists.
    pub(crate) fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .build()
            .map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The update (for a transaction) that moves the counter `attribute` of the item at `pk`/`sk`
    /// by `delta`; with a `limit`, only while the sum stays within it. Every tier limit and cap
    /// kept in the table is one of these.
    pub(crate) fn count(
        &self,
        pk: String,
        sk: &str,
        attribute: &str,
        delta: i64,
        limit: Option<u64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = match limit {
            Some(limit) => update::ItemUpdate::new().add_within(attribute, delta, limit),
            None => update::ItemUpdate::new().add(attribute, n(delta)),
        };
        update.into_action(&self.table, key(pk, sk))
    }

    /// A Put that replaces any item with the same key.
    pub(crate) fn put(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder().table_name(&self.table).set_item(Some(item)).build().map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A Delete that fails unless the item exists (and, with `unexpired_at`, has not expired).
    pub(crate) fn delete_existing(
        &self,
        key: Item,
        unexpired_at: Option<i64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut delete =
            Delete::builder().table_name(&self.table).set_key(Some(key)).expression_attribute_names("#pk", keys::PK);
        delete = match unexpired_at {
            Some(now) => delete
                .condition_expression("attribute_exists(#pk) AND #ttl > :now")
                .expression_attribute_names("#ttl", keys::TTL)
                .expression_attribute_values(":now", n(now)),
            None => delete.condition_expression("attribute_exists(#pk)"),
        };
        let delete = delete.build().map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A Delete with no condition.
    pub(crate) fn delete(&self, pk: String, sk: &str) -> Result<TransactWriteItem, StoreError> {
        let delete =
            Delete::builder().table_name(&self.table).set_key(Some(key(pk, sk))).build().map_err(StoreError::from)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Deletes one item if it exists; false when it did not.
    pub(crate) async fn delete_if_exists(&self, pk: String, sk: &str) -> Result<bool, StoreError> {
        self.delete_on_condition(key(pk, sk), "attribute_exists(#pk)").await
    }

    /// Deletes an item while `condition` holds (`#pk` names the partition key); false when it did not.
    pub(crate) async fn delete_on_condition(&self, key: Item, condition: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression(condition)
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await;
        condition_held(result)
    }
}

/// One write of a BatchWriteItem.
pub enum BatchWrite {
    Put(Item),
    Delete(Item),
}

impl Store {
    /// Puts and deletes items, 25 per BatchWriteItem, retrying what DynamoDB leaves unprocessed
    /// (with a growing pause). Unconditional: for writes that are idempotent by themselves.
    pub(crate) async fn write_batch(&self, writes: Vec<BatchWrite>) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
        let requests: Vec<WriteRequest> = writes
            .into_iter()
            .map(|write| match write {
                BatchWrite::Put(item) => PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build()),
                BatchWrite::Delete(key) => DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build()),
            })
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)?;
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0..5u32 {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(dynamo_error)?;
                pending = output.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            if !pending.is_empty() {
                return Err(StoreError::Unprocessed(format!("{} writes left unprocessed", pending.len())));
            }
        }
        Ok(())
    }
}

/// Reads `ttl` as epoch seconds from now.
pub fn ttl_in(seconds: i64) -> i64 {
    chrono::Utc::now().timestamp() + seconds
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
