//! Account rules: emails, passwords, names, timezones, languages, preferences, tiers.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub const PASSWORD_MIN_CHARS: usize = 8;
/// Long enough for any passphrase, short enough that hashing cost stays bounded.
pub const PASSWORD_MAX_BYTES: usize = 256;
pub const NAME_MAX_CHARS: usize = 100;
pub const PREFERENCES_MAX_BYTES: usize = 8 * 1024;
pub const PREFERENCES_MAX_KEYS: usize = 50;

/// After this many password attempts within `LOCKOUT_WINDOW_SECONDS` (per email: logins and
/// password changes alike), the address is locked until the window ends (`store::login_attempts`).
pub const LOCKOUT_FAILURES: u32 = 5;
pub const LOCKOUT_WINDOW_SECONDS: i64 = 15 * 60;

/// The profile as the owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    pub timezone: String,
    pub language: String,
    #[schema(value_type = Object)]
    pub preferences: serde_json::Value,
    pub tier: Tier,
    pub google_linked: bool,
    pub has_password: bool,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl super::Versioned for Profile {
    const KIND: &'static str = "profile";

    fn version(&self) -> u64 {
        self.version
    }
}

/// Ordered by what it allows: free < pro < team.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Free,
    Pro,
    Team,
}

/// Lower-cases and trims an email, and checks its shape. The normalised form is the one stored
/// and the one uniqueness is enforced on.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    use unicode_normalization::UnicodeNormalization;
    // NFKC first: a look-alike written with compatibility characters (fullwidth letters, ligatures)
    // is the same address, so it must be the same account.
    let email: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    if email.is_empty() {
        return Err("is required".into());
    }
    let invalid = || "must be an email address".to_string();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Err(invalid());
    };
    // The domain in its ASCII form (IDNA, UTS 46): `bücher.example` and `xn--bcher-kva.example`
    // are one domain.
    let domain = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
    let email = format!("{local}@{domain}");
    if email.len() > 254 {
        return Err("must be at most 254 characters".into());
    }
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let local_ok = !local.is_empty() && local.len() <= 64 && !local.contains('@');
    let no_space = !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if domain_ok && local_ok && no_space { Ok(email) } else { Err(invalid()) }
}

fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("common_passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// A password must be at least 8 characters, not absurdly long, and not a commonly used one.
pub fn validate_password(password: &str, email: Option<&str>) -> Result<(), String> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        return Err(format!("must be at least {PASSWORD_MIN_CHARS} characters"));
    }
    if password.len() > PASSWORD_MAX_BYTES {
        return Err(format!("must be at most {PASSWORD_MAX_BYTES} bytes"));
    }
    let lowered = password.to_lowercase();
    if common_passwords().contains(lowered.as_str()) {
        return Err("is too common; choose one that is harder to guess".into());
    }
    if email.is_some_and(|email| email == lowered || email.split('@').next() == Some(lowered.as_str())) {
        return Err("must not be your email address".into());
    }
    Ok(())
}

pub fn validate_name(name: &str) -> Result<(), String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("is required".into());
    }
    if trimmed.chars().count() > NAME_MAX_CHARS {
        return Err(format!("must be at most {NAME_MAX_CHARS} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// An IANA timezone name such as `Europe/Berlin`.
pub fn validate_timezone(timezone: &str) -> Result<(), String> {
    chrono_tz::Tz::from_str(timezone)
        .map(|_| ())
        .map_err(|_| "must be an IANA timezone name such as Europe/Berlin".into())
}

/// A BCP 47 language tag such as `en`, `de-AT` or `zh-Hant-TW`.
pub fn validate_language(language: &str) -> Result<(), String> {
    let mut parts = language.split('-');
    let primary = parts.next().unwrap_or("");
    let primary_ok = (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase());
    let rest_ok = parts.all(|part| (2..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok && language.len() <= 35 {
        Ok(())
    } else {
        Err("must be a language tag such as en or de-AT".into())
    }
}

/// Preferences are the client's own settings: a JSON object of bounded size.
pub fn validate_preferences(preferences: &serde_json::Value) -> Result<(), String> {
    let Some(object) = preferences.as_object() else {
        return Err("must be a JSON object".into());
    };
    if object.len() > PREFERENCES_MAX_KEYS {
        return Err(format!("must have at most {PREFERENCES_MAX_KEYS} keys"));
    }
    if preferences.to_string().len() > PREFERENCES_MAX_BYTES {
        return Err(format!("must be at most {PREFERENCES_MAX_BYTES} bytes as JSON"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_addresses_are_one_address() {
        let plain = normalize_email("ada@example.com").unwrap();
        assert_eq!(normalize_email("ＡＤＡ@ＥＸＡＭＰＬＥ.com").unwrap(), plain, "fullwidth letters");
        let idn = normalize_email("ada@Bücher.example").unwrap();
        assert_eq!(idn, "ada@xn--bcher-kva.example");
        assert_eq!(normalize_email("ada@xn--bcher-kva.example").unwrap(), idn, "the ASCII form is the same domain");
        assert!(normalize_email("ada@exa mple.com").is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(normalize_email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@.com"] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn passwords_need_length_and_must_not_be_common() {
        assert!(validate_password("short", None).is_err());
        assert!(validate_password("Password123", None).unwrap_err().contains("common"));
        assert!(validate_password("ada@example.com", Some("ada@example.com")).is_err());
        assert!(validate_password(&"x".repeat(300), None).is_err());
        assert!(validate_password("correct horse battery", Some("ada@example.com")).is_ok());
    }

    #[test]
    fn timezones_languages_and_names() {
        assert!(validate_timezone("Europe/Berlin").is_ok());
        assert!(validate_timezone("Mars/Olympus").is_err());
        assert!(validate_language("de-AT").is_ok());
        assert!(validate_language("English").is_err());
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"n".repeat(101)).is_err());
        assert!(validate_preferences(&serde_json::json!({"theme": "dark"})).is_ok());
        assert!(validate_preferences(&serde_json::json!([1])).is_err());
    }
}
