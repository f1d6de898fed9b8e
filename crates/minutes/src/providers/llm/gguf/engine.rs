//! The llama.cpp engine: the model is loaded once and shared; one generation runs at a time, on a
//! blocking thread, in a fresh context, sampling held to the artifact's grammar.
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::Mutex;

use super::prompt;
use super::sampler::{closing_tokens, Sampler};
use super::{grammar, GgufSettings};
use crate::providers::llm::openai::json_object;
use crate::providers::{GenerateOutput, GenerateRequest, LanguageModel, ProviderError, TokenUsage};

const PROVIDER: &str = "gguf";
/// Prompt tokens decoded per llama.cpp call (its default batch size).
const PROMPT_BATCH: u32 = 512;
/// The last tokens of `max_output_tokens`, kept for closing the answer (see `Sampler::next`):
/// enough to end every open string, list and object of an artifact and write its missing keys.
pub(super) const CLOSING_RESERVE: u32 = 96;

/// `LanguageModel` on a GGUF model in-process.
pub struct GgufLlm {
    engine: Arc<Engine>,
    /// The file name without `.gguf`: what artifact lineage and the ledger record.
    model_name: String,
    /// Held for the whole of a generation. llama.cpp already spreads one generation over every
    /// core, each context holds its own KV cache, and contexts must not be created from one
    /// model concurrently (llama-cpp-2 documents `new_context` as unsound in parallel).
    gate: Arc<Mutex<()>>,
}

struct Engine {
    backend: &'static LlamaBackend,
    model: LlamaModel,
    /// The model's own chat template; `None` when it has none llama.cpp can apply.
    template: Option<LlamaChatTemplate>,
    closers: Vec<(LlamaToken, (u8, usize))>,
    settings: GgufSettings,
    threads: i32,
}

/// What one generation produced.
struct Generated {
    text: String,
    prompt_tokens: usize,
    completion_tokens: usize,
}

/// llama.cpp's backend is process-wide state, initialised once for every model the process loads.
fn backend() -> Result<&'static LlamaBackend, String> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // Into our subscriber (target `llama_cpp_2`) rather than straight to stderr.
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

pub(super) fn rejected(detail: impl Into<String>) -> ProviderError {
    ProviderError::Rejected {
        provider: PROVIDER.into(),
        detail: detail.into(),
    }
}

pub(super) fn unavailable(detail: impl Into<String>) -> ProviderError {
    ProviderError::Unavailable {
        provider: PROVIDER.into(),
        detail: detail.into(),
    }
}

impl GgufLlm {
    /// Loads `settings.model`. Every error names the setting or the file, since all of them are
    /// configuration to fix before the service can start.
    pub fn load(settings: GgufSettings) -> Result<Self, ProviderError> {
        settings.check().map_err(rejected)?;
        let path = Path::new(settings.model.trim());
        check_file(path).map_err(rejected)?;
        let backend = backend().map_err(|e| unavailable(format!("llama.cpp backend: {e}")))?;
        let started = Instant::now();
        let model = LlamaModel::load_from_file(backend, path, &LlamaModelParams::default())
            .map_err(|e| {
                rejected(format!(
                    "llm.gguf.model: llama.cpp could not load {} ({e}); the llama_cpp_2 log lines \
                     above say why (corrupt, truncated or an architecture this build does not know)",
                    path.display()
                ))
            })?;
        let template = prompt::usable_template(&model);
        let closers = closing_tokens(&model);
        let threads = match settings.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let model_name = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".gguf").to_string())
            .unwrap_or_else(|| settings.model.clone());
        tracing::info!(
            llm.model = %model_name,
            llm.load_ms = started.elapsed().as_millis() as u64,
            llm.parameters = model.n_params(),
            llm.context_train_tokens = model.n_ctx_train(),
            llm.chat_template = template.is_some(),
            "gguf model loaded"
        );
        Ok(Self {
            engine: Arc::new(Engine {
                backend,
                model,
                template,
                closers,
                settings,
                threads: i32::try_from(threads).unwrap_or(i32::MAX),
            }),
            model_name,
            gate: Arc::new(Mutex::new(())),
        })
    }
}

