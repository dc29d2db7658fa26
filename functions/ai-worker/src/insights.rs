//! An insights job: the week's figures are computed here from the user's tasks and accepted
//! plans (tasks completed, how many on time, tasks overdue now, focus minutes planned and
//! accepted), and the model only writes a narrative around them. A narrative stating any
//! number that is not one of the figures is asked for once more, then the job fails.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use shared::domain::ai::{INSIGHTS_SYSTEM, JobKind, validate_insights};
use shared::domain::task::{Status, Task};
use shared::integrations::llm::{LanguageModel, Message, TextRequest};
use shared::store::ai::{JobItem, JobUsage};
use shared::store::tasks::{TaskFilter, TaskSort};
use shared::store::{Store, Tenant};

use crate::{Made, RunError};

/// Tasks read per status at most (a week's activity of one person fits easily).
const MAX_TASKS: usize = 1_000;
const ASKS: usize = 2;

/// The week's figures: what the narrative may state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub completed: u64,
    pub completed_on_time: u64,
    pub on_time_percent: u64,
    pub overdue_now: u64,
    pub focus_minutes: u64,
    pub planned_days: u64,
}

impl Figures {
    /// What the narrative may state: the figures, and the parts of the week's dates.
    fn numbers(&self) -> Vec<u64> {
        use chrono::Datelike;
        let dates = [self.from, self.to].into_iter().flat_map(|date| [date.day(), date.month(), date.year() as u32]);
        let mut numbers = vec![
            self.completed,
            self.completed_on_time,
            self.on_time_percent,
            self.overdue_now,
            self.focus_minutes,
            self.focus_minutes / 60,
            self.planned_days,
        ];
        numbers.extend(dates.map(u64::from));
        numbers
    }

    fn json(&self) -> Value {
        json!({
            "from": self.from.to_string(), "to": self.to.to_string(),
            "tasks_completed": self.completed, "completed_on_time": self.completed_on_time,
            "on_time_percent": self.on_time_percent, "overdue_now": self.overdue_now,
            "focus_minutes_planned": self.focus_minutes, "days_with_an_accepted_plan": self.planned_days,
        })
    }
}

pub async fn run(store: &Store, model: &dyn LanguageModel, job: &JobItem) -> Result<Made, RunError> {
    let user = store.accounts().get_user(&job.user_id).await?;
    let zone: Tz = user.and_then(|user| user.timezone.parse().ok()).unwrap_or(chrono_tz::UTC);
    let figures = figures(store, &job.user_id, zone, Utc::now()).await?;
    let mut messages = vec![Message::user(format!("My week's figures:\n{}", figures.json()))];
    let mut usage = JobUsage::default();
    for asked in 1..=ASKS {
        let request = TextRequest {
            system: INSIGHTS_SYSTEM.into(),
            messages: messages.clone(),
            max_tokens: JobKind::Insights.max_answer_tokens(),
            temperature: Some(0.3),
        };
        let answer = model.complete_text(&request).await.map_err(|error| RunError::of_model(error, usage.clone()))?;
        usage.input_tokens += u64::from(answer.usage.input_tokens);
        usage.output_tokens += u64::from(answer.usage.output_tokens);
        usage.model = Some(answer.model.clone());
        match validate_insights(&answer.text, &figures.numbers()) {
            Ok(narrative) => {
                let result = json!({ "figures": figures.json(), "narrative": narrative });
                let notice = ("Your weekly review is ready".to_string(), narrative.chars().take(140).collect());
                return Ok(Made { result, usage, notice });
            }
            Err(invented) if asked < ASKS => {
                messages.push(Message::assistant(answer.text));
                messages.push(Message::user(format!(
                    "These numbers are not in my figures: {}. Write it again with only my figures.",
                    invented.join(", ")
                )));
            }
            Err(invented) => {
                let detail = format!("the narrative stated numbers that are not the week's: {}", invented.join(", "));
                return Err(RunError::Fail { code: "invalid_answer", detail, usage });
            }
        }
    }
    Err(RunError::Fail { code: "invalid_answer", detail: "no usable narrative".into(), usage })
}

/// The figures of the 7 days up to today in `zone`.
pub async fn figures(store: &Store, user_id: &str, zone: Tz, now: DateTime<Utc>) -> Result<Figures, RunError> {
    let to = now.with_timezone(&zone).date_naive();
    let from = to - Duration::days(6);
    let start =
        zone.from_local_datetime(&from.and_time(NaiveTime::MIN)).earliest().map_or(now, |at| at.with_timezone(&Utc));
    let tenant = Tenant::user(user_id);
    let done = tasks_of(store, &tenant, vec![Status::Done]).await?;
    let completed: Vec<&Task> =
        done.iter().filter(|task| task.completed_at.is_some_and(|at| at >= start && at <= now)).collect();
    let on_time = completed.iter().filter(|task| match (task.completed_at, due_instant(task, zone)) {
        (Some(at), Some(due)) => at <= due,
        (Some(_), None) => true,
        _ => false,
    });
    let completed_on_time = on_time.count() as u64;
    let open = tasks_of(store, &tenant, vec![Status::Todo, Status::InProgress]).await?;
    let overdue_now = open.iter().filter(|task| due_instant(task, zone).is_some_and(|due| due < now)).count() as u64;
    let last = shared::store::keys::plan_day(&to.to_string());
    let mut days = store.planning().accepted_days_since(user_id, &from.to_string()).await?;
    days.retain(|day| day.sk <= last);
    let mut focus_minutes = 0;
    for day in &days {
        focus_minutes += day
            .focus_blocks()?
            .iter()
            .map(|block| (block.end_at - block.start_at).num_minutes().max(0) as u64)
            .sum::<u64>();
    }
    let completed_count = completed.len() as u64;
    Ok(Figures {
        from,
        to,
        completed: completed_count,
        completed_on_time,
        on_time_percent: (completed_on_time * 100).checked_div(completed_count).unwrap_or(0),
        overdue_now,
        focus_minutes,
        planned_days: days.len() as u64,
    })
}

/// When a task is due: its instant, or the end of its due day in `zone`.
fn due_instant(task: &Task, zone: Tz) -> Option<DateTime<Utc>> {
    task.due_at.or_else(|| {
        let next_day = task.due_date?.succ_opt()?.and_time(NaiveTime::MIN);
        zone.from_local_datetime(&next_day).earliest().map(|at| at.with_timezone(&Utc))
    })
}

async fn tasks_of(store: &Store, tenant: &Tenant, statuses: Vec<Status>) -> Result<Vec<Task>, RunError> {
    let filter = TaskFilter { statuses, ..TaskFilter::default() };
    let mut tasks = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.tasks().list_tasks(tenant, &filter, TaskSort::default(), after.as_deref(), 200).await?;
        tasks.extend(page.items);
        match page.next {
            Some(next) if tasks.len() < MAX_TASKS => after = Some(next),
            _ => return Ok(tasks),
        }
    }
}
