//! `voiceprint.provider: iflytek`: iFlyTek's 声纹识别 WebAPI (`POST /v1/private/{service_id}`,
//! one JSON envelope per function). Each tenant gets its own feature group (`createGroup`, id
//! derived from the tenant); a registry speaker is one feature whose id is the speaker's id
//! (`createFeature`, `updateFeature` when a retried enrollment finds it, `deleteFeature`);
//! identification is `searchFea` 1:N top-k per sample, decided with the gap-rescue thresholds
//! against the tenant's registry and voted per label. Requests are signed with HMAC-SHA256
//! (`host date request-line`) in the URL's `authorization` query parameter and paced by a
//! client-side QPS limiter.
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{named_matches, SampleVerdict, ScoreThresholds};
use crate::egress::EgressPolicy;
use crate::providers::hotword_tables::read_secret;
use crate::providers::http::{
    build_client, check_base_url, classify_status, classify_transport, read_body_capped,
    serialize_redacted,
};
use crate::providers::{
    Enrollment, ProviderError, SpeakerMatch, SpeakerSample, Voiceprint, VoiceprintRegistry,
};

/// Recorded on the registry entries this engine enrolls.
pub const NAME: &str = "iflytek";
/// Answers past this size are not a voiceprint result.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// The API's limit on group and feature ids.
const MAX_ID_CHARS: usize = 32;

/// `voiceprint.iflytek`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IflytekVoiceprintSettings {
    /// Scheme and host (`https://api.xf-yun.com`); the path is `/v1/private/{service_id}`.
    pub base_url: String,
    /// The voiceprint service's id: it names both the signed request line and the
    /// `parameter` key, so the two cannot disagree (they did in the original).
    pub service_id: String,
    pub app_id: String,
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_secret: Option<SecretString>,
    #[serde(default)]
    pub api_secret_file: Option<PathBuf>,
    /// Feature groups are `{group_prefix}_{24 hex of SHA-256(tenant)}`.
    pub group_prefix: String,
    /// Candidates `searchFea` returns (2–10: the gap rescue needs a runner-up).
    pub top_k: u32,
    /// Requests per second this process sends at most (the account's QPS quota).
    pub max_qps: f64,
    pub timeout_secs: u64,
    pub thresholds: ScoreThresholds,
}

/// Spaces requests `1 / max_qps` apart, across all callers of one client.
pub(crate) struct Pacer {
    interval: Duration,
    next: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Pacer {
    pub(crate) fn new(max_qps: f64) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / max_qps.max(0.01)),
            next: std::sync::Mutex::new(None),
        }
    }

    /// The time slot of a request asked for at `now`: now, or one interval after the last.
    pub(crate) fn reserve(&self, now: std::time::Instant) -> std::time::Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + self.interval);
        slot
    }

    /// Waits for this request's slot.
    pub(crate) async fn wait(&self) {
        let slot = self.reserve(std::time::Instant::now());
        tokio::time::sleep_until(tokio::time::Instant::from_std(slot)).await;
    }
}

pub struct IflytekVoiceprint {
    client: reqwest::Client,
    url: String,
    host: String,
    path: String,
    settings: IflytekVoiceprintSettings,
    api_key: SecretString,
    api_secret: SecretString,
    pacer: Pacer,
    /// Tenants' groups this process made (or found) already.
    groups: std::sync::Mutex<HashSet<String>>,
}

fn rejected(detail: impl Into<String>) -> ProviderError {
    ProviderError::Rejected {
        provider: NAME.into(),
        detail: detail.into(),
    }
}