/// A readable GGUF file, or why not: llama.cpp's own failure says little more than "null result".
fn check_file(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| format!("llm.gguf.model: cannot read {}: {e}", path.display()))?;
    if &magic != b"GGUF" {
        return Err(format!(
            "llm.gguf.model: {} is not a GGUF file (it does not start with `GGUF`)",
            path.display()
        ));
    }
    Ok(())
}

/// Tells a running generation to stop when the `generate` future is dropped (a cancelled task,
/// a worker shutting down): the blocking thread would otherwise finish a doomed answer.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl LanguageModel for GgufLlm {
    fn name(&self) -> &str {
        PROVIDER
    }

    fn model(&self) -> &str {
        &self.model_name
    }

    /// Local context windows are small: long meetings go through the map-reduce, in parts of
    /// `llm.max_transcript_chars`.
    fn needs_chunking(&self) -> bool {
        true
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
        let grammar = grammar::gbnf(&req.schema)
            .map_err(|e| rejected(format!("no grammar for schema `{}`: {e}", req.schema_name)))?;
        let prompt = prompt::prompt(&self.engine.model, self.engine.template.as_ref(), req)?;
        let turn = self.gate.clone().lock_owned().await;
        let engine = self.engine.clone();
        let cancel = Arc::new(AtomicBool::new(false));
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let span = tracing::Span::current();
        let generated = crate::telemetry::spawn_blocking(move || {
            let _turn = turn;
            span.in_scope(|| engine.generate(&prompt, &grammar, &cancel))
        })
        .await
        .map_err(|e| unavailable(format!("generation thread failed: {e}")))??;
        let content =
            json_object(&generated.text).map_err(|detail| ProviderError::InvalidResponse {
                provider: PROVIDER.into(),
                detail,
            })?;
        Ok(GenerateOutput {
            content,
            provider: PROVIDER.into(),
            model: self.model_name.clone(),
            usage: TokenUsage {
                prompt_tokens: generated.prompt_tokens as u64,
                completion_tokens: generated.completion_tokens as u64,
            },
            fallback_errors: Vec::new(),
        })
    }
}

