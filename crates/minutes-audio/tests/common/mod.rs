//! Shared helpers: where the test meetings are, decoding to memory, and comparing signals.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use minutes_audio::{decode_16k_mono, AudioError, Limits};

/// The shared test data; MINUTES_TEST_DATA overrides the default location beside the repo.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("MINUTES_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/meetings")
        });
    assert!(
        dir.join("en01_sprint_planning.wav").exists(),
        "test data not found in {}",
        dir.display()
    );
    dir
}

pub fn meeting(ext: &str) -> PathBuf {
    data_dir().join(format!("en01_sprint_planning.{ext}"))
}

pub fn decode_all(path: &Path, limits: &Limits) -> Result<Vec<f32>, AudioError> {
    let mut out = Vec::new();
    let n = decode_16k_mono(path, limits, &mut |s| {
        out.extend_from_slice(s);
        Ok(())
    })?;
    assert_eq!(
        n as usize,
        out.len(),
        "returned count must match what the sink got"
    );
    Ok(out)
}

/// Normalized cross-correlation of `a` against `b` shifted by `lag` samples.
pub fn ncc(a: &[f32], b: &[f32], lag: isize) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in a.iter().enumerate() {
        let j = i as isize + lag;
        if j < 0 || j as usize >= b.len() {
            continue;
        }
        let y = b[j as usize];
        ab += f64::from(x) * f64::from(y);
        aa += f64::from(x) * f64::from(x);
        bb += f64::from(y) * f64::from(y);
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-12)
}

pub fn best_lag(a: &[f32], b: &[f32]) -> (isize, f64) {
    (-800..=800isize)
        .map(|lag| (lag, ncc(a, b, lag)))
        .fold(
            (0, f64::MIN),
            |best, cur| if cur.1 > best.1 { cur } else { best },
        )
}