/// The `authorization` query value for a request at `date` (RFC 1123, GMT): base64 of
/// `api_key="…", algorithm="hmac-sha256", headers="host date request-line", signature="…"`,
/// the signature being base64(HMAC-SHA256(secret, "host: …\ndate: …\nPOST {path} HTTP/1.1")).
pub fn authorization(
    host: &str,
    date: &str,
    path: &str,
    api_key: &str,
    api_secret: &str,
) -> String {
    let origin = format!("host: {host}\ndate: {date}\nPOST {path} HTTP/1.1");
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let signature = match Hmac::<Sha256>::new_from_slice(api_secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(origin.as_bytes());
            B64.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    let header = format!(
        "api_key=\"{api_key}\", algorithm=\"hmac-sha256\", headers=\"host date request-line\", signature=\"{signature}\""
    );
    B64.encode(header)
}

/// The tenant's feature group: letters, digits and `_`, at most 32 characters, the same on
/// every run (`{prefix}_` + 24 hex of the tenant id's SHA-256).
pub fn group_id(prefix: &str, tenant_id: &str) -> String {
    let clean: String = prefix
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_ID_CHARS - 25)
        .collect();
    let digest = hex::encode(Sha256::digest(tenant_id.as_bytes()));
    format!("{clean}_{}", &digest[..24])
}

/// A feature id: the speaker id with anything but letters, digits and `_` dropped.
fn feature_id(speaker_id: &str) -> String {
    speaker_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_ID_CHARS)
        .collect()
}

