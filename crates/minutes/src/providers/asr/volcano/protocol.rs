//! The wire format of Volcano's BigModel file recognition ("大模型录音文件识别标准版API", v3
//! `auc/bigmodel` submit/query): request body, result body, the status codes carried in the
//! `X-Api-Status-Code` header, and the mapping of results onto segments.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::providers::{AsrSegment, ProviderError};

/// Status codes of the query/submit answers (the page's 错误码 table, plus two the table lacks).
pub mod code {
    pub const OK: i64 = 20_000_000;
    pub const PROCESSING: i64 = 20_000_001;
    pub const QUEUED: i64 = 20_000_002;
    /// 静音音频: "do not query again, submit again".
    pub const SILENT: i64 = 20_000_003;
    /// Missing or invalid field, or a duplicate request (a request id already submitted).
    pub const INVALID_PARAMS: i64 = 45_000_001;
    pub const EMPTY_AUDIO: i64 = 45_000_002;
    pub const BAD_AUDIO_FORMAT: i64 = 45_000_151;
    pub const BUSY: i64 = 55_000_031;
    /// Not in the file-recognition table; returned by the same gateway for a bad or missing
    /// access key (45000010) and for a resource the application was not granted (45000030).
    pub const AUTH_INVALID: i64 = 45_000_010;
    pub const RESOURCE_NOT_GRANTED: i64 = 45_000_030;
    /// Not in the table either: the gateway's quota / concurrency limit.
    pub const QUOTA_LIMIT: i64 = 45_000_292;
}

/// The submit request body.
#[derive(Debug, Clone, Serialize)]
pub struct SubmitBody {
    pub user: User,
    pub audio: Audio,
    pub request: RequestOptions,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub uid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Audio {
    pub url: String,
    pub format: &'static str,
    pub codec: &'static str,
    pub rate: u32,
    pub bits: u32,
    pub channel: u32,
    /// Omitted for Chinese/English mixed speech (and its dialects), which is the model's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequestOptions {
    pub model_name: &'static str,
    pub enable_itn: bool,
    pub enable_punc: bool,
    pub enable_ddc: bool,
    pub enable_speaker_info: bool,
    pub show_utterances: bool,
    #[serde(skip_serializing_if = "Corpus::is_empty")]
    pub corpus: Corpus,
    /// A JSON document in a string, as the page specifies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive_words_filter: Option<String>,
}

/// `request.corpus`: the boosting table (热词表) and inline context hotwords. Never the
/// `correct_table_name` field: that names a replacement (替换词) table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Corpus {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boosting_table_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boosting_table_name: Option<String>,
    /// `{"hotwords":[{"word":"…"}]}` serialized to a string ("热词直传", up to 5000 words).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl Corpus {
    fn is_empty(&self) -> bool {
        self.boosting_table_id.is_none()
            && self.boosting_table_name.is_none()
            && self.context.is_none()
    }
}

/// Inline hotwords ("热词直传") are capped at this many words by the page.
pub const MAX_CONTEXT_HOTWORDS: usize = 5000;

/// The `corpus.context` string carrying `hotwords`, or `None` when there are none.
pub fn context_hotwords(hotwords: &[String]) -> Option<String> {
    let words: Vec<Value> = hotwords
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .take(MAX_CONTEXT_HOTWORDS)
        .map(|w| serde_json::json!({ "word": w }))
        .collect();
    (!words.is_empty()).then(|| serde_json::json!({ "hotwords": words }).to_string())
}

/// The `audio.language` value for a task language; `None` lets the model take Chinese and
/// English (and the dialects it knows) together.
pub fn language(task_language: &str) -> Option<String> {
    match task_language.trim() {
        "zh-CN" => Some("zh-CN".into()),
        "en-US" => Some("en-US".into()),
        "ja-JP" => Some("ja-JP".into()),
        "ko-KR" => Some("ko-KR".into()),
        // `zh-CN+en-US`, `auto` and anything unknown: the mixed default.
        _ => None,
    }
}

