//! What the calendar functions use to reach Google and Microsoft: one client per configured
//! provider, and the key that seals their tokens. Built at cold start
//! from `CalendarSettings`; the secrets (client secrets, the sealing key) are read from Secrets
//! Manager on first use, once per process, so a background function's state stays synchronous.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::calendars::CalendarProvider;
use super::calendars::google::{GoogleCalendar, GoogleConfig};
use super::calendars::microsoft::{MicrosoftCalendar, MicrosoftConfig};
use crate::auth::sealed::SealingKey;
use crate::domain::calendar::Source;
use crate::settings::{CalendarSettings, Env};
use crate::state::{InitError, SdkConfig};

/// The providers and the sealing key, once their secrets are read.
pub struct Loaded {
    pub google: Option<Arc<dyn CalendarProvider>>,
    pub outlook: Option<Arc<dyn CalendarProvider>>,
    pub sealing: SealingKey,
}

impl Loaded {
    /// The client of `provider`, if that provider is configured in this deploy.
    pub fn provider(&self, provider: Source) -> Option<Arc<dyn CalendarProvider>> {
        match provider {
            Source::Google => self.google.clone(),
            Source::Outlook => self.outlook.clone(),
            Source::Flowday => None,
        }
    }
}

#[derive(Clone)]
pub struct CalendarClients {
    settings: Arc<CalendarSettings>,
    secrets: aws_sdk_secretsmanager::Client,
    http: reqwest::Client,
    loaded: Arc<OnceCell<Loaded>>,
}

impl CalendarClients {
    pub fn from_env(env: &Env, sdk: &SdkConfig) -> Result<Self, InitError> {
        let settings = CalendarSettings::read(env)?;
        Ok(CalendarClients {
            settings: Arc::new(settings),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            http: super::http_client()?,
            loaded: Arc::new(OnceCell::new()),
        })
    }

    /// The providers and the sealing key (read from Secrets Manager the first time).
    pub async fn loaded(&self) -> Result<&Loaded, InitError> {
        self.loaded.get_or_try_init(|| self.load()).await
    }

    async fn load(&self) -> Result<Loaded, InitError> {
        let settings = &self.settings;
        let sealing =
            SealingKey::from_secret(&crate::state::read_secret(&self.secrets, &settings.token_key_secret_id).await?);
        let google: Option<Arc<dyn CalendarProvider>> = match &settings.google_client_id {
            Some(client_id) => Some(Arc::new(GoogleCalendar::new(
                self.http.clone(),
                GoogleConfig {
                    oauth_base: settings.google_oauth_base.clone(),
                    api_base: settings.google_api_base.clone(),
                    client_id: client_id.clone(),
                    client_secret: crate::state::read_secret(&self.secrets, &settings.google_secret_id).await?,
                },
            ))),
            None => None,
        };
        let outlook: Option<Arc<dyn CalendarProvider>> = match &settings.microsoft_client_id {
            Some(client_id) => Some(Arc::new(MicrosoftCalendar::new(
                self.http.clone(),
                MicrosoftConfig {
                    login_base: settings.microsoft_login_base.clone(),
                    graph_base: settings.microsoft_graph_base.clone(),
                    tenant: settings.microsoft_tenant.clone(),
                    client_id: client_id.clone(),
                    client_secret: crate::state::read_secret(&self.secrets, &settings.microsoft_secret_id).await?,
                },
            ))),
            None => None,
        };
        Ok(Loaded { google, outlook, sealing })
    }
}
