//! The integration suite: every test gets its own local stack in this process's emulator.

mod account;
mod auth;
mod calendar;
mod calendar_feed;
mod calendar_providers;
mod calendar_sync;
mod google;
mod http_contract;
mod idempotency;
mod local_triggers;
mod notifications;
mod openapi;
mod parity;
mod passwords;
mod pipeline;
mod rate_limits;
mod recurrence;
mod reminders;
mod round_trips;
mod subtasks;
mod takeover;
mod task_limits;
mod tasks;
mod templates;
mod tokens;
