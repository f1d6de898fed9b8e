//! The fast transcription wire format: the `definition` form field we send, the result we read,
//! the error body, and how task languages and hotwords map onto them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `phraseList` (and with it the rest of the definition used here) needs this version.
pub const API_VERSION: &str = "2025-10-15";
/// The operation path under the resource's endpoint.
pub const TRANSCRIBE_PATH: &str = "speechtotext/transcriptions:transcribe";
/// "A phrase list shouldn't have more than 500 phrases" (Improve recognition accuracy with
/// phrase list).
pub const MAX_PHRASES: usize = 500;

/// The `definition` form field (TranscriptionDefinition).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Definition {
    /// Empty for `auto`: the service then runs its multi-lingual model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locales: Vec<String>,
    pub diarization: Diarization,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phrase_list: Option<PhraseList>,
    pub profanity_filter_mode: &'static str,
    /// Custom speech model URIs by locale.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, String>,
    // `channels` is left out on purpose: the normalized meeting audio is mono, for which the
    // service ignores it, and diarization refuses `[0,1]` on stereo anyway.
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diarization {
    pub enabled: bool,
    pub max_speakers: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhraseList {
    pub phrases: Vec<String>,
}

/// The task's language as `locales`: `zh-CN+en-US` → both (the service picks per request),
/// `auto` or empty → none. Tags are normalized to `ll-RR` case.
pub fn locales(language: &str) -> Result<Vec<String>, String> {
    let language = language.trim();
    if language.is_empty() || language.eq_ignore_ascii_case("auto") {
        return Ok(Vec::new());
    }
    let mut out: Vec<String> = Vec::new();
    for tag in language.split('+').map(str::trim) {
        let locale = normalize_locale(tag)
            .ok_or_else(|| format!("{tag:?} is not a locale Azure understands (e.g. zh-CN)"))?;
        if !out.contains(&locale) {
            out.push(locale);
        }
    }
    Ok(out)
}

/// `zh-cn` → `zh-CN`; `None` for anything that is not `language[-Script][-REGION]`.
fn normalize_locale(tag: &str) -> Option<String> {
    let mut parts = tag.split(['-', '_']);
    let lang = parts.next()?;
    if !(2..=3).contains(&lang.len()) || !lang.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut out = lang.to_ascii_lowercase();
    for part in parts {
        if !(2..=8).contains(&part.len()) || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        out.push('-');
        if part.len() == 4 {
            // A script subtag (`Hans`): title case.
            let mut chars = part.chars();
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        } else {
            out.push_str(&part.to_ascii_uppercase());
        }
    }
    Some(out)
}

/// The hotwords as a phrase list: trimmed, whitespace collapsed, de-duplicated ignoring case,
/// and cut at [`MAX_PHRASES`]. Also returns how many distinct phrases did not fit.
pub fn phrase_list(hotwords: &[String]) -> (Option<PhraseList>, usize) {
    let mut phrases: Vec<String> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut dropped = 0;
    for hotword in hotwords {
        let phrase = hotword.split_whitespace().collect::<Vec<_>>().join(" ");
        let key = phrase.to_lowercase();
        if phrase.is_empty() || seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if phrases.len() == MAX_PHRASES {
            dropped += 1;
        } else {
            phrases.push(phrase);
        }
    }
    (
        (!phrases.is_empty()).then_some(PhraseList { phrases }),
        dropped,
    )
}

/// The transcribe result; fields we do not use (`words`, `channel`) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TranscribeResult {
    #[serde(default)]
    duration_milliseconds: Option<u64>,
    #[serde(default)]
    combined_phrases: Vec<CombinedPhrase>,
    #[serde(default)]
    phrases: Vec<WirePhrase>,
}

#[derive(Debug, Deserialize)]
struct CombinedPhrase {
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePhrase {
    offset_milliseconds: u64,
    duration_milliseconds: u64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    speaker: Option<i64>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    confidence: Option<f64>,
}

/// One recognized phrase of a chunk, in seconds from the chunk's start (also the checkpointed
/// form of a finished chunk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phrase {
    pub start: f64,
    pub end: f64,
    pub text: String,
    /// The service's diarization label, numbered per request.
    pub speaker: Option<u32>,
    pub confidence: Option<f64>,
    pub locale: Option<String>,
}

/// The phrases of a result for a chunk of `chunk_secs`, in time order. Phrases without text
/// carry nothing to attribute and are dropped; a result with text but no phrases becomes one
/// phrase over the chunk.
pub fn parse(body: &[u8], chunk_secs: f64) -> Result<Vec<Phrase>, String> {
    let result: TranscribeResult = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut out: Vec<Phrase> = result
        .phrases
        .into_iter()
        .filter_map(|p| {
            let text = p.text.trim();
            let start = p.offset_milliseconds as f64 / 1000.0;
            (!text.is_empty()).then(|| Phrase {
                start,
                end: start + p.duration_milliseconds as f64 / 1000.0,
                text: text.to_string(),
                speaker: p.speaker.and_then(|s| u32::try_from(s).ok()),
                confidence: p.confidence.filter(|c| c.is_finite()),
                locale: p.locale.filter(|l| !l.is_empty()),
            })
        })
        .collect();
    if out.is_empty() {
        let text = result
            .combined_phrases
            .iter()
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() {
            let end = result
                .duration_milliseconds
                .map(|ms| ms as f64 / 1000.0)
                .unwrap_or(chunk_secs)
                .min(chunk_secs);
            out.push(Phrase {
                start: 0.0,
                end,
                text,
                speaker: None,
                confidence: None,
                locale: None,
            });
        }
    }
    out.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok(out)
}

