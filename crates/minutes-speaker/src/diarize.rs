//! Who spoke when: sliding windows over the speech regions, embeddings, clustering, turns.

use crate::cluster::{absorb_small, agglomerative, renumber};
use crate::embedder::Embedder;
use crate::fbank::SAMPLE_RATE;
use crate::vector::{centroid, cosine};
use crate::SpeakerError;

/// Knobs of [`diarize`]; `Default` is what the pipeline uses.
#[derive(Debug, Clone)]
pub struct DiarizeOptions {
    /// Length of one embedding window, seconds. 1.5 s is the usual trade-off between a stable
    /// embedding and a fine time resolution.
    pub window_s: f64,
    /// Step between window starts, seconds.
    pub hop_s: f64,
    /// Cosine-distance threshold of the clustering; `None` takes the engine's own.
    pub threshold: Option<f32>,
    /// An upper bound on the number of speakers, when the caller knows one.
    pub max_speakers: Option<usize>,
    /// Windows shorter than this (speech regions shorter than a window) are too noisy to shape
    /// the clusters: they are only assigned to the nearest cluster afterwards.
    pub min_cluster_window_s: f64,
    /// A cluster with fewer windows than this is not a speaker of its own: its windows join the
    /// most similar bigger cluster. 4 windows are about 3.75 s of speech at the default window
    /// and hop; less than that is also too little to identify anyone by voiceprint.
    pub min_cluster_windows: usize,
    /// Consecutive turns of one speaker separated by at most this much silence become one turn.
    pub merge_gap_s: f64,
    /// At most this many windows are embedded and clustered: on longer meetings the hop grows
    /// so the clustering's O(n^2) distance matrix stays bounded (6,000 windows: 72 MB), which
    /// is 75 minutes of speech at the default hop and still a window every 1.5 s at 2.5 hours.
    pub max_windows: usize,
}

impl Default for DiarizeOptions {
    fn default() -> Self {
        DiarizeOptions {
            window_s: 1.5,
            hop_s: 0.75,
            threshold: None,
            max_speakers: None,
            min_cluster_window_s: 1.0,
            min_cluster_windows: 4,
            merge_gap_s: 0.5,
            max_windows: 6000,
        }
    }
}

/// A stretch of speech attributed to one speaker; `label` numbers speakers 0.. by first turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub start: f64,
    pub end: f64,
    pub label: usize,
}

/// One embedding window and the speaker it was assigned to.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledWindow {
    pub start: f64,
    pub end: f64,
    /// Index into the `speech` regions the window lies in.
    pub region: usize,
    pub label: usize,
}

/// Regions (or windows) shorter than this are not embedded at all; they take the label of the
/// nearest window in time. 0.2 s holds about 18 feature frames.
const MIN_EMBED_S: f64 = 0.2;
/// Windows embedded per call, which bounds the feature memory on long meetings.
const EMBED_CHUNK: usize = 64;

/// Where the window audio comes from: samples in memory, or a file read window by window so a
/// two-hour meeting never sits in memory whole.
pub trait SampleSource {
    /// Number of 16 kHz samples.
    fn sample_count(&self) -> usize;
    /// Samples `[start, end)`, clipped to the source.
    fn read(&mut self, start: usize, end: usize) -> Result<Vec<f32>, SpeakerError>;
}

impl SampleSource for &[f32] {
    fn sample_count(&self) -> usize {
        <[f32]>::len(self)
    }

    fn read(&mut self, start: usize, end: usize) -> Result<Vec<f32>, SpeakerError> {
        let a = start.min(<[f32]>::len(self));
        let b = end.clamp(a, <[f32]>::len(self));
        Ok(self[a..b].to_vec())
    }
}

/// Speaker turns of `samples_16k` within the `speech` regions (seconds, sorted, as from a VAD).
pub fn diarize(
    samples_16k: &[f32],
    speech: &[(f64, f64)],
    engine: &dyn Embedder,
    opts: &DiarizeOptions,
) -> Result<Vec<Turn>, SpeakerError> {
    diarize_source(&mut { samples_16k }, speech, engine, opts)
}

/// [`diarize`] over any [`SampleSource`]: only one batch of windows is in memory at a time.
pub fn diarize_source(
    source: &mut dyn SampleSource,
    speech: &[(f64, f64)],
    engine: &dyn Embedder,
    opts: &DiarizeOptions,
) -> Result<Vec<Turn>, SpeakerError> {
    let windows = label_source_windows(source, speech, engine, opts)?;
    Ok(turns(&windows, speech, opts.merge_gap_s))
}

/// The windows [`diarize`] clusters, with their labels: useful for scoring and debugging.
pub fn label_windows(
    samples_16k: &[f32],
    speech: &[(f64, f64)],
    engine: &dyn Embedder,
    opts: &DiarizeOptions,
) -> Result<Vec<LabeledWindow>, SpeakerError> {
    label_source_windows(&mut { samples_16k }, speech, engine, opts)
}

