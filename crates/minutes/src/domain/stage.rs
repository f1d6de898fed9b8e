//! Pipeline stages: their stable job names, queues, task states and progress bands.
use serde::{Deserialize, Serialize};

use super::task::TaskState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    PrepareAudio,
    Transcribe,
    IdentifySpeakers,
    CorrectSpeakers,
    GenerateArtifact,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::PrepareAudio,
        Stage::Transcribe,
        Stage::IdentifySpeakers,
        Stage::CorrectSpeakers,
        Stage::GenerateArtifact,
    ];

    /// The stable job name (also the step name in `task_steps`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::PrepareAudio => "prepare_audio",
            Stage::Transcribe => "transcribe",
            Stage::IdentifySpeakers => "identify_speakers",
            Stage::CorrectSpeakers => "correct_speakers",
            Stage::GenerateArtifact => "generate_artifact",
        }
    }

    pub fn parse(name: &str) -> Option<Stage> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The named queue the stage's job runs on: a GPU worker takes `asr` only, and so on.
    pub fn queue(self) -> &'static str {
        match self {
            Stage::PrepareAudio => "audio",
            Stage::Transcribe => "asr",
            Stage::IdentifySpeakers | Stage::CorrectSpeakers => "voiceprint",
            Stage::GenerateArtifact => "llm",
        }
    }

    /// The task state shown while this stage runs.
    pub fn task_state(self) -> TaskState {
        match self {
            Stage::PrepareAudio => TaskState::Running,
            Stage::Transcribe => TaskState::Transcribing,
            Stage::IdentifySpeakers => TaskState::Identifying,
            Stage::CorrectSpeakers => TaskState::Correcting,
            Stage::GenerateArtifact => TaskState::Summarizing,
        }
    }

    /// Progress (percent) when the stage starts; the original's 0–40–60–70–100 bands.
    pub fn start_progress(self) -> f64 {
        match self {
            Stage::PrepareAudio | Stage::Transcribe => 0.0,
            Stage::IdentifySpeakers => 40.0,
            Stage::CorrectSpeakers => 60.0,
            Stage::GenerateArtifact => 70.0,
        }
    }

    /// Speaker identification is optional: its failure yields `partial_success`, not `failed`.
    pub fn is_optional(self) -> bool {
        matches!(self, Stage::IdentifySpeakers)
    }

    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::PrepareAudio => Some(Stage::Transcribe),
            Stage::Transcribe => Some(Stage::IdentifySpeakers),
            Stage::IdentifySpeakers => Some(Stage::CorrectSpeakers),
            Stage::CorrectSpeakers => Some(Stage::GenerateArtifact),
            Stage::GenerateArtifact => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_chain_in_order_with_rising_progress() {
        let mut stage = Stage::PrepareAudio;
        let mut seen = vec![stage];
        while let Some(next) = stage.next() {
            assert!(next.start_progress() >= stage.start_progress());
            stage = next;
            seen.push(stage);
        }
        assert_eq!(seen, Stage::ALL.to_vec());
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.name()), Some(s));
            assert!(super::super::job::queues().contains(&s.queue()));
        }
    }
}