/// A query answer's body (present when the status is `OK`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueryBody {
    #[serde(default)]
    pub audio_info: Option<AudioInfo>,
    /// An object in the page's examples; one field table calls it a list, so both are read.
    #[serde(default)]
    pub result: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AudioInfo {
    /// Milliseconds.
    #[serde(default)]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecognitionResult {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub utterances: Vec<Utterance>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Utterance {
    /// Milliseconds.
    pub start_time: f64,
    pub end_time: f64,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub words: Vec<Word>,
    #[serde(default)]
    pub additions: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Word {
    #[serde(default)]
    pub text: String,
}

/// A finished recognition mapped onto our segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub segments: Vec<AsrSegment>,
    /// Word tokens (or, without word detail, runs in the text) made only of `*`: what the
    /// `sensitive_words_filter` leaves where it masked a word.
    pub masked_tokens: usize,
}

/// Reads a query answer's body into segments: utterance times are milliseconds, the speaker
/// is `additions.speaker` ("1" → `Speaker 1`). Text without utterances becomes one segment over
/// the audio's duration.
pub fn parse_result(body: &QueryBody, provider: &str) -> Result<Parsed, ProviderError> {
    let invalid = |detail: String| ProviderError::InvalidResponse {
        provider: provider.to_string(),
        detail,
    };
    let result: RecognitionResult = match &body.result {
        None | Some(Value::Null) => RecognitionResult::default(),
        Some(Value::Array(items)) => match items.first() {
            None => RecognitionResult::default(),
            Some(first) => serde_json::from_value(first.clone())
                .map_err(|e| invalid(format!("result[0] is not a recognition result: {e}")))?,
        },
        Some(other) => serde_json::from_value(other.clone())
            .map_err(|e| invalid(format!("result is not a recognition result: {e}")))?,
    };
    let mut segments = Vec::with_capacity(result.utterances.len());
    let mut masked_tokens = 0;
    for u in &result.utterances {
        if !(u.start_time.is_finite() && u.end_time.is_finite()) || u.start_time < 0.0 {
            return Err(invalid(format!(
                "utterance has bad times {}..{}",
                u.start_time, u.end_time
            )));
        }
        masked_tokens += if u.words.is_empty() {
            masked_runs(&u.text)
        } else {
            u.words.iter().filter(|w| is_masked(&w.text)).count()
        };
        let text = u.text.trim();
        if text.is_empty() {
            continue;
        }
        let start = u.start_time / 1000.0;
        segments.push(AsrSegment {
            start,
            end: (u.end_time / 1000.0).max(start),
            text: text.to_string(),
            speaker: u
                .additions
                .as_ref()
                .and_then(|a| a.get("speaker"))
                .and_then(speaker_label),
            confidence: None,
        });
    }
    let text = result.text.trim();
    if segments.is_empty() && !text.is_empty() {
        masked_tokens = masked_runs(text);
        let end = body
            .audio_info
            .as_ref()
            .and_then(|a| a.duration)
            .filter(|d| d.is_finite() && *d > 0.0)
            .map_or(0.0, |ms| ms / 1000.0);
        segments.push(AsrSegment {
            start: 0.0,
            end,
            text: text.to_string(),
            speaker: None,
            confidence: None,
        });
    }
    Ok(Parsed {
        segments,
        masked_tokens,
    })
}

/// `"1"` or `1` → `Speaker 1`.
fn speaker_label(v: &Value) -> Option<String> {
    let id = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty()).then(|| format!("Speaker {id}"))
}

fn is_masked(token: &str) -> bool {
    let t = token.trim();
    !t.is_empty() && t.chars().all(|c| c == '*')
}

/// Runs of `*` standing alone (not touching letters or digits, so `5*3` and `**bold**` are
/// not masks) in a text without word detail.
fn masked_runs(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let mut runs = 0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '*' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i] == '*' {
            i += 1;
        }
        let before = start.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i).copied();
        let ascii_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        if !ascii_word(before) && !ascii_word(after) && i - start >= 2 {
            runs += 1;
        }
    }
    runs
}

/// What a status header says about a job.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Done,
    Pending,
    /// 静音音频.
    Silent,
    Failed(ProviderError),
}

