//! Task templates: a saved task with its subtasks, to start new tasks from. A template's task and
//! subtasks are checked by the task's own rules (`Task::apply`), so a template holds only what
//! would make valid tasks, normalised the same way (trimmed title, labels, category).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Violations;
use super::task::{Priority, Task, TaskFields};

pub const NAME_MAX: usize = 100;
pub const SUBTASKS_MAX: usize = 50;
/// A template is one DynamoDB item (at most 400 KB): its JSON form stays under this.
pub const SIZE_MAX: usize = 300 * 1024;

/// The task a template makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateTask {
    pub title: String,
    pub description: Option<String>,
    pub priority: Priority,
    pub estimate_minutes: Option<u32>,
    pub labels: Vec<String>,
    pub category: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub recurrence: Option<serde_json::Value>,
}

/// A subtask a template makes under its task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TemplateSubtask {
    pub title: String,
    pub description: Option<String>,
    pub priority: Priority,
    pub estimate_minutes: Option<u32>,
    pub labels: Vec<String>,
}

/// A template as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub task: TemplateTask,
    pub subtasks: Vec<TemplateSubtask>,
    pub version: u64,
    pub created_at: DateTime<Utc>,
}

/// The task of a template written out in a request. Absent fields take a new task's defaults.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateTaskInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub estimate_minutes: Option<u32>,
    pub labels: Option<Vec<String>>,
    pub category: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub recurrence: Option<serde_json::Value>,
}

/// A subtask of a template written out in a request.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSubtaskInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub priority: Option<Priority>,
    pub estimate_minutes: Option<u32>,
    pub labels: Option<Vec<String>>,
}

impl TemplateTaskInput {
    pub fn fields(&self) -> TaskFields {
        TaskFields {
            title: Some(self.title.clone()),
            description: Some(self.description.clone()),
            priority: Some(Some(self.priority.unwrap_or_default())),
            estimate_minutes: Some(self.estimate_minutes),
            labels: Some(self.labels.clone()),
            category: Some(self.category.clone()),
            recurrence: Some(self.recurrence.clone()),
            ..TaskFields::default()
        }
    }
}

impl TemplateSubtaskInput {
    pub fn fields(&self) -> TaskFields {
        TemplateTaskInput {
            title: self.title.clone(),
            description: self.description.clone(),
            priority: self.priority,
            estimate_minutes: self.estimate_minutes,
            labels: self.labels.clone(),
            category: None,
            recurrence: None,
        }
        .fields()
    }
}

impl TemplateTask {
    /// What a template keeps of an existing task.
    pub fn from_task(task: &Task) -> Self {
        TemplateTask {
            title: task.title.clone(),
            description: task.description.clone(),
            priority: task.priority,
            estimate_minutes: task.estimate_minutes,
            labels: task.labels.clone(),
            category: task.category.clone(),
            recurrence: task.recurrence.clone(),
        }
    }

    /// The fields a new task starts from.
    pub fn fields(&self) -> TaskFields {
        TaskFields {
            title: Some(Some(self.title.clone())),
            description: Some(self.description.clone()),
            priority: Some(Some(self.priority)),
            estimate_minutes: Some(self.estimate_minutes),
            labels: Some(Some(self.labels.clone())),
            category: Some(self.category.clone()),
            recurrence: Some(self.recurrence.clone()),
            ..TaskFields::default()
        }
    }
}

impl TemplateSubtask {
    /// What a template keeps of an existing subtask: the task's part, less category and repetition.
    pub fn from_task(task: &Task) -> Self {
        let TemplateTask { title, description, priority, estimate_minutes, labels, .. } = TemplateTask::from_task(task);
        TemplateSubtask { title, description, priority, estimate_minutes, labels }
    }

    pub fn fields(&self) -> TaskFields {
        TemplateTask {
            title: self.title.clone(),
            description: self.description.clone(),
            priority: self.priority,
            estimate_minutes: self.estimate_minutes,
            labels: self.labels.clone(),
            category: None,
            recurrence: None,
        }
        .fields()
    }
}

/// Applies `fields` to a new task by the task's rules; violations are named under `prefix`
/// (`task.title`, `subtasks[2].labels[0]`).
pub fn new_task(id: String, fields: &TaskFields, now: DateTime<Utc>, prefix: &str) -> Result<Task, Violations> {
    Task::new(id, now)
        .apply(fields, now)
        .map(|(task, _)| Task { version: 1, updated_at: now, ..task })
        .map_err(|violations| prefixed(violations, prefix))
}

/// The same violations with every field named under `prefix`.
pub fn prefixed(violations: Violations, prefix: &str) -> Violations {
    let mut renamed = Violations::new();
    for (field, message) in violations.into_vec() {
        renamed.add(format!("{prefix}{field}"), message);
    }
    renamed
}

