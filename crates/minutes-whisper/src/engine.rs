//! The decode loop: VAD windows → log-mel → CTranslate2 generate with a prompt of hotwords and
//! earlier text → quality checks with temperature fallback → timed segments on the meeting
//! timeline.
use std::path::Path;

use ct2rs::sys::{ComputeType, Config, Device, StorageView, Whisper, WhisperOptions};
use minutes_audio::{vad, WavSamples};

use crate::mel::{MelFrontend, CHUNK_FRAMES, SAMPLE_RATE};
use crate::quality::{copies_prompt, judge, trim_loop, Thresholds, Verdict, TEMPERATURES};
use crate::tokens::{prompt, Vocabulary};
use crate::WhisperError;

/// Decoder windows are 5–30 s of speech, split at pauses of at least this long.
const WINDOW_MIN_SECS: f64 = 5.0;
const WINDOW_MAX_SECS: f64 = 29.5;
const WINDOW_PAUSE_SECS: f64 = 1.0;
/// Earlier text stops conditioning the next window after a hot (unsure) decode.
const PROMPT_RESET_TEMPERATURE: f32 = 0.5;

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub compute_type: String,
    /// Intra-op threads (0 = CTranslate2's default: one per core).
    pub threads: usize,
    pub beam_size: usize,
    /// Windows sampled for language detection.
    pub detect_language_windows: usize,
}

#[derive(Debug, Clone, Default)]
pub struct TranscribeOptions {
    /// Whisper language code (`zh`, `en`, …); `None` detects it.
    pub language: Option<String>,
    pub hotwords: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub avg_logprob: f64,
    pub no_speech_prob: f64,
    pub temperature: f32,
}

#[derive(Debug, Clone)]
pub struct Transcription {
    pub segments: Vec<Segment>,
    pub language: String,
    pub duration_secs: f64,
    /// Decoder windows, and how many needed a hotter retry.
    pub windows: usize,
    pub retried_windows: usize,
}

pub struct WhisperEngine {
    model: Whisper,
    mel: MelFrontend,
    vocab: Vocabulary,
    opts: EngineOptions,
    thresholds: Thresholds,
}

fn compute_type(name: &str) -> Result<ComputeType, WhisperError> {
    Ok(match name {
        "int8" => ComputeType::INT8,
        "int8_float32" => ComputeType::INT8_FLOAT32,
        "int16" => ComputeType::INT16,
        "float32" => ComputeType::FLOAT32,
        "default" => ComputeType::DEFAULT,
        "auto" => ComputeType::AUTO,
        other => {
            return Err(WhisperError::Model(format!(
                "compute type {other:?} is not one of int8, int8_float32, int16, float32, default, auto"
            )))
        }
    })
}

/// Per-language first words that steer the decoder: Mandarin output in Simplified characters
/// with punctuation (Whisper otherwise drifts into Traditional or unpunctuated text).
fn initial_prompt(language: &str) -> Option<&'static str> {
    match language {
        "zh" => Some("以下是普通话的会议记录，使用简体中文。"),
        _ => None,
    }
}

impl WhisperEngine {
    pub fn load(model_dir: &Path, opts: EngineOptions) -> Result<Self, WhisperError> {
        let config = Config {
            device: Device::CPU,
            compute_type: compute_type(&opts.compute_type)?,
            num_threads_per_replica: opts.threads,
            ..Config::default()
        };
        let model = Whisper::new(model_dir, config)
            .map_err(|e| WhisperError::Model(format!("loading {}: {e}", model_dir.display())))?;
        let mel = MelFrontend::new(model.n_mels());
        let vocab = Vocabulary::load(model_dir)?;
        Ok(Self {
            model,
            mel,
            vocab,
            opts,
            thresholds: Thresholds::default(),
        })
    }

    pub fn is_multilingual(&self) -> bool {
        self.model.is_multilingual()
    }

