//! Voiceprint identification (1:N): score a probe against enrolled speakers, accept or abstain.

use crate::vector::cosine;

/// One enrolled speaker's score for a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate<'a> {
    pub name: &'a str,
    /// Cosine similarity of the probe and the enrolled embedding.
    pub score: f32,
}

/// The `k` best-scoring enrolled speakers, best first.
pub fn top_k<'a>(
    probe: &[f32],
    enrolled: &'a [(String, Vec<f32>)],
    k: usize,
) -> Vec<Candidate<'a>> {
    let mut scored: Vec<Candidate<'a>> = enrolled
        .iter()
        .map(|(name, embedding)| Candidate {
            name,
            score: cosine(probe, embedding),
        })
        .collect();
    scored.sort_by(|a, b| b.score.total_cmp(&a.score));
    scored.truncate(k);
    scored
}

/// Whether the best candidate is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Unknown,
}

/// Score thresholds of [`decide`]; the scale depends on the embedding engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// At or above this the best match is accepted outright.
    pub high: f32,
    /// Below this the best match is never accepted.
    pub min_accept: f32,
    /// Between `min_accept` and `high`, the best match must beat the runner-up by this much.
    pub gap: f32,
}

impl Thresholds {
    /// The original system's values, for the 0..1 scores of its cloud voiceprint service.
    pub const CLOUD: Thresholds = Thresholds {
        high: 0.58,
        min_accept: 0.40,
        gap: 0.15,
    };

    /// For CAM++ cosine similarity of speech turns of a few seconds or more, enrolled from a
    /// centroid. Measured on the synthetic meetings (crate README): same-person scores across
    /// meetings were 0.71-0.96 (mean 0.90), the best wrong person scored up to 0.78 and people
    /// never enrolled up to 0.79. Synthetic voices sit closer together than real ones, so on
    /// real speech these are conservative (more "unknown", few wrong names).
    pub const CAMPLUS: Thresholds = Thresholds {
        high: 0.80,
        min_accept: 0.60,
        gap: 0.15,
    };
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::CAMPLUS
    }
}

/// How far below `gap` a margin may fall and still count as reaching it: `top1 - top2` is
/// rounded in f32, so a margin of exactly the configured gap (0.55 - 0.40 against 0.15) can
/// land a few ulps short.
pub const GAP_TOLERANCE: f32 = 1e-6;

/// Accept when `top1 >= high`; otherwise accept when `top1 >= min_accept` and it beats the
/// runner-up by at least `gap` ("gap rescue"); otherwise the speaker is unknown. With a single
/// enrolled speaker pass `f32::NEG_INFINITY` (or -1) as `top2`.
pub fn decide(top1: f32, top2: f32, thresholds: &Thresholds) -> Decision {
    let margin = top1 - top2;
    if top1 >= thresholds.high
        || (top1 >= thresholds.min_accept && margin >= thresholds.gap - GAP_TOLERANCE)
    {
        Decision::Accept
    } else {
        Decision::Unknown
    }
}

/// The enrolled speaker `probe` belongs to, or `None` when [`decide`] abstains.
pub fn identify<'a>(
    probe: &[f32],
    enrolled: &'a [(String, Vec<f32>)],
    thresholds: &Thresholds,
) -> Option<Candidate<'a>> {
    let mut best = top_k(probe, enrolled, 2).into_iter();
    let first = best.next()?;
    let second = best.next().map_or(f32::NEG_INFINITY, |c| c.score);
    (decide(first.score, second, thresholds) == Decision::Accept).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_applies_high_then_gap_rescue() {
        let t = Thresholds::CLOUD;
        assert_eq!(decide(0.60, 0.59, &t), Decision::Accept);
        assert_eq!(decide(0.50, 0.30, &t), Decision::Accept);
        assert_eq!(decide(0.50, 0.40, &t), Decision::Unknown);
        assert_eq!(decide(0.39, -1.0, &t), Decision::Unknown);
        assert_eq!(decide(0.45, f32::NEG_INFINITY, &t), Decision::Accept);
    }

    #[test]
    fn top_k_sorts_best_first_and_identify_abstains_on_ties() {
        let enrolled = vec![
            ("a".to_string(), vec![1.0, 0.0]),
            ("b".to_string(), vec![0.0, 1.0]),
            ("c".to_string(), vec![0.7, 0.7]),
        ];
        let top = top_k(&[0.9, 0.1], &enrolled, 2);
        assert_eq!(
            top.iter().map(|c| c.name).collect::<Vec<_>>(),
            vec!["a", "c"]
        );
        assert_eq!(
            identify(&[1.0, 0.02], &enrolled, &Thresholds::CAMPLUS).map(|c| c.name),
            Some("a")
        );
        // Exactly between a and b: both score 0.71, below `high` and without a gap.
        assert_eq!(
            identify(&[1.0, 1.0], &enrolled[..2], &Thresholds::CAMPLUS),
            None
        );
    }
}
