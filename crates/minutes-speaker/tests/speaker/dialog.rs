//! Diarization of a dialog built from committed clips of two people from two meetings each.

use minutes_speaker::diarize::{
    diarize, diarize_source, label_windows, turns, DiarizeOptions, LabeledWindow, SampleSource,
};
use minutes_speaker::{campplus_or_fallback, Embedder, FbankStatsEmbedder, SpeakerError};

use crate::helpers::{clip, model};

/// david, sarah, david, sarah (2.5 s each, 0.5 s of silence between), the clips alternating
/// between two recordings, so each cluster must join clips of different meetings.
fn dialog() -> (Vec<f32>, Vec<(f64, f64)>, Vec<usize>) {
    let order = [
        ("david_en02", 0),
        ("sarah_en02", 1),
        ("david_en03", 0),
        ("sarah_en03", 1),
    ];
    let mut samples = Vec::new();
    let mut speech = Vec::new();
    let mut truth = Vec::new();
    for (stem, person) in order {
        samples.extend(std::iter::repeat_n(0.0f32, 8_000));
        let start = samples.len() as f64 / 16_000.0;
        samples.extend(clip(stem));
        speech.push((start, samples.len() as f64 / 16_000.0));
        truth.push(person);
    }
    (samples, speech, truth)
}

/// Share of windows labeled correctly under the better of the two label permutations.
fn two_speaker_accuracy(windows: &[LabeledWindow], truth: &[usize]) -> f64 {
    let agree = windows
        .iter()
        .filter(|w| w.label == truth[w.region])
        .count();
    let best = agree.max(windows.len() - agree);
    best as f64 / windows.len() as f64
}

fn check(engine: &dyn Embedder) {
    let (samples, speech, truth) = dialog();
    let opts = DiarizeOptions::default();
    let windows = label_windows(&samples, &speech, engine, &opts).unwrap();
    let speakers = windows.iter().map(|w| w.label).max().unwrap() + 1;
    let accuracy = two_speaker_accuracy(&windows, &truth);
    println!(
        "{}: {} windows, {speakers} speakers, accuracy {:.1}%",
        engine.name(),
        windows.len(),
        accuracy * 100.0
    );
    assert_eq!(windows.len(), 12);
    assert_eq!(speakers, 2, "{}: {windows:?}", engine.name());
    assert!(
        accuracy >= 0.9,
        "{}: window accuracy {accuracy}",
        engine.name()
    );

    // The turns alternate like the dialog and stay inside the speech regions.
    let turns = turns(&windows, &speech, opts.merge_gap_s);
    let labels: Vec<usize> = turns.iter().map(|t| t.label).collect();
    assert_eq!(labels, vec![0, 1, 0, 1], "{}: {turns:?}", engine.name());
    for (turn, &(start, end)) in turns.iter().zip(&speech) {
        assert!((turn.start - start).abs() < 1e-6 && (turn.end - end).abs() < 1e-6);
    }
}

#[test]
fn campplus_finds_two_speakers_in_a_dialog() {
    check(model());
}

#[test]
fn the_fallback_embedder_also_separates_two_clear_voices() {
    check(&FbankStatsEmbedder);
}

#[test]
fn diarize_is_label_windows_then_turns() {
    let (samples, speech, _) = dialog();
    let opts = DiarizeOptions::default();
    let windows = label_windows(&samples, &speech, &FbankStatsEmbedder, &opts).unwrap();
    assert_eq!(
        diarize(&samples, &speech, &FbankStatsEmbedder, &opts).unwrap(),
        turns(&windows, &speech, opts.merge_gap_s)
    );
}

#[test]
fn a_missing_model_degrades_to_the_fallback_but_a_broken_one_is_an_error() {
    let missing = std::path::Path::new("/nonexistent/campplus_cn_en_common.pt");
    assert_eq!(campplus_or_fallback(missing).unwrap().name(), "fbank-stats");
    let broken = std::env::temp_dir().join(format!("not-a-model-{}.pt", std::process::id()));
    std::fs::write(&broken, b"not a zip").unwrap();
    let result = campplus_or_fallback(&broken);
    std::fs::remove_file(&broken).unwrap();
    assert!(matches!(result, Err(SpeakerError::ModelInvalid { .. })));
}

#[test]
fn max_speakers_caps_the_count() {
    let (samples, speech, _) = dialog();
    let opts = DiarizeOptions {
        max_speakers: Some(1),
        ..DiarizeOptions::default()
    };
    let turns = diarize(&samples, &speech, &FbankStatsEmbedder, &opts).unwrap();
    assert!(turns.iter().all(|t| t.label == 0), "{turns:?}");
}

/// Reads like a file would: counts the largest read, to prove no whole-meeting buffer is made.
struct CountingSource {
    samples: Vec<f32>,
    largest_read: usize,
}

impl SampleSource for CountingSource {
    fn sample_count(&self) -> usize {
        self.samples.len()
    }

    fn read(&mut self, start: usize, end: usize) -> Result<Vec<f32>, SpeakerError> {
        let end = end.min(self.samples.len());
        self.largest_read = self.largest_read.max(end - start.min(end));
        Ok(self.samples[start.min(end)..end].to_vec())
    }
}

#[test]
fn a_streaming_source_gives_the_same_turns_reading_one_window_at_a_time() {
    let (samples, speech, _) = dialog();
    let opts = DiarizeOptions::default();
    let expected = diarize(&samples, &speech, &FbankStatsEmbedder, &opts).unwrap();
    let mut source = CountingSource {
        samples,
        largest_read: 0,
    };
    let got = diarize_source(&mut source, &speech, &FbankStatsEmbedder, &opts).unwrap();
    assert_eq!(got, expected);
    assert_eq!(source.largest_read, 24_000, "one 1.5 s window per read");
}
