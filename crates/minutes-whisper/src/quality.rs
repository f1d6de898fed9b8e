//! The checks that decide whether a decoded window is believable, after faster-whisper's
//! safeguards: text that compresses too well is a loop, a low average log-probability is a
//! guess, and a likely-silent window with a weak guess is dropped rather than hallucinated.
use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub compression_ratio: f64,
    pub log_prob: f64,
    pub no_speech: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            compression_ratio: 2.4,
            log_prob: -1.0,
            no_speech: 0.6,
        }
    }
}

/// Temperatures tried in order when a decode fails the checks.
pub const TEMPERATURES: [f32; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Accept,
    /// Probably no speech: keep nothing from this window.
    Silent,
    /// Looks like a loop or a guess: decode again hotter.
    Retry(&'static str),
}

pub fn judge(
    text: &str,
    ids: &[usize],
    avg_logprob: f64,
    no_speech: f64,
    t: &Thresholds,
) -> Verdict {
    if no_speech > t.no_speech && avg_logprob < t.log_prob {
        return Verdict::Silent;
    }
    if compression_ratio(text) > t.compression_ratio {
        return Verdict::Retry("compression ratio");
    }
    if repeats(ids) {
        return Verdict::Retry("repetition loop");
    }
    if avg_logprob < t.log_prob {
        return Verdict::Retry("low average log-probability");
    }
    Verdict::Accept
}

/// gzip-style ratio of the UTF-8 text to its zlib compression; loops compress very well.
pub fn compression_ratio(text: &str) -> f64 {
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(text.as_bytes());
    let compressed = enc.finish().map(|v| v.len()).unwrap_or(text.len());
    text.len() as f64 / compressed.max(1) as f64
}

/// True when some n-gram of 1–12 tokens repeats back to back at least `min_repeats` times
/// (4 for single tokens and pairs, 3 for longer n-grams): the decoder is stuck in a loop.
pub fn repeats(ids: &[usize]) -> bool {
    for n in 1..=12usize {
        let min_repeats = if n <= 2 { 5 } else { 3 };
        if ids.len() < n * min_repeats {
            continue;
        }
        let mut i = 0;
        while i + n * min_repeats <= ids.len() {
            let gram = &ids[i..i + n];
            let mut count = 1;
            while i + (count + 1) * n <= ids.len()
                && &ids[i + count * n..i + (count + 1) * n] == gram
            {
                count += 1;
            }
            if count >= min_repeats {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// Tokens in a row that a decoded window may share with its prompt before it counts as read
/// back from the prompt. Real speech rarely repeats ten tokens of what came before word for
/// word, and when it does, decoding again without the previous text costs only time.
pub const PROMPT_COPY_TOKENS: usize = 10;

/// True when `decoded` holds a run of at least `PROMPT_COPY_TOKENS` tokens that also stands in
/// `prompt`: Whisper sometimes reads its prompt (the hotwords, the previous window, the
/// language's initial prompt) back instead of the audio, and once one window does, the next one
/// is prompted with the copy and a loop across windows follows — a loop inside no single window,
/// so the compression and repetition checks cannot see it.
pub fn copies_prompt(decoded: &[String], prompt: &[String]) -> bool {
    if decoded.len() < PROMPT_COPY_TOKENS || prompt.len() < PROMPT_COPY_TOKENS {
        return false;
    }
    // Longest common run by dynamic programming over one row (both sides are ≤ 448 tokens).
    let mut row = vec![0usize; prompt.len() + 1];
    for d in decoded {
        let mut diagonal = 0;
        for (j, p) in prompt.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if d == p { diagonal + 1 } else { 0 };
            if row[j + 1] >= PROMPT_COPY_TOKENS {
                return true;
            }
            diagonal = above;
        }
    }
    false
}

/// Drops trailing repeats of a looped sequence, keeping the first occurrence: used when every
/// temperature looped and the least bad answer must still be kept.
pub fn trim_loop<T: PartialEq + Clone>(ids: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(id.clone());
        for n in 1..=12usize.min(out.len() / 2) {
            let len = out.len();
            if out[len - n..] == out[len - 2 * n..len - n] {
                out.truncate(len - n);
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_compress_and_repeat() {
        let looped = "the meeting is over. ".repeat(20);
        assert!(compression_ratio(&looped) > 2.4);
        assert!(compression_ratio("We will move staging to Kubernetes next sprint.") < 2.4);
        let ids: Vec<usize> = [1, 2, 3].iter().cycle().take(12).copied().collect();
        assert!(repeats(&ids));
        assert!(!repeats(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3]));
        assert_eq!(trim_loop(&ids), vec![1, 2, 3]);
    }

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_window_that_reads_its_prompt_back_is_caught() {
        let prompt = toks(
            "以 下 是 普 通 话 的 会 议 。 订 单 服 务 大 量 超 时 ， 持 续 了 三 十 五 分 钟",
        );
        // The previous window's sentence again, then the initial prompt: a copy.
        let copied = toks("订 单 服 务 大 量 超 时 ， 持 续 了 三 十 五");
        assert!(copies_prompt(&copied, &prompt));
        // New speech that shares a few words with the prompt is not.
        let fresh = toks("订 单 服 务 的 连 接 池 很 快 被 占 满 了");
        assert!(!copies_prompt(&fresh, &prompt));
        // Exactly the limit counts; one token less does not.
        let run: Vec<String> = prompt[10..10 + PROMPT_COPY_TOKENS].to_vec();
        assert!(copies_prompt(&run, &prompt));
        let mut short = prompt[10..10 + PROMPT_COPY_TOKENS - 1].to_vec();
        short.extend(toks("x y"));
        assert!(!copies_prompt(&short, &prompt));
    }

    #[test]
    fn silence_beats_retry_and_good_text_passes() {
        let t = Thresholds::default();
        assert_eq!(judge("you", &[1], -1.5, 0.9, &t), Verdict::Silent);
        assert_eq!(
            judge("hello there", &[1, 2], -0.3, 0.9, &t),
            Verdict::Accept
        );
        assert!(matches!(
            judge("hm", &[1], -1.4, 0.1, &t),
            Verdict::Retry(_)
        ));
    }
}
