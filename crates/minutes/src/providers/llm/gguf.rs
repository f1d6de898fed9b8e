//! `llm.provider: gguf`: a user-supplied GGUF instruct model run in-process on llama.cpp (cargo
//! feature `local-llm-gguf`, off by default). Sampling is held to a grammar made from the
//! artifact's JSON Schema, so whatever the model, the answer parses and has every required key;
//! how *good* the minutes are is entirely the model's doing.
//!
//! The settings exist in every build so a configuration stays valid across builds; without the
//! feature, choosing the provider stops the start with an error that says how to rebuild.
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::providers::LanguageModel;

#[cfg(feature = "local-llm-gguf")]
mod engine;
#[cfg(feature = "local-llm-gguf")]
mod grammar;
#[cfg(feature = "local-llm-gguf")]
mod prompt;
#[cfg(feature = "local-llm-gguf")]
mod sampler;
#[cfg(test)]
mod tests;

#[cfg(feature = "local-llm-gguf")]
pub use engine::GgufLlm;

fn default_context_tokens() -> u32 {
    8192
}

fn default_max_output_tokens() -> u32 {
    2048
}

fn default_temperature() -> f32 {
    // As for the remote models: faithful to the transcript, but not greedy, which makes small
    // models repeat themselves.
    0.2
}

/// `llm.gguf`: the model file and how llama.cpp runs it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GgufSettings {
    /// Path of the `.gguf` file (the first file of a split model). Empty until configured.
    #[serde(default)]
    pub model: String,
    /// The context window llama.cpp allocates: prompt plus answer must fit in it. Transcripts
    /// longer than `llm.max_transcript_chars` are summarised map-reduce, so lower that for a small
    /// window (roughly 3 characters of English or 1.5 of Chinese per token).
    #[serde(default = "default_context_tokens")]
    pub context_tokens: u32,
    /// CPU threads for one generation; 0 = one per core.
    #[serde(default)]
    pub threads: usize,
    /// The answer's token budget. Within its last 96 tokens the answer is closed (open strings
    /// and lists ended, missing keys given their shortest value) so it still parses.
    #[serde(default = "default_max_output_tokens")]
    pub max_output_tokens: u32,
    /// 0 = greedy decoding.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
}

impl Default for GgufSettings {
    fn default() -> Self {
        Self {
            model: String::new(),
            context_tokens: default_context_tokens(),
            threads: 0,
            max_output_tokens: default_max_output_tokens(),
            temperature: default_temperature(),
        }
    }
}

impl GgufSettings {
    /// Why these settings cannot work, checked before the model is loaded.
    pub fn check(&self) -> Result<(), String> {
        if self.model.trim().is_empty() {
            return Err("llm.gguf.model is empty: set it to the path of a .gguf file".into());
        }
        if self.context_tokens < 512 {
            return Err("llm.gguf.context_tokens must be at least 512".into());
        }
        // The last 96 tokens close the answer (see the engine): leave room for content too.
        if self.max_output_tokens < 256 || self.max_output_tokens >= self.context_tokens {
            return Err(format!(
                "llm.gguf.max_output_tokens must be between 256 and context_tokens ({}) - 1",
                self.context_tokens
            ));
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err("llm.gguf.temperature must be between 0 and 2".into());
        }
        Ok(())
    }
}

/// The engine for `llm.provider: gguf`: loads the model now, so a missing or corrupt file stops
/// the start instead of failing every job.
#[cfg(feature = "local-llm-gguf")]
pub fn build(settings: &GgufSettings) -> anyhow::Result<Arc<dyn LanguageModel>> {
    use crate::providers::ProviderError;
    // The details already name the setting or file; "gguf rejected the request" would not fit
    // a start-up error.
    let llm = GgufLlm::load(settings.clone()).map_err(|e| match e {
        ProviderError::Rejected { detail, .. } | ProviderError::Unavailable { detail, .. } => {
            anyhow::anyhow!(detail)
        }
        other => other.into(),
    })?;
    Ok(Arc::new(llm))
}

#[cfg(not(feature = "local-llm-gguf"))]
pub fn build(_settings: &GgufSettings) -> anyhow::Result<Arc<dyn LanguageModel>> {
    anyhow::bail!("llm.provider: gguf needs a build with `--features local-llm-gguf`")
}
