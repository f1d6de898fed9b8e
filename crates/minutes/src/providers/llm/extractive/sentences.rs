//! Transcript lines → sentences (each keeps its segment id and speaker) → content words:
//! Chinese is segmented with jieba, other words are lower-cased, stopwords are dropped.
use super::lexicon::is_stopword;
use crate::domain::search_text::jieba;
use crate::providers::SourceLine;

/// A word as counted (`key`, lower case) and as written (`surface`, for titles).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Word {
    pub key: String,
    pub surface: String,
}

#[derive(Debug, Clone)]
pub(super) struct Sentence {
    pub segment_id: Option<String>,
    pub speaker: String,
    /// The sentence as spoken (trimmed, curly apostrophes straightened).
    pub text: String,
    /// Content words in order: no stopwords, numbers or one-character Chinese words.
    pub words: Vec<Word>,
}

impl Sentence {
    pub fn is_question(&self) -> bool {
        self.text.ends_with(['?', '？'])
    }
}

/// Every sentence of every line, in transcript order.
pub(super) fn sentences(lines: &[SourceLine]) -> Vec<Sentence> {
    let mut out = Vec::new();
    for line in lines {
        for text in split(&line.text.replace('’', "'")) {
            out.push(Sentence {
                segment_id: line.segment_id.clone(),
                speaker: line.speaker.trim().to_string(),
                words: content_words(&text),
                text,
            });
        }
    }
    out
}

pub(super) fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Ends a sentence wherever it occurs.
fn is_hard_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '!' | '?' | '；' | ';' | '…' | '\n')
}

/// Closing marks that stay with the sentence they close.
fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | '」' | '』' | '）' | ')' | '.')
        || (is_hard_end(c) && c != '\n')
}

/// Words before a period that do not end a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "vs", "etc", "inc", "ltd", "jr", "sr", "st", "approx", "dept",
    "eg", "ie",
];

/// Whether the period at `i` ends a sentence (not `3.5`, `e.g.`, `Dr.`, `J. Smith`).
fn period_ends(chars: &[char], i: usize) -> bool {
    if let Some(&next) = chars.get(i + 1) {
        if !(next.is_whitespace() || is_han(next) || is_closer(next)) {
            return false;
        }
    }
    let start = chars[..i]
        .iter()
        .rposition(|c| !(c.is_ascii_alphabetic() || *c == '.'))
        .map_or(0, |p| p + 1);
    let word: String = chars[start..i]
        .iter()
        .filter(|c| **c != '.')
        .collect::<String>()
        .to_ascii_lowercase();
    !(word.len() == 1 || ABBREVIATIONS.contains(&word.as_str()))
}

/// Splits one line into sentences; pieces without a letter, digit or Chinese character are dropped.
pub(super) fn split(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(c);
        if is_hard_end(c) || (c == '.' && period_ends(&chars, i)) {
            while chars.get(i + 1).is_some_and(|&n| is_closer(n)) {
                i += 1;
                current.push(chars[i]);
            }
            push_sentence(&mut out, &current);
            current.clear();
        }
        i += 1;
    }
    push_sentence(&mut out, &current);
    out
}

fn push_sentence(out: &mut Vec<String>, text: &str) {
    let t = text.trim();
    if t.chars().any(|c| c.is_alphanumeric()) {
        out.push(t.to_string());
    }
}

/// All words of `text` in order: jieba words for runs of Chinese, lower-cased runs of other
/// letters and digits (apostrophes and hyphens inside a word kept: `let's`, `follow-up`).
pub(super) fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut run = String::new();
    let mut han = false;
    let flush = |run: &mut String, han: bool, out: &mut Vec<Word>| {
        if run.is_empty() {
            return;
        }
        if han {
            out.extend(jieba().cut(run, true).into_iter().map(|t| Word {
                key: t.word.to_string(),
                surface: t.word.to_string(),
            }));
        } else {
            let surface = run.trim_matches(['\'', '-']).to_string();
            if !surface.is_empty() {
                out.push(Word {
                    key: surface.to_lowercase(),
                    surface,
                });
            }
        }
        run.clear();
    };
    for c in text.chars() {
        let c_han = is_han(c);
        let word_char = !c_han && (c.is_alphanumeric() || matches!(c, '\'' | '-'));
        if (c_han || word_char) && !run.is_empty() && c_han != han {
            flush(&mut run, han, &mut out);
        }
        if c_han || word_char {
            han = c_han;
            run.push(c);
        } else {
            flush(&mut run, han, &mut out);
        }
    }
    flush(&mut run, han, &mut out);
    out
}

/// Words that carry meaning: no stopwords, numbers, single letters or single Chinese characters.
pub(super) fn content_words(text: &str) -> Vec<Word> {
    words(text)
        .into_iter()
        .filter(|w| {
            let key = w.key.strip_suffix("'s").unwrap_or(&w.key);
            let chars = key.chars().count();
            !is_stopword(&w.key)
                && !is_stopword(key)
                && chars >= 2
                && !key.chars().all(|c| c.is_ascii_digit())
        })
        .map(|mut w| {
            if let Some(k) = w.key.strip_suffix("'s") {
                w.key = k.to_string();
                w.surface.truncate(w.surface.len() - 2);
            }
            w
        })
        .collect()
}

/// Share of Chinese characters among the letters of all sentences (0 when there are none).
pub(super) fn han_share(sentences: &[Sentence]) -> f64 {
    let (mut han, mut letters) = (0usize, 0usize);
    for c in sentences.iter().flat_map(|s| s.text.chars()) {
        if is_han(c) {
            han += 1;
            letters += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if letters == 0 {
        0.0
    } else {
        han as f64 / letters as f64
    }
}
