//! Every job kind the queue carries: its stable wire name, its queue, and its typed, versioned
//! payload. Dispatch (`pipeline::execute`) is one exhaustive match over [`Job`]; the queue list,
//! the kind list and the per-kind configuration checks derive from [`JobKind::ALL`].
//!
//! Payload versioning, for rolling deploys: every payload is written with `"v": PAYLOAD_VERSION`.
//! Additive changes (a new optional field) keep the version, and readers ignore fields they do
//! not know. A breaking change bumps the version; a worker that meets a newer payload than it
//! understands fails the attempt as *retryable* (`JobPayloadError::Newer`), so the job waits for
//! a worker of the new release instead of dying on an old one.
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::stage::Stage;

/// The payload version this build writes and the newest it reads.
pub const PAYLOAD_VERSION: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    PrepareAudio,
    Transcribe,
    IdentifySpeakers,
    CorrectSpeakers,
    GenerateArtifact,
    RegenerateArtifact,
    SyncHotwordTable,
    EnrollVoiceprint,
    EraseVoiceprint,
    Retention,
    PruneJobs,
    Backup,
    Noop,
}

impl JobKind {
    pub const ALL: [JobKind; 13] = [
        JobKind::PrepareAudio,
        JobKind::Transcribe,
        JobKind::IdentifySpeakers,
        JobKind::CorrectSpeakers,
        JobKind::GenerateArtifact,
        JobKind::RegenerateArtifact,
        JobKind::SyncHotwordTable,
        JobKind::EnrollVoiceprint,
        JobKind::EraseVoiceprint,
        JobKind::Retention,
        JobKind::PruneJobs,
        JobKind::Backup,
        JobKind::Noop,
    ];

    /// The stable name in `jobs.kind` (for stages also the step name in `task_steps`).
    pub fn wire_name(self) -> &'static str {
        match self {
            JobKind::PrepareAudio => Stage::PrepareAudio.name(),
            JobKind::Transcribe => Stage::Transcribe.name(),
            JobKind::IdentifySpeakers => Stage::IdentifySpeakers.name(),
            JobKind::CorrectSpeakers => Stage::CorrectSpeakers.name(),
            JobKind::GenerateArtifact => Stage::GenerateArtifact.name(),
            JobKind::RegenerateArtifact => "regenerate_artifact",
            JobKind::SyncHotwordTable => "sync_hotword_table",
            JobKind::EnrollVoiceprint => "enroll_voiceprint",
            JobKind::EraseVoiceprint => "erase_voiceprint",
            JobKind::Retention => "retention",
            JobKind::PruneJobs => "prune_jobs",
            JobKind::Backup => "backup",
            JobKind::Noop => "noop",
        }
    }

    pub fn parse(name: &str) -> Option<JobKind> {
        Self::ALL.into_iter().find(|k| k.wire_name() == name)
    }

    /// The named queue this kind runs on: a GPU box serves `asr` only, and so on.
    pub fn queue(self) -> &'static str {
        match self.stage() {
            Some(stage) => stage.queue(),
            None => match self {
                JobKind::RegenerateArtifact => Stage::GenerateArtifact.queue(),
                // Provider-side hotword tables belong to the ASR provider.
                JobKind::SyncHotwordTable => Stage::Transcribe.queue(),
                JobKind::EnrollVoiceprint | JobKind::EraseVoiceprint => "voiceprint",
                _ => "maintenance",
            },
        }
    }

    pub fn stage(self) -> Option<Stage> {
        Stage::parse(self.wire_name())
    }

    pub fn of_stage(stage: Stage) -> JobKind {
        match stage {
            Stage::PrepareAudio => JobKind::PrepareAudio,
            Stage::Transcribe => JobKind::Transcribe,
            Stage::IdentifySpeakers => JobKind::IdentifySpeakers,
            Stage::CorrectSpeakers => JobKind::CorrectSpeakers,
            Stage::GenerateArtifact => JobKind::GenerateArtifact,
        }
    }
}

/// Every named queue, in a stable order, derived from the kinds.
pub fn queues() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for q in JobKind::ALL.map(JobKind::queue) {
        if !out.contains(&q) {
            out.push(q);
        }
    }
    out
}

/// Every job kind's wire name.
pub fn kind_names() -> Vec<&'static str> {
    JobKind::ALL.map(JobKind::wire_name).to_vec()
}

