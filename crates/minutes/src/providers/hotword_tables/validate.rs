//! Local checks of a boosting table before it is sent: Volcano's documented limits, so a bad
//! word list fails at once with every problem named instead of as an opaque provider error.
//!
//! Limits from "热词管理 API v1.0" (`ListBoostingTableLimits`: 1000 words per table, 10
//! characters / 30 bytes per word, 5000 words and 10 tables per application) and the "热词"
//! overview (one `word|weight` per line, weight 1–10, UTF-8 TXT, no punctuation but spaces;
//! the API page caps the file at 8 MB).
use crate::domain::hotwords::Hotword;

pub const MAX_WORDS_PER_TABLE: usize = 1000;
pub const MAX_WORD_CHARS: usize = 10;
pub const MAX_WORD_BYTES: usize = 30;
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
pub const WEIGHTS: std::ops::RangeInclusive<i64> = 1..=10;
/// Problems listed in one error before the rest are summarised as a count.
const MAX_LISTED: usize = 20;

/// A word list that passed the checks, ready to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFile {
    /// De-duplicated (case-insensitively, keeping the highest weight), in input order.
    pub words: Vec<Hotword>,
    pub duplicates: usize,
    /// The uploaded file: one `word|weight` per line.
    pub text: String,
}

/// Checks `words` against the table limits; `Err` lists what is wrong.
pub fn table_file(words: &[Hotword]) -> Result<TableFile, Vec<String>> {
    let mut problems = Vec::new();
    let mut kept: Vec<Hotword> = Vec::new();
    let mut duplicates = 0;
    for h in words {
        let word = h.word.trim();
        if word.is_empty() {
            continue;
        }
        if let Some(problem) = word_problem(word) {
            problems.push(format!("`{word}`: {problem}"));
            continue;
        }
        if !WEIGHTS.contains(&h.weight) {
            problems.push(format!(
                "`{word}`: weight {} is outside {}–{}",
                h.weight,
                WEIGHTS.start(),
                WEIGHTS.end()
            ));
            continue;
        }
        let folded = word.to_lowercase();
        match kept.iter_mut().find(|k| k.word.to_lowercase() == folded) {
            Some(existing) => {
                duplicates += 1;
                existing.weight = existing.weight.max(h.weight);
            }
            None => kept.push(Hotword {
                word: word.to_string(),
                weight: h.weight,
            }),
        }
    }
    if kept.len() > MAX_WORDS_PER_TABLE {
        problems.push(format!(
            "{} distinct words; a boosting table holds at most {MAX_WORDS_PER_TABLE}",
            kept.len()
        ));
    }
    if kept.is_empty() && problems.is_empty() {
        problems.push("the table has no words".into());
    }
    let text: String = kept
        .iter()
        .map(|h| format!("{}|{}\n", h.word, h.weight))
        .collect();
    if text.len() > MAX_FILE_BYTES {
        problems.push(format!(
            "the word file is larger than {MAX_FILE_BYTES} bytes"
        ));
    }
    if !problems.is_empty() {
        let total = problems.len();
        if total > MAX_LISTED {
            problems.truncate(MAX_LISTED);
            problems.push(format!("… and {} more", total - MAX_LISTED));
        }
        return Err(problems);
    }
    Ok(TableFile {
        words: kept,
        duplicates,
        text,
    })
}

/// Why one word cannot go into a table, if it cannot.
pub fn word_problem(word: &str) -> Option<String> {
    let chars = word.chars().count();
    if chars > MAX_WORD_CHARS {
        return Some(format!(
            "{chars} characters; Volcano allows at most {MAX_WORD_CHARS} per word"
        ));
    }
    if word.len() > MAX_WORD_BYTES {
        return Some(format!(
            "{} bytes in UTF-8; Volcano allows at most {MAX_WORD_BYTES} per word",
            word.len()
        ));
    }
    // The file format is `word|weight` per line, and the docs allow no punctuation but spaces.
    if let Some(c) = word.chars().find(|c| !(c.is_alphanumeric() || *c == ' ')) {
        return Some(format!(
            "contains `{}`; boosting words may hold letters, digits and spaces only",
            c.escape_default()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hw(word: &str, weight: i64) -> Hotword {
        Hotword {
            word: word.into(),
            weight,
        }
    }

    #[test]
    fn duplicates_merge_case_insensitively_with_the_highest_weight() {
        let file = table_file(&[
            hw("Grafana", 4),
            hw("火山引擎", 8),
            hw("grafana", 9),
            hw(" ", 5),
        ])
        .expect("valid");
        assert_eq!(file.words, vec![hw("Grafana", 9), hw("火山引擎", 8)]);
        assert_eq!(file.duplicates, 1);
        assert_eq!(file.text, "Grafana|9\n火山引擎|8\n");
    }

    #[test]
    fn every_limit_is_checked_and_reported() {
        let problems = table_file(&[
            hw("一二三四五六七八九十", 5),
            hw("一二三四五六七八九十一", 5),
            hw("abcdefghijk", 5),
            hw("A/B", 5),
            hw("ok", 0),
            hw("ok2", 11),
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("11 characters"), "{problems:?}");
        assert!(problems[1].contains("11 characters"), "{problems:?}");
        assert!(problems[2].contains('/'), "{problems:?}");
        assert!(problems[3].contains("weight 0"), "{problems:?}");
        assert!(problems[4].contains("weight 11"), "{problems:?}");
        // Ten CJK characters are 30 bytes: exactly at both limits.
        assert_eq!(word_problem("一二三四五六七八九十"), None);
        // Emoji are four bytes each: under ten characters but over 30 bytes.
        assert!(word_problem("😀😀😀😀😀😀😀😀").is_some());
    }

    #[test]
    fn at_most_a_thousand_words() {
        let words: Vec<Hotword> = (0..1000).map(|i| hw(&format!("w{i}"), 5)).collect();
        assert_eq!(table_file(&words).expect("1000 fit").words.len(), 1000);
        let mut more = words.clone();
        more.push(hw("extra", 5));
        let problems = table_file(&more).expect_err("1001 do not");
        assert!(problems[0].contains("1001 distinct words"), "{problems:?}");
        assert!(table_file(&[]).is_err());
    }

    #[test]
    fn long_problem_lists_are_cut() {
        let words: Vec<Hotword> = (0..30).map(|i| hw(&format!("bad/{i}"), 5)).collect();
        let problems = table_file(&words).expect_err("invalid");
        assert_eq!(problems.len(), MAX_LISTED + 1);
        assert_eq!(problems.last().map(String::as_str), Some("… and 10 more"));
    }
}
