//! Structured JSON generation with Google's Gemini API (`POST {base_url}/models/{model}:generateContent`,
//! key in `x-goog-api-key`, the artifact schema as `generationConfig.responseSchema`).
mod schema;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use schema::{to_response_schema, SchemaError};

use super::openai::json_object;
use crate::egress::EgressPolicy;
use crate::providers::http::{
    body_excerpt, check_base_url, classify_status, endpoint, parse_retry_after, serialize_redacted,
    HttpAnswer, KeyScheme, ProviderHttp,
};
use crate::providers::keys::{
    collect_keys, KeyPool, KeyPoolSettings, ProviderClock, SystemProviderClock,
};
use crate::providers::{GenerateOutput, GenerateRequest, LanguageModel, ProviderError, TokenUsage};

fn default_base_url() -> String {
    "https://generativelanguage.googleapis.com/v1beta".to_string()
}

fn default_model() -> String {
    "gemini-2.5-flash".to_string()
}

fn default_temperature() -> f32 {
    // Faithful to the transcript rather than creative.
    0.2
}

fn default_timeout_secs() -> u64 {
    300
}

/// The `safetySettings` thresholds the API documents.
const THRESHOLDS: &[&str] = &[
    "BLOCK_NONE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_LOW_AND_ABOVE",
    "OFF",
];

/// The harm categories a threshold is applied to.
const HARM_CATEGORIES: &[&str] = &[
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
];

/// `llm.gemini`: the Gemini API (Google AI Studio keys).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GeminiSettings {
    /// API root including the version.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_key: Option<SecretString>,
    /// More keys for the key pool, separated by commas, spaces or newlines.
    #[serde(default, serialize_with = "serialize_redacted")]
    pub api_keys: Option<SecretString>,
    /// A file with one key per line (a mounted secret).
    #[serde(default)]
    pub api_keys_file: Option<PathBuf>,
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// `generationConfig.maxOutputTokens`; unset = the model's maximum. Thinking tokens count
    /// against it on 2.5 models.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// `generationConfig.thinkingConfig.thinkingBudget` for thinking models (0 turns thinking
    /// off on Flash); unset = the model's default.
    #[serde(default)]
    pub thinking_budget: Option<i32>,
    /// One `safetySettings` threshold for the four harm categories (`BLOCK_ONLY_HIGH`, …);
    /// unset = the API's defaults.
    #[serde(default)]
    pub safety_threshold: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// `LanguageModel` backed by Gemini's `generateContent`.
#[derive(Debug, Clone)]
pub struct Gemini {
    http: ProviderHttp,
    keys: Arc<KeyPool>,
    url: String,
    model: String,
    settings: GeminiSettings,
}

impl Gemini {
    pub const NAME: &'static str = "gemini";

    /// An adapter under the embedded default egress policy, default pool settings and the
    /// system clock.
    pub fn new(settings: GeminiSettings) -> Result<Self, ProviderError> {
        Self::with_pool(
            settings,
            &EgressPolicy::default(),
            KeyPoolSettings::default(),
            Arc::new(SystemProviderClock),
        )
    }

