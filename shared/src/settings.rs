//! Typed settings, grouped by capability and read once per cold start, each by the functions that
//! use it: a function that sends no email never reads `EMAIL_FROM`, and one that does fails its
//! cold start naming the missing setting, never a request later.
//!
//! In Lambda the values come from the environment; the local gateway and the tests hand each
//! function the environment template.yaml gives it, as a map (they must not share process-wide
//! environment variables).

use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("missing setting {0}")]
    Missing(&'static str),
    #[error("setting {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The environment a function was started with.
#[derive(Debug, Clone, Default)]
pub struct Env {
    values: HashMap<String, String>,
}

impl Env {
    /// The process environment (Lambda).
    pub fn from_process() -> Env {
        Env { values: std::env::vars().collect() }
    }

    pub fn from_map(values: HashMap<String, String>) -> Env {
        Env { values }
    }

    /// A setting that may be absent; an empty value counts as absent (template parameters left blank).
    pub fn optional(&self, name: &str) -> Option<String> {
        self.values.get(name).filter(|value| !value.is_empty()).cloned()
    }

    pub fn require(&self, name: &'static str) -> Result<String, SettingError> {
        self.optional(name).ok_or(SettingError::Missing(name))
    }

    /// An `http(s)://` URL without its trailing slash.
    pub fn url(&self, name: &'static str) -> Result<String, SettingError> {
        let url = self.require(name)?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(SettingError::Invalid { name, reason: "must start with http:// or https://".into() });
        }
        Ok(url.trim_end_matches('/').to_string())
    }
}

/// Name of this function, for logs and the health route (`AWS_LAMBDA_FUNCTION_NAME` in Lambda).
pub fn function_name(env: &Env) -> String {
    env.optional("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "local".into())
}

/// The single DynamoDB table (every function).
pub fn table_name(env: &Env) -> Result<String, SettingError> {
    env.require("TABLE_NAME")
}

/// Access tokens: where the signing key set is and what `iss` / `aud` they carry (HTTP functions).
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// The public keys (a JWKS document) every function verifies access tokens with.
    pub public_keys_secret_id: String,
    pub issuer: String,
    pub audience: String,
}

impl TokenSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        Ok(TokenSettings {
            public_keys_secret_id: env.require("JWT_PUBLIC_KEYS_SECRET_ID")?,
            issuer: env.require("JWT_ISSUER")?,
            audience: env.require("JWT_AUDIENCE")?,
        })
    }

    /// The private key set that signs access tokens: api-auth's setting alone.
    pub fn signing_keys_secret_id(env: &Env) -> Result<String, SettingError> {
        env.require("JWT_KEYS_SECRET_ID")
    }
}

/// Email: the sender of every message and the app's base URL for the links in them.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub from: String,
    pub app_base_url: String,
}

impl EmailSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        Ok(EmailSettings { from: env.require("EMAIL_FROM")?, app_base_url: env.url("APP_BASE_URL")? })
    }
}

/// The private bucket of attachments and exports.
#[derive(Debug, Clone)]
pub struct FileSettings {
    pub bucket: String,
}

impl FileSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        Ok(FileSettings { bucket: env.require("FILES_BUCKET")? })
    }
}

/// The `notifications` queue (the reminder scheduler and maintenance send to it).
#[derive(Debug, Clone)]
pub struct QueueSettings {
    pub notifications_queue_url: String,
}

impl QueueSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        Ok(QueueSettings { notifications_queue_url: env.require("NOTIFICATIONS_QUEUE_URL")? })
    }
}

/// SNS platform applications of the mobile apps. Either may be left blank in a deploy: that
/// platform's push registration is then off (a product setting, answered 422 to a client).
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub ios_app_arn: Option<String>,
    pub android_app_arn: Option<String>,
}

impl PushSettings {
    pub fn read(env: &Env) -> Self {
        PushSettings {
            ios_app_arn: env.optional("PUSH_IOS_APP_ARN"),
            android_app_arn: env.optional("PUSH_ANDROID_APP_ARN"),
        }
    }
}

