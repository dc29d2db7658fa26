//! The one way a repository says a write did not happen, for every aggregate alike. The HTTP kit
//! maps it to problem+json in one place (`http::problem`).

use super::StoreError;
use crate::domain::plan::LimitReached;

/// Why a write of an object of type `T` was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<T> {
    /// The object (or the one it hangs on) does not exist for this tenant.
    #[error("not found")]
    NotFound,
    /// The object is at another version; here it is as it is now.
    #[error("version conflict")]
    VersionConflict(Box<T>),
    /// The write would go past a limit of the tenant's plan.
    #[error("limit reached: {0:?}")]
    LimitReached(LimitReached),
    /// The write collides with the state of something else: `code` says what, for the client.
    #[error("conflict: {code}")]
    Conflict { code: &'static str, detail: &'static str },
    /// The write would take more than one transaction (100 actions): nothing was written.
    #[error("too large: {0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<T> WriteError<T> {
    /// Whether this is the conflict with `code`.
    pub fn is_conflict(&self, code: &str) -> bool {
        matches!(self, WriteError::Conflict { code: own, .. } if *own == code)
    }

    /// The same refusal with the current object turned into another shape (e.g. its API view).
    pub fn map_current<U>(self, view: impl FnOnce(T) -> U) -> WriteError<U> {
        match self {
            WriteError::NotFound => WriteError::NotFound,
            WriteError::VersionConflict(current) => WriteError::VersionConflict(Box::new(view(*current))),
            WriteError::LimitReached(reached) => WriteError::LimitReached(reached),
            WriteError::Conflict { code, detail } => WriteError::Conflict { code, detail },
            WriteError::TooLarge(detail) => WriteError::TooLarge(detail),
            WriteError::Store(error) => WriteError::Store(error),
        }
    }
}
