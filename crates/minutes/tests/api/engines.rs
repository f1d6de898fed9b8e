//! Scripted engines behind the real traits: deterministic, countable, and able to fail on cue.
//! Only tests use them; a real run always uses configured providers.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::sync::Notify;

use minutes::providers::{
    AsrOutput, AsrSegment, GenerateOutput, GenerateRequest, LanguageModel, ProviderError,
    SpeakerMatch, SpeakerSample, SpeechToText, TokenUsage, TranscribeRequest, Voiceprint,
    VoiceprintRegistry,
};

/// Two turns: one in part 1 (< 12.4 s) and one in part 2 of the zh02 parts.
pub fn two_part_segments() -> Vec<AsrSegment> {
    vec![
        AsrSegment {
            start: 0.5,
            end: 6.0,
            text: "订单服务昨晚故障，我们先复盘时间线。".into(),
            speaker: Some("Speaker 1".into()),
            confidence: Some(0.93),
        },
        AsrSegment {
            start: 13.0,
            end: 20.0,
            text: "Redis 连接池耗尽，张伟负责周五前修复。".into(),
            speaker: Some("Speaker 2".into()),
            confidence: Some(0.88),
        },
    ]
}

#[derive(Default)]
pub struct ScriptedAsr {
    pub calls: AtomicUsize,
    /// Errors returned by the next calls, in order; then success.
    pub failures: Mutex<VecDeque<ProviderError>>,
    /// When set, calls wait here forever after signalling `entered` (for shutdown tests).
    pub hang: Option<Arc<Notify>>,
    /// With `hang`: how many calls hang (`None`: every one).
    pub hangs_left: Mutex<Option<usize>>,
    /// Replaces the default two-part segments.
    pub segments: Option<Vec<AsrSegment>>,
    /// The hotwords of the last request.
    pub last_hotwords: Mutex<Vec<String>>,
}

#[async_trait]
impl SpeechToText for ScriptedAsr {
    fn name(&self) -> &str {
        "scripted-asr"
    }

    async fn transcribe(&self, req: &TranscribeRequest) -> Result<AsrOutput, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        assert!(
            req.audio_wav.exists(),
            "the engine gets a real normalized file"
        );
        *self.last_hotwords.lock().unwrap() = req.hotwords.clone();
        let hang = match &mut *self.hangs_left.lock().unwrap() {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        };
        if let (Some(entered), true) = (&self.hang, hang) {
            entered.notify_one();
            std::future::pending::<()>().await;
        }
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        Ok(AsrOutput {
            segments: self.segments.clone().unwrap_or_else(two_part_segments),
            language: Some("zh".into()),
            provider: "scripted-asr".into(),
            fallback_errors: vec![],
        })
    }
}

#[derive(Default)]
pub struct ScriptedLlm {
    pub calls: AtomicUsize,
    pub failures: Mutex<VecDeque<ProviderError>>,
    /// Answers that replace the valid one for the next calls (e.g. schema violations).
    pub bad_answers: Mutex<VecDeque<Value>>,
    pub last_prompt: Mutex<Option<String>>,
    /// Every (schema name, prompt) the model was given.
    pub prompts: Mutex<Vec<(String, String)>>,
}

pub fn minutes_json(title: &str) -> Value {
    json!({
        "title": title, "date": null, "participants": ["Speaker 1", "Speaker 2"],
        "summary": "复盘订单服务故障。", "key_points": ["Redis 连接池耗尽"],
        "decisions": [{"text": "扩大连接池", "segment_ids": ["seg_0002", "seg_9999"]}],
        "action_items": [{"owner": "张伟", "task": "修复连接池", "due": "周五", "segment_ids": ["seg_0002"]}],
        "risks": [], "open_questions": []
    })
}

#[async_trait]
impl LanguageModel for ScriptedLlm {
    fn name(&self) -> &str {
        "scripted-llm"
    }

