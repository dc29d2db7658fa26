//! The local stack: creates in the emulator what template.yaml declares (table with its indexes and
//! TTL, queues with their DLQs, buckets, secrets with generated dev values, the SES identity, the
//! SNS platform applications of push), and gives each function the environment the template gives
//! it, resolved to the local names.
//! Every name carries a prefix, so several stacks (parallel tests) share one emulator apart.

use std::collections::{BTreeMap, HashMap};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml::Value;
use shared::http::RouteGroup;
use shared::jobs::JobHandler;
use shared::settings::Env;

use crate::functions::{background_function, http_function};
use crate::template::{Resolver, Template, TemplateError, resolve};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("creating {resource}: {reason}")]
    Create { resource: String, reason: String },
    #[error("no function with binary {0} in template.yaml")]
    UnknownFunction(String),
    #[error("starting {function}: {reason}")]
    Init { function: String, reason: String },
}

fn init_error(binary: &str, error: impl std::fmt::Display) -> StackError {
    StackError::Init { function: binary.into(), reason: error.to_string() }
}

fn create_error(resource: &str, error: impl std::fmt::Display) -> StackError {
    StackError::Create { resource: resource.to_string(), reason: error.to_string() }
}

/// An AWS SDK configuration for the emulator: its endpoint, a fixed region, dummy credentials.
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "flowday-local");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(credentials))
        .build()
}

/// What a resource resolves to: its `!Ref` value and its `!GetAtt` attributes.
#[derive(Debug, Clone, Default)]
struct Physical {
    reference: String,
    attributes: HashMap<String, String>,
}

pub struct LocalStack {
    pub endpoint: String,
    pub prefix: String,
    pub sdk: SdkConfig,
    pub template: Template,
    parameters: HashMap<String, String>,
    physical: HashMap<String, Physical>,
}

impl Resolver for LocalStack {
    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::Region" => return Some(REGION.into()),
            "AWS::AccountId" => return Some(ACCOUNT.into()),
            "AWS::StackName" => return Some(self.prefix.clone()),
            _ => {}
        }
        self.parameters
            .get(name)
            .cloned()
            .or_else(|| self.physical.get(name).map(|physical| physical.reference.clone()))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
        self.physical.get(resource)?.attributes.get(attribute).cloned()
    }
}