/// Google's published signing keys for ID tokens.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Google sign-in. Without a client id it is off in that deploy (answered 503 to a client).
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    pub client_id: Option<String>,
    pub jwks_url: String,
}

impl GoogleSettings {
    pub fn read(env: &Env) -> Self {
        GoogleSettings {
            client_id: env.optional("GOOGLE_CLIENT_ID"),
            jwks_url: env.optional("GOOGLE_JWKS_URL").unwrap_or_else(|| GOOGLE_JWKS_URL.into()),
        }
    }
}

/// Calendar connections (Google Calendar and Microsoft Graph). A provider without a client id is
/// off in that deploy (`POST /v1/calendar/connections/{provider}` answers 503). Base URLs default to
/// the public ones; national clouds and tests point them elsewhere.
#[derive(Debug, Clone)]
pub struct CalendarSettings {
    pub google_client_id: Option<String>,
    pub google_oauth_base: String,
    pub google_api_base: String,
    /// The secret holding Google's OAuth client secret.
    pub google_secret_id: String,
    pub microsoft_client_id: Option<String>,
    pub microsoft_login_base: String,
    pub microsoft_graph_base: String,
    pub microsoft_tenant: String,
    pub microsoft_secret_id: String,
    /// The secret whose text keys the sealing of connection tokens.
    pub token_key_secret_id: String,
}

impl CalendarSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        let base = |name: &'static str, default: &str| -> Result<String, SettingError> {
            match env.optional(name) {
                Some(_) => env.url(name),
                None => Ok(default.to_string()),
            }
        };
        Ok(CalendarSettings {
            google_client_id: env.optional("GOOGLE_CALENDAR_CLIENT_ID"),
            google_oauth_base: base("GOOGLE_OAUTH_BASE_URL", "https://accounts.google.com")?,
            google_api_base: base("GOOGLE_API_BASE_URL", "https://www.googleapis.com")?,
            google_secret_id: env.require("GOOGLE_OAUTH_SECRET_ID")?,
            microsoft_client_id: env.optional("MICROSOFT_CLIENT_ID"),
            microsoft_login_base: base("MICROSOFT_LOGIN_BASE_URL", "https://login.microsoftonline.com")?,
            microsoft_graph_base: base("MICROSOFT_GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0")?,
            microsoft_tenant: env.optional("MICROSOFT_TENANT").unwrap_or_else(|| "common".into()),
            microsoft_secret_id: env.require("MICROSOFT_OAUTH_SECRET_ID")?,
            token_key_secret_id: env.require("CALENDAR_TOKEN_KEY_SECRET_ID")?,
        })
    }
}

/// Billing through Stripe: the API's base (a local stand-in in `make dev`), the secrets of the
/// API key and the webhook signing secret, and the price of each plan and credit pack.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    pub stripe_api_base: String,
    pub api_key_secret_id: String,
    pub prices: crate::domain::billing::Prices,
}

impl BillingSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        let stripe_api_base = match env.optional("STRIPE_API_BASE") {
            Some(_) => env.url("STRIPE_API_BASE")?,
            None => "https://api.stripe.com".to_string(),
        };
        let api_key_secret_id = env.require("STRIPE_API_KEY_SECRET_ID")?;
        Ok(BillingSettings { stripe_api_base, api_key_secret_id, prices: Self::read_prices(env) })
    }

    /// The price of each plan and pack (`STRIPE_PRICE_PRO_MONTHLY`, ...); a blank one is not sold.
    pub fn read_prices(env: &Env) -> crate::domain::billing::Prices {
        use crate::domain::billing::{CreditPack, PlanId};
        let plans = [
            (PlanId::ProMonthly, "STRIPE_PRICE_PRO_MONTHLY"),
            (PlanId::ProYearly, "STRIPE_PRICE_PRO_YEARLY"),
            (PlanId::Team, "STRIPE_PRICE_TEAM"),
        ];
        let packs = [
            (CreditPack::Credits100, "STRIPE_PRICE_CREDITS_100"),
            (CreditPack::Credits500, "STRIPE_PRICE_CREDITS_500"),
        ];
        crate::domain::billing::Prices {
            plans: plans.into_iter().filter_map(|(plan, name)| Some((plan, env.optional(name)?))).collect(),
            packs: packs.into_iter().filter_map(|(pack, name)| Some((pack, env.optional(name)?))).collect(),
        }
    }

    /// The secret holding the webhook signing secret(s) (webhook-stripe only).
    pub fn webhook_secret_id(env: &Env) -> Result<String, SettingError> {
        env.require("STRIPE_WEBHOOK_SECRET_ID")
    }
}

