//! Hypothesis RTTM of the offline diarization, run exactly as the pipeline runs it
//! (`minutes::providers::diarization::local`): energy VAD over the WAV → speech regions →
//! `diarize` with `DiarizeOptions::default()` on CAM++ or, degraded, fbank statistics.
//!
//! cargo run --release -p minutes-speaker --example rttm -- MODEL.pt|fbank MEETING.wav...
//!
//! Stdout: one RTTM line per turn, file id = the WAV's stem, speakers `spk0`, `spk1`, ...
//! (`SPEAKER <file-id> 1 <start> <dur> <NA> <NA> spk<label> <NA> <NA>`).
//! Stderr: one `timing` line per file with the audio length, the wall and CPU seconds of
//! VAD + diarization (model loading excluded, reported on its own line) and the real-time
//! factor (wall / audio). CPU time is shown because other work on the machine inflates wall
//! time but not CPU time.

use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use minutes_audio::vad;
use minutes_speaker::diarize::{diarize, DiarizeOptions, Turn};
use minutes_speaker::{CamPlus, Embedder, FbankStatsEmbedder};

const USAGE: &str = "usage: rttm MODEL.pt|fbank MEETING.wav...";
const SAMPLE_RATE: f64 = 16_000.0;

/// User + system CPU seconds of this process from /proc (Linux only; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesized command name: utime and stime are fields 14 and 15 of
    // the whole line, i.e. 12 and 13 here (the state is the first), in clock ticks (100/s).
    let after = stat.rsplit(')').next().unwrap_or("");
    let ticks: f64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// The pipeline's diarization of one WAV file.
fn diarize_wav(wav: &Path, engine: &dyn Embedder) -> Result<(Vec<Turn>, f64), Box<dyn Error>> {
    let shown = wav.display();
    let samples = minutes_audio::read_wav_f32(wav).map_err(|e| format!("reading {shown}: {e}"))?;
    let energies: Vec<f32> = vad::energies_of(&samples).collect();
    let speech = vad::speech_regions(&energies, &vad::VadOptions::default());
    let turns = diarize(&samples, &speech, engine, &DiarizeOptions::default())
        .map_err(|e| format!("diarizing {shown}: {e}"))?;
    Ok((turns, samples.len() as f64 / SAMPLE_RATE))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rttm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((model, wavs)) = args.split_first() else {
        return Err(USAGE.into());
    };
    if wavs.is_empty() {
        return Err(USAGE.into());
    }

    let loading = Instant::now();
    let engine: Box<dyn Embedder> = if model == "fbank" {
        Box::new(FbankStatsEmbedder)
    } else {
        let path = PathBuf::from(model);
        Box::new(CamPlus::load(&path).map_err(|e| format!("loading {}: {e}", path.display()))?)
    };
    eprintln!(
        "load engine={} wall_s={:.3}",
        engine.name(),
        loading.elapsed().as_secs_f64()
    );

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for wav in wavs.iter().map(PathBuf::from) {
        let id = wav
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("{}: no usable file name for the RTTM id", wav.display()))?
            .to_owned();
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let (turns, audio_s) = diarize_wav(&wav, engine.as_ref())?;
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        for t in &turns {
            writeln!(
                out,
                "SPEAKER {id} 1 {:.3} {:.3} <NA> <NA> spk{} <NA> <NA>",
                t.start,
                t.end - t.start,
                t.label
            )?;
        }
        out.flush()?;
        let speakers = turns.iter().map(|t| t.label + 1).max().unwrap_or(0);
        eprintln!(
            "timing file={id} engine={} speakers={speakers} turns={} audio_s={audio_s:.3} \
             wall_s={wall:.3} cpu_s={cpu:.2} rtf={:.4}",
            engine.name(),
            turns.len(),
            if audio_s > 0.0 { wall / audio_s } else { 0.0 },
        );
    }
    Ok(())
}
