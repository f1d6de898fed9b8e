//! An S3-compatible bucket (AWS S3, MinIO, Volcano TOS, …) through `object_store`'s S3 client:
//! every request SigV4-signed, streaming uploads as multipart uploads, and presigned GET URLs
//! (SigV4 query parameters) for providers that download the audio themselves.
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::signer::Signer;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{object_path, ObjectStorage, StorageError, UrlSigner};

/// Where the bucket is and the credentials to reach it; the configuration (`storage.s3`) builds
/// this, reading the key pair from files or the environment.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Base URL of an S3-compatible API, without the bucket; `None` = AWS S3 in `region`.
    pub endpoint: Option<Url>,
    pub region: String,
    pub bucket: String,
    /// `{endpoint}/{bucket}/{key}` URLs; otherwise `{bucket}.{endpoint host}/{key}`.
    pub path_style: bool,
    /// Plain `http://` to the endpoint (the configuration allows it for development and
    /// loopback endpoints only).
    pub allow_http: bool,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Longest lifetime of a presigned URL; a request for longer gets this lifetime.
    pub presign_ttl: Duration,
}

impl ObjectStorage {
    /// A bucket of an S3-compatible store, presigning GET URLs with the same credentials.
    /// Nothing is sent yet: unreachable stores and refused credentials show on first use (and
    /// in `/ready`).
    pub fn s3(options: S3Options) -> Result<ObjectStorage, StorageError> {
        let mut builder = AmazonS3Builder::new()
            .with_region(&options.region)
            .with_bucket_name(&options.bucket)
            .with_access_key_id(&options.access_key_id)
            .with_secret_access_key(options.secret_access_key.expose_secret())
            .with_virtual_hosted_style_request(!options.path_style)
            .with_allow_http(options.allow_http);
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(bucket_endpoint(
                endpoint,
                &options.bucket,
                options.path_style,
            )?);
        }
        let s3 = Arc::new(builder.build()?);
        Ok(ObjectStorage {
            inner: s3.clone(),
            signer: Some(Arc::new(S3UrlSigner {
                s3,
                max_ttl: options.presign_ttl,
            })),
        })
    }
}

/// The endpoint `object_store` expects: it appends the bucket to a path-style endpoint itself,
/// and takes a virtual-hosted endpoint as given, so the bucket must already be in its host.
fn bucket_endpoint(endpoint: &Url, bucket: &str, path_style: bool) -> Result<String, StorageError> {
    let mut url = endpoint.clone();
    if !path_style {
        let host = endpoint.host_str().unwrap_or_default();
        url.set_host(Some(&format!("{bucket}.{host}")))
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: Box::new(e),
            })?;
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Presigned GET URLs: SigV4 query parameters over `host` and an unsigned payload, so whoever
/// holds the URL can fetch that one object until it expires, and nothing else.
struct S3UrlSigner {
    s3: Arc<AmazonS3>,
    max_ttl: Duration,
}

#[async_trait::async_trait]
impl UrlSigner for S3UrlSigner {
    async fn signed_get_url(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let url = self
            .s3
            .signed_url(
                reqwest::Method::GET,
                &object_path(key)?,
                expires_in.min(self.max_ttl),
            )
            .await?;
        Ok(url.into())
    }
}

#[cfg(test)]
mod tests;