/// Which language model the AI features use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProvider {
    /// Amazon Bedrock's Converse API, signed with the function's role (the deployed default).
    Bedrock,
    /// An OpenAI-compatible chat completions API (OpenAI, vLLM, Ollama), with a key from Secrets Manager.
    OpenAi,
}

/// The language model of the AI features: `LLM_PROVIDER` (`bedrock`, `openai`, or blank for
/// none), `LLM_MODEL`, `LLM_BASE_URL` (the endpoint; the provider's own when blank) and
/// `LLM_API_KEY_SECRET_ID` (the secret holding an OpenAI-compatible key; blank for servers that
/// need none). Read by api-ai and api-planning (is one configured?) and by ai-worker (the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmSettings {
    pub provider: Option<LlmProvider>,
    pub model: String,
    pub base_url: Option<String>,
    pub api_key_secret_id: Option<String>,
}

/// Speech to text for voice capture: `TRANSCRIPTION_PROVIDER` (`transcribe`, Amazon Transcribe,
/// the default; or `openai`, an OpenAI-compatible `/audio/transcriptions`), `TRANSCRIPTION_BASE_URL`
/// (the endpoint; for `openai` the LLM's base when blank), `TRANSCRIPTION_MODEL` (`whisper-1`).
/// The key of an OpenAI-compatible server is the LLM's (`LLM_API_KEY_SECRET_ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptionSettings {
    pub provider: TranscriptionProvider,
    pub base_url: Option<String>,
    pub model: String,
    pub api_key_secret_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptionProvider {
    AmazonTranscribe,
    OpenAi,
}

impl TranscriptionSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        let provider = match env.optional("TRANSCRIPTION_PROVIDER").as_deref() {
            None | Some("transcribe") => TranscriptionProvider::AmazonTranscribe,
            Some("openai") => TranscriptionProvider::OpenAi,
            Some(other) => {
                let reason = format!("{other:?} is not transcribe or openai");
                return Err(SettingError::Invalid { name: "TRANSCRIPTION_PROVIDER", reason });
            }
        };
        let base_url = match (env.optional("TRANSCRIPTION_BASE_URL"), provider) {
            (Some(_), _) => Some(env.url("TRANSCRIPTION_BASE_URL")?),
            (None, TranscriptionProvider::OpenAi) if env.optional("LLM_BASE_URL").is_some() => {
                Some(env.url("LLM_BASE_URL")?)
            }
            (None, _) => None,
        };
        Ok(TranscriptionSettings {
            provider,
            base_url,
            model: env.optional("TRANSCRIPTION_MODEL").unwrap_or_else(|| "whisper-1".into()),
            api_key_secret_id: env.optional("LLM_API_KEY_SECRET_ID"),
        })
    }
}

/// What the routes say when no model is configured.
pub const LLM_UNCONFIGURED: &str = "no language model is configured: set LLM_PROVIDER to bedrock or openai, \
     with LLM_MODEL, and for openai LLM_BASE_URL and the key in LlmApiKeySecret (make dev: LLM_API_KEY)";

