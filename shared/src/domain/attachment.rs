//! Files attached to a task: the record and the rules a new attachment must meet. The file itself
//! is an S3 object (see `store::attachments::object_key`).

use serde::{Deserialize, Serialize};

/// Largest attachment: 25 MB.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Attachment {
    pub id: String,
    pub task_id: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// The S3 key of the file.
    pub object_key: String,
    pub created_at: String,
}

/// A file name: 1 to 255 characters, no path separators or control characters.
pub fn validate_filename(name: &str) -> Result<(), String> {
    let chars = name.chars().count();
    if chars == 0 || chars > 255 {
        return Err("must be 1 to 255 characters".into());
    }
    if name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        return Err("must not contain slashes or control characters".into());
    }
    Ok(())
}

/// A media type such as `image/png` or `application/pdf`. HTML and scripts are refused: a
/// download must never run in the app's origin.
pub fn validate_content_type(content_type: &str) -> Result<(), String> {
    let Some((kind, subtype)) = content_type.split_once('/') else {
        return Err("must be a media type such as image/png".into());
    };
    let token =
        |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    if !token(kind) || !token(subtype) || content_type.len() > 127 {
        return Err("must be a media type such as image/png".into());
    }
    let lowered = content_type.to_ascii_lowercase();
    if ["text/html", "application/xhtml+xml", "image/svg+xml", "application/javascript", "text/javascript"]
        .contains(&lowered.as_str())
    {
        return Err("this type cannot be attached".into());
    }
    Ok(())
}

/// An attachment is never edited, only added and deleted: it has one version.
impl super::Versioned for Attachment {
    const KIND: &'static str = "attachment";

    fn version(&self) -> u64 {
        1
    }
}
