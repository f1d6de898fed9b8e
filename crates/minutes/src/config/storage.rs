//! `storage`: where objects live (a local directory or an S3-compatible bucket), and where the
//! S3 key pair comes from: files or the environment, never the configuration itself.
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use super::{AsrConfig, ConfigError, Profile};
use crate::storage::S3Options;

/// Environment variables holding the S3 key pair when no `*_file` setting names a file.
pub const S3_ACCESS_KEY_ID_ENV: &str = "MINUTES_S3_ACCESS_KEY_ID";
pub const S3_SECRET_ACCESS_KEY_ENV: &str = "MINUTES_S3_SECRET_ACCESS_KEY";
/// Shortest presigned URL worth handing to a provider, and SigV4's longest (seven days).
const PRESIGN_TTL_SECS: std::ops::RangeInclusive<u64> = 60..=604_800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageBackend {
    /// Files under `storage.root` (the embedded default; cannot presign URLs).
    Local,
    /// An S3-compatible bucket (AWS S3, MinIO, TOS, …); presigns GET URLs.
    S3,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: StorageBackend,
    /// Local object-store root (backend `local`); empty means `{data_dir}/objects`.
    pub root: String,
    pub s3: S3StorageConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3StorageConfig {
    /// Base URL of an S3-compatible API without the bucket (`https://minio.internal:9000`);
    /// empty = AWS S3 in `region`.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    /// `{endpoint}/{bucket}/{key}` URLs (MinIO and most self-hosted servers); `false` puts the
    /// bucket in the host name (`{bucket}.{endpoint host}`), as AWS S3 and TOS prefer.
    pub path_style: bool,
    /// Files holding the key pair (mounted secrets); unset = the environment variables.
    pub access_key_id_file: Option<PathBuf>,
    pub secret_access_key_file: Option<PathBuf>,
    /// Longest lifetime of a presigned GET URL; a longer request gets this lifetime.
    pub presign_ttl_secs: u64,
    /// Plain `http://` to the endpoint: any endpoint outside production, a loopback one in it.
    pub allow_http: bool,
}

impl StorageConfig {
    /// Checks the S3 settings when they are used (the key pair is read when the store opens).
    pub(super) fn validate(&self, profile: Profile, asr: &AsrConfig) -> Result<(), ConfigError> {
        if self.backend == StorageBackend::Local {
            return Ok(());
        }
        let s3 = &self.s3;
        if !is_bucket_name(&s3.bucket) {
            return Err(invalid(
                "storage.s3.bucket",
                format!(
                    "`{}`: 3 to 63 lowercase letters, digits, '.' or '-', starting and ending \
                     with a letter or digit",
                    s3.bucket
                ),
            ));
        }
        if s3.region.trim().is_empty() {
            return Err(invalid(
                "storage.s3.region",
                "required (servers with no regions, like MinIO, take us-east-1)",
            ));
        }
        if !PRESIGN_TTL_SECS.contains(&s3.presign_ttl_secs) {
            return Err(invalid(
                "storage.s3.presign_ttl_secs",
                "between 60 and 604800 (seven days, the longest a SigV4 URL can live)",
            ));
        }
        if let Some(endpoint) = s3.endpoint_url()? {
            s3.check_endpoint(&endpoint, profile)?;
        }
        let volcano_ttl = asr.volcano.audio_url_ttl_secs;
        if asr.uses_volcano() && volcano_ttl > s3.presign_ttl_secs {
            return Err(invalid(
                "asr.volcano.audio_url_ttl_secs",
                format!(
                    "{volcano_ttl} s is longer than storage.s3.presign_ttl_secs ({} s), the \
                     longest presigned URL the store hands out",
                    s3.presign_ttl_secs
                ),
            ));
        }
        Ok(())
    }
}

impl S3StorageConfig {
    /// Where the store is and its key pair: each key from its `*_file` setting when set, else
    /// from `MINUTES_S3_ACCESS_KEY_ID` / `MINUTES_S3_SECRET_ACCESS_KEY`.
    pub fn options(&self) -> Result<S3Options, ConfigError> {
        self.options_with(|name| std::env::var(name).ok())
    }

    fn options_with(&self, env: impl Fn(&str) -> Option<String>) -> Result<S3Options, ConfigError> {
        let access_key_id = credential(
            self.access_key_id_file.as_ref(),
            S3_ACCESS_KEY_ID_ENV,
            "storage.s3.access_key_id_file",
            &env,
        )?;
        let secret_access_key = credential(
            self.secret_access_key_file.as_ref(),
            S3_SECRET_ACCESS_KEY_ENV,
            "storage.s3.secret_access_key_file",
            &env,
        )?;
        Ok(S3Options {
            endpoint: self.endpoint_url()?,
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            path_style: self.path_style,
            allow_http: self.allow_http,
            access_key_id,
            secret_access_key: SecretString::from(secret_access_key),
            presign_ttl: Duration::from_secs(self.presign_ttl_secs),
        })
    }

    fn endpoint_url(&self) -> Result<Option<Url>, ConfigError> {
        let text = self.endpoint.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let url = Url::parse(text)
            .ok()
            .filter(|u| u.host().is_some() && u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| {
                invalid(
                    "storage.s3.endpoint",
                    format!("`{text}` is not a base URL like https://s3.example.com"),
                )
            })?;
        Ok(Some(url))
    }

    fn check_endpoint(&self, endpoint: &Url, profile: Profile) -> Result<(), ConfigError> {
        match endpoint.scheme() {
            "https" => {}
            "http" if !self.allow_http => {
                return Err(invalid(
                    "storage.s3.allow_http",
                    "the endpoint is plain http://: set allow_http: true (development, or a \
                     loopback endpoint in production)",
                ))
            }
            "http" if profile == Profile::Production && !is_loopback(endpoint) => {
                return Err(invalid(
                    "storage.s3.allow_http",
                    "production sends object-store credentials and presigned URLs over TLS: \
                     plain http:// is allowed only to a loopback endpoint",
                ))
            }
            "http" => {}
            other => {
                return Err(invalid(
                    "storage.s3.endpoint",
                    format!("`{other}://`: use https:// (or http:// with allow_http)"),
                ))
            }
        }
        if !self.path_style && !matches!(endpoint.host(), Some(Host::Domain(_))) {
            return Err(invalid(
                "storage.s3.path_style",
                "path_style: false puts the bucket into the host name, so the endpoint needs a \
                 host name, not an IP address",
            ));
        }
        Ok(())
    }
}

/// A key from its file (trimmed: mounted secrets often end in a newline) or else from `var`.
fn credential(
    file: Option<&PathBuf>,
    var: &str,
    key: &'static str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let value = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?,
        None => env(var).unwrap_or_default(),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(key, format!("no value: set {var} or {key}")));
    }
    Ok(value.to_string())
}

/// S3's bucket naming rules, which also make the name a valid host label.
fn is_bucket_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.contains("..")
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;
