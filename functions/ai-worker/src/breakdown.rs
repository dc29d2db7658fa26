//! A breakdown job: the model proposes 3-10 steps of a task (structured output against
//! `domain::ai::breakdown_schema`), `validate_breakdown` holds them to the rules (asked once more
//! with the rules broken, then the job fails), and they become the task's subtasks in one
//! transaction. Their ids derive from the job's, so a run after a crash, or a duplicate message,
//! finds them made and makes nothing twice.

use chrono::Utc;
use serde_json::{Value, json};
use shared::domain::ai::{
    BREAKDOWN_SYSTEM, JobKind, MAX_SUBTASKS, ProposedSubtask, breakdown_prompt, breakdown_schema, derived_id,
    validate_breakdown,
};
use shared::domain::plan::limits;
use shared::domain::task::{Task, TaskFields};
use shared::integrations::llm::{JsonRequest, LanguageModel, Message};
use shared::store::ai::{JobItem, JobUsage};
use shared::store::tasks::SubtasksCreated;
use shared::store::{Store, Tenant, WriteError};

use crate::{Made, RunError};

/// Answers asked for: the first, and one more with the rules it broke.
const ASKS: usize = 2;

pub async fn run(store: &Store, model: &dyn LanguageModel, job: &JobItem) -> Result<Made, RunError> {
    let tenant = Tenant::user(&job.user_id);
    let input = job.input_value();
    let task_id = input["task_id"].as_str().unwrap_or_default();
    let Some(task) = store.tasks().get_task(&tenant, task_id).await? else {
        return Err(fail("task_gone", "the task was deleted before it was broken down", JobUsage::default()));
    };
    let ids: Vec<String> = (0..MAX_SUBTASKS).filter_map(|index| derived_id(&job.id, index)).collect();
    if let Some(made) = made_before(store, &tenant, &task, &ids).await? {
        return Ok(made);
    }
    let user = store.accounts().get_user(&job.user_id).await?;
    let plan = limits(user.map(|user| user.tier).unwrap_or_default());
    let (steps, usage) = ask(model, &task).await?;
    let subtasks = new_subtasks(&task, &steps, &ids)?;
    match store.tasks().create_subtasks(&tenant, &task.id, &subtasks, plan).await {
        Ok(SubtasksCreated::Now | SubtasksCreated::Before) => Ok(made(&task, &subtasks, usage)),
        Err(WriteError::NotFound) => Err(fail("task_gone", "the task was deleted before it was broken down", usage)),
        Err(WriteError::LimitReached(reached)) => Err(fail("limit_reached", &reached.detail(), usage)),
        Err(WriteError::Store(error)) => Err(error.into()),
        Err(other) => Err(fail("not_created", &other.to_string(), usage)),
    }
}

fn fail(code: &'static str, detail: &str, usage: JobUsage) -> RunError {
    RunError::Fail { code, detail: detail.to_string(), usage }
}

/// The subtasks an earlier run of this job made, if it got that far.
async fn made_before(store: &Store, tenant: &Tenant, task: &Task, ids: &[String]) -> Result<Option<Made>, RunError> {
    let existing = store.tasks().live_tasks(tenant, ids).await?;
    if existing.is_empty() {
        return Ok(None);
    }
    Ok(Some(made(task, &existing, JobUsage::default())))
}

/// Asks the model until an answer holds to the rules (at most `ASKS` times).
async fn ask(model: &dyn LanguageModel, task: &Task) -> Result<(Vec<ProposedSubtask>, JobUsage), RunError> {
    let prompt = breakdown_prompt(&task.title, task.description.as_deref(), task.estimate_minutes);
    let mut messages = vec![Message::user(prompt)];
    let mut usage = JobUsage::default();
    for asked in 1..=ASKS {
        let request = JsonRequest {
            system: BREAKDOWN_SYSTEM.to_string(),
            messages: messages.clone(),
            max_tokens: JobKind::Breakdown.max_answer_tokens(),
            schema_name: "breakdown".into(),
            schema: breakdown_schema(),
        };
        let answer = match model.complete_json(&request).await {
            Ok(answer) => answer,
            Err(error) if asked < ASKS && matches!(error, shared::integrations::llm::LlmError::Malformed(_)) => {
                messages.push(Message::assistant("(no valid JSON)"));
                messages.push(Message::user("Answer with JSON that matches the schema, and nothing else."));
                continue;
            }
            Err(error) => return Err(RunError::of_model(error, usage)),
        };
        usage.input_tokens += u64::from(answer.usage.input_tokens);
        usage.output_tokens += u64::from(answer.usage.output_tokens);
        usage.model = Some(answer.model.clone());
        match validate_breakdown(&answer.value, &task.title, task.estimate_minutes) {
            Ok(steps) => return Ok((steps, usage)),
            Err(violations) if asked < ASKS => {
                let broken: Vec<String> =
                    violations.into_vec().into_iter().map(|(field, message)| format!("{field}: {message}")).collect();
                messages.push(Message::assistant(answer.value.to_string()));
                messages.push(Message::user(format!("That breaks these rules; answer again:\n{}", broken.join("\n"))));
            }
            Err(violations) => {
                let fields: Vec<String> = violations.into_vec().into_iter().map(|(field, _)| field).collect();
                tracing::warn!(?fields, "a breakdown broke the rules twice");
                return Err(fail("invalid_answer", "the model's steps broke the rules twice", usage));
            }
        }
    }
    Err(fail("invalid_answer", "the model gave no usable answer", usage))
}

/// The steps as subtasks of `task`, with the job's derived ids and the task's priority.
fn new_subtasks(task: &Task, steps: &[ProposedSubtask], ids: &[String]) -> Result<Vec<Task>, RunError> {
    let now = Utc::now();
    steps
        .iter()
        .zip(ids)
        .map(|(step, id)| {
            let fields = TaskFields {
                title: Some(Some(step.title.clone())),
                estimate_minutes: Some(Some(step.estimate_minutes)),
                priority: Some(Some(task.priority)),
                ..TaskFields::default()
            };
            let (subtask, _) = Task::new(id.clone(), now).apply(&fields, now).map_err(|violations| {
                fail("invalid_answer", &format!("a step is not a valid task: {violations:?}"), JobUsage::default())
            })?;
            Ok(Task { version: 1, updated_at: now, parent_id: Some(task.id.clone()), ..subtask })
        })
        .collect()
}

/// The job's result: the task and the subtasks made.
fn made(task: &Task, subtasks: &[Task], usage: JobUsage) -> Made {
    let steps: Vec<Value> = subtasks
        .iter()
        .map(
            |subtask| json!({ "id": subtask.id, "title": subtask.title, "estimate_minutes": subtask.estimate_minutes }),
        )
        .collect();
    let total: u32 = subtasks.iter().filter_map(|subtask| subtask.estimate_minutes).sum();
    let notice = (
        format!("\"{}\" is broken down", shorten(&task.title)),
        format!("{} steps, about {total} minutes in all.", steps.len()),
    );
    Made { result: json!({ "task_id": task.id, "subtasks": steps }), usage, notice }
}

fn shorten(title: &str) -> String {
    match title.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &title[..cut]),
        None => title.to_string(),
    }
}