    pub fn with_pool(
        settings: GeminiSettings,
        egress: &EgressPolicy,
        pool: KeyPoolSettings,
        clock: Arc<dyn ProviderClock>,
    ) -> Result<Self, ProviderError> {
        let rejected = |detail: String| ProviderError::Rejected {
            provider: Self::NAME.into(),
            detail,
        };
        check_base_url(Self::NAME, &settings.base_url, egress)?;
        // The model becomes a path segment: refuse anything that could change the path.
        let model = settings.model.trim();
        let model = model.strip_prefix("models/").unwrap_or(model).to_string();
        if model.is_empty()
            || !model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(rejected(format!(
                "model `{}`: use a model id like gemini-2.5-flash",
                settings.model
            )));
        }
        if let Some(t) = settings
            .safety_threshold
            .as_deref()
            .filter(|t| !THRESHOLDS.contains(t))
        {
            return Err(rejected(format!(
                "safety_threshold `{t}`: use one of {}",
                THRESHOLDS.join(", ")
            )));
        }
        let keys = collect_keys(
            Self::NAME,
            settings.api_key.as_ref(),
            settings.api_keys.as_ref(),
            settings.api_keys_file.as_deref(),
        )?;
        if keys.is_empty() {
            return Err(ProviderError::Auth {
                provider: Self::NAME.into(),
                detail: "no API key: set MINUTES__LLM__GEMINI__API_KEY, \
                         MINUTES__LLM__GEMINI__API_KEYS or llm.gemini.api_keys_file"
                    .into(),
            });
        }
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let http = ProviderHttp::with_egress(Self::NAME, timeout, egress)?
            .with_scheme(KeyScheme::Header("x-goog-api-key"));
        Ok(Self {
            url: endpoint(
                settings.base_url.trim(),
                &format!("models/{model}:generateContent"),
            ),
            keys: Arc::new(KeyPool::new(Self::NAME, keys, pool, clock)),
            http,
            model,
            settings,
        })
    }

    /// The key pool, for health reporting.
    pub fn key_pool(&self) -> Arc<KeyPool> {
        self.keys.clone()
    }

    /// The `generateContent` request body for `req`.
    pub fn request_body(&self, req: &GenerateRequest) -> Result<Value, ProviderError> {
        let schema = to_response_schema(&req.schema).map_err(|e| ProviderError::Rejected {
            provider: Self::NAME.into(),
            detail: format!(
                "schema `{}` cannot be a responseSchema: {e}",
                req.schema_name
            ),
        })?;
        let s = &self.settings;
        let mut config = json!({
            "responseMimeType": "application/json",
            "responseSchema": schema,
            "temperature": s.temperature,
            "candidateCount": 1,
        });
        if let Some(max) = s.max_output_tokens {
            config["maxOutputTokens"] = json!(max);
        }
        if let Some(budget) = s.thinking_budget {
            config["thinkingConfig"] = json!({"thinkingBudget": budget});
        }
        let mut body = json!({
            "contents": [{"role": "user", "parts": [{"text": req.user}]}],
            "generationConfig": config,
        });
        if !req.system.trim().is_empty() {
            body["systemInstruction"] = json!({"parts": [{"text": req.system}]});
        }
        if let Some(threshold) = &s.safety_threshold {
            body["safetySettings"] = HARM_CATEGORIES
                .iter()
                .map(|c| json!({"category": c, "threshold": threshold}))
                .collect();
        }
        Ok(body)
    }

    fn invalid(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: Self::NAME.into(),
            detail: detail.into(),
        }
    }

    fn blocked(&self, detail: String) -> ProviderError {
        ProviderError::ContentBlocked {
            provider: Self::NAME.into(),
            detail,
        }
    }

    /// Reads a 200 answer: the JSON object in the first candidate, or why there is none.
    pub fn parse(&self, body: &[u8]) -> Result<GenerateOutput, ProviderError> {
        let resp: GenerateContentResponse = serde_json::from_slice(body).map_err(|e| {
            self.invalid(format!(
                "not a generateContent answer ({e}): {}",
                body_excerpt(body, None)
            ))
        })?;
        let Some(candidate) = resp.candidates.into_iter().next() else {
            // No candidate at all: the prompt itself was blocked, or the answer is broken.
            return Err(match resp.prompt_feedback.and_then(|f| f.block_reason) {
                Some(reason) => self.blocked(format!("prompt blocked ({reason})")),
                None => self.invalid(format!("no candidates: {}", body_excerpt(body, None))),
            });
        };
        let finish = candidate.finish_reason.as_deref().unwrap_or("STOP");
        match finish {
            "STOP" | "FINISH_REASON_UNSPECIFIED" => {}
            // Permanent: the same prompt under the same cap truncates again, and every retry is
            // paid for. The fix is configuration, so the job fails at once with a clear message.
            "MAX_TOKENS" => {
                return Err(ProviderError::Rejected {
                    provider: Self::NAME.into(),
                    detail:
                        "answer truncated at the output token limit (finishReason MAX_TOKENS); \
                             raise llm.gemini.max_output_tokens, lower llm.gemini.thinking_budget \
                             or lower llm.max_transcript_chars"
                            .into(),
                })
            }
            "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII"
            | "IMAGE_SAFETY" => {
                let flagged: Vec<&str> = candidate
                    .safety_ratings
                    .iter()
                    .filter(|r| r.blocked == Some(true))
                    .filter_map(|r| r.category.as_deref())
                    .collect();
                let detail = if flagged.is_empty() {
                    format!("answer stopped (finishReason {finish})")
                } else {
                    format!(
                        "answer stopped (finishReason {finish}: {})",
                        flagged.join(", ")
                    )
                };
                return Err(self.blocked(detail));
            }
            "LANGUAGE" => {
                return Err(ProviderError::Rejected {
                    provider: Self::NAME.into(),
                    detail:
                        "the model does not support the prompt's language (finishReason LANGUAGE)"
                            .into(),
                })
            }
            other => {
                return Err(self.invalid(format!("answer stopped (finishReason {other})")));
            }
        }
        // Thought summaries (`thought: true`) are not part of the answer.
        let text: String = candidate
            .content
            .map(|c| c.parts)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.thought != Some(true))
            .filter_map(|p| p.text)
            .collect();
        if text.trim().is_empty() {
            return Err(self.invalid("the candidate has no text"));
        }
        let content = json_object(&text).map_err(|e| self.invalid(e))?;
        let usage = resp.usage_metadata.unwrap_or_default();
        Ok(GenerateOutput {
            provider: Self::NAME.to_string(),
            content,
            model: resp
                .model_version
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| self.model.clone()),
            usage: TokenUsage {
                prompt_tokens: usage.prompt_token_count,
                // Thinking tokens are billed as output.
                completion_tokens: usage.candidates_token_count + usage.thoughts_token_count,
            },
            fallback_errors: Vec::new(),
        })
    }
}

