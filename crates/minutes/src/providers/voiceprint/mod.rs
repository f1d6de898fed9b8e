//! Voiceprint engines: enrollment into a tenant's speakers registry and 1:N identification
//! with the gap-rescue decision. `local.rs` (CAM++ on the CPU, embeddings kept by the service),
//! `iflytek.rs` (iFlyTek's 声纹识别 API, features kept by the provider).
//! Shared here: the configurable thresholds and the vote over several samples per label.
pub mod iflytek;
pub mod local;

use std::collections::BTreeMap;

use minutes_speaker::identify::{decide, Decision, Thresholds};
use serde::{Deserialize, Serialize};

pub use iflytek::{IflytekVoiceprint, IflytekVoiceprintSettings};
pub use local::{LocalVoiceprint, LocalVoiceprintSettings};

/// The gap-rescue decision's thresholds. Scores are engine-specific, so each engine has its
/// own (`voiceprint.local`, …).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreThresholds {
    /// At or above this the best match is accepted outright.
    pub score_threshold: f32,
    /// Below this the best match is never accepted.
    pub min_accept_score: f32,
    /// Between the two, the best match must beat the runner-up by this much.
    pub gap_threshold: f32,
}

impl ScoreThresholds {
    /// The original system's iFlyTek values (its code: 0.58 / 0.40 / 0.15).
    pub const IFLYTEK: ScoreThresholds = ScoreThresholds {
        score_threshold: 0.58,
        min_accept_score: 0.40,
        gap_threshold: 0.15,
    };

    /// Measured for CAM++ on the synthetic meetings (`minutes_speaker::identify::Thresholds::CAMPLUS`).
    pub const CAMPLUS: ScoreThresholds = ScoreThresholds {
        score_threshold: Thresholds::CAMPLUS.high,
        min_accept_score: Thresholds::CAMPLUS.min_accept,
        gap_threshold: Thresholds::CAMPLUS.gap,
    };

    /// `min_accept_score <= score_threshold` within [-1, 1], and a gap in [0, 2].
    pub fn validate(&self) -> Result<(), String> {
        let in_range = |v: f32| (-1.0..=1.0).contains(&v);
        if !(in_range(self.score_threshold) && in_range(self.min_accept_score)) {
            return Err("scores are cosine similarities in [-1, 1]".into());
        }
        if self.min_accept_score > self.score_threshold {
            return Err("min_accept_score must not exceed score_threshold".into());
        }
        if !(0.0..=2.0).contains(&self.gap_threshold) {
            return Err("gap_threshold must be in [0, 2]".into());
        }
        Ok(())
    }

    fn as_speaker(&self) -> Thresholds {
        Thresholds {
            high: self.score_threshold,
            min_accept: self.min_accept_score,
            gap: self.gap_threshold,
        }
    }

    /// Whether the best candidate (`top1`) is accepted against the runner-up (`top2`, `None`
    /// with a single enrolled speaker): accept at `score_threshold`; else accept at
    /// `min_accept_score` when it beats the runner-up by `gap_threshold`; else unknown.
    pub fn accepts(&self, top1: f32, top2: Option<f32>) -> bool {
        decide(top1, top2.unwrap_or(f32::NEG_INFINITY), &self.as_speaker()) == Decision::Accept
    }
}

/// One sample's outcome: the accepted registry speaker and its score, or none.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleVerdict {
    pub label: String,
    pub accepted: Option<(String, f32)>,
}

/// The label's winner after the vote, with its mean score.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelVote {
    pub label: String,
    pub speaker_id: String,
    pub confidence: f64,
    pub votes: usize,
    pub samples: usize,
}

/// The labels the vote named, with the registry names (3-decimal confidence).
pub fn named_matches(
    verdicts: &[SampleVerdict],
    registry: &crate::domain::voiceprint::VoiceprintRegistry,
) -> Vec<crate::providers::SpeakerMatch> {
    vote(verdicts)
        .into_iter()
        .filter_map(|v| {
            let speaker = registry
                .speakers
                .iter()
                .find(|s| s.speaker_id == v.speaker_id)?;
            Some(crate::providers::SpeakerMatch {
                label: v.label,
                name: speaker.name.clone(),
                speaker_id: Some(speaker.speaker_id.clone()),
                confidence: (v.confidence * 1000.0).round() / 1000.0,
            })
        })
        .collect()
}

