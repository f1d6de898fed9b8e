//! Whisper's token conventions: special tokens by name, the prompt layout
//! (`<|startofprev|> previous text <|startoftranscript|> <|lang|> <|transcribe|>`), and
//! splitting generated ids into timed text pieces at timestamp tokens.
use std::collections::HashMap;
use std::path::Path;

use tokenizers::Tokenizer;

use crate::WhisperError;

/// Tokens of earlier text given to the decoder: Whisper allows at most half its 448-token
/// context minus one.
pub const MAX_PROMPT_TOKENS: usize = 223;
/// Seconds per timestamp token step.
pub const TIMESTAMP_STEP: f64 = 0.02;

pub struct Vocabulary {
    tokenizer: Tokenizer,
    ids: HashMap<String, usize>,
    /// Id of `<|0.00|>`: every id from here on is a timestamp.
    timestamp_begin: usize,
    eot: usize,
}

/// A piece of decoded text between two timestamps, in seconds from the window start.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedText {
    pub start: f64,
    pub end: f64,
    pub ids: Vec<usize>,
}

impl Vocabulary {
    /// Reads `vocabulary.txt` (CTranslate2's id order) and `tokenizer.json` (BPE rules).
    pub fn load(model_dir: &Path) -> Result<Self, WhisperError> {
        let vocab_path = model_dir.join("vocabulary.txt");
        let text = std::fs::read_to_string(&vocab_path)
            .map_err(|e| WhisperError::Model(format!("reading {}: {e}", vocab_path.display())))?;
        let ids: HashMap<String, usize> = text
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i))
            .collect();
        let tokenizer = Tokenizer::from_file(model_dir.join("tokenizer.json"))
            .map_err(|e| WhisperError::Model(format!("tokenizer.json: {e}")))?;
        let need = |name: &str| {
            ids.get(name)
                .copied()
                .ok_or_else(|| WhisperError::Model(format!("vocabulary has no {name}")))
        };
        let timestamp_begin = need("<|notimestamps|>")? + 1;
        let eot = need("<|endoftext|>")?;
        Ok(Self {
            tokenizer,
            ids,
            timestamp_begin,
            eot,
        })
    }

    pub fn has(&self, token: &str) -> bool {
        self.ids.contains_key(token)
    }

    /// BPE token strings of `text` as the decoder vocabulary spells them.
    pub fn encode(&self, text: &str) -> Result<Vec<String>, WhisperError> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| WhisperError::Model(format!("tokenizing the prompt: {e}")))?;
        Ok(enc
            .get_tokens()
            .iter()
            .filter(|t| self.ids.contains_key(t.as_str()))
            .cloned()
            .collect())
    }

    /// Text of the given ids, without special or timestamp tokens.
    pub fn decode(&self, ids: &[usize]) -> Result<String, WhisperError> {
        let text_ids: Vec<u32> = ids
            .iter()
            .filter(|&&id| id < self.eot)
            .map(|&id| id as u32)
            .collect();
        self.tokenizer
            .decode(&text_ids, true)
            .map_err(|e| WhisperError::Model(format!("decoding tokens: {e}")))
    }

    /// Splits a generated sequence at its timestamp tokens. Text after the last timestamp (the
    /// model ran out of room) ends at `window_secs`.
    pub fn split_timed(&self, ids: &[usize], window_secs: f64) -> Vec<TimedText> {
        let ts = |id: usize| (id - self.timestamp_begin) as f64 * TIMESTAMP_STEP;
        let mut out = Vec::new();
        let mut start: Option<f64> = None;
        let mut text: Vec<usize> = Vec::new();
        for &id in ids {
            if id >= self.timestamp_begin {
                let t = ts(id);
                match start {
                    Some(s) if !text.is_empty() => {
                        out.push(TimedText {
                            start: s,
                            end: t.max(s),
                            ids: std::mem::take(&mut text),
                        });
                        start = None;
                    }
                    _ => start = Some(t),
                }
            } else if id < self.eot {
                start.get_or_insert(0.0);
                text.push(id);
            }
        }
        if !text.is_empty() {
            let s = start.unwrap_or(0.0);
            out.push(TimedText {
                start: s,
                end: window_secs.max(s),
                ids: text,
            });
        }
        out
    }

    pub fn is_text(&self, id: usize) -> bool {
        id < self.eot
    }
}

/// The decoder prompt for one window.
pub fn prompt(
    vocab: &Vocabulary,
    multilingual: bool,
    language: &str,
    previous: &[String],
) -> Vec<String> {
    let mut out = Vec::with_capacity(previous.len() + 4);
    if !previous.is_empty() {
        out.push("<|startofprev|>".to_string());
        let skip = previous.len().saturating_sub(MAX_PROMPT_TOKENS);
        out.extend(previous[skip..].iter().cloned());
    }
    out.push("<|startoftranscript|>".to_string());
    if multilingual {
        let lang = format!("<|{language}|>");
        if vocab.has(&lang) {
            out.push(lang);
        }
        out.push("<|transcribe|>".to_string());
    }
    out
}
