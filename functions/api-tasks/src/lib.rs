//! api-tasks: tasks, their notes and attachments, bulk changes, templates and the trash. Each
//! route's handler is in `handlers/<file>.rs`, named in the table below.

mod handlers;

use axum::Router;
use shared::AppState;
use shared::config::Config;
use shared::context::{AppContext, InitError, SdkConfig};
use shared::http::{Route, build_router};

use handlers::{attachments, bulk, list, notes, occurrences, reminders, status, subtasks, tasks, templates, trash};

/// Every route this function serves (template.yaml declares the same list).
pub fn routes() -> Vec<Route> {
    vec![
        Route::get("/v1/tasks", list::list_tasks),
        Route::post("/v1/tasks", tasks::create),
        Route::get("/v1/tasks/{id}", tasks::get),
        Route::patch("/v1/tasks/{id}", tasks::patch),
        Route::delete("/v1/tasks/{id}", tasks::delete),
        Route::post("/v1/tasks/{id}/complete", status::complete),
        Route::post("/v1/tasks/{id}/uncomplete", status::uncomplete),
        Route::post("/v1/tasks/{id}/archive", status::archive),
        Route::post("/v1/tasks/{id}/duplicate", tasks::duplicate),
        Route::post("/v1/tasks/{id}/skip", occurrences::skip),
        Route::get("/v1/tasks/{id}/occurrences", occurrences::list),
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
        Route::get("/v1/templates", templates::list),
        Route::post("/v1/templates", templates::create),
        Route::delete("/v1/templates/{id}", templates::delete),
        Route::get("/v1/trash", trash::list),
        Route::post("/v1/trash/{id}/restore", trash::restore),
    ]
}

/// This function's context: the base plus only the outbound clients its handlers use (Lambda's
/// main and the local gateway both build it here, so a client left out is not linked at all).
pub async fn context(config: Config, sdk: &SdkConfig) -> Result<AppState, InitError> {
    // Attachments are presigned S3 uploads and downloads.
    Ok(AppContext::base(config, sdk).await?.with_s3(sdk).into_state())
}

pub fn router(state: AppState) -> Router {
    build_router(routes(), state)
}
