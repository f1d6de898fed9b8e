//! Provider-side hotword tables. Volcano keeps boosting tables (热词表) that a recognition
//! request names; this is the client of its table management API ("热词管理 API v1.0":
//! `open.volcengineapi.com`, service `speech_saas_prod`, version `2022-08-30`, requests signed
//! with the account's access key pair). Only the `sync_hotword_table` job calls it.
mod sign;
pub mod validate;

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::hotwords::Hotword;
use crate::egress::EgressPolicy;
use crate::providers::http::{
    body_excerpt, build_client, check_base_url, classify_transport, parse_retry_after,
    read_body_capped, serialize_redacted,
};
use crate::providers::ProviderError;

pub use validate::TableFile;

const PROVIDER: &str = "volcano-hotwords";
/// Table listings are small; anything larger is not an answer.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
const LIST_PAGE_SIZE: u32 = 100;

fn default_endpoint() -> String {
    "https://open.volcengineapi.com".into()
}
fn default_region() -> String {
    "cn-north-1".into()
}
fn default_service() -> String {
    "speech_saas_prod".into()
}
fn default_version() -> String {
    "2022-08-30".into()
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_table_prefix() -> String {
    "minutes_".into()
}

/// `asr.volcano.hotword_tables`: keeping hotword sets as Volcano boosting tables.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolcanoHotwordSettings {
    /// Create/update/delete a boosting table for each hotword set (needs the key pair below).
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default = "default_service")]
    pub service: String,
    #[serde(default = "default_version")]
    pub version: String,
    /// The Volcengine account's Access Key ID (IAM 密钥管理).
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default, serialize_with = "serialize_redacted")]
    pub secret_access_key: Option<SecretString>,
    /// A file holding the secret access key (a mounted secret).
    #[serde(default)]
    pub secret_access_key_file: Option<PathBuf>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Tables are named `{table_prefix}{hotword_set_id}`, so a retried creation finds its table.
    #[serde(default = "default_table_prefix")]
    pub table_prefix: String,
}

impl Default for VolcanoHotwordSettings {
    fn default() -> Self {
        VolcanoHotwordSettings {
            enabled: false,
            endpoint: default_endpoint(),
            region: default_region(),
            service: default_service(),
            version: default_version(),
            access_key_id: String::new(),
            secret_access_key: None,
            secret_access_key_file: None,
            timeout_secs: default_timeout_secs(),
            table_prefix: default_table_prefix(),
        }
    }
}

/// How a table operation failed, for the callers that branch on it.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// Local validation refused the word list; nothing was sent.
    #[error("the words do not fit a Volcano boosting table: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// `InvalidParameter.BoostingNameDuplicated`.
    #[error("a boosting table with this name already exists")]
    NameTaken,
    /// `OperationDenied.BoostingTableNotFound`.
    #[error("the boosting table does not exist")]
    NotFound,
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// A table as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BoostingTableInfo {
    #[serde(rename = "BoostingTableID")]
    pub id: String,
    #[serde(rename = "BoostingTableName", default)]
    pub name: String,
    #[serde(rename = "WordCount", default)]
    pub word_count: Option<i64>,
    #[serde(rename = "WordSize", default)]
    pub word_size: Option<i64>,
    #[serde(rename = "Preview", default)]
    pub preview: Vec<String>,
}

/// The boosting-table API of one Volcano application.
#[derive(Debug, Clone)]
pub struct BoostingTables {
    client: reqwest::Client,
    url: url::Url,
    /// `Host` as the client sends it (with the port when it is not the default).
    host: String,
    app_id: i64,
    settings: VolcanoHotwordSettings,
    secret: SecretString,
}

