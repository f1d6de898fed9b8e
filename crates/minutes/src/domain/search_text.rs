//! Text → search tokens, the same for both databases and for documents and queries: runs of
//! Chinese characters are segmented with jieba, other words (Latin, digits, …) are lower-cased,
//! punctuation and spaces only separate. The databases only ever see space-separated tokens
//! (FTS5 `unicode61`, PostgreSQL `to_tsvector('simple', …)`), so both match the same words.
use std::sync::LazyLock;

use jieba_rs::Jieba;

/// The dictionary loads once (~0.2 s), on first use.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Characters a snippet shows by default.
pub const SNIPPET_CHARS: usize = 80;

/// Chinese particles that add nothing to a query; dropped unless nothing else is left.
const QUERY_STOP_WORDS: &[&str] = &["的", "地", "得", "了", "着", "吗", "呢", "吧", "啊", "呀"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Han,
    Word,
    Separator,
}

fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
        || c == '〇'
}

/// Full-width ASCII (`ＡＢＣ１２３`, typed with Chinese input methods) as plain ASCII.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

fn class(c: char) -> Class {
    if is_han(c) {
        Class::Han
    } else if c.is_alphanumeric() {
        Class::Word
    } else {
        Class::Separator
    }
}

/// Maximal runs of Chinese characters and of other word characters; separators are dropped.
fn runs(text: &str) -> Vec<(Class, String)> {
    let mut out: Vec<(Class, String)> = Vec::new();
    let mut current: Option<(Class, String)> = None;
    for c in text.chars().map(fold_width) {
        let k = class(c);
        match &mut current {
            Some((cur, run)) if *cur == k => run.push(c),
            _ => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                current = (k != Class::Separator).then(|| (k, c.to_string()));
            }
        }
    }
    out.extend(current);
    out
}

fn tokens(text: &str, for_index: bool) -> Vec<String> {
    let mut out = Vec::new();
    for (class, run) in runs(text) {
        match class {
            Class::Han => {
                // Documents also get the dictionary sub-words of long words (连接池 → 连接,
                // 连接池), so a query for a shorter word still matches; queries use the precise cut.
                let words = if for_index {
                    JIEBA.cut_for_search(&run, true)
                } else {
                    JIEBA.cut(&run, true)
                };
                out.extend(words.into_iter().map(|t| t.word.to_string()));
            }
            Class::Word => out.push(run.to_lowercase()),
            Class::Separator => {}
        }
    }
    out
}

/// The indexed form of a document's text: tokens separated by single spaces.
/// Loads the segmentation dictionary now (it takes a moment), so the first indexing
/// transaction does not pay for it.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
}

/// The process-wide segmenter, shared with other readers of Chinese text (one dictionary load).
pub fn jieba() -> &'static Jieba {
    &JIEBA
}

pub fn index_tokens(text: &str) -> String {
    tokens(text, true).join(" ")
}