/// A pipeline stage's payload: the task it works on (the tenant is on the job row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRef {
    pub task_id: String,
}

/// A user-requested (re)generation of one artifact type of a finished task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regenerate {
    pub task_id: String,
    pub artifact_type: String,
    /// The id the new version gets (the job id derives from it).
    pub artifact_id: String,
    /// The template and parameters; `null` reuses the task's.
    #[serde(default)]
    pub prompt_instance: Value,
    pub requested_by: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Bring a hotword set's provider-side table in line with the set, or delete a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotwordSync {
    pub hotword_set_id: String,
    #[serde(default)]
    pub delete_table_id: Option<String>,
}

/// A registry speaker (enrollment and erasure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerRef {
    pub speaker_id: String,
}

/// One run of a scheduled job: the fire time it stands for (its job id derives from it, so
/// any number of workers arming the same schedule make one job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ScheduledRun {
    #[serde(default)]
    pub fire_at_ms: i64,
}

/// A job with its typed payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Stage {
        stage: Stage,
        task: TaskRef,
    },
    Regenerate(Regenerate),
    SyncHotwordTable(HotwordSync),
    EnrollVoiceprint(SpeakerRef),
    EraseVoiceprint(SpeakerRef),
    Retention(ScheduledRun),
    PruneJobs(ScheduledRun),
    /// A scheduled `minutes backup create` into `backup.to`, then the retention prune.
    Backup(ScheduledRun),
    /// Completes at once (queue benchmarks and contract tests).
    Noop,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobPayloadError {
    #[error("no job kind is called `{0}`")]
    UnknownKind(String),
    #[error("payload version {0} is newer than this worker reads ({PAYLOAD_VERSION}); a worker of the newer release will run it")]
    Newer(u64),
    #[error("the `{kind}` payload is malformed: {detail}")]
    Malformed { kind: &'static str, detail: String },
}

impl Job {
    pub fn stage(stage: Stage, task_id: &str) -> Job {
        Job::Stage {
            stage,
            task: TaskRef {
                task_id: task_id.to_string(),
            },
        }
    }

    pub fn kind(&self) -> JobKind {
        match self {
            Job::Stage { stage, .. } => JobKind::of_stage(*stage),
            Job::Regenerate(_) => JobKind::RegenerateArtifact,
            Job::SyncHotwordTable(_) => JobKind::SyncHotwordTable,
            Job::EnrollVoiceprint(_) => JobKind::EnrollVoiceprint,
            Job::EraseVoiceprint(_) => JobKind::EraseVoiceprint,
            Job::Retention(_) => JobKind::Retention,
            Job::PruneJobs(_) => JobKind::PruneJobs,
            Job::Backup(_) => JobKind::Backup,
            Job::Noop => JobKind::Noop,
        }
    }

    /// The task this job belongs to (`jobs.task_id`), if any.
    pub fn task_id(&self) -> Option<&str> {
        match self {
            Job::Stage { task, .. } => Some(&task.task_id),
            Job::Regenerate(r) => Some(&r.task_id),
            _ => None,
        }
    }

    /// The payload as stored, with its version.
    pub fn payload(&self) -> Value {
        let mut v = match self {
            Job::Stage { task, .. } => to_value(task),
            Job::Regenerate(p) => to_value(p),
            Job::SyncHotwordTable(p) => to_value(p),
            Job::EnrollVoiceprint(p) | Job::EraseVoiceprint(p) => to_value(p),
            Job::Retention(p) | Job::PruneJobs(p) | Job::Backup(p) => to_value(p),
            Job::Noop => Value::Object(Default::default()),
        };
        if let Value::Object(map) = &mut v {
            map.insert("v".into(), Value::from(PAYLOAD_VERSION));
        }
        v
    }

    /// Reads a stored job. Payloads written before versioning (no `v`) are version 1.
    pub fn decode(kind: &str, payload: &Value) -> Result<Job, JobPayloadError> {
        let kind = JobKind::parse(kind).ok_or_else(|| JobPayloadError::UnknownKind(kind.into()))?;
        let version = payload.get("v").and_then(Value::as_u64).unwrap_or(1);
        if version > PAYLOAD_VERSION {
            return Err(JobPayloadError::Newer(version));
        }
        let name = kind.wire_name();
        Ok(match kind {
            JobKind::RegenerateArtifact => Job::Regenerate(from_value(name, payload)?),
            JobKind::SyncHotwordTable => Job::SyncHotwordTable(from_value(name, payload)?),
            JobKind::EnrollVoiceprint => Job::EnrollVoiceprint(from_value(name, payload)?),
            JobKind::EraseVoiceprint => Job::EraseVoiceprint(from_value(name, payload)?),
            JobKind::Retention => Job::Retention(from_value(name, payload)?),
            JobKind::PruneJobs => Job::PruneJobs(from_value(name, payload)?),
            JobKind::Backup => Job::Backup(from_value(name, payload)?),
            JobKind::Noop => Job::Noop,
            JobKind::PrepareAudio
            | JobKind::Transcribe
            | JobKind::IdentifySpeakers
            | JobKind::CorrectSpeakers
            | JobKind::GenerateArtifact => Job::Stage {
                stage: kind.stage().expect("stage kinds name a stage"),
                task: from_value(name, payload)?,
            },
        })
    }
}

fn to_value<T: Serialize>(p: &T) -> Value {
    serde_json::to_value(p).expect("job payloads are plain data")
}

fn from_value<T: DeserializeOwned>(kind: &'static str, v: &Value) -> Result<T, JobPayloadError> {
    serde_json::from_value(v.clone()).map_err(|e| JobPayloadError::Malformed {
        kind,
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn samples() -> Vec<Job> {
        vec![
            Job::stage(Stage::Transcribe, "task_1"),
            Job::Regenerate(Regenerate {
                task_id: "task_1".into(),
                artifact_type: "meeting_minutes".into(),
                artifact_id: "artifact_1".into(),
                prompt_instance: json!({"template_id": "tpl"}),
                requested_by: "user_1".into(),
                display_name: Some("v2".into()),
            }),
            Job::SyncHotwordTable(HotwordSync {
                hotword_set_id: "hs_1".into(),
                delete_table_id: None,
            }),
            Job::EnrollVoiceprint(SpeakerRef {
                speaker_id: "spk_1".into(),
            }),
            Job::EraseVoiceprint(SpeakerRef {
                speaker_id: "spk_1".into(),
            }),
            Job::Retention(ScheduledRun { fire_at_ms: 60_000 }),
            Job::PruneJobs(ScheduledRun { fire_at_ms: 1 }),
            Job::Backup(ScheduledRun { fire_at_ms: 2 }),
            Job::Noop,
        ]
    }

    #[test]
    fn every_job_round_trips_through_its_wire_form() {
        for job in samples() {
            let back = Job::decode(job.kind().wire_name(), &job.payload()).unwrap();
            assert_eq!(back, job);
            assert_eq!(job.payload()["v"], PAYLOAD_VERSION);
        }
    }

    #[test]
    fn kinds_have_unique_names_and_known_queues() {
        let names = kind_names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
        for stage in Stage::ALL {
            assert_eq!(JobKind::of_stage(stage).stage(), Some(stage));
        }
        assert_eq!(
            queues(),
            vec!["audio", "asr", "voiceprint", "llm", "maintenance"]
        );
    }

    #[test]
    fn previous_release_payloads_still_read() {
        // Written before payloads carried a version.
        let old = Job::decode("erase_voiceprint", &json!({"speaker_id": "spk_9"})).unwrap();
        assert_eq!(
            old,
            Job::EraseVoiceprint(SpeakerRef {
                speaker_id: "spk_9".into()
            })
        );
        let old = Job::decode("retention", &json!({"period": 12})).unwrap();
        assert_eq!(old, Job::Retention(ScheduledRun::default()));
        let extra = Job::decode("prepare_audio", &json!({"task_id": "t", "later_field": 1}));
        assert!(extra.is_ok(), "unknown additive fields are ignored");
    }

    #[test]
    fn newer_and_malformed_payloads_are_told_apart() {
        assert_eq!(
            Job::decode("noop", &json!({"v": PAYLOAD_VERSION + 1})),
            Err(JobPayloadError::Newer(PAYLOAD_VERSION + 1))
        );
        assert!(matches!(
            Job::decode("transcribe", &json!({})),
            Err(JobPayloadError::Malformed { .. })
        ));
        assert!(matches!(
            Job::decode("mystery", &json!({})),
            Err(JobPayloadError::UnknownKind(_))
        ));
    }
}
