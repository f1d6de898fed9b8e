//! Structured JSON generation over the OpenAI-compatible `POST {base_url}/chat/completions` endpoint.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::egress::EgressPolicy;
use crate::providers::http::{
    body_excerpt, check_base_url, endpoint, serialize_redacted, ProviderHttp,
};
use crate::providers::keys::{
    collect_keys, KeyPool, KeyPoolSettings, ProviderClock, SystemProviderClock,
};
use crate::providers::{GenerateOutput, GenerateRequest, LanguageModel, ProviderError, TokenUsage};

fn default_model() -> String {
    "gpt-4o-mini".to_string()
}

fn default_temperature() -> f32 {
    // Low but non-zero: minutes should be faithful to the transcript, yet greedy decoding makes
    // some local models loop.
    0.2
}

fn default_timeout_secs() -> u64 {
    300
}

fn default_json_schema_mode() -> bool {
    true
}

/// Settings for one OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiChatSettings {
    /// API root including the version, e.g. `http://host:8000/v1`.
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
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// `false` for servers without `json_schema` response formats: ask for `json_object` and put
    /// the schema in the system prompt instead.
    #[serde(default = "default_json_schema_mode")]
    pub json_schema_mode: bool,
}

/// `LanguageModel` backed by an OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiChat {
    name: String,
    http: ProviderHttp,
    keys: Arc<KeyPool>,
    url: String,
    settings: OpenAiChatSettings,
}

impl OpenAiChat {
    pub const DEFAULT_NAME: &'static str = "openai-chat";

    /// An adapter under the embedded default egress policy (https, or loopback).
    pub fn new(settings: OpenAiChatSettings) -> Result<Self, ProviderError> {
        Self::with_egress(settings, &EgressPolicy::default())
    }

    pub fn with_egress(
        settings: OpenAiChatSettings,
        egress: &EgressPolicy,
    ) -> Result<Self, ProviderError> {
        Self::with_pool(
            settings,
            egress,
            KeyPoolSettings::default(),
            Arc::new(SystemProviderClock),
        )
    }

    /// An adapter whose keys (`api_key`, `api_keys`, `api_keys_file`; none for servers without
    /// authentication) form a pool with the given breaker and retry settings.
    pub fn with_pool(
        settings: OpenAiChatSettings,
        egress: &EgressPolicy,
        pool: KeyPoolSettings,
        clock: Arc<dyn ProviderClock>,
    ) -> Result<Self, ProviderError> {
        let name = Self::DEFAULT_NAME.to_string();
        check_base_url(&name, &settings.base_url, egress)?;
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let http = ProviderHttp::with_egress(&name, timeout, egress)?;
        let keys = collect_keys(
            &name,
            settings.api_key.as_ref(),
            settings.api_keys.as_ref(),
            settings.api_keys_file.as_deref(),
        )?;
        Ok(Self {
            url: endpoint(settings.base_url.trim(), "chat/completions"),
            keys: Arc::new(KeyPool::new(&name, keys, pool, clock)),
            name,
            http,
            settings,
        })
    }