impl LocalStack {
    /// Creates every resource of the template in the emulator at `endpoint`. `overrides` replace
    /// parameter defaults (tests point `GoogleJwksUrl` at a fake, for example).
    pub async fn create(
        endpoint: &str,
        prefix: &str,
        template: Template,
        overrides: HashMap<String, String>,
    ) -> Result<Self, StackError> {
        let mut parameters = template.parameter_defaults();
        // No AWS account stands behind the emulator: Bedrock and Transcribe, the deployed
        // defaults, would refuse its dummy credentials. Locally the AI routes are off (503) unless
        // `LLM_PROVIDER` (make dev) or a test chooses a model, and speech goes to the same kind
        // of server as the model.
        parameters.insert("LlmProvider".into(), String::new());
        parameters.insert("TranscriptionProvider".into(), "openai".into());
        let overridden: Vec<String> = overrides.keys().cloned().collect();
        parameters.extend(overrides);
        let mut stack = LocalStack {
            endpoint: endpoint.to_string(),
            prefix: prefix.to_string(),
            sdk: sdk_config(endpoint),
            template,
            parameters,
            physical: HashMap::new(),
        };
        stack.create_tables().await?;
        stack.create_queues().await?;
        stack.create_buckets().await?;
        stack.create_secrets().await?;
        stack.create_email_identities().await?;
        stack.create_push_applications(&overridden).await?;
        stack.name_the_rest();
        Ok(stack)
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}")
    }

    async fn create_tables(&mut self) -> Result<(), StackError> {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        for (id, resource) in self.template.resources_of_type("AWS::DynamoDB::Table") {
            let name = format!("{}-{id}", self.prefix);
            let properties = &resource["Properties"];
            let mut request = client
                .create_table()
                .table_name(&name)
                .billing_mode(BillingMode::PayPerRequest)
                .set_attribute_definitions(Some(attribute_definitions(&properties["AttributeDefinitions"])))
                .set_key_schema(Some(key_schema(&properties["KeySchema"])));
            for index in properties["GlobalSecondaryIndexes"].as_sequence().into_iter().flatten() {
                let projection = match index["Projection"]["ProjectionType"].as_str() {
                    Some("KEYS_ONLY") => ProjectionType::KeysOnly,
                    _ => ProjectionType::All,
                };
                let index = GlobalSecondaryIndex::builder()
                    .index_name(index["IndexName"].as_str().unwrap_or_default())
                    .set_key_schema(Some(key_schema(&index["KeySchema"])))
                    .projection(Projection::builder().projection_type(projection).build())
                    .build()
                    .map_err(|error| create_error(&id, error))?;
                request = request.global_secondary_indexes(index);
            }
            request.send().await.map_err(|error| create_error(&id, sdk_error(error)))?;
            if let Some(attribute) = properties["TimeToLiveSpecification"]["AttributeName"].as_str() {
                let specification = TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(|error| create_error(&id, error))?;
                client
                    .update_time_to_live()
                    .table_name(&name)
                    .time_to_live_specification(specification)
                    .send()
                    .await
                    .map_err(|error| create_error(&id, sdk_error(error)))?;
            }
            let arn = self.arn("dynamodb", &format!("table/{name}"));
            self.physical.insert(id, Physical { reference: name, attributes: HashMap::from([("Arn".into(), arn)]) });
        }
        Ok(())
    }

    /// Queues without a redrive policy first: the others name them as their DLQ.
    async fn create_queues(&mut self) -> Result<(), StackError> {
        let client = aws_sdk_sqs::Client::new(&self.sdk);
        let mut queues = self.template.resources_of_type("AWS::SQS::Queue");
        queues.sort_by_key(|(_, resource)| !resource["Properties"]["RedrivePolicy"].is_null());
        let queues: Vec<(String, Value)> = queues.into_iter().map(|(id, value)| (id, value.clone())).collect();
        for (id, resource) in queues {
            let name = format!("{}-{id}", self.prefix);
            let properties = &resource["Properties"];
            let mut request = client.create_queue().queue_name(&name);
            for (property, attribute) in [
                ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
                ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
            ] {
                if let Some(value) = resolve(&properties[property], self) {
                    request = request.attributes(attribute, value);
                }
            }
            let redrive = &properties["RedrivePolicy"];
            if !redrive.is_null() {
                let target = resolve(&redrive["deadLetterTargetArn"], self)
                    .ok_or_else(|| create_error(&id, "unresolved deadLetterTargetArn"))?;
                let max_receive = resolve(&redrive["maxReceiveCount"], self).unwrap_or_else(|| "5".into());
                let policy = serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max_receive});
                request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
            }
            let output = request.send().await.map_err(|error| create_error(&id, sdk_error(error)))?;
            let url = output.queue_url.unwrap_or_default();
            let arn = self.arn("sqs", &name);
            let attributes =
                HashMap::from([("Arn".into(), arn), ("QueueName".into(), name), ("QueueUrl".into(), url.clone())]);
            self.physical.insert(id, Physical { reference: url, attributes });
        }
        Ok(())
    }

    async fn create_buckets(&mut self) -> Result<(), StackError> {
        let client = aws_sdk_s3::Client::new(&self.sdk);
        for (id, _) in self.template.resources_of_type("AWS::S3::Bucket") {
            let name = format!("{}-{}", self.prefix, id).to_lowercase();
            client.create_bucket().bucket(&name).send().await.map_err(|error| create_error(&id, sdk_error(error)))?;
            let attributes = HashMap::from([("Arn".into(), format!("arn:aws:s3:::{name}"))]);
            self.physical.insert(id, Physical { reference: name, attributes });
        }
        Ok(())
    }

    async fn create_secrets(&mut self) -> Result<(), StackError> {
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk);
        // One development key set: its private half for api-auth, its public half for the others.
        let key_set = shared::auth::jwt::generate_key_set_json("local-1");
        for (id, resource) in self.template.resources_of_type("AWS::SecretsManager::Secret") {
            let value = match resource["Metadata"]["FlowdayLocalValue"].as_str() {
                Some("jwt-key-set") => key_set.clone(),
                Some("jwt-public-keys") => public_keys_of(&key_set),
                // An OAuth client's secret: the real one when `make dev` is given it, else a
                // development value the local provider fakes accept.
                Some("google-client-secret" | "microsoft-client-secret") => self
                    .parameters
                    .get(&secret_override(&id))
                    .cloned()
                    .unwrap_or_else(|| LOCAL_CLIENT_SECRET.to_string()),
                // Stripe's keys: the real ones when `make dev` is given them, else the values the
                // local Stripe stand-in uses.
                Some("stripe-api-key") => self
                    .parameters
                    .get(&secret_override(&id))
                    .cloned()
                    .unwrap_or_else(|| LOCAL_STRIPE_API_KEY.to_string()),
                Some("stripe-webhook-secret") => self
                    .parameters
                    .get(&secret_override(&id))
                    .cloned()
                    .unwrap_or_else(|| LOCAL_STRIPE_WEBHOOK_SECRET.to_string()),
                // An OpenAI-compatible model's key: `LLM_API_KEY` in make dev, a test fake's key.
                Some("llm-api-key") => {
                    self.parameters.get(&secret_override(&id)).cloned().unwrap_or_else(shared::auth::opaque::new_secret)
                }
                _ => shared::auth::opaque::new_secret(),
            };
            let output = client
                .create_secret()
                .name(format!("{}/{id}", self.prefix))
                .secret_string(value)
                .send()
                .await
                .map_err(|error| create_error(&id, sdk_error(error)))?;
            let arn = output.arn.unwrap_or_default();
            self.physical.insert(id, Physical { reference: arn, attributes: HashMap::new() });
        }
        Ok(())
    }

    async fn create_email_identities(&mut self) -> Result<(), StackError> {
        let client = aws_sdk_sesv2::Client::new(&self.sdk);
        for (id, resource) in self.template.resources_of_type("AWS::SES::EmailIdentity") {
            let identity = resolve(&resource["Properties"]["EmailIdentity"], self)
                .ok_or_else(|| create_error(&id, "unresolved EmailIdentity"))?;
            // The emulator keeps identities per account, not per stack: an existing one is fine.
            let _ = client.create_email_identity().email_identity(&identity).send().await;
            self.physical.insert(id, Physical { reference: identity, attributes: HashMap::new() });
        }
        Ok(())
    }

    /// The SNS platform applications of push (template Metadata `FlowdayLocal.PushPlatformApplications`:
    /// parameter -> platform), for each such parameter left empty and not set by the caller; the
    /// parameter then names the application. A caller setting one to "" turns that platform off.
    async fn create_push_applications(&mut self, overridden: &[String]) -> Result<(), StackError> {
        let client = aws_sdk_sns::Client::new(&self.sdk);
        let applications = self.template.metadata("FlowdayLocal")["PushPlatformApplications"].clone();
        for (parameter, platform) in applications.as_mapping().into_iter().flatten() {
            let (Some(parameter), Some(platform)) = (parameter.as_str(), platform.as_str()) else { continue };
            let unset = self.parameters.get(parameter).is_none_or(|value| value.is_empty());
            if !unset || overridden.iter().any(|name| name == parameter) {
                continue;
            }
            let output = client
                .create_platform_application()
                .name(format!("{}-{parameter}", self.prefix))
                .platform(platform)
                .attributes("PlatformCredential", "local")
                .send()
                .await
                .map_err(|error| create_error(parameter, sdk_error(error)))?;
            let arn = output.platform_application_arn.unwrap_or_default();
            self.parameters.insert(parameter.to_string(), arn);
        }
        Ok(())
    }

    /// Resources the emulator does not need (API, functions, alarms) still resolve, to local names.
    fn name_the_rest(&mut self) {
        for (id, _) in self.template.resources() {
            self.physical.entry(id.clone()).or_insert_with(|| Physical {
                reference: format!("{}-{id}", self.prefix),
                attributes: HashMap::from([("Arn".into(), format!("arn:aws:local:{REGION}:{ACCOUNT}:{id}"))]),
            });
        }
    }

    /// The environment template.yaml gives the function whose binary is `binary`, resolved.
    pub fn function_environment(&self, binary: &str) -> Result<BTreeMap<String, String>, StackError> {
        let id = self.template.function_by_binary(binary).ok_or_else(|| StackError::UnknownFunction(binary.into()))?;
        let mut environment = self.template.environment_of(&id, self)?;
        environment.insert("AWS_LAMBDA_FUNCTION_NAME".into(), binary.into());
        Ok(environment)
    }

    /// The environment of the function's own process (its Lambda binary run locally): the
    /// template's variables plus what points the AWS SDK at the emulator.
    pub fn process_environment(&self, binary: &str) -> Result<BTreeMap<String, String>, StackError> {
        let mut environment = self.function_environment(binary)?;
        for (name, value) in [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            environment.insert(name.into(), value.into());
        }
        Ok(environment)
    }

    /// An HTTP function's routes with its state, built by its crate (as its Lambda main builds
    /// it, with only the clients it uses) from the environment the template gives it.
    pub async fn route_group(&self, binary: &str) -> Result<RouteGroup, StackError> {
        let function = http_function(binary).ok_or_else(|| StackError::UnknownFunction(binary.into()))?;
        (function.build)(self.env(binary)?, self.sdk.clone()).await.map_err(|error| init_error(binary, error))
    }

    /// A background function's handler with its state, built likewise.
    pub fn job_handler(&self, binary: &str) -> Result<JobHandler, StackError> {
        let function = background_function(binary).ok_or_else(|| StackError::UnknownFunction(binary.into()))?;
        (function.build)(&self.env(binary)?, &self.sdk).map_err(|error| init_error(binary, error))
    }

    /// The settings the function `binary` reads: the environment the template gives it.
    pub fn env(&self, binary: &str) -> Result<Env, StackError> {
        let environment: HashMap<String, String> = self.function_environment(binary)?.into_iter().collect();
        Ok(Env::from_map(environment))
    }

    /// A `!GetAtt` attribute of a resource (a queue's `Arn`, for example).
    pub fn physical_attribute(&self, logical_id: &str, attribute: &str) -> Option<String> {
        self.physical.get(logical_id)?.attributes.get(attribute).cloned()
    }

    /// The physical name of a resource (table name, queue URL, bucket name, secret ARN).
    pub fn physical_id(&self, logical_id: &str) -> Option<String> {
        self.physical.get(logical_id).map(|physical| physical.reference.clone())
    }
}

