//! What the clients of other services share: SigV4 header signing of a POST to an AWS service
//! (Bedrock, Transcribe; the SDK's signer, not the SDK's clients), and the text of an upstream
//! error made safe to keep (without a secret, cut short, with its causes).

use std::time::SystemTime;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use reqwest::header::HeaderValue;

/// Why a request could not be signed.
#[derive(Debug)]
pub(crate) enum SigningError {
    /// No credentials: `settings_wrong` when none are configured at all (retrying will not help),
    /// otherwise a provider that failed this time (IMDS, STS).
    Credentials { message: String, settings_wrong: bool },
    /// The request itself cannot be signed (a header value, the URL).
    Unsignable(String),
}

impl SigningError {
    fn of_credentials(error: CredentialsError) -> Self {
        let settings_wrong =
            matches!(error, CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_));
        SigningError::Credentials { message: format!("no AWS credentials: {}", causes(&error)), settings_wrong }
    }
}

/// Where a signed POST goes and what it says.
pub(crate) struct SignedPost<'a> {
    /// The signing name of the service: `bedrock`, `transcribe`.
    pub service: &'a str,
    pub region: &'a str,
    pub url: &'a str,
    /// Headers sent exactly so, and signed (the content type, `x-amz-target`).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The SigV4 headers of `post`: `authorization`, `x-amz-date`, `x-amz-content-sha256` and, with
/// temporary credentials, `x-amz-security-token`. The credentials are asked for each time:
/// Lambda's rotate, and are then always current.
pub(crate) async fn sign_post(
    credentials: &SharedCredentialsProvider,
    post: &SignedPost<'_>,
) -> Result<Vec<(&'static str, HeaderValue)>, SigningError> {
    let credentials = credentials.provide_credentials().await.map_err(SigningError::of_credentials)?;
    let identity: Identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::Headers;
    // The body's hash in a header too, as the SDK sends it.
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let unsignable = |error: &dyn std::error::Error| SigningError::Unsignable(format!("cannot sign: {error}"));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(post.region)
        .name(post.service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|error| unsignable(&error))?
        .into();
    let request = SignableRequest::new("POST", post.url, post.headers.iter().copied(), SignableBody::Bytes(post.body))
        .map_err(|error| unsignable(&error))?;
    let (instructions, _signature) = sign(request, &params).map_err(|error| unsignable(&error))?.into_parts();
    let (headers, _query) = instructions.into_parts();
    let mut signed = Vec::with_capacity(headers.len());
    for header in headers {
        let mut value = HeaderValue::from_str(header.value()).map_err(|error| unsignable(&error))?;
        // Keeps the signature and the session token out of reqwest's `Debug`.
        value.set_sensitive(header.sensitive());
        signed.push((header.name(), value));
    }
    Ok(signed)
}

/// An upstream message for an error: without `secret`, and at most 300 characters.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    let text = match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "[redacted]"),
        _ => text.to_string(),
    };
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// An error and its sources: `error sending request: client error (Connect): tcp connect error: ...`.
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// The region and credentials of `sdk`, for a client that signs its own requests (Bedrock,
/// Transcribe): the region where Lambda runs it (`us-east-1` when none is set).
pub(crate) fn signing_identity(
    sdk: &crate::state::SdkConfig,
) -> Result<(String, SharedCredentialsProvider), crate::state::InitError> {
    let region = sdk.region().map(|region| region.to_string()).unwrap_or_else(|| "us-east-1".into());
    let credentials =
        sdk.credentials_provider().ok_or(crate::state::InitError::Aws("no AWS credentials to sign requests with"))?;
    Ok((region, credentials))
}

/// A client that needs an API key from Secrets Manager, built on its first use (so a background
/// function's cold start reads no secret) and then kept for the life of the function.
pub(crate) struct KeyedClient<C> {
    secret_id: Option<String>,
    sdk: crate::state::SdkConfig,
    build: Box<dyn Fn(Option<String>) -> C + Send + Sync>,
    client: tokio::sync::OnceCell<C>,
}

impl<C> KeyedClient<C> {
    /// `build` makes the client from the key (none without `secret_id`: a server that needs none).
    pub(crate) fn new(
        secret_id: Option<String>,
        sdk: &crate::state::SdkConfig,
        build: impl Fn(Option<String>) -> C + Send + Sync + 'static,
    ) -> Self {
        KeyedClient { secret_id, sdk: sdk.clone(), build: Box::new(build), client: tokio::sync::OnceCell::new() }
    }

    /// The client; `Err` says why the key could not be read (worth another try later).
    pub(crate) async fn get(&self) -> Result<&C, String> {
        self.client
            .get_or_try_init(|| async {
                let key = match &self.secret_id {
                    Some(id) => Some(crate::state::secret(&self.sdk, id).await.map_err(|error| error.to_string())?),
                    None => None,
                };
                Ok((self.build)(key))
            })
            .await
    }
}