fn label_source_windows(
    source: &mut dyn SampleSource,
    speech: &[(f64, f64)],
    engine: &dyn Embedder,
    opts: &DiarizeOptions,
) -> Result<Vec<LabeledWindow>, SpeakerError> {
    let duration = source.sample_count() as f64 / f64::from(SAMPLE_RATE);
    let mut windows = speech_windows(speech, duration, opts);
    let mut embeddings = Vec::with_capacity(windows.len());
    for chunk in windows.chunks(EMBED_CHUNK) {
        let clips = chunk
            .iter()
            .map(|w| source.read(sample_at(w.start), sample_at(w.end)))
            .collect::<Result<Vec<_>, _>>()?;
        let clips: Vec<&[f32]> = clips.iter().map(Vec::as_slice).collect();
        embeddings.extend(engine.embed_batch(&clips)?);
    }
    let threshold = opts.threshold.unwrap_or_else(|| engine.cluster_threshold());
    let labels = cluster_with_weak(&windows, &embeddings, threshold, opts);
    for (window, label) in windows.iter_mut().zip(labels) {
        window.label = label;
    }
    Ok(windows)
}

fn sample_at(seconds: f64) -> usize {
    (seconds * f64::from(SAMPLE_RATE)).round().max(0.0) as usize
}

/// The windows over every speech region, with the hop widened as far as needed to stay within
/// `max_windows`.
fn speech_windows(
    speech: &[(f64, f64)],
    duration: f64,
    opts: &DiarizeOptions,
) -> Vec<LabeledWindow> {
    let mut opts = opts.clone();
    loop {
        let mut windows = Vec::new();
        for (region, &(start, end)) in speech.iter().enumerate() {
            for (s, e) in region_windows(start.max(0.0), end.min(duration), &opts) {
                windows.push(LabeledWindow {
                    start: s,
                    end: e,
                    region,
                    label: 0,
                });
            }
        }
        // Every region contributes at least one window whatever the hop, so widening stops
        // helping once the hop covers a whole window.
        if windows.len() <= opts.max_windows.max(1) || opts.hop_s >= opts.window_s {
            return windows;
        }
        let widen = windows.len() as f64 / opts.max_windows.max(1) as f64;
        opts.hop_s = (opts.hop_s * widen * 1.02).min(opts.window_s);
    }
}

/// Windows of `window_s` every `hop_s` over a region; the last one is aligned to the region's
/// end so the tail is covered, and a region shorter than a window is one window.
fn region_windows(start: f64, end: f64, opts: &DiarizeOptions) -> Vec<(f64, f64)> {
    let len = end - start;
    if len < MIN_EMBED_S {
        return Vec::new();
    }
    if len <= opts.window_s {
        return vec![(start, end)];
    }
    let mut out = Vec::new();
    let mut s = start;
    while s + opts.window_s <= end + 1e-9 {
        out.push((s, s + opts.window_s));
        s += opts.hop_s;
    }
    if out.last().is_some_and(|&(_, e)| e < end - 1e-9) {
        out.push((end - opts.window_s, end));
    }
    out
}

/// Clusters the full-length windows, then gives each short window its nearest cluster.
fn cluster_with_weak(
    windows: &[LabeledWindow],
    embeddings: &[Vec<f32>],
    threshold: f32,
    opts: &DiarizeOptions,
) -> Vec<usize> {
    let strong: Vec<usize> = (0..windows.len())
        .filter(|&i| windows[i].end - windows[i].start >= opts.min_cluster_window_s)
        .collect();
    if strong.is_empty() {
        let labels = agglomerative(embeddings, threshold, opts.max_speakers);
        return absorb_small(&labels, embeddings, opts.min_cluster_windows);
    }
    let strong_embeddings: Vec<Vec<f32>> = strong.iter().map(|&i| embeddings[i].clone()).collect();
    let strong_labels = agglomerative(&strong_embeddings, threshold, opts.max_speakers);
    let strong_labels = absorb_small(&strong_labels, &strong_embeddings, opts.min_cluster_windows);
    let clusters = strong_labels.iter().max().map_or(0, |m| m + 1);
    let centroids: Vec<Vec<f32>> = (0..clusters)
        .map(|c| {
            let members = strong
                .iter()
                .zip(&strong_labels)
                .filter(|(_, &l)| l == c)
                .map(|(&i, _)| embeddings[i].as_slice());
            centroid(members).unwrap_or_default()
        })
        .collect();
    let mut labels = vec![usize::MAX; windows.len()];
    for (&i, &l) in strong.iter().zip(&strong_labels) {
        labels[i] = l;
    }
    for i in 0..windows.len() {
        if labels[i] != usize::MAX {
            continue;
        }
        labels[i] = (0..clusters)
            .max_by(|&a, &b| {
                cosine(&embeddings[i], &centroids[a])
                    .total_cmp(&cosine(&embeddings[i], &centroids[b]))
            })
            .unwrap_or(0);
    }
    renumber(&labels)
}

