//! The handlers of api-ai, one file per resource.

pub mod breakdown;
pub mod chat;
pub mod insights;
pub mod jobs;
pub mod transcriptions;
pub mod usage;

use shared::http::ApiError;
use shared::settings::LlmSettings;
use shared::store::Store;
use shared::store::accounts::UserItem as User;

/// 503 `ai_unavailable` when no language model is configured; the caller otherwise.
pub async fn ai_user(store: &Store, llm: &LlmSettings, user_id: &str) -> Result<User, ApiError> {
    llm.require().map_err(ApiError::ai_unavailable)?;
    store.accounts().get_user(user_id).await?.ok_or_else(ApiError::not_found)
}
