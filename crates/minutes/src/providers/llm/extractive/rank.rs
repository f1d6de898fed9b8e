//! Ranking: sentence centrality by TextRank over shared content words, and keywords by
//! frequency. Everything iterates in index or key order, so equal input gives equal output.
use std::collections::BTreeMap;

use super::sentences::Sentence;

const DAMPING: f64 = 0.85;
const ITERATIONS: usize = 40;
/// Above this many sentences (about an hour of talk) the graph, O(n²) edges at worst, is
/// replaced by a linear centroid score.
const MAX_GRAPH_SENTENCES: usize = 1000;

/// One score per sentence; higher = more central to the meeting.
pub(super) fn sentence_scores(sentences: &[Sentence]) -> Vec<f64> {
    let sets: Vec<Vec<&str>> = sentences
        .iter()
        .map(|s| {
            let mut v: Vec<&str> = s.words.iter().map(|w| w.key.as_str()).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    if sets.len() > MAX_GRAPH_SENTENCES {
        centroid(&sets)
    } else {
        textrank(&sets)
    }
}

/// Weighted PageRank over the sentence graph; edge weight = shared words /
/// (ln(1+|a|) + ln(1+|b|)), as in Mihalcea & Tarau's TextRank.
fn textrank(sets: &[Vec<&str>]) -> Vec<f64> {
    let n = sets.len();
    let mut postings: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, set) in sets.iter().enumerate() {
        for w in set {
            postings.entry(w).or_default().push(i);
        }
    }
    let norm: Vec<f64> = sets.iter().map(|s| (1.0 + s.len() as f64).ln()).collect();
    let mut edges: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    let mut shared = vec![0u32; n];
    let mut touched: Vec<usize> = Vec::new();
    for (i, set) in sets.iter().enumerate() {
        for w in set {
            let Some(list) = postings.get(w) else {
                continue;
            };
            let after = list.partition_point(|&j| j <= i);
            for &j in &list[after..] {
                if shared[j] == 0 {
                    touched.push(j);
                }
                shared[j] += 1;
            }
        }
        touched.sort_unstable();
        for &j in &touched {
            let weight = f64::from(shared[j]) / (norm[i] + norm[j]);
            edges[i].push((j, weight));
            edges[j].push((i, weight));
            shared[j] = 0;
        }
        touched.clear();
    }
    let out_weight: Vec<f64> = edges
        .iter()
        .map(|e| e.iter().map(|&(_, w)| w).sum())
        .collect();
    let mut score = vec![1.0; n];
    for _ in 0..ITERATIONS {
        score = (0..n)
            .map(|i| {
                let inflow: f64 = edges[i]
                    .iter()
                    .map(|&(j, w)| w / out_weight[j] * score[j])
                    .sum();
                (1.0 - DAMPING) + DAMPING * inflow
            })
            .collect();
    }
    score
}

/// How common a sentence's words are in the whole meeting, damped by its length.
fn centroid(sets: &[Vec<&str>]) -> Vec<f64> {
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for w in sets.iter().flatten() {
        *df.entry(w).or_default() += 1;
    }
    sets.iter()
        .map(|s| {
            let sum: usize = s.iter().map(|w| df.get(w).copied().unwrap_or(0)).sum();
            sum as f64 / (1.0 + s.len() as f64).ln().max(1.0) / sets.len() as f64
        })
        .collect()
}

/// Indices of the `n` best-scoring sentences among those `eligible`, in transcript order
/// (ties go to the earlier sentence).
pub(super) fn top(scores: &[f64], eligible: impl Fn(usize) -> bool, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| eligible(i)).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(n);
    order.sort_unstable();
    order
}

/// The `n` most frequent content words (as first written), skipping `exclude` (lower case);
/// ties go to the longer word, then to the one said first. Words said once only count when
/// nothing was said twice.
pub(super) fn keywords(sentences: &[Sentence], exclude: &[String], n: usize) -> Vec<String> {
    // key → (count, first position, surface)
    let mut stats: BTreeMap<&str, (usize, usize, &str)> = BTreeMap::new();
    let mut position = 0;
    for w in sentences.iter().flat_map(|s| &s.words) {
        position += 1;
        stats
            .entry(w.key.as_str())
            .and_modify(|e| e.0 += 1)
            .or_insert((1, position, w.surface.as_str()));
    }
    let mut ranked: Vec<(&str, (usize, usize, &str))> = stats
        .into_iter()
        .filter(|(k, _)| !exclude.iter().any(|x| x == k))
        .collect();
    ranked.sort_by(|a, b| {
        b.1 .0
            .cmp(&a.1 .0)
            .then(b.0.chars().count().cmp(&a.0.chars().count()))
            .then(a.1 .1.cmp(&b.1 .1))
    });
    let repeated = ranked.iter().any(|(_, (count, _, _))| *count > 1);
    ranked
        .into_iter()
        .filter(|(_, (count, _, _))| !repeated || *count > 1)
        .take(n)
        .map(|(_, (_, _, surface))| surface.to_string())
        .collect()
}
