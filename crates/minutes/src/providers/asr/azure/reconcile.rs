//! Speaker labels across chunks. Azure numbers speakers per request, so "speaker 0" of one chunk
//! says nothing about "speaker 0" of the next. Each (chunk, speaker) gets a voice: the centroid
//! of speaker embeddings over 1.5 s windows of that speaker's phrases. Chunks are then taken in
//! order and each chunk's voices are matched one-to-one to the meeting's speakers so far, most
//! similar pair first; a voice matching none above the threshold is a new speaker.
use std::collections::HashMap;
use std::path::Path;

use minutes_audio::{AudioError, WavSamples};
use minutes_speaker::{centroid, cosine, Embedder, SpeakerError};

use super::chunking::SAMPLE_RATE;

/// Embedding windows, as diarization uses them: stable enough, fine enough in time.
const WINDOW_S: f64 = 1.5;
const HOP_S: f64 = 0.75;
/// Phrases shorter than this are too little of a voice to embed.
const MIN_WINDOW_S: f64 = 0.5;
/// Windows embedded per (chunk, speaker): ~36 s of speech pins a voice down; more only costs
/// CPU (about 0.1 s per window).
const MAX_WINDOWS: usize = 48;

/// A stretch of one provider speaker's speech on the meeting timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeakerSpan {
    pub chunk: usize,
    pub speaker: u32,
    pub start: f64,
    pub end: f64,
}