#[async_trait]
impl LanguageModel for Gemini {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
        let body = self.request_body(req)?;
        self.keys
            .call(|key| {
                let body = &body;
                async move {
                    let request = self.http.post(&self.url, key.as_ref()).json(body);
                    match self.http.exchange(request).await? {
                        Ok(answer) => self.parse(&answer),
                        Err(answer) => Err(classify_error(&answer, key.as_ref())),
                    }
                }
            })
            .await
    }
}

/// Classifies a non-2xx answer from its Google error body (`{"error": {code, message, status,
/// details}}`) on top of the status code.
pub fn classify_error(answer: &HttpAnswer, key: Option<&SecretString>) -> ProviderError {
    let secret = key.map(|k| k.expose_secret());
    let base = classify_status(
        Gemini::NAME,
        answer.status,
        &answer.headers,
        &answer.body,
        secret,
    );
    let Ok(ErrorEnvelope { error }) = serde_json::from_slice::<ErrorEnvelope>(&answer.body) else {
        return base;
    };
    let detail = format!(
        "HTTP {} {}: {}",
        answer.status.as_u16(),
        error.status.as_deref().unwrap_or_default(),
        body_excerpt(
            error.message.as_deref().unwrap_or_default().as_bytes(),
            secret
        )
    );
    let provider = Gemini::NAME.to_string();
    let detail_of = |type_suffix: &str| {
        error.details.iter().find(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with(type_suffix))
        })
    };
    match answer.status {
        StatusCode::TOO_MANY_REQUESTS => {
            let retry_after = detail_of("google.rpc.RetryInfo")
                .and_then(|d| d.get("retryDelay"))
                .and_then(Value::as_str)
                .and_then(parse_proto_duration)
                .or_else(|| parse_retry_after(&answer.headers, chrono::Utc::now()));
            // A per-day quota will not come back within a minute: rest the key longer.
            let per_day = detail_of("google.rpc.QuotaFailure").is_some_and(|d| {
                d.get("violations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.get("quotaId").and_then(Value::as_str))
                    .any(|id| id.contains("PerDay"))
            });
            if per_day {
                ProviderError::QuotaExceeded {
                    provider,
                    retry_after,
                    detail,
                }
            } else {
                ProviderError::RateLimited {
                    provider,
                    retry_after,
                }
            }
        }
        // An invalid key is a 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not a 401.
        StatusCode::BAD_REQUEST
            if detail_of("google.rpc.ErrorInfo")
                .and_then(|d| d.get("reason"))
                .and_then(Value::as_str)
                .is_some_and(|r| r == "API_KEY_INVALID") =>
        {
            ProviderError::Auth { provider, detail }
        }
        _ => match base {
            ProviderError::Auth { .. } => ProviderError::Auth { provider, detail },
            ProviderError::Rejected { .. } => ProviderError::Rejected { provider, detail },
            ProviderError::Unavailable { .. } => ProviderError::Unavailable { provider, detail },
            other => other,
        },
    }
}

/// A `google.protobuf.Duration` in its JSON form: seconds with an `s` suffix (`"12s"`,
/// `"0.250s"`).
fn parse_proto_duration(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    model_version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    safety_ratings: Vec<SafetyRating>,
}

#[derive(Debug, Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    thought: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct SafetyRating {
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    blocked: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    #[serde(default)]
    block_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    #[serde(default)]
    prompt_token_count: u64,
    #[serde(default)]
    candidates_token_count: u64,
    #[serde(default)]
    thoughts_token_count: u64,
}

#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Value>,
}

#[cfg(test)]
mod tests;
