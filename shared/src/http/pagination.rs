//! `?limit=` and `?cursor=` of lists over one partition's sort keys. A cursor is the last sort key
//! of the page, base64url-encoded, and is only accepted back for the same kind of item (its prefix).

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{ApiError, FieldError};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// Where a page starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The sort key after which the page starts.
    pub after: Option<String>,
}

impl PageRequest {
    /// Reads `limit` (1–200, default 50) and `cursor` (one this API gave for keys starting with `prefix`).
    pub fn from_query(query: &HashMap<String, String>, prefix: &str) -> Result<PageRequest, ApiError> {
        let limit = match query.get("limit").map(|text| text.parse::<usize>()) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                return Err(ApiError::validation(vec![FieldError::new(
                    "limit",
                    format!("must be a number from 1 to {MAX_LIMIT}"),
                )]));
            }
        };
        let after = match query.get("cursor") {
            Some(cursor) => Some(decode(cursor, prefix).ok_or_else(|| {
                ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave for this list")
            })?),
            None => None,
        };
        Ok(PageRequest { limit, after })
    }
}

/// The cursor of a page that ended at `sort_key`.
pub fn cursor(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

fn decode(cursor: &str, prefix: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.starts_with(prefix).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    #[test]
    fn a_cursor_comes_back_only_for_its_own_kind_of_item() {
        let page = PageRequest::from_query(&query(&[("cursor", &cursor("ACTIVITY#01J"))]), "ACTIVITY#").unwrap();
        assert_eq!(page, PageRequest { limit: DEFAULT_LIMIT, after: Some("ACTIVITY#01J".into()) });
        let foreign = PageRequest::from_query(&query(&[("cursor", &cursor("SESSION#x"))]), "ACTIVITY#");
        assert_eq!(foreign.unwrap_err().code, "invalid_cursor");
    }

    #[test]
    fn a_limit_out_of_range_is_named() {
        for limit in ["0", "201", "many"] {
            let error = PageRequest::from_query(&query(&[("limit", limit)]), "X#").unwrap_err();
            assert_eq!(error.errors[0].field, "limit");
        }
    }
}
