//! The task state machine, exactly the original's lowercase states, with legal transitions.
use serde::{Deserialize, Serialize};

/// Languages a recording may be spoken in (`zh-CN+en-US`: mixed Mandarin and English).
pub const ASR_LANGUAGES: [&str; 5] = ["zh-CN", "en-US", "zh-CN+en-US", "ja-JP", "ko-KR"];
/// Languages minutes can be written in.
pub const OUTPUT_LANGUAGES: [&str; 4] = ["zh-CN", "en-US", "ja-JP", "ko-KR"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Queued,
    Running,
    Transcribing,
    Identifying,
    Correcting,
    Summarizing,
    Success,
    PartialSuccess,
    Failed,
    Cancelled,
    Archived,
}

impl TaskState {
    pub const ALL: [TaskState; 12] = [
        TaskState::Pending,
        TaskState::Queued,
        TaskState::Running,
        TaskState::Transcribing,
        TaskState::Identifying,
        TaskState::Correcting,
        TaskState::Summarizing,
        TaskState::Success,
        TaskState::PartialSuccess,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Transcribing => "transcribing",
            TaskState::Identifying => "identifying",
            TaskState::Correcting => "correcting",
            TaskState::Summarizing => "summarizing",
            TaskState::Success => "success",
            TaskState::PartialSuccess => "partial_success",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// States in which the pipeline is still working on the task.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            TaskState::Pending
                | TaskState::Queued
                | TaskState::Running
                | TaskState::Transcribing
                | TaskState::Identifying
                | TaskState::Correcting
                | TaskState::Summarizing
        )
    }

    /// States that finished with a readable transcript.
    pub fn has_results(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::PartialSuccess | TaskState::Archived
        )
    }

    pub fn can_cancel(self) -> bool {
        self.is_active()
    }

    pub fn can_retry(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Cancelled)
    }

    /// Whether `self -> next` is a legal transition.
    pub fn can_move_to(self, next: TaskState) -> bool {
        use TaskState::*;
        match (self, next) {
            (a, b) if a == b => true,
            (a, Cancelled) => a.can_cancel(),
            (a, Failed) => a.is_active(),
            (Failed | Cancelled, Queued) => true,
            (Success | PartialSuccess, Archived) => true,
            (Success | PartialSuccess, Summarizing) => false,
            (a, b) if a.is_active() && b.is_active() => rank(b) >= rank(a),
            (a, Success | PartialSuccess) => a.is_active(),
            _ => false,
        }
    }
}

fn rank(s: TaskState) -> u8 {
    match s {
        TaskState::Pending => 0,
        TaskState::Queued => 1,
        TaskState::Running => 2,
        TaskState::Transcribing => 3,
        TaskState::Identifying => 4,
        TaskState::Correcting => 5,
        TaskState::Summarizing => 6,
        _ => 7,
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// ETA rule of the original: audio_duration × 0.25 × (1 − progress/100), null until the duration is known.
pub fn estimate_remaining_secs(audio_duration: Option<f64>, progress: f64) -> Option<i64> {
    let duration = audio_duration?;
    if progress >= 100.0 {
        return Some(0);
    }
    Some((duration * 0.25 * (1.0 - progress / 100.0)).max(0.0) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_strings() {
        for s in TaskState::ALL {
            assert_eq!(TaskState::parse(s.as_str()), Some(s));
        }
        assert_eq!(TaskState::parse("completed"), None);
    }

    #[test]
    fn pipeline_moves_forward_only() {
        use TaskState::*;
        assert!(Queued.can_move_to(Running));
        assert!(Transcribing.can_move_to(Summarizing));
        assert!(!Summarizing.can_move_to(Transcribing));
        assert!(Summarizing.can_move_to(PartialSuccess));
        assert!(!Success.can_move_to(Failed));
        assert!(Success.can_move_to(Archived));
        assert!(!Failed.can_move_to(Archived));
        assert!(Failed.can_move_to(Queued));
        assert!(Transcribing.can_move_to(Cancelled));
        assert!(!Archived.can_move_to(Cancelled));
    }

    #[test]
    fn eta_follows_the_original_rule() {
        assert_eq!(estimate_remaining_secs(None, 10.0), None);
        assert_eq!(estimate_remaining_secs(Some(3600.0), 0.0), Some(900));
        assert_eq!(estimate_remaining_secs(Some(3600.0), 40.0), Some(540));
        assert_eq!(estimate_remaining_secs(Some(3600.0), 100.0), Some(0));
    }
}