impl Engine {
    fn generate(
        &self,
        prompt: &str,
        grammar: &str,
        cancel: &AtomicBool,
    ) -> Result<Generated, ProviderError> {
        let started = Instant::now();
        let tokens = prompt::tokenize(&self.model, prompt);
        let (context, max_output) = (
            self.settings.context_tokens,
            self.settings.max_output_tokens,
        );
        if tokens.len() + max_output as usize > context as usize {
            // Permanent: the same prompt never fits. The fix is configuration.
            return Err(rejected(format!(
                "the prompt is {} tokens: with llm.gguf.max_output_tokens ({max_output}) it does not \
                 fit llm.gguf.context_tokens ({context}); lower llm.max_transcript_chars",
                tokens.len()
            )));
        }
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(context))
            .with_n_batch(PROMPT_BATCH)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let mut ctx = self
            .model
            .new_context(self.backend, params)
            .map_err(|e| unavailable(format!("llama.cpp context of {context} tokens: {e}")))?;
        let mut batch = LlamaBatch::new(PROMPT_BATCH as usize, 1);
        let failed = |what: &str, e: &dyn std::fmt::Display| unavailable(format!("{what}: {e}"));
        let last = tokens.len().saturating_sub(1);
        for (start, chunk) in (0..)
            .step_by(PROMPT_BATCH as usize)
            .zip(tokens.chunks(PROMPT_BATCH as usize))
        {
            batch.clear();
            for (i, token) in chunk.iter().enumerate() {
                let pos = start + i;
                batch
                    .add(*token, pos as i32, &[0], pos == last)
                    .map_err(|e| failed("prompt batch", &e))?;
            }
            ctx.decode(&mut batch)
                .map_err(|e| failed("prompt decode", &e))?;
            if cancel.load(Ordering::Relaxed) {
                return Err(unavailable("generation cancelled"));
            }
        }
        let prompt_done = Instant::now();
        let mut sampler = self.sampler(grammar)?;
        let vocab = self.model.vocab();
        let mut text = Vec::new();
        let mut generated = 0usize;
        loop {
            let closing = generated + CLOSING_RESERVE as usize >= max_output as usize;
            if closing && generated + CLOSING_RESERVE as usize == max_output as usize {
                tracing::warn!(
                    llm.max_output_tokens = max_output,
                    "gguf answer nearly out of budget: closing it, the rest of the minutes is cut"
                );
            }
            let token = sampler.next(&ctx, batch.n_tokens() - 1, closing)?;
            if vocab.is_eog(token) {
                break;
            }
            generated += 1;
            text.extend(vocab.token_to_piece(token, false, None));
            if generated >= max_output as usize {
                // Permanent like a remote model's `length` finish: the same budget cuts again.
                return Err(rejected(format!(
                    "answer truncated at llm.gguf.max_output_tokens ({max_output}); raise it or \
                     lower llm.max_transcript_chars"
                )));
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(unavailable("generation cancelled"));
            }
            batch.clear();
            let pos = (tokens.len() + generated - 1) as i32;
            batch
                .add(token, pos, &[0], true)
                .map_err(|e| failed("batch", &e))?;
            ctx.decode(&mut batch).map_err(|e| failed("decode", &e))?;
        }
        let secs = prompt_done.elapsed().as_secs_f64();
        tracing::info!(
            llm.prompt_tokens = tokens.len(),
            llm.completion_tokens = generated,
            llm.prompt_ms = (prompt_done - started).as_millis() as u64,
            llm.tokens_per_sec = if secs > 0.0 {
                generated as f64 / secs
            } else {
                0.0
            },
            "gguf generation done"
        );
        let text = String::from_utf8(text).map_err(|e| ProviderError::InvalidResponse {
            provider: PROVIDER.into(),
            detail: format!("the answer is not UTF-8: {e}"),
        })?;
        Ok(Generated {
            text,
            prompt_tokens: tokens.len(),
            completion_tokens: generated,
        })
    }

    fn sampler(&self, grammar: &str) -> Result<Sampler<'_>, ProviderError> {
        let grammar = LlamaSampler::grammar(&self.model, grammar, "root")
            .map_err(|e| rejected(format!("llama.cpp refused the answer grammar: {e}")))?;
        Ok(Sampler::new(
            &self.model,
            grammar,
            self.settings.temperature,
            &self.closers,
        ))
    }
}

#[cfg(test)]
impl GgufLlm {
    /// The prompt `req` becomes under llama.cpp's built-in chat template `name`.
    pub(super) fn prompt_with(
        &mut self,
        name: &str,
        req: &GenerateRequest,
    ) -> Result<String, ProviderError> {
        let engine = Arc::get_mut(&mut self.engine).ok_or_else(|| rejected("engine shared"))?;
        engine.template = Some(LlamaChatTemplate::new(name).map_err(|e| rejected(e.to_string()))?);
        prompt::prompt(&engine.model, engine.template.as_ref(), req)
    }

    /// Whether llama.cpp's grammar engine takes every token of `text` under `grammar`.
    pub(super) fn grammar_accepts(&self, grammar: &str, text: &str) -> Result<bool, ProviderError> {
        let model = &self.engine.model;
        let mut sampler = LlamaSampler::grammar(model, grammar, "root")
            .map_err(|e| rejected(format!("llama.cpp refused the grammar: {e}")))?;
        let tokens = model.vocab().tokenize(text.as_bytes(), false, false);
        Ok(tokens.into_iter().all(|t| sampler.try_accept(t).is_ok()))
    }
}