/// Turns from labeled windows (what [`diarize`] does after [`label_windows`]): each region is
/// split at the midpoints between consecutive window centres, each piece takes its window's
/// label, and neighbouring pieces of one speaker are joined across gaps up to `merge_gap_s`.
pub fn turns(windows: &[LabeledWindow], speech: &[(f64, f64)], merge_gap_s: f64) -> Vec<Turn> {
    let mut pieces: Vec<Turn> = Vec::new();
    for (region, &(start, end)) in speech.iter().enumerate() {
        let mine: Vec<&LabeledWindow> = windows.iter().filter(|w| w.region == region).collect();
        if mine.is_empty() {
            // Too short to embed: borrow the label of the closest window in time.
            let middle = (start + end) / 2.0;
            let nearest = windows.iter().min_by(|a, b| {
                let da = ((a.start + a.end) / 2.0 - middle).abs();
                let db = ((b.start + b.end) / 2.0 - middle).abs();
                da.total_cmp(&db)
            });
            if let Some(w) = nearest {
                push_piece(&mut pieces, start, end, w.label, merge_gap_s);
            }
            continue;
        }
        let centres: Vec<f64> = mine.iter().map(|w| (w.start + w.end) / 2.0).collect();
        for (i, w) in mine.iter().enumerate() {
            let from = if i == 0 {
                start
            } else {
                (centres[i - 1] + centres[i]) / 2.0
            };
            let to = if i + 1 == mine.len() {
                end
            } else {
                (centres[i] + centres[i + 1]) / 2.0
            };
            push_piece(&mut pieces, from, to, w.label, merge_gap_s);
        }
    }
    pieces
}

fn push_piece(pieces: &mut Vec<Turn>, start: f64, end: f64, label: usize, merge_gap_s: f64) {
    if let Some(last) = pieces.last_mut() {
        if last.label == label && start - last.end <= merge_gap_s + 1e-9 {
            last.end = last.end.max(end);
            return;
        }
    }
    pieces.push(Turn { start, end, label });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_region_tail_and_short_regions() {
        let opts = DiarizeOptions::default();
        assert_eq!(
            region_windows(0.0, 2.5, &opts),
            vec![(0.0, 1.5), (0.75, 2.25), (1.0, 2.5)]
        );
        assert_eq!(region_windows(1.0, 2.0, &opts), vec![(1.0, 2.0)]);
        assert!(region_windows(1.0, 1.1, &opts).is_empty());
        assert_eq!(
            region_windows(0.0, 2.25, &opts),
            vec![(0.0, 1.5), (0.75, 2.25)]
        );
    }

    #[test]
    fn long_meetings_widen_the_hop_to_stay_under_the_window_cap() {
        // Two hours of continuous speech: 9,599 windows at the default hop.
        let speech = [(0.0, 7200.0)];
        let uncapped = DiarizeOptions {
            max_windows: usize::MAX,
            ..DiarizeOptions::default()
        };
        assert_eq!(speech_windows(&speech, 7200.0, &uncapped).len(), 9599);
        let capped = speech_windows(&speech, 7200.0, &DiarizeOptions::default());
        assert!(capped.len() <= 6000, "{}", capped.len());
        assert!(capped.len() > 5000, "{}", capped.len());
        // Still covered from start to end, windows in order, none longer than a window.
        assert_eq!(capped[0].start, 0.0);
        assert!((capped.last().unwrap().end - 7200.0).abs() < 1e-6);
        assert!(capped.windows(2).all(|p| p[0].start < p[1].start));
        assert!(capped.iter().all(|w| w.end - w.start <= 1.5 + 1e-9));
        // Short meetings keep the default hop.
        assert_eq!(
            speech_windows(&[(0.0, 2.5)], 2.5, &DiarizeOptions::default()).len(),
            3
        );
    }

    #[test]
    fn turns_split_at_window_midpoints_and_merge_short_gaps() {
        let w = |start: f64, end: f64, region: usize, label: usize| LabeledWindow {
            start,
            end,
            region,
            label,
        };
        let windows = vec![
            w(0.0, 1.5, 0, 0),
            w(0.75, 2.25, 0, 0),
            w(1.5, 3.0, 0, 1),
            w(3.2, 4.0, 1, 1),
        ];
        let speech = [(0.0, 3.0), (3.2, 4.0), (6.0, 6.1)];
        let turns = turns(&windows, &speech, 0.5);
        assert_eq!(
            turns,
            vec![
                Turn {
                    start: 0.0,
                    end: 1.875,
                    label: 0
                },
                // The second region joins the first speaker-1 piece across a 0.2 s gap; the
                // 0.1 s region is too short for a window and borrows the nearest label.
                Turn {
                    start: 1.875,
                    end: 4.0,
                    label: 1
                },
                Turn {
                    start: 6.0,
                    end: 6.1,
                    label: 1
                },
            ]
        );
    }
}
