//! The integration suite: every test gets its own local stack in this process's emulator.

mod account;
mod auth;
mod google;
mod http_contract;
mod idempotency;
mod notifications;
mod parity;
mod passwords;
mod round_trips;
mod subtasks;
mod tasks;
mod tokens;
