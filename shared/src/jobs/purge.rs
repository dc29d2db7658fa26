//! The trash purge (hourly, in `maintenance`): a trash entry whose 7 days are over loses its
//! tasks, their notes and attachment records (their room in the quota given back once), and the
//! attachments' files; or its calendar event and the event's activity entries. The entry goes
//! last, so a run cut short (timeout, S3 error) leaves it for the next run to finish.

use serde::Serialize;

use crate::integrations::files::Files;
use crate::store::Store;
use crate::store::trash::{TrashItem, TrashKind};

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
    #[error(transparent)]
    Files(#[from] crate::integrations::files::FileError),
}

/// Purges every trash entry expired at `now` (epoch seconds). One entry's failure is logged and
/// counted; the others go on (the caller fails the run when any failed, so its alarm fires).
pub async fn purge_expired_trash(
    store: &Store,
    files: &Files,
    now: i64,
    days_back: i64,
) -> Result<PurgeReport, PurgeError> {
    let mut report = PurgeReport::default();
    for entry in store.trash().expired_trash(now, days_back).await? {
        match purge_entry(store, files, &entry).await {
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

/// Each task first (on condition it is still in the trash: one restored meanwhile keeps all of
/// its things), then its files and items; the entry last.
async fn purge_entry(store: &Store, files: &Files, entry: &TrashItem) -> Result<(usize, usize), PurgeError> {
    if entry.kind == TrashKind::Event {
        return Ok((purge_event(store, entry).await?, 0));
    }
    let (mut items, mut objects) = (0, 0);
    let tenant = entry.tenant();
    for task_id in &entry.task_ids {
        if !store.trash().delete_trashed_task(&tenant, task_id).await? {
            tracing::warn!(task_id = %task_id, "a purged task was restored meanwhile: kept");
            continue;
        }
        let work = store.trash().leftovers_of(&tenant, task_id).await?;
        let object_keys = work.object_keys();
        files.delete_all(&object_keys).await?;
        for attachment in &work.attachments {
            store.attachments().purge_attachment(&tenant, attachment).await?;
        }
        items += 1 + work.items.len() + work.attachments.len();
        objects += object_keys.len();
        store.trash().delete_items(work.items).await?;
    }
    store.trash().delete_trash_entry(entry).await?;
    Ok((items, objects))
}

/// A trashed calendar event: the event (while still trashed) and its activity entries, then the
/// entry.
async fn purge_event(store: &Store, entry: &TrashItem) -> Result<usize, PurgeError> {
    let tenant = entry.tenant();
    let mut items = 0;
    if store.events().delete_trashed_event(&tenant, &entry.task_id).await? {
        let activity = store.activity().keys_of(&tenant, &entry.task_id).await?;
        items += 1 + activity.len();
        store.trash().delete_items(activity).await?;
    } else {
        tracing::warn!(event_id = %entry.task_id, "a purged event was restored meanwhile: kept");
    }
    store.trash().delete_trash_entry(entry).await?;
    Ok(items)
}
