pub mod activity;
pub mod profile;
pub mod push_tokens;
pub mod sessions;