/// The error body: the Speech API's own `{code, message, innerError}`, or the gateway's
/// `{"error": {code, message}}` (bad keys, wrong endpoint).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    inner_error: Option<Box<ErrorBody>>,
    #[serde(default)]
    error: Option<Box<ErrorBody>>,
}

/// `InvalidArgument: message (inner: AudioLengthLimitExceeded)` from an error body, if it is one.
pub fn error_summary(body: &[u8]) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_slice(body).ok()?;
    let top = match parsed.error {
        Some(inner) if parsed.code.is_none() && parsed.message.is_none() => *inner,
        _ => parsed,
    };
    let code = |e: &ErrorBody| {
        e.code.as_ref().map(|c| match c {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let mut summary = match (code(&top), top.message.as_deref()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        (None, Some(message)) => message.to_string(),
        (None, None) => return None,
    };
    if let Some(inner) = top.inner_error.as_deref().and_then(code) {
        summary.push_str(&format!(" (inner: {inner})"));
    }
    Some(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_languages_map_to_azure_locales() {
        let l = |s: &str| locales(s).expect("valid");
        assert_eq!(l("zh-CN"), vec!["zh-CN"]);
        assert_eq!(l("en-US"), vec!["en-US"]);
        assert_eq!(l("zh-CN+en-US"), vec!["zh-CN", "en-US"]);
        assert_eq!(l("ja-JP"), vec!["ja-JP"]);
        assert_eq!(l("ko-KR"), vec!["ko-KR"]);
        assert_eq!(l("zh-cn + EN-us + zh-CN"), vec!["zh-CN", "en-US"]);
        assert_eq!(l("zh-Hans-CN"), vec!["zh-Hans-CN"]);
        assert!(l("auto").is_empty());
        assert!(l("  ").is_empty());
        assert!(locales("zh-CN+").is_err());
        assert!(locales("chinese!").is_err());
    }

    #[test]
    fn phrase_list_dedups_ignoring_case_and_caps_at_the_documented_limit() {
        let words: Vec<String> = ["Kubernetes", " kubernetes ", "", "张伟", "Helm  chart"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (list, dropped) = phrase_list(&words);
        assert_eq!(
            list.expect("phrases").phrases,
            vec!["Kubernetes", "张伟", "Helm chart"]
        );
        assert_eq!(dropped, 0);
        let many: Vec<String> = (0..520).map(|i| format!("term{}", i % 510)).collect();
        let (list, dropped) = phrase_list(&many);
        let phrases = list.expect("phrases").phrases;
        assert_eq!(phrases.len(), MAX_PHRASES);
        assert_eq!(phrases[499], "term499");
        assert_eq!(dropped, 10, "510 distinct, 500 kept");
        assert_eq!(phrase_list(&[]).0, None);
    }

    #[test]
    fn results_become_phrases_in_seconds() {
        let body = br#"{"durationMilliseconds": 9000,
            "combinedPhrases": [{"text": "Hi there. Yes."}],
            "phrases": [
              {"speaker": 1, "offsetMilliseconds": 4200, "durationMilliseconds": 800, "text": "Yes.",
               "locale": "en-US", "confidence": 0.8, "words": []},
              {"speaker": 0, "offsetMilliseconds": 960, "durationMilliseconds": 640, "text": " Hi there. ",
               "locale": "en-US", "confidence": 0.93, "channel": 0},
              {"speaker": 0, "offsetMilliseconds": 6000, "durationMilliseconds": 100, "text": " "}
            ]}"#;
        let phrases = parse(body, 10.0).expect("parses");
        assert_eq!(phrases.len(), 2);
        assert_eq!(phrases[0].text, "Hi there.");
        assert_eq!((phrases[0].start, phrases[0].end), (0.96, 1.6));
        assert_eq!(phrases[0].speaker, Some(0));
        assert_eq!(phrases[1].speaker, Some(1));
        assert_eq!(phrases[1].confidence, Some(0.8));

        let only_text =
            br#"{"durationMilliseconds": 3000, "combinedPhrases": [{"text": "hello"}]}"#;
        let phrases = parse(only_text, 10.0).expect("parses");
        assert_eq!(phrases.len(), 1);
        assert_eq!((phrases[0].start, phrases[0].end), (0.0, 3.0));

        assert!(parse(b"{\"phrases\": [{\"text\": \"x\"}]}", 1.0).is_err());
        assert!(parse(b"<html>", 1.0).is_err());
    }

    #[test]
    fn error_bodies_of_the_api_and_the_gateway_are_summarized() {
        let api = br#"{"code": "InvalidArgument", "message": "Invalid locale.",
                        "innerError": {"code": "InvalidLocale", "message": "x"}}"#;
        assert_eq!(
            error_summary(api).as_deref(),
            Some("InvalidArgument: Invalid locale. (inner: InvalidLocale)")
        );
        let gateway = br#"{"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}"#;
        assert_eq!(
            error_summary(gateway).as_deref(),
            Some("401: Access denied due to invalid subscription key.")
        );
        assert_eq!(error_summary(b"upstream connect error"), None);
        assert_eq!(error_summary(b"{}"), None);
    }
}
