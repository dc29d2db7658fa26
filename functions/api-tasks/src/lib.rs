//! api-tasks: tasks, their notes and attachments, bulk changes, templates and the trash. Each
//! route's handler is in `handlers/<file>.rs`, named in the table below.

mod handlers;

use axum::Router;
use axum::extract::FromRef;
use shared::Base;
use shared::http::{Route, RouteGroup};
use shared::integrations::files::Files;
use shared::settings::Env;
use shared::state::{InitError, SdkConfig};

use handlers::{
    attachments, bulk, create, list, notes, occurrences, reminders, status, subtasks, tasks, templates, trash,
};

/// What api-tasks' handlers use: the base and the files bucket (attachments are presigned uploads
/// and downloads).
#[derive(Clone, FromRef)]
pub struct TasksState {
    pub base: Base,
    pub files: Files,
}

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route<TasksState>> {
    vec![
        Route::get("/v1/tasks", list::list_tasks).with_query(),
        Route::post("/v1/tasks", create::create),
        Route::get("/v1/tasks/{id}", tasks::get),
        Route::patch("/v1/tasks/{id}", tasks::patch),
        Route::delete("/v1/tasks/{id}", tasks::delete),
        Route::post("/v1/tasks/{id}/complete", status::complete),
        Route::post("/v1/tasks/{id}/uncomplete", status::uncomplete),
        Route::post("/v1/tasks/{id}/archive", status::archive),
        Route::post("/v1/tasks/{id}/duplicate", tasks::duplicate),
        Route::post("/v1/tasks/{id}/skip", occurrences::skip),
        Route::get("/v1/tasks/{id}/occurrences", occurrences::list).with_query(),
        Route::get("/v1/tasks/{id}/reminders", reminders::list),
        Route::post("/v1/tasks/{id}/reminders", reminders::create),
        Route::delete("/v1/tasks/{id}/reminders/{rem_id}", reminders::delete),
        Route::get("/v1/tasks/{id}/subtasks", subtasks::list),
        Route::post("/v1/tasks/{id}/subtasks", subtasks::create),
        Route::get("/v1/tasks/{id}/notes", notes::list),
        Route::post("/v1/tasks/{id}/notes", notes::create),
        Route::patch("/v1/tasks/{id}/notes/{note_id}", notes::edit),
        Route::delete("/v1/tasks/{id}/notes/{note_id}", notes::delete),
        Route::get("/v1/tasks/{id}/attachments", attachments::list),
        Route::post("/v1/tasks/{id}/attachments", attachments::create),
        Route::delete("/v1/tasks/{id}/attachments/{att_id}", attachments::delete),
        Route::post("/v1/tasks/bulk", bulk::bulk),
        Route::get("/v1/templates", templates::list).with_query(),
        Route::post("/v1/templates", templates::create),
        Route::delete("/v1/templates/{id}", templates::delete),
        Route::get("/v1/trash", trash::list).with_query(),
        Route::post("/v1/trash/{id}/restore", trash::restore),
    ]
}

/// Built once per cold start, by Lambda's main and the local gateway alike.
pub async fn state(env: &Env, sdk: &SdkConfig) -> Result<TasksState, InitError> {
    Ok(TasksState { base: Base::from_env(env, sdk).await?, files: Files::from_env(env, sdk)? })
}

pub fn route_group(state: TasksState) -> RouteGroup {
    RouteGroup::new(routes(), state)
}

/// This function's part of the OpenAPI document (infra/local merges every function's).
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list::list_tasks,
    create::create,
    tasks::get,
    tasks::patch,
    tasks::delete,
    status::complete,
    status::uncomplete,
    status::archive,
    tasks::duplicate,
    occurrences::skip,
    occurrences::list,
    reminders::list,
    reminders::create,
    reminders::delete,
    subtasks::list,
    subtasks::create,
    notes::list,
    notes::create,
    notes::edit,
    notes::delete,
    attachments::list,
    attachments::create,
    attachments::delete,
    bulk::bulk,
    templates::list,
    templates::create,
    templates::delete,
    trash::list,
    trash::restore,
))]
pub struct ApiDoc;

pub fn router(state: TasksState) -> Router {
    route_group(state).router()
}
