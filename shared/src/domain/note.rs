//! Notes on a task: a body of plain text, versioned like the task.

use serde::{Deserialize, Serialize};

/// The longest body, in characters.
pub const NOTE_MAX: usize = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Note {
    pub id: String,
    pub task_id: String,
    pub body: String,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// A note's body: 1 to 10,000 characters.
pub fn validate_body(body: &str) -> Result<(), String> {
    let chars = body.trim().chars().count();
    if chars == 0 {
        Err("is required".into())
    } else if chars > NOTE_MAX {
        Err(format!("must be at most {NOTE_MAX} characters"))
    } else {
        Ok(())
    }
}

impl super::Versioned for Note {
    const KIND: &'static str = "note";

    fn version(&self) -> u64 {
        self.version
    }
}
