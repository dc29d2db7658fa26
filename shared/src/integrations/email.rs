//! Sending email. In AWS: SES (v2). Locally and in tests: the emulator's SES, which records what it
//! received.

use std::sync::Arc;

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use crate::settings::{EmailSettings, Env};
use crate::state::{InitError, SdkConfig};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("email not sent: {0}")]
pub struct EmailError(pub String);

#[async_trait::async_trait]
pub trait EmailSender: Send + Sync {
    async fn send(&self, email: Email) -> Result<(), EmailError>;
}

/// Account and notification email: the sender, and the app's base URL for the links in messages.
#[derive(Clone)]
pub struct Mailer {
    sender: Arc<dyn EmailSender>,
    pub app_base_url: String,
}

impl Mailer {
    /// SES (v2), from `EMAIL_FROM`, with links to `APP_BASE_URL`.
    pub fn from_env(env: &Env, sdk: &SdkConfig) -> Result<Mailer, InitError> {
        let settings = EmailSettings::read(env)?;
        let sender = SesEmailSender::new(aws_sdk_sesv2::Client::new(sdk), settings.from);
        Ok(Mailer { sender: Arc::new(sender), app_base_url: settings.app_base_url })
    }

    pub fn sender(&self) -> &dyn EmailSender {
        self.sender.as_ref()
    }

    pub async fn send(&self, email: Email) -> Result<(), EmailError> {
        self.sender.send(email).await
    }
}

pub struct SesEmailSender {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesEmailSender {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        SesEmailSender { client, from: from.into() }
    }
}

fn content(text: &str) -> Result<Content, EmailError> {
    Content::builder().data(text).charset("UTF-8").build().map_err(|error| EmailError(error.to_string()))
}

#[async_trait::async_trait]
impl EmailSender for SesEmailSender {
    async fn send(&self, email: Email) -> Result<(), EmailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).build())
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|error| EmailError(aws_smithy_types::error::display::DisplayErrorContext(&error).to_string()))?;
        Ok(())
    }
}

/// The emails the product sends about an account.
pub mod templates {
    use super::Email;

    pub fn password_reset(to: &str, app_base_url: &str, token: &str) -> Email {
        Email {
            to: to.into(),
            subject: "Reset your Flowday password".into(),
            text: format!(
                "Someone asked to reset the password of your Flowday account.\n\n\
                 To choose a new password, open this link within one hour:\n{app_base_url}/reset-password?token={token}\n\n\
                 If it was not you, ignore this email: your password stays as it is.\n"
            ),
        }
    }

    pub fn verify_email(to: &str, app_base_url: &str, token: &str) -> Email {
        Email {
            to: to.into(),
            subject: "Confirm your email for Flowday".into(),
            text: format!(
                "Welcome to Flowday.\n\nConfirm your email address by opening this link within two days:\n\
                 {app_base_url}/verify-email?token={token}\n"
            ),
        }
    }
}
