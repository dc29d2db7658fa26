//! Push notifications to registered devices. In AWS: SNS mobile push (one platform application
//! per platform, one platform endpoint per device token). Locally and in tests: the emulator's SNS,
//! which records what each endpoint was sent.
//!
//! Device tokens and message contents are never logged: tokens are credentials of a device, and
//! titles are user data.

use aws_sdk_sns::operation::create_platform_endpoint::CreatePlatformEndpointError;
use aws_sdk_sns::operation::publish::PublishError;
use aws_smithy_types::error::display::DisplayErrorContext;
use serde::Serialize;

pub use crate::domain::notifications::Platform;

/// What a device shows. The payload the app receives carries the same fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushMessage {
    pub notification_id: String,
    pub title: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// No platform application is configured for this platform.
    #[error("push to {} is not configured", .0.name())]
    NotConfigured(Platform),
    /// The provider refused the endpoint for good (disabled by APNs/FCM, or deleted): the token
    /// is dead and should be forgotten. Not worth a retry.
    #[error("endpoint rejected: {0}")]
    Rejected(String),
    /// Anything else (throttling, outage, bad request): worth a retry.
    #[error("push failed: {0}")]
    Other(String),
}

#[async_trait::async_trait]
pub trait PushSender: Send + Sync {
    /// Whether devices of `platform` can be registered here.
    fn supports(&self, platform: Platform) -> bool;

    /// Registers a device token and returns its endpoint (the address `publish` takes). The same
    /// token gives the same endpoint, enabled again if the provider had disabled it.
    async fn register(&self, platform: Platform, token: &str) -> Result<String, PushError>;

    /// Removes an endpoint; an endpoint that is gone already is fine.
    async fn delete_endpoint(&self, endpoint: &str) -> Result<(), PushError>;

    async fn publish(&self, endpoint: &str, message: &PushMessage) -> Result<(), PushError>;
}

/// SNS mobile push.
pub struct SnsPushSender {
    client: aws_sdk_sns::Client,
    ios_app_arn: Option<String>,
    android_app_arn: Option<String>,
}

impl SnsPushSender {
    /// SNS on the platform applications of `PUSH_IOS_APP_ARN` and `PUSH_ANDROID_APP_ARN`.
    pub fn from_env(env: &crate::settings::Env, sdk: &crate::state::SdkConfig) -> std::sync::Arc<dyn PushSender> {
        let settings = crate::settings::PushSettings::read(env);
        let client = aws_sdk_sns::Client::new(sdk);
        std::sync::Arc::new(SnsPushSender::new(client, settings.ios_app_arn, settings.android_app_arn))
    }

    pub fn new(client: aws_sdk_sns::Client, ios_app_arn: Option<String>, android_app_arn: Option<String>) -> Self {
        SnsPushSender { client, ios_app_arn, android_app_arn }
    }

    fn application(&self, platform: Platform) -> Option<&str> {
        match platform {
            Platform::Ios => self.ios_app_arn.as_deref(),
            Platform::Android => self.android_app_arn.as_deref(),
        }
    }
}

/// The SNS message: `default` for any platform, and the shapes APNs and FCM expect, each with the
/// same data (`notification_id`, `task_id`) for the app to open the right screen.
pub fn sns_message(message: &PushMessage) -> String {
    let data = serde_json::to_value(message).unwrap_or_default();
    let apns = serde_json::json!({
        "aps": {"alert": {"title": message.title, "body": message.body}, "sound": "default"},
        "notification_id": message.notification_id,
        "task_id": message.task_id,
    });
    let fcm = serde_json::json!({
        "notification": {"title": message.title, "body": message.body},
        "data": {"notification_id": message.notification_id, "task_id": message.task_id.clone().unwrap_or_default()},
    });
    serde_json::json!({
        "default": data.to_string(),
        "APNS": apns.to_string(),
        "APNS_SANDBOX": apns.to_string(),
        "GCM": fcm.to_string(),
    })
    .to_string()
}