impl LlmSettings {
    pub fn read(env: &Env) -> Result<Self, SettingError> {
        let provider = match env.optional("LLM_PROVIDER").as_deref() {
            None => None,
            Some("bedrock") => Some(LlmProvider::Bedrock),
            Some("openai") => Some(LlmProvider::OpenAi),
            Some(other) => {
                let reason = format!("{other:?} is not bedrock, openai or blank");
                return Err(SettingError::Invalid { name: "LLM_PROVIDER", reason });
            }
        };
        let base_url = match env.optional("LLM_BASE_URL") {
            Some(_) => Some(env.url("LLM_BASE_URL")?),
            None => None,
        };
        let model = match (env.optional("LLM_MODEL"), provider) {
            (Some(model), _) => model,
            (None, Some(LlmProvider::Bedrock)) => crate::integrations::llm::BEDROCK_DEFAULT_MODEL.to_string(),
            (None, _) => crate::integrations::llm::OPENAI_DEFAULT_MODEL.to_string(),
        };
        Ok(LlmSettings { provider, model, base_url, api_key_secret_id: env.optional("LLM_API_KEY_SECRET_ID") })
    }

    /// The provider, or why the AI routes are unavailable.
    pub fn require(&self) -> Result<LlmProvider, &'static str> {
        self.provider.ok_or(LLM_UNCONFIGURED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_map(pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect())
    }

    #[test]
    fn the_language_model_is_optional_and_named_when_wrong() {
        let none = LlmSettings::read(&env(&[])).unwrap();
        assert_eq!(none.require(), Err(LLM_UNCONFIGURED));
        let openai =
            LlmSettings::read(&env(&[("LLM_PROVIDER", "openai"), ("LLM_BASE_URL", "http://localhost:11434/v1/")]));
        let openai = openai.unwrap();
        assert_eq!(
            (openai.require(), openai.base_url.as_deref()),
            (Ok(LlmProvider::OpenAi), Some("http://localhost:11434/v1"))
        );
        let bedrock = LlmSettings::read(&env(&[("LLM_PROVIDER", "bedrock")])).unwrap();
        assert_eq!(bedrock.model, crate::integrations::llm::BEDROCK_DEFAULT_MODEL);
        let wrong = LlmSettings::read(&env(&[("LLM_PROVIDER", "gpt")])).unwrap_err();
        assert!(wrong.to_string().contains("LLM_PROVIDER"), "{wrong}");
    }

    #[test]
    fn billing_sells_only_the_plans_with_a_price() {
        use crate::domain::billing::PlanId;
        let required = [
            ("STRIPE_API_KEY_SECRET_ID", "arn:stripe"),
            ("STRIPE_PRICE_PRO_MONTHLY", "price_1"),
            ("STRIPE_PRICE_TEAM", ""),
        ];
        let settings = BillingSettings::read(&env(&required)).unwrap();
        assert_eq!(settings.stripe_api_base, "https://api.stripe.com");
        assert_eq!(settings.prices.of_plan(PlanId::ProMonthly), Some("price_1"));
        assert_eq!(settings.prices.of_plan(PlanId::Team), None, "a blank price is not sold");
        assert_eq!(settings.prices.plan_of("price_1"), Some(PlanId::ProMonthly));
        let error = BillingSettings::read(&env(&[])).unwrap_err();
        assert_eq!(error.to_string(), "missing setting STRIPE_API_KEY_SECRET_ID");
        let mut local = required.to_vec();
        local.push(("STRIPE_API_BASE", "http://127.0.0.1:4242/"));
        assert_eq!(BillingSettings::read(&env(&local)).unwrap().stripe_api_base, "http://127.0.0.1:4242");
    }

    #[test]
    fn a_missing_setting_is_named() {
        let error = EmailSettings::read(&env(&[("APP_BASE_URL", "https://app.example")])).unwrap_err();
        assert_eq!(error.to_string(), "missing setting EMAIL_FROM");
        let error = FileSettings::read(&env(&[("FILES_BUCKET", "")])).unwrap_err();
        assert_eq!(error.to_string(), "missing setting FILES_BUCKET", "a blank value is missing too");
    }