/// Every label's samples vote; a speaker wins a label with a strict majority of its samples
/// (samples that matched nobody count against), so one lucky sample among three cannot name a
/// label, and a label split between two people stays unknown. Labels in order.
pub fn vote(verdicts: &[SampleVerdict]) -> Vec<LabelVote> {
    let mut by_label: BTreeMap<&str, Vec<&SampleVerdict>> = BTreeMap::new();
    for v in verdicts {
        by_label.entry(v.label.as_str()).or_default().push(v);
    }
    let mut out = Vec::new();
    for (label, samples) in by_label {
        let mut tally: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
        for (id, score) in samples.iter().filter_map(|s| s.accepted.as_ref()) {
            let t = tally.entry(id.as_str()).or_default();
            t.0 += 1;
            t.1 += f64::from(*score);
        }
        let Some((&winner, &(votes, total))) = tally.iter().max_by_key(|(_, (n, _))| *n) else {
            continue;
        };
        if votes * 2 > samples.len() {
            out.push(LabelVote {
                label: label.to_string(),
                speaker_id: winner.to_string(),
                confidence: total / votes as f64,
                votes,
                samples: samples.len(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decision as the original specifies it, in exact decimal arithmetic on a grid of
    /// hundredths (scores i/100): accept at high; else at min_accept with a gap; else unknown.
    fn specified(t1: i32, t2: Option<i32>, high: i32, min: i32, gap: i32) -> bool {
        t1 >= high || (t1 >= min && t2.is_none_or(|t2| t1 - t2 >= gap))
    }

    #[test]
    fn gap_rescue_matches_its_specification_on_a_dense_grid_including_every_boundary() {
        let configs = [
            (58, 40, 15),
            (80, 60, 15),
            (60, 35, 20),
            (60, 60, 0),
            (50, 10, 5),
        ];
        for (high, min, gap) in configs {
            let t = ScoreThresholds {
                score_threshold: high as f32 / 100.0,
                min_accept_score: min as f32 / 100.0,
                gap_threshold: gap as f32 / 100.0,
            };
            t.validate().unwrap();
            for t1 in -100..=100 {
                let solo = t.accepts(t1 as f32 / 100.0, None);
                assert_eq!(
                    solo,
                    specified(t1, None, high, min, gap),
                    "{t:?} top1 {t1} alone"
                );
                for t2 in -100..=t1 {
                    let got = t.accepts(t1 as f32 / 100.0, Some(t2 as f32 / 100.0));
                    let want = specified(t1, Some(t2), high, min, gap);
                    assert_eq!(got, want, "{t:?}: top1 {t1}, top2 {t2}");
                }
            }
        }
    }

    #[test]
    fn gap_rescue_is_monotonic() {
        let t = ScoreThresholds::IFLYTEK;
        let grid: Vec<f32> = (0..=200).map(|i| i as f32 / 200.0).collect();
        for &t2 in &grid {
            for w in grid.windows(2) {
                // A higher best score never turns an accept into unknown …
                if w[0] >= t2 && t.accepts(w[0], Some(t2)) {
                    assert!(
                        t.accepts(w[1], Some(t2)),
                        "top1 {} → {}, top2 {t2}",
                        w[0],
                        w[1]
                    );
                }
            }
        }
        for &t1 in &grid {
            for w in grid.windows(2) {
                // … and a closer runner-up never turns unknown into accept.
                if w[1] <= t1 && !t.accepts(t1, Some(w[0])) {
                    assert!(
                        !t.accepts(t1, Some(w[1])),
                        "top1 {t1}, top2 {} → {}",
                        w[0],
                        w[1]
                    );
                }
            }
        }
    }

    #[test]
    fn the_iflytek_values_accept_exactly_at_their_boundaries() {
        let t = ScoreThresholds::IFLYTEK;
        assert!(t.accepts(0.58, Some(0.579)));
        assert!(!t.accepts(0.579, Some(0.5)));
        assert!(t.accepts(0.55, Some(0.40)), "a gap of exactly 0.15 rescues");
        assert!(!t.accepts(0.55, Some(0.41)));
        assert!(t.accepts(0.40, Some(0.25)));
        assert!(!t.accepts(0.399, None), "below min_accept nothing rescues");
        assert!(
            t.accepts(0.40, None),
            "a single enrolled speaker has no runner-up"
        );
    }

    #[test]
    fn thresholds_are_validated() {
        assert!(ScoreThresholds::CAMPLUS.validate().is_ok());
        let bad = |s, m, g| {
            ScoreThresholds {
                score_threshold: s,
                min_accept_score: m,
                gap_threshold: g,
            }
            .validate()
            .is_err()
        };
        assert!(bad(0.5, 0.6, 0.1));
        assert!(bad(1.5, 0.6, 0.1));
        assert!(bad(0.8, 0.6, -0.1));
    }

    fn verdict(label: &str, accepted: Option<(&str, f32)>) -> SampleVerdict {
        SampleVerdict {
            label: label.into(),
            accepted: accepted.map(|(id, s)| (id.into(), s)),
        }
    }

    #[test]
    fn a_label_needs_a_strict_majority_of_its_samples() {
        let votes = vote(&[
            verdict("A", Some(("sarah", 0.9))),
            verdict("A", Some(("sarah", 0.7))),
            verdict("A", None),
            verdict("B", Some(("david", 0.9))),
            verdict("B", None),
            verdict("C", Some(("sarah", 0.9))),
            verdict("C", Some(("david", 0.9))),
            verdict("C", Some(("david", 0.8))),
            verdict("D", Some(("david", 0.85))),
            verdict("E", None),
        ]);
        let got: Vec<(&str, &str, usize)> = votes
            .iter()
            .map(|v| (v.label.as_str(), v.speaker_id.as_str(), v.votes))
            .collect();
        assert_eq!(
            got,
            [("A", "sarah", 2), ("C", "david", 2), ("D", "david", 1)]
        );
        assert!((votes[0].confidence - 0.8).abs() < 1e-6);
    }
}