/// SNS answers CreatePlatformEndpoint for a token it knows with other attributes (typically a
/// disabled endpoint) with "Endpoint <arn> already exists with the same Token, but different
/// attributes": the documented way on is to take that endpoint and enable it.
fn existing_endpoint(message: &str) -> Option<String> {
    let start = message.find("arn:")?;
    let arn: String = message[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    message[start..].contains("already exists").then_some(arn)
}

#[async_trait::async_trait]
impl PushSender for SnsPushSender {
    fn supports(&self, platform: Platform) -> bool {
        self.application(platform).is_some()
    }

    async fn register(&self, platform: Platform, token: &str) -> Result<String, PushError> {
        let application = self.application(platform).ok_or(PushError::NotConfigured(platform))?;
        let result =
            self.client.create_platform_endpoint().platform_application_arn(application).token(token).send().await;
        let endpoint = match result {
            Ok(output) => return output.endpoint_arn.ok_or_else(|| PushError::Other("no endpoint ARN".into())),
            Err(error) => match error.into_service_error() {
                CreatePlatformEndpointError::InvalidParameterException(invalid) => {
                    let message = invalid.message().unwrap_or_default();
                    existing_endpoint(message).ok_or_else(|| PushError::Rejected(message.to_string()))?
                }
                other => return Err(PushError::Other(DisplayErrorContext(&other).to_string())),
            },
        };
        self.client
            .set_endpoint_attributes()
            .endpoint_arn(&endpoint)
            .attributes("Enabled", "true")
            .attributes("Token", token)
            .send()
            .await
            .map_err(|error| PushError::Other(DisplayErrorContext(&error).to_string()))?;
        Ok(endpoint)
    }

    async fn delete_endpoint(&self, endpoint: &str) -> Result<(), PushError> {
        self.client
            .delete_endpoint()
            .endpoint_arn(endpoint)
            .send()
            .await
            .map_err(|error| PushError::Other(DisplayErrorContext(&error).to_string()))?;
        Ok(())
    }

    async fn publish(&self, endpoint: &str, message: &PushMessage) -> Result<(), PushError> {
        let result = self
            .client
            .publish()
            .target_arn(endpoint)
            .message_structure("json")
            .message(sns_message(message))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.into_service_error() {
                PublishError::EndpointDisabledException(disabled) => {
                    Err(PushError::Rejected(disabled.message().unwrap_or("endpoint disabled").to_string()))
                }
                PublishError::NotFoundException(gone) => {
                    Err(PushError::Rejected(gone.message().unwrap_or("endpoint not found").to_string()))
                }
                PublishError::InvalidParameterException(invalid)
                    if invalid.message().is_some_and(|text| text.contains("does not exist")) =>
                {
                    Err(PushError::Rejected(invalid.message().unwrap_or_default().to_string()))
                }
                other => Err(PushError::Other(DisplayErrorContext(&other).to_string())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arn_of_an_existing_endpoint_is_read_from_the_error() {
        let message = "Invalid parameter: Token Reason: Endpoint arn:aws:sns:us-east-1:123456789012:endpoint/APNS/app/1f2e \
                       already exists with the same Token, but different attributes.";
        assert_eq!(
            existing_endpoint(message).as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:endpoint/APNS/app/1f2e")
        );
        assert_eq!(existing_endpoint("Invalid parameter: Token"), None);
    }

    #[test]
    fn every_platform_gets_title_body_and_ids() {
        let message = PushMessage {
            notification_id: "n1".into(),
            title: "Call Ada".into(),
            body: "in 30 minutes".into(),
            task_id: Some("t1".into()),
        };
        let sns: serde_json::Value = serde_json::from_str(&sns_message(&message)).unwrap();
        let default: serde_json::Value = serde_json::from_str(sns["default"].as_str().unwrap()).unwrap();
        assert_eq!(
            default,
            serde_json::json!({"notification_id": "n1", "title": "Call Ada", "body": "in 30 minutes", "task_id": "t1"})
        );
        let apns: serde_json::Value = serde_json::from_str(sns["APNS"].as_str().unwrap()).unwrap();
        assert_eq!(apns["aps"]["alert"]["title"], "Call Ada");
        let fcm: serde_json::Value = serde_json::from_str(sns["GCM"].as_str().unwrap()).unwrap();
        assert_eq!(fcm["data"]["task_id"], "t1");
    }
}