    /// Renames the provider, e.g. to tell two OpenAI-compatible servers apart in logs.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self.http.set_provider(&self.name);
        if let Some(pool) = Arc::get_mut(&mut self.keys) {
            pool.set_provider(&self.name);
        }
        self
    }

    /// The key pool, for health reporting.
    pub fn key_pool(&self) -> Arc<KeyPool> {
        self.keys.clone()
    }

    /// The chat-completions request body for `req`.
    pub fn request_body(&self, req: &GenerateRequest) -> Value {
        let s = &self.settings;
        let (system, response_format) = if s.json_schema_mode {
            (
                req.system.clone(),
                json!({
                    "type": "json_schema",
                    "json_schema": {"name": req.schema_name, "schema": req.schema, "strict": true}
                }),
            )
        } else {
            // json_object mode only promises *some* JSON object, so the schema has to travel in
            // the prompt; OpenAI also requires the word "JSON" to appear in the messages.
            let schema = serde_json::to_string_pretty(&req.schema)
                .unwrap_or_else(|_| req.schema.to_string());
            (
                format!(
                    "{}\n\nRespond with one JSON object that conforms to this JSON Schema (`{}`). \
                     Output only the JSON object.\n{schema}",
                    req.system, req.schema_name
                ),
                json!({"type": "json_object"}),
            )
        };
        let mut body = json!({
            "model": s.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": req.user},
            ],
            "temperature": s.temperature,
            "response_format": response_format,
        });
        if let (Some(max), Some(obj)) = (s.max_tokens, body.as_object_mut()) {
            obj.insert("max_tokens".into(), json!(max));
        }
        body
    }

    fn invalid(&self, detail: impl Into<String>) -> ProviderError {
        ProviderError::InvalidResponse {
            provider: self.name.clone(),
            detail: detail.into(),
        }
    }

    fn parse(&self, body: &[u8]) -> Result<GenerateOutput, ProviderError> {
        let resp: ChatResponse = serde_json::from_slice(body).map_err(|e| {
            self.invalid(format!(
                "not a chat completion ({e}): {}",
                body_excerpt(body, None)
            ))
        })?;
        let Some(choice) = resp.choices.into_iter().next() else {
            return Err(self.invalid(format!(
                "no choices in answer: {}",
                body_excerpt(body, None)
            )));
        };
        let finish = choice.finish_reason.as_deref().unwrap_or_default();
        if let Some(refusal) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
            return Err(ProviderError::ContentBlocked {
                provider: self.name.clone(),
                detail: format!("model refused: {}", body_excerpt(refusal.as_bytes(), None)),
            });
        }
        if finish == "content_filter" {
            return Err(ProviderError::ContentBlocked {
                provider: self.name.clone(),
                detail: "finish_reason content_filter".into(),
            });
        }
        if finish == "length" {
            // Permanent: the same prompt under the same cap truncates again, and every retry
            // is paid for. The fix is configuration (max_tokens, llm.max_transcript_chars).
            return Err(ProviderError::Rejected {
                provider: self.name.clone(),
                detail: "answer truncated at the output token limit (finish_reason length); \
                         raise llm.openai.max_tokens or lower llm.max_transcript_chars"
                    .into(),
            });
        }
        let content = match choice.message.content {
            Some(Value::String(text)) => text,
            Some(other) => {
                return Err(self.invalid(format!("message content is not text: {other}")))
            }
            None => {
                return Err(
                    self.invalid(format!("message has no content (finish_reason {finish:?})"))
                )
            }
        };
        let content = json_object(&content).map_err(|e| self.invalid(e))?;
        let usage = resp.usage.unwrap_or_default();
        Ok(GenerateOutput {
            provider: self.name.clone(),
            content,
            model: resp
                .model
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| self.settings.model.clone()),
            usage: TokenUsage {
                prompt_tokens: usage.prompt_tokens.unwrap_or(0),
                completion_tokens: usage.completion_tokens.unwrap_or(0),
            },
            fallback_errors: Vec::new(),
        })
    }
}

#[async_trait]
impl LanguageModel for OpenAiChat {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.settings.model
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
        let body = self.request_body(req);
        self.keys
            .call(|key| {
                let body = &body;
                async move {
                    let answer = self
                        .http
                        .send(
                            self.http.post(&self.url, key.as_ref()).json(body),
                            key.as_ref(),
                        )
                        .await?;
                    self.parse(&answer)
                }
            })
            .await
    }
}

/// The model's answer as a JSON object (a code fence around it tolerated), or why it is not.
pub(crate) fn json_object(text: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(strip_code_fence(text)).map_err(|e| {
        format!(
            "the answer is not JSON ({e}): {}",
            body_excerpt(text.as_bytes(), None)
        )
    })?;
    if !value.is_object() {
        return Err(format!(
            "the answer is not a JSON object: {}",
            body_excerpt(value.to_string().as_bytes(), None)
        ));
    }
    Ok(value)
}

/// Removes a Markdown code fence (```` ```json … ``` ````) that some servers wrap JSON in even in
/// JSON mode.
pub(crate) fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    // Drop the info string (`json`, `JSON`, nothing) up to the end of the opening line.
    let rest = rest.split_once('\n').map_or("", |(_, body)| body);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    // A Value rather than a String so an unexpected shape (array of parts) is reported clearly.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

#[cfg(test)]
mod tests;