    /// Transcribes a 16 kHz mono WAV window by window; `progress` gets the fraction done.
    pub fn transcribe_wav(
        &self,
        wav_path: &Path,
        req: &TranscribeOptions,
        progress: &mut dyn FnMut(f64),
    ) -> Result<Transcription, WhisperError> {
        let mut wav = WavSamples::open(wav_path)?;
        let duration_secs = wav.len() as f64 / SAMPLE_RATE as f64;
        let energies = vad::frame_energies(&mut wav)?;
        let regions = vad::speech_regions(&energies, &vad::VadOptions::default());
        let windows = vad::windows(
            &regions,
            &energies,
            WINDOW_MIN_SECS,
            WINDOW_MAX_SECS,
            WINDOW_PAUSE_SECS,
        );
        let language = match (&req.language, self.is_multilingual()) {
            (_, false) => "en".to_string(),
            (Some(lang), true) => lang.clone(),
            (None, true) => self.detect_language(&mut wav, &windows)?,
        };
        let mut fixed = Vec::new();
        if !req.hotwords.is_empty() {
            fixed = self
                .vocab
                .encode(&format!(" {}", req.hotwords.join(", ")))?;
            fixed.truncate(crate::tokens::MAX_PROMPT_TOKENS / 2);
        }
        let mut previous: Vec<String> = match initial_prompt(&language) {
            Some(p) => self.vocab.encode(p)?,
            None => Vec::new(),
        };
        let mut segments = Vec::new();
        let mut retried_windows = 0;
        for (i, &(start, end)) in windows.iter().enumerate() {
            let samples = read_secs(&mut wav, start, end)?;
            let mut context = fixed.clone();
            let room = crate::tokens::MAX_PROMPT_TOKENS - context.len();
            context.extend(
                previous[previous.len().saturating_sub(room)..]
                    .iter()
                    .cloned(),
            );
            let mut decoded = self.decode_window(&samples, &language, &context)?;
            let mut retried = decoded.temperature > 0.0;
            // Read back from the prompt instead of heard, or looping at every temperature (a
            // prompt of hotwords can pull the decoder into reciting them): decode again with the
            // hotwords only, then with no prompt at all, and start the running context afresh.
            for fallback in [&fixed[..], &[]] {
                let copied = decoded
                    .accepted
                    .as_ref()
                    .is_some_and(|d| copies_prompt(&d.tokens, &context));
                if !(copied || decoded.exhausted) || context.is_empty() {
                    break;
                }
                previous.clear();
                if context.as_slice() == fallback {
                    continue;
                }
                tracing::debug!(
                    start,
                    end,
                    "whisper window copied its prompt; decoding it with less context"
                );
                context = fallback.to_vec();
                decoded = self.decode_window(&samples, &language, &context)?;
                retried = true;
            }
            if retried {
                retried_windows += 1;
            }
            if let Some(d) = decoded.accepted {
                for piece in self.vocab.split_timed(&d.ids, end - start) {
                    let text = self.vocab.decode(&piece.ids)?.trim().to_string();
                    if text.is_empty() {
                        continue;
                    }
                    segments.push(Segment {
                        start: start + piece.start,
                        end: (start + piece.end).min(end),
                        text,
                        avg_logprob: d.avg_logprob,
                        no_speech_prob: d.no_speech,
                        temperature: decoded.temperature,
                    });
                }
                if decoded.temperature >= PROMPT_RESET_TEMPERATURE {
                    previous.clear();
                } else {
                    previous.extend(d.tokens);
                }
            }
            progress((i + 1) as f64 / windows.len() as f64);
        }
        Ok(Transcription {
            segments,
            language,
            duration_secs,
            windows: windows.len(),
            retried_windows,
        })
    }