/// Classifies an answer by its `X-Api-Status-Code` (the HTTP status only when the header is
/// missing): documented codes precisely, unknown client codes as permanent, server codes as
/// retryable.
pub fn classify(
    provider: &str,
    api_code: Option<i64>,
    api_message: &str,
    http_status: u16,
    retry_after: Option<std::time::Duration>,
) -> Status {
    let p = provider.to_string();
    let detail = |what: &str| {
        let code = api_code.map_or_else(|| "none".to_string(), |c| c.to_string());
        format!("{what} (X-Api-Status-Code {code}, HTTP {http_status}): {api_message}")
    };
    let Some(c) = api_code else {
        return Status::Failed(match http_status {
            200..=299 => ProviderError::InvalidResponse {
                provider: p,
                detail: detail("the answer has no status header"),
            },
            401 | 403 => ProviderError::Auth {
                provider: p,
                detail: detail("credentials refused"),
            },
            429 => ProviderError::RateLimited {
                provider: p,
                retry_after,
            },
            408 | 500..=599 => ProviderError::Unavailable {
                provider: p,
                detail: detail("server error"),
            },
            400..=499 => ProviderError::Rejected {
                provider: p,
                detail: detail("request refused"),
            },
            _ => ProviderError::InvalidResponse {
                provider: p,
                detail: detail("unexpected answer"),
            },
        });
    };
    match c {
        code::OK => Status::Done,
        code::PROCESSING | code::QUEUED => Status::Pending,
        code::SILENT => Status::Silent,
        code::AUTH_INVALID | code::RESOURCE_NOT_GRANTED => Status::Failed(ProviderError::Auth {
            provider: p,
            detail: detail("credentials or resource grant refused"),
        }),
        code::QUOTA_LIMIT => Status::Failed(ProviderError::RateLimited {
            provider: p,
            retry_after,
        }),
        code::INVALID_PARAMS => Status::Failed(ProviderError::Rejected {
            provider: p,
            detail: detail("invalid request parameters or a duplicate request id"),
        }),
        code::EMPTY_AUDIO => Status::Failed(ProviderError::Rejected {
            provider: p,
            detail: detail("empty audio"),
        }),
        code::BAD_AUDIO_FORMAT => Status::Failed(ProviderError::Rejected {
            provider: p,
            detail: detail("audio format not accepted"),
        }),
        code::BUSY => Status::Failed(ProviderError::Unavailable {
            provider: p,
            detail: detail("server busy"),
        }),
        c if (55_000_000..56_000_000).contains(&c) => Status::Failed(ProviderError::Unavailable {
            provider: p,
            detail: detail("server error"),
        }),
        c if (45_000_000..46_000_000).contains(&c) => Status::Failed(match http_status {
            401 | 403 => ProviderError::Auth {
                provider: p,
                detail: detail("credentials refused"),
            },
            429 => ProviderError::RateLimited {
                provider: p,
                retry_after,
            },
            _ => ProviderError::Rejected {
                provider: p,
                detail: detail("request refused"),
            },
        }),
        _ => Status::Failed(ProviderError::InvalidResponse {
            provider: p,
            detail: detail("unknown status code"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(v: Value) -> QueryBody {
        serde_json::from_value(v).expect("query body")
    }

    #[test]
    fn utterances_become_segments_in_seconds_with_speakers() {
        let parsed = parse_result(
            &body(json!({
                "audio_info": {"duration": 3696},
                "result": {"text": "这是字节跳动， 今日头条母公司。", "utterances": [
                    {"definite": true, "start_time": 0, "end_time": 1705, "text": "这是字节跳动，",
                     "words": [{"text": "这", "start_time": 740, "end_time": 860}],
                     "additions": {"speaker": "1"}},
                    {"definite": true, "start_time": 2110, "end_time": 3696, "text": "今日头条母公司。",
                     "additions": {"speaker": 2}},
                    {"start_time": 3696, "end_time": 3696, "text": "  "}
                ]}
            })),
            "volcano",
        )
        .expect("parses");
        assert_eq!(parsed.masked_tokens, 0);
        assert_eq!(parsed.segments.len(), 2);
        assert_eq!(parsed.segments[0].start, 0.0);
        assert!((parsed.segments[0].end - 1.705).abs() < 1e-9);
        assert_eq!(parsed.segments[0].speaker.as_deref(), Some("Speaker 1"));
        assert_eq!(parsed.segments[1].speaker.as_deref(), Some("Speaker 2"));
        assert_eq!(parsed.segments[1].text, "今日头条母公司。");
    }

    #[test]
    fn text_without_utterances_spans_the_audio_and_list_results_are_read() {
        let parsed = parse_result(
            &body(json!({"audio_info": {"duration": 2499}, "result": [{"text": "关闭透传。"}]})),
            "volcano",
        )
        .expect("parses");
        assert_eq!(parsed.segments.len(), 1);
        assert!((parsed.segments[0].end - 2.499).abs() < 1e-9);
        assert_eq!(parsed.segments[0].speaker, None);
        let empty = parse_result(&body(json!({"result": {"text": ""}})), "volcano").expect("ok");
        assert!(empty.segments.is_empty());
    }

    #[test]
    fn malformed_results_are_invalid_responses() {
        for bad in [
            json!({"result": {"utterances": [{"start_time": "zero", "end_time": 1}]}}),
            json!({"result": {"utterances": [{"start_time": -5, "end_time": 1, "text": "x"}]}}),
            json!({"result": 42}),
        ] {
            let err = parse_result(&body(bad.clone()), "volcano").expect_err("invalid");
            assert_eq!(err.code(), "provider_invalid_response", "{bad}");
        }
    }

    #[test]
    fn masks_are_whole_asterisk_tokens_not_any_asterisk() {
        let parsed = parse_result(
            &body(json!({"result": {"text": "", "utterances": [
                {"start_time": 0, "end_time": 10, "text": "评分5*，公式 2*3 与 **",
                 "words": [{"text": "评"}, {"text": "5"}, {"text": "*"}, {"text": "**"}]},
                {"start_time": 10, "end_time": 20, "text": "这是 *** 内容 a**b **bold**"}
            ]}})),
            "volcano",
        )
        .expect("parses");
        // Word detail: `*` and `**` tokens; text only: the free-standing `***`.
        assert_eq!(parsed.masked_tokens, 3);
        assert_eq!(masked_runs("rated 5* and 2*3, **bold**"), 0);
        assert_eq!(masked_runs("他说了 ** 的事"), 1);
    }

    #[test]
    fn documented_codes_map_to_error_classes() {
        let class = |code: i64, http: u16| match classify("volcano", Some(code), "m", http, None) {
            Status::Failed(e) => e.code().to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(class(code::OK, 200), "Done");
        assert_eq!(class(code::PROCESSING, 200), "Pending");
        assert_eq!(class(code::QUEUED, 200), "Pending");
        assert_eq!(class(code::SILENT, 200), "Silent");
        assert_eq!(class(code::INVALID_PARAMS, 400), "provider_rejected");
        assert_eq!(class(code::EMPTY_AUDIO, 400), "provider_rejected");
        assert_eq!(class(code::BAD_AUDIO_FORMAT, 400), "provider_rejected");
        assert_eq!(class(code::BUSY, 503), "provider_unavailable");
        assert_eq!(class(55_000_123, 500), "provider_unavailable");
        assert_eq!(class(code::AUTH_INVALID, 401), "provider_auth_failed");
        assert_eq!(
            class(code::RESOURCE_NOT_GRANTED, 403),
            "provider_auth_failed"
        );
        assert_eq!(class(code::QUOTA_LIMIT, 429), "rate_limited");
        assert_eq!(class(45_000_999, 400), "provider_rejected");
        assert_eq!(class(45_000_999, 403), "provider_auth_failed");
        assert_eq!(class(12_345, 200), "provider_invalid_response");
        let no_header = |http: u16| match classify("volcano", None, "", http, None) {
            Status::Failed(e) => e.code().to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(no_header(200), "provider_invalid_response");
        assert_eq!(no_header(401), "provider_auth_failed");
        assert_eq!(no_header(429), "rate_limited");
        assert_eq!(no_header(502), "provider_unavailable");
        assert_eq!(no_header(404), "provider_rejected");
    }

    #[test]
    fn languages_and_context_hotwords() {
        assert_eq!(language("zh-CN").as_deref(), Some("zh-CN"));
        assert_eq!(language("en-US").as_deref(), Some("en-US"));
        assert_eq!(language("ja-JP").as_deref(), Some("ja-JP"));
        assert_eq!(language("ko-KR").as_deref(), Some("ko-KR"));
        assert_eq!(language("zh-CN+en-US"), None);
        assert_eq!(language("auto"), None);
        assert_eq!(context_hotwords(&[]), None);
        let ctx =
            context_hotwords(&["火山引擎".into(), " ".into(), "Grafana".into()]).expect("some");
        let v: Value = serde_json::from_str(&ctx).expect("json string");
        assert_eq!(
            v,
            json!({"hotwords": [{"word": "火山引擎"}, {"word": "Grafana"}]})
        );
    }
}
