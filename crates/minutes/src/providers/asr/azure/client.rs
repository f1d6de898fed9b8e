//! One fast transcription request: `POST {endpoint}/speechtotext/transcriptions:transcribe`
//! with the key in `Ocp-Apim-Subscription-Key` and a multipart body of `audio` (the WAV,
//! streamed from disk) and `definition` (JSON). Errors are classified by status; Azure's own
//! error code and message go into the detail.
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use reqwest::multipart::{Form, Part};
use secrecy::{ExposeSecret, SecretString};

use super::protocol::{self, API_VERSION, TRANSCRIBE_PATH};
use crate::egress::EgressPolicy;
use crate::providers::http::{classify_status, endpoint, HttpAnswer, KeyScheme, ProviderHttp};
use crate::providers::ProviderError;

/// The header Azure AI services read the resource key from.
pub const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

#[derive(Debug, Clone)]
pub struct Client {
    http: ProviderHttp,
    url: String,
}

impl Client {
    pub fn new(
        provider: &str,
        base_url: &str,
        timeout: Duration,
        egress: &EgressPolicy,
    ) -> Result<Client, ProviderError> {
        Ok(Client {
            http: ProviderHttp::with_egress(provider, timeout, egress)?
                .with_scheme(KeyScheme::Header(KEY_HEADER)),
            url: format!(
                "{}?api-version={API_VERSION}",
                endpoint(base_url, TRANSCRIBE_PATH)
            ),
        })
    }

    /// Transcribes the WAV at `audio` with `definition` (JSON) and returns the result body.
    pub async fn transcribe(
        &self,
        key: Option<&SecretString>,
        audio: &Path,
        definition: &str,
    ) -> Result<Bytes, ProviderError> {
        let form = self.form(audio, definition).await?;
        match self
            .http
            .exchange(self.http.post(&self.url, key).multipart(form))
            .await?
        {
            Ok(body) => Ok(body),
            Err(answer) => Err(self.classify(&answer, key)),
        }
    }

    async fn form(&self, audio: &Path, definition: &str) -> Result<Form, ProviderError> {
        // Our own chunk file failing to open is a bug or a full disk: no retry fixes it.
        let local = |e: std::io::Error| ProviderError::Rejected {
            provider: self.http.provider().to_string(),
            detail: format!("cannot read {}: {e}", audio.display()),
        };
        let file = tokio::fs::File::open(audio).await.map_err(local)?;
        let len = file.metadata().await.map_err(local)?.len();
        // Streamed: a chunk is up to ~200 MB and every retry builds its own form.
        let part = Part::stream_with_length(file, len)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| ProviderError::Rejected {
                provider: self.http.provider().to_string(),
                detail: format!("cannot build upload: {e}"),
            })?;
        Ok(Form::new()
            .part("audio", part)
            .text("definition", definition.to_string()))
    }

    /// The status decides the class (429 with its `Retry-After`, 401/403 refused credentials,
    /// 408/5xx unavailable, other 4xx rejected for good); Azure's code and message make the
    /// detail when the body carries them.
    fn classify(&self, answer: &HttpAnswer, key: Option<&SecretString>) -> ProviderError {
        let secret = key.map(|k| k.expose_secret());
        let err = classify_status(
            self.http.provider(),
            answer.status,
            &answer.headers,
            &answer.body,
            secret,
        );
        let Some(summary) = protocol::error_summary(&answer.body) else {
            return err;
        };
        let summary = match secret.filter(|s| !s.is_empty()) {
            Some(secret) => summary.replace(secret, "[redacted]"),
            None => summary,
        };
        let detail = format!("HTTP {}: {summary}", answer.status.as_u16());
        match err {
            ProviderError::Rejected { provider, .. } => {
                ProviderError::Rejected { provider, detail }
            }
            ProviderError::Auth { provider, .. } => ProviderError::Auth { provider, detail },
            ProviderError::Unavailable { provider, .. } => {
                ProviderError::Unavailable { provider, detail }
            }
            ProviderError::InvalidResponse { provider, .. } => {
                ProviderError::InvalidResponse { provider, detail }
            }
            other => other,
        }
    }
}
