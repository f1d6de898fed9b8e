//! Picking the answer's tokens under its grammar, and closing the answer when the token budget
//! is nearly spent.
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use crate::providers::ProviderError;

/// Tokens that end something: end-of-generation, and pieces that only close strings, lists and
/// objects (`"`, `]`, `"}`, `}]` …) or write the shortest value (`null`, `[]`), with the number
/// of bytes they close (end-of-generation first).
pub(super) fn closing_tokens(model: &LlamaModel) -> Vec<(LlamaToken, usize)> {
    let vocab = model.vocab();
    vocab
        .tokens()
        .filter_map(|token| {
            if vocab.is_eog(token) {
                return Some((token, usize::MAX));
            }
            let piece = vocab.token_to_piece(token, false, None);
            let closes = piece == b"null"
                || piece == b"[]"
                || (!piece.is_empty() && piece.iter().all(|b| matches!(b, b'"' | b']' | b'}')));
            closes.then_some((token, piece.len()))
        })
        .collect()
}

/// Held to the grammar the way llama.cpp's own tools do it: pick from the unconstrained
/// distribution and only when the grammar refuses that token, apply the grammar to the whole
/// vocabulary and pick again. Applying it every time costs more than a small model's forward
/// pass (Gemma's vocabulary has 262,144 tokens: ~70 ms a token on this machine).
pub(super) struct Sampler<'a> {
    grammar: LlamaSampler,
    pick: LlamaSampler,
    closers: &'a [(LlamaToken, usize)],
}

/// DRY's look-back, in generated tokens, and where its repeated sequences end (llama.cpp's
/// defaults without `"`: a list that repeats one-word strings must count as a repeat).
const DRY_WINDOW: i32 = 1024;
const DRY_BREAKERS: [&str; 3] = ["\n", ":", "*"];

fn unavailable(detail: impl Into<String>) -> ProviderError {
    ProviderError::Unavailable {
        provider: super::engine::PROVIDER.into(),
        detail: detail.into(),
    }
}

impl<'a> Sampler<'a> {
    pub fn new(
        model: &LlamaModel,
        grammar: LlamaSampler,
        temperature: f32,
        closers: &'a [(LlamaToken, usize)],
    ) -> Self {
        // DRY penalises continuing a sequence the answer already wrote: small models otherwise
        // copy the transcript into the summary over and over. Only generated tokens count (the
        // prompt is never accepted into it).
        let dry = LlamaSampler::dry(model, 0.8, 1.75, 2, DRY_WINDOW, DRY_BREAKERS);
        let pick = if temperature <= 0.0 {
            LlamaSampler::chain_simple([dry, LlamaSampler::greedy()])
        } else {
            LlamaSampler::chain_simple([
                dry,
                LlamaSampler::top_k(40),
                LlamaSampler::top_p(0.95, 1),
                LlamaSampler::temp(temperature),
                LlamaSampler::dist(rand::random()),
            ])
        };
        Self {
            grammar,
            pick,
            closers,
        }
    }

    /// The next token after output `idx` of the last decode. `closing`: the budget is nearly
    /// spent, so of the tokens the grammar allows, one that ends the most wins (a model that
    /// loops — lists that count on, text that repeats — would otherwise never finish).
    pub fn next(
        &mut self,
        ctx: &LlamaContext<'_>,
        idx: i32,
        closing: bool,
    ) -> Result<LlamaToken, ProviderError> {
        let unpicked = || unavailable("the sampler picked no token");
        let token = if closing {
            let mut candidates = ctx.token_data_array_ith(idx);
            candidates.apply_sampler(&mut self.grammar);
            let allowed = |t: &LlamaToken| {
                // The array is in token-id order, and the grammar only changes logits.
                usize::try_from(t.0)
                    .ok()
                    .and_then(|i| candidates.data.get(i))
                    .is_some_and(|d| d.id() == *t && d.logit().is_finite())
            };
            let closer = self
                .closers
                .iter()
                .filter(|(t, _)| allowed(t))
                .max_by_key(|(_, closes)| *closes);
            match closer {
                Some((token, _)) => *token,
                None => {
                    candidates.apply_sampler(&mut self.pick);
                    candidates.selected_token().ok_or_else(unpicked)?
                }
            }
        } else {
            let mut candidates = ctx.token_data_array_ith(idx);
            candidates.apply_sampler(&mut self.pick);
            let token = candidates.selected_token().ok_or_else(unpicked)?;
            let mut probe =
                LlamaTokenDataArray::new(vec![LlamaTokenData::new(token, 0.0, 0.0)], false);
            probe.apply_sampler(&mut self.grammar);
            if probe.data[0].logit().is_finite() {
                token
            } else {
                let mut candidates = ctx.token_data_array_ith(idx);
                candidates.apply_sampler(&mut self.grammar);
                candidates.apply_sampler(&mut self.pick);
                candidates.selected_token().ok_or_else(unpicked)?
            }
        };
        self.grammar
            .try_accept(token)
            .map_err(|e| unavailable(format!("the grammar refused its own token: {e}")))?;
        self.pick.accept(token);
        Ok(token)
    }
}
