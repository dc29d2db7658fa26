//! `POST /v1/ai/chat {message, conversation_id?}` starts a chat job (a new conversation when no
//! id is sent); `GET /v1/ai/conversations` lists the caller's conversations, newest first;
//! `GET /v1/ai/conversations/{id}` gives one with its messages. The worker adds the message and
//! the reply together, once per job.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::Base;
use shared::domain::Violations;
use shared::domain::ai::{JobKind, MAX_CHAT_MESSAGE};
use shared::http::openapi::{CallerProblems, Problem, RequestProblems};
use shared::http::pagination::{Page, PageQuery, is_id};
use shared::http::{ApiError, ApiJson, ApiPath, ApiQuery, CurrentUser, Id};
use shared::jobs::ai::start_job;
use shared::jobs::queue::AiJobQueue;
use shared::settings::LlmSettings;
use shared::store::ai::{ChatMessage, ConversationItem};
use shared::store::keys;

use super::ai_user;
use super::jobs::{JobView, accepted};

const CONVERSATIONS: &str = "conversations";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChatRequest {
    /// 1 to 4000 characters.
    #[schema(min_length = 1, max_length = 4000)]
    message: String,
    /// A conversation of the caller to go on with; a new one starts without.
    conversation_id: Option<String>,
}

/// A conversation without its messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    id: String,
    title: String,
    created_at: String,
    updated_at: String,
}

/// A conversation with its messages, oldest first (the last 60 are kept).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Conversation {
    id: String,
    title: String,
    messages: Vec<ChatMessage>,
    created_at: String,
    updated_at: String,
}

/// Sends a message to the assistant: 202 with the job; its result holds the reply and the
/// conversation's id.
#[utoipa::path(post, path = "/v1/ai/chat", tag = "ai", request_body = ChatRequest,
    responses(
        (status = 202, description = "The job, with Location", body = JobView),
        (status = 402, description = "insufficient_credits: the balance per kind", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ai_unavailable: no language model is configured (the detail names the settings)", body = Problem, content_type = "application/problem+json"),
        RequestProblems,
        CallerProblems
    ),
    security(("bearer" = [])))]
pub async fn send(
    State(app): State<Base>,
    State(queue): State<AiJobQueue>,
    State(llm): State<LlmSettings>,
    caller: CurrentUser,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let user = ai_user(&app.store, &llm, &caller.user_id).await?;
    let message = request.message.trim();
    let length = message.chars().count();
    if length == 0 || length > MAX_CHAT_MESSAGE {
        return Err(
            Violations::one("message", format!("{length} characters; 1 to {MAX_CHAT_MESSAGE} are allowed")).into()
        );
    }
    let conversation_id = match request.conversation_id {
        Some(id) => known_conversation(&app, &caller, &id).await?,
        None => ulid::Ulid::new().to_string(),
    };
    let input = json!({ "conversation_id": conversation_id, "message": message });
    let job = start_job(&app.store, &queue, &user, JobKind::Chat, &input, Utc::now()).await?;
    Ok(accepted(&job))
}

async fn known_conversation(app: &Base, caller: &CurrentUser, id: &str) -> Result<String, ApiError> {
    let unknown = || ApiError::from(Violations::one("conversation_id", "no such conversation"));
    let id = Id::parse(id).ok_or_else(unknown)?;
    let conversation = app.store.ai().conversation(&caller.user_id, &id).await?.ok_or_else(unknown)?;
    Ok(conversation.id)
}

/// The caller's conversations, newest first.
#[utoipa::path(get, path = "/v1/ai/conversations", tag = "ai", params(PageQuery),
    responses((status = 200, description = "A page of conversations", body = Page<ConversationSummary>), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn list(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Page<ConversationSummary>>, ApiError> {
    let page = query.page(CONVERSATIONS, is_id)?;
    let after = page.after.as_deref().map(keys::ai_conversation);
    let (items, more) = app.store.ai().conversations(&caller.user_id, after.as_deref(), page.limit).await?;
    let next = if more { items.last().map(|item| item.id.clone()) } else { None };
    let summaries = items.iter().map(summary).collect();
    Ok(Json(Page::new(summaries, CONVERSATIONS, next.as_deref())))
}

fn summary(item: &ConversationItem) -> ConversationSummary {
    ConversationSummary {
        id: item.id.clone(),
        title: item.title.clone(),
        created_at: item.created_at.clone(),
        updated_at: item.updated_at.clone(),
    }
}

/// A conversation of the caller, with its messages.
#[utoipa::path(get, path = "/v1/ai/conversations/{id}", tag = "ai",
    params(("id" = String, Path, description = "The conversation's id")),
    responses((status = 200, description = "The conversation", body = Conversation), RequestProblems, CallerProblems),
    security(("bearer" = [])))]
pub async fn get(
    State(app): State<Base>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Id>,
) -> Result<Json<Conversation>, ApiError> {
    let item = app.store.ai().conversation(&caller.user_id, &id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Json(Conversation {
        id: item.id.clone(),
        title: item.title.clone(),
        messages: item.messages(),
        created_at: item.created_at.clone(),
        updated_at: item.updated_at.clone(),
    }))
}