    #[test]
    fn calendar_base_urls_default_to_the_public_ones_and_can_be_pointed_elsewhere() {
        let required = [
            ("GOOGLE_OAUTH_SECRET_ID", "g"),
            ("MICROSOFT_OAUTH_SECRET_ID", "m"),
            ("CALENDAR_TOKEN_KEY_SECRET_ID", "k"),
        ];
        let defaults = CalendarSettings::read(&env(&required)).unwrap();
        assert_eq!(defaults.microsoft_graph_base, "https://graph.microsoft.com/v1.0");
        assert_eq!((defaults.google_client_id, defaults.microsoft_tenant.as_str()), (None, "common"));
        let mut pointed = required.to_vec();
        pointed.push(("MICROSOFT_GRAPH_BASE_URL", "https://graph.microsoft.us/v1.0/"));
        let read = CalendarSettings::read(&env(&pointed)).unwrap();
        assert_eq!(read.microsoft_graph_base, "https://graph.microsoft.us/v1.0");
        pointed.push(("GOOGLE_API_BASE_URL", "googleapis"));
        assert!(matches!(
            CalendarSettings::read(&env(&pointed)),
            Err(SettingError::Invalid { name: "GOOGLE_API_BASE_URL", .. })
        ));
    }

    #[test]
    fn a_base_url_must_be_http_and_loses_its_trailing_slash() {
        let read = |url| EmailSettings::read(&env(&[("EMAIL_FROM", "a@b.c"), ("APP_BASE_URL", url)]));
        assert_eq!(read("https://app.example/").unwrap().app_base_url, "https://app.example");
        assert!(matches!(read("app.example"), Err(SettingError::Invalid { name: "APP_BASE_URL", .. })));
    }
}

/// Rate-limit budgets (requests per minute; 0 turns one off). Defaults: the plan table's
/// `requests_per_minute` per tier, and `ANONYMOUS_PER_MINUTE` per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Unauthenticated requests per client address (signup, login, refresh, reset, verify, ...).
    pub anonymous_per_minute: u32,
    pub free_per_minute: u32,
    pub pro_per_minute: u32,
    pub team_per_minute: u32,
    /// Password-reset and verification emails per address and hour.
    pub account_emails_per_hour: u32,
}

impl RateLimitSettings {
    pub const ANONYMOUS_PER_MINUTE: u32 = 60;
    pub const ACCOUNT_EMAILS_PER_HOUR: u32 = 5;

    pub fn read(env: &Env) -> Result<Self, SettingError> {
        use crate::domain::account::Tier;
        use crate::domain::plan::limits;
        Ok(RateLimitSettings {
            anonymous_per_minute: count(env, "RATE_LIMIT_ANONYMOUS_PER_MINUTE", Self::ANONYMOUS_PER_MINUTE)?,
            free_per_minute: count(env, "RATE_LIMIT_FREE_PER_MINUTE", limits(Tier::Free).requests_per_minute)?,
            pro_per_minute: count(env, "RATE_LIMIT_PRO_PER_MINUTE", limits(Tier::Pro).requests_per_minute)?,
            team_per_minute: count(env, "RATE_LIMIT_TEAM_PER_MINUTE", limits(Tier::Team).requests_per_minute)?,
            account_emails_per_hour: count(env, "ACCOUNT_EMAILS_PER_HOUR", Self::ACCOUNT_EMAILS_PER_HOUR)?,
        })
    }

    /// A user's budget per minute by tier.
    pub fn per_minute(&self, tier: crate::domain::account::Tier) -> u32 {
        use crate::domain::account::Tier;
        match tier {
            Tier::Free => self.free_per_minute,
            Tier::Pro => self.pro_per_minute,
            Tier::Team => self.team_per_minute,
        }
    }
}

/// A whole number setting, `default` when absent.
fn count(env: &Env, name: &'static str, default: u32) -> Result<u32, SettingError> {
    match env.optional(name) {
        None => Ok(default),
        Some(value) => value
            .trim()
            .parse()
            .map_err(|_| SettingError::Invalid { name, reason: format!("{value:?} is not a whole number") }),
    }
}
