//! Measures diarization, identification and speed on the synthetic meetings (shared/data).
//!
//! cargo run --release -p minutes-speaker --example evaluate -- MODEL.pt MEETINGS_DIR
//!
//! Speech regions are the ground-truth turns (an oracle VAD), so the numbers isolate the
//! speaker part. Prints per-meeting window accuracy and speaker counts for both engines, the
//! cosine statistics of same- and different-speaker windows, cross-meeting identification
//! scores, and the embedding real-time factor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use minutes_speaker::cluster::{absorb_small, agglomerative};
use minutes_speaker::diarize::{label_windows, DiarizeOptions};
use minutes_speaker::identify::{decide, top_k, Decision, Thresholds};
use minutes_speaker::{centroid, cosine, CamPlus, Embedder, FbankStatsEmbedder};
use serde::Deserialize;

#[derive(Deserialize)]
struct Meeting {
    duration_s: f64,
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct Segment {
    start: f64,
    end: f64,
    speaker: String,
}

fn read_wav(path: &Path) -> Vec<f32> {
    let mut reader = hound::WavReader::open(path).expect("wav");
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect()
}

fn slice(samples: &[f32], start: f64, end: f64) -> &[f32] {
    let a = ((start * 16_000.0) as usize).min(samples.len());
    let b = ((end * 16_000.0) as usize).clamp(a, samples.len());
    &samples[a..b]
}

/// Best one-to-one mapping of hypothesis labels to reference speakers: matched window count.
fn best_matching(confusion: &[Vec<usize>]) -> usize {
    fn go(row: usize, used: &mut Vec<bool>, confusion: &[Vec<usize>]) -> usize {
        if row == confusion.len() {
            return 0;
        }
        let mut best = go(row + 1, used, confusion);
        for col in 0..used.len() {
            if !used[col] {
                used[col] = true;
                best = best.max(confusion[row][col] + go(row + 1, used, confusion));
                used[col] = false;
            }
        }
        best
    }
    let cols = confusion.first().map_or(0, Vec::len);
    go(0, &mut vec![false; cols], confusion)
}

/// Number of clusters found and the window accuracy under the best label mapping.
fn score(labels: &[usize], truth: &[usize], speakers: usize) -> (usize, f64) {
    let found = labels.iter().max().map_or(0, |m| m + 1);
    let mut confusion = vec![vec![0usize; speakers]; found];
    for (&l, &t) in labels.iter().zip(truth) {
        confusion[l][t] += 1;
    }
    (
        found,
        best_matching(&confusion) as f64 / labels.len() as f64,
    )
}

fn stats(values: &[f32]) -> String {
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let pct = |p: f32| sorted[((n - 1.0) * p) as usize];
    format!(
        "n={:5} mean {mean:.3} sd {sd:.3} min {:.3} p5 {:.3} p50 {:.3} p95 {:.3} max {:.3}",
        values.len(),
        sorted[0],
        pct(0.05),
        pct(0.5),
        pct(0.95),
        sorted[sorted.len() - 1]
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model_path = PathBuf::from(args.get(1).expect("usage: evaluate MODEL.pt MEETINGS_DIR"));
    let dir = PathBuf::from(args.get(2).expect("usage: evaluate MODEL.pt MEETINGS_DIR"));
    let campplus = CamPlus::load(&model_path).expect("model");
    let engines: [&dyn Embedder; 2] = [&campplus, &FbankStatsEmbedder];
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("meetings dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && n != "manifest.json")
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    names.sort();
    let opts = DiarizeOptions::default();
    let mut same = [Vec::new(), Vec::new()];
    let mut diff = [Vec::new(), Vec::new()];
    let sweep: Vec<(f32, usize)> = (6..=11)
        .flat_map(|i| [1, 2, 3, 4].map(|m| (i as f32 * 0.05, m)))
        .collect();
    // engine -> threshold -> (sum of accuracies, meetings with the right speaker count)
    let mut swept = vec![vec![(0.0f64, 0usize); sweep.len()]; 2];
    let mut embed_secs = 0.0;
    let mut audio_secs = 0.0;
    // speaker -> (meeting, turn embeddings) for identification.
    let mut turns: BTreeMap<String, Vec<(String, Vec<f32>)>> = BTreeMap::new();
    for name in &names {
        let meeting: Meeting = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("json"),
        )
        .expect("meeting json");
        let samples = read_wav(&dir.join(format!("{name}.wav")));
        let speech: Vec<(f64, f64)> = meeting.segments.iter().map(|s| (s.start, s.end)).collect();
        let speakers: Vec<&str> = {
            let mut v: Vec<&str> = meeting
                .segments
                .iter()
                .map(|s| s.speaker.as_str())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        for (e, engine) in engines.iter().enumerate() {
            let started = Instant::now();
            let windows = label_windows(&samples, &speech, *engine, &opts).expect("diarize");
            let elapsed = started.elapsed().as_secs_f64();
            if e == 0 {
                embed_secs += elapsed;
                audio_secs += meeting.duration_s;
            }
            let truth: Vec<usize> = windows
                .iter()
                .map(|w| {
                    let name = &meeting.segments[w.region].speaker;
                    speakers.iter().position(|s| s == name).expect("speaker")
                })
                .collect();
            let labels: Vec<usize> = windows.iter().map(|w| w.label).collect();
            let (found, accuracy) = score(&labels, &truth, speakers.len());
            println!(
                "{name:26} {:11} windows {:3} speakers {found}/{} accuracy {:.1}% ({elapsed:.2} s)",
                engine.name(),
                windows.len(),
                speakers.len(),
                accuracy * 100.0
            );
            // Pairwise window similarities within the meeting.
            let clips: Vec<&[f32]> = windows
                .iter()
                .map(|w| slice(&samples, w.start, w.end))
                .collect();
            let embeddings = engine.embed_batch(&clips).expect("embed");
            for (k, &(threshold, min_size)) in sweep.iter().enumerate() {
                let labels = absorb_small(
                    &agglomerative(&embeddings, threshold, None),
                    &embeddings,
                    min_size,
                );
                let (found, accuracy) = score(&labels, &truth, speakers.len());
                swept[e][k].0 += accuracy;
                swept[e][k].1 += usize::from(found == speakers.len());
            }
            for i in 0..windows.len() {
                for j in i + 1..windows.len() {
                    let c = cosine(&embeddings[i], &embeddings[j]);
                    let si = &meeting.segments[windows[i].region].speaker;
                    let sj = &meeting.segments[windows[j].region].speaker;
                    if si == sj { &mut same[e] } else { &mut diff[e] }.push(c);
                }
            }
        }
        for s in meeting.segments.iter().filter(|s| s.end - s.start >= 1.0) {
            let embedding = campplus
                .embed(slice(&samples, s.start, s.end))
                .expect("embed");
            turns
                .entry(s.speaker.clone())
                .or_default()
                .push((name.clone(), embedding));
        }
    }
    for (e, engine) in engines.iter().enumerate() {
        println!(
            "\n{} window cosine, same speaker:      {}",
            engine.name(),
            stats(&same[e])
        );
        println!(
            "{} window cosine, different speaker: {}",
            engine.name(),
            stats(&diff[e])
        );
    }
    for (e, engine) in engines.iter().enumerate() {
        println!(
            "\n{} threshold sweep (all windows clustered):",
            engine.name()
        );
        for (k, (threshold, min_size)) in sweep.iter().enumerate() {
            let (acc, right) = swept[e][k];
            println!(
                "  distance {threshold:.2} min cluster {min_size}: mean window accuracy {:.1}%, right speaker count in {right}/{}",
                acc * 100.0 / names.len() as f64,
                names.len()
            );
        }
    }
    println!(
        "\nCAM++ diarization (fbank + embeddings + clustering): {embed_secs:.2} s for {audio_secs:.0} s of meetings, real-time factor {:.3}",
        embed_secs / audio_secs
    );
    identification(&turns);
}

/// Enroll each person from their first meeting (centroid of turns), probe with every turn of
/// their other meetings; people seen in one meeting only are the unknown probes.
fn identification(turns: &BTreeMap<String, Vec<(String, Vec<f32>)>>) {
    let mut enrolled = Vec::new();
    let mut probes = Vec::new();
    for (speaker, list) in turns {
        let first = &list[0].0;
        let meetings: std::collections::BTreeSet<&String> = list.iter().map(|(m, _)| m).collect();
        if meetings.len() < 2 {
            probes.extend(list.iter().map(|(_, e)| (None, e.clone())));
            continue;
        }
        let enroll = centroid(
            list.iter()
                .filter(|(m, _)| m == first)
                .map(|(_, e)| e.as_slice()),
        );
        enrolled.push((speaker.clone(), enroll.expect("turns")));
        probes.extend(
            list.iter()
                .filter(|(m, _)| m != first)
                .map(|(_, e)| (Some(speaker.clone()), e.clone())),
        );
    }
    let mut genuine = Vec::new();
    let mut best_impostor = Vec::new();
    let mut unknown_top = Vec::new();
    let mut rows = Vec::new();
    for (truth, probe) in &probes {
        let top = top_k(probe, &enrolled, 2);
        let (t1, t2) = (top[0].score, top.get(1).map_or(-1.0, |c| c.score));
        match truth {
            Some(t) => {
                let own = enrolled
                    .iter()
                    .find(|(n, _)| n == t)
                    .map(|(_, e)| cosine(probe, e))
                    .unwrap_or(0.0);
                genuine.push(own);
                let other = enrolled
                    .iter()
                    .filter(|(n, _)| n != t)
                    .map(|(_, e)| cosine(probe, e))
                    .fold(-1.0, f32::max);
                best_impostor.push(other);
                rows.push((Some(top[0].name == t.as_str()), t1, t2));
            }
            None => {
                unknown_top.push(t1);
                rows.push((None, t1, t2));
            }
        }
    }
    println!(
        "\nidentification: {} enrolled, {} known probes, {} unknown probes (whole turns >= 1 s)",
        enrolled.len(),
        genuine.len(),
        unknown_top.len()
    );
    println!("genuine score:            {}", stats(&genuine));
    println!("best impostor (known):    {}", stats(&best_impostor));
    println!("top-1 score of unknowns:  {}", stats(&unknown_top));
    let mut candidates = vec![
        ("CLOUD", Thresholds::CLOUD),
        ("CAMPLUS", Thresholds::CAMPLUS),
    ];
    for high in [0.75, 0.8, 0.85] {
        for min_accept in [0.5, 0.6] {
            for gap in [0.1, 0.15] {
                let t = Thresholds {
                    high,
                    min_accept,
                    gap,
                };
                candidates.push(("", t));
            }
        }
    }
    for (label, t) in candidates {
        let (mut right, mut wrong, mut abstain, mut false_accept) = (0, 0, 0, 0);
        for (correct, t1, t2) in &rows {
            let accepted = decide(*t1, *t2, &t) == Decision::Accept;
            match (correct, accepted) {
                (Some(true), true) => right += 1,
                (Some(false), true) => wrong += 1,
                (Some(_), false) => abstain += 1,
                (None, true) => false_accept += 1,
                (None, false) => {}
            }
        }
        println!(
            "thresholds {label:8} {t:?}: known correct {right}, wrong {wrong}, unknown-abstained {abstain}; unknown probes accepted {false_accept}/{}",
            unknown_top.len()
        );
    }
}
