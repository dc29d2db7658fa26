pub mod profile;
pub mod sessions;
