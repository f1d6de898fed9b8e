//! Hotword governance: parsing `word|weight` files with limits, merging the sets that apply to a
//! task (user > tenant > global), and the per-task report of which hotwords were heard.
use serde::{Deserialize, Serialize};

use super::transcript::Segment;

pub const MAX_WORDS: usize = 1000;
pub const MAX_WORD_CHARS: usize = 50;
pub const WEIGHT_RANGE: std::ops::RangeInclusive<i64> = 1..=10;
pub const DEFAULT_WEIGHT: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hotword {
    pub word: String,
    pub weight: i64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HotwordError {
    #[error("the hotword file is not valid UTF-8")]
    NotUtf8,
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("the file has {0} hotwords; at most {MAX_WORDS} are allowed")]
    TooMany(usize),
    #[error("the file has no hotwords")]
    Empty,
}

/// What a parsed file held, after de-duplication.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedHotwords {
    pub words: Vec<Hotword>,
    pub duplicates: usize,
}

/// Parses `word|weight` lines (weight optional, 1–10, default 5); blank lines and `#` comments
/// are skipped; duplicates (case-insensitive) keep their highest weight.
pub fn parse_file(bytes: &[u8]) -> Result<ParsedHotwords, HotwordError> {
    let text = std::str::from_utf8(bytes).map_err(|_| HotwordError::NotUtf8)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut words: Vec<Hotword> = Vec::new();
    let mut duplicates = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| HotwordError::Line {
            line: i + 1,
            reason,
        };
        let (word, weight) = match line.split_once('|') {
            Some((w, weight)) => {
                let weight: i64 = weight.trim().parse().map_err(|_| {
                    bad(format!("weight `{}` is not a whole number", weight.trim()))
                })?;
                (w.trim(), weight)
            }
            None => (line, DEFAULT_WEIGHT),
        };
        if word.is_empty() {
            return Err(bad("the word is empty".into()));
        }
        if word.chars().count() > MAX_WORD_CHARS {
            return Err(bad(format!(
                "`{word}` is longer than {MAX_WORD_CHARS} characters"
            )));
        }
        if word.chars().any(|c| c.is_control() || c == '|') {
            return Err(bad(format!("`{word}` contains control characters or `|`")));
        }
        if !WEIGHT_RANGE.contains(&weight) {
            return Err(bad(format!(
                "weight {weight} is outside {}–{}",
                WEIGHT_RANGE.start(),
                WEIGHT_RANGE.end()
            )));
        }
        match words
            .iter_mut()
            .find(|h| h.word.to_lowercase() == word.to_lowercase())
        {
            Some(existing) => {
                duplicates += 1;
                existing.weight = existing.weight.max(weight);
            }
            None => words.push(Hotword {
                word: word.to_string(),
                weight,
            }),
        }
    }
    if words.is_empty() {
        return Err(HotwordError::Empty);
    }
    if words.len() > MAX_WORDS {
        return Err(HotwordError::TooMany(words.len()));
    }
    Ok(ParsedHotwords { words, duplicates })
}

/// Whether a set made for `set_language` serves a task spoken in `task_language`
/// (`zh-CN+en-US` tasks take zh-CN, en-US and mixed sets).
pub fn language_compatible(set_language: &str, task_language: &str) -> bool {
    set_language == task_language
        || task_language.split('+').any(|l| l == set_language)
        || set_language.split('+').any(|l| l == task_language)
}

/// Merges sets in precedence order (most specific first), heaviest first within, capped.
pub fn merge(sets_in_precedence: &[Vec<Hotword>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for set in sets_in_precedence {
        let mut sorted = set.clone();
        sorted.sort_by_key(|h| std::cmp::Reverse(h.weight));
        for h in sorted {
            if out.len() < MAX_WORDS
                && !out
                    .iter()
                    .any(|w| w.to_lowercase() == h.word.to_lowercase())
            {
                out.push(h.word);
            }
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HotwordHit {
    pub word: String,
    pub count: usize,
    pub segment_ids: Vec<String>,
}

/// Which supplied hotwords occur in the transcript (case-insensitive), and which do not.
pub fn report(supplied: &[String], segments: &[Segment]) -> (Vec<HotwordHit>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for word in supplied {
        let needle = word.to_lowercase();
        let mut hit = HotwordHit {
            word: word.clone(),
            count: 0,
            segment_ids: Vec::new(),
        };
        for s in segments {
            let n = s.text.to_lowercase().matches(&needle).count();
            if n > 0 {
                hit.count += n;
                hit.segment_ids.push(s.id.clone());
            }
        }
        if hit.count > 0 {
            found.push(hit);
        } else {
            missing.push(word.clone());
        }
    }
    (found, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_parsed_with_governance() {
        let p = parse_file(
            "# team words\nGrafana|8\n\n火山引擎\ngrafana|3\nKubernetes | 10\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(p.duplicates, 1);
        assert_eq!(
            p.words,
            vec![
                Hotword {
                    word: "Grafana".into(),
                    weight: 8
                },
                Hotword {
                    word: "火山引擎".into(),
                    weight: 5
                },
                Hotword {
                    word: "Kubernetes".into(),
                    weight: 10
                },
            ]
        );
        assert_eq!(parse_file(&[0xff, 0xfe, 0x00]), Err(HotwordError::NotUtf8));
        assert!(matches!(
            parse_file(b"ok\nbad|eleven\n"),
            Err(HotwordError::Line { line: 2, .. })
        ));
        assert!(matches!(
            parse_file(b"ok|11"),
            Err(HotwordError::Line { line: 1, .. })
        ));
        assert!(matches!(
            parse_file("x".repeat(51).as_bytes()),
            Err(HotwordError::Line { line: 1, .. })
        ));
        let many: String = (0..1001).map(|i| format!("w{i}\n")).collect();
        assert_eq!(
            parse_file(many.as_bytes()),
            Err(HotwordError::TooMany(1001))
        );
        assert_eq!(parse_file(b"\n# only comments\n"), Err(HotwordError::Empty));
    }

    #[test]
    fn sets_merge_by_precedence_and_languages_match() {
        let user = vec![Hotword {
            word: "Grafana".into(),
            weight: 3,
        }];
        let tenant = vec![
            Hotword {
                word: "grafana".into(),
                weight: 9,
            },
            Hotword {
                word: "青岛".into(),
                weight: 9,
            },
        ];
        assert_eq!(merge(&[user, tenant]), vec!["Grafana", "青岛"]);
        assert!(language_compatible("zh-CN", "zh-CN+en-US"));
        assert!(language_compatible("zh-CN+en-US", "en-US"));
        assert!(!language_compatible("ja-JP", "zh-CN+en-US"));
    }
}
