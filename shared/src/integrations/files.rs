//! The private files bucket (attachments, later exports and avatars), reached through SigV4
//! presigned URLs instead of the S3 SDK: clients upload and download with them directly, and
//! deletes send a presigned DELETE. The signer and the HTTPS client are the ones the AWS SDK
//! already links, so no function carries the S3 client (it alone added megabytes to a binary).
//!
//! Uploads sign their content type and length: S3 refuses a PUT of another type or size.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::body::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::settings::{Env, FileSettings};
use crate::state::{InitError, SdkConfig};

#[derive(Debug, thiserror::Error)]
#[error("files: {0}")]
pub struct FileError(String);

/// A request the client makes itself: the URL, and the headers it must send exactly so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// The HTTPS client of presigned requests: the stack the AWS SDK links (hyper-util, hyper-rustls
/// with the platform's roots), plain HTTP allowed for a local endpoint.
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn https_client() -> Result<HttpsClient, InitError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|error| InitError::Http(format!("the platform's root certificates: {error}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// The bucket's endpoint, and the credentials that sign for it.
#[derive(Clone)]
pub struct Files {
    /// `https://{bucket}.s3.{region}.amazonaws.com` in AWS; `{endpoint}/{bucket}` (path style)
    /// when an endpoint is configured (the local emulator answers on one host).
    base_url: String,
    bucket: String,
    region: String,
    credentials: SharedCredentialsProvider,
    http: HttpsClient,
}

impl Files {
    /// The bucket of `FILES_BUCKET`, with the region, endpoint and credentials of `sdk`.
    pub fn from_env(env: &Env, sdk: &SdkConfig) -> Result<Files, InitError> {
        let settings = FileSettings::read(env)?;
        let region = sdk.region().map(|region| region.to_string()).ok_or(InitError::Aws("no AWS region is set"))?;
        let credentials = sdk.credentials_provider().ok_or(InitError::Aws("no AWS credentials provider"))?;
        let base_url = match sdk.endpoint_url() {
            Some(endpoint) => format!("{}/{}", endpoint.trim_end_matches('/'), settings.bucket),
            None => format!("https://{}.s3.{region}.amazonaws.com", settings.bucket),
        };
        Ok(Files { base_url, bucket: settings.bucket, region, credentials, http: https_client()? })
    }

    /// A PUT of exactly `length` bytes of `content_type` to `key`.
    pub async fn upload(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        expires_in: Duration,
    ) -> Result<Presigned, FileError> {
        self.upload_tagged(key, content_type, length, None, expires_in).await
    }

    /// `upload`, the object tagged (`kind=voice-note`): a lifecycle rule of the bucket matches
    /// the tag, so such objects, and their old versions, never outlive a day or two.
    pub async fn upload_tagged(
        &self,
        key: &str,
        content_type: &str,
        length: u64,
        tagging: Option<&str>,
        expires_in: Duration,
    ) -> Result<Presigned, FileError> {
        let mut headers =
            vec![("content-type".to_string(), content_type.to_string()), ("content-length".into(), length.to_string())];
        if let Some(tagging) = tagging {
            headers.push(("x-amz-tagging".to_string(), tagging.to_string()));
        }
        let url = self.presign("PUT", &self.object_url(key), &headers, expires_in).await?;
        Ok(Presigned { url, headers })
    }

    /// A GET of `key` whose answer the browser saves as `filename`.
    pub async fn download(&self, key: &str, filename: &str, expires_in: Duration) -> Result<String, FileError> {
        let disposition = format!("attachment; filename=\"{}\"", filename.replace(['"', '\\'], ""));
        let url = format!("{}?response-content-disposition={}", self.object_url(key), encode(&disposition, true));
        self.presign("GET", &url, &[], expires_in).await
    }

    /// Deletes `key`; a key already gone counts as deleted (S3 answers 204 either way).
    pub async fn delete(&self, key: &str) -> Result<(), FileError> {
        let url = self.presign("DELETE", &self.object_url(key), &[], Duration::from_secs(60)).await?;
        let request = http::Request::delete(&url).body(Empty::new()).map_err(|error| FileError(error.to_string()))?;
        let response = self.http.request(request).await.map_err(|error| FileError(error.to_string()))?;
        let status = response.status();
        if status.is_success() || status == http::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(FileError(format!("DELETE {key}: {status}")))
    }

    /// Whether `key` is there (a presigned HEAD): a client's upload has arrived.
    pub async fn exists(&self, key: &str) -> Result<bool, FileError> {
        let url = self.presign("HEAD", &self.object_url(key), &[], Duration::from_secs(60)).await?;
        let request = http::Request::head(&url).body(Empty::new()).map_err(|error| FileError(error.to_string()))?;
        let response = self.http.request(request).await.map_err(|error| FileError(error.to_string()))?;
        match response.status() {
            status if status.is_success() => Ok(true),
            http::StatusCode::NOT_FOUND | http::StatusCode::FORBIDDEN => Ok(false),
            status => Err(FileError(format!("HEAD {key}: {status}"))),
        }
    }

    /// `s3://bucket/key`, as AWS services that read the object themselves (Transcribe) name it.
    pub fn s3_uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Deletes every key, a few at a time; the first failure ends it (the caller retries later).
    pub async fn delete_all(&self, keys: &[String]) -> Result<(), FileError> {
        for chunk in keys.chunks(8) {
            let mut deletes = Vec::with_capacity(chunk.len());
            for key in chunk {
                deletes.push(self.delete(key));
            }
            futures::future::try_join_all(deletes).await?;
        }
        Ok(())
    }

    fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.base_url, encode(key, false))
    }

    /// Signs `method url` with the signature in the query string (SigV4 presigning, as S3 takes it).
    async fn presign(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        expires_in: Duration,
    ) -> Result<String, FileError> {
        // The provider is asked each time: Lambda's are environment variables, and rotated
        // credentials are then always current.
        let credentials =
            self.credentials.provide_credentials().await.map_err(|error| FileError(format!("credentials: {error}")))?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(expires_in);
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|error| FileError(error.to_string()))?
            .into();
        let host = host_of(url).ok_or_else(|| FileError(format!("no host in {url}")))?;
        let signed_headers =
            std::iter::once(("host", host)).chain(headers.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        let request = SignableRequest::new(method, url, signed_headers, SignableBody::UnsignedPayload)
            .map_err(|error| FileError(error.to_string()))?;
        let (instructions, _signature) =
            sign(request, &params).map_err(|error| FileError(error.to_string()))?.into_parts();
        let (_, query) = instructions.into_parts();
        let mut signed = url.to_string();
        for (index, (name, value)) in query.iter().enumerate() {
            let separator = if index == 0 && !url.contains('?') { '?' } else { '&' };
            signed.push(separator);
            signed.push_str(name);
            signed.push('=');
            signed.push_str(&encode(value, true));
        }
        Ok(signed)
    }
}

fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.split(['/', '?']).next().filter(|host| !host.is_empty())
}

/// RFC 3986 percent-encoding as SigV4 wants it; `/` kept in object keys, encoded in query values.
fn encode(text: &str, slash_too: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => encoded.push(byte as char),
            b'/' if !slash_too => encoded.push('/'),
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn files(endpoint: Option<&str>) -> Files {
        let mut sdk = SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::for_tests()));
        if let Some(endpoint) = endpoint {
            sdk = sdk.endpoint_url(endpoint);
        }
        let env = Env::from_map([("FILES_BUCKET".to_string(), "flowday-files".to_string())].into());
        Files::from_env(&env, &sdk.build()).unwrap()
    }

    #[tokio::test]
    async fn an_upload_url_signs_its_type_and_length_and_expires() {
        let upload = files(None).upload("users/u1/a b.pdf", "application/pdf", 42, Duration::from_secs(900)).await;
        let upload = upload.unwrap();
        assert!(upload.url.starts_with("https://flowday-files.s3.eu-west-1.amazonaws.com/users/u1/a%20b.pdf?"));
        assert!(upload.url.contains("X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost"), "{}", upload.url);
        assert!(upload.url.contains("X-Amz-Expires=900"), "{}", upload.url);
        assert!(upload.url.contains("X-Amz-Signature="), "{}", upload.url);
        assert_eq!(upload.headers[1], ("content-length".to_string(), "42".to_string()));
    }

    #[tokio::test]
    async fn a_local_endpoint_is_addressed_path_style() {
        let url = files(Some("http://127.0.0.1:5000")).download("k", "r\"e\"port.pdf", Duration::from_secs(60)).await;
        let url = url.unwrap();
        assert!(url.starts_with("http://127.0.0.1:5000/flowday-files/k?response-content-disposition="), "{url}");
        assert!(url.contains("filename%3D%22report.pdf%22"), "quotes in a filename are dropped: {url}");
    }
}