    fn model(&self) -> &str {
        "scripted-1"
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<GenerateOutput, ProviderError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        *self.last_prompt.lock().unwrap() = Some(req.user.clone());
        self.prompts
            .lock()
            .unwrap()
            .push((req.schema_name.clone(), req.user.clone()));
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        let content = match self.bad_answers.lock().unwrap().pop_front() {
            Some(bad) => bad,
            None => match req.schema_name.as_str() {
                "meeting_minutes" => minutes_json(&format!("Incident review #{n}")),
                "action_items" => {
                    json!({"items": [{"owner": "张伟", "task": "修复", "due": null, "segment_ids": ["seg_0002"]}]})
                }
                _ => json!({"title": "Notes", "summary": "s", "sections": []}),
            },
        };
        Ok(GenerateOutput {
            content,
            provider: "scripted-llm".into(),
            model: "scripted-1".into(),
            usage: TokenUsage {
                prompt_tokens: 100,
                completion_tokens: 50,
            },
            fallback_errors: Vec::new(),
        })
    }
}

pub struct ScriptedVoiceprint {
    pub fail: bool,
}

#[async_trait]
impl Voiceprint for ScriptedVoiceprint {
    fn name(&self) -> &str {
        "scripted-voiceprint"
    }

    async fn identify(
        &self,
        _registry: &VoiceprintRegistry,
        samples: &[SpeakerSample],
    ) -> Result<Vec<SpeakerMatch>, ProviderError> {
        if self.fail {
            return Err(ProviderError::Unavailable {
                provider: "scripted-voiceprint".into(),
                detail: "down".into(),
            });
        }
        assert!(
            samples.iter().all(|s| s.wav.starts_with(b"RIFF")),
            "samples are WAV files"
        );
        Ok(samples
            .iter()
            .filter(|s| s.label == "Speaker 2")
            .map(|s| SpeakerMatch {
                label: s.label.clone(),
                name: "张伟".into(),
                speaker_id: Some("f_zw".into()),
                confidence: 0.8,
            })
            .collect())
    }
}

/// A remote voiceprint provider stand-in (`remote-test`): it keeps features itself (no
/// embeddings come back), so erasure has to delete them there, through the `erase_voiceprint`
/// job. Its next `failing_deletes` deletions fail permanently.
#[derive(Default)]
pub struct RemoteVoiceprint {
    /// (tenant, feature id) of every enrollment.
    pub features: Mutex<Vec<(String, String)>>,
    /// (tenant, feature id) of every deletion that succeeded.
    pub deleted: Mutex<Vec<(String, String)>>,
    pub failing_deletes: AtomicUsize,
}

#[async_trait]
impl Voiceprint for RemoteVoiceprint {
    fn name(&self) -> &str {
        "remote-test"
    }

    async fn identify(
        &self,
        _registry: &VoiceprintRegistry,
        _samples: &[SpeakerSample],
    ) -> Result<Vec<SpeakerMatch>, ProviderError> {
        Ok(Vec::new())
    }

    async fn enroll(
        &self,
        tenant_id: &str,
        speaker_id: &str,
        wav: &[u8],
    ) -> Result<minutes::providers::Enrollment, ProviderError> {
        assert!(
            wav.starts_with(b"RIFF"),
            "the job hands over the normalized WAV"
        );
        let feature = format!("feat_{speaker_id}");
        self.features
            .lock()
            .unwrap()
            .push((tenant_id.to_string(), feature.clone()));
        Ok(minutes::providers::Enrollment {
            feature_id: feature,
            embeddings: Vec::new(),
        })
    }

    async fn delete(&self, tenant_id: &str, feature_id: &str) -> Result<(), ProviderError> {
        // One failure used up per call, never below zero.
        let failing = self
            .failing_deletes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(ProviderError::Auth {
                provider: "remote-test".into(),
                detail: "bad key".into(),
            });
        }
        self.deleted
            .lock()
            .unwrap()
            .push((tenant_id.to_string(), feature_id.to_string()));
        Ok(())
    }
}
