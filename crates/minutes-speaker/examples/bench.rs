//! Embedding speed: 1.5 s windows through CAM++, batched as diarization does.
//!
//! cargo run --release -p minutes-speaker --example bench -- MODEL.pt [WINDOWS]
//!
//! Prints wall time and this process's CPU time (other work on the machine inflates the first
//! but not the second), per window and as a real-time factor.

use std::path::PathBuf;
use std::time::Instant;

use minutes_speaker::CamPlus;

/// User + system CPU seconds of this process, from /proc (Linux only; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let model = CamPlus::load(&PathBuf::from(
        args.get(1).expect("usage: bench MODEL.pt [WINDOWS]"),
    ))
    .expect("model");
    let windows: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(32);
    // A deterministic voiced-like signal: a 140 Hz pulse train with some noise.
    let mut seed = 7u32;
    let audio: Vec<f32> = (0..(windows + 1) * 12_000)
        .map(|i| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 9) as f32 / (1u32 << 23) as f32 - 0.5;
            let pulse = if i % 114 < 4 { 0.5 } else { 0.0 };
            pulse + 0.05 * noise
        })
        .collect();
    let clips: Vec<&[f32]> = (0..windows)
        .map(|w| &audio[w * 12_000..w * 12_000 + 24_000])
        .collect();
    model.embed_batch(&clips[..1]).expect("warm-up");
    let (wall, cpu) = (Instant::now(), cpu_seconds());
    model.embed_batch(&clips).expect("embed");
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    let audio_s = windows as f64 * 1.5;
    println!(
        "{windows} windows of 1.5 s: wall {wall:.2} s ({:.1} ms/window, RTF {:.3} of window audio, {:.3} of a meeting at 0.75 s hop), CPU {cpu:.2} s",
        wall * 1000.0 / windows as f64,
        wall / audio_s,
        wall / (windows as f64 * 0.75),
    );
}
