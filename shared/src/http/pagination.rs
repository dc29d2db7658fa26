//! Every list's paging: `?limit=` (1–200, default 50) and `?cursor=`, answered as
//! `{"items": [...], "next_cursor": ... | null}`. A cursor is opaque to clients: the list it
//! belongs to and where its page ended, base64url-encoded, so a cursor of one list (or of one
//! order of a list) is refused by another with 400 `invalid_cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::ApiError;
use crate::domain::Violations;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;

/// Where a page starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    /// The position after which the page starts (as the store gave it for the last page).
    pub after: Option<String>,
}

impl PageRequest {
    /// Reads `limit` (a problem goes to `violations`, so it is named with the list's other
    /// filters) and `cursor`: one this API gave for `list` whose position passes `valid`.
    pub fn read(
        violations: &mut Violations,
        limit: Option<&str>,
        cursor: Option<&str>,
        list: &str,
        valid: impl Fn(&str) -> bool,
    ) -> Result<PageRequest, ApiError> {
        let limit = match limit.map(str::parse::<usize>) {
            None => DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                violations.add("limit", format!("must be a number from 1 to {MAX_LIMIT}"));
                DEFAULT_LIMIT
            }
        };
        let after = match cursor {
            Some(cursor) => Some(decode(list, cursor).filter(|position| valid(position)).ok_or_else(invalid_cursor)?),
            None => None,
        };
        Ok(PageRequest { limit, after })
    }

    /// `read` for a list with no other parameter: a bad limit is answered at once.
    pub fn only(
        limit: Option<&str>,
        cursor: Option<&str>,
        list: &str,
        valid: impl Fn(&str) -> bool,
    ) -> Result<PageRequest, ApiError> {
        let mut violations = Violations::new();
        let page = PageRequest::read(&mut violations, limit, cursor, list, valid)?;
        violations.finish(page).map_err(ApiError::from)
    }
}

/// The query of a list with no other parameter than its paging.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1 to 200 (50 when absent).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page asked for of `list`, whose positions pass `valid`.
    pub fn page(&self, list: &str, valid: impl Fn(&str) -> bool) -> Result<PageRequest, ApiError> {
        PageRequest::only(self.limit.as_deref(), self.cursor.as_deref(), list, valid)
    }
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A whole list that is bounded small (a task's notes, a user's sessions): one page, no cursor.
    pub fn whole(items: Vec<T>) -> Page<T> {
        Page { items, next_cursor: None }
    }

    /// The page's items, and the cursor of the next page of `list` when the store says one follows.
    pub fn new(items: Vec<T>, list: &str, next: Option<&str>) -> Page<T> {
        Page { items, next_cursor: next.map(|position| cursor(list, position)) }
    }
}

/// The cursor of a page of `list` that ended at `position`.
pub fn cursor(list: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{list}:{position}"))
}

fn decode(list: &str, cursor: &str) -> Option<String> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    text.strip_prefix(list)?.strip_prefix(':').map(String::from)
}

/// Whether a position is an id this API made (a ULID).
pub fn is_id(position: &str) -> bool {
    ulid::Ulid::from_string(position).is_ok()
}

/// 400 `invalid_cursor`: a cursor this API did not give for the list, or one naming nothing the
/// list holds (a provider's list, such as Stripe's invoices, says so only when asked).
pub fn invalid_cursor() -> ApiError {
    ApiError::bad_request("invalid_cursor", "the cursor is not one this API gave for this list")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
        PageRequest::only(limit, cursor, "activity", |position| position.starts_with("ACTIVITY#"))
    }

    #[test]
    fn a_cursor_comes_back_only_for_its_own_list() {
        let page = read(None, Some(&cursor("activity", "ACTIVITY#01J"))).unwrap();
        assert_eq!(page, PageRequest { limit: DEFAULT_LIMIT, after: Some("ACTIVITY#01J".into()) });
        assert_eq!(read(None, Some(&cursor("templates", "ACTIVITY#01J"))).unwrap_err().code, "invalid_cursor");
        assert_eq!(read(None, Some(&cursor("activity", "SESSION#x"))).unwrap_err().code, "invalid_cursor");
        assert_eq!(read(None, Some("not base64!")).unwrap_err().code, "invalid_cursor");
    }

    #[test]
    fn a_limit_out_of_range_is_named() {
        for limit in ["0", "201", "many"] {
            let error = read(Some(limit), None).unwrap_err();
            assert_eq!(error.errors[0].field, "limit");
        }
        assert_eq!(read(Some("200"), None).unwrap().limit, 200);
    }

    #[test]
    fn a_page_names_the_next_cursor_only_when_more_follow() {
        let last = Page::new(vec![1, 2], "templates", None);
        assert_eq!(last.next_cursor, None);
        let more = Page::new(vec![1, 2], "templates", Some("01J"));
        assert_eq!(more.next_cursor, Some(cursor("templates", "01J")));
    }
}