/// The distinct tokens of a query, in order; every one must occur in a matching document.
pub fn query_tokens(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tokens(query, false) {
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.iter().any(|t| !QUERY_STOP_WORDS.contains(&t.as_str())) {
        out.retain(|t| !QUERY_STOP_WORDS.contains(&t.as_str()));
    }
    out
}

/// About `width` characters of `text` (whitespace collapsed) around the first place one of the
/// query `tokens` occurs (case-insensitive), with `…` where text was cut off.
pub fn snippet(text: &str, tokens: &[String], width: usize) -> String {
    let chars: Vec<char> = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect();
    // One folded char per original char, so positions carry over.
    let folded: Vec<char> = chars
        .iter()
        .map(|&c| {
            let c = fold_width(c);
            c.to_lowercase().next().unwrap_or(c)
        })
        .collect();
    let hit = tokens
        .iter()
        .filter_map(|t| {
            let needle: Vec<char> = t.chars().collect();
            if needle.is_empty() || needle.len() > folded.len() {
                return None;
            }
            folded
                .windows(needle.len())
                .position(|w| w == needle.as_slice())
        })
        .min()
        .unwrap_or(0);
    let width = width.max(1);
    if chars.len() <= width {
        return chars.into_iter().collect();
    }
    // A quarter of the window before the hit, the rest after it; shifted back at the end.
    let mut start = hit.saturating_sub(width / 4);
    let end = (start + width).min(chars.len());
    start = start.min(end.saturating_sub(width));
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(chars[start..end].iter().copied());
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        index_tokens(s).split(' ').map(str::to_string).collect()
    }

    #[test]
    fn chinese_is_segmented_into_words() {
        assert_eq!(words("订单服务故障复盘"), ["订单", "服务", "故障", "复盘"]);
        assert_eq!(
            query_tokens("订单服务故障复盘"),
            ["订单", "服务", "故障", "复盘"]
        );
    }

    #[test]
    fn latin_words_are_lower_cased_and_punctuation_dropped() {
        assert_eq!(
            index_tokens("PostgreSQL 16 upgrade"),
            "postgresql 16 upgrade"
        );
        assert_eq!(
            index_tokens("  Upgrade: PostgreSQL-16, (done!) "),
            "upgrade postgresql 16 done"
        );
        assert_eq!(index_tokens("，。！？、…"), "");
    }

    #[test]
    fn mixed_text_keeps_both_scripts_apart() {
        let t = index_tokens("Redis 连接池耗尽，张伟负责周五前修复。");
        let t: Vec<&str> = t.split(' ').collect();
        for w in ["redis", "连接池", "连接", "耗尽", "张伟", "周五", "修复"] {
            assert!(t.contains(&w), "{w} in {t:?}");
        }
        assert!(!t.iter().any(|w| w.contains('，') || w.contains('。')));
        // Latin next to Chinese without a space is still its own word.
        assert_eq!(query_tokens("用Redis做缓存"), ["用", "redis", "做", "缓存"]);
    }

    #[test]
    fn queries_use_the_precise_cut_and_documents_also_index_sub_words() {
        assert_eq!(query_tokens("连接池"), ["连接池"]);
        let doc = index_tokens("扩大连接池");
        assert!(doc.split(' ').any(|w| w == "连接"), "{doc}");
        assert!(doc.split(' ').any(|w| w == "连接池"), "{doc}");
    }

    #[test]
    fn full_width_forms_fold_to_ascii() {
        assert_eq!(index_tokens("ＲＥＤＩＳ　６"), "redis 6");
    }

    #[test]
    fn queries_are_deduplicated_and_drop_particles() {
        assert_eq!(query_tokens("Redis redis REDIS"), ["redis"]);
        assert_eq!(query_tokens("订单的故障"), ["订单", "故障"]);
        assert_eq!(query_tokens("的"), ["的"]);
        assert!(query_tokens("?!").is_empty());
    }

    #[test]
    fn snippets_centre_on_the_first_match() {
        let text = format!("{}Redis 连接池耗尽{}", "前文".repeat(60), "后文".repeat(60));
        let s = snippet(&text, &["连接池".to_string()], 80);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("Redis 连接池耗尽"), "{s}");
        assert_eq!(s.chars().count(), 82);
        // Case-insensitive, whitespace collapsed, short text whole.
        assert_eq!(
            snippet(
                "Upgrade\n\n  PostgreSQL now",
                &["postgresql".to_string()],
                80
            ),
            "Upgrade PostgreSQL now"
        );
        // A match near the end keeps the window full.
        let s = snippet(
            &format!("{}end", "x ".repeat(100)),
            &["end".to_string()],
            20,
        );
        assert!(s.starts_with('…') && s.ends_with("end"), "{s}");
        assert_eq!(s.chars().count(), 21);
        // No match: the beginning.
        assert!(snippet(&"abc ".repeat(50), &["zzz".to_string()], 10).starts_with("abc abc"));
    }
}
