//! What the model reads: the conversation through its chat template, as tokens.
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::engine::rejected;
use crate::providers::{GenerateRequest, ProviderError};

/// The model's chat template if llama.cpp can apply it (it recognises the common families and
/// refuses the rest, which then get the plain prompt of [`prompt`]).
pub(super) fn usable_template(model: &LlamaModel) -> Option<LlamaChatTemplate> {
    let template = model.chat_template(None).ok()?;
    let probe = [
        LlamaChatMessage::new("system".into(), "s".into()).ok()?,
        LlamaChatMessage::new("user".into(), "u".into()).ok()?,
    ];
    match model.apply_chat_template(&template, &probe, true) {
        Ok(_) => Some(template),
        Err(e) => {
            tracing::warn!(error = %e, "gguf chat template not supported by llama.cpp; using a plain prompt");
            None
        }
    }
}

/// The conversation as the model expects it. The schema travels in the system message too:
/// the grammar enforces the shape, but only the text tells the model what goes where.
pub(super) fn prompt(
    model: &LlamaModel,
    template: Option<&LlamaChatTemplate>,
    req: &GenerateRequest,
) -> Result<String, ProviderError> {
    let system = format!(
        "{}\n\nAnswer with one JSON object that conforms to this JSON Schema (`{}`):\n{}",
        req.system, req.schema_name, req.schema
    );
    let Some(template) = template else {
        return Ok(format!("{system}\n\n{}\n\nJSON answer:\n", req.user));
    };
    let message = |role: &str, content: String| {
        LlamaChatMessage::new(role.into(), content)
            .map_err(|e| rejected(format!("the prompt cannot be passed to llama.cpp: {e}")))
    };
    let chat = [
        message("system", system)?,
        message("user", req.user.clone())?,
    ];
    model
        .apply_chat_template(template, &chat, true)
        .map_err(|e| rejected(format!("the model's chat template failed: {e}")))
}

/// The prompt's tokens. Templates that write the BOS text themselves (Gemma's, Llama 3's)
/// would otherwise get a second one from the tokenizer, which degrades some models.
pub(super) fn tokenize(model: &LlamaModel, prompt: &str) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let mut tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    if tokens.len() > 1 && tokens[0] == vocab.bos() && tokens[1] == vocab.bos() {
        tokens.remove(0);
    }
    tokens
}
