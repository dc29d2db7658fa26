pub mod google;
pub mod login;
pub mod password;
pub mod public;
pub mod signup;
pub mod tokens;
pub mod verify;

use shared::domain::Violations;
use shared::integrations::email::Mailer;

/// A required string field: present and not blank.
pub fn required<'a>(violations: &mut Violations, field: &str, value: &'a Option<String>) -> &'a str {
    match value.as_deref() {
        Some(text) if !text.trim().is_empty() => text,
        _ => {
            violations.add(field, "is required");
            ""
        }
    }
}

/// Sends an account email after the write that it announces has committed. A failure to send is
/// logged, not returned: the account change stands and the user can ask again.
pub async fn send_email(mailer: &Mailer, email: shared::integrations::email::Email) {
    if let Err(error) = mailer.send(email).await {
        tracing::error!(error = %error, "account email not sent");
    }
}
