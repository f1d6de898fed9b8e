//! `cargo run --release -p minutes-whisper --example transcribe -- MODEL_DIR AUDIO.wav
//!  [--language zh] [--hotwords "a,b"] [--threads N] [--beam N] [--compute int8]`
//! Prints one JSON object: segments, language, timings. Used by scripts/bench-asr.sh.
use std::path::PathBuf;
use std::time::Instant;

use minutes_whisper::{EngineOptions, TranscribeOptions, WhisperEngine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = PathBuf::from(args.next().ok_or("MODEL_DIR missing")?);
    let audio = PathBuf::from(args.next().ok_or("AUDIO.wav missing")?);
    let mut opts = EngineOptions {
        compute_type: "int8".into(),
        threads: 0,
        beam_size: 5,
        detect_language_windows: 3,
    };
    let mut req = TranscribeOptions::default();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--language" => req.language = Some(value),
            "--hotwords" => {
                req.hotwords = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "--threads" => opts.threads = value.parse()?,
            "--beam" => opts.beam_size = value.parse()?,
            "--compute" => opts.compute_type = value,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let started = Instant::now();
    let engine = WhisperEngine::load(&model, opts)?;
    let loaded = started.elapsed().as_secs_f64();
    let result = engine.transcribe_wav(&audio, &req, &mut |_| {})?;
    let total = started.elapsed().as_secs_f64();
    let segments: Vec<_> = result
        .segments
        .iter()
        .map(|s| {
            serde_json::json!({"start": s.start, "end": s.end, "text": s.text,
                                     "avg_logprob": s.avg_logprob, "temperature": s.temperature})
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "language": result.language,
            "duration_secs": result.duration_secs,
            "load_secs": loaded,
            "transcribe_secs": total - loaded,
            "windows": result.windows,
            "retried_windows": result.retried_windows,
            "segments": segments,
        })
    );
    Ok(())
}