impl BoostingTables {
    /// A client for application `app_id` (the numeric APP ID of the speech console).
    pub fn new(
        settings: &VolcanoHotwordSettings,
        app_id: &str,
        egress: &EgressPolicy,
    ) -> Result<BoostingTables, ProviderError> {
        let rejected = |detail: String| ProviderError::Rejected {
            provider: PROVIDER.into(),
            detail,
        };
        let app_id: i64 = app_id.trim().parse().map_err(|_| {
            rejected(format!(
                "asr.volcano.app_id `{app_id}` is not the numeric APP ID the table API needs"
            ))
        })?;
        if settings.access_key_id.trim().is_empty() {
            return Err(rejected(
                "asr.volcano.hotword_tables.access_key_id is not set".into(),
            ));
        }
        let secret = read_secret(
            settings.secret_access_key.as_ref(),
            settings.secret_access_key_file.as_deref(),
        )
        .map_err(rejected)?
        .ok_or_else(|| {
            rejected(
                "asr.volcano.hotword_tables.secret_access_key (or secret_access_key_file) is not set"
                    .into(),
            )
        })?;
        check_base_url(PROVIDER, &settings.endpoint, egress)?;
        let url = url::Url::parse(settings.endpoint.trim())
            .map_err(|e| rejected(format!("asr.volcano.hotword_tables.endpoint: {e}")))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(rejected("the endpoint has no host".into())),
        };
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        Ok(BoostingTables {
            client: build_client(PROVIDER, timeout, egress)?,
            url,
            host,
            app_id,
            settings: settings.clone(),
            secret,
        })
    }

    /// The name of the table that holds hotword set `set_id`.
    pub fn table_name(&self, set_id: &str) -> String {
        format!("{}{set_id}", self.settings.table_prefix)
    }

    /// `CreateBoostingTable` with the validated words.
    pub async fn create(
        &self,
        name: &str,
        words: &[Hotword],
    ) -> Result<BoostingTableInfo, TableError> {
        let file = validate::table_file(words).map_err(TableError::Invalid)?;
        let fields = [("BoostingTableName", name.to_string())];
        let result = self
            .multipart("CreateBoostingTable", &fields, name, &file.text)
            .await?;
        table_info(result)
    }

    /// `UpdateBoostingTable`: replaces the table's words.
    pub async fn update(
        &self,
        table_id: &str,
        name: &str,
        words: &[Hotword],
    ) -> Result<BoostingTableInfo, TableError> {
        let file = validate::table_file(words).map_err(TableError::Invalid)?;
        let fields = [("BoostingTableID", table_id.to_string())];
        let result = self
            .multipart("UpdateBoostingTable", &fields, name, &file.text)
            .await?;
        table_info(result)
    }

    /// `DeleteBoostingTable`; a table that is already gone counts as deleted.
    pub async fn delete(&self, table_id: &str) -> Result<(), TableError> {
        match self
            .json("DeleteBoostingTable", json!({"BoostingTableID": table_id}))
            .await
        {
            Ok(_) | Err(TableError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One page of `ListBoostingTable` (pages start at 1) and the total count.
    pub async fn list(
        &self,
        page: u32,
        page_size: u32,
    ) -> Result<(Vec<BoostingTableInfo>, i64), TableError> {
        let result = self
            .json(
                "ListBoostingTable",
                json!({"PageNumber": page, "PageSize": page_size, "PreviewSize": 10}),
            )
            .await?;
        let total = result
            .get("BoostingTableCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let tables = match result.get("BoostingTables") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| invalid(format!("BoostingTables is not a table list: {e}")))?,
        };
        Ok((tables, total))
    }

    /// The table called `name`, looked up through the listing.
    pub async fn find_by_name(&self, name: &str) -> Result<Option<BoostingTableInfo>, TableError> {
        let mut page = 1;
        loop {
            let (tables, total) = self.list(page, LIST_PAGE_SIZE).await?;
            if let Some(t) = tables.iter().find(|t| t.name == name) {
                return Ok(Some(t.clone()));
            }
            let seen = i64::from(page) * i64::from(LIST_PAGE_SIZE);
            if tables.is_empty() || seen >= total {
                return Ok(None);
            }
            page += 1;
        }
    }

    /// Makes table `name` hold `words`: updates `known_id` (or the table of that name), and
    /// creates the table when there is none. Safe to repeat: the name finds an earlier creation.
    pub async fn upsert(
        &self,
        known_id: Option<&str>,
        name: &str,
        words: &[Hotword],
    ) -> Result<BoostingTableInfo, TableError> {
        // Validate before any call, so a bad list never half-applies.
        validate::table_file(words).map_err(TableError::Invalid)?;
        if let Some(id) = known_id {
            match self.update(id, name, words).await {
                Err(TableError::NotFound) => {} // deleted out of band: create it again
                other => return other,
            }
        }
        match self.create(name, words).await {
            Err(TableError::NameTaken) => {
                let existing = self.find_by_name(name).await?.ok_or(TableError::NotFound)?;
                self.update(&existing.id, name, words).await
            }
            other => other,
        }
    }

    async fn json(&self, action: &str, params: Value) -> Result<Value, TableError> {
        let mut body =
            json!({"Action": action, "Version": self.settings.version, "AppID": self.app_id});
        if let (Some(body), Value::Object(params)) = (body.as_object_mut(), params) {
            body.extend(params);
        }
        let bytes = serde_json::to_vec(&body).map_err(|e| invalid(e.to_string()))?;
        self.send(action, "application/json; charset=utf-8", bytes)
            .await
    }

    async fn multipart(
        &self,
        action: &str,
        fields: &[(&str, String)],
        name: &str,
        file_text: &str,
    ) -> Result<Value, TableError> {
        let boundary = format!("minutes{}", uuid::Uuid::new_v4().simple());
        let mut body = Vec::with_capacity(file_text.len() + 1024);
        let mut field = |key: &str, value: &str| {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        };
        field("Action", action);
        field("Version", &self.settings.version);
        field("AppID", &self.app_id.to_string());
        for (key, value) in fields {
            field(key, value);
        }
        // The name is ours (`minutes_hs_…`): ASCII without quotes, safe in the header.
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"File\"; filename=\"{name}.txt\"\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file_text.as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            action,
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
        .await
    }

    /// Signs and sends one action; returns its `Result` object.
    async fn send(
        &self,
        action: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, TableError> {
        let query = [
            ("Action", action),
            ("Version", self.settings.version.as_str()),
        ];
        let signed = sign::sign(
            &sign::Signing {
                access_key_id: self.settings.access_key_id.trim(),
                secret_access_key: self.secret.expose_secret(),
                region: &self.settings.region,
                service: &self.settings.service,
            },
            &sign::Request {
                method: "POST",
                host: &self.host,
                path: self.url.path(),
                query: &query,
                content_type,
                body: &body,
            },
            chrono::Utc::now(),
        );
        let mut url = self.url.clone();
        url.set_query(Some(&sign::canonical_query(&query)));
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let mut resp = self
            .client
            .post(url)
            .header("Content-Type", content_type)
            .header("X-Date", &signed.x_date)
            .header("X-Content-Sha256", &signed.content_sha256)
            .header("Authorization", &signed.authorization)
            .body(body)
            .send()
            .await
            .map_err(|e| classify_transport(PROVIDER, timeout, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = read_body_capped(PROVIDER, timeout, &mut resp, MAX_ANSWER_BYTES).await?;
        let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
        let error = answer
            .as_ref()
            .and_then(|a| a.pointer("/ResponseMetadata/Error"))
            .filter(|e| !e.is_null());
        if status.is_success() && error.is_none() {
            let result = answer
                .as_ref()
                .and_then(|a| a.get("Result"))
                .cloned()
                .ok_or_else(|| {
                    invalid(format!(
                        "{action} answered without a Result: {}",
                        body_excerpt(&bytes, None)
                    ))
                })?;
            return Ok(result);
        }
        let code = error
            .and_then(|e| e.get("Code"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let message = error
            .and_then(|e| e.get("Message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| body_excerpt(&bytes, None));
        Err(classify(action, status.as_u16(), code, &message, &headers))
    }
}

/// Maps an error answer onto what callers branch on.
fn classify(
    action: &str,
    status: u16,
    code: &str,
    message: &str,
    headers: &reqwest::header::HeaderMap,
) -> TableError {
    let provider = PROVIDER.to_string();
    let detail = format!("{action}: HTTP {status} {code}: {message}");
    if code == "InvalidParameter.BoostingNameDuplicated" {
        return TableError::NameTaken;
    }
    if code.ends_with("BoostingTableNotFound") {
        return TableError::NotFound;
    }
    let auth_code = [
        "Signature",
        "AccessKey",
        "AccessDenied",
        "Unauthorized",
        "Authentication",
    ]
    .iter()
    .any(|w| code.contains(w));
    let throttled = [
        "FlowLimit",
        "Throttl",
        "RequestLimitExceeded",
        "TooManyRequests",
    ]
    .iter()
    .any(|w| code.contains(w));
    TableError::Provider(match status {
        401 | 403 => ProviderError::Auth { provider, detail },
        _ if auth_code => ProviderError::Auth { provider, detail },
        429 => ProviderError::RateLimited {
            provider,
            retry_after: parse_retry_after(headers, chrono::Utc::now()),
        },
        _ if throttled => ProviderError::RateLimited {
            provider,
            retry_after: parse_retry_after(headers, chrono::Utc::now()),
        },
        404 => return TableError::NotFound,
        408 | 500..=599 => ProviderError::Unavailable { provider, detail },
        _ if code.starts_with("InternalError") || code.starts_with("ServiceUnavailable") => {
            ProviderError::Unavailable { provider, detail }
        }
        _ => ProviderError::Rejected { provider, detail },
    })
}

fn table_info(result: Value) -> Result<BoostingTableInfo, TableError> {
    serde_json::from_value(result.clone()).map_err(|e| {
        invalid(format!(
            "the answer does not describe a table ({e}): {result}"
        ))
    })
}

fn invalid(detail: String) -> TableError {
    TableError::Provider(ProviderError::InvalidResponse {
        provider: PROVIDER.into(),
        detail,
    })
}

/// A secret from its setting or its file (first line, trimmed); `Ok(None)` when neither is set.
pub(crate) fn read_secret(
    value: Option<&SecretString>,
    file: Option<&std::path::Path>,
) -> Result<Option<SecretString>, String> {
    if let Some(v) = value.filter(|v| !v.expose_secret().trim().is_empty()) {
        return Ok(Some(SecretString::from(
            v.expose_secret().trim().to_string(),
        )));
    }
    let Some(path) = file else { return Ok(None) };
    // The error names the file, never its content.
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| SecretString::from(l.to_string())))
}

#[cfg(test)]
mod tests;