/// The raw 16 kHz mono s16le samples of a WAV (the API takes `encoding: raw` PCM).
fn pcm(wav: &[u8]) -> Result<Vec<u8>, ProviderError> {
    let samples = super::local::wav_samples(wav)?;
    Ok(samples
        .iter()
        .flat_map(|s| ((s * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
        .collect())
}

/// iFlyTek's platform error codes that are not the request's fault.
fn classify_code(code: i64, message: &str) -> ProviderError {
    let provider = NAME.to_string();
    let detail = format!("code {code}: {message}");
    match code {
        // No permission, no licence, function not authorized, app id and key mismatch.
        10105 | 10110 | 11200 | 10313 => ProviderError::Auth { provider, detail },
        // The account's daily quota is used up.
        11201 => ProviderError::QuotaExceeded {
            provider,
            retry_after: None,
            detail,
        },
        // Engine errors and timeouts on their side.
        10114 | 10700 => ProviderError::Unavailable { provider, detail },
        _ => ProviderError::Rejected { provider, detail },
    }
}

impl IflytekVoiceprint {
    pub fn new(
        settings: IflytekVoiceprintSettings,
        egress: &EgressPolicy,
    ) -> Result<IflytekVoiceprint, ProviderError> {
        let secret = |value: Option<&SecretString>, file: Option<&std::path::Path>, what: &str| {
            read_secret(value, file).map_err(rejected)?.ok_or_else(|| {
                rejected(format!(
                    "voiceprint.iflytek.{what} (or {what}_file) is not set"
                ))
            })
        };
        let api_key = secret(
            settings.api_key.as_ref(),
            settings.api_key_file.as_deref(),
            "api_key",
        )?;
        let api_secret = secret(
            settings.api_secret.as_ref(),
            settings.api_secret_file.as_deref(),
            "api_secret",
        )?;
        if settings.app_id.trim().is_empty() {
            return Err(rejected("voiceprint.iflytek.app_id is not set"));
        }
        if !(2..=10).contains(&settings.top_k) {
            return Err(rejected("voiceprint.iflytek.top_k must be 2–10"));
        }
        let service = &settings.service_id;
        if service.is_empty() || !service.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(rejected(
                "voiceprint.iflytek.service_id must be letters and digits",
            ));
        }
        check_base_url(NAME, &settings.base_url, egress)?;
        let base = url::Url::parse(settings.base_url.trim())
            .map_err(|e| rejected(format!("voiceprint.iflytek.base_url: {e}")))?;
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(rejected("voiceprint.iflytek.base_url has no host")),
        };
        let path = format!("/v1/private/{service}");
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        Ok(IflytekVoiceprint {
            client: build_client(NAME, timeout, egress)?,
            url: format!("{}://{host}{path}", base.scheme()),
            host,
            path,
            pacer: Pacer::new(settings.max_qps),
            settings,
            api_key,
            api_secret,
            groups: std::sync::Mutex::new(HashSet::new()),
        })
    }

    /// The signed URL for a request sent now.
    fn signed_url(&self) -> String {
        let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let auth = authorization(
            &self.host,
            &date,
            &self.path,
            self.api_key.expose_secret(),
            self.api_secret.expose_secret(),
        );
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("authorization", &auth)
            .append_pair("host", &self.host)
            .append_pair("date", &date)
            .finish();
        format!("{}?{query}", self.url)
    }

    /// Calls `func` with `params` (and `pcm` audio); returns the decoded `{func}Res.text`.
    async fn call(
        &self,
        func: &str,
        mut params: Map<String, Value>,
        pcm: Option<&[u8]>,
    ) -> Result<Value, ProviderError> {
        params.insert("func".into(), json!(func));
        params.insert(
            format!("{func}Res"),
            json!({"encoding": "utf8", "compress": "raw", "format": "json"}),
        );
        let mut body = json!({
            "header": {"app_id": self.settings.app_id, "status": 3},
            "parameter": {self.settings.service_id.clone(): params},
        });
        if let Some(pcm) = pcm {
            body["payload"] = json!({"resource": {
                "encoding": "raw", "sample_rate": 16000, "channels": 1, "bit_depth": 16,
                "status": 3, "audio": B64.encode(pcm),
            }});
        }
        self.pacer.wait().await;
        let timeout = Duration::from_secs(self.settings.timeout_secs.max(1));
        let mut resp = self
            .client
            .post(self.signed_url())
            .json(&body)
            .send()
            .await
            .map_err(|e| classify_transport(NAME, timeout, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = read_body_capped(NAME, timeout, &mut resp, MAX_ANSWER_BYTES).await?;
        if !status.is_success() {
            return Err(classify_status(
                NAME,
                status,
                &headers,
                &bytes,
                Some(self.api_secret.expose_secret()),
            ));
        }
        let answer: Value =
            serde_json::from_slice(&bytes).map_err(|e| ProviderError::InvalidResponse {
                provider: NAME.into(),
                detail: format!("not JSON: {e}"),
            })?;
        let code = answer["header"]["code"].as_i64().unwrap_or(-1);
        if code != 0 {
            let message = answer["header"]["message"].as_str().unwrap_or("");
            return Err(classify_code(code, message));
        }
        let text = answer["payload"][format!("{func}Res")]["text"]
            .as_str()
            .unwrap_or("");
        let decoded = B64
            .decode(text)
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok());
        decoded.ok_or_else(|| ProviderError::InvalidResponse {
            provider: NAME.into(),
            detail: format!("{func}: the result text is not base64 JSON"),
        })
    }

    fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Makes the tenant's group once per process. A refusal is taken as "it exists" (a retried
    /// enrollment, another instance): `createFeature` fails next if it really does not.
    async fn ensure_group(&self, group: &str) -> Result<(), ProviderError> {
        if self
            .groups
            .lock()
            .map(|g| g.contains(group))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let params = Self::params(&[
            ("groupId", json!(group)),
            ("groupName", json!(group)),
            ("groupInfo", json!("minutes speakers registry")),
        ]);
        match self.call("createGroup", params, None).await {
            Ok(_) | Err(ProviderError::Rejected { .. }) => {}
            Err(e) => return Err(e),
        }
        if let Ok(mut g) = self.groups.lock() {
            g.insert(group.to_string());
        }
        Ok(())
    }

    async fn feature_ids(&self, group: &str) -> Result<Vec<String>, ProviderError> {
        let list = self
            .call(
                "queryFeatureList",
                Self::params(&[("groupId", json!(group))]),
                None,
            )
            .await?;
        let items = list.as_array().or_else(|| list["featureList"].as_array());
        Ok(items
            .into_iter()
            .flatten()
            .filter_map(|f| f["featureId"].as_str().map(str::to_string))
            .collect())
    }
}

#[async_trait]
impl Voiceprint for IflytekVoiceprint {
    fn name(&self) -> &str {
        NAME
    }

    async fn identify(
        &self,
        registry: &VoiceprintRegistry,
        samples: &[SpeakerSample],
    ) -> Result<Vec<SpeakerMatch>, ProviderError> {
        // Only the tenant's active entries count: a feature left over at the provider (or
        // another engine's entry) never names anyone.
        let known: Vec<(&str, &str)> = registry
            .speakers
            .iter()
            .filter_map(|s| s.feature_id.as_deref().map(|f| (f, s.speaker_id.as_str())))
            .collect();
        if known.is_empty() || samples.is_empty() {
            return Ok(Vec::new());
        }
        let group = group_id(&self.settings.group_prefix, &registry.tenant_id);
        let thresholds = self.settings.thresholds;
        let mut verdicts = Vec::with_capacity(samples.len());
        for sample in samples {
            let params = Self::params(&[
                ("groupId", json!(group)),
                ("topK", json!(self.settings.top_k)),
            ]);
            let found = self
                .call("searchFea", params, Some(&pcm(&sample.wav)?))
                .await?;
            let mut scores: Vec<(&str, f32)> = found["scoreList"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let feature = c["featureId"].as_str()?;
                    let speaker = known.iter().find(|(f, _)| *f == feature)?.1;
                    Some((speaker, c["score"].as_f64()? as f32))
                })
                .collect();
            scores.sort_by(|a, b| b.1.total_cmp(&a.1));
            let accepted = scores
                .first()
                .filter(|best| thresholds.accepts(best.1, scores.get(1).map(|s| s.1)))
                .map(|(id, score)| (id.to_string(), *score));
            verdicts.push(SampleVerdict {
                label: sample.label.clone(),
                accepted,
            });
        }
        Ok(named_matches(&verdicts, registry))
    }

    async fn enroll(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        wav: &[u8],
    ) -> Result<Enrollment, ProviderError> {
        let audio = pcm(wav)?;
        if B64.encode(&audio).len() > 4 * 1024 * 1024 {
            return Err(rejected("the sample is larger than the API's 4 MB"));
        }
        let group = group_id(&self.settings.group_prefix, tenant_id);
        self.ensure_group(&group).await?;
        let feature = feature_id(speaker_id);
        let params = Self::params(&[
            ("groupId", json!(group)),
            ("featureId", json!(feature)),
            ("featureInfo", json!(feature)),
        ]);
        match self
            .call("createFeature", params.clone(), Some(&audio))
            .await
        {
            Ok(_) => {}
            // A retried enrollment whose first answer was lost: the feature exists, replace it.
            Err(ProviderError::Rejected { .. })
                if self.feature_ids(&group).await?.contains(&feature) =>
            {
                self.call("updateFeature", params, Some(&audio)).await?;
            }
            Err(e) => return Err(e),
        }
        Ok(Enrollment {
            feature_id: feature,
            embeddings: Vec::new(),
        })
    }

    async fn delete(&self, tenant_id: &str, feature_id: &str) -> Result<(), ProviderError> {
        let group = group_id(&self.settings.group_prefix, tenant_id);
        let params = Self::params(&[("groupId", json!(group)), ("featureId", json!(feature_id))]);
        match self.call("deleteFeature", params, None).await {
            Ok(_) => Ok(()),
            // Refused: fine if it is gone already (the call is repeated by retried erasures).
            Err(e @ ProviderError::Rejected { .. }) => {
                if self
                    .feature_ids(&group)
                    .await?
                    .iter()
                    .any(|f| f == feature_id)
                {
                    Err(e)
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
