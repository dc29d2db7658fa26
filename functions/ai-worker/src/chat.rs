//! A chat job: the model answers the user's message with their open tasks and today's plan as
//! context, and as much of the conversation as the tier's context budget holds (newest first).
//! The message and the reply are added to the conversation together, once per job.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;
use shared::domain::account::Tier;
use shared::domain::ai::{CHAT_SYSTEM, JobKind, chat_context_tokens, validate_reply};
use shared::domain::task::{Status, Task};
use shared::integrations::llm::{LanguageModel, Message, Role, TextRequest, estimate_tokens};
use shared::store::ai::{ChatMessage, JobItem, JobUsage};
use shared::store::tasks::{TaskFilter, TaskSort};
use shared::store::{Store, Tenant};

use crate::{Made, RunError};

/// Open tasks shown to the model at most (soonest due first).
const CONTEXT_TASKS: usize = 50;

pub async fn run(store: &Store, model: &dyn LanguageModel, job: &JobItem) -> Result<Made, RunError> {
    let input = job.input_value();
    let conversation_id = input["conversation_id"].as_str().unwrap_or_default().to_string();
    let question = input["message"].as_str().unwrap_or_default().to_string();
    let stored = store.ai().conversation(&job.user_id, &conversation_id).await?;
    if let Some(reply) = stored.as_ref().and_then(|item| reply_of(&item.messages(), &job.id)) {
        return Ok(made(&conversation_id, &reply, JobUsage::default()));
    }
    let user = store.accounts().get_user(&job.user_id).await?;
    let (tier, zone) =
        user.map_or((Tier::Free, chrono_tz::UTC), |user| (user.tier, user.timezone.parse().unwrap_or(chrono_tz::UTC)));
    let budget = chat_context_tokens(tier).saturating_sub(JobKind::Chat.max_answer_tokens());
    // The tasks and the plan take at most half the budget; the conversation and the question
    // the rest (the system prompt's own words are few).
    let context = context(store, &job.user_id, zone, Utc::now(), budget / 2).await?;
    let system = format!("{CHAT_SYSTEM}\n\n{context}");
    let history = stored.map(|item| item.messages()).unwrap_or_default();
    let messages = fitting(&system, &history, &question, budget);
    let request =
        TextRequest { system, messages, max_tokens: JobKind::Chat.max_answer_tokens(), temperature: Some(0.4) };
    let answer = model.complete_text(&request).await.map_err(|error| RunError::of_model(error, JobUsage::default()))?;
    let usage = JobUsage {
        input_tokens: u64::from(answer.usage.input_tokens),
        output_tokens: u64::from(answer.usage.output_tokens),
        model: Some(answer.model.clone()),
    };
    let reply = validate_reply(&answer.text).map_err(|detail| RunError::Fail {
        code: "invalid_answer",
        detail,
        usage: usage.clone(),
    })?;
    store.ai().add_exchange(&job.user_id, &conversation_id, &job.id, (&question, &reply)).await?;
    Ok(made(&conversation_id, &reply, usage))
}

/// The reply a job added before (a run after a crash, a duplicate message).
fn reply_of(messages: &[ChatMessage], job_id: &str) -> Option<String> {
    messages.iter().find(|message| message.job_id == job_id && message.role == "assistant").map(|m| m.text.clone())
}

fn made(conversation_id: &str, reply: &str, usage: JobUsage) -> Made {
    let preview: String = reply.chars().take(140).collect();
    Made {
        result: json!({ "conversation_id": conversation_id, "reply": reply }),
        usage,
        notice: ("Your assistant answered".into(), preview),
    }
}

/// The user's open tasks and today's plan, as lines the model reads, within `budget` tokens:
/// the plan first, then the tasks soonest due, then how many more there are.
async fn context(store: &Store, user_id: &str, zone: Tz, now: DateTime<Utc>, budget: u32) -> Result<String, RunError> {
    let tenant = Tenant::user(user_id);
    let filter = TaskFilter { statuses: vec![Status::Todo, Status::InProgress], ..TaskFilter::default() };
    let page = store.tasks().list_tasks(&tenant, &filter, TaskSort::Due, None, CONTEXT_TASKS).await?;
    let local = |at: DateTime<Utc>| at.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string();
    let tasks: Vec<String> = page
        .items
        .iter()
        .map(|task: &Task| {
            let due = task.due_at.map(local).or_else(|| task.due_date.map(|date| date.to_string()));
            format!(
                "- {} (priority {}, due {})",
                task.title,
                task.priority.as_str(),
                due.unwrap_or_else(|| "none".into())
            )
        })
        .collect();
    let today = now.with_timezone(&zone).date_naive().to_string();
    let plan = store.planning().get_day(user_id, &today).await?;
    let blocks = match plan {
        Some(day) => day.focus_blocks()?,
        None => Vec::new(),
    };
    let time = |at: DateTime<Utc>| at.with_timezone(&zone).format("%H:%M").to_string();
    let planned: Vec<String> = blocks
        .iter()
        .map(|block| format!("- {}-{} {}", time(block.start_at), time(block.end_at), block.title))
        .collect();
    let head = format!("Now: {} ({zone}).", local(now));
    let mut left = budget.saturating_sub(estimate_tokens(&head) + 20);
    let planned = within(planned, &mut left);
    let tasks = within(tasks, &mut left);
    Ok(format!("{head}\nToday's accepted plan:\n{planned}\nOpen tasks:\n{tasks}"))
}

/// As many of `lines` as `left` tokens hold, in order, then a line saying how many did not fit.
fn within(lines: Vec<String>, left: &mut u32) -> String {
    if lines.is_empty() {
        return "(none)".into();
    }
    let total = lines.len();
    let mut kept = Vec::new();
    for line in lines {
        let cost = estimate_tokens(&line) + 1;
        if cost > *left {
            break;
        }
        *left -= cost;
        kept.push(line);
    }
    if kept.len() < total {
        kept.push(format!("- ... and {} more", total - kept.len()));
    }
    kept.join("\n")
}

/// The history that fits `budget` with the system prompt and the new message (newest kept),
/// starting with a user's message, then the new one.
fn fitting(system: &str, history: &[ChatMessage], question: &str, budget: u32) -> Vec<Message> {
    let mut left = budget.saturating_sub(estimate_tokens(system) + estimate_tokens(question));
    let mut kept: Vec<&ChatMessage> = Vec::new();
    for message in history.iter().rev() {
        let cost = estimate_tokens(&message.text);
        if cost > left {
            break;
        }
        left -= cost;
        kept.push(message);
    }
    kept.reverse();
    while kept.first().is_some_and(|message| message.role != "user") {
        kept.remove(0);
    }
    let mut messages: Vec<Message> = kept
        .into_iter()
        .map(|message| Message {
            role: if message.role == "user" { Role::User } else { Role::Assistant },
            text: message.text.clone(),
        })
        .collect();
    messages.push(Message::user(question));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_keeps_what_its_budget_holds_and_says_how_much_is_left_out() {
        let lines: Vec<String> = (0..50).map(|n| format!("- task {n} {}", "x".repeat(400))).collect();
        let mut left = 1_000;
        let text = within(lines, &mut left);
        assert!(estimate_tokens(&text) <= 1_000 + 10, "{}", estimate_tokens(&text));
        assert!(text.starts_with("- task 0 ") && text.ends_with("more"), "{text}");
        let mut plenty = 10_000;
        assert_eq!(within(vec!["- a".into(), "- b".into()], &mut plenty), "- a\n- b");
        assert_eq!(within(Vec::new(), &mut plenty), "(none)");
    }
}