    /// Averages the language probabilities of the longest windows.
    fn detect_language(
        &self,
        wav: &mut WavSamples,
        windows: &[(f64, f64)],
    ) -> Result<String, WhisperError> {
        let mut longest: Vec<&(f64, f64)> = windows.iter().collect();
        longest.sort_by(|a, b| (b.1 - b.0).total_cmp(&(a.1 - a.0)));
        let mut votes: Vec<(String, f32)> = Vec::new();
        for (start, end) in longest
            .into_iter()
            .take(self.opts.detect_language_windows.max(1))
        {
            let mut features = self.mel.features(&read_secs(wav, *start, *end)?);
            let view = self.view(&mut features)?;
            let found = self
                .model
                .detect_language(&view)
                .map_err(|e| WhisperError::Decode(e.to_string()))?;
            for d in found.into_iter().flatten() {
                match votes.iter_mut().find(|(l, _)| *l == d.language) {
                    Some(v) => v.1 += d.probability,
                    None => votes.push((d.language.clone(), d.probability)),
                }
            }
        }
        Ok(votes
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(token, _)| {
                token
                    .trim_start_matches("<|")
                    .trim_end_matches("|>")
                    .to_string()
            })
            .unwrap_or_else(|| "en".to_string()))
    }

    fn view<'a>(&self, features: &'a mut [f32]) -> Result<StorageView<'a>, WhisperError> {
        StorageView::new(&[1, self.mel.n_mels(), CHUNK_FRAMES], features, Device::CPU)
            .map_err(|e| WhisperError::Decode(e.to_string()))
    }

    fn decode_window(
        &self,
        samples: &[f32],
        language: &str,
        context: &[String],
    ) -> Result<WindowResult, WhisperError> {
        let mut features = self.mel.features(samples);
        let view = self.view(&mut features)?;
        let prompt = prompt(&self.vocab, self.is_multilingual(), language, context);
        let mut best: Option<(Decoded, f32)> = None;
        for &temperature in &TEMPERATURES {
            let options = WhisperOptions {
                beam_size: if temperature > 0.0 {
                    1
                } else {
                    self.opts.beam_size.max(1)
                },
                sampling_temperature: temperature.max(1.0e-3),
                sampling_topk: if temperature > 0.0 { 0 } else { 1 },
                return_scores: true,
                return_no_speech_prob: true,
                ..WhisperOptions::default()
            };
            let result = self
                .model
                .generate(&view, std::slice::from_ref(&prompt), &options)
                .map_err(|e| WhisperError::Decode(e.to_string()))?;
            let Some(r) = result.into_iter().next() else {
                return Err(WhisperError::Decode("the model returned no result".into()));
            };
            let ids = r.sequences_ids.into_iter().next().unwrap_or_default();
            let tokens = r.sequences.into_iter().next().unwrap_or_default();
            let text_ids: Vec<usize> = ids
                .iter()
                .copied()
                .filter(|i| self.vocab.is_text(*i))
                .collect();
            let text = self.vocab.decode(&text_ids)?;
            // CTranslate2 reports the length-normalised score; Whisper's average counts the end token.
            let len = ids.len() as f64;
            let avg_logprob =
                f64::from(r.scores.first().copied().unwrap_or(0.0)) * len / (len + 1.0);
            let no_speech = f64::from(r.no_speech_prob);
            let decoded = Decoded {
                ids,
                tokens: tokens
                    .into_iter()
                    .filter(|t| self.vocab.has(t) && !t.starts_with("<|"))
                    .collect(),
                avg_logprob,
                no_speech,
            };
            match judge(&text, &text_ids, avg_logprob, no_speech, &self.thresholds) {
                Verdict::Accept => {
                    return Ok(WindowResult {
                        accepted: Some(decoded),
                        temperature,
                        exhausted: false,
                    })
                }
                Verdict::Silent => {
                    return Ok(WindowResult {
                        accepted: None,
                        temperature,
                        exhausted: false,
                    })
                }
                Verdict::Retry(reason) => {
                    tracing::debug!(temperature, reason, "whisper window retried hotter");
                    if best
                        .as_ref()
                        .is_none_or(|(b, _)| decoded.avg_logprob > b.avg_logprob)
                    {
                        best = Some((decoded, temperature));
                    }
                }
            }
        }
        // Every temperature failed the checks: keep the most confident answer, loops trimmed.
        Ok(match best {
            Some((mut d, temperature)) => {
                d.ids = trim_loop(&d.ids);
                d.tokens = trim_loop(&d.tokens);
                WindowResult {
                    accepted: Some(d),
                    temperature,
                    exhausted: true,
                }
            }
            None => WindowResult {
                accepted: None,
                temperature: 1.0,
                exhausted: true,
            },
        })
    }
}

struct Decoded {
    ids: Vec<usize>,
    tokens: Vec<String>,
    avg_logprob: f64,
    no_speech: f64,
}

struct WindowResult {
    accepted: Option<Decoded>,
    temperature: f32,
    /// Every temperature failed the checks: `accepted` is the least bad answer, loops trimmed.
    exhausted: bool,
}

fn read_secs(wav: &mut WavSamples, start: f64, end: f64) -> Result<Vec<f32>, WhisperError> {
    let first = (start * SAMPLE_RATE as f64) as u64;
    let n = ((end - start) * SAMPLE_RATE as f64) as usize;
    Ok(wav.read(first, n)?)
}
