//! Flowday's domain crate. Every function crate depends on it.
//!
//! - `domain`: types and rules, pure (no I/O): account rules, validation.
//! - `auth`: access tokens (RS256 JWT), password hashing, opaque one-time tokens.
//! - `store`: the single DynamoDB table: key formats (`store::keys`), items, repositories.
//! - `http`: axum plumbing shared by route groups: problem+json, JSON extraction, auth, layers.
//! - `integrations`: outbound clients behind traits (email, Google sign-in).
//! - `settings` / `state`: typed settings per capability, and what a function builds once per
//!   cold start (the HTTP functions' `Base`; each function crate adds its own clients).

pub mod auth;
pub mod domain;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;

pub use state::Base;
