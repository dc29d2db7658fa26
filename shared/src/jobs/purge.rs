//! The trash purge (hourly, in `maintenance`): a trash entry whose 7 days are over loses its
//! tasks, their notes and attachment records, and the attachments' files in S3. The entry goes
//! last, so a run cut short (timeout, S3 error) leaves it for the next run to finish.

use serde::Serialize;

use crate::store::Store;
use crate::store::trash::TrashItem;

/// How far back the purge looks for expired entries, in days. An outage longer than this needs
/// one run with a larger `days_back` (docs/operations.md).
pub const DEFAULT_DAYS_BACK: i64 = 14;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct PurgeReport {
    pub entries: usize,
    pub items_deleted: usize,
    pub objects_deleted: usize,
    pub failed: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("S3: {0}")]
    S3(String),
}

/// Purges every trash entry expired at `now` (epoch seconds). One entry's failure is logged and
/// counted; the others go on.
pub async fn purge_expired_trash(
    store: &Store,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    now: i64,
    days_back: i64,
) -> Result<PurgeReport, PurgeError> {
    let mut report = PurgeReport::default();
    for entry in store.expired_trash(now, days_back).await? {
        match purge_entry(store, s3, bucket, &entry).await {
            Ok((items, objects)) => {
                report.entries += 1;
                report.items_deleted += items;
                report.objects_deleted += objects;
            }
            Err(error) => {
                report.failed += 1;
                tracing::error!(task_id = %entry.task_id, error = %error, "purging a trash entry failed; the next run retries");
            }
        }
    }
    Ok(report)
}

async fn purge_entry(
    store: &Store,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    entry: &TrashItem,
) -> Result<(usize, usize), PurgeError> {
    let work = store.purge_work(entry).await?;
    delete_objects(s3, bucket, &work.object_keys).await?;
    let (items, objects) = (work.items.len(), work.object_keys.len());
    store.delete_items(work.items).await?;
    store.delete_trash_entry(entry).await?;
    Ok((items, objects))
}

/// Deletes objects, 1,000 per DeleteObjects; a key already gone counts as deleted.
async fn delete_objects(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<(), PurgeError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| PurgeError::S3(error.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|error| PurgeError::S3(error.to_string()))?;
        let output = s3.delete_objects().bucket(bucket).delete(delete).send().await.map_err(|error| {
            PurgeError::S3(aws_smithy_types::error::display::DisplayErrorContext(&error).to_string())
        })?;
        if let Some(error) = output.errors().first() {
            return Err(PurgeError::S3(format!(
                "{}: {}",
                error.key().unwrap_or_default(),
                error.message().unwrap_or_default()
            )));
        }
    }
    Ok(())
}