fn attribute_definitions(value: &Value) -> Vec<AttributeDefinition> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|definition| {
            let kind = match definition["AttributeType"].as_str()? {
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                _ => ScalarAttributeType::S,
            };
            AttributeDefinition::builder()
                .attribute_name(definition["AttributeName"].as_str()?)
                .attribute_type(kind)
                .build()
                .ok()
        })
        .collect()
}

fn key_schema(value: &Value) -> Vec<KeySchemaElement> {
    value
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|element| {
            let kind = if element["KeyType"].as_str()? == "HASH" { KeyType::Hash } else { KeyType::Range };
            KeySchemaElement::builder().attribute_name(element["AttributeName"].as_str()?).key_type(kind).build().ok()
        })
        .collect()
}

fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(&error).to_string()
}

/// The JWKS document of a private key set (the public-keys secret).
pub fn public_keys_of(key_set: &str) -> String {
    let keys = shared::auth::JwtKeys::from_secret_json(key_set, "any", "any").expect("a key set of ours");
    keys.jwks().to_string()
}

/// The local value of an OAuth client secret no one gave (the calendar fakes' client secret).
pub const LOCAL_CLIENT_SECRET: &str = "flowday-local-client-secret";

/// The local stack's Stripe API key (the stand-in's), unless `STRIPE_API_KEY` gives one.
pub const LOCAL_STRIPE_API_KEY: &str = "sk_test_flowday_local";

/// The local stack's webhook signing secret, unless `STRIPE_WEBHOOK_SECRET` gives one: a
/// documented development value (README), so a person can sign events by hand.
pub const LOCAL_STRIPE_WEBHOOK_SECRET: &str = "whsec_flowday_local_development";

/// The override that sets the local value of the secret `id` (e.g. `secret:GoogleOAuthSecret`).
pub fn secret_override(id: &str) -> String {
    format!("secret:{id}")
}
