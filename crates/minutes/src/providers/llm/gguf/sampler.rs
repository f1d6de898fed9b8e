//! Picking the answer's tokens under its grammar, and closing the answer when the token budget
//! is nearly spent.
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use super::engine::unavailable;
use crate::providers::ProviderError;

/// How strongly a token ends the answer: end-of-generation, then pieces that start with `"`
/// (inside a string they end it; that must outrank the rest, which inside a string is just more
/// text), then the shortest values (`null`, `[]`), then pieces of `]` and `}` only. Longer pieces
/// first within a rank. `None`: not a closing token.
fn closing_rank(eog: bool, piece: &[u8]) -> Option<(u8, usize)> {
    let closing_bytes =
        |p: &[u8]| !p.is_empty() && p.iter().all(|b| matches!(b, b'"' | b']' | b'}'));
    if eog {
        Some((3, 0))
    } else if piece.first() == Some(&b'"') && closing_bytes(piece) {
        Some((2, piece.len()))
    } else if piece == b"null" || piece == b"[]" {
        Some((1, piece.len()))
    } else if closing_bytes(piece) {
        Some((0, piece.len()))
    } else {
        None
    }
}

/// The closing tokens of `model`'s vocabulary with their rank (see [`closing_rank`]).
pub(super) fn closing_tokens(model: &LlamaModel) -> Vec<(LlamaToken, (u8, usize))> {
    let vocab = model.vocab();
    vocab
        .tokens()
        .filter_map(|token| {
            let piece = vocab.token_to_piece(token, false, None);
            closing_rank(vocab.is_eog(token), &piece).map(|rank| (token, rank))
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
    closers: &'a [(LlamaToken, (u8, usize))],
}

/// DRY's look-back, in generated tokens, and where its repeated sequences end (llama.cpp's
/// defaults without `"`: a list that repeats one-word strings must count as a repeat).
const DRY_WINDOW: i32 = 1024;
const DRY_BREAKERS: [&str; 3] = ["\n", ":", "*"];

impl<'a> Sampler<'a> {
    pub fn new(
        model: &LlamaModel,
        grammar: LlamaSampler,
        temperature: f32,
        closers: &'a [(LlamaToken, (u8, usize))],
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
    /// spent, so of the tokens the grammar allows, the best-ranked closing one wins (a model that
    /// loops — lists that count on, text that repeats — would otherwise never finish). Each
    /// either ends a string, list or object or starts the shortest value, which the next ones
    /// end, so the answer is complete within a few tokens per open level and missing key.
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
                .max_by_key(|(_, rank)| *rank);
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

#[cfg(test)]
mod tests {
    use super::closing_rank;

    #[test]
    fn closing_ranks_put_ending_a_string_above_text_that_looks_like_closing() {
        let rank = |piece: &str| closing_rank(false, piece.as_bytes());
        assert!(closing_rank(true, b"") > rank("\"]}"));
        assert!(rank("\"") > rank("null"), "inside a string `null` is text");
        assert!(rank("\"]}") > rank("\""));
        assert!(
            rank("[]") > rank("}}}}}}}}"),
            "inside a string braces are text"
        );
        assert!(rank("]") < rank("}]"));
        for text in ["", "x", "\"x", "],", "[", "nul"] {
            assert_eq!(rank(text), None, "{text}");
        }
    }
}