/// Checks a template to be saved and returns it normalised: the name (1 to 100 characters), the
/// task and each subtask (the task's rules), at most 50 subtasks, and its size. Every violation
/// is named: `name`, `task.<field>`, `subtasks`, `subtasks[<i>].<field>`.
pub fn build(
    id: String,
    name: Option<&str>,
    task: &TaskFields,
    subtasks: &[TaskFields],
    now: DateTime<Utc>,
) -> Result<Template, Violations> {
    let mut violations = Violations::new();
    let name = name.unwrap_or_default().trim().to_string();
    let name_chars = name.chars().count();
    if name_chars == 0 {
        violations.add("name", "is required");
    } else if name_chars > NAME_MAX {
        violations.add("name", format!("must be at most {NAME_MAX} characters"));
    }
    let task = new_task(String::new(), task, now, "task.").map_err(|problems| collect(&mut violations, problems));
    if subtasks.len() > SUBTASKS_MAX {
        violations.add("subtasks", format!("must have at most {SUBTASKS_MAX} subtasks"));
    }
    let mut kept = Vec::with_capacity(subtasks.len());
    for (index, fields) in subtasks.iter().enumerate() {
        match new_task(String::new(), fields, now, &format!("subtasks[{index}].")) {
            Ok(subtask) => kept.push(TemplateSubtask::from_task(&subtask)),
            Err(problems) => collect(&mut violations, problems),
        }
    }
    let Ok(task) = task else {
        return Err(violations);
    };
    let template =
        Template { id, name, task: TemplateTask::from_task(&task), subtasks: kept, version: 1, created_at: now };
    if !violations.is_empty() {
        return Err(violations);
    }
    let size = serde_json::to_vec(&template).map(|json| json.len()).unwrap_or(usize::MAX);
    if size > SIZE_MAX {
        let field = if template.subtasks.is_empty() { "task" } else { "subtasks" };
        violations
            .add(field, format!("the template is too large ({} KB, at most {} KB)", size / 1024, SIZE_MAX / 1024));
    }
    violations.finish(template)
}

fn collect(into: &mut Violations, problems: Violations) {
    for (field, message) in problems.into_vec() {
        into.add(field, message);
    }
}

impl super::Versioned for Template {
    const KIND: &'static str = "template";

    fn version(&self) -> u64 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: serde_json::Value) -> TaskFields {
        serde_json::from_value::<TemplateTaskInput>(json).unwrap().fields()
    }

    fn names(violations: Violations) -> Vec<String> {
        let mut names: Vec<String> = violations.into_vec().into_iter().map(|(field, _)| field).collect();
        names.sort();
        names
    }

    #[test]
    fn a_valid_template_is_normalised_like_a_task() {
        let task =
            fields(serde_json::json!({"title": "  Weekly review ", "labels": [" work "], "estimate_minutes": 30}));
        let subtask = fields(serde_json::json!({"title": "Inbox zero", "priority": "high"}));
        let template = build("t".into(), Some(" Review "), &task, &[subtask], Utc::now()).unwrap();
        assert_eq!(template.name, "Review");
        assert_eq!(template.task.title, "Weekly review");
        assert_eq!(template.task.labels, ["work"]);
        assert_eq!(template.task.priority, Priority::Medium);
        assert_eq!(template.subtasks[0].priority, Priority::High);
        assert_eq!(template.version, 1);
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let task = fields(serde_json::json!({"title": "", "estimate_minutes": 0}));
        let subtasks = vec![
            fields(serde_json::json!({"title": "ok"})),
            fields(serde_json::json!({"title": "x", "labels": ["x".repeat(51)]})),
        ];
        let error = build("t".into(), Some(&"n".repeat(101)), &task, &subtasks, Utc::now()).unwrap_err();
        assert_eq!(names(error), ["name", "subtasks[1].labels[0]", "task.estimate_minutes", "task.title"]);
        let too_many = vec![fields(serde_json::json!({"title": "s"})); SUBTASKS_MAX + 1];
        let error = build("t".into(), None, &fields(serde_json::json!({"title": "t"})), &too_many, Utc::now());
        assert_eq!(names(error.unwrap_err()), ["name", "subtasks"]);
    }

    #[test]
    fn a_template_too_large_for_one_item_is_refused() {
        let long = serde_json::json!({"title": "s", "description": "d".repeat(10_000)});
        let subtasks = vec![fields(long); SUBTASKS_MAX];
        let error = build("t".into(), Some("big"), &fields(serde_json::json!({"title": "t"})), &subtasks, Utc::now());
        assert_eq!(names(error.unwrap_err()), ["subtasks"]);
    }

    #[test]
    fn a_template_gives_back_the_fields_it_was_made_from() {
        let task = fields(serde_json::json!({"title": "T", "description": "d", "category": "c", "labels": ["a"]}));
        let template = build("t".into(), Some("n"), &task, &[], Utc::now()).unwrap();
        let again = new_task("x".into(), &template.task.fields(), Utc::now(), "").unwrap();
        assert_eq!(TemplateTask::from_task(&again), template.task);
    }
}
