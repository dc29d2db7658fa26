//! Flowday's domain crate. Every function crate depends on it.
//!
//! - `domain`: types and rules, pure (no I/O): account rules, validation.
//! - `auth`: access tokens (RS256 JWT), password hashing, opaque one-time tokens.
//! - `store`: the single DynamoDB table: key formats (`store::keys`), items, repositories.
//! - `http`: axum plumbing shared by route groups: problem+json, JSON extraction, auth, layers.
//! - `integrations`: outbound clients behind traits (email, Google sign-in).
//! - `config` / `context`: typed settings and the per-cold-start application context.

pub mod auth;
pub mod config;
pub mod context;
pub mod domain;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod store;
pub mod telemetry;

pub use context::{AppContext, AppState};