/// A (chunk, speaker)'s voice: the L2-normalized centroid and how many windows it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    pub centroid: Vec<f32>,
    pub weight: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading the meeting audio: {0}")]
    Audio(#[from] AudioError),
    #[error("speaker embedding: {0}")]
    Embedding(#[from] SpeakerError),
}

/// The meeting-wide speaker (0, 1, … in no particular order) of every (chunk, provider speaker)
/// in `spans`, matched by voice.
pub fn reconcile(
    wav: &Path,
    spans: &[SpeakerSpan],
    engine: &dyn Embedder,
    threshold: f32,
) -> Result<HashMap<(usize, u32), usize>, ReconcileError> {
    let mut audio = WavSamples::open(wav)?;
    let mut by_chunk: Vec<Vec<(u32, Option<Voice>)>> = Vec::new();
    let mut keys: Vec<(usize, u32)> = spans.iter().map(|s| (s.chunk, s.speaker)).collect();
    keys.sort_unstable();
    keys.dedup();
    for (chunk, speaker) in keys {
        let own: Vec<(f64, f64)> = spans
            .iter()
            .filter(|s| s.chunk == chunk && s.speaker == speaker)
            .map(|s| (s.start, s.end))
            .collect();
        let voice = voice(&mut audio, &own, engine)?;
        if voice.is_none() {
            tracing::debug!(
                chunk,
                speaker,
                "too little speech to embed; kept as its own speaker"
            );
        }
        if by_chunk.len() <= chunk {
            by_chunk.resize_with(chunk + 1, Vec::new);
        }
        by_chunk[chunk].push((speaker, voice));
    }
    Ok(match_speakers(&by_chunk, threshold))
}

/// The voice of one speaker's `spans` (seconds), or `None` when no phrase is long enough.
fn voice(
    audio: &mut WavSamples,
    spans: &[(f64, f64)],
    engine: &dyn Embedder,
) -> Result<Option<Voice>, ReconcileError> {
    let all: Vec<(f64, f64)> = spans.iter().flat_map(|&(s, e)| windows(s, e)).collect();
    let picked: Vec<(f64, f64)> = if all.len() > MAX_WINDOWS {
        // Evenly over the chunk, not just its first minutes.
        (0..MAX_WINDOWS)
            .map(|i| all[i * all.len() / MAX_WINDOWS])
            .collect()
    } else {
        all
    };
    if picked.is_empty() {
        return Ok(None);
    }
    let clips = picked
        .iter()
        .map(|&(s, e)| {
            let start = (s * SAMPLE_RATE as f64).round() as u64;
            let len = ((e - s) * SAMPLE_RATE as f64).round() as usize;
            audio.read(start, len)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let clips: Vec<&[f32]> = clips.iter().map(Vec::as_slice).collect();
    let embeddings = engine.embed_batch(&clips)?;
    Ok(
        centroid(embeddings.iter().map(Vec::as_slice)).map(|centroid| Voice {
            centroid,
            weight: embeddings.len() as f32,
        }),
    )
}

/// 1.5 s windows every 0.75 s over `[start, end)`, the last aligned to the end; a phrase
/// shorter than a window is one window; shorter than [`MIN_WINDOW_S`], none.
fn windows(start: f64, end: f64) -> Vec<(f64, f64)> {
    let len = end - start;
    if len.is_nan() || len < MIN_WINDOW_S {
        return Vec::new();
    }
    if len <= WINDOW_S {
        return vec![(start, end)];
    }
    let mut out = Vec::new();
    let mut s = start;
    while s + WINDOW_S < end {
        out.push((s, s + WINDOW_S));
        s += HOP_S;
    }
    out.push((end - WINDOW_S, end));
    out
}

/// The meeting's speakers as they are matched chunk by chunk.
struct Global {
    /// Weighted sum of member voices; compared after normalizing.
    sum: Vec<f32>,
}

/// Matches each chunk's voices to the speakers of earlier chunks. A speaker without a voice
/// (too little speech) cannot be matched and stays a speaker of its own.
pub fn match_speakers(
    chunks: &[Vec<(u32, Option<Voice>)>],
    threshold: f32,
) -> HashMap<(usize, u32), usize> {
    let mut globals: Vec<Option<Global>> = Vec::new();
    let mut out = HashMap::new();
    for (chunk, speakers) in chunks.iter().enumerate() {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, (_, voice)) in speakers.iter().enumerate() {
            let Some(voice) = voice else { continue };
            for (g, global) in globals.iter().enumerate() {
                let Some(global) = global else { continue };
                let similarity = cosine(&voice.centroid, &global.sum);
                if similarity >= threshold {
                    pairs.push((similarity, i, g));
                }
            }
        }
        // Most similar first; two voices of one chunk are two people, so each global speaker
        // takes at most one of them.
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut assigned: Vec<Option<usize>> = vec![None; speakers.len()];
        let mut taken: Vec<usize> = Vec::new();
        for (similarity, i, g) in pairs {
            if assigned[i].is_none() && !taken.contains(&g) {
                tracing::debug!(
                    chunk,
                    speaker = speakers[i].0,
                    global = g,
                    similarity,
                    "speaker matched"
                );
                assigned[i] = Some(g);
                taken.push(g);
            }
        }
        for (i, (speaker, voice)) in speakers.iter().enumerate() {
            let g = match assigned[i] {
                Some(g) => g,
                None => {
                    globals.push(None);
                    globals.len() - 1
                }
            };
            if let Some(voice) = voice {
                let weighted = voice.centroid.iter().map(|x| x * voice.weight);
                match &mut globals[g] {
                    Some(global) => global
                        .sum
                        .iter_mut()
                        .zip(weighted)
                        .for_each(|(a, b)| *a += b),
                    slot @ None => {
                        *slot = Some(Global {
                            sum: weighted.collect(),
                        })
                    }
                }
            }
            out.insert((chunk, *speaker), g);
        }
    }
    out
}

/// The similarity threshold for `engine`'s voices. Centroids of many windows sit much closer
/// together for one person than single windows do, so this is higher than the engine's window
/// clustering cut. Measured across chunks of the synthetic meetings (whose espeak voices are
/// closer than real ones): CAM++ 0.89–0.97 for the same person, at most 0.73 for different
/// people; fbank statistics 0.93–0.99 against at most 0.87. Each threshold sits between the
/// two: a person split in two can be undone by naming both labels the same, a merge cannot,
/// and a voice with only a few seconds in a chunk scores lower than these centroids did.
pub fn default_threshold(engine: &dyn Embedder) -> f32 {
    match engine.name() {
        "campplus" => 0.80,
        _ => 0.90,
    }
}

#[cfg(test)]
mod tests {
    use minutes_speaker::l2_normalized;

    use super::*;

    fn voice(v: &[f32]) -> Option<Voice> {
        Some(Voice {
            centroid: l2_normalized(v.to_vec()),
            weight: 10.0,
        })
    }

    #[test]
    fn swapped_numbers_follow_the_voice() {
        let a = [1.0, 0.1, 0.0];
        let b = [0.0, 1.0, 0.2];
        let chunks = vec![
            vec![(0, voice(&a)), (1, voice(&b))],
            // The next request numbers them the other way round.
            vec![(0, voice(&[0.1, 0.9, 0.3])), (1, voice(&[0.9, 0.2, 0.1]))],
        ];
        let m = match_speakers(&chunks, 0.8);
        assert_eq!(m[&(0, 0)], m[&(1, 1)]);
        assert_eq!(m[&(0, 1)], m[&(1, 0)]);
        assert_ne!(m[&(0, 0)], m[&(0, 1)]);
    }

    #[test]
    fn a_new_voice_and_a_voiceless_speaker_become_new_speakers() {
        let chunks = vec![
            vec![(0, voice(&[1.0, 0.0, 0.0]))],
            vec![
                (0, voice(&[0.0, 0.0, 1.0])),
                (1, voice(&[0.95, 0.1, 0.0])),
                (2, None),
            ],
        ];
        let m = match_speakers(&chunks, 0.8);
        assert_eq!(m[&(1, 1)], m[&(0, 0)]);
        let distinct: std::collections::HashSet<usize> = m.values().copied().collect();
        assert_eq!(distinct.len(), 3, "{m:?}");
    }

    #[test]
    fn one_global_speaker_takes_one_voice_per_chunk() {
        // Both voices of chunk 1 resemble speaker A; only the closer one is A.
        let chunks = vec![
            vec![(0, voice(&[1.0, 0.0]))],
            vec![(0, voice(&[0.9, 0.3])), (1, voice(&[0.99, 0.05]))],
        ];
        let m = match_speakers(&chunks, 0.5);
        assert_eq!(m[&(1, 1)], m[&(0, 0)]);
        assert_ne!(m[&(1, 0)], m[&(0, 0)]);
    }

    #[test]
    fn windows_cover_phrases() {
        assert!(windows(3.0, 3.4).is_empty());
        assert_eq!(windows(3.0, 4.0), vec![(3.0, 4.0)]);
        let w = windows(0.0, 4.0);
        assert_eq!(w.first(), Some(&(0.0, 1.5)));
        assert_eq!(w.last(), Some(&(2.5, 4.0)));
        assert!(w.iter().all(|(s, e)| ((e - s) - 1.5).abs() < 1e-9));
    }
}
