//! When a finished task's audio may be deleted (the original's §1.6 rules; text is kept).
use chrono::{DateTime, Duration, Utc};

pub struct AudioRules {
    pub audio_days: i64,
    pub audio_extended_days: i64,
    pub audio_max_days: i64,
}

/// Confirmed and never corrected: `audio_days` after completion. Confirmed after corrections
/// (playback may still be wanted): `audio_extended_days` after confirmation. Unconfirmed: kept
/// until the hard maximum. Never later than `audio_max_days` after creation.
pub fn audio_due_at(
    rules: &AudioRules,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
    confirmed_at: Option<DateTime<Utc>>,
    corrected: bool,
) -> DateTime<Utc> {
    let max = created_at + Duration::days(rules.audio_max_days);
    let due = match (confirmed_at, corrected) {
        (Some(_), false) => completed_at.unwrap_or(created_at) + Duration::days(rules.audio_days),
        (Some(confirmed), true) => confirmed + Duration::days(rules.audio_extended_days),
        (None, _) => max,
    };
    due.min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_follows_confirmation_and_corrections_with_a_hard_maximum() {
        let rules = AudioRules {
            audio_days: 7,
            audio_extended_days: 30,
            audio_max_days: 90,
        };
        let t0 = Utc::now();
        let day = |n| t0 + Duration::days(n);
        assert_eq!(
            audio_due_at(&rules, t0, Some(day(1)), Some(day(2)), false),
            day(8)
        );
        assert_eq!(
            audio_due_at(&rules, t0, Some(day(1)), Some(day(2)), true),
            day(32)
        );
        assert_eq!(audio_due_at(&rules, t0, Some(day(1)), None, false), day(90));
        assert_eq!(
            audio_due_at(&rules, t0, Some(day(1)), Some(day(80)), true),
            day(90),
            "capped"
        );
    }
}
